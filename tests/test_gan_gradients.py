"""Whole networks and whole GAN losses against finite differences.

These are the checks that catch the classic NumPy-GAN bug: a layer that keeps its last
input on ``self`` gives wrong discriminator gradients when D sees a real batch and then a
fake batch before either backward pass.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradutil import TOL, kink_distance, network_error, spread_kink_distance
from tinygan import losses, nn
from tinygan.backend import Random, to_numpy
from tinygan.gradcheck import numerical_gradient, rel_error

seeds = st.integers(0, 2**16)
KINK = 1e-4  # a ReLU input (or an |x − μ|) this close to 0 could let x ± h straddle the kink (h = 1e-6)
SPREADS = (None, nn.MinibatchStd, nn.MinibatchMeanAbsDev)


def make_discriminator(rng, n_in=6, hidden=5, batchnorm=False, dropout=0.0, act="leaky", spread=None):
    """A small D; ``spread`` (``nn.MinibatchStd`` or ``nn.MinibatchMeanAbsDev``) adds the
    batch's spread as one more feature before the last layer, a statistic that couples
    the rows of a batch."""
    layers = [nn.Dense(n_in, hidden, rng=rng, dtype="float64")]
    if batchnorm:
        layers.append(nn.BatchNorm1d(hidden, dtype="float64"))
    layers.append(nn.LeakyReLU(0.2) if act == "leaky" else nn.ReLU())
    if dropout:
        layers.append(nn.Dropout(dropout, seed=int(rng.integers(0, 1000, ()))))
    if spread is not None:
        layers.append(spread())
    layers += [nn.Dense(hidden + (spread is not None), 1, rng=rng, dtype="float64")]
    return nn.Sequential(layers)


def make_generator(rng, n_z=3, hidden=5, n_out=6):
    return nn.Sequential(nn.Dense(n_z, hidden, init="he", rng=rng, dtype="float64"),
                         nn.BatchNorm1d(hidden, dtype="float64"), nn.ReLU(),
                         nn.Dense(hidden, hidden, rng=rng, dtype="float64"), nn.LeakyReLU(0.2),
                         nn.Dense(hidden, n_out, rng=rng, dtype="float64"), nn.Tanh())


@given(seed=seeds, n=st.integers(2, 6), batchnorm=st.booleans(), act=st.sampled_from(["leaky", "relu"]),
       dropout=st.sampled_from([0.0, 0.3]))
def test_sequential_network(seed, n, batchnorm, act, dropout):
    rng = Random(seed)
    net = make_discriminator(rng, batchnorm=batchnorm, dropout=dropout, act=act)
    x = rng.normal((n, 6), dtype="float64")
    t = (rng.uniform((n, 1), dtype="float64") > 0.5).astype("float64")
    error, kink = network_error(net, lambda y: losses.bce_with_logits(y, t), x)
    assume(kink > KINK)
    assert error < TOL


def d_step_gradients(D, x_real, x_fake, smooth=1.0, order="real-first"):
    """One discriminator step's gradient: forward both batches, then backward both."""
    real_logits, real_caches = D.forward(x_real)
    fake_logits, fake_caches = D.forward(x_fake)
    loss, dreal, dfake = losses.discriminator_loss(real_logits, fake_logits, real_target=smooth)
    D.zero_grad()
    if order == "real-first":
        D.backward(dreal, real_caches)
        D.backward(dfake, fake_caches)
    else:
        D.backward(dfake, fake_caches)
        D.backward(dreal, real_caches)
    return loss, D.flat_grads.copy(), kink_distance(D, real_caches + fake_caches)


def summed_d_loss(D, x_real, x_fake, smooth=1.0):
    return losses.discriminator_loss(D.forward(x_real)[0], D.forward(x_fake)[0], real_target=smooth)[0]


@given(seed=seeds, n_real=st.integers(2, 6), n_fake=st.integers(2, 6), batchnorm=st.booleans(),
       smooth=st.sampled_from([1.0, 0.9]), order=st.sampled_from(["real-first", "fake-first"]),
       spread=st.sampled_from(SPREADS))
