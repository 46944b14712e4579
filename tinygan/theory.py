"""The theory lab: each statement of GAN theory becomes a number you can check.

Run ``python -m tinygan.theory [--out DIR] [--fast]`` to print a Markdown table, one row
per statement: what it says, how it was checked, the measured error, the tolerance and
pass/fail.  Figures are written to ``DIR`` (default ``runs/theory``).  The command exits
with status 1 if any check fails.  Every ``check_*`` function is also run by
``tests/test_theory.py``.

The statements (Goodfellow et al. 2014 unless said otherwise):

1. Optimal discriminator (Prop. 1): for a fixed generator ``D*(x) = p_data/(p_data + p_g)``.
2. Global optimum (Thm. 1): ``C(G) = max_D V(G, D) = −log 4 + 2·JSD(p_data ‖ p_g)``.
3. Facts about the Jensen–Shannon divergence.
4. Saturation of the minimax generator loss, and what it does on MNIST.
5. Both generator losses share the fixed point ``p_g = p_data``, ``D ≡ 1/2``.
6. Figure 1 of the paper, reproduced on a 1-D Gaussian.
7. Mode collapse on 8 Gaussians on a ring and 25 on a grid, measured.
8. Wasserstein-1 distance from sorted samples.

Notation shared by all functions: ``p`` is the data density (or probability vector),
``q`` the generator's, ``m = (p + q)/2`` their mixture, ``D`` the discriminator's
probability that its input is real, ``a`` its logit (``D = σ(a)``), and

    V(D) = E_p[log D(x)] + E_q[log(1 − D(x))]

the value function the discriminator maximises.  Logs are natural (nats).
"""

from __future__ import annotations

if __name__ == "__main__":  # before NumPy loads: small matrices run best on one thread
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import math
import os
import sys
import time
from dataclasses import dataclass, field

from . import gan, losses, nn, optim, toy
from .cli import ArgumentParser, command, describe_os_error, path_text
from .train import save_figure
from .backend import Random, to_device, to_numpy, xp

LOG2 = math.log(2.0)
LOG4 = math.log(4.0)


# --------------------------------------------------------------------------------------
# Results


@dataclass
class Result:
    """One row of the report.

    ``error`` is the measured quantity compared with ``tolerance`` (``passed`` is
    ``error <= tolerance``), except for measurement-only rows, where ``passed`` is None:
    they record what happened (e.g. how many modes a GAN covered) and cannot fail.
    """

    key: str
    statement: str
    method: str
    error: float
    tolerance: float
    passed: bool | None
    measured: str = ""  # a short human-readable summary of the numbers
    details: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "measured" if self.passed is None else ("PASS" if self.passed else "FAIL")


def _result(key, statement, method, error, tolerance, measured="", **details):
    error = float(error)
    return Result(key, statement, method, error, float(tolerance),
                  bool(error <= tolerance), measured, details)


# --------------------------------------------------------------------------------------
# Small numerical helpers (float64 throughout)


def xlogy(a, b):
    """``a·log b`` with the convention ``0·log 0 = 0``; elementwise, any shapes.

    Where ``a ≤ 0`` (here ``a`` is a probability, so ``a = 0``) the result is 0 and ``b``
    is never passed to ``log``, so ``0·log 0`` raises no ``divide by zero`` warning;
    ``a > 0`` with ``b = 0`` is ``−inf``, with NumPy's warning, as it should be.
    """
    a, b = xp.asarray(a, dtype="float64"), xp.asarray(b, dtype="float64")
    return xp.where(a > 0, a * xp.log(xp.where(a > 0, b, 1.0)), 0.0)


def entropy(p, axis=-1):
    """Shannon entropy ``H(p) = −Σ p log p`` of probability vectors ``p: (..., k)``."""
    return -xlogy(p, p).sum(axis=axis)


def jsd(p, q, axis=-1):
    """Jensen–Shannon divergence ``JSD(p ‖ q) = ½ KL(p ‖ m) + ½ KL(q ‖ m)``, ``m = (p+q)/2``.

    ``p, q: (..., k)`` probability vectors (rows sum to 1).  Returns ``(...)``, in nats,
    always in ``[0, log 2]``.
    """
    p, q = xp.asarray(p, dtype="float64"), xp.asarray(q, dtype="float64")
    # KL(p ‖ m) = Σ p log(2p/(p + q)): the ratio is formed directly, so it is exactly 1
    # where p = q (JSD(p, p) = 0 exactly), and m = (p+q)/2 is never formed, which could
    # underflow to 0 for the smallest subnormal p, q
    s = xp.where(p + q > 0, p + q, 1.0)
    return (xlogy(p, 2 * p / s) + xlogy(q, 2 * q / s)).sum(axis=axis) / 2


def jsd_entropy_form(p, q, axis=-1):
    """The same divergence written as ``H(m) − (H(p) + H(q))/2``: a second, independent
    formula that check 2a compares ``C(G)`` against, and check 3 :func:`jsd`."""
    p, q = xp.asarray(p, dtype="float64"), xp.asarray(q, dtype="float64")
    return entropy((p + q) / 2, axis) - (entropy(p, axis) + entropy(q, axis)) / 2


def optimal_discriminator(p, q):
    """``D*(x) = p(x) / (p(x) + q(x))`` (Prop. 1); ``1/2`` where both densities are 0."""
    p, q = xp.asarray(p, dtype="float64"), xp.asarray(q, dtype="float64")
    s = p + q
    return xp.where(s > 0, p / xp.where(s > 0, s, 1.0), 0.5)


def value_function(p, q, D, axis=-1):
    """Discrete ``V(D) = Σ_x p(x) log D(x) + q(x) log(1 − D(x))``; ``p, q, D: (..., k)``."""
    D = xp.asarray(D, dtype="float64")
    return (xlogy(p, D) + xlogy(q, 1 - D)).sum(axis=axis)


def virtual_training_criterion(p, q, axis=-1):
    """``C(G) = V(D*) = Σ p log(p/(p+q)) + q log(q/(p+q))``, ``p, q: (..., k)``.

    ``1 − D*`` is computed as ``q/(p+q)`` directly (not as ``1 − p/(p+q)``), so atoms
    where ``q ≪ p`` keep their full precision.
    """
    p, q = xp.asarray(p, dtype="float64"), xp.asarray(q, dtype="float64")
    s = xp.where(p + q > 0, p + q, 1.0)
    return (xlogy(p, p / s) + xlogy(q, q / s)).sum(axis=axis)


def gaussian_logpdf(x, mu, sigma):
    """``log N(x; mu, sigma²)``, elementwise."""
    z = (x - mu) / sigma
    return -0.5 * z * z - math.log(sigma) - 0.5 * math.log(2 * math.pi)


def mixture_logpdf(x, mus, sigmas, weights):
    """Log density of a 1-D Gaussian mixture ``Σ_j w_j N(x; mu_j, sigma_j²)`` at ``x: (n,)``."""
    logs = xp.stack([math.log(w) + gaussian_logpdf(x, m, s) for m, s, w in zip(mus, sigmas, weights)])
    top = logs.max(axis=0)
    return top + xp.log(xp.exp(logs - top).sum(axis=0))


def trapezoid(y, x):
    """Trapezoidal rule ``∫ y dx`` on the grid ``x: (n,)``; ``y: (..., n)``."""
    dx = x[1:] - x[:-1]
    return ((y[..., 1:] + y[..., :-1]) * dx).sum(axis=-1) / 2


def random_distributions(rng: Random, n: int, k: int, sparsity: float = 0.0):
    """``n`` random probability vectors on ``k`` atoms: ``(n, k)`` float64.

    Entries are ``u³`` for ``u ~ U(0, 1)`` (cubing spreads them over several orders of
    magnitude), a fraction ``sparsity`` of them set to 0, then each row normalised.
    """
    w = xp.asarray(rng.uniform((n, k), dtype="float64")) ** 3
    if sparsity > 0:
        w = w * (rng.uniform((n, k), dtype="float64") >= sparsity)
    w[:, 0] += 1e-3  # no empty rows
    return w / w.sum(axis=1, keepdims=True)


