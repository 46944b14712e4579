"""Optimizers against plain, formula-by-formula references, and state round-trips."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan import optim


def gradient_sequence(seed, size, steps):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(size) * rng.uniform(0.01, 10) for _ in range(steps)]


def reference_adam(theta, gradients, lr, b1, b2, eps, wd):
    """Kingma & Ba (2015), Algorithm 1, written out one line per formula."""
    theta = theta.copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(gradients, start=1):
        g = g + wd * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def run(opt_class, theta, gradients, **kwargs):
    params = theta.copy()
    grads = np.zeros_like(params)
    opt = opt_class(params, grads, **kwargs)
    for g in gradients:
        grads[...] = g
        opt.step()
    return params, opt


@given(seed=st.integers(0, 1000), b1=st.sampled_from([0.0, 0.5, 0.9]), wd=st.sampled_from([0.0, 1e-2]),
       eps=st.sampled_from([1e-8, 1e-3]))
def test_adam_matches_algorithm_1(seed, b1, wd, eps):
    gradients = gradient_sequence(seed, 37, 300)
    theta = np.random.default_rng(seed + 1).standard_normal(37)
    ours, opt = run(optim.Adam, theta, gradients, lr=1e-2, betas=(b1, 0.999), eps=eps, weight_decay=wd)
    ref = reference_adam(theta, gradients, 1e-2, b1, 0.999, eps, wd)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
    assert opt.t == 300


def test_adam_float32_stays_float32_and_close_to_float64():
    gradients = gradient_sequence(0, 1000, 100)
    theta = np.random.default_rng(1).standard_normal(1000)
    ours32, _ = run(optim.Adam, theta.astype(np.float32), [g.astype(np.float32) for g in gradients],
                    lr=2e-4, betas=(0.5, 0.999))
    assert ours32.dtype == np.float32
    ref = reference_adam(theta, gradients, 2e-4, 0.5, 0.999, 1e-8, 0.0)
    np.testing.assert_allclose(ours32, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_sgd_momentum_matches_formula(wd):
    gradients = gradient_sequence(2, 11, 50)
    theta = np.ones(11)
    ours, _ = run(optim.SGD, theta, gradients, lr=0.05, momentum=0.9, weight_decay=wd)
    u, ref = np.zeros(11), theta.copy()
    for g in gradients:
        u = 0.9 * u + g + wd * ref
        ref = ref - 0.05 * u
    np.testing.assert_allclose(ours, ref, rtol=1e-13)


@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_rmsprop_matches_formula(wd):
    gradients = gradient_sequence(3, 11, 50)
    theta = np.ones(11)
    ours, _ = run(optim.RMSprop, theta, gradients, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=wd)
    s, ref = np.zeros(11), theta.copy()
    for g in gradients:
        g = g + wd * ref
        s = 0.9 * s + 0.1 * g * g
        ref = ref - 0.01 * g / (np.sqrt(s) + 1e-6)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


@pytest.mark.parametrize("opt_class,kwargs", [(optim.Adam, {"betas": (0.5, 0.999)}),
                                              (optim.SGD, {"momentum": 0.9}), (optim.RMSprop, {})])
def test_state_round_trip_continues_identically(opt_class, kwargs):
    gradients = gradient_sequence(4, 20, 40)
    theta = np.random.default_rng(5).standard_normal(20).astype(np.float32)
    straight, _ = run(opt_class, theta, [g.astype(np.float32) for g in gradients], lr=1e-2, **kwargs)

    first, opt = run(opt_class, theta, [g.astype(np.float32) for g in gradients[:25]], lr=1e-2, **kwargs)
    saved = {k: (v.copy() if hasattr(v, "copy") else v) for k, v in opt.state_dict().items()}
    params, grads = first.copy(), np.zeros_like(first)
    resumed = opt_class(params, grads, lr=1e-2, **kwargs)
    resumed.load_state_dict(saved)
    for g in gradients[25:]:
        grads[...] = g.astype(np.float32)
        resumed.step()
    np.testing.assert_array_equal(params, straight)


@pytest.mark.parametrize("opt_class", [optim.Adam, optim.SGD, optim.RMSprop])
def test_loading_state_copies_it_into_the_optimizers_own_buffers(opt_class):
    """A loaded state is copied, in the optimizer's dtype: the caller's arrays (a
    checkpoint's, in float64 here) stay theirs, and later steps change only the optimizer's."""
    opt = opt_class(np.zeros(4, np.float32), np.ones(4, np.float32), lr=0.1)
    buffers = {name: getattr(opt, name) for name in opt.state_names}
    source = {name: np.full(4, 0.5) for name in opt.state_names}
    opt.load_state_dict({**source, "t": 3})
    for name in opt.state_names:
        assert getattr(opt, name) is buffers[name] and buffers[name].dtype == np.float32
        np.testing.assert_array_equal(buffers[name], 0.5)
    opt.step()
    assert all(np.all(source[name] == 0.5) for name in opt.state_names)
    assert opt.t == 4


def test_optimizer_argument_errors():
    p = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam(p, p.copy(), lr=0)
    with pytest.raises(ValueError, match="shape"):
        optim.SGD(p, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="beta"):
        optim.Adam(p, p.copy(), betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="beta"):  # bias correction would divide by 1 − 1^t = 0
        optim.Adam(p, p.copy(), betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps > 0"):  # a zero gradient would step by 0/0
        optim.Adam(p, p.copy(), eps=0.0)
    opt = optim.Adam(p, p.copy())
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict({"m_sum": np.zeros(5), "v_sum": np.zeros(3), "t": 1})


def test_step_updates_its_buffers_in_place():
    """The layers' parameters are views of ``params``: a step that rebinds it moves nothing."""
    p, g = np.ones(10, np.float32), np.ones(10, np.float32)
    opt = optim.Adam(p, g, lr=0.1)
    ids = (id(opt.m_sum), id(opt.v_sum), id(opt.params))
    opt.step()
    assert (id(opt.m_sum), id(opt.v_sum), id(opt.params)) == ids and opt.params is p
    assert np.all(p < 1)


@pytest.mark.parametrize("make", [
    lambda p, g: optim.Adam(p, g, lr=0.1), lambda p, g: optim.SGD(p, g, lr=0.1, momentum=0.9),
    lambda p, g: optim.RMSprop(p, g, lr=0.1)], ids=["Adam", "SGD", "RMSprop"])
def test_a_new_lr_takes_effect_on_the_next_step(make):
    """Schedules (the classifier's cosine decay) set ``opt.lr`` between steps."""
    steps = []
    for lr in (0.1, 0.01):
        p, g = np.ones(5, np.float64), np.full(5, 0.5)
        opt = make(p, g)
        opt.step()
        opt.lr = lr
        before = p.copy()
        opt.step()
        steps.append(before - p)
    # same state after step 1, so step 2 is proportional to lr
    np.testing.assert_allclose(steps[1], steps[0] / 10, rtol=1e-12)


@pytest.mark.parametrize("make, message", [
    (lambda p, g: optim.SGD(p, g, momentum=1.0), "momentum"),
    (lambda p, g: optim.SGD(p, g, weight_decay=-1.0), "weight_decay"),
    (lambda p, g: optim.RMSprop(p, g, alpha=1.0), "alpha"),
    (lambda p, g: optim.RMSprop(p, g, eps=0.0), "eps"),
])
def test_sgd_and_rmsprop_refuse_bad_settings(make, message):
    with pytest.raises(ValueError, match=message):
        make(np.zeros(3), np.zeros(3))

# Added after a mutation pass over optim.py: each test fails on a change the suite had let through.

@pytest.mark.parametrize("opt_class", [optim.Adam, optim.SGD, optim.RMSprop])
@pytest.mark.parametrize("lr", [-1e-3, math.nan, math.inf], ids=["negative", "nan", "inf"])
def test_a_learning_rate_that_is_not_positive_is_refused(opt_class, lr):
    """``lr`` must be finite and > 0: a negative one ascends the loss, a NaN or infinite one
    poisons every weight on the first step.  The suite only tried ``lr=0``, so ``lr == 0`` or
    ``lr <= 0`` (which lets NaN through) passed as the check."""
    with pytest.raises(ValueError, match="learning rate must be > 0"):
        opt_class(np.zeros(3), np.zeros(3), lr=lr)


@pytest.mark.parametrize("make, message", [
    (lambda p, g: optim.Adam(p, g, betas=(-0.1, 0.999)), "beta"),
    (lambda p, g: optim.Adam(p, g, betas=(0.9, -0.1)), "beta"),
    (lambda p, g: optim.SGD(p, g, momentum=-0.5), "momentum"),
    (lambda p, g: optim.RMSprop(p, g, alpha=-0.5), "alpha"),
], ids=["adam-beta1", "adam-beta2", "sgd-momentum", "rmsprop-alpha"])
def test_negative_decay_rates_are_refused(make, message):
    """Each decay rate lives in [0, 1); only the upper end was tested, so dropping the
    ``0 <=`` half of a check went unnoticed (a negative β2 makes v_sum go negative: NaN)."""
    with pytest.raises(ValueError, match=message):
        make(np.zeros(3), np.zeros(3))


def test_an_optimizer_refuses_a_buffer_that_is_not_flat():
    """The optimizers work on one flat 1-D buffer; a 2-D array (a layer's W) with matching
    grads is refused, not silently accepted.  Catches a shape check without ``ndim != 1``."""
    with pytest.raises(ValueError, match="1-D"):
        optim.Adam(np.zeros((3, 4)), np.zeros((3, 4)))


@pytest.mark.parametrize("opt_class", [optim.Adam, optim.SGD, optim.RMSprop])
def test_state_dict_returns_the_optimizers_own_buffers(opt_class):
    """``state_dict()`` hands out the buffers themselves, not copies (the module docstring):
    no per-checkpoint copy of two parameter-sized arrays."""
    opt = opt_class(np.zeros(4), np.ones(4), lr=0.1)
    opt.step()
    state = opt.state_dict()
    assert all(state[name] is getattr(opt, name) for name in opt.state_names)
    assert state["t"] == 1


def test_loading_a_state_that_would_broadcast_is_refused():
    """A state of shape (1,) or () would broadcast into a (3,) buffer without error, every
    entry taking the same value; the shape check refuses it by name.  (The suite's only
    case, (5,) into (3,), also fails inside NumPy with a message that contains "shape",
    so it passed without the check.)"""
    opt = optim.Adam(np.zeros(3), np.zeros(3))
    for bad in (np.zeros(1), np.float64(0.0)):
        with pytest.raises(ValueError, match=r"optimizer state 'm_sum' has shape"):
            opt.load_state_dict({"m_sum": np.asarray(bad), "v_sum": np.zeros(3), "t": 1})


def test_default_hyperparameters_are_pytorchs():
    """The defaults are PyTorch's (Adam: lr 1e-3, betas (0.9, 0.999), eps 1e-8; RMSprop: lr
    1e-2, alpha 0.99, eps 1e-8) and SGD's lr 1e-2 without momentum: a run with the defaults
    is bit-for-bit a run with them spelled out.  No other test steps with a default."""
    rng = np.random.default_rng(0)
    gradients = [rng.standard_normal(16) * 1e-3 for _ in range(5)]  # small: eps shows
    cases = [(optim.Adam, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)),
             (optim.RMSprop, dict(lr=1e-2, alpha=0.99, eps=1e-8)),
             (optim.SGD, dict(lr=1e-2, momentum=0.0))]
    for opt_class, spelled_out in cases:
        results = []
        for kwargs in ({}, spelled_out):
            params, grads = np.ones(16), np.zeros(16)
            opt = opt_class(params, grads, **kwargs)
            for g in gradients:
                grads[...] = g
                opt.step()
            results.append(params)
        np.testing.assert_array_equal(results[0], results[1], err_msg=opt_class.__name__)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("make, message", [
    (lambda p, g, bad: optim.SGD(p, g, lr=0.1, weight_decay=bad), "weight_decay must be >= 0 and finite"),
    (lambda p, g, bad: optim.Adam(p, g, eps=bad), "Adam needs a finite eps > 0"),
    (lambda p, g, bad: optim.RMSprop(p, g, eps=bad), "RMSprop needs 0 <= alpha < 1 and a finite eps > 0"),
], ids=["weight_decay", "adam-eps", "rmsprop-eps"])
def test_a_nan_or_infinite_hyperparameter_is_refused(make, message, bad):
    """``eps <= 0`` and ``weight_decay < 0`` are False for NaN, so checks written that way let
    it through, and the first step turns every weight into NaN.  (The mutation pass found
    this in the code itself.)"""
    with pytest.raises(ValueError, match=message):
        make(np.zeros(3), np.zeros(3), bad)
