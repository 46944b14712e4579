"""Every layer's backward pass against central finite differences in float64."""

import math

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from gradutil import TOL, layer_errors
from tinygan import nn
from tinygan.backend import Random

batch = st.integers(2, 6)
features = st.integers(1, 7)
seeds = st.integers(0, 2**16)


def away_from_kink(x, margin=1e-2):
    """Push entries away from 0 so that x ± h never straddles a ReLU kink.

    ReLU and LeakyReLU are not differentiable at 0; a central difference with step h
    across 0 averages the two slopes and is wrong by up to 50% there.  Keeping |x| ≥ 1e-2
    (10,000 h) means the function is linear on [x − h, x + h], so the smooth-function
    bound 1e-6 applies unchanged.
    """
    return np.where(x >= 0, x + margin, x - margin)


@st.composite
def inputs(draw, lo=-4.0, hi=4.0, min_batch=2):
    """x: (batch, features), seeded uniform on [lo, hi).

    Hypothesis picks the shape and the seed, not the entries: its element strategy
    favours repeated and round values (whole columns of 0.0), which would make most
    examples trivial, and a train-mode BatchNorm example with a constant column useless.
    """
    shape = (draw(st.integers(min_batch, 6)), draw(features))
    return Random(draw(seeds)).uniform(shape, lo, hi, dtype="float64")


@given(n_in=features, n_out=features, n=batch, init=st.sampled_from(nn.INITS), seed=seeds)
@example(n_in=5, n_out=1, n=4, init="xavier", seed=0)  # one output: dx is an outer product, a path of its own
def test_dense(n_in, n_out, n, init, seed):
    rng = Random(seed)
    layer = nn.Dense(n_in, n_out, init=init, rng=rng, dtype="float64")
    layer.params["b"][...] = rng.normal(n_out, dtype="float64")  # nonzero bias
    errors = layer_errors(layer, rng.normal((n, n_in), dtype="float64"))
    assert max(errors.values()) < TOL, errors


@given(x=inputs())
def test_relu(x):
    assert max(layer_errors(nn.ReLU(), away_from_kink(x)).values()) < TOL


@given(x=inputs(), alpha=st.floats(0.0, 0.5))
def test_leaky_relu(x, alpha):
    assert max(layer_errors(nn.LeakyReLU(alpha), away_from_kink(x)).values()) < TOL


# Finite differences measure a slope from f(x ± h), whose float64 rounding is about
# ε·|f| ≈ 1e-16 · 1; divided by 2h = 2e-6 that is ~1e-10 absolute.  Where tanh or σ
# saturate, the slope itself falls below 1e-5 (σ'(10) = 4.5e-5, tanh'(6) = 2.5e-5), and
# 1e-10 is no longer 1e-6 of it.  So the FD checks stay where the slope is ≥ 2.5e-3
# (|x| ≤ 3 for tanh, |x| ≤ 6 for σ), and the saturated tails are checked against the
# closed-form derivative below instead.
@given(x=inputs(-3, 3))
def test_tanh(x):
    assert max(layer_errors(nn.Tanh(), x).values()) < TOL


@given(x=inputs(-6, 6))
def test_sigmoid(x):
    assert max(layer_errors(nn.Sigmoid(), x).values()) < TOL


def test_saturated_derivatives_match_closed_forms():
    x = np.array([[-40.0, -20.0, -8.0, 8.0, 20.0, 40.0]])
    for layer, exact in ((nn.Sigmoid(), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))) ** 2),
                         (nn.Tanh(), 1 / np.cosh(x) ** 2)):
        y, cache = layer.forward(x)
        dx = layer.backward(np.ones_like(y), cache)
        # 1 − y·y loses all digits once y rounds to ±1 (tanh(20) = 1 in float64): the
        # derivative is then exactly 0, where the truth is below 1.7e-17.
        np.testing.assert_allclose(dx, exact, rtol=1e-6, atol=1e-16)