def w1_sorted(x, y):
    """Wasserstein-1 distance between two equal-size 1-D samples ``x, y: (n,)``.

    In one dimension the optimal transport plan matches order statistics, so
    ``W1 = (1/n) Σ_i |x_(i) − y_(i)|``, with ``x_(i)`` the i-th smallest value.
    """
    x, y = xp.asarray(x, dtype="float64").reshape(-1), xp.asarray(y, dtype="float64").reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"w1_sorted needs samples of equal size, got {x.shape[0]} and {y.shape[0]}")
    return float(xp.abs(xp.sort(x) - xp.sort(y)).mean())


def histogram_jsd(x, y, lo, hi, bins):
    """JSD between the histograms of samples ``x, y: (n,)`` on ``bins`` equal bins over
    ``[lo, hi]`` plus one overflow bin each side (samples outside still count, ±inf too).
    Raises ``ValueError`` for NaN, which belongs to no bin."""
    def hist(v):
        v = xp.asarray(v, dtype="float64").reshape(-1)
        if bool(xp.isnan(v).any()):
            raise ValueError("histogram_jsd: NaN samples belong to no bin")
        # clip before the cast: inf (or 1e300) cast to int64 would wrap to the lowest bin
        idx = xp.clip(xp.floor((v - lo) / (hi - lo) * bins), -1, bins).astype("int64") + 1
        c = xp.bincount(idx, minlength=bins + 2).astype("float64")
        return c / c.sum()
    return float(jsd(hist(x), hist(y)))


def mlp(sizes, rng: Random, act: str = "leaky", init: str = "xavier"):
    """A small multilayer perceptron ``sizes[0] → … → sizes[-1]`` as ``nn.Sequential``.

    Hidden layers use ``act`` (``"leaky"``: LeakyReLU(0.2), ``"relu"``, ``"tanh"``); the
    last layer is linear (a discriminator's output is a logit).
    """
    acts = {"leaky": lambda: nn.LeakyReLU(0.2), "relu": nn.ReLU, "tanh": nn.Tanh}
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Dense(n_in, n_out, init=init, rng=rng))
        if i < len(sizes) - 2:
            layers.append(acts[act]())
    return nn.Sequential(*layers)


def _d_prob(D, x):
    """``D(x) = σ(a(x))`` for ``x: (n, d)`` -> ``(n,)`` (eval mode, no caches)."""
    return nn.sigmoid(D(x)).reshape(-1)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# --------------------------------------------------------------------------------------
# 1. The optimal discriminator


def check_pointwise_optimum(n_pairs: int = 500, grid: int = 100_001, seed: int = 0) -> Result:
    """1a: ``f(y) = a·log y + b·log(1 − y)`` is maximised on ``(0, 1)`` at ``y* = a/(a+b)``.

    Why it matters: ``V(D) = ∫ p log D + q log(1 − D) dx`` is maximised pointwise, so at
    each ``x`` this is the 1-D problem with ``a = p(x)``, ``b = q(x)``.

    Check: ``n_pairs`` random ``(a, b)`` with ``log10 a, log10 b ~ U(−3, 3)``, all
    maximised at once by a dense search over ``grid`` points ``y_j = (j + ½)/grid``
    (an ``(n_pairs, grid)`` array, in chunks).  ``f`` is strictly concave
    (``f'' = −a/y² − b/(1−y)² < 0``), so the best grid point is within one spacing
    ``h = 1/grid`` of the true maximiser: the tolerance is ``h``, no more.
    """
    rng = Random(seed)
    ab = 10.0 ** rng.uniform((n_pairs, 2), -3.0, 3.0, dtype="float64")
    a, b = ab[:, :1], ab[:, 1:]
    y = (xp.arange(grid, dtype="float64") + 0.5) / grid
    log_y, log_1my = xp.log(y), xp.log1p(-y)
    best = xp.empty(n_pairs, dtype="float64")
    for start in range(0, n_pairs, 50):  # chunks of pairs keep the array at 50 × grid
        f = a[start:start + 50] * log_y + b[start:start + 50] * log_1my
        best[start:start + 50] = y[f.argmax(axis=1)]
    y_star = optimal_discriminator(a, b).reshape(-1)  # a/(a+b): the function the lessons use
    err = float(xp.abs(best - y_star).max())
    return _result("1a", "a·log y + b·log(1−y) is maximised at y = a/(a+b)",
                   f"dense search, {grid:,} points, {n_pairs} random (a,b) in [1e-3,1e3]²",
                   err, 1.0 / grid, f"max |y_grid − a/(a+b)| = {err:.2e}")


# the two densities of check 1b: data N(0, 1), generator a two-bump mixture
P_DATA_1B = dict(mus=(0.0,), sigmas=(1.0,), weights=(1.0,))
P_G_1B = dict(mus=(-1.5, 1.5), sigmas=(0.6, 0.6), weights=(0.5, 0.5))


def train_discriminator(sample_p, sample_q, D, steps: int, batch: int, lr: float, lr_final: float):
    """Fit ``D`` by maximising ``V(D)`` on fresh samples: plain logistic regression.

    ``sample_p(n)``, ``sample_q(n)`` return ``(n, d)`` batches; ``D`` outputs logits.
    Uses tinygan's loss on logits (``losses.discriminator_loss`` is ``−V`` per batch)
    and tinygan's Adam; the learning rate decays geometrically from ``lr`` to
    ``lr_final`` so the last iterates average out the sampling noise.
    """
    opt = optim.Adam(D.flat_params, D.flat_grads, lr, (0.9, 0.999))
    decay = (lr_final / lr) ** (1.0 / max(steps - 1, 1))
    for _ in range(steps):
        real_logits, real_caches = D.forward(sample_p(batch), train=True)
        fake_logits, fake_caches = D.forward(sample_q(batch), train=True)
        _, dreal, dfake = losses.discriminator_loss(real_logits, fake_logits)
        D.zero_grad()
        D.backward(dreal, real_caches)
        D.backward(dfake, fake_caches)
        opt.step()
        opt.lr *= decay
    return D


def _sample_mixture(rng, n, mus, sigmas, weights):
    """``n`` draws from a 1-D Gaussian mixture: ``(n, 1)`` float32."""
    idx = xp.zeros(n, dtype="int64")
    if len(mus) > 1:  # categorical with the given weights, by inverse CDF of a uniform
        cum = xp.asarray(list(weights), dtype="float64").cumsum()
        idx = xp.searchsorted(cum, rng.uniform((n,), dtype="float64") * cum[-1])
        idx = xp.minimum(idx, len(mus) - 1)
    mu = xp.asarray(list(mus), dtype="float32")[idx]
    sd = xp.asarray(list(sigmas), dtype="float32")[idx]
    return (mu + sd * rng.normal((n,), dtype="float32")).reshape(n, 1)


