"""NumPy posing as CuPy: lets ``tests/test_gpu.py`` run where there is no GPU.

Only what tinygan and the GPU tests touch: every array function (forwarded to NumPy),
``asnumpy``, and ``cuda.runtime.getDeviceCount`` / ``cuda.Device().synchronize()``.  It
checks that the GPU tests and the device plumbing still run; it says nothing about CUDA.
"""

import numpy as _numpy


def __getattr__(name):
    return getattr(_numpy, name)


def asnumpy(a):
    return _numpy.asarray(a)


class _Runtime:
    @staticmethod
    def getDeviceCount():
        return 1


class _Device:
    def synchronize(self):
        pass


class cuda:
    runtime = _Runtime
    Device = _Device