@given(x=inputs(min_batch=3), seed=seeds, train=st.booleans(), momentum=st.floats(0.0, 1.0))
@example(x=Random(1).uniform((6, 5), -4, 4, dtype="float64"), seed=1, train=True, momentum=0.1)
@example(x=np.array([[0.75180359], [-0.36032739], [2.9721111]]), seed=0, train=True, momentum=0.0)  # |dx| ≈ 1e-6
def test_batchnorm(x, seed, train, momentum):
    rng = Random(seed)
    d = x.shape[1]
    layer = nn.BatchNorm1d(d, momentum=momentum, dtype="float64")
    layer.params["gamma"][...] = rng.normal(d, dtype="float64")
    layer.params["beta"][...] = rng.normal(d, dtype="float64")
    layer.state["running_mean"][...] = rng.normal(d, dtype="float64")
    layer.state["running_var"][...] = rng.uniform(d, 0.5, 2.0, dtype="float64")
    # Train mode: the output depends on the batch's own variance; a column whose spread is
    # tiny next to eps makes x̂ steep, so keep columns with a real spread (the
    # zero-variance case has its own test).  And a batch of 2 normalises to
    # x̂ = ±sqrt(σ²/(σ² + eps)) ≈ ±1 whatever x is: the slope, about eps/σ², is below the
    # rounding floor of finite differences (the error then grows as h shrinks, as it
    # does for rounding and not for a wrong formula), so the batches here have 3+ rows.
    assume(not train or x.std(axis=0).min() > 1e-2)
    errors = layer_errors(layer, x, train=train)
    assert max(errors.values()) < TOL, errors


@given(x=inputs(), p=st.floats(0.0, 0.9), seed=seeds, train=st.booleans())
def test_dropout(x, p, seed, train):
    errors = layer_errors(nn.Dropout(p, seed=seed), x, train=train)
    assert max(errors.values()) < TOL, errors


@given(x=inputs(), eps=st.sampled_from([1e-8, 1e-2]))
def test_minibatch_std(x, eps):
    # Smooth everywhere: eps > 0 keeps σ away from 0 (a column with no spread has its own test)
    assume(x.std(axis=0).min() > 1e-2)
    errors = layer_errors(nn.MinibatchStd(eps), x)
    assert max(errors.values()) < TOL, errors


@given(x=inputs())
def test_minibatch_mean_abs_dev(x):
    # |x − μ| has a kink at x = μ: keep every entry 1e-4 away, so that x ± h (h = 1e-6)
    # never straddles it; everywhere else the layer is piecewise linear, and exact
    assume(np.abs(x - x.mean(axis=0)).min() > 1e-4)
    errors = layer_errors(nn.MinibatchMeanAbsDev(), x)
    assert max(errors.values()) < TOL, errors


def test_minibatch_mean_abs_dev_appends_the_mean_absolute_deviation():
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(16, 5))
    y, _ = nn.MinibatchMeanAbsDev().forward(x)
    assert y.shape == (16, 6) and y.dtype == x.dtype
    np.testing.assert_array_equal(y[:, :5], x)
    np.testing.assert_allclose(y[:, 5], np.abs(x - x.mean(axis=0)).mean(), rtol=1e-12)
    y32, _ = nn.MinibatchMeanAbsDev().forward(x.astype(np.float32))
    assert y32.dtype == np.float32


def test_minibatch_spreads_push_a_far_row_differently():
    """Why the default D uses the mean absolute deviation: the standard deviation's
    gradient on a row grows with the row's distance from the batch mean, so one far-out
    sample is pushed out many times harder than a typical one; the MAD's push on any row
    is at most 2/(N·F)."""
    x = np.random.default_rng(0).normal(size=(64, 1))
    x[-1] = 30.0  # one far-out row
    dy = np.zeros((64, 2))
    dy[:, 1] = 1  # the loss is the spread itself, as read by every row
    push = {}
    for layer in (nn.MinibatchStd(), nn.MinibatchMeanAbsDev()):
        push[type(layer).__name__] = np.abs(layer.backward(dy, layer.forward(x)[1])[:, 0]) / 64  # |∂spread/∂x|
    std, mad = push["MinibatchStd"], push["MinibatchMeanAbsDev"]
    assert std[-1] / np.median(std[:-1]) > 20  # 38 here
    assert mad[-1] / np.median(mad[:-1]) < 2.5 and mad.max() <= 2 / 64  # 2.4 here