def check_learned_discriminator(seed: int = 0, steps: int = 6000, batch: int = 512,
                                out: str | None = None) -> Result:
    """1b: a tinygan discriminator trained on samples learns ``D* = p/(p+q)``.

    ``p = N(0, 1)`` (data), ``q = ½N(−1.5, 0.6²) + ½N(1.5, 0.6²)`` (a fixed "generator").
    D is an MLP ``1 → 32 → 32 → 1`` (tanh), trained with ``train_discriminator``
    (lr 1e-2 decaying to 1e-4).
    Compared with the analytic ``D*`` on a grid, over the region where the mixture
    ``m = (p+q)/2`` is at least 5% of its maximum, ``|x| ≤ 2.94`` (outside it falls 0.6% of
    the samples, too few to pin D down, while D* climbs from 0.22 towards 1 there).

    Tolerance 0.05 on ``max |D − D*|``, fixed before running: five percentage points of
    probability, the size of gap you can just see on the plot.  It has to cover the
    sampling noise of a fit from ``steps × batch`` samples and the smoothing a small MLP
    imposes; a wrong ``D*`` (e.g. ``p/q`` or ``q/(p+q)``) misses by far more than 0.05.

    How the training budget was chosen (the tolerance was not touched): the largest
    error sits at the edge of the region, ``|x| ≈ 2.9``, where ``D*`` turns back up
    because ``q`` has lighter tails than ``p``; few samples fall there, so it is learned
    last.  A LeakyReLU net with 3000 steps from lr 3e-3 missed it by 0.096 (inside
    ``|x| < 2.5`` its error was 0.017); the smooth tanh net with 6000 steps from lr 1e-2
    measured 0.021–0.032 over seeds 0–3.

    Also reported: ``V(D)`` by quadrature, which by Prop. 1 can be at most
    ``C(G) = V(D*)``; their gap is ``2·E_m KL(D* ‖ D)``.
    """
    rng = Random(seed)
    D = mlp([1, 32, 32, 1], rng, "tanh")
    train_discriminator(lambda n: _sample_mixture(rng, n, **P_DATA_1B),
                        lambda n: _sample_mixture(rng, n, **P_G_1B), D, steps, batch, 1e-2, 1e-4)
    x = xp.linspace(-5.0, 5.0, 2001)
    p = xp.exp(mixture_logpdf(x, **P_DATA_1B))
    q = xp.exp(mixture_logpdf(x, **P_G_1B))
    d_star = optimal_discriminator(p, q)
    d_net = _d_prob(D, x.reshape(-1, 1).astype("float32")).astype("float64")
    m = (p + q) / 2
    region = m >= 0.05 * m.max()
    err = float(xp.abs(d_net - d_star)[region].max())
    c_g = float(trapezoid(xlogy(p, d_star) + xlogy(q, 1 - d_star), x))
    v_net = float(trapezoid(xlogy(p, d_net) + xlogy(q, 1 - d_net), x))
    lo, hi = float(x[region].min()), float(x[region].max())
    if out:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(7, 4))
        xn = to_numpy(x)
        ax.plot(xn, to_numpy(p), "k", label="p_data = N(0,1)")
        ax.plot(xn, to_numpy(q), "g", label="p_g = ½N(−1.5,.6²)+½N(1.5,.6²)")
        ax.plot(xn, to_numpy(d_star), "b--", lw=2, label="D* = p_data/(p_data+p_g)")
        ax.plot(xn, to_numpy(d_net), "r", lw=1, label="D learned (tinygan, Adam)")
        ax.axvspan(lo, hi, color="0.9", zorder=0, label="compared region")
        ax.set_title(f"Optimal discriminator: max |D − D*| = {err:.3f} on [{lo:.2f}, {hi:.2f}]")
        ax.set_xlabel("x")
        ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, os.path.join(out, "1b_optimal_discriminator.png"), dpi=110)
    return _result("1b", "trained D matches D* = p_data/(p_data+p_g)",
                   f"MLP 1-32-32-1 tanh, Adam, {steps}×{batch} samples/side, seed {seed}; "
                   f"grid on [{lo:.2f},{hi:.2f}] (m ≥ 5% of max)",
                   err, 0.05,
                   f"max |D − D*| = {err:.3f}; V(D) = {v_net:.4f} ≤ C(G) = {c_g:.4f}",
                   v_net=v_net, c_g=c_g)


# --------------------------------------------------------------------------------------
# 2. The global optimum C(G) = −log 4 + 2 JSD


def check_global_optimum_discrete(n: int = 2000, k: int = 10, seed: int = 1) -> Result:
    """2a: on random discrete distributions, ``C(G) = −log 4 + 2·JSD(p ‖ q)``; and ``D*``
    beats any other discriminator.

    ``C(G)`` is :func:`virtual_training_criterion` (``V`` at ``D*``), the JSD is the
    entropy form :func:`jsd_entropy_form` (a different formula, so this is not the
    algebra checked against itself).  ``n`` pairs ``p, q: (n, k)``, a third of the
    entries zero so supports differ.  Also: ``V(D*) ≥ V(D)`` for ``n`` random
    ``D ∈ (0,1)^k`` and for small perturbations of ``D*``; and ``C(G) = −log 4`` at
    ``q = p``.

    Tolerance 1e-12: both sides are sums of ``k`` float64 terms of size at most a few
    units, so rounding is ``~k·ε ≈ 2e-15``; 1e-12 leaves a margin of 500 and still
    catches any wrong constant or factor.
    """
    rng = Random(seed)
    p = random_distributions(rng, n, k, sparsity=1 / 3)
    q = random_distributions(rng, n, k, sparsity=1 / 3)
    c_g = virtual_training_criterion(p, q)
    identity = float(xp.abs(c_g - (-LOG4 + 2 * jsd_entropy_form(p, q))).max())
    d_star = optimal_discriminator(p, q)
    d_rand = rng.uniform((n, k), 1e-6, 1 - 1e-6, dtype="float64")
    d_near = xp.clip(d_star + rng.normal((n, k), dtype="float64", scale=1e-3), 1e-12, 1 - 1e-12)
    beaten = float(xp.maximum(value_function(p, q, d_rand) - c_g, value_function(p, q, d_near) - c_g).max())
    attained = float(xp.abs(value_function(p, q, d_star) - c_g).max())  # the maximum is reached at D*
    at_equal = float(xp.abs(virtual_training_criterion(p, p) + LOG4).max())
    gap_min = float((c_g + LOG4).min())  # > 0: strictly above −log 4 when q ≠ p
    err = max(identity, beaten, attained, at_equal)
    return _result("2a", "C(G) = max_D V = −log 4 + 2·JSD (discrete)",
                   f"{n} random pairs on {k} atoms (1/3 zeros), seed {seed}; JSD via entropies; "
                   f"V(D*) vs random and perturbed D",
                   err if gap_min > 0 else float("inf"), 1e-12,
                   f"|C − (−log4+2JSD)| ≤ {identity:.1e}; |V(D*) − C| ≤ {attained:.0e}; max V(D)−C = {beaten:.1e}; "
                   f"|C(p,p)+log4| = {at_equal:.0e}; min C+log4 (q≠p) = {gap_min:.2e}")


GAUSSIAN_PAIRS = ((0.0, 1.0, 0.0, 1.0), (0.0, 1.0, 0.5, 1.0), (0.0, 1.0, 2.0, 1.0),
                  (0.0, 1.0, 1.0, 0.3), (-1.0, 2.0, 3.0, 0.5), (0.0, 1.0, 30.0, 1.0))


def gaussian_c_and_jsd(mu1, s1, mu2, s2, points_per_sigma: int = 200):
    """``C(G)`` and ``JSD`` for ``p = N(mu1, s1²)``, ``q = N(mu2, s2²)`` by quadrature.

    Grid: from 12 standard deviations left of the lower mean to 12 right of the upper
    one, spacing ``min(s1, s2)/points_per_sigma``.  ``C(G) = ∫ p log(p/(p+q)) + q log(q/(p+q))``
    uses only quadrature; ``JSD = H(m) − (H(p) + H(q))/2`` uses quadrature for ``H(m)``
    and the closed form ``H(N(mu, s²)) = ½ log(2πe s²)`` for the rest.
    Returns ``(C, JSD)``.
    """
    lo = min(mu1 - 12 * s1, mu2 - 12 * s2)
    hi = max(mu1 + 12 * s1, mu2 + 12 * s2)
    n = int(math.ceil((hi - lo) / min(s1, s2) * points_per_sigma)) + 1
    x = xp.linspace(lo, hi, n)
    lp, lq = gaussian_logpdf(x, mu1, s1), gaussian_logpdf(x, mu2, s2)
    ls = xp.logaddexp(lp, lq)  # log(p + q)
    p, q = xp.exp(lp), xp.exp(lq)
    c = float(trapezoid(p * (lp - ls) + q * (lq - ls), x))
    h_m = float(trapezoid(-(p + q) / 2 * (ls - LOG2), x))
    h_p, h_q = (0.5 * math.log(2 * math.pi * math.e * s * s) for s in (s1, s2))
    return c, h_m - (h_p + h_q) / 2


