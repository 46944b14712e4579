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
    assert abs(j - theory.jsd_entropy_form(p, q)) < 1e-12  # and it is the JSD, not only JSD-like


def test_jsd_is_the_jensen_shannon_divergence():
    """The facts of row 3 hold for other functions too (log 2·TV, sqrt(log 2·JSD)):
    tie theory.jsd to a value by hand and to the entropy form on check 3's random pairs.
    By hand: p = (½, ½), q = (1, 0), m = (¾, ¼): KL(p‖m) = ½ log(4/3), KL(q‖m) = log(4/3)."""
    assert theory.jsd([0.5, 0.5], [1.0, 0.0]) == pytest.approx(0.75 * math.log(4 / 3), rel=1e-14)
    rng = Random(2)
    p = theory.random_distributions(rng, 2000, 12, sparsity=0.25)
    q = theory.random_distributions(rng, 2000, 12, sparsity=0.25)
    assert np.abs(theory.jsd(p, q) - theory.jsd_entropy_form(p, q)).max() < 1e-12


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


# Added after a mutation pass over theory.py's formulas: each test fails on a plausible wrong
# formula the suite had let through.  Every case of check 8 is two Gaussians of equal σ, where
# every sorted difference has the sign of Δμ: there W1 = |mean x − mean y| = W2, so
# ``|mean(sorted x − sorted y)|`` (the abs outside the mean), the root-mean-square of the
# sorted differences (W2) and their median all passed.


def test_w1_is_the_mean_cost_of_moving_each_atom_not_a_difference_of_means():
    """By hand: four atoms at 0 go to −1, −1, 1, 3 (the order of ``y`` must not matter), at
    costs 1, 1, 1, 3: W1 = 6/4 = 1.5.  Not the shift of the means (0.5), not W2 (√3), not
    the median cost (1): W1 is what the WGAN critic estimates, so its value is what matters."""
    assert theory.w1_sorted([0.0, 0.0, 0.0, 0.0], [3.0, -1.0, 1.0, -1.0]) == 1.5
    assert theory.w1_sorted([3.0, -1.0, 1.0, -1.0], [0.0, 0.0, 0.0, 0.0]) == 1.5


@pytest.mark.parametrize("mu1, s1, mu2, s2", [(0.0, 1.0, 0.0, 3.0), (0.0, 1.0, 0.5, 2.0), (1.0, 2.0, -1.0, 0.5)])
def test_w1_between_gaussians_of_different_spread_is_the_folded_normal_mean(mu1, s1, mu2, s2):
    """In 1-D, W1(F, G) = ∫₀¹ |F⁻¹(u) − G⁻¹(u)| du; for Gaussians F⁻¹(u) = μ + σΦ⁻¹(u), so
    W1 = E|Δμ + Δσ·Z|, the mean of a folded normal N(m, s²), m = Δμ, s = |Δσ|:
    ``s·sqrt(2/π)·exp(−m²/2s²) + m·(1 − 2Φ(−m/s))``.  With Δσ ≠ 0 the sorted differences
    change sign, which check 8's equal-σ cases never make them do (N(0,1) vs N(0,3²): W1 =
    2·sqrt(2/π) = 1.596, while the means agree and W2 = 2).

    The samples are the 10,000 midpoint quantiles Φ⁻¹((i + ½)/n) of each law, shuffled (so
    ``w1_sorted`` has to sort them): no sampling noise, and the midpoint rule misses the
    integral by at most 3.2e-5 here (the tails beyond the last quantile; 1.6e-5 to
    3.1e-5 measured over the three cases), under the 1e-4 allowed."""
    from statistics import NormalDist

    n = 10_000
    q = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)])
    rng = np.random.default_rng(0)
    x, y = mu1 + s1 * q[rng.permutation(n)], mu2 + s2 * q[rng.permutation(n)]
    m, s = mu2 - mu1, abs(s2 - s1)
    expected = s * math.sqrt(2 / math.pi) * math.exp(-m * m / (2 * s * s)) + m * (1 - 2 * NormalDist().cdf(-m / s))
    assert abs(theory.w1_sorted(x, y) - expected) < 1e-4


def test_xlogy_is_minus_infinity_where_mass_meets_log_0():
    """``xlogy`` drops a term only where ``a = 0`` (0·log 0 = 0, silently); ``a > 0`` with
    ``b = 0`` is −inf, with NumPy's warning.  This is what keeps Prop. 1 true at the edge: a
    discriminator that says D = 0 where the data has mass scores V = −inf, below V(D*).
    Masking on ``b > 0`` instead (a common way to write the convention) drops those terms:
    D = (0, 1) on p = q = (½, ½) then scores V = 0, above C(G) = −log 4, and no check noticed
    (check 2a draws D in [1e-6, 1 − 1e-6])."""
    assert theory.xlogy(0.0, 0.0) == 0.0  # no warning: the suite turns RuntimeWarnings into errors
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        np.testing.assert_array_equal(theory.xlogy([0.5, 0.0, 0.5], [0.0, 0.0, 1.0]), [-np.inf, 0.0, 0.0])
    p = q = np.array([0.5, 0.5])
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        assert theory.value_function(p, q, np.array([0.0, 1.0])) == -np.inf
    assert theory.virtual_training_criterion(p, q) == pytest.approx(-LOG4, rel=1e-15)


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