def test_minibatch_std_appends_the_mean_standard_deviation():
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(16, 5))
    y, _ = nn.MinibatchStd(eps=1e-8).forward(x)
    assert y.shape == (16, 6) and y.dtype == x.dtype
    np.testing.assert_array_equal(y[:, :5], x)
    np.testing.assert_allclose(y[:, 5], np.sqrt(x.var(axis=0) + 1e-8).mean(), rtol=1e-12)
    # each batch gets its own statistic: a batch of copies of one row reads as sqrt(eps)
    same, _ = nn.MinibatchStd(eps=1e-8).forward(np.repeat(x[:1], 16, axis=0))
    np.testing.assert_allclose(same[:, 5], 1e-4, rtol=1e-6)


def test_minibatch_std_constant_batch_is_finite():
    layer = nn.MinibatchStd()
    x = np.full((8, 3), 5.0, dtype=np.float32)
    y, cache = layer.forward(x)
    dx = layer.backward(np.ones_like(y), cache)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx)) and dx.dtype == np.float32
    np.testing.assert_array_equal(dx, 1)  # nothing flows through the spread when no row differs

def test_minibatch_mean_abs_dev_constant_batch_is_finite():
    layer = nn.MinibatchMeanAbsDev()
    x = np.full((8, 3), 5.0, dtype=np.float32)
    y, cache = layer.forward(x)
    dx = layer.backward(np.ones_like(y), cache)
    assert np.all(y[:, 3] == 0) and dx.dtype == np.float32
    np.testing.assert_array_equal(dx, 1)  # sign(0) = 0: nothing flows through the spread


def test_batchnorm_statistics_match_definitions():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(32, 4))
    layer = nn.BatchNorm1d(4, eps=1e-5, momentum=0.25, dtype="float64")
    y, _ = layer.forward(x, train=True)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(0), x.var(0) / (x.var(0) + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(layer.state["running_mean"], 0.25 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(layer.state["running_var"], 0.75 + 0.25 * x.var(0, ddof=1), rtol=1e-12)
    y_eval, _ = layer.forward(x, train=False)  # eval: uses the running statistics
    expected = (x - layer.state["running_mean"]) / np.sqrt(layer.state["running_var"] + 1e-5)
    np.testing.assert_allclose(y_eval, expected, rtol=1e-12)


def test_batchnorm_zero_variance_batch_is_finite():
    layer = nn.BatchNorm1d(3, dtype="float32")
    x = np.full((8, 3), 5.0, dtype=np.float32)
    y, cache = layer.forward(x, train=True)
    dx = layer.backward(np.ones_like(y), cache)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    np.testing.assert_array_equal(y, 0)  # x̂ = 0, so y = beta = 0


def test_batchnorm_refuses_single_row_in_train_mode():
    with pytest.raises(ValueError, match="at least 2"):
        nn.BatchNorm1d(3).forward(np.ones((1, 3), np.float32), train=True)


def test_dropout_scales_and_is_seeded():
    x = np.ones((200, 50), dtype=np.float32)
    a, _ = nn.Dropout(0.3, seed=5).forward(x)
    b, _ = nn.Dropout(0.3, seed=5).forward(x)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, np.float32(1 / 0.7)}
    assert abs((a == 0).mean() - 0.3) < 0.02
    np.testing.assert_array_equal(nn.Dropout(0.3).forward(x, train=False)[0], x)


def test_dropout_with_p_zero_is_the_identity_and_draws_nothing():
    """p = 0 passes the batch through and leaves the layer's random stream where it was, so
    the other layers' draws, and a resumed run, do not depend on a layer that drops nothing."""
    layer = nn.Dropout(0.0, seed=3)
    state = layer.rng.get_state()
    x = np.ones((4, 3), np.float32)
    y, cache = layer.forward(x, train=True)
    assert y is x and cache is None and layer.rng.get_state() == state


def test_saturated_activations_are_finite():
    x = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype=np.float32)
    for layer in (nn.Tanh(), nn.Sigmoid()):
        y, cache = layer.forward(x)
        dx = layer.backward(np.ones_like(y), cache)
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx)), layer
        assert y.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_array_equal(nn.Sigmoid().forward(x)[0][0, [0, -1]], [0.0, 1.0])