def check_global_optimum_gaussians(pairs=GAUSSIAN_PAIRS) -> Result:
    """2b: ``C(G) = −log 4 + 2·JSD`` for pairs of 1-D Gaussians, by quadrature.

    Tolerance 1e-9.  The trapezoid rule on a smooth, fast-decaying integrand converges
    faster than any power of the spacing; with 200 points per σ and tails cut at 12σ
    (mass ``~e^{−72}``) the remaining error is float64 rounding over the grid's
    5,000–20,000 terms, about 1e-13.  Equal Gaussians must give ``C = −log 4``; unequal ones more; far-apart
    ones ``≈ −log 4 + 2 log 2 = 0``.
    """
    errs, cells = [], []
    for mu1, s1, mu2, s2 in pairs:
        c, j = gaussian_c_and_jsd(mu1, s1, mu2, s2)
        errs.append(abs(c - (-LOG4 + 2 * j)))
        same = (mu1, s1) == (mu2, s2)
        if same:
            errs.append(abs(c + LOG4))
        elif not c + LOG4 > 1e-9:
            errs.append(float("inf"))  # must be strictly above −log 4
        cells.append(f"N({mu1:g},{s1:g}²)|N({mu2:g},{s2:g}²): C={c:+.6f}")
    err = max(errs)
    return _result("2b", "C(G) = −log 4 + 2·JSD (Gaussians); = −log 4 iff p_g = p_data",
                   f"trapezoid, 200 pts/σ, ±12σ; {len(pairs)} pairs", err, 1e-9,
                   f"max |C − (−log4+2JSD)| = {err:.1e}; " + "; ".join(cells[:3]) + " …",
                   pairs=cells)


# --------------------------------------------------------------------------------------
# 3. Jensen–Shannon facts


def check_jsd_facts(n: int = 2000, k: int = 12, seed: int = 2) -> Result:
    """3: JSD is symmetric, ``0 ≤ JSD ≤ log 2``, zero iff equal, ``log 2`` if disjoint.

    On ``n`` random pairs ``p, q: (n, k)``:

    - symmetry ``|JSD(p,q) − JSD(q,p)|``, the bounds, and ``JSD(p,p) = 0`` up to rounding
      (tolerance 1e-12, the float64 argument of 2a);
    - "zero only if equal", made quantitative with Pinsker's inequality: ``KL(p‖m) ≥
      2·TV(p,m)²`` and ``TV(p,m) = TV(p,q)/2`` give ``JSD ≥ TV(p,q)²/2``, with
      ``TV = ½ Σ|p − q|``; checked on the random pairs and on pairs ``q = p + tiny``;
    - disjoint supports (``p`` on the first half of the atoms, ``q`` on the rest) give
      exactly ``log 2``;
    - and, since other functions have all of these properties too (``log 2·TV(p, q)``
      does), :func:`jsd` agrees with :func:`jsd_entropy_form`, the divergence itself.
    The error reported is the largest violation of any of these.
    """
    rng = Random(seed)
    p = random_distributions(rng, n, k, sparsity=0.25)
    q = random_distributions(rng, n, k, sparsity=0.25)
    j_pq, j_qp = jsd(p, q), jsd(q, p)
    symmetric = float(xp.abs(j_pq - j_qp).max())
    bounds = max(float(-j_pq.min()), float((j_pq - LOG2).max()), 0.0)
    self_zero = float(xp.abs(jsd(p, p)).max())
    near = p + rng.uniform((n, k), dtype="float64") * 1e-4 * p
    near /= near.sum(axis=1, keepdims=True)
    pinsker = 0.0
    for a, b in ((p, q), (p, near)):
        tv = xp.abs(a - b).sum(axis=1) / 2
        pinsker = max(pinsker, float((tv * tv / 2 - jsd(a, b)).max()))
    half = k // 2
    pd = xp.concatenate([p[:, :half], xp.zeros((n, k - half))], axis=1)
    qd = xp.concatenate([xp.zeros((n, half)), q[:, half:]], axis=1)
    qd[:, half] += 1e-3  # p has atom 0 forced positive already; give q one too
    pd /= pd.sum(axis=1, keepdims=True)
    qd /= qd.sum(axis=1, keepdims=True)
    disjoint = float(xp.abs(jsd(pd, qd) - LOG2).max())
    entropy_form = float(xp.abs(j_pq - jsd_entropy_form(p, q)).max())
    err = max(symmetric, bounds, self_zero, max(pinsker, 0.0), disjoint, entropy_form)
    return _result("3", "JSD symmetric, 0 ≤ JSD ≤ log 2, = 0 iff p = q, = log 2 if disjoint",
                   f"{n} random pairs on {k} atoms, seed {seed}; 'only if' via JSD ≥ TV²/2 (Pinsker)",
                   err, 1e-12,
                   f"asym {symmetric:.0e}; range [{float(j_pq.min()):.3f}, {float(j_pq.max()):.3f}]; "
                   f"JSD(p,p) {self_zero:.0e}; |JSD_disjoint − log2| {disjoint:.0e}; "
                   f"|JSD − entropy form| {entropy_form:.0e}")


# --------------------------------------------------------------------------------------
# 4. Saturation

SATURATION_LOGITS = (4.0, 0.0, -2.0, -5.0, -10.0, -20.0, -40.0)


def saturation_table(logits=SATURATION_LOGITS):
    """Per-logit generator-loss gradients, from ``tinygan.losses``.

    For ``D = σ(a)``: ``∂/∂a log(1 − σ(a)) = −σ(a)`` (minimax) and
    ``∂/∂a [−log σ(a)] = σ(a) − 1`` (non-saturating).  Returns rows
    ``(a, D, grad_minimax, grad_nonsaturating)``; logits are passed as a batch of one
    each (``(1, 1)``) so the loss's ``1/N`` is 1.
    """
    a = xp.asarray(list(logits), dtype="float64").reshape(-1, 1)
    rows = []
    for i in range(a.shape[0]):  # a handful of logits, one tiny batch each
        ai = a[i:i + 1]
        _, g_mm = losses.generator_loss_minimax(ai)
        _, g_ns = losses.generator_loss_nonsaturating(ai)
        rows.append((float(ai[0, 0]), float(nn.sigmoid(ai)[0, 0]), float(g_mm[0, 0]), float(g_ns[0, 0])))
    return rows


def check_saturation_logits() -> Result:
    """4a: as ``a → −∞`` the minimax gradient ``−σ(a) → 0`` and the non-saturating one
    ``σ(a) − 1 → −1``.

    The table comes from tinygan's own loss functions.  Checked two ways:

    - against the closed forms ``−σ(a)`` and ``σ(a) − 1`` (``σ`` by ``1/(1+e^{−a})`` in
      plain Python floats), tolerance 1e-12 (float64 rounding);
    - the limits: at ``a ≤ −20``, ``|grad_minimax| ≤ e^{a}`` and ``|grad_ns + 1| ≤ e^{a}``
      (since ``σ(a) < e^{a}``), i.e. both within 2.1e-9 of their limits.  The second
      bound allows 1.1e-16 more: ``σ(a) − 1`` is rounded to float64, whose numbers just
      above −1 are 1.1e-16 apart, and ``e^{a} − σ(a) ≈ e^{2a}`` is far smaller than that.
    """
    rows = saturation_table()
    err = 0.0
    for a, d, g_mm, g_ns in rows:
        s = 1.0 / (1.0 + math.exp(-a))
        err = max(err, abs(g_mm + s), abs(g_ns - (s - 1)))
        spacing_near_one = 2.0 ** -53  # float64 numbers in [0.5, 1) are this far apart
        if a <= -20 and not (abs(g_mm) <= math.exp(a) and abs(g_ns + 1) <= math.exp(a) + spacing_near_one):
            err = float("inf")
    table = "; ".join(f"a={a:g}: {g_mm:.1e} vs {g_ns:.3f}" for a, _, g_mm, g_ns in rows)
    return _result("4a", "∂/∂a log(1−σ(a)) → 0, ∂/∂a −log σ(a) → −1 as a → −∞",
                   "tinygan.losses gradients vs closed form over logits " +
                   ",".join(f"{a:g}" for a in SATURATION_LOGITS),
                   err, 1e-12, "minimax vs non-sat: " + table, rows=rows)


