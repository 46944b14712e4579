"""Every layer's backward pass against central finite differences in float64."""

import math
import re

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


def test_minibatch_mean_abs_dev_uses_sign_zero_at_the_kink():
    """Where an entry equals its feature's batch mean, ``|x − μ|`` has a kink; the layer
    uses ``sign(0) = 0`` there, as PyTorch's ``abs`` does (lesson 4 says so).  The column
    (0, 1, 2) has mean 1 exactly, so ``s = (−1, 0, 1)``, ``mean_n s = 0`` and
    ``∂spread/∂x = s / (N·F) = (−1/3, 0, 1/3)``; with every row reading the spread, ``dx``
    is 3 times that.  A ``sign(0)`` of 1 gives ``s = (−1, 1, 1)`` and ``dx = (−4/3, 2/3, 2/3)``.
    Finite differences stay away from the kink and a constant column has ``s − mean s = 0``
    either way, so only a hand value at the kink pins it."""
    layer = nn.MinibatchMeanAbsDev()
    x = np.array([[0.0], [1.0], [2.0]])
    y, cache = layer.forward(x)
    np.testing.assert_allclose(y[:, 1], 2 / 3, rtol=1e-15)  # (1 + 0 + 1) / 3
    dy = np.zeros((3, 2))
    dy[:, 1] = 1
    np.testing.assert_allclose(layer.backward(dy, cache)[:, 0], [-1.0, 0.0, 1.0], rtol=1e-15, atol=1e-15)


def test_layer_defaults_are_the_gan_slope_and_pytorchs_dropout_and_batchnorm():
    """Built without arguments, ``LeakyReLU()`` has the slope of GAN discriminators, 0.2
    (DCGAN, PyTorch-GAN and every preset here; PyTorch's own default is 0.01);
    ``Dropout()`` drops half the units and doubles the rest (PyTorch's p = 0.5); and
    ``BatchNorm1d(n)`` uses PyTorch's eps = 1e-5 and momentum = 0.1.  The presets pass
    their values explicitly, so without this test a changed default goes unseen.
    Checked by behaviour, by hand: LeakyReLU maps −1 to −0.2 with slope 0.2; BatchNorm on
    the column (0, 2) (mean 1, biased variance 1, unbiased 2) gives ±1/sqrt(1 + 1e-5) and
    moves the running statistics to 0.9·0 + 0.1·1 = 0.1 and 0.9·1 + 0.1·2 = 1.1."""
    leaky = nn.LeakyReLU()
    x = np.array([[-1.0, 2.0]])
    y, cache = leaky.forward(x)
    np.testing.assert_array_equal(y, [[-0.2, 2.0]])
    np.testing.assert_array_equal(leaky.backward(np.ones_like(x), cache), [[0.2, 1.0]])

    dropped = nn.Dropout(seed=0).forward(np.ones((100, 100)))[0]
    assert set(np.unique(dropped).tolist()) == {0.0, 2.0}
    assert abs((dropped == 0).mean() - 0.5) < 0.02  # 10,000 draws: 0.02 is four standard deviations

    bn = nn.BatchNorm1d(1, dtype="float64")
    y, _ = bn.forward(np.array([[0.0], [2.0]]))
    np.testing.assert_allclose(y[:, 0], np.array([-1.0, 1.0]) / math.sqrt(1 + 1e-5), rtol=1e-14)
    np.testing.assert_allclose(bn.state["running_mean"], [0.1], rtol=1e-14)
    np.testing.assert_allclose(bn.state["running_var"], [1.1], rtol=1e-14)


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


# Added after a mutation pass over nn.py: each test fails on a change the suite had let through.

# Dense initialisation

def test_dense_without_rng_draws_from_a_fresh_random_zero():
    """The docstring: "Without rng the weights come from a fresh Random(0)".  Catches a
    default generator with another seed (two such layers would still start equal, so
    the existing checks cannot see it)."""
    for init in nn.INITS:
        np.testing.assert_array_equal(nn.Dense(6, 4, init=init).params["W"],
                                      nn.Dense(6, 4, init=init, rng=Random(0)).params["W"], err_msg=init)


def excess_kurtosis(w):
    z = (w - w.mean()) / w.std()
    return float((z ** 4).mean() - 3)