class Same:
    """Equal to another ``Same`` only if both hold the very same object.  Holding it also
    keeps it alive, so its ``id`` cannot be reused by an array made later."""

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other):
        return self.obj is other.obj

    def __repr__(self):
        return f"Same(<{type(self.obj).__name__} at {id(self.obj):#x}>)"


def reachable_state(obj, path="", seen=None):
    """``{path: fingerprint}`` for everything an object holds, walked through its
    attributes, dicts, lists and tuples: an array is fingerprinted by identity, shape and
    dtype (its values may change in place: parameters, gradients, running statistics),
    anything else by its ``repr`` (``Random`` by the identity of its generator)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return {}
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return {path: ("array", Same(obj), obj.shape, obj.dtype.str)}
    if isinstance(obj, Random):
        return {path: ("Random", Same(obj.generator))}
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif hasattr(obj, "__dict__"):
        items = vars(obj).items()
    else:
        return {path: repr(obj)}
    found = {path: type(obj).__name__}
    for key, value in items:
        found.update(reachable_state(value, f"{path}.{key}", seen))
    return found


def batch_shaped(state, n):
    return [path for path, print_ in state.items() if print_[0] == "array" and n in print_[2]]


LAYERS = [lambda: nn.Dense(3, 2), nn.ReLU, lambda: nn.LeakyReLU(0.2), nn.Tanh, nn.Sigmoid,
          lambda: nn.BatchNorm1d(3), lambda: nn.Dropout(0.5), nn.MinibatchStd,
          nn.MinibatchMeanAbsDev]


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("make", LAYERS, ids=lambda make: type(make()).__name__)
def test_no_batch_state_left_on_layer(make, train):
    """After forward and backward, a layer holds what it held before: the same
    attributes, dict keys and arrays (updated in place at most), and nothing with the
    batch's size in its shape."""
    layer = make()
    n = 7  # no layer here has 7 features
    before = reachable_state(layer)
    x = np.random.default_rng(0).standard_normal((n, 3)).astype(np.float32)
    y, cache = layer.forward(x, train=train)
    layer.backward(np.ones_like(y), cache)
    after = reachable_state(layer)
    assert after == before
    assert batch_shaped(after, n) == []


class StashingDense(nn.Dense):
    """The classic bug, hidden one level down: the input goes into the layer's own dict."""

    def forward(self, x, train=True):
        self.state["x"] = x
        return super().forward(x, train)


class RebindingBatchNorm(nn.BatchNorm1d):
    """A subtler one: the running mean is replaced by this batch's mean (a new array)."""

    def forward(self, x, train=True):
        y, cache = super().forward(x, train)
        self.state["running_mean"] = x.mean(axis=0)
        return y, cache


@pytest.mark.parametrize("make", [StashingDense, RebindingBatchNorm])
def test_the_batch_state_check_catches_layers_that_keep_a_batch(make):
    """The check above is not vacuous: each of these layers fails it."""
    layer = make(3, 2) if make is StashingDense else make(3)
    before = reachable_state(layer)
    x = np.random.default_rng(0).standard_normal((7, 3)).astype(np.float32)
    y, cache = layer.forward(x)
    layer.backward(np.ones_like(y), cache)
    assert reachable_state(layer) != before