def generator_grad_norms(G, D, z):
    """Norm of ``∇_θG`` of both generator losses on the noise batch ``z: (n, z_dim)``.

    Returns ``(norm_minimax, norm_nonsaturating, mean D(G(z)))``.  ``G`` and ``D`` are
    left with their parameters unchanged (``G.flat_grads`` is overwritten).
    """
    fake, g_caches = G.forward(z, train=True)
    logits, d_caches = D.forward(fake, train=True)
    norms = []
    for kind in ("minimax", "nonsaturating"):
        _, dlogits = losses.generator_loss(logits, kind)
        dfake = D.backward(dlogits, d_caches, param_grads=False)
        G.zero_grad()
        G.backward(dfake, g_caches)
        g = G.flat_grads.astype("float64")
        norms.append(float(xp.sqrt((g * g).sum())))
    return norms[0], norms[1], float(nn.sigmoid(logits).mean())


def check_saturation_mnist(seed: int = 0, arch: str = "default", d_steps=(0, 10, 50, 200),
                           batch: int = 64, out: str | None = None) -> Result:
    """4b: on MNIST at the start of training, the minimax loss gives G almost no gradient.

    G and D come from ``tinygan.models.build_gan(arch, rng)``, data from
    ``tinygan.data.load_dataset("mnist")``.  G stays at its initialisation; D is trained
    (Adam, lr 2e-4, betas (0.5, 0.999), as in DCGAN) against it for 0, 10, 50, 200 steps,
    which is what happens at the start of training: D quickly learns to reject the
    fakes.  After each stage both generator gradients ``‖∇_θG L_G‖`` are measured on
    the same fixed noise batch.

    Why their ratio: per sample, the two gradients are parallel,
    ``∇ log(1 − σ(a)) = −σ(a)·∇a`` and ``∇[−log σ(a)] = −(1 − σ(a))·∇a``, so their
    ratio is ``σ(a)/(1 − σ(a)) = D/(1 − D)``.  The pass criterion, fixed before running:
    once mean ``D(G(z)) < 0.05``, ``‖g_minimax‖/‖g_ns‖ < 0.1`` (twice ``D/(1 − D)`` at
    ``D = 0.05``, slack for the batch mixing samples with different ``D``).  The error
    reported is that ratio, at the last stage.
    """
    from .data import load_dataset
    from .models import build_gan

    rng = Random(seed)
    G, D = build_gan(arch, rng)
    x_train, _ = load_dataset("mnist")
    x_train = to_device(x_train)  # host NumPy -> the backend in use
    n_train = x_train.shape[0]
    z_dim = G.layers[0].n_in  # every preset starts with a Dense layer
    z_fixed = rng.normal((batch, z_dim))
    opt_d = optim.Adam(D.flat_params, D.flat_grads, 2e-4, (0.5, 0.999))
    rows, done = [], 0  # (D steps, mean D(G(z)), ‖g_minimax‖, ‖g_ns‖, ratio)
    for target in d_steps:
        for _ in range(target - done):
            real = x_train[rng.integers(0, n_train, (batch,))]
            gan.discriminator_step(G, D, opt_d, real, rng.normal((batch, z_dim)))
        done = target
        n_mm, n_ns, d_fake = generator_grad_norms(G, D, z_fixed)
        rows.append((target, d_fake, n_mm, n_ns, n_mm / n_ns))
    last = rows[-1]
    ok = last[1] < 0.05
    ratio = last[4] if ok else float("inf")
    text = "; ".join(f"{k} D-steps: D(G(z))={d:.3g}, ‖g_mm‖={a:.2e}, ‖g_ns‖={b:.2e}, ratio={r:.3g}"
                     for k, d, a, b, r in rows)
    if out:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        ks = [r[0] for r in rows]
        ax.semilogy(ks, [r[2] for r in rows], "o-", label="minimax  log(1 − D(G(z)))")
        ax.semilogy(ks, [r[3] for r in rows], "s-", label="non-saturating  −log D(G(z))")
        for k, d, _, b, _ in rows:
            ax.annotate(f"D(G(z))={d:.3g}", (k, b), textcoords="offset points", xytext=(0, 6), fontsize=7)
        ax.set_xlabel("discriminator steps against the initial G")
        ax.set_ylabel("‖∇_θG L_G‖")
        ax.set_title(f"Saturation on MNIST ({arch})")
        ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, os.path.join(out, "4b_saturation_mnist.png"), dpi=110)
    return _result("4b", "MNIST, start of training: minimax gradient ≪ non-saturating",
                   f"build_gan({arch!r}), seed {seed}; G at init, D trained {d_steps} steps "
                   f"(Adam 2e-4); ‖∇_θG‖ on {batch} fixed z; pass if ratio < 0.1 once D(G(z)) < 0.05",
                   ratio, 0.1, text, rows=rows)


# --------------------------------------------------------------------------------------
# 5. The shared fixed point