def test_discriminator_step_accumulates_real_and_fake(seed, n_real, n_fake, batchnorm, smooth, order, spread):
    """GAN case 1: D's loss summed over a real and a fake batch, gradients accumulated.

    BatchNorm and the minibatch spread layers make each row's logit depend on its whole
    batch: the real batch's statistics and the fake batch's must each reach their own
    backward pass."""
    rng = Random(seed)
    D = make_discriminator(rng, batchnorm=batchnorm, spread=spread)
    x_real = rng.normal((n_real, 6), dtype="float64") + 1.0
    x_fake = rng.normal((n_fake, 6), dtype="float64") * 0.5
    assume(min(spread_kink_distance(D, x_real), spread_kink_distance(D, x_fake)) > KINK)
    _, analytic, kink = d_step_gradients(D, x_real, x_fake, smooth, order)
    assume(kink > KINK)
    numeric = numerical_gradient(lambda: summed_d_loss(D, x_real, x_fake, smooth), D.flat_params)
    assert rel_error(analytic, numeric) < TOL


def frozen_d_generator_gradients(rng, G, D, z, kind):
    """G's gradient through a frozen D for noise ``z``, with leftovers in D's gradients.

    Returns ``(analytic, g_loss, kink, d_before)``: G's gradient; the loss as a function of
    G's parameters, replaying D's dropout masks, for finite differences; the smallest ReLU
    input seen; and host copies of D's parameters and gradients from before the step.
    """
    D.flat_grads[...] = rng.normal(D.flat_grads.shape, dtype="float64")  # leftovers from a D step
    d_before = to_numpy(D.flat_params).copy(), to_numpy(D.flat_grads).copy()
    d_rng = D.get_rng_states()

    def g_loss():
        D.set_rng_states(d_rng)
        return losses.generator_loss(D.forward(G.forward(z)[0])[0], kind)[0]

    fake, g_caches = G.forward(z)
    D.set_rng_states(d_rng)
    logits, d_caches = D.forward(fake)
    _, dlogits = losses.generator_loss(logits, kind)
    G.zero_grad()
    G.backward(D.backward(dlogits, d_caches, param_grads=False), g_caches)
    kink = min(kink_distance(G, g_caches), kink_distance(D, d_caches))
    return G.flat_grads.copy(), g_loss, kink, d_before


@given(seed=seeds, n=st.integers(2, 6), kind=st.sampled_from(losses.LOSSES), dropout=st.sampled_from([0.0, 0.3]),
       spread=st.sampled_from(SPREADS))
def test_generator_step_through_frozen_discriminator(seed, n, kind, dropout, spread):
    """GAN case 2: G's gradient is FD-correct; D's parameters and gradients stay untouched."""
    rng = Random(seed)
    G, D = make_generator(rng), make_discriminator(rng, dropout=dropout, spread=spread)
    z = rng.normal((n, 3), dtype="float64")
    assume(spread_kink_distance(D, G.forward(z)[0]) > KINK)
    analytic, g_loss, kink, (d_params, d_grads) = frozen_d_generator_gradients(rng, G, D, z, kind)
    assume(kink > KINK)
    np.testing.assert_array_equal(D.flat_params, d_params)
    np.testing.assert_array_equal(D.flat_grads, d_grads)
    assert rel_error(analytic, numerical_gradient(g_loss, G.flat_params)) < TOL
    np.testing.assert_array_equal(D.flat_params, d_params)


def one_batch_at_a_time(D, batches):
    """D's gradient summed over ``(x, dy)`` pairs, each batch run forward and straight
    back before the next: right for any design, since nothing is overwritten between a
    forward and its backward."""
    D.zero_grad()
    for x, dy in batches:
        D.backward(dy, D.forward(x)[1])
    return D.flat_grads.copy()


def both_forwards_first(D, batches, order):
    """The same sum the way a D step makes it: every forward pass first, then the
    backward passes in ``order`` (indices into ``batches``)."""
    caches = [D.forward(x)[1] for x, _ in batches]
    D.zero_grad()
    for i in order:
        D.backward(batches[i][1], caches[i])
    return D.flat_grads.copy()


