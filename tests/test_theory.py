"""The theory lab (``python -m tinygan.theory``): every statement is also a test here.

The fast part checks the math (optimal discriminator, C(G), JSD, saturation, the fixed
point, W1, the mode metrics) with seeded batches and with hypothesis; the training
experiments are marked ``slow`` (run them with ``pytest -m slow tests/test_theory.py``).
Tolerances live in ``tinygan.theory``, each justified in its docstring.
"""

import math
import os

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tinygan import losses, nn, theory, toy
from tinygan.backend import Random

LOG2, LOG4 = math.log(2), math.log(4)
positive = st.floats(min_value=1e-4, max_value=1e4, allow_nan=False, allow_infinity=False)
weights = st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=2, max_size=12)


def _pair(a, b):
    """Two probability vectors of the same length from hypothesis weights (zeros allowed)."""
    k = min(len(a), len(b))
    p, q = np.array(a[:k], dtype=np.float64), np.array(b[:k], dtype=np.float64)
    assume(p.sum() > 1e-6 and q.sum() > 1e-6)
    return p / p.sum(), q / q.sum()


# --- toy data sets -------------------------------------------------------------------


@pytest.mark.parametrize("name", toy.DATASETS)
def test_toy_sample_shape_dtype_and_moments(name):
    x = toy.sample(name, 4000, Random(0))
    centres, sigma = toy.modes(name)
    assert x.shape == (4000, toy.dim(name)) and x.dtype == np.float32
    # mixture mean = mean of centres; sample mean within 5 standard errors
    spread = float(np.sqrt(((centres - centres.mean(0)) ** 2).sum(1).mean() + sigma ** 2))
    assert np.all(np.abs(x.mean(0) - centres.mean(0)) < 5 * spread / np.sqrt(4000))
    # covariance of an equal-weight mixture = covariance of the centres + σ²I; the
    # standard error of a sample variance is about var·sqrt(2/n), so allow 5 of them
    expected = np.cov(centres.T, bias=True).reshape(toy.dim(name), toy.dim(name)) + sigma ** 2 * np.eye(toy.dim(name))
    measured = np.cov(x.T.astype(np.float64)).reshape(expected.shape)
    assert np.abs(measured - expected).max() < 5 * np.sqrt(2 / 4000) * expected.max(), (measured, expected)


def test_toy_is_seeded_and_validates_names():
    np.testing.assert_array_equal(toy.sample("ring8", 10, Random(3)), toy.sample("ring8", 10, Random(3)))
    with pytest.raises(ValueError, match="unknown toy data set"):
        toy.sample("ring9", 10, Random(0))


def test_toy_log_density_integrates_to_one():
    """Modes are ≥ 1.5 apart and σ ≤ 0.05, so one mode's ±8σ square holds 1/k of the mass."""
    for name in ("ring8", "grid25"):
        centres, sigma = toy.modes(name)
        local = np.linspace(-8 * sigma, 8 * sigma, 401)
        lx, ly = np.meshgrid(local, local, indexing="ij")
        c = centres[0].astype(np.float64)
        p = np.exp(toy.log_density(name, np.stack([lx.ravel() + c[0], ly.ravel() + c[1]], 1)))
        mass = theory.trapezoid(theory.trapezoid(p.reshape(401, 401), local), local)
        assert abs(mass * len(centres) - 1) < 1e-6, name
    x = np.linspace(-3, 7, 20001)
    p = np.exp(toy.log_density("gauss1d", x[:, None]))
    assert abs(theory.trapezoid(p, x) - 1) < 1e-9


def test_mode_stats_counts_modes_and_quality():
    centres, sigma = toy.modes("grid25")
    x = np.concatenate([centres[:3], centres[:1] + 10 * sigma])  # 3 modes hit, 1 far sample
    covered, hq = toy.mode_stats("grid25", x)
    assert covered == 3 and hq == 0.75
    assert toy.mode_stats("grid25", x, min_count=2)[0] == 0


def test_mode_metric_calibrated_on_true_data():
    r = theory.check_mode_metric()
    assert r.passed, r.measured


# --- 1. optimal discriminator ----------------------------------------------------------


def test_pointwise_optimum_dense_search():
    r = theory.check_pointwise_optimum()
    assert r.passed, r.measured