def check_fixed_point(seed: int = 3) -> Result:
    """5: at ``p_g = p_data`` and ``D ≡ 1/2`` both generator losses have zero gradient.

    What exactly is zero.  The logit derivatives are *not*: at ``a = 0`` both are
    ``−½`` per sample (``−σ(0)`` and ``σ(0) − 1``).  What vanishes is ``∂D/∂x``: when
    ``D`` is the constant ``½`` (as ``D* = p/(p+p)`` is), ``L_G`` does not depend on
    ``x = G(z)``, so ``∇_θG E_z[L_G] = E_z[(∂L/∂a)(∂a/∂x)(∂x/∂θ)] = 0`` for both losses.
    And D is stationary too: with real and fake batches from the same distribution,
    ``∇_θD [−V] = E[(σ(a) − 1)∇a] + E[σ(a)∇a] = E[(2σ(a) − 1)∇a] = 0`` at ``σ = ½``.

    Checks (float64 networks):

    (i) ``D`` with its last layer zeroed (``D ≡ ½`` exactly): tinygan's backward gives
        ``∇_θG = 0`` for both losses, and finite differences agree;
    (ii) the same D, with the real batch equal to the fake batch (``p_g = p_data``):
        ``∇_θD V = 0``;
    (iii) the two losses' logit derivatives are equal (both ``−½/N``) and non-zero;
    (iv) the sharper corollary: for *any* D (here a random, non-constant one whose bias
        is shifted so that ``D(G(z)) = ½`` for the one sample ``z``), the two generator
        gradients coincide, because they differ only by the factor ``σ(a)/(1−σ(a)) = 1``;
        and they are not zero, which is why (i) needs ``D`` constant, not only ``½`` on
        the samples.

    Tolerance 1e-12 for (i)–(iii) (exact zeros up to float64 rounding) and relative
    1e-12 for (iv).  In (iv) each backprop gradient must also match finite differences
    (relative 1e-6, ``details["fd_rel_error"]``): the two gradients come from the same
    backward code, so their agreement alone would not catch a wrong derivative.
    """
    from .gradcheck import numerical_gradient, rel_error

    rng = Random(seed)
    G = _as_float64(mlp([2, 16, 3], rng, "tanh"))
    D = _as_float64(mlp([3, 16, 1], rng))
    last = D.layers[-1]
    last.params["W"][...] = 0
    last.params["b"][...] = 0
    z = rng.normal((64, 2), dtype="float64")
    errs = {}
    for kind in ("minimax", "nonsaturating"):
        fake, g_caches = G.forward(z, train=True)
        logits, d_caches = D.forward(fake, train=True)
        _, dlogits = losses.generator_loss(logits, kind)
        dfake = D.backward(dlogits, d_caches, param_grads=False)
        G.zero_grad()
        G.backward(dfake, g_caches)
        errs[f"backprop ∇G {kind}"] = float(xp.abs(G.flat_grads).max())
        numeric = numerical_gradient(lambda: losses.generator_loss(D(G(z)), kind)[0], G.flat_params)
        errs[f"finite-diff ∇G {kind}"] = float(xp.abs(numeric).max())
    # (ii) D's own gradient with real = fake
    fake = G(z)
    real_logits, rc = D.forward(fake, train=True)
    fake_logits, fc = D.forward(fake, train=True)
    _, dreal, dfake = losses.discriminator_loss(real_logits, fake_logits)
    D.zero_grad()
    D.backward(dreal, rc)
    D.backward(dfake, fc)
    errs["∇D at p_g = p_data"] = float(xp.abs(D.flat_grads).max())
    # (iii) logit derivatives equal at a = 0, and not zero
    zero = xp.zeros((64, 1))
    g_mm = losses.generator_loss_minimax(zero)[1]
    g_ns = losses.generator_loss_nonsaturating(zero)[1]
    errs["dL/da minimax − non-sat at a=0"] = float(xp.abs(g_mm - g_ns).max())
    nonzero_logit = float(xp.abs(g_mm).min())
    # (iv) a random D, shifted so D(G(z0)) = 1/2 for one sample z0
    D2 = _as_float64(mlp([3, 16, 1], Random(seed + 1)))
    z0 = z[:1]
    D2.layers[-1].params["b"][...] -= D2(G(z0))[0, 0]
    grads, fd_errors = [], []
    for kind in ("minimax", "nonsaturating"):
        fake, g_caches = G.forward(z0, train=True)
        logits, d_caches = D2.forward(fake, train=True)
        dfake = D2.backward(losses.generator_loss(logits, kind)[1], d_caches, param_grads=False)
        G.zero_grad()
        G.backward(dfake, g_caches)
        grads.append(G.flat_grads.copy())
        # Two gradients from one backward code would agree even if that code were wrong;
        # finite differences tie each of them to the loss itself.
        numeric = numerical_gradient(lambda: losses.generator_loss(D2(G(z0)), kind)[0], G.flat_params)
        fd_errors.append(rel_error(grads[-1], numeric))
    errs["rel ∇G minimax vs non-sat, any D at D=½"] = rel_error(grads[0], grads[1])
    grad_size = float(xp.abs(grads[0]).max())
    fd_error = max(fd_errors)
    err = max(errs.values())
    if not (nonzero_logit > 0.1 / 64 and grad_size > 1e-6 and fd_error < 1e-6):
        err = float("inf")  # the non-trivial parts must really be non-zero, and right
    return _result("5", "p_g = p_data, D ≡ ½: ∇_θG E[L_G] = 0 for both losses (and ∇_θD = 0)",
                   "float64 nets, D's last layer zeroed; backprop + finite differences; "
                   "and any D with D(G(z)) = ½: both losses give the same ∇_θG",
                   err, 1e-12,
                   f"max of {len(errs)} residuals = {err:.1e}; dL/da = {float(g_mm[0, 0]) * 64:.2f}/N "
                   f"(not 0); ‖∇G‖∞ with non-constant D = {grad_size:.2e} (not 0), "
                   f"backprop vs finite differences {fd_error:.1e}",
                   residuals=errs, fd_rel_error=fd_error)


def _as_float64(net):
    """A float64 copy of an ``nn.Sequential`` of Dense and activation layers."""
    layers = []
    for layer in net.layers:
        if isinstance(layer, nn.Dense):
            new = nn.Dense(layer.n_in, layer.n_out, dtype="float64")
            new.params["W"][...] = layer.params["W"]
            new.params["b"][...] = layer.params["b"]
            layers.append(new)
        else:
            layers.append(layer)
    return nn.Sequential(*layers, dtype="float64")


# --------------------------------------------------------------------------------------
# 6. Figure 1 of Goodfellow et al. (2014)


