"""The gradient checker itself: every gradient test is only as strict as ``rel_error``."""

import numpy as np
import pytest

from tinygan import gradcheck


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
