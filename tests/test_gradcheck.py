"""The gradient checker itself: every gradient test is only as strict as ``rel_error``."""

import warnings

import numpy as np
import pytest

from tinygan import gradcheck
from tinygan.gradcheck import numerical_gradient, numerical_gradient_array, rel_error


def test_rel_error_is_the_worst_entry_over_the_scale():
    # One wrong entry in a thousand counts in full: an average would hide it.
    assert gradcheck.rel_error(np.r_[1.0, np.zeros(999)], np.zeros(1000)) == 1.0
    assert gradcheck.rel_error([1.0, 2.0], [1.0, 2.5]) == pytest.approx(0.5 / 4.5, rel=1e-15)
    assert gradcheck.rel_error(np.zeros(3), np.zeros(3)) == 0.0


def test_rel_error_does_not_depend_on_the_gradients_scale():
    """Tiny gradients (a deep layer's, a saturated unit's) are judged as strictly as large
    ones: scaling both arrays by 1e-8 leaves the error as it was."""
    a, b = np.array([3e-2, -1e-1, 2.0]), np.array([3e-2, -1e-1, 2.0 + 1e-7])
    assert gradcheck.rel_error(a * 1e-8, b * 1e-8) == pytest.approx(gradcheck.rel_error(a, b), rel=1e-9)


def test_rel_error_refuses_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match="shapes differ"):
        gradcheck.rel_error(np.zeros(3), np.zeros((3, 1)))


def test_numerical_gradient_is_central():
    """For f = x³ the central difference is off by h² only; a forward difference by 3xh."""
    x = np.array([2.0])
    g = gradcheck.numerical_gradient(lambda: float((x ** 3).sum()), x, h=1e-3)
    assert abs(g[0] - 12.0) < 2e-6
    assert x[0] == 2.0  # restored


def test_numerical_gradient_refuses_an_array_it_cannot_nudge_in_place():
    """A strided or transposed view reshapes to a copy: nudging the copy would not move
    ``f``, and every slope would read 0."""
    x = np.arange(12.0).reshape(3, 4)
    for view in (x[:, ::2], x.T):
        with pytest.raises(ValueError, match="C-contiguous"):
            gradcheck.numerical_gradient(lambda: float((view ** 2).sum()), view)
    g = gradcheck.numerical_gradient(lambda: float((x ** 2).sum()), x)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-8)


def test_integer_arrays_cannot_be_nudged_and_are_refused():
    with pytest.raises(ValueError, match="needs a float array"):
        gradcheck.numerical_gradient(lambda: 0.0, np.arange(3))

# Added after a mutation pass over gradcheck.py: each test fails on a change the suite had let through.

def test_rel_error_calls_two_negligible_gradients_equal():
    """Below 1e-12 in total, both gradients are noise: ``rel_error`` divides by at least
    1e-12, so an analytic 0 against a numeric 1e-20 measures 1e-8, not 100%."""
    assert rel_error(np.array([0.0]), np.array([1e-20])) == pytest.approx(1e-8, rel=1e-12)


def test_rel_error_of_empty_arrays_is_zero():
    """A layer or net with no parameters has empty gradients; they agree (error 0), rather
    than crash on ``max()`` of an empty array."""
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0


def test_rel_error_refuses_shapes_of_the_same_rank_that_would_broadcast():
    """(3, 1) against (1, 1) broadcasts and compares every entry with one: refused, like the
    (3,) against (3, 1) case the suite tries.  Catches a check of the rank alone."""
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.zeros((3, 1)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.ones(1), np.ones(3))


def test_rel_error_computes_in_float64_whatever_the_inputs_dtype():
    """float32 gradients are compared in float64: |a − b| of two opposite float32 values near
    the top of float32's range is finite in float64 (error 1.0), but inf in float32."""
    a = np.array([3e38], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rel_error(a, -a) == 1.0


def test_numerical_gradient_default_step_is_1e_minus_6():
    """The default step is h = 1e-6 (the module's error analysis, and the fd floor in
    tests/gradutil.py, assume it).  At x = 0 the central difference of x³ is exactly h²."""
    x = np.array([0.0])
    g = numerical_gradient(lambda: float((x ** 3).sum()), x)
    assert g[0] == pytest.approx(1e-12, rel=1e-6)


def test_numerical_gradient_array_uses_the_step_it_is_given():
    """``numerical_gradient_array`` passes its ``h`` on (and defaults to 1e-6, as
    ``numerical_gradient`` does): central difference of x³ at 0 is h²."""
    x = np.array([0.0])
    dout = np.ones(1)
    assert numerical_gradient_array(lambda: x ** 3, x, dout)[0] == pytest.approx(1e-12, rel=1e-6)
    assert numerical_gradient_array(lambda: x ** 3, x, dout, h=1e-3)[0] == pytest.approx(1e-6, rel=1e-6)


class ZeroDimViews(np.ndarray):
    """Indexes like a CuPy array: ``x[i]`` is a 0-d *view* of the entry, not a new scalar."""

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return np.ndarray.__getitem__(self, slice(key, key + 1)).reshape(())
        return np.ndarray.__getitem__(self, key)


def test_numerical_gradient_copies_the_entry_it_nudges():
    """On CuPy ``flat[i]`` is a view, so without ``.copy()`` the saved "original" moves with
    the nudge: the minus side lands back on x and the slope is a forward difference at half
    size (and x is not restored).  NumPy scalars hide this; a view-indexing array shows it."""
    x = np.array([2.0, -1.0]).view(ZeroDimViews)
    g = numerical_gradient(lambda: float((np.asarray(x) ** 3).sum()), x)
    np.testing.assert_allclose(np.asarray(g), [12.0, 3.0], rtol=1e-8)
    np.testing.assert_array_equal(np.asarray(x), [2.0, -1.0])


def test_numerical_gradient_is_float64_even_for_a_float32_array():
    """The slopes are kept in float64 whatever ``x`` is (lesson 6 compares float32 and float64
    checks); a float32 result would round away the small slopes' digits."""
    x = np.array([1.0, 2.0], np.float32)
    g = numerical_gradient(lambda: float((x.astype(np.float64) ** 2).sum()), x)
    assert g.dtype == np.float64
