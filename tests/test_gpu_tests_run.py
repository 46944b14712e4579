"""``tests/test_gpu.py`` skips where there is no GPU, which is everywhere CI runs: here it
runs with NumPy posing as CuPy (``tests/fake_cupy``), so that the GPU tests cannot rot
unseen.  This checks the tests and tinygan's device plumbing, not CUDA."""

import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).parent


def test_the_gpu_tests_run_with_numpy_posing_as_cupy():
    path = os.pathsep.join(filter(None, [str(HERE / "fake_cupy"), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "test_gpu.py")],
        cwd=HERE.parent, env={**os.environ, "PYTHONPATH": path, "TINYGAN_DEVICE": "cpu"},
        capture_output=True, text=True, timeout=600)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, summary