@pytest.mark.parametrize("arch", ["default", "seed", "pytorch-gan"])
def test_a_training_step_leaves_no_batch_on_the_networks(arch):
    """A whole GAN iteration on every preset: the networks and their layers hold the same
    arrays as before (parameters, gradients and state updated in place) and none of the
    batch's shape."""
    from tinygan import gan, models, optim

    rng = Random(0)
    G, D = models.build_gan(arch, rng)
    opt_g, opt_d = optim.Adam(G.flat_params, G.flat_grads), optim.Adam(D.flat_params, D.flat_grads)
    n = 7
    before = reachable_state((G, D))
    gan.train_step(G, D, opt_g, opt_d, lambda: rng.uniform((n, 784), -1, 1), lambda: rng.normal((n, 100)))
    after = reachable_state((G, D))
    assert after == before
    assert batch_shaped(after, n) == []


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="init"):
        nn.Dense(2, 2, init="glorot-ish")
    with pytest.raises(ValueError, match="positive"):
        nn.Dense(0, 2)
    with pytest.raises(ValueError, match="p < 1"):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match="alpha"):
        nn.LeakyReLU(-0.1)
    with pytest.raises(ValueError, match="eps"):
        nn.BatchNorm1d(3, eps=0)
    with pytest.raises(ValueError, match="eps"):
        nn.MinibatchStd(eps=-1e-8)
    for momentum in (-0.1, 1.5):  # a weight on the new batch: outside [0, 1] the average diverges
        with pytest.raises(ValueError, match="momentum"):
            nn.BatchNorm1d(3, momentum=momentum)


def test_leaky_relu_with_a_slope_above_one():
    """alpha > 1 is allowed; then max(x, αx) would be wrong (it picks αx for x > 0)."""
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    y, cache = nn.LeakyReLU(3.0).forward(x)
    np.testing.assert_array_equal(y, [[-6.0, -1.5, 0.0, 0.5, 2.0]])
    np.testing.assert_array_equal(nn.LeakyReLU(3.0).backward(np.ones_like(x), cache), [[3, 3, 3, 1, 1]])


def test_a_network_takes_its_layers_dtype():
    net = nn.Sequential(nn.Dense(3, 2, dtype="float64"), nn.Tanh())
    assert net.dtype == np.float64 and net.flat_params.dtype == np.float64
    assert nn.Sequential(nn.Tanh()).dtype == np.float32  # nothing to go by: the training dtype


@pytest.mark.parametrize("init,expected_std", [("xavier", np.sqrt(2 / (400 + 300))),
                                                ("he", np.sqrt(2 / 400)), ("normal", 0.02),
                                                ("pytorch", 1 / np.sqrt(3 * 400))])
def test_init_scales(init, expected_std):
    W = nn.Dense(400, 300, init=init, rng=Random(1)).params["W"]
    assert W.dtype == np.float32
    assert abs(W.std() / expected_std - 1) < 0.02
    assert abs(W.mean()) < 0.05 * expected_std


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.1, 0.2, 0.3, 1 / 3, 0.7, 1.0])
def test_leaky_relu_slope_is_exact(dtype, alpha):
    """The backward pass builds the slope by arithmetic; it must still be exactly 1 and α."""
    x = np.array([[-2.0, -1e-30, 1e-30, 3.0]], dtype=dtype)
    dout = np.array([[1.5, -2.5, 3.25, -7.0]], dtype=dtype)
    layer = nn.LeakyReLU(alpha)
    dx = layer.backward(dout, layer.forward(x)[1])
    np.testing.assert_array_equal(dx[0, 2:], dout[0, 2:])
    np.testing.assert_array_equal(dx[0, :2], dout[0, :2] * dtype(alpha))


@pytest.mark.parametrize("make", [lambda r: nn.Dense(5, 4, rng=r, dtype="float64"),
                                  lambda r: nn.BatchNorm1d(5, dtype="float64")])