@pytest.mark.parametrize("init,limit", [("xavier", math.sqrt(6 / (400 + 300))), ("pytorch", 1 / math.sqrt(400))])
def test_uniform_inits_are_bounded_and_flat(init, limit):
    """xavier and pytorch are *uniform* on ±limit: every weight within the limit, the
    extremes close to it, and the excess kurtosis of a uniform law (−1.2).  Catches a
    normal draw with the same standard deviation, which test_init_scales accepts."""
    W = nn.Dense(400, 300, init=init, rng=Random(1), dtype="float64").params["W"]
    assert np.abs(W).max() <= limit
    assert np.abs(W).max() > 0.999 * limit
    assert abs(excess_kurtosis(W) + 1.2) < 0.1


@pytest.mark.parametrize("init,std", [("he", math.sqrt(2 / 400)), ("normal", 0.02)])
def test_normal_inits_have_gaussian_tails(init, std):
    """he and normal are *normal* draws: about 0.27% of the weights lie beyond 3 std
    (none would for a uniform law of that std, whose bound is sqrt(3) std), and the
    excess kurtosis is 0.  Catches a uniform draw with the same standard deviation."""
    W = nn.Dense(400, 300, init=init, rng=Random(1), dtype="float64").params["W"]
    beyond = (np.abs(W) > 3 * std).mean()
    assert 0.0015 < beyond < 0.004, beyond
    assert abs(excess_kurtosis(W)) < 0.1


# dtypes

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_standalone_layers_keep_their_dtype_everywhere(dtype):
    """Every parameter, gradient and state array of a layer is of the dtype it was built
    with, and so is its output for an input of that dtype.  Catches a Dense bias, a
    BatchNorm gamma or a running mean made in the default float64 (a float32 layer then
    returns float64; inside a Sequential the repacking hides it)."""
    rng = Random(0)
    x = rng.normal((5, 3), dtype=dtype)
    for layer in (nn.Dense(3, 4, rng=rng, dtype=dtype), nn.BatchNorm1d(3, dtype=dtype)):
        for group in ("params", "grads", "state"):
            for name, a in getattr(layer, group).items():
                assert a.dtype == np.dtype(dtype), (layer, group, name, a.dtype)
        for train in (True, False):
            y, cache = layer.forward(x, train=train)
            assert y.dtype == np.dtype(dtype), (layer, train, y.dtype)
            assert layer.backward(np.ones_like(y), cache).dtype == np.dtype(dtype)


