"""Helpers the gradient tests share: run a layer or network, compare with finite differences."""

import numpy as np

from tinygan import nn
from tinygan.backend import to_device, xp
from tinygan.gradcheck import numerical_gradient, numerical_gradient_array, rel_error

TOL = 1e-6  # float64, smooth functions: the project's bound for a correct backward pass


def rel_error_with_fd_floor(analytic, numeric, f_scale, h=1e-6):
    """``rel_error``, but never measured against less than finite differences can resolve.

    A central difference of ``f = Σ y·dout`` carries an absolute rounding error of about
    ``ε·f_scale/h`` (``f_scale = Σ|y·dout|``, the size of the terms summed).  A gradient
    that is itself that small (a BatchNorm batch of 3 whose ``dout`` nearly lies in the
    span of 1 and x̂, found by hypothesis: |dx| ≈ 1e-6) cannot be checked to 1e-6 of its
    own size, so the scale is at least ``10·ε·f_scale/(h·TOL)``, about 2e-3·f_scale.
    """
    floor = 10 * np.finfo(np.float64).eps * f_scale / (h * TOL)
    scale = max(float(xp.abs(analytic).max() + xp.abs(numeric).max()), floor, 1e-12)
    return float(xp.abs(analytic - numeric).max()) / scale


def layer_errors(layer, x, train=True, seed=0):
    """Relative errors of dx and of every parameter gradient of ``layer`` at input ``x``.

    The upstream gradient ``dout`` is random (a fixed seed), so the check covers the
    whole vector-Jacobian product, not only one direction.
    """
    rng_state = layer.rng.get_state() if hasattr(layer, "rng") else None

    def run():
        if rng_state is not None:  # Dropout: the same mask on every call
            layer.rng.set_state(rng_state)
        return layer.forward(x, train=train)[0]

    if rng_state is not None:
        layer.rng.set_state(rng_state)
    y, cache = layer.forward(x, train=train)
    dout = to_device(np.random.default_rng(seed).standard_normal(y.shape))  # on the device of y
    layer.zero_grad()
    dx = layer.backward(dout, cache)
    f_scale = float(xp.abs(y * dout).sum())
    errors = {"x": rel_error_with_fd_floor(dx, numerical_gradient_array(run, x, dout), f_scale)}
    for name, p in layer.params.items():
        errors[name] = rel_error_with_fd_floor(layer.grads[name], numerical_gradient_array(run, p, dout), f_scale)
    return errors


def kink_distance(net, caches):
    """Smallest |input| seen by any ReLU/LeakyReLU in ``caches`` (their cache is the input)."""
    d = np.inf
    for layer, cache in zip(net.layers, caches):
        if isinstance(layer, (nn.ReLU, nn.LeakyReLU)):
            d = min(d, float(xp.abs(cache).min()))
    return d


def spread_kink_distance(net, x):
    """Smallest ``|x[n, f] − μ_f|`` at the input of any ``MinibatchMeanAbsDev`` of ``net``
    for the batch ``x``: how far that layer's ``|·|`` is from its kink.

    Runs ``net`` forward in train mode and puts its Dropout states back afterwards, so the
    pass under test draws the same masks.  ``inf`` when ``net`` has no such layer.
    """
    states = net.get_rng_states()
    d = np.inf
    for layer in net.layers:
        if isinstance(layer, nn.MinibatchMeanAbsDev):
            d = min(d, float(xp.abs(x - x.mean(axis=0)).min()))
        x = layer.forward(x, train=True)[0]
    net.set_rng_states(states)
    return d


def network_error(net, loss_of_output, x):
    """Relative error of ``net.flat_grads`` for ``loss_of_output(net(x))`` vs finite differences.

    ``loss_of_output(y) -> (loss, dy)``.  Dropout layers replay the same mask on each call.
    """
    states = net.get_rng_states()

    def loss():
        net.set_rng_states(states)
        return loss_of_output(net.forward(x, train=True)[0])[0]

    net.set_rng_states(states)
    y, caches = net.forward(x, train=True)
    _, dy = loss_of_output(y)
    net.zero_grad()
    net.backward(dy, caches)
    analytic = net.flat_grads.copy()
    numeric = numerical_gradient(loss, net.flat_params)
    return rel_error(analytic, numeric), kink_distance(net, caches)