@given(positive, positive)
def test_pointwise_optimum_hypothesis(a, b):
    """y* = a/(a+b) beats every point of a grid, and f'(y*) = a/y* − b/(1−y*) = 0."""
    y_star = a / (a + b)
    y = (np.arange(10_001) + 0.5) / 10_001
    f = lambda y: a * np.log(y) + b * np.log1p(-y)  # noqa: E731
    # float64 rounding of f is ~ε·(a + b)·|log y|; allow 1e-12 relative
    assert f(y_star) >= f(y).max() - 1e-12 * (a + b) * 20
    # both sides are a + b; computing 1 − y* costs an absolute ε, i.e. a relative
    # ε/(1 − y*) (and likewise ε/y* for the first term)
    eps = np.finfo(np.float64).eps
    assert abs(a / y_star - b / (1 - y_star)) <= 4 * eps * (a + b) * max(1 / y_star, 1 / (1 - y_star))
    np.testing.assert_allclose(theory.optimal_discriminator(a, b), y_star, rtol=1e-15)


# --- 2. global optimum ----------------------------------------------------------------


def test_global_optimum_discrete_batch():
    r = theory.check_global_optimum_discrete()
    assert r.passed, r.measured


@given(weights, weights)
def test_global_optimum_discrete_hypothesis(a, b):
    """C(G) = V(D*) = −log 4 + 2·JSD (entropy form), D* beats D*±δ, C(p,p) = −log 4."""
    p, q = _pair(a, b)
    c = theory.virtual_training_criterion(p, q)
    assert abs(c - (-LOG4 + 2 * theory.jsd_entropy_form(p, q))) < 1e-12
    d = theory.optimal_discriminator(p, q)
    with np.errstate(divide="ignore"):  # D* = p/(p+q) rounds to 1 where q is ~1e-34 of p: log 0
        v_star = theory.value_function(p, q, d)
    if np.isfinite(v_star):
        assert abs(v_star - c) < 1e-12  # the maximum C is reached at D*
    for delta in (1e-3, -1e-3, 0.1):
        other = np.clip(d + delta, 1e-12, 1 - 1e-12)
        assert theory.value_function(p, q, other) <= c + 1e-12
    assert abs(theory.virtual_training_criterion(p, p) + LOG4) < 1e-12
    if np.abs(p - q).sum() > 1e-3:
        assert c > -LOG4


def test_global_optimum_gaussians_quadrature():
    r = theory.check_global_optimum_gaussians()
    assert r.passed, r.measured


@given(st.floats(-3, 3), st.floats(0.3, 3), st.floats(-3, 3), st.floats(0.3, 3))
def test_global_optimum_gaussians_hypothesis(mu1, s1, mu2, s2):
    c, j = theory.gaussian_c_and_jsd(mu1, s1, mu2, s2, points_per_sigma=50)
    assert abs(c - (-LOG4 + 2 * j)) < 1e-9
    assert -1e-12 <= j <= LOG2 + 1e-12


# --- 3. JSD ---------------------------------------------------------------------------


def test_jsd_facts_batch():
    r = theory.check_jsd_facts()
    assert r.passed, r.measured


@given(weights, weights)
def test_jsd_facts_hypothesis(a, b):
    p, q = _pair(a, b)
    j = theory.jsd(p, q)
    assert abs(j - theory.jsd(q, p)) < 1e-12
    assert -1e-12 <= j <= LOG2 + 1e-12
    assert theory.jsd(p, p) == 0
    tv = np.abs(p - q).sum() / 2
    assert j >= tv * tv / 2 - 1e-12  # Pinsker: zero only if equal
    if np.all(p * q == 0):
        assert abs(j - LOG2) < 1e-12  # disjoint supports


def test_jsd_disjoint_is_log2_and_histogram_jsd():
    assert abs(theory.jsd([0.5, 0.5, 0, 0], [0, 0, 0.3, 0.7]) - LOG2) < 1e-15
    x = np.zeros(100)
    assert theory.histogram_jsd(x, x + 100, -1, 1, 10) == pytest.approx(LOG2, abs=1e-15)


# --- 4. saturation --------------------------------------------------------------------


def test_saturation_table():
    r = theory.check_saturation_logits()
    assert r.passed, r.measured
    rows = {a: (g_mm, g_ns) for a, _, g_mm, g_ns in r.details["rows"]}
    assert abs(rows[-20.0][0]) < 1e-8 and abs(rows[-20.0][1] + 1) < 1e-8
    assert rows[0.0] == (-0.5, -0.5)


