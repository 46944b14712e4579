"""Helpers the gradient tests share: run a layer or network, compare with finite differences."""

import numpy as np

from tinygan import nn
from tinygan.backend import to_device, xp
from tinygan.gradcheck import numerical_gradient, numerical_gradient_array, rel_error

TOL = 1e-6  # float64, smooth functions: the project's bound for a correct backward pass


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
    errors = {"x": rel_error(dx, numerical_gradient_array(run, x, dout))}
    for name, p in layer.params.items():
        errors[name] = rel_error(layer.grads[name], numerical_gradient_array(run, p, dout))
    return errors


def kink_distance(net, caches):
    """Smallest |input| seen by any ReLU/LeakyReLU in ``caches`` (their cache is the input)."""
    d = np.inf
    for layer, cache in zip(net.layers, caches):
        if isinstance(layer, (nn.ReLU, nn.LeakyReLU)):
            d = min(d, float(xp.abs(cache).min()))
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