@pytest.mark.parametrize("rows", [(4, 4), (5, 4)])  # equal, as in a GAN step, and not
def test_two_batches_backward_in_any_order_give_the_exact_sum(rows):
    rng = Random(3)
    D = make_discriminator(rng, batchnorm=True)
    batches = [(rng.normal((n, 6), dtype="float64"), rng.normal((n, 1), dtype="float64")) for n in rows]
    right = one_batch_at_a_time(D, batches)
    np.testing.assert_array_equal(both_forwards_first(D, batches, [0, 1]), right)  # the same additions
    np.testing.assert_allclose(both_forwards_first(D, batches, [1, 0]), right, rtol=1e-14, atol=1e-15)


class NaiveDense(nn.Dense):
    """The classic bug: the input is kept on the layer and the cache is ignored."""

    def forward(self, x, train=True):
        self.last_x = x
        return super().forward(x, train)

    def backward(self, dout, cache, **options):
        return super().backward(dout, self.last_x, **options)


def test_the_exact_sum_check_catches_layers_that_keep_activations():
    """With batches of equal size (no shape clash to give it away), a layer that keeps
    its input gets the D-step sum wrong, while one batch at a time it is right."""
    rng = Random(3)
    naive = NaiveDense(6, 5, rng=rng, dtype="float64")
    D = nn.Sequential(naive, nn.LeakyReLU(0.2), nn.Dense(5, 1, rng=rng, dtype="float64"))
    batches = [(rng.normal((4, 6), dtype="float64") + 1, rng.normal((4, 1), dtype="float64")),
               (rng.normal((4, 6), dtype="float64"), rng.normal((4, 1), dtype="float64"))]
    right = one_batch_at_a_time(D, batches)
    for order in ([0, 1], [1, 0]):
        assert rel_error(both_forwards_first(D, batches, order), right) > 1e-2


def test_the_accumulation_check_catches_layers_that_keep_activations():
    """The check above is not vacuous: it fails loudly for the buggy layer."""
    rng = Random(11)
    naive = NaiveDense(6, 5, rng=rng, dtype="float64")
    D = nn.Sequential(naive, nn.LeakyReLU(0.2), nn.Dense(5, 1, rng=rng, dtype="float64"))
    x_real, x_fake = rng.normal((4, 6), dtype="float64") + 1, rng.normal((4, 6), dtype="float64")
    _, analytic, _ = d_step_gradients(D, x_real, x_fake)
    numeric = numerical_gradient(lambda: summed_d_loss(D, x_real, x_fake), D.flat_params)
    assert rel_error(analytic, numeric) > 1e-2


class NaiveMinibatchStd(nn.MinibatchStd):
    """The same bug for a batch statistic: ∂spread/∂x is kept on the layer."""

    def forward(self, x, train=True):
        y, self.last_dspread_dx = super().forward(x, train)
        return y, self.last_dspread_dx

    def backward(self, dout, cache, **options):
        return super().backward(dout, self.last_dspread_dx, **options)


def test_the_accumulation_check_catches_a_batch_statistic_kept_on_the_layer():
    """With a varied real batch and a nearly collapsed fake one, the real batch's backward
    pass gets the fake batch's spread, and the D-step check sees it (correct: < 1e-6)."""
    rng = Random(1)
    D = nn.Sequential(nn.Dense(6, 5, rng=rng, dtype="float64"), nn.LeakyReLU(0.2), NaiveMinibatchStd(),
                      nn.Dense(6, 1, rng=rng, dtype="float64"))
    x_real, x_fake = rng.normal((4, 6), dtype="float64") * 2, rng.normal((4, 6), dtype="float64") * 0.1
    _, analytic, _ = d_step_gradients(D, x_real, x_fake)
    numeric = numerical_gradient(lambda: summed_d_loss(D, x_real, x_fake), D.flat_params)
    assert rel_error(analytic, numeric) > 1e-1
    D.layers[2] = nn.MinibatchStd()  # the same network with the layer as written
    _, analytic, _ = d_step_gradients(D, x_real, x_fake)
    numeric = numerical_gradient(lambda: summed_d_loss(D, x_real, x_fake), D.flat_params)
    assert rel_error(analytic, numeric) < TOL