def test_generator_grad_norms_ratio_is_d_over_1_minus_d_per_sample():
    """For one sample the two gradients are parallel with ratio D/(1−D) = e^a."""
    rng = Random(0)
    G, D = theory.mlp([2, 8, 3], rng), theory.mlp([3, 8, 1], rng)
    z = rng.normal((1, 2))
    n_mm, n_ns, d = theory.generator_grad_norms(G, D, z)
    assert n_mm / n_ns == pytest.approx(d / (1 - d), rel=1e-4)  # float32 nets


@pytest.mark.slow
def test_saturation_on_mnist(tmp_path):
    r = theory.check_saturation_mnist(out=str(tmp_path))
    assert r.passed, r.measured
    assert (tmp_path / "4b_saturation_mnist.png").stat().st_size > 0


# --- 5. fixed point -------------------------------------------------------------------


def test_fixed_point():
    r = theory.check_fixed_point()
    assert r.passed, (r.measured, r.details["residuals"])


# --- 8. Wasserstein-1 -----------------------------------------------------------------


def test_w1_gaussians():
    r = theory.check_w1()
    assert r.passed, r.measured


@given(st.floats(-5, 5), st.floats(-5, 5))
def test_w1_of_a_shift_is_the_shift(mu, c):
    x = mu + Random(1).normal((1000,), dtype="float64")
    assert abs(theory.w1_sorted(x, x + c) - abs(c)) < 1e-12
    assert theory.w1_sorted(x, x[::-1]) == 0  # order does not matter


def test_w1_needs_equal_sizes():
    with pytest.raises(ValueError, match="equal size"):
        theory.w1_sorted(np.zeros(3), np.zeros(4))


# --- the report -----------------------------------------------------------------------


def test_report_fast_mode_passes_and_formats(tmp_path):
    results = theory.run_all(str(tmp_path), fast=True, log=lambda *a, **k: None)
    assert [r.key for r in results] == ["1a", "2a", "2b", "3", "4a", "5", "7a", "8"]
    assert all(r.passed for r in results)
    table = theory.format_table(results)
    assert table.count("\n") == len(results) + 1 and "| PASS |" in table


