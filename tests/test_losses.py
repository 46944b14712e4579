"""Losses: values against their definitions, gradients against finite differences, stability."""

import warnings

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gradutil import TOL, rel_error_with_fd_floor
from tinygan import losses
from tinygan.gradcheck import numerical_gradient

logits = st.integers(1, 8).flatmap(
    lambda n: arrays(np.float64, (n, 1), elements=st.floats(-15, 15)))
targets_in_01 = st.floats(0.0, 1.0)


def sigma(a):
    return 1 / (1 + np.exp(-a))


def bce_terms_scale(a, t):
    """Σ|terms| / N of ``softplus(a) − t·a``: the size finite differences round at.  Where
    the gradient ``σ(a) − t`` is near 0 (hypothesis found a = 0, t = ½, where it is exactly
    0) only this absolute floor is meaningful (see ``rel_error_with_fd_floor``)."""
    return float((losses.softplus(a) + np.abs(t * a)).sum() / a.shape[0])


@given(a=logits, t=targets_in_01)
@example(a=np.zeros((1, 1)), t=0.5)  # the gradient is exactly 0: only an absolute floor can judge it
def test_bce_value_and_gradient(a, t):
    target = np.full_like(a, t)
    loss, grad = losses.bce_with_logits(a, target)
    p = sigma(a)
    naive = -np.mean(t * np.log(p) + (1 - t) * np.log1p(-p))
    assert abs(loss - naive) <= 1e-9 * max(1.0, abs(naive))
    numeric = numerical_gradient(lambda: losses.bce_with_logits(a, target)[0], a)
    assert rel_error_with_fd_floor(grad, numeric, bce_terms_scale(a, t)) < TOL



def test_fd_floor_still_catches_small_bugs():
    """The floor of ``rel_error_with_fd_floor`` is not a blanket pass: on ordinary logits a
    gradient off by 1e-4 still fails by far (lesson 6 quotes these factors)."""
    a = np.linspace(-3, 3, 8).reshape(-1, 1)
    target = np.ones_like(a)
    _, grad = losses.bce_with_logits(a, target)
    numeric = numerical_gradient(lambda: losses.bce_with_logits(a, target)[0], a)
    scale = bce_terms_scale(a, 1.0)
    assert rel_error_with_fd_floor(grad, numeric, scale) < TOL
    assert rel_error_with_fd_floor(grad * (1 + 1e-4), numeric, scale) > 40 * TOL  # relative: 50x the bound
    assert rel_error_with_fd_floor(grad + 1e-4, numeric, scale) > 400 * TOL  # absolute: 420x

@given(real=logits, fake=logits, smooth=st.sampled_from([1.0, 0.9]))
def test_discriminator_loss(real, fake, smooth):
    loss, dreal, dfake = losses.discriminator_loss(real, fake, real_target=smooth)
    expected = (losses.bce_with_logits(real, np.full_like(real, smooth))[0]
                + losses.bce_with_logits(fake, np.zeros_like(fake))[0])
    assert abs(loss - expected) < 1e-12 * max(1, abs(expected))
    f = lambda: losses.discriminator_loss(real, fake, real_target=smooth)[0]  # noqa: E731
    # The gradient of L_D is one vector over both batches; compare it whole.  Entry by
    # entry, a logit D already gets right (real=10: ∂L/∂a = −4.5e-5) sits beside a loss of
    # size ~8 whose float64 rounding (ε·|L|/h ≈ 1e-9) is a large fraction of that entry.
    analytic = np.concatenate([dreal, dfake])
    numeric = np.concatenate([numerical_gradient(f, real), numerical_gradient(f, fake)])
    scale = bce_terms_scale(real, smooth) + bce_terms_scale(fake, 0.0)
    assert rel_error_with_fd_floor(analytic, numeric, scale) < TOL