def test_parameters_are_views_into_the_flat_buffers():
    rng = Random(0)
    net = nn.Sequential(nn.Dense(4, 3, rng=rng), nn.BatchNorm1d(3), nn.ReLU(), nn.Dense(3, 2, rng=rng))
    assert net.flat_params.dtype == np.float32 and net.num_params() == 4 * 3 + 3 + 3 + 3 + 3 * 2 + 2
    net.flat_params[...] = np.arange(net.num_params())
    assert net.layers[0].params["W"][0, 0] == 0 and net.layers[3].params["b"][-1] == net.num_params() - 1
    net.layers[1].grads["gamma"] += 1
    assert net.flat_grads.sum() == 3
    net.zero_grad()
    assert not net.flat_grads.any()
    assert net.flat_state.size == 6 and net.layers[1].state["running_var"].base is not None
    assert [name for name, _ in net.named_params()] == ["0.W", "0.b", "1.gamma", "1.beta", "3.W", "3.b"]


def test_skipping_the_input_gradient_changes_nothing_else():
    rng = Random(5)
    D = make_discriminator(rng, batchnorm=True)
    x, dy = rng.normal((4, 6), dtype="float64"), rng.normal((4, 1), dtype="float64")
    y, caches = D.forward(x)
    D.zero_grad()
    assert D.backward(dy, caches).shape == x.shape
    full = D.flat_grads.copy()
    D.zero_grad()
    assert D.backward(dy, caches, input_grad=False) is None
    np.testing.assert_array_equal(D.flat_grads, full)


class RecordingOptimizer:
    """Stands in for Adam: keeps the parameters still so the gradient can be checked."""

    def __init__(self, net):
        self.net, self.seen = net, None

    def step(self):
        self.seen = self.net.flat_grads.copy()


@given(seed=seeds, n=st.integers(2, 6), batchnorm=st.booleans(), dropout=st.sampled_from([0.0, 0.3]),
       spread=st.sampled_from(SPREADS))
def test_gan_discriminator_step_gradient_overwrites_stale_gradients(seed, n, batchnorm, dropout, spread):
    """The real ``gan.discriminator_step``: its first backward *writes* D's gradient
    (``accumulate=False``), so garbage left in ``flat_grads`` must not leak into the step."""
    from tinygan import gan

    rng = Random(seed)
    G, D = make_generator(rng), make_discriminator(rng, batchnorm=batchnorm, dropout=dropout, spread=spread)
    x_real, z = rng.normal((n, 6), dtype="float64") + 1.0, rng.normal((n, 3), dtype="float64")
    D.flat_grads[...] = 1e3  # stale: what a previous step left behind
    d_rng, g_params = D.get_rng_states(), G.flat_params.copy()
    opt = RecordingOptimizer(D)
    gan.discriminator_step(G, D, opt, x_real, z)
    np.testing.assert_array_equal(G.flat_params, g_params)
    fake = G.forward(z)[0]

    def loss():
        D.set_rng_states(d_rng)
        return summed_d_loss(D, x_real, fake)

    D.set_rng_states(d_rng)
    spread_kink = spread_kink_distance(D, x_real)  # each with the masks its batch is given
    real_caches = D.forward(x_real)[1]
    spread_kink = min(spread_kink, spread_kink_distance(D, fake))
    fake_caches = D.forward(fake)[1]
    assume(min(kink_distance(D, real_caches), kink_distance(D, fake_caches), spread_kink) > KINK)
    assert rel_error(opt.seen, numerical_gradient(loss, D.flat_params)) < TOL


@given(seed=seeds, n=st.integers(2, 6), kind=st.sampled_from(losses.LOSSES))
def test_gan_generator_step_gradient_overwrites_stale_gradients(seed, n, kind):
    """The real ``gan.generator_step``, with garbage in ``G.flat_grads`` beforehand."""
    from tinygan import gan

    rng = Random(seed)
    G, D = make_generator(rng), make_discriminator(rng)
    z = rng.normal((n, 3), dtype="float64")
    G.flat_grads[...] = -7.0
    fake, g_caches = G.forward(z)
    opt = RecordingOptimizer(G)
    gan.generator_step(G, D, opt, fake, g_caches, loss=kind)
    assume(min(kink_distance(G, g_caches), kink_distance(D, D.forward(fake)[1])) > KINK)

    def loss():
        return losses.generator_loss(D.forward(G.forward(z)[0])[0], kind)[0]

    assert rel_error(opt.seen, numerical_gradient(loss, G.flat_params)) < TOL