def test_theory_main_refuses_an_empty_out(monkeypatch, capsys):
    monkeypatch.setattr(theory, "run_all", lambda *a, **k: pytest.fail("ran without a folder"))
    with pytest.raises(SystemExit) as exit_:
        theory.main(["--out", ""])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--out: is empty; name the directory for the figures" in err


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


# --- a third mutation pass (theory.py, toy.py): each test below fails with one deliberate
# bug that the suite above let through ------------------------------------------------


def test_virtual_training_criterion_keeps_atoms_where_q_is_tiny_next_to_p():
    """F01: 1 − D* formed as q/(p+q), not 1 − p/(p+q): at q = 1e-20 ≪ p = 0.5 the latter is log 0."""
    p, q = np.array([0.5, 0.5]), np.array([1e-20, 1 - 1e-20])
    expected = (0.5 * math.log(0.5 / (0.5 + 1e-20)) + 1e-20 * math.log(1e-20 / (0.5 + 1e-20))
                + 0.5 * math.log(0.5 / 1.5) + (1 - 1e-20) * math.log((1 - 1e-20) / 1.5))
    assert float(theory.virtual_training_criterion(p, q)) == pytest.approx(expected, rel=1e-14)


def test_mixture_logpdf_is_finite_far_in_the_tails():
    """F02: the log-sum-exp subtracts the largest term; at x = 100 the two bumps of 1b differ by e^833."""
    x = np.array([100.0, -100.0])
    got = theory.mixture_logpdf(x, (-1.5, 1.5), (0.6, 0.6), (0.5, 0.5))
    lp = [math.log(0.5) + theory.gaussian_logpdf(x, m, 0.6) for m in (-1.5, 1.5)]
    np.testing.assert_allclose(got, np.logaddexp(*lp), rtol=1e-14)


def test_random_distributions_spread_over_orders_of_magnitude():
    """F03: entries are u³, not u: min/max < 0.01 in a row of two for about a fifth of the rows
    (for plain u it would be 1 in 100)."""
    p = theory.random_distributions(Random(0), 10_000, 2)
    ratio = p.min(axis=1) / p.max(axis=1)
    assert 0.15 < (ratio < 0.01).mean() < 0.3


def _fast_1b(monkeypatch, d_net):
    """Check 1b with one training step and the learned D replaced by ``d_net(d_star)``."""
    monkeypatch.setattr(theory, "_d_prob", lambda D, x: d_net(
        theory.optimal_discriminator(np.exp(theory.mixture_logpdf(x.reshape(-1).astype(np.float64), **theory.P_DATA_1B)),
                                     np.exp(theory.mixture_logpdf(x.reshape(-1).astype(np.float64), **theory.P_G_1B)))))
    return theory.check_learned_discriminator(steps=1, batch=8)


def test_check_1b_passes_within_and_fails_beyond_0_05(monkeypatch):
    """F04: the tolerance is 0.05 on the max over the region m ≥ 5% of its peak (fast: D is replaced)."""
    assert _fast_1b(monkeypatch, lambda d: np.minimum(d + 0.04, 0.999)).passed is True
    r = _fast_1b(monkeypatch, lambda d: np.minimum(d + 0.06, 0.999))
    assert r.passed is False and r.tolerance == 0.05 and r.error == pytest.approx(0.06)
    x = np.linspace(-5.0, 5.0, 2001)
    # wrong by 0.2 only at |x| = 2.5 (m is 15% of its peak there) and at 4.5 (outside):
    # the max catches the first, the region leaves out the second
    spike = lambda d, at, by: d + by * (np.abs(np.abs(x) - at) < 0.01)  # noqa: E731
    assert _fast_1b(monkeypatch, lambda d: spike(d, 2.5, 0.2)).passed is False
    assert _fast_1b(monkeypatch, lambda d: spike(d, 4.5, -0.2)).passed is True


def test_check_1b_compares_with_d_star_and_reports_c_of_g(monkeypatch):
    """F05: a D equal to D* passes with error 0 and V(D) = C(G) = V(D*) by quadrature; 1 − D* fails."""
    r = _fast_1b(monkeypatch, lambda d: d)
    assert r.passed is True and r.error < 1e-6  # D* at float32 x against D* at float64 x
    p_q = [np.exp(theory.mixture_logpdf(np.linspace(-5, 5, 2001), **k)) for k in (theory.P_DATA_1B, theory.P_G_1B)]
    x = np.linspace(-5, 5, 2001)
    c_g = float(theory.trapezoid(theory.virtual_training_criterion(p_q[0][None, :].T, p_q[1][None, :].T, axis=1), x))
    assert r.details["c_g"] == pytest.approx(c_g, rel=1e-12) and r.details["v_net"] == pytest.approx(c_g, rel=1e-6)
    assert _fast_1b(monkeypatch, lambda d: 1 - d).passed is False