@given(fake=logits)
def test_generator_losses(fake):
    p = sigma(fake)
    loss_mm, grad_mm = losses.generator_loss_minimax(fake)
    loss_ns, grad_ns = losses.generator_loss_nonsaturating(fake)
    assert abs(loss_mm - np.mean(np.log1p(-p))) < 1e-9
    assert abs(loss_ns - np.mean(-np.log(p))) < 1e-9 * max(1, abs(loss_ns))
    numeric_mm = numerical_gradient(lambda: losses.generator_loss_minimax(fake)[0], fake)
    numeric_ns = numerical_gradient(lambda: losses.generator_loss_nonsaturating(fake)[0], fake)
    assert rel_error_with_fd_floor(grad_mm, numeric_mm, bce_terms_scale(fake, 0.0)) < TOL
    assert rel_error_with_fd_floor(grad_ns, numeric_ns, bce_terms_scale(fake, 1.0)) < TOL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_are_finite_and_silent(dtype):
    a = np.array([[-1e4], [-88.0], [-20.0], [0.0], [20.0], [88.0], [1e4]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow / divide warning fails the test
        results = [losses.bce_with_logits(a, np.ones_like(a)),
                   losses.bce_with_logits(a, np.zeros_like(a)),
                   losses.discriminator_loss(a, a, real_target=0.9),
                   losses.generator_loss_minimax(a),
                   losses.generator_loss_nonsaturating(a)]
    for result in results:
        for value in result:
            assert np.all(np.isfinite(value))
            assert np.asarray(value).dtype == dtype
    # -log σ(-1e4) is 1e4 exactly in the stable form; the naive form would give inf.
    assert losses.generator_loss_nonsaturating(a[:1])[0] == pytest.approx(1e4)
    # the gradients of the two generator losses at a very negative logit: 0 versus -1/N
    assert losses.generator_loss_minimax(a[:1])[1][0, 0] == 0.0
    assert losses.generator_loss_nonsaturating(a[:1])[1][0, 0] == -1.0


def test_generator_loss_dispatch():
    a = np.zeros((2, 1))
    assert losses.generator_loss(a, "minimax")[0] == losses.generator_loss_minimax(a)[0]
    assert losses.generator_loss(a)[0] == losses.generator_loss_nonsaturating(a)[0]
    with pytest.raises(ValueError, match="nonsaturating, minimax"):
        losses.generator_loss(a, "wasserstein")


def test_softplus_keeps_its_tiny_values():
    """softplus(a) = log(1 + e^a) ≈ e^a for a ≪ 0: log1p keeps it, log(1 + ·) rounds it to 0."""
    a64 = np.array([-40.0, -100.0, -700.0])
    np.testing.assert_allclose(losses.softplus(a64), np.exp(a64), rtol=1e-12)
    a32 = np.array([-20.0, -80.0], np.float32)
    np.testing.assert_allclose(losses.softplus(a32), np.exp(a32.astype(np.float64)), rtol=1e-6)


def test_confident_logits_keep_their_tiny_losses():
    """At a logit of 40 the right answer costs −log σ(40) = softplus(−40) ≈ 4.2e−18.  The
    losses compute that term as softplus(−a), not as softplus(a) − a, which cancels to 0."""
    tiny = math.log1p(math.exp(-40.0))
    right = np.array([[40.0]])
    assert losses.discriminator_loss(right, -right)[0] == pytest.approx(2 * tiny, rel=1e-12, abs=0)
    assert losses.generator_loss_nonsaturating(right)[0] == pytest.approx(tiny, rel=1e-12, abs=0)
    assert losses.bce_with_logits(-right, np.zeros_like(right))[0] == pytest.approx(tiny, rel=1e-12, abs=0)


def test_mismatched_shapes_are_refused_not_broadcast():
    """(N, 1) logits against (N,) targets would broadcast to an (N, N) loss, and (N, 1)
    labels would index N×N pairs: a wrong number with no error, so both are refused."""
    logits = np.array([[2.0], [-1.0], [0.5], [3.0]])
    with pytest.raises(ValueError, match=r"targets of the logits' shape \(4, 1\), got \(4,\)"):
        losses.bce_with_logits(logits, np.array([1.0, 0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match=r"labels of shape \(4,\), got \(4, 1\)"):
        losses.softmax_cross_entropy(np.zeros((4, 3)), np.array([[0], [2], [1], [1]]))


@given(st.integers(1, 6), st.integers(2, 4))
def test_bce_with_logits_on_several_columns_sums_and_divides_by_the_batch(n, k):
    a = np.random.default_rng(n * 10 + k).standard_normal((n, k))
    t = np.random.default_rng(k).uniform(0, 1, (n, k))
    loss, dlogits = losses.bce_with_logits(a, t)
    sig = 1 / (1 + np.exp(-a))
    assert loss == pytest.approx(-(t * np.log(sig) + (1 - t) * np.log(1 - sig)).sum() / n, rel=1e-12)
    np.testing.assert_allclose(dlogits, (sig - t) / n, rtol=1e-12)

# Added after a mutation pass over losses.py: each test fails on a change the suite had let through.

def test_bce_refuses_targets_that_broadcast_without_a_rank_change():
    """Targets of shape (1, 1) or (N, 2) against (N, 1) logits broadcast without error (the
    first silently scores every row against one target, the second returns a gradient of
    the wrong shape).  The suite only tried (N,), a rank change, so a check of ``ndim`` alone
    passed."""
    logits = np.array([[2.0], [-1.0], [0.5], [3.0]])
    for targets in (np.ones((1, 1)), np.ones((4, 2))):
        with pytest.raises(ValueError, match="targets of the logits' shape"):
            losses.bce_with_logits(logits, targets)


def test_softmax_cross_entropy_refuses_labels_of_the_wrong_length():
    """Labels are (N,): one label for four rows would broadcast and score every row against
    it, three would fail with an IndexError from deep inside.  Catches a check of the rank
    alone."""
    logits = np.zeros((4, 3))
    for labels in (np.array([1]), np.array([0, 1, 2])):
        with pytest.raises(ValueError, match=r"labels of shape \(4,\)"):
            losses.softmax_cross_entropy(logits, labels)


def test_softmax_cross_entropy_refuses_labels_that_are_no_class():
    """−1 indexed the last class and 2.9 was truncated to 2, both without a word; 3 of 3
    classes was an IndexError.  A list of the right length is taken (it was refused with
    'got ()')."""
    logits = np.random.default_rng(0).standard_normal((2, 3))
    for labels, shown in (([-1, 2], "int64 labels from -1 to 2"), ([2.9, 2.0], "float64 labels from 2.0 to 2.9"),
                          ([3, 2], "int64 labels from 2 to 3"), ([np.nan, 1.0], "float64 labels from nan to nan")):
        with pytest.raises(ValueError, match=rf"needs labels that are whole numbers in \[0, 3\), got {shown}$"):
            losses.softmax_cross_entropy(logits, np.array(labels))
    loss, _ = losses.softmax_cross_entropy(logits, [1, 2])
    assert loss == losses.softmax_cross_entropy(logits, np.array([1, 2]))[0]


def test_a_float64_real_target_keeps_the_float32_gradients_float32():
    """np.float64(0.9), from np.linspace say, made dreal and everything behind it float64."""
    logits = np.array([[0.5], [-1.0]], dtype=np.float32)
    loss, dreal, dfake = losses.discriminator_loss(logits, logits, np.float64(0.9))
    assert dreal.dtype == dfake.dtype == loss.dtype == np.float32


def test_softmax_cross_entropy_takes_labels_of_any_numeric_dtype():
    """Labels read from a float file (``np.loadtxt``) are cast to integer indices; without the
    cast NumPy refuses to index with them."""
    logits = np.random.default_rng(0).standard_normal((3, 4))
    ints = np.array([0, 3, 1])
    expected = losses.softmax_cross_entropy(logits, ints)
    got = losses.softmax_cross_entropy(logits, ints.astype(np.float64))
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])
