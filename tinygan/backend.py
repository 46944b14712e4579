"""The array-module shim: one place decides whether arrays live in NumPy or CuPy.

Every numerical module in tinygan writes ``from tinygan.backend import xp`` and calls
``xp.exp``, ``xp.zeros``, ``xp.matmul`` ... through it.  ``xp`` is a thin proxy that
forwards each attribute to the module chosen now, so switching device is one call::

    from tinygan import backend
    backend.use("gpu")          # or TINYGAN_DEVICE=gpu in the environment

and the same model code runs on the GPU.  Nothing in ``nn``, ``losses`` or ``optim``
imports NumPy itself; a test checks that.

Random numbers come from :class:`Random`, a seeded NumPy ``Generator`` kept on the host
whose draws are moved to the chosen device.  Drawing on the host costs a small copy per
step, and buys two things worth more to a reader: one seed gives the *same* numbers on CPU
and GPU, and the generator's whole state is a small dict a checkpoint can hold, so a
resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import importlib
import os

import numpy

DEVICES = ("cpu", "gpu")


class BackendError(RuntimeError):
    """Raised when the requested device cannot be used (no CuPy, no GPU, bad name)."""


_module = numpy  # the array module in use now
_device = "cpu"


class _ArrayModuleProxy:
    """Forwards ``xp.name`` to the array module chosen by :func:`use`."""

    def __getattr__(self, name):
        return getattr(_module, name)

    def __repr__(self):
        return f"<tinygan xp -> {_module.__name__} ({_device})>"


xp = _ArrayModuleProxy()


def _load_cupy():
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as err:
        raise BackendError(
            "device 'gpu' needs CuPy, which is not installed. "
            "Install a CUDA 12 build: pip install cupy-cuda12x  (or, in tinygan's folder, "
            "pip install -e '.[gpu]')"
        ) from err
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver missing or broken
        raise BackendError(f"device 'gpu': CuPy is installed but found no usable GPU ({err})") from err
    if count < 1:
        raise BackendError("device 'gpu': CuPy is installed but found no GPU")
    return cupy


def use(device: str | None = None, module=None) -> str:
    """Choose the array module: ``"cpu"`` (NumPy) or ``"gpu"`` (CuPy).

    ``device=None`` reads ``TINYGAN_DEVICE`` (default ``"cpu"``).  ``module`` installs any
    NumPy-compatible module directly; the tests use it to inject a fake CuPy.
    Returns the device name now in use.
    """
    global _module, _device
    if module is not None:
        _module, _device = module, device or "gpu"
        return _device
    source = ""
    if device is None:
        device, source = os.environ.get("TINYGAN_DEVICE", "cpu"), " (from TINYGAN_DEVICE)"
    device = device.strip().lower()
    if device == "cpu":
        _module, _device = numpy, "cpu"
    elif device == "gpu":
        _module, _device = _load_cupy(), "gpu"
    else:
        raise BackendError(f"unknown device {device!r}{source}; choose one of: {', '.join(DEVICES)}")
    return _device


def device() -> str:
    """The device in use now: ``"cpu"`` or ``"gpu"``."""
    return _device


def array_module():
    """The module behind ``xp`` now (``numpy`` or ``cupy``)."""
    return _module


def to_numpy(a):
    """Return ``a`` as a NumPy array on the host (a no-op for NumPy arrays)."""
    if isinstance(a, numpy.ndarray) or numpy.isscalar(a):
        return numpy.asarray(a)
    if hasattr(_module, "asnumpy"):
        return _module.asnumpy(a)
    return numpy.asarray(a)


def to_device(a, dtype=None):
    """Return host array ``a`` as an array of the module in use: on the CPU no copy unless
    ``dtype`` differs from ``a``'s; on the GPU a copy to the device."""
    return xp.asarray(a, dtype=dtype)


_openblas_handle = None  # (get, set) once looked up; False when there is none


def _openblas():
    """``(get_num_threads, set_num_threads)`` of the OpenBLAS that NumPy runs on, or None.

    NumPy has no call for its BLAS threads, so this finds the OpenBLAS library already
    loaded in the process (NumPy's wheels ship one as ``scipy_openblas``; Linux
    distributions link the system's) and calls its own two functions through ctypes, as
    threadpoolctl does.  NumPy built on another BLAS (Accelerate on macOS, MKL) gives None.
    """
    global _openblas_handle
    if _openblas_handle is None:
        _openblas_handle = False
        import ctypes
        import glob

        # NumPy's wheels keep their OpenBLAS beside the package; look there first, so that
        # another library's OpenBLAS in the same process (PyTorch's, say) is not taken for it
        root = os.path.dirname(os.path.dirname(numpy.__file__))
        paths = []
        for pattern in ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*"):
            paths += sorted(glob.glob(os.path.join(root, pattern)))
        try:
            with open("/proc/self/maps") as maps:  # Linux: every library the process has loaded
                paths += sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
        except OSError:  # not Linux
            pass
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "64_"),
                                   ("openblas", "")):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                    _openblas_handle = (get, set_)
                    break
            if _openblas_handle:
                break
    return _openblas_handle or None


def blas_threads() -> int | None:
    """How many threads NumPy's OpenBLAS splits a matrix product over now; None when
    NumPy runs on another BLAS, whose threads tinygan cannot see."""
    handle = _openblas()
    return None if handle is None else int(handle[0]())


def set_blas_threads(n: int) -> bool:
    """Let NumPy's OpenBLAS use ``n`` threads from now on; False when it cannot be set.

    The count changes more than speed: OpenBLAS splits a product's work differently, so
    results differ in the last bits, and a GAN carries the difference on (lesson 7: the
    default recipe's G, 8e-6 apart on 1 and on 2 threads after one step, 3.5e-4 after
    30).  So a checkpoint records the count, and a resumed run restores it.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"BLAS threads must be an integer >= 1, got {n!r}")
    handle = _openblas()
    if handle is None:
        return False
    handle[1](n)
    return True


class Random:
    """A seeded random generator whose draws land on the chosen device.

    The bits come from NumPy's PCG64 on the host (see the module docstring for why);
    every method returns an array of the module in use.  ``get_state``/``set_state``
    round-trip through plain Python values, so checkpoints can store them as JSON.
    """

    def __init__(self, seed: int | None = 0):
        self.generator = numpy.random.default_rng(seed)

    def normal(self, shape, dtype="float32", scale=1.0):
        """Standard normal draws times ``scale``: ``(shape)``."""
        z = self.generator.standard_normal(shape, dtype=numpy.dtype(dtype))
        if scale != 1.0:
            z *= scale
        return xp.asarray(z)

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        """Uniform draws on ``[low, high)``: ``(shape)``."""
        u = self.generator.random(shape, dtype=numpy.dtype(dtype))
        if (low, high) != (0.0, 1.0):
            u = u * (high - low) + low
        return xp.asarray(u.astype(dtype, copy=False))

    def permutation(self, n: int):
        """A random permutation of ``range(n)``, integer indices (NumPy's ``intp``)."""
        return xp.asarray(self.generator.permutation(n))

    def integers(self, low, high, shape):
        """Integers drawn uniformly from ``[low, high)``."""
        return xp.asarray(self.generator.integers(low, high, shape))

    def get_state(self) -> dict:
        return self.generator.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.generator.bit_generator.state = state