def _fast_4b(monkeypatch, norms, d_steps=(0,)):
    """Check 4b without MNIST and training: a tiny data set and given gradient norms."""
    import tinygan.data

    monkeypatch.setattr(tinygan.data, "load_dataset", lambda name: (np.zeros((8, 784), np.float32), None))
    it = iter(norms)
    monkeypatch.setattr(theory, "generator_grad_norms", lambda G, D, z: next(it))
    return theory.check_saturation_mnist(d_steps=d_steps, batch=4)


def test_check_4b_criterion_is_ratio_below_0_1_once_d_is_below_0_05(monkeypatch):
    """F06: pass iff, at the last stage, mean D(G(z)) < 0.05 and ‖g_mm‖/‖g_ns‖ < 0.1."""
    r = _fast_4b(monkeypatch, [(0.09, 1.0, 0.04)])
    assert r.passed is True and r.error == pytest.approx(0.09) and r.tolerance == 0.1
    assert _fast_4b(monkeypatch, [(0.11, 1.0, 0.04)]).passed is False
    assert _fast_4b(monkeypatch, [(0.01, 1.0, 0.06)]).passed is False  # D has not learned to reject yet
    # the last stage decides, not the first
    assert _fast_4b(monkeypatch, [(0.01, 1.0, 0.01), (0.5, 1.0, 0.3)], d_steps=(0, 0)).passed is False


def test_check_5_fails_when_the_logit_derivatives_at_a_0_vanish(monkeypatch):
    """F07: (iii) needs dL/da ≠ 0 at a = 0 (else 'D ≡ ½ gives zero gradient' is trivial)."""
    for name in ("generator_loss_minimax", "generator_loss_nonsaturating"):
        real = getattr(losses, name)

        def zero_at_0(logits, real=real):
            loss, grad = real(logits)
            return (loss, 0 * grad) if logits.shape == (64, 1) and not np.any(logits) else (loss, grad)

        monkeypatch.setattr(losses, name, zero_at_0)
    assert theory.check_fixed_point().passed is False


def test_check_5_fails_when_the_two_gradients_at_d_half_differ(monkeypatch):
    """F08: a non-saturating loss −2·log σ(a) (value and gradient consistent, so finite
    differences agree) breaks 'both losses give the same ∇_θG at D = ½': (iv) must see it,
    which needs the first gradient kept as a copy, not the buffer the second overwrites."""
    real = losses.generator_loss

    def doubled(logits, kind="nonsaturating"):
        loss, grad = real(logits, kind)
        return (2 * loss, 2 * grad) if kind == "nonsaturating" else (loss, grad)

    monkeypatch.setattr(losses, "generator_loss", doubled)
    r = theory.check_fixed_point()
    assert r.passed is False and r.details["residuals"]["rel ∇G minimax vs non-sat, any D at D=½"] > 0.1


def test_check_5_fails_when_d_is_not_stationary_at_p_g_equal_p_data(monkeypatch):
    """F09: (ii) ∇_θD V = 0 when real = fake; a D loss weighting real logits twice breaks it."""
    real = losses.discriminator_loss
    monkeypatch.setattr(losses, "discriminator_loss", lambda r_, f_, *a: (lambda o: (o[0], 2 * o[1], o[2]))(real(r_, f_, *a)))
    assert theory.check_fixed_point().passed is False


def test_check_5_fails_when_backprop_disagrees_with_finite_differences(monkeypatch):
    """F10: the weight gradient of G's last layer (16 → 3) doubled: (i) stays 0 and (iv)'s two
    gradients still agree, only the finite-difference comparison sees it."""
    real = nn.Dense.backward

    def doubled(self, dout, cache, **kw):
        dx = real(self, dout, cache, **kw)
        if self.n_out == 3:
            self.grads["W"] *= 2
        return dx

    monkeypatch.setattr(nn.Dense, "backward", doubled)
    r = theory.check_fixed_point()
    assert r.passed is False and r.details["fd_rel_error"] > 0.1


def _fast_fig1(monkeypatch, jsd, d):
    """Check 6 with one step and its two measurements replaced."""
    monkeypatch.setattr(theory, "histogram_jsd", lambda *a: jsd)
    monkeypatch.setattr(theory, "_d_prob", lambda D, x: d(x.shape[0]))
    return theory.check_figure1(steps=1, n_eval=200, batch=16)


