"""Small data sets you can see: a 1-D Gaussian, 8 Gaussians on a ring, 25 on a grid.

They are the standard playground for GAN theory and for mode collapse:

- ``"gauss1d"``: one Gaussian ``N(GAUSS1D_MEAN, GAUSS1D_STD²)`` on the line, the data of
  Goodfellow et al. (2014), Figure 1.  ``x: (n, 1)``.
- ``"ring8"``: a mixture of 8 equally weighted Gaussians, centres evenly spaced on a circle
  of radius ``RING_RADIUS``, each with standard deviation ``RING_STD``.  ``x: (n, 2)``.
- ``"grid25"``: 25 equally weighted Gaussians centred on ``{−4, −2, 0, 2, 4}²`` with
  standard deviation ``GRID_STD``.  ``x: (n, 2)``.

The two mixtures follow the mode-collapse benchmarks of VEEGAN (Srivastava et al. 2017)
and PacGAN (Lin et al. 2018), with the radius, spacing and σ stated here.  Their metrics
are in :func:`mode_stats`: a sample is *high quality* when it lies within 3σ of some
centre, and a mode is *covered* when at least ``min_count`` samples lie within 3σ of it.

Use::

    from tinygan import toy
    x = toy.sample("ring8", 512, rng)          # (512, 2) float32
    centres, sigma = toy.modes("ring8")        # (8, 2), 0.02
    covered, hq = toy.mode_stats("ring8", G(z))
"""

from __future__ import annotations

import math

from .backend import Random, xp

DATASETS = ("gauss1d", "ring8", "grid25")

GAUSS1D_MEAN = 2.0
GAUSS1D_STD = 0.5
RING_RADIUS = 2.0
RING_STD = 0.02
GRID_SPACING = 2.0
GRID_STD = 0.05


def _check(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown toy data set {name!r}; choose one of: {', '.join(DATASETS)}")


def dim(name: str) -> int:
    """Number of features of data set ``name`` (1 for gauss1d, 2 for the mixtures)."""
    _check(name)
    return 1 if name == "gauss1d" else 2


def modes(name: str):
    """The mixture's centres and common standard deviation: ``(centres: (k, d), sigma)``.

    ``gauss1d`` is a one-component mixture: ``centres = [[GAUSS1D_MEAN]]``.
    Ring: ``c_j = R·(cos 2πj/8, sin 2πj/8)``.  Grid: ``c = (2i − 4, 2j − 4)`` for
    ``i, j ∈ {0..4}``.  Centres are float32 arrays of the backend in use.
    """
    _check(name)
    if name == "gauss1d":
        return xp.asarray([[GAUSS1D_MEAN]], dtype="float32"), GAUSS1D_STD
    if name == "ring8":
        angle = xp.arange(8, dtype="float64") * (2 * math.pi / 8)
        centres = RING_RADIUS * xp.stack([xp.cos(angle), xp.sin(angle)], axis=1)
        return centres.astype("float32"), RING_STD
    ticks = (xp.arange(5, dtype="float64") - 2) * GRID_SPACING  # −4, −2, 0, 2, 4
    gx, gy = xp.meshgrid(ticks, ticks, indexing="ij")
    centres = xp.stack([gx.reshape(-1), gy.reshape(-1)], axis=1)
    return centres.astype("float32"), GRID_STD


def sample(name: str, n: int, rng: Random):
    """``n`` draws from data set ``name``: float32 ``(n, d)`` on the backend in use.

    Each draw picks a centre uniformly, ``j ~ U{0..k−1}``, and adds Gaussian noise:
    ``x = c_j + σ·ε`` with ``ε ~ N(0, I_d)``.
    """
    centres, sigma = modes(name)
    k, d = centres.shape
    noise = rng.normal((n, d), dtype="float32", scale=sigma)
    if k == 1:
        return noise + centres[0]
    idx = rng.integers(0, k, (n,))
    return centres[idx] + noise


def log_density(name: str, x):
    """``log p(x)`` of the data set's mixture, for ``x: (n, d)`` -> ``(n,)`` float64.

    ``p(x) = (1/k) Σ_j N(x; c_j, σ² I)``, evaluated with a log-sum-exp over the k centres.
    """
    centres, sigma = modes(name)
    k, d = centres.shape
    x = xp.asarray(x, dtype="float64")
    sq = ((x[:, None, :] - centres[None, :, :].astype("float64")) ** 2).sum(axis=2)  # (n, k)
    logs = -sq / (2 * sigma * sigma)
    top = logs.max(axis=1)
    lse = top + xp.log(xp.exp(logs - top[:, None]).sum(axis=1))
    return lse - math.log(k) - 0.5 * d * math.log(2 * math.pi * sigma * sigma)


def mode_stats(name: str, x, min_count: int = 1, n_sigma: float = 3.0):
    """Mode coverage and sample quality of samples ``x: (n, d)``.

    Each sample is assigned to its nearest centre ``c_j``; it is *high quality* when
    ``‖x − c_j‖ ≤ n_sigma·σ``.  Returns ``(covered, hq_fraction)``:

    - ``covered``: number of modes with at least ``min_count`` high-quality samples
      (``min_count=1``: "a sample within 3σ"; PacGAN uses 20 per 2500 samples);
    - ``hq_fraction``: fraction of samples that are high quality.

    On true data in ``d`` dimensions ``hq_fraction`` is ``P(χ²_d ≤ n_sigma²)``, in 2-D
    ``1 − e^{−n_sigma²/2}`` (0.9889 for 3σ): not 1, because Gaussian tails pass 3σ.
    """
    centres, sigma = modes(name)
    x = xp.asarray(x, dtype="float32")
    sq = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)  # (n, k)
    nearest = sq.argmin(axis=1)
    good = sq.min(axis=1) <= (n_sigma * sigma) ** 2
    counts = xp.bincount(nearest[good], minlength=centres.shape[0])
    covered = int((counts >= min_count).sum())
    hq = float(good.mean()) if x.shape[0] else 0.0
    return covered, hq


__all__ = ["DATASETS", "dim", "modes", "sample", "log_density", "mode_stats"]