def test_main_exits_nonzero_on_failure(monkeypatch, tmp_path, capsys):
    bad = theory.Result("x", "a false statement", "by fiat", 1.0, 0.0, False)
    monkeypatch.setattr(theory, "run_all", lambda *a, **k: [bad])
    assert theory.main(["--out", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().out


# --- slow: the training experiments ---------------------------------------------------


@pytest.mark.slow
def test_learned_discriminator_matches_d_star(tmp_path):
    r = theory.check_learned_discriminator(out=str(tmp_path))
    assert r.passed, r.measured
    assert r.details["v_net"] <= r.details["c_g"] + 1e-9  # holds for any D (V(D) ≤ C pointwise): a check of C, not of training
    assert (tmp_path / "1b_optimal_discriminator.png").stat().st_size > 0


@pytest.mark.slow
def test_figure1_reproduced(tmp_path):
    r = theory.check_figure1(out=str(tmp_path))
    assert r.passed, r.measured
    jsds = [s["jsd"] for s in r.details["snapshots"]]
    assert jsds[-1] < jsds[0] / 10  # JSD shrinks from start to end
    assert (tmp_path / "6_figure1.png").stat().st_size > 0


def test_mode_collapse_table_has_a_row_per_run(tmp_path):
    """The plumbing of 7b in about a second: two 2-step runs, their rows and the figure."""
    configs = (("minimax", 1), ("nonsaturating", 5))
    results = theory.run_mode_collapse(out=str(tmp_path), steps=2, n_eval=100, datasets=("ring8",), configs=configs)
    assert [(r.details["dataset"], r.details["loss"], r.details["k"]) for r in results] == [
        ("ring8", "minimax", 1), ("ring8", "nonsaturating", 5)]
    assert all(r.passed is None and f"modes {r.details['covered']}/8" in r.measured for r in results)
    assert (tmp_path / "7_mode_collapse.png").stat().st_size > 0


def test_mixture_sampler_and_density_agree():
    """The two-bump p_g of check 1b: its sampler has the mixture's moments, its density integrates to 1."""
    mus, sigmas, weights = theory.P_G_1B["mus"], theory.P_G_1B["sigmas"], theory.P_G_1B["weights"]
    x = theory._sample_mixture(Random(0), 20_000, mus, sigmas, weights)[:, 0].astype(np.float64)
    mean = sum(w * m for m, w in zip(mus, weights))
    var = sum(w * (s ** 2 + m ** 2) for m, s, w in zip(mus, sigmas, weights)) - mean ** 2  # 2.61
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / 20_000)
    assert abs(x.var() - var) < 5 * var * math.sqrt(2 / 20_000)
    assert abs((x > 0).mean() - 0.5) < 0.02  # both bumps, equally often
    grid = np.linspace(-12, 12, 20_001)
    density = np.exp(theory.mixture_logpdf(grid, mus, sigmas, weights))
    assert abs(theory.trapezoid(density, grid) - 1) < 1e-9
    one = theory.mixture_logpdf(grid, (0.5,), (2.0,), (1.0,))
    np.testing.assert_allclose(one, -0.5 * ((grid - 0.5) / 2) ** 2 - math.log(2 * math.sqrt(2 * math.pi)), rtol=1e-12)


@pytest.mark.slow
def test_mode_collapse_runs_and_plots(tmp_path):
    """The full table at 300 steps: a smoke run (the rows are measurements, not pass/fail)."""
    results = theory.run_mode_collapse(out=str(tmp_path), steps=300)
    assert len(results) == 8 and all(r.passed is None for r in results)
    assert (tmp_path / "7_mode_collapse.png").stat().st_size > 0


def test_optimal_discriminator_is_one_half_where_both_densities_vanish():
    np.testing.assert_array_equal(theory.optimal_discriminator([0.0, 0.5, 0.2], [0.0, 0.5, 0.0]), [0.5, 0.5, 1.0])


def test_trapezoid_is_exact_for_straight_lines():
    x = np.linspace(0, 1, 11)
    assert float(theory.trapezoid(x, x)) == pytest.approx(0.5, abs=1e-15)
    assert float(theory.trapezoid(np.ones(2), np.array([0.0, 3.0]))) == 3.0


@pytest.mark.parametrize("sign", [1, -1])
def test_histogram_jsd_keeps_samples_outside_the_range_apart(sign):
    """0.95 falls in the last bin of [-1, 1] and 5.0 in the overflow bin: disjoint, JSD = log 2."""
    jsd = theory.histogram_jsd(np.full(100, 0.95 * sign), np.full(100, 5.0 * sign), -1, 1, 10)
    assert float(jsd) == pytest.approx(math.log(2), rel=1e-12)
    # a diverged generator's inf or 1e300 lands in its own overflow bin, not in the other one
    for far in (np.inf, 1e300):
        jsd = theory.histogram_jsd(np.full(100, -5.0 * sign), np.full(100, far * sign), -1, 1, 10)
        assert float(jsd) == pytest.approx(math.log(2), rel=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        theory.histogram_jsd(np.zeros(3), np.array([0.0, np.nan, 1.0]), -1, 1, 10)


def test_check_2a_fails_when_d_star_is_not_the_optimum(monkeypatch):
    """The row claims max_D V is reached at D*: with a wrong D* it must fail, not pass on V(D) ≤ C alone."""
    monkeypatch.setattr(theory, "optimal_discriminator", lambda p, q: np.full_like(p, 0.5))  # V = −log 4 < C
    assert theory.check_global_optimum_discrete().passed is False


def test_toy_modes_are_where_the_docstring_says():
    grid, _ = toy.modes("grid25")
    expected = {(i, j) for i in (-4, -2, 0, 2, 4) for j in (-4, -2, 0, 2, 4)}
    assert {tuple(float(v) for v in c) for c in np.asarray(grid)} == expected
    ring, _ = toy.modes("ring8")
    ring = np.asarray(ring, dtype=np.float64)
    np.testing.assert_allclose(np.hypot(ring[:, 0], ring[:, 1]), toy.RING_RADIUS, rtol=1e-6)
    angles = np.sort(np.mod(np.arctan2(ring[:, 1], ring[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(angles, np.arange(8) * np.pi / 4, atol=1e-6)


# --- each check can fail, and the helpers do what they say ------------------------------
# A mutation pass found that the suite passed with any one criterion of these checks
# removed: each test below feeds a check one wrong ingredient that only that criterion
# catches, and asserts that the row fails.


# --- theory.main / report -------------------------------------------------------------

def test_theory_main_exits_0_when_the_only_non_passing_rows_are_measurements(monkeypatch, tmp_path, capsys):
    """T27: rows with passed=None (7b, the mode-collapse measurements) are not failures."""
    ok = theory.Result("1a", "true", "by proof", 0.0, 1.0, True)
    measured = theory.Result("7b", "ring8: minimax loss, k=1", "a run", 3.0, 8.0, None)
    monkeypatch.setattr(theory, "run_all", lambda *a, **k: [ok, measured])
    assert theory.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2/2 rows passed or measured, 0 failed" in out


def test_theory_main_refuses_an_unwritable_out_before_running(monkeypatch, tmp_path, capsys):
    """T28: --out that is not writable is refused (exit 2, one line) before any experiment.
    os.access is patched: these tests may run as root, for whom every folder is writable."""
    monkeypatch.setattr(theory, "run_all", lambda *a, **k: pytest.fail("ran before checking --out"))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(tmp_path) else real_access(p, mode, **kw))
    with pytest.raises(SystemExit) as exit_:
        theory.main(["--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"--out: {tmp_path} is not writable" in err and err.count("\n") == 1


def test_format_table_escapes_pipes_in_cells():
    """T29: a '|' inside a cell must not add a column to the Markdown row."""
    r = theory.Result("x", "JSD(p | q) = 0", "a | b", 0.0, 1.0, True, "|D − D*| = 0")
    row = theory.format_table([r]).splitlines()[-1]
    unescaped = len([i for i, ch in enumerate(row) if ch == "|" and (i == 0 or row[i - 1] != "\\")])
    assert unescaped == 8  # 7 columns


def test_result_passes_at_exactly_the_tolerance():
    """T20: passed is error <= tolerance (docstring of Result)."""
    assert theory._result("k", "s", "m", 0.5, 0.5).passed is True
    assert theory._result("k", "s", "m", 0.0, 0.0).passed is True
    assert theory._result("k", "s", "m", 0.5000001, 0.5).passed is False


# --- the checks must be able to fail (each fed one wrong ingredient) --------------------

def test_check_2a_fails_when_some_discriminator_beats_d_star(monkeypatch):
    """T21: V(D*) = C still holds exactly, but random D score above C: 'D* beats any D' is false."""
    v = theory.value_function

    def wrong_v(p, q, D, axis=-1):
        D = np.asarray(D, dtype=np.float64)
        return v(p, q, D, axis) + 100 * ((D - theory.optimal_discriminator(p, q)) ** 2).sum(axis=axis)

    monkeypatch.setattr(theory, "value_function", wrong_v)
    assert theory.check_global_optimum_discrete().passed is False


def test_check_3_fails_when_disjoint_supports_do_not_give_log2(monkeypatch):
    """T22: a JSD that saturates below log 2 (symmetric, bounded, zero on p = p, Pinsker holds)."""
    jsd = theory.jsd
    monkeypatch.setattr(theory, "jsd", lambda p, q, axis=-1: np.minimum(jsd(p, q, axis), LOG2 - 0.01))
    assert theory.check_jsd_facts().passed is False


def test_check_2b_fails_when_unequal_gaussians_give_minus_log4(monkeypatch):
    """T23: C = −log 4 and JSD = 0 for every pair satisfies the identity but not 'C > −log 4 iff p ≠ q'."""
    monkeypatch.setattr(theory, "gaussian_c_and_jsd", lambda *a, **k: (-LOG4, 0.0))
    assert theory.check_global_optimum_gaussians().passed is False


def test_check_4a_fails_on_a_minimax_gradient_that_loses_its_tail_precision(monkeypatch):
    """T24: −σ(a) computed as −(1 − σ(−a)) is within 1e-12 of the closed form, but at a = −20
    it exceeds e^a (cancellation): only the limit part of 4a sees it."""
    def minimax(fake_logits):
        n = fake_logits.shape[0]
        return 0.0, -(1 - nn.sigmoid(-fake_logits)) / n

    monkeypatch.setattr(losses, "generator_loss_minimax", minimax)
    assert theory.check_saturation_logits().passed is False


def test_check_7a_fails_when_a_mode_is_missed(monkeypatch):
    """T25: true samples must cover every mode; the HQ fraction alone is not enough."""
    stats = toy.mode_stats
    monkeypatch.setattr(toy, "mode_stats", lambda name, x, **k: (stats(name, x, **k)[0] - 1, stats(name, x, **k)[1]))
    assert theory.check_mode_metric().passed is False


def test_check_8_fails_on_a_w1_with_a_small_bias(monkeypatch):
    """T26: dividing by n − 1 biases W1 by 1/n: invisible to the statistical part, caught by the exact shift."""
    def w1(x, y):
        x, y = np.sort(np.ravel(x)), np.sort(np.ravel(y))
        return float(np.abs(x - y).sum() / (len(x) - 1))

    monkeypatch.setattr(theory, "w1_sorted", w1)
    assert theory.check_w1().passed is False


def test_check_5_fails_when_the_any_d_part_is_vacuous(monkeypatch):
    """T31: with D's last layer initialised to zero every D is constant, part (iv) compares
    two zero gradients, and the row must not pass."""
    mlp = theory.mlp

    def zero_last(sizes, rng, *a, **k):
        net = mlp(sizes, rng, *a, **k)
        if sizes[-1] == 1:
            net.layers[-1].params["W"][...] = 0
        return net

    monkeypatch.setattr(theory, "mlp", zero_last)
    assert theory.check_fixed_point().passed is False


# --- theory helpers -------------------------------------------------------------------

def test_random_distributions_never_has_an_empty_row():
    """T15: even when almost every entry is zeroed, rows sum to 1 (atom 0 is kept positive)."""
    p = theory.random_distributions(Random(0), 500, 3, sparsity=0.95)
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1.0) and np.all(p[:, 0] > 0)


def test_histogram_jsd_uses_bins_equal_bins_over_the_range():
    """T18: compare with numpy.histogram on the same edges plus two overflow bins."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 5000), rng.normal(0.3, 1.2, 5000)
    lo, hi, bins = -2.0, 2.5, 30
    edges = np.concatenate([[-np.inf], np.linspace(lo, hi, bins + 1), [np.inf]])
    hx, hy = (np.histogram(v, edges)[0].astype(np.float64) for v in (x, y))
    expected = theory.jsd(hx / hx.sum(), hy / hy.sum())
    assert theory.histogram_jsd(x, y, lo, hi, bins) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # neighbouring bins are different bins: disjoint histograms
    assert theory.histogram_jsd(np.full(10, 0.05), np.full(10, 0.25), -1, 1, 10) == pytest.approx(LOG2, rel=1e-12)


def test_train_discriminator_learns_logistic_regression():
    """T30 (fast stand-in for the slow 1b test): for p = N(0,1), q = N(2,1) the optimal
    logit is log p/q = 2 − 2x; a linear D trained on both batches finds it."""
    rng = Random(0)
    D = theory.mlp([1, 1], rng)
    theory.train_discriminator(lambda n: rng.normal((n, 1)), lambda n: rng.normal((n, 1)) + 2, D,
                               steps=1500, batch=512, lr=0.1, lr_final=5e-3)
    w, b = float(D.layers[0].params["W"].ravel()[0]), float(D.layers[0].params["b"].ravel()[0])
    assert abs(w + 2) < 0.1 and abs(b - 2) < 0.1, (w, b)


# --- toy ------------------------------------------------------------------------------

def test_log_density_far_from_every_centre_is_finite_and_exact():
    """Y08: at the ring's centre all 8 modes are 2 = 100σ away: log p = −2/σ² − log(2πσ²)."""
    s = toy.RING_STD
    got = toy.log_density("ring8", np.zeros((1, 2)))
    assert np.isfinite(got).all()
    # the centres are float32, so their distance from 0 is 2 only to ~1e-7 relative
    assert got[0] == pytest.approx(-2 / s ** 2 - math.log(2 * math.pi * s ** 2), rel=1e-6)
    far = toy.log_density("grid25", np.array([[1.0, 1.0]]))  # 1.41 = 28σ from 4 centres
    s = toy.GRID_STD
    assert far[0] == pytest.approx(math.log(4 / 25) - 1 / s ** 2 - math.log(2 * math.pi * s ** 2), rel=1e-6)


def test_mode_stats_of_no_samples():
    """Y12: zero samples cover no mode and have HQ 0 (not NaN, not a warning)."""
    assert toy.mode_stats("ring8", np.zeros((0, 2), dtype=np.float32)) == (0, 0.0)