def test_check_6_needs_both_jsd_and_flat_d(monkeypatch):
    """F11: pass iff JSD ≤ 0.01 and E|D − ½| ≤ 0.1, on the last snapshot."""
    half = lambda n: np.full(n, 0.5)  # noqa: E731
    assert _fast_fig1(monkeypatch, 0.009, lambda n: np.full(n, 0.59)).passed is True
    assert _fast_fig1(monkeypatch, 0.011, half).passed is False
    r = _fast_fig1(monkeypatch, 0.0, lambda n: np.full(n, 0.62))
    assert r.passed is False and r.error == pytest.approx(1.2)
    # |D − ½| = 0.2 everywhere, though D − ½ averages to 0
    assert _fast_fig1(monkeypatch, 0.0, lambda n: 0.5 + 0.2 * (-1.0) ** np.arange(n)).passed is False


def test_check_6_judges_the_last_snapshot_of_g_against_the_data(monkeypatch):
    """F12: the JSD compares x_eval with G's samples, and the final snapshot decides."""
    calls = []

    def fake_jsd(x, y, *a):
        calls.append(x is y)
        return [0.5, 0.005][min(len(calls) - 2, 1)] if len(calls) > 1 else 0.0  # floor, it 0, it 1

    monkeypatch.setattr(theory, "histogram_jsd", fake_jsd)
    monkeypatch.setattr(theory, "_d_prob", lambda D, x: np.full(x.shape[0], 0.5))
    r = theory.check_figure1(steps=1, n_eval=200, batch=16)
    assert r.passed is True and [s["jsd"] for s in r.details["snapshots"]] == [0.5, 0.005]
    assert calls == [False, False, False]


def test_mode_collapse_runs_use_the_loss_k_and_schedule_of_their_row(monkeypatch):
    """F13: each 7b row trains with its own loss and k, lr 1e-3 decaying to 5e-5; PacGAN's count is ≥ 20."""
    seen = []
    real = theory.gan.train_step

    def spy(G, D, opt_g, opt_d, real_batches, noise, d_steps=1, loss="nonsaturating", **kw):
        seen.append((loss, d_steps, opt_g.lr))
        return real(G, D, opt_g, opt_d, real_batches, noise, d_steps=d_steps, loss=loss, **kw)

    monkeypatch.setattr(theory.gan, "train_step", spy)
    counts = []
    stats = toy.mode_stats
    monkeypatch.setattr(toy, "mode_stats", lambda name, x, min_count=1: counts.append(min_count) or stats(name, x, min_count))
    configs = (("minimax", 2), ("nonsaturating", 1))
    results = theory.run_mode_collapse(steps=2, n_eval=50, datasets=("ring8",), configs=configs)
    assert [(s[0], s[1]) for s in seen] == [("minimax", 2)] * 2 + [("nonsaturating", 1)] * 2
    assert seen[1][2] == pytest.approx(1e-3 * math.sqrt(5e-5 / 1e-3))  # halfway, geometrically
    assert counts == [1, 20, 1, 20]
    assert [r.key for r in results] == ["7b", "7c"]


def test_check_7a_uses_the_tolerance_of_5_binomial_standard_errors(monkeypatch):
    """F14: HQ off by 6 standard errors on one set must fail (tolerance 5·sqrt(P(1−P)/n))."""
    expected = 1 - math.exp(-4.5)
    se = math.sqrt(expected * (1 - expected) / 1000)
    stats = toy.mode_stats
    for name in ("ring8", "grid25"):
        for off, ok in ((4.9, True), (6, False)):
            monkeypatch.setattr(toy, "mode_stats", lambda n, x, off=off, name=name: (
                stats(n, x)[0], expected + off * se if n == name else expected))
            r = theory.check_mode_metric(n=1000)
            assert r.passed is ok, (name, off, r.measured)