def check_figure1(seed: int = 0, steps: int = 1500, batch: int = 256, out: str | None = None,
                  n_eval: int = 20000, z_dim: int = 4, d_steps: int = 5) -> Result:
    """6: Goodfellow et al. (2014), Figure 1: G learns a 1-D Gaussian and D flattens to ½.

    Data ``toy.sample("gauss1d")`` = ``N(2, 0.5²)``; ``z ~ U(−1, 1)^z_dim`` (uniform, as
    in the figure); G an MLP ``z_dim → 32 → 32 → 1`` (LeakyReLU), D ``1 → 32 → 32 → 1``;
    ``gan.train_step`` with the non-saturating loss and ``k = d_steps = 5``, Adam betas
    (0.5, 0.999) with lr 1e-3 decaying geometrically to 5e-5 over the run, batch 256.
    Four snapshots from start to the end are plotted: ``p_data`` (black), a histogram of
    ``p_g`` (green) and ``D`` (blue dashed), as in the paper.

    Measured: the histogram JSD between ``n_eval`` data and generated samples (60 bins
    over ``[μ − 5σ, μ + 5σ]`` plus overflow bins) and ``E_{p_data} |D(x) − ½|``.  The
    JSD has a positive floor from finite samples; the floor (two data samples of the same
    size) is reported alongside.

    Pass criteria, fixed before running:

    - final JSD ≤ 0.01 nats.  For two Gaussians ``N(0,1)``, ``N(δ,1)``,
      ``JSD ≈ δ²/8`` for small ``δ``, so 0.01 nats is about a 0.28σ shift of the mean:
      "close", not "equal", which a piecewise-linear G fed by bounded noise cannot be;
    - final ``E_{p_data}|D − ½| ≤ 0.1``: if D were optimal for a ``p_g`` with
      ``JSD ≤ 0.01``, ``E_m|D* − ½| = TV/2 ≤ sqrt(JSD/2) ≈ 0.07`` (Pinsker, as in 3).
      The code measures ``E_{p_data}`` instead, which is ``E_m[2D*·|D* − ½|]``: the same
      to first order, since ``2D* = 1 + 2(D* − ½)``.  0.1 allows a little more for that
      and for D not being exactly optimal.

    The error reported is the larger of ``JSD/0.01`` and ``E|D − ½|/0.1`` (pass ≤ 1).

    How the set-up was chosen (the criteria were not changed): with ``z`` 1-D, or with
    ``k = 1``, the runs tried stalled at JSD 0.02–0.15: a 1-D ``z`` let G fold (a
    V-shaped ``G(z)`` giving a skewed ``p_g``), and with ``k = 1`` D stayed flat at ½ while
    ``p_g`` was still visibly wrong, so G had nothing to follow.  With ``z_dim = 4`` and
    ``k = 5`` seeds 0–2 ended at JSD 0.004–0.005.
    """
    rng = Random(seed)
    G = mlp([z_dim, 32, 32, 1], rng)
    D = mlp([1, 32, 32, 1], rng)
    lr0, lr_end = 1e-3, 5e-5
    opt_g = optim.Adam(G.flat_params, G.flat_grads, lr0, (0.5, 0.999))
    opt_d = optim.Adam(D.flat_params, D.flat_grads, lr0, (0.5, 0.999))
    decay = (lr_end / lr0) ** (1.0 / steps)
    mu, sd = toy.GAUSS1D_MEAN, toy.GAUSS1D_STD
    lo, hi = mu - 5 * sd, mu + 5 * sd
    x_plot = xp.linspace(mu - 3.0, mu + 3.0, 601).astype("float32").reshape(-1, 1)
    eval_rng = Random(seed + 100)
    z_eval = eval_rng.uniform((n_eval, z_dim), -1.0, 1.0)
    x_eval = toy.sample("gauss1d", n_eval, eval_rng)
    floor = histogram_jsd(x_eval, toy.sample("gauss1d", n_eval, eval_rng), lo, hi, 60)
    snaps_at = sorted({0, steps // 30, steps // 6, steps})
    snaps, done = [], 0

    def snapshot(it):
        fake = G(z_eval)
        j = histogram_jsd(x_eval, fake, lo, hi, 60)
        d_dev = float(xp.abs(_d_prob(D, x_eval) - 0.5).mean())
        snaps.append(dict(it=it, fake=to_numpy(fake).reshape(-1), d=to_numpy(_d_prob(D, x_plot)),
                          jsd=j, d_dev=d_dev))

    for target in snaps_at:
        for _ in range(target - done):
            gan.train_step(G, D, opt_g, opt_d, lambda: toy.sample("gauss1d", batch, rng),
                           lambda: rng.uniform((batch, z_dim), -1.0, 1.0), d_steps=d_steps)
            opt_g.lr *= decay
            opt_d.lr *= decay
        done = target
        snapshot(target)
    final = snaps[-1]
    err = max(final["jsd"] / 0.01, final["d_dev"] / 0.1)
    if out:
        plt = _pyplot()
        fig, axes = plt.subplots(1, len(snaps), figsize=(4 * len(snaps), 3.4), sharey=True)
        xn = to_numpy(x_plot).reshape(-1)
        pdf = to_numpy(xp.exp(gaussian_logpdf(x_plot.reshape(-1).astype("float64"), mu, sd)))
        for ax, s in zip(axes, snaps):
            ax.plot(xn, pdf, "k", lw=1.5, label="p_data")
            ax.hist(s["fake"], bins=80, range=(xn[0], xn[-1]), density=True, color="g", alpha=0.5,
                    label="p_g (histogram)")
            ax.plot(xn, s["d"], "b--", lw=1.5, label="D(x)")
            ax.axhline(0.5, color="0.6", lw=0.8)
            ax.set_title(f"iter {s['it']}: JSD={s['jsd']:.3f}, E|D−½|={s['d_dev']:.2f}", fontsize=9)
            ax.set_xlabel("x")
        axes[0].legend(fontsize=7, loc="upper left")
        fig.suptitle(f"Goodfellow et al. (2014) Fig. 1 with tinygan: data N({mu:g}, {sd:g}²), "
                     f"z ~ U(−1,1)^{z_dim}, k = {d_steps}",
                     fontsize=10)
        fig.tight_layout()
        save_figure(fig, os.path.join(out, "6_figure1.png"), dpi=110)
    history = ", ".join(f"it {s['it']}: JSD {s['jsd']:.4f}, E|D−½| {s['d_dev']:.3f}" for s in snaps)
    return _result("6", "Fig. 1: p_g → p_data and D → ½ (1-D Gaussian, uniform z)",
                   f"gan.train_step, z ~ U(−1,1)^{z_dim}, MLPs {z_dim}-32-32-1 / 1-32-32-1, NS loss, "
                   f"k={d_steps}, Adam 1e-3→5e-5, {steps} iters, seed {seed}; "
                   f"pass if JSD ≤ 0.01 and E|D−½| ≤ 0.1 (error = max ratio)",
                   err, 1.0, f"{history}; sample floor JSD {floor:.4f}",
                   snapshots=[{k: v for k, v in s.items() if k in ("it", "jsd", "d_dev")} for s in snaps],
                   floor=floor)


# --------------------------------------------------------------------------------------
# 7. Mode collapse


def check_mode_metric(n: int = 100_000, seed: int = 4) -> Result:
    """7a: the mode metrics, calibrated on true samples.

    On ``n`` samples from the data itself every mode must be covered, and the
    high-quality fraction must be ``P(‖ε‖ ≤ 3σ) = 1 − e^{−9/2} = 0.98889`` in 2-D (the
    χ² law with 2 degrees of freedom).  Tolerance: 5 binomial standard errors,
    ``5·sqrt(P(1 − P)/n)`` = 0.0017 for ``n = 10⁵``.
    """
    rng = Random(seed)
    expected = 1 - math.exp(-4.5)
    tol = 5 * math.sqrt(expected * (1 - expected) / n)
    errs, cells = [], []
    for name in ("ring8", "grid25"):
        covered, hq = toy.mode_stats(name, toy.sample(name, n, rng))
        k = toy.modes(name)[0].shape[0]
        errs.append(abs(hq - expected) if covered == k else float("inf"))
        cells.append(f"{name}: {covered}/{k} modes, HQ {hq:.4f}")
    err = max(errs)
    return _result("7a", "mode metrics on true data: all modes, HQ = 1 − e^{−9/2}",
                   f"{n:,} true samples per set, seed {seed}; tolerance 5 binomial SE",
                   err, tol, "; ".join(cells) + f" (expected {expected:.4f})")


MODE_CONFIGS = (("minimax", 1), ("nonsaturating", 1), ("minimax", 5), ("nonsaturating", 5))


def train_toy_gan(name: str, loss: str, d_steps: int, seed: int, steps: int, batch: int = 256,
                  hidden: int = 64, z_dim: int = 2, lr: float = 1e-3, lr_end: float = 1e-3):
    """Train a small GAN on toy data set ``name``; returns ``(G, D, z_dim)``.

    MLPs ``z_dim → hidden → hidden → d`` and ``d → hidden → hidden → 1`` (LeakyReLU),
    ``z ~ N(0, I)``, Adam betas (0.5, 0.999) with lr going geometrically from ``lr`` to
    ``lr_end``, ``gan.train_step`` with the given ``loss`` and ``d_steps`` (k).
    """
    rng = Random(seed)
    d = toy.dim(name)
    G = mlp([z_dim, hidden, hidden, d], rng)
    D = mlp([d, hidden, hidden, 1], rng)
    opt_g = optim.Adam(G.flat_params, G.flat_grads, lr, (0.5, 0.999))
    opt_d = optim.Adam(D.flat_params, D.flat_grads, lr, (0.5, 0.999))
    decay = (lr_end / lr) ** (1.0 / max(steps, 1))
    for _ in range(steps):
        gan.train_step(G, D, opt_g, opt_d, lambda: toy.sample(name, batch, rng),
                       lambda: rng.normal((batch, z_dim)), d_steps=d_steps, loss=loss)
        opt_g.lr *= decay
        opt_d.lr *= decay
    return G, D, z_dim


def run_mode_collapse(seed: int = 0, steps: int = 2000, n_eval: int = 2500, out: str | None = None,
                      datasets=("ring8", "grid25"), configs=MODE_CONFIGS):
    """7b: modes covered and high-quality fraction after training, per loss and k.

    One run per (data set, loss, k) of :func:`train_toy_gan` (lr 1e-3 decaying to
    5e-5), all with the same ``seed`` and ``steps`` generator iterations; evaluated on
    ``n_eval`` samples (2500, as in PacGAN).  The budget is small (the papers train for
    tens of thousands of iterations with larger nets), so these numbers describe short
    runs on a laptop CPU, not the benchmarks' published figures.  Read "modes covered"
    (one sample within 3σ) together with the high-quality fraction: a diffuse cloud of
    samples that fits no mode still lands a few samples near most centres; PacGAN's
    stricter count (≥ 20 of 2500 samples) is reported beside it.  These
    rows are measurements, not pass/fail: whether a GAN collapses depends on the seed
    and the budget.  Returns a list of :class:`Result` with ``passed=None``.
    """
    results, panels = [], []
    for name in datasets:
        k_modes = toy.modes(name)[0].shape[0]
        for loss, k in configs:
            t0 = time.time()
            G, D, z_dim = train_toy_gan(name, loss, k, seed, steps, lr=1e-3, lr_end=5e-5)
            x = G(Random(seed + 1000).normal((n_eval, z_dim)))
            covered, hq = toy.mode_stats(name, x)
            covered20, _ = toy.mode_stats(name, x, min_count=20)
            short = "MM" if loss == "minimax" else "NS"
            d = toy.dim(name)
            r = Result(f"7{chr(ord('b') + len(results))}", f"{name}: {loss} loss, k={k}",
                       f"MLPs {z_dim}-64-64-{d} / {d}-64-64-1, z ~ N(0,I), Adam 1e-3→5e-5, {steps} iters, "
                       f"seed {seed}, "
                       f"{n_eval} samples",
                       float(covered), float(k_modes), None,
                       f"modes {covered}/{k_modes} (≥20 samples: {covered20}), HQ {hq:.3f}",
                       dict(dataset=name, loss=loss, k=k, covered=covered, covered20=covered20, hq=hq),
                       time.time() - t0)
            results.append(r)
            panels.append((name, f"{short}, k={k}", to_numpy(x), covered, k_modes, hq))
    if out:
        plt = _pyplot()
        cols = len(configs)
        # squeeze=False: always a 2-D grid of axes, also for one data set or one config
        fig, axes = plt.subplots(len(datasets), cols, figsize=(3.2 * cols, 3.2 * len(datasets)), squeeze=False)
        for i, (name, title, x, covered, k_modes, hq) in enumerate(panels):
            ax = axes[i // cols][i % cols]
            centres = to_numpy(toy.modes(name)[0])
            real = to_numpy(toy.sample(name, 2000, Random(7)))
            ax.scatter(real[:, 0], real[:, 1], s=2, c="0.7")
            ax.scatter(x[:, 0], x[:, 1], s=2, c="tab:red", alpha=0.5)
            ax.scatter(centres[:, 0], centres[:, 1], s=12, marker="x", c="k")
            lim = 3.0 if name == "ring8" else 5.5
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_title(f"{name} {title}: {covered}/{k_modes}, HQ {hq:.2f}", fontsize=8)
        fig.tight_layout()
        save_figure(fig, os.path.join(out, "7_mode_collapse.png"), dpi=110)
    return results


# --------------------------------------------------------------------------------------
# 8. Wasserstein-1


W1_CASES = ((0.0, 1.0, 1.0), (0.0, 3.0, 0.5), (-2.0, 0.1, 0.5), (5.0, 2.0, 2.0))  # (mu1, mu2, sigma)


def check_w1(n: int = 200_000, seed: int = 5, cases=W1_CASES) -> Result:
    """8: W1 from sorted samples equals ``|μ1 − μ2|`` for ``N(μ1, σ²)`` vs ``N(μ2, σ²)``.

    (Equal variances: one distribution is the other shifted, and a shift by ``c`` costs
    exactly ``|c|`` under any coupling that preserves order.)

    Exact part: ``w1_sorted(x, x + c) = |c|`` for the same sample shifted (tolerance
    1e-12·scale, rounding only).  Statistical part: independent samples of size ``n``.
    When ``|Δμ|`` is several times the quantile noise, every ``x_(i) − y_(i)`` has the
    sign of ``Δμ`` and the estimate is ``|mean x − mean y|``, normal with standard
    error ``σ·sqrt(2/n)``; the tolerance is 4 standard errors (per case, reported as the
    worst ratio error/tolerance, pass ≤ 1).
    """
    rng = Random(seed)
    worst, cells = 0.0, []
    for mu1, mu2, s in cases:
        e1 = rng.normal((n,), dtype="float64")
        e2 = rng.normal((n,), dtype="float64")
        shift_err = abs(w1_sorted(mu1 + s * e1, mu2 + s * e1) - abs(mu1 - mu2))
        if shift_err > 1e-12 * (abs(mu1) + abs(mu2) + 10 * s):
            worst = float("inf")
        w = w1_sorted(mu1 + s * e1, mu2 + s * e2)
        tol = 4 * s * math.sqrt(2 / n)
        worst = max(worst, abs(w - abs(mu1 - mu2)) / tol)
        cells.append(f"|Δμ|={abs(mu1 - mu2):g}, σ={s:g}: W1={w:.4f} (±{tol:.4f})")
    return _result("8", "W1 from sorted samples = |Δμ| for equal-variance Gaussians",
                   f"n = {n:,} per side, seed {seed}; tolerance 4·σ·sqrt(2/n) per case (error = worst ratio)",
                   worst, 1.0, "; ".join(cells))


# --------------------------------------------------------------------------------------
# The report


def run_all(out: str = "runs/theory", fast: bool = False, mnist: bool = True, log=print):
    """Run every check; return the list of :class:`Result` (figures go to ``out``).

    ``fast=True`` skips the training experiments (1b, 4b, 6, 7b).
    """
    os.makedirs(out, exist_ok=True)
    jobs = [lambda: check_pointwise_optimum()]
    if not fast:
        jobs.append(lambda: check_learned_discriminator(out=out))
    jobs += [check_global_optimum_discrete, check_global_optimum_gaussians, check_jsd_facts,
             check_saturation_logits]
    if not fast and mnist:
        jobs.append(lambda: check_saturation_mnist(out=out))
    jobs.append(check_fixed_point)
    if not fast:
        jobs.append(lambda: check_figure1(out=out))
    jobs.append(check_mode_metric)
    if not fast:
        jobs.append(lambda: run_mode_collapse(out=out))
    jobs.append(check_w1)
    results = []
    for job in jobs:
        t0 = time.time()
        r = job()
        batch = r if isinstance(r, list) else [r]
        if not isinstance(r, list):
            r.seconds = time.time() - t0
        for item in batch:
            log(f"  [{item.status:>8}] {item.key:>3} {item.statement}  ({item.seconds:.1f} s)", file=sys.stderr)
        results.extend(batch)
    return results


def format_table(results) -> str:
    """The report as a Markdown table."""
    def cell(s):
        return str(s).replace("|", "\\|").replace("\n", " ")

    lines = ["| # | statement | how it was checked | measured | error | tolerance | result |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        if r.passed is None:
            err, tol = "—", "—"
        else:
            err, tol = f"{r.error:.3g}", f"{r.tolerance:.3g}"
        lines.append(f"| {r.key} | {cell(r.statement)} | {cell(r.method)} | {cell(r.measured)} | "
                     f"{err} | {tol} | {r.status} |")
    return "\n".join(lines)


@command("python -m tinygan.theory", interrupted="the figures written so far are in --out")
def main(argv=None) -> int:
    parser = ArgumentParser(prog="python -m tinygan.theory", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/theory", type=path_text("the directory for the figures"),
                        help="directory for the figures (default runs/theory)")
    parser.add_argument("--fast", action="store_true", help="skip the training experiments")
    args = parser.parse_args(argv)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as err:
        parser.fail(f"--out: cannot make the directory {args.out}: {describe_os_error(err)}")
    if not os.access(args.out, os.W_OK):  # found now, not after the first experiment
        parser.fail(f"--out: {args.out} is not writable")
    t0 = time.time()
    try:
        results = run_all(args.out, fast=args.fast, log=print)
    except OSError as err:  # a figure could not be written: the run directory went away, a full disk
        print(f"{parser.prog}: error: cannot write {err.filename or 'a figure'}: {describe_os_error(err)}",
              file=sys.stderr)
        return 1
    print(format_table(results))
    failed = [r for r in results if r.passed is False]
    print(f"\n{len(results) - len(failed)}/{len(results)} rows passed or measured, "
          f"{len(failed)} failed; {time.time() - t0:.0f} s" + ("" if args.fast else f"; figures in {args.out}/"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