def test_accumulate_false_writes_what_zero_grad_then_backward_adds(make):
    rng = Random(4)
    layer = make(rng)
    x = rng.normal((6, 5), dtype="float64")
    y, cache = layer.forward(x)
    dy = rng.normal(y.shape, dtype="float64")
    layer.zero_grad()
    dx_added = layer.backward(dy, cache)
    added = {k: g.copy() for k, g in layer.grads.items()}
    for g in layer.grads.values():
        g[...] = 99.0  # stale values must be replaced, not added to
    dx_written = layer.backward(dy, cache, accumulate=False)
    for name in added:
        np.testing.assert_allclose(layer.grads[name], added[name], rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(dx_written, dx_added)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("make", [lambda r: nn.Dense(5, 4, rng=r, dtype="float64"),
                                  lambda r: nn.BatchNorm1d(5, dtype="float64")])
def test_param_grads_false_leaves_gradients_alone(make, train):
    """The generator step differentiates a frozen D with ``param_grads=False``: its gradients
    must stay what they were, and ``dx`` must be what a full backward gives."""
    rng = Random(5)
    layer = make(rng)
    x = rng.normal((6, 5), dtype="float64")
    y, cache = layer.forward(x, train=train)
    dy = rng.normal(y.shape, dtype="float64")
    for g in layer.grads.values():
        g[...] = 99.0
    dx_input_only = layer.backward(dy, cache, param_grads=False)
    for name, g in layer.grads.items():
        np.testing.assert_array_equal(g, 99.0, err_msg=name)
    np.testing.assert_array_equal(dx_input_only, layer.backward(dy, cache))


@pytest.mark.parametrize("layer, slope_at_zero", [(nn.ReLU(), 0.0), (nn.LeakyReLU(0.2), 0.2)])
def test_slope_at_the_kink_is_the_left_one(layer, slope_at_zero):
    """At exactly 0 the backward pass uses the left slope, as PyTorch does."""
    x = np.array([[-1.0, 0.0, 1.0]])
    _, cache = layer.forward(x)
    dx = layer.backward(np.ones_like(x), cache)
    np.testing.assert_allclose(dx, [[slope_at_zero, slope_at_zero, 1.0]], rtol=1e-15)


@pytest.mark.parametrize("first", ["Dense", "LeakyReLU"])
@pytest.mark.parametrize("param_grads", [True, False])
@pytest.mark.parametrize("input_grad", [True, False])
def test_network_backward_flags_do_what_they_say(first, param_grads, input_grad):
    """Every combination of ``param_grads`` and ``input_grad``, for a network that starts
    with a Dense layer (which skips ``dx``) and one that does not: the input gradient comes
    back only when asked for, and the gradient buffer changes only when asked to."""
    rng = Random(4)
    layers = [nn.Dense(3, 4, rng=rng, dtype="float64"), nn.LeakyReLU(0.2), nn.Dense(4, 1, rng=rng, dtype="float64")]
    net = nn.Sequential(*(layers if first == "Dense" else [nn.LeakyReLU(0.2)] + layers[:1] + layers[2:]))
    x = rng.normal((5, 3), dtype="float64")
    y, caches = net.forward(x)
    net.flat_grads[...] = 7.0
    dx = net.backward(np.ones_like(y), caches, param_grads=param_grads, input_grad=input_grad, accumulate=False)
    assert (dx is not None) == input_grad
    if input_grad:
        assert dx.shape == x.shape
    assert np.all(net.flat_grads == 7.0) == (not param_grads)


def test_calling_a_network_is_eval_mode_and_changes_nothing():
    net = nn.Sequential(nn.Dense(3, 4, rng=Random(1)), nn.BatchNorm1d(4), nn.Dropout(0.5))
    x = Random(2).normal((8, 3))
    net.forward(x, train=True)  # running statistics away from their initial values
    state, rng_states = net.flat_state.copy(), net.get_rng_states()
    np.testing.assert_array_equal(net(x), net.forward(x, train=False)[0])
    np.testing.assert_array_equal(net.flat_state, state)
    assert net.get_rng_states() == rng_states


def test_rng_states_must_match_the_random_layers():
    with pytest.raises(ValueError, match="1 random layers, got 0 states"):
        nn.Sequential(nn.Dense(2, 2), nn.Dropout()).set_rng_states([])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("make, message", [
    (lambda bad: nn.BatchNorm1d(3, eps=bad), "BatchNorm1d needs a finite eps > 0"),
    (lambda bad: nn.MinibatchStd(eps=bad), "MinibatchStd needs a finite eps > 0"),
    (lambda bad: nn.LeakyReLU(bad), "LeakyReLU needs a finite alpha >= 0"),
], ids=["batchnorm-eps", "minibatchstd-eps", "leakyrelu-alpha"])
def test_a_nan_or_infinite_layer_setting_is_refused(make, message, bad):
    """``eps <= 0`` and ``alpha < 0`` are False for NaN: checks written that way let it through,
    and every output becomes NaN."""
    with pytest.raises(ValueError, match=message):
        make(bad)