def test_check_8_statistical_part_uses_independent_samples_and_4_standard_errors(monkeypatch):
    """F15: each case's statistical estimate counts (not only the last), at 4·σ·sqrt(2/n)."""
    real = theory.w1_sorted
    for case, off, ok in ((0, 3.9, True), (0, 4.1, False), (2, 4.1, False)):
        calls = []

        def w1(x, y, case=case, off=off):
            calls.append(1)
            n = len(calls)
            mu1, mu2, s = theory.W1_CASES[(n - 1) // 2]
            if n % 2 == 1:
                return real(x, y)  # the exact shift part
            return abs(mu1 - mu2) + (off * 4 * s * math.sqrt(2 / 1000) / 4 if (n - 1) // 2 == case else 0.0)

        monkeypatch.setattr(theory, "w1_sorted", w1)
        assert theory.check_w1(n=1000).passed is ok, (case, off)


def test_format_table_keeps_a_row_on_one_line_and_shows_the_numbers_of_failures():
    """F16: a newline in a cell would split the Markdown row; a FAIL row shows error and tolerance."""
    r = theory.Result("x", "two\nlines", "m", 0.25, 0.125, False)
    row = theory.format_table([r]).splitlines()[-1]
    assert theory.format_table([r]).count("\n") == 2
    assert row == "| x | two lines | m |  | 0.25 | 0.125 | FAIL |"


def _stub_checks(monkeypatch, passed=True):
    for name in ("check_pointwise_optimum", "check_global_optimum_discrete", "check_global_optimum_gaussians",
                 "check_jsd_facts", "check_saturation_logits", "check_fixed_point", "check_mode_metric", "check_w1",
                 "check_learned_discriminator", "check_saturation_mnist", "check_figure1"):
        monkeypatch.setattr(theory, name, lambda *a, name=name, **k: theory.Result(name, name, "stub", 0.0, 1.0, passed))
    monkeypatch.setattr(theory, "run_mode_collapse", lambda *a, **k: [theory.Result("7b", "m", "stub", 1.0, 8.0, None)])


def test_run_all_runs_every_check_in_order_and_logs_to_stderr(monkeypatch, tmp_path, capsys):
    """F17: fast skips exactly 1b, 4b, 6, 7b; progress goes to stderr, each row with its seconds."""
    _stub_checks(monkeypatch)
    full = theory.run_all(str(tmp_path / "a" / "b"), log=print)
    assert [r.key for r in full] == ["check_pointwise_optimum", "check_learned_discriminator",
                                     "check_global_optimum_discrete", "check_global_optimum_gaussians",
                                     "check_jsd_facts", "check_saturation_logits", "check_saturation_mnist",
                                     "check_fixed_point", "check_figure1", "check_mode_metric", "7b", "check_w1"]
    assert (tmp_path / "a" / "b").is_dir()
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 12 and "[    PASS] check_w1" in err and "[measured]  7b" in err
    assert "check_saturation_mnist" not in [r.key for r in theory.run_all(str(tmp_path), mnist=False, log=print)]
    monkeypatch.setattr(theory.time, "time", iter(range(100)).__next__)
    assert all(r.seconds == 1 for r in theory.run_all(str(tmp_path), fast=True, log=print) if r.key != "7b")


def test_theory_main_prints_the_table_on_stdout_and_passes_out_and_fast(monkeypatch, tmp_path, capsys):
    """F18: the command's stdout is the table and one summary line; --out and --fast reach run_all."""
    seen = {}
    rows = [theory.Result("1a", "true", "proof", 0.0, 1.0, True), theory.Result("2a", "false", "fiat", 2.0, 1.0, False)]
    monkeypatch.setattr(theory, "run_all", lambda out, fast, log: seen.update(out=out, fast=fast) or rows)
    assert theory.main(["--out", str(tmp_path / "o"), "--fast"]) == 1
    assert seen == {"out": str(tmp_path / "o"), "fast": True}
    out = capsys.readouterr().out
    assert out.startswith(theory.format_table(rows) + "\n\n1/2 rows passed or measured, 1 failed; ")
    assert "figures in" not in out
    assert theory.main(["--out", str(tmp_path / "o")]) == 1 and seen["fast"] is False
    assert f"; figures in {tmp_path / 'o'}/" in capsys.readouterr().out


def test_theory_main_reports_a_figure_it_cannot_write_in_one_line(monkeypatch, tmp_path, capsys):
    """F19: an OSError while writing a figure: exit 1, one line on stderr, no table."""
    def fail(*a, **k):
        raise OSError(28, "No space left on device", str(tmp_path / "6_figure1.png"))

    monkeypatch.setattr(theory, "run_all", fail)
    assert theory.main(["--out", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"python -m tinygan.theory: error: cannot write {tmp_path / '6_figure1.png'}: No space left on device\n"


def test_theory_main_refuses_an_out_that_is_a_file(monkeypatch, tmp_path, capsys):
    """F20: --out naming a file: exit 2 and one line, before any experiment."""
    monkeypatch.setattr(theory, "run_all", lambda *a, **k: pytest.fail("ran before checking --out"))
    (tmp_path / "f").write_text("")
    with pytest.raises(SystemExit) as exit_:
        theory.main(["--out", str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err == (f"python -m tinygan.theory: error: --out: cannot make the directory "
                                             f"{tmp_path / 'f'}: {tmp_path / 'f'} is a file, not a directory\n")


def test_theory_main_default_out_is_runs_theory(monkeypatch, tmp_path, capsys):
    """F21: without --out the figures go to runs/theory (module docstring)."""
    seen = {}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(theory, "run_all", lambda out, fast, log: seen.update(out=out) or [])
    assert theory.main([]) == 0 and seen["out"] == "runs/theory" and (tmp_path / "runs" / "theory").is_dir()


def test_check_2b_tells_equal_from_unequal_gaussians_by_mean_and_sigma():
    """F22: N(0,1) vs N(0,2) share the mean but differ: C > −log 4, and the row passes."""
    r = theory.check_global_optimum_gaussians(pairs=((0.0, 1.0, 0.0, 2.0),))
    assert r.passed is True


def test_toy_constants_are_the_documented_ones():
    """F23: the data sets of the module docstring and lesson 9: N(2, 0.5²), ring σ 0.02, grid σ 0.05."""
    assert toy.modes("gauss1d")[0].tolist() == [[2.0]] and toy.modes("gauss1d")[1] == 0.5
    assert toy.modes("ring8")[1] == 0.02 and toy.modes("grid25")[1] == 0.05
    assert toy.dim("gauss1d") == 1 and toy.dim("ring8") == 2 and toy.dim("grid25") == 2
    assert toy.modes("gauss1d")[0].dtype == np.float32


def test_mode_stats_counts_a_sample_at_exactly_n_sigma():
    """F24: 'within 3σ' is ‖x − c‖ ≤ 3σ: a sample on the boundary (exact in float32) is high quality."""
    x = np.array([[0.25, 0.0]], dtype=np.float32)  # 0.25 = 5σ from the grid's centre (0, 0) for σ = 0.05
    assert toy.mode_stats("grid25", x, n_sigma=5.0) == (1, 1.0)
    assert toy.mode_stats("grid25", x, n_sigma=4.99) == (0, 0.0)


def test_random_distributions_zeroes_a_fraction_sparsity_of_the_entries():
    """F25: sparsity=0.5 sets about half the entries (atom 0 aside) to 0; sparsity=0 none."""
    p = theory.random_distributions(Random(0), 2000, 6, sparsity=0.5)
    assert abs((p[:, 1:] == 0).mean() - 0.5) < 0.02
    assert np.all(theory.random_distributions(Random(0), 200, 6) > 0)


def test_mlp_layers_activations_and_init():
    """F26: hidden layers get the named activation (LeakyReLU(0.2) by default), the last layer none; Xavier init."""
    rng = Random(0)
    net = theory.mlp([2, 4, 4, 1], rng)
    assert [type(layer).__name__ for layer in net.layers] == ["Dense", "LeakyReLU", "Dense", "LeakyReLU", "Dense"]
    assert net.layers[1].alpha == 0.2 and all(layer.init == "xavier" for layer in net.layers[::2])
    assert [type(layer) for layer in theory.mlp([2, 4, 1], rng, "tanh").layers] == [nn.Dense, nn.Tanh, nn.Dense]
    assert [type(layer) for layer in theory.mlp([2, 4, 1], rng, "relu").layers] == [nn.Dense, nn.ReLU, nn.Dense]


def test_d_prob_is_the_sigmoid_of_the_logit():
    """F27: _d_prob turns D's logits (n, 1) into probabilities (n,)."""
    D = theory.mlp([1, 4, 1], Random(0))
    D.layers[-1].params["b"][...] = 3.0
    x = np.linspace(-1, 1, 5, dtype=np.float32).reshape(-1, 1)
    np.testing.assert_allclose(theory._d_prob(D, x), 1 / (1 + np.exp(-D(x).reshape(-1))), rtol=1e-6)


def test_check_1a_fails_on_a_maximiser_off_by_two_grid_spacings_or_wrong_at_extreme_ratios(monkeypatch):
    """F28: the tolerance is one grid spacing h, and (a, b) range over [1e-3, 1e3]², so a D*
    that is wrong only where a/b > 100 (or < 1/100) is caught too."""
    real = theory.optimal_discriminator
    monkeypatch.setattr(theory, "optimal_discriminator", lambda a, b: real(a, b) + 2.5e-4)
    assert theory.check_pointwise_optimum(n_pairs=50, grid=10_001).passed is False
    monkeypatch.setattr(theory, "optimal_discriminator",
                        lambda a, b: np.where(np.abs(np.log10(a / b)) > 2, 0.5, real(a, b)))
    assert theory.check_pointwise_optimum(n_pairs=50, grid=10_001).passed is False
    monkeypatch.setattr(theory, "optimal_discriminator", real)
    assert theory.check_pointwise_optimum(n_pairs=50, grid=10_001).passed is True


def test_check_2a_fails_when_the_identity_is_off_on_one_pair(monkeypatch):
    """F29: C(G) = −log 4 + 2·JSD must hold for every pair to 1e-12: a JSD off by 1e-10 on one pair fails."""
    real = theory.jsd_entropy_form
    monkeypatch.setattr(theory, "jsd_entropy_form", lambda p, q, axis=-1: real(p, q, axis) + 1e-10 * (np.arange(len(p)) == 7))
    r = theory.check_global_optimum_discrete()
    assert r.passed is False and r.tolerance == 1e-12


def test_check_2a_fails_when_c_of_p_p_is_not_minus_log4(monkeypatch):
    """F30: a C(G) off by 1e-10 only at q = p, on one row (the identity still holds elsewhere)."""
    real = theory.virtual_training_criterion
    monkeypatch.setattr(theory, "virtual_training_criterion",
                        lambda p, q, axis=-1: real(p, q, axis) + (1e-10 * (np.arange(len(p)) == 7) if p is q else 0))
    assert theory.check_global_optimum_discrete().passed is False


def test_check_2a_fails_when_c_is_minus_log4_for_one_unequal_pair(monkeypatch):
    """F31: on one pair (q ≠ p) C = −log 4, JSD = 0, V ≡ −log 4: every equation of 2a holds
    there, only 'C > −log 4 when q ≠ p' fails."""
    row = lambda p: np.arange(len(p)) == 7  # noqa: E731
    c, j, v = theory.virtual_training_criterion, theory.jsd_entropy_form, theory.value_function
    monkeypatch.setattr(theory, "virtual_training_criterion", lambda p, q, axis=-1: np.where(row(p), -LOG4, c(p, q, axis)))
    monkeypatch.setattr(theory, "jsd_entropy_form", lambda p, q, axis=-1: np.where(row(p), 0.0, j(p, q, axis)))
    monkeypatch.setattr(theory, "value_function", lambda p, q, D, axis=-1: np.where(row(p), -LOG4, v(p, q, D, axis)))
    assert theory.check_global_optimum_discrete().passed is False


def test_check_2a_covers_pairs_whose_supports_differ(monkeypatch):
    """F32: a third of the entries are 0; a C(G) wrong only on rows with a zero must fail."""
    real = theory.virtual_training_criterion

    def wrong_on_zeros(p, q, axis=-1):
        return real(p, q, axis) + 1e-9 * np.any((np.asarray(p) == 0) | (np.asarray(q) == 0), axis=axis)

    monkeypatch.setattr(theory, "virtual_training_criterion", wrong_on_zeros)
    assert theory.check_global_optimum_discrete().passed is False


def test_check_2a_fails_when_one_pair_has_a_better_discriminator(monkeypatch):
    """F33: 'D* beats any D' must hold on every pair: one row where other D score above C fails."""
    real = theory.value_function
    d_star = theory.optimal_discriminator

    def wrong_v(p, q, D, axis=-1):
        v = real(p, q, D, axis)
        return v if np.array_equal(D, d_star(p, q)) else v + 100 * (np.arange(len(p)) == 7)

    monkeypatch.setattr(theory, "value_function", wrong_v)
    assert theory.check_global_optimum_discrete().passed is False


def test_train_discriminator_decays_the_learning_rate_to_lr_final(monkeypatch):
    """F34: lr goes geometrically from lr to lr_final over the steps."""
    made = []
    adam = theory.optim.Adam
    monkeypatch.setattr(theory.optim, "Adam", lambda *a, **k: made.append(adam(*a, **k)) or made[-1])
    rng = Random(0)
    theory.train_discriminator(lambda n: rng.normal((n, 1)), lambda n: rng.normal((n, 1)), theory.mlp([1, 1], rng),
                               steps=3, batch=4, lr=0.1, lr_final=1e-3)
    # the three steps use 0.1, 0.01 and 0.001 = lr_final; the loop then decays once more
    assert made[0].lr == pytest.approx(1e-4, rel=1e-12)


def _row0(p):
    return np.arange(np.asarray(p).shape[0]) == 0


def _disjoint(p, q):
    return np.all(np.asarray(p) * np.asarray(q) == 0, axis=-1)


def _tv(p, q):
    return np.abs(np.asarray(p) - np.asarray(q)).sum(axis=-1) / 2


JSD_BREAKERS = {
    # asymmetric by 1e-10 on the random pairs, exact on disjoint ones
    "symmetric": lambda j, p, q: j + 1e-10 * ((p[:, 0] > q[:, 0]) & (q[:, 0] > 0)),
    # above log 2 on one non-disjoint random pair (and symmetric)
    "upper bound": lambda j, p, q: np.where(_row0(p) & ~_disjoint(p, q) & (p is not q), LOG2 + 1e-6, j),
    # JSD(p, p) = 1e-10 instead of 0
    "zero on p = p": lambda j, p, q: j + 1e-10 * (p is q),
    # JSD 0 for the nearby pairs q = p·(1 + 1e-4·u), TV ~ 1e-5: 'zero only if equal' broken
    "Pinsker near": lambda j, p, q: np.where((_tv(p, q) < 1e-4) & (p is not q), 0.0, j),
    # half of Pinsker's bound on one random pair
    "Pinsker 1/2": lambda j, p, q: np.where(_row0(p) & (_tv(p, q) > 1e-2) & ~_disjoint(p, q), _tv(p, q) ** 2 / 4, j),
    # one disjoint pair below log 2
    "disjoint": lambda j, p, q: np.where(_row0(p) & _disjoint(p, q), LOG2 - 1e-9, j),
}


@pytest.mark.parametrize("fact", JSD_BREAKERS)
def test_check_3_fails_when_one_fact_fails_on_one_pair(monkeypatch, fact):
    """F35: each fact of row 3 is checked on every pair and to 1e-12: a JSD that breaks only it, only a little, fails."""
    real = theory.jsd
    monkeypatch.setattr(theory, "jsd", lambda p, q, axis=-1: JSD_BREAKERS[fact](real(p, q, axis), p, q))
    r = theory.check_jsd_facts()
    assert r.passed is False and r.tolerance == 1e-12


def test_check_2b_fails_when_only_one_pair_breaks_the_identity_or_equal_gaussians_miss_minus_log4(monkeypatch):
    """F36: the identity to 1e-9 on every pair (here the last, N(0,1) vs N(30,1)), and C = −log 4 at p = q."""
    real = theory.gaussian_c_and_jsd
    monkeypatch.setattr(theory, "gaussian_c_and_jsd",
                        lambda m1, s1, m2, s2: (lambda c, j: (c, j + 1e-8 * (m2 == 30.0)))(*real(m1, s1, m2, s2)))
    r = theory.check_global_optimum_gaussians()
    assert r.passed is False and r.tolerance == 1e-9
    # C = −log 4 + 0.1 and JSD = 0.05 for every pair: the identity holds, but not at p = q
    monkeypatch.setattr(theory, "gaussian_c_and_jsd", lambda *a: (-LOG4 + 0.1, 0.05))
    assert theory.check_global_optimum_gaussians().passed is False


def test_saturation_table_reads_d_and_both_gradients():
    """F37: rows are (a, σ(a), −σ(a), σ(a) − 1) for the documented logits."""
    rows = theory.saturation_table((4.0, -2.0))
    s4, s2 = 1 / (1 + math.exp(-4)), 1 / (1 + math.exp(2))
    assert rows == [pytest.approx((4.0, s4, -s4, s4 - 1), rel=1e-14), pytest.approx((-2.0, s2, -s2, s2 - 1), rel=1e-14)]


@pytest.mark.parametrize("name", ["generator_loss_minimax", "generator_loss_nonsaturating"])
def test_check_4a_fails_when_one_gradient_is_off_by_1e_10_at_moderate_logits(monkeypatch, name):
    """F38: both gradients are compared with their closed forms to 1e-12 at every logit."""
    real = getattr(losses, name)
    monkeypatch.setattr(losses, name, lambda a: (lambda out: (out[0], out[1] + 1e-10 * (a > -20)))(real(a)))
    r = theory.check_saturation_logits()
    assert r.passed is False and r.tolerance == 1e-12


def test_check_4a_fails_when_the_non_saturating_gradient_misses_its_limit_by_two_ulps(monkeypatch):
    """F39: at a = −40, σ(a) − 1 is −1 exactly; −1 + 2⁻⁵² is within 1e-12 of the closed form
    but 2.2e-16 from the limit −1, more than e^a + 2⁻⁵³ allows."""
    real = losses.generator_loss_nonsaturating
    monkeypatch.setattr(losses, "generator_loss_nonsaturating",
                        lambda a: (lambda out: (out[0], np.where(a == -40.0, -1 + 2.0 ** -52, out[1])))(real(a)))
    assert theory.check_saturation_logits().passed is False


def test_check_8_statistical_part_draws_two_independent_samples(monkeypatch):
    """F40: the exact part compares a sample with its own shift, the statistical part with an
    independent sample (with the same noise twice it would be the exact part again)."""
    calls = []
    real = theory.w1_sorted
    monkeypatch.setattr(theory, "w1_sorted", lambda x, y: calls.append(np.ptp(np.asarray(x) - np.asarray(y))) or real(x, y))
    theory.check_w1(n=1000)
    assert len(calls) == 2 * len(theory.W1_CASES)
    assert all(c < 1e-9 for c in calls[0::2]) and all(c > 0.1 for c in calls[1::2])


def test_check_5_compares_the_logit_derivatives_of_every_sample(monkeypatch):
    """F41: (iii) at a = 0 the two derivatives must agree on every sample, not only on one."""
    real = losses.generator_loss_nonsaturating

    def off_on_one(logits):
        loss, grad = real(logits)
        if logits.shape == (64, 1) and not np.any(logits):
            grad = grad.copy()
            grad[5] += 1e-10
        return loss, grad

    monkeypatch.setattr(losses, "generator_loss_nonsaturating", off_on_one)
    assert theory.check_fixed_point().passed is False


def test_check_5_checks_every_parameter_of_g_for_a_zero_gradient(monkeypatch):
    """F42: (i) a single non-zero entry of ∇_θG (1e-10 on one bias of G's last layer) fails the row."""
    real = nn.Dense.backward

    def nudged(self, dout, cache, **kw):
        dx = real(self, dout, cache, **kw)
        if self.n_out == 3 and kw.get("param_grads", True):
            self.grads["b"][0] += 1e-10
        return dx

    monkeypatch.setattr(nn.Dense, "backward", nudged)
    assert theory.check_fixed_point().passed is False


def test_check_3_gives_q_an_atom_in_the_disjoint_pairs():
    """F44: with 4 atoms q's second half is all zero in about 1 row in 16: one atom is made
    positive, so no row is empty (0/0) and the disjoint pairs still give log 2."""
    assert theory.check_jsd_facts(n=200, k=4).passed is True