def test_relu_backward_passes_float64_gradients_through_exactly():
    """dx = dy where x > 0, bit for bit, in dout's dtype.  Catches a 0/1 mask built in
    float32, which rounds a float64 dx to float32 (relative error 3e-8: below what the
    finite-difference checks resolve)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5))
    dout = rng.standard_normal((6, 5))
    layer = nn.ReLU()
    dx = layer.backward(dout, layer.forward(x)[1])
    assert dx.dtype == np.float64
    np.testing.assert_array_equal(dx, np.where(x > 0, dout, 0.0))


def test_float64_dropout_scales_by_the_exact_inverse_keep_rate():
    """Kept units are x / (1 − p) to float64 precision.  Catches a mask made in float32,
    which scales a float64 network's units by float32(1/0.7), wrong in the 8th digit
    (forward and backward agree, so finite differences pass)."""
    x = Random(1).normal((50, 40), dtype="float64")
    y, cache = nn.Dropout(0.3, seed=2).forward(x)
    kept = y != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-15)
    assert cache.dtype == np.float64


# LeakyReLU

@pytest.mark.parametrize("alpha", [1.5, 2.0])
def test_leaky_relu_with_a_slope_between_one_and_two(alpha):
    """For any alpha > 1, max(x, αx) picks αx for x > 0; the forward pass must take its
    other branch.  Catches the branch boundary moved from 1 to 2 (the suite only tries
    alpha = 3)."""
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    y, _ = nn.LeakyReLU(alpha).forward(x)
    np.testing.assert_array_equal(y, np.where(x > 0, x, alpha * x))


# caches belong to calls

BACKWARD_LAYERS = [lambda: nn.Dense(3, 4, rng=Random(1), dtype="float64"), nn.ReLU,
                   lambda: nn.LeakyReLU(0.2), nn.Tanh, nn.Sigmoid,
                   lambda: nn.BatchNorm1d(3, dtype="float64"), lambda: nn.Dropout(0.5, seed=1),
                   nn.MinibatchStd, nn.MinibatchMeanAbsDev]


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("make", BACKWARD_LAYERS, ids=lambda make: type(make()).__name__)
def test_backward_leaves_its_cache_and_the_output_as_forward_made_them(make, train):
    """backward reads its cache and writes nothing into it: a second backward with the
    same cache returns the same dx, and the forward output (which is the cache itself
    for Tanh and Sigmoid) is unchanged.  Catches an in-place product on the cache in
    Tanh, Dropout and the minibatch spread layers, which only ever show up on a second
    use of the cache."""
    layer = make()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 3))
    y, cache = layer.forward(x, train=train)
    y_before = y.copy()
    dout = rng.standard_normal(y.shape)
    dx1 = layer.backward(dout, cache, param_grads=False).copy()  # a copy: dx may be the cache itself
    np.testing.assert_array_equal(y, y_before)
    dx2 = layer.backward(dout, cache, param_grads=False)
    np.testing.assert_array_equal(dx2, dx1)


# BatchNorm1d

def test_batchnorm_momentum_one_keeps_only_the_last_batch():
    """momentum is documented on 0 <= momentum <= 1 (the error message says so); at 1 the
    running statistics are the last batch's own (unbiased variance).  Catches a range
    check that refuses 1."""
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(16, 4))
    layer = nn.BatchNorm1d(4, momentum=1.0, dtype="float64")
    layer.forward(x, train=True)
    np.testing.assert_allclose(layer.state["running_mean"], x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(layer.state["running_var"], x.var(0, ddof=1), rtol=1e-12)


def test_batchnorm_uses_the_eps_it_is_given():
    """y = (x − μ)/sqrt(σ² + eps) with the layer's own eps, in train and eval mode (the
    pytorch-gan preset uses eps = 0.8).  Catches a hard-coded 1e-5, which only the
    torch parity test sees, and that test is skipped where torch is not installed."""
    x = np.random.default_rng(1).normal(0.0, 0.5, size=(16, 3))
    layer = nn.BatchNorm1d(3, eps=0.8, momentum=1.0, dtype="float64")
    y, _ = layer.forward(x, train=True)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 0.8), rtol=1e-12)
    y_eval, _ = layer.forward(x, train=False)
    np.testing.assert_allclose(y_eval, (x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + 0.8), rtol=1e-12)


# Dropout

def test_dropout_keeps_a_unit_whose_draw_equals_p():
    """keep = u >= p with u uniform on [0, 1): on the generator's grid that keeps exactly
    a fraction 1 − p.  Catches u > p, found by making p the value of the first draw."""
    p = float(Random(7).uniform((1,), dtype="float64")[0])
    assert 0 < p < 1
    x = np.ones((1, 1))
    y, _ = nn.Dropout(p, seed=7).forward(x)
    assert y[0, 0] == 1 / (1 - p)


# MinibatchStd

def test_minibatch_std_refuses_eps_zero():
    """eps > 0 keeps std_f, and so 1/std_f, finite for a constant feature: eps = 0 must be
    refused like a negative eps.  Catches the check written eps < 0."""
    with pytest.raises(ValueError, match="eps"):
        nn.MinibatchStd(eps=0.0)


def test_minibatch_std_uses_the_eps_it_is_given():
    """A constant batch reads as sqrt(eps), for the layer's own eps.  Catches a hard-coded
    1e-8 (the suite's checks of the forward value all use the default eps, and finite
    differences agree with any eps the backward shares)."""
    x = np.full((8, 3), 2.0)
    for eps in (1e-2, 1e-6):
        y, cache = nn.MinibatchStd(eps=eps).forward(x)
        np.testing.assert_allclose(y[:, 3], math.sqrt(eps), rtol=1e-12)


# zero_grad

def test_zero_grad_clears_infinite_and_nan_gradients():
    """After a step that overflowed, zero_grad must leave exact zeros; ``g *= 0`` leaves
    NaN where there was inf or NaN.  Catches that in Layer.zero_grad and in
    Sequential.zero_grad."""
    layer = nn.Dense(3, 2, dtype="float64")
    for g in layer.grads.values():
        g[...] = np.inf
    layer.zero_grad()
    for name, g in layer.grads.items():
        np.testing.assert_array_equal(g, 0.0, err_msg=name)
    net = nn.Sequential(nn.Dense(3, 2, dtype="float64"), nn.BatchNorm1d(2, dtype="float64"))
    net.flat_grads[::2] = np.nan
    net.flat_grads[1::2] = -np.inf
    net.zero_grad()
    np.testing.assert_array_equal(net.flat_grads, 0.0)


# Sequential.backward

@pytest.mark.parametrize("first", ["Dense", "BatchNorm1d", "LeakyReLU"])
@pytest.mark.parametrize("input_grad", [True, False])
def test_network_accumulate_false_writes_every_layers_gradient(first, input_grad):
    """``accumulate=False`` replaces all of flat_grads, the first layer's included,
    whether or not the input gradient is asked for and whatever the first layer is:
    the result equals zero_grad() then an accumulating backward.  Catches the first
    layer's full backward (the path taken when dx is wanted) called with
    accumulate=True, which adds to stale gradients."""
    rng = Random(2)
    head = {"Dense": nn.Dense(3, 3, rng=rng, dtype="float64"), "BatchNorm1d": nn.BatchNorm1d(3, dtype="float64"),
            "LeakyReLU": nn.LeakyReLU(0.2)}[first]
    net = nn.Sequential(head, nn.Dense(3, 4, rng=rng, dtype="float64"), nn.LeakyReLU(0.2),
                        nn.Dense(4, 1, rng=rng, dtype="float64"))
    x = rng.normal((5, 3), dtype="float64")
    dy = rng.normal((5, 1), dtype="float64")
    y, caches = net.forward(x)
    net.zero_grad()
    dx_added = net.backward(dy, caches, input_grad=input_grad)
    added = net.flat_grads.copy()
    net.flat_grads[...] = 99.0
    dx_written = net.backward(dy, caches, input_grad=input_grad, accumulate=False)
    np.testing.assert_allclose(net.flat_grads, added, rtol=1e-14, atol=1e-14)
    if input_grad:
        np.testing.assert_array_equal(dx_written, dx_added)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaky_relu_slope_is_exactly_one_for_any_alpha(dtype):
    """Where x > 0 the slope is 1 exactly: (1 − α) + α rounds to 1 for every α in [0, 1]
    tried here, and above 1, where it can miss (α = 1.3 gave 0.99999994 in float32), the
    slopes are copied in instead."""
    alphas = np.concatenate([np.random.default_rng(0).uniform(0, 1, 20_000), [0.0, 1.0, 1.3],
                             np.random.default_rng(1).uniform(1, 8, 2_000)])
    x = np.array([[-1.0, 2.0]], dtype=dtype)
    for alpha in alphas:
        layer = nn.LeakyReLU(alpha)
        slope = layer.backward(np.ones_like(x), layer.forward(x)[1])
        assert slope[0, 1] == 1 and slope[0, 0] == dtype(alpha), alpha


def test_dense_refuses_a_batch_of_the_wrong_shape_or_dtype():
    """One row written as (in,) passed the product and gave a wrong weight gradient (the
    inner product xᵀ dy, broadcast over every entry of W); a float64 batch turned a
    float32 network's work float64 without a word."""
    layer = nn.Dense(3, 3)  # square: a vector (3,) makes a product of a fitting shape
    for x in (np.ones(3, np.float32), np.ones((2, 4), np.float32), np.ones((2, 3))):
        with pytest.raises(ValueError, match=r"Dense\(3, 3, init='xavier'\) needs x: \(batch, 3\) of float32, "
                                             rf"got shape {re.escape(str(x.shape))} of {x.dtype}$"):
            layer.forward(x)


def test_float64_settings_keep_float32_work_float32():
    """A NumPy float64 scalar (a value from np.linspace, say) promotes a float32 array under
    NumPy 2's rules: kept as one, it made LeakyReLU's output and every gradient behind it
    float64, while the optimizer quietly cast them back."""
    x = Random(0).normal((6, 3))
    for alpha in np.linspace(0.1, 0.3, 2):
        net = nn.Sequential(nn.Dense(3, 4, rng=Random(1)), nn.LeakyReLU(alpha), nn.BatchNorm1d(4, eps=np.float64(1e-5)),
                            nn.Dropout(np.float64(0.3)), nn.Dense(4, 1, rng=Random(2)))
        y, caches = net.forward(x)
        assert y.dtype == np.float32
        assert net.backward(np.ones_like(y), caches).dtype == np.float32
        assert all(type(v) is float for v in (net.layers[1].alpha, net.layers[2].eps, net.layers[3].p))


def test_batchnorm_refuses_no_features():
    for bad in (0, -1):
        with pytest.raises(ValueError, match=f"BatchNorm1d needs a positive num_features, got {bad}"):
            nn.BatchNorm1d(bad)
