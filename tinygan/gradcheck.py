"""Finite-difference gradient checking.

A backward pass is right when it agrees with the slope we can measure by nudging each
input.  The central difference

    ∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / (2h)

has error O(h²) from truncation plus O(ε/h) from rounding (ε ≈ 2.2e-16 in float64).
With ``h = 1e-6`` the truncation term is about 1e-12 and the rounding term about
ε·|f|/h ≈ 2e-10·|f| (lesson 6 measures a relative error of 1.1e-10 on a small network).  That is why
checks run in float64: in float32 (ε ≈ 1e-7) the rounding term alone is about 0.1.

``rel_error`` compares whole arrays: ``max|a − b| / max(|a|max + |b|max, tiny)``.  It is
normalised by the largest entries rather than entry by entry, because an entry that is
0 in truth comes out as about ±1e-10 numerically, and an entry-wise ratio would call that
100% wrong.  What to expect in float64 with ``h = 1e-6``: a right backward pass measures
about 1e-10 to 1e-8, and the tests fail anything above 1e-6.  A wrong one need not
measure 1e-3: a gradient off by a relative 1e-4 shows as about 5e-5.
"""

from __future__ import annotations

from .backend import xp


def rel_error(a, b) -> float:
    """Relative error between two arrays: ``max|a − b| / (max|a| + max|b|)``."""
    a, b = xp.asarray(a, dtype="float64"), xp.asarray(b, dtype="float64")
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    scale = float(xp.abs(a).max() + xp.abs(b).max())
    return float(xp.abs(a - b).max()) / max(scale, 1e-12)


def numerical_gradient(f, x, h: float = 1e-6):
    """Central-difference gradient of the scalar function ``f()`` w.r.t. array ``x``.

    ``f`` takes no arguments and reads ``x``, which is perturbed **in place** one entry
    at a time and restored; that is what lets ``x`` be a network's ``flat_params``.
    Returns an array shaped like ``x``.  A loop over entries is fine here: this is a
    test tool for small arrays, never on a hot path.

    ``x`` should be float64.  In float32 the nudged ``x ± h`` is rounded to float32, so
    the step taken is not ``h`` and the slope comes out wrong (lesson 6 shows how wrong);
    integer arrays cannot be nudged by ``h`` at all and are refused.
    """
    if x.dtype.kind != "f":
        raise ValueError(f"numerical_gradient needs a float array (float64 for a real check), got {x.dtype}")
    grad = xp.zeros(x.shape, dtype="float64")
    if not x.flags.c_contiguous:  # then reshape would copy, and the nudges would miss x
        raise ValueError("numerical_gradient needs a C-contiguous array it can perturb in place")
    flat = x.reshape(-1)  # a view: writing flat writes x
    g = grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i].copy()
        flat[i] = original + h
        plus = float(f())
        flat[i] = original - h
        minus = float(f())
        flat[i] = original
        g[i] = (plus - minus) / (2 * h)
    return grad


def numerical_gradient_array(f, x, dout, h: float = 1e-6):
    """Gradient of ``sum(f() * dout)`` w.r.t. ``x``: the vector–Jacobian product that a
    backward pass computes for upstream gradient ``dout``."""
    return numerical_gradient(lambda: (f() * dout).sum(), x, h)
