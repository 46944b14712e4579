"""Shared test set-up: every test starts on the NumPy backend with a fixed hypothesis profile."""

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))  # for gradutil

# "tinygan" (the default) draws the same examples on every run, so CI is repeatable.
# derandomize=True also makes hypothesis ignore --hypothesis-seed; to explore new
# examples, run with HYPOTHESIS_PROFILE=explore (random draws, 200 per test).
settings.register_profile(
    "tinygan",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile("explore", settings.get_profile("tinygan"), max_examples=200, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tinygan"))


@pytest.fixture(autouse=True)
def _numpy_backend():
    from tinygan import backend

    previous = backend.array_module(), backend.device()
    yield
    backend.use(previous[1], module=previous[0])


@pytest.fixture(autouse=True)
def _blas_threads():
    """A test that sets NumPy's BLAS threads (``--threads``, a resume) gives them back."""
    from tinygan import backend

    previous = backend.blas_threads()
    yield
    if previous is not None:
        backend.set_blas_threads(previous)
