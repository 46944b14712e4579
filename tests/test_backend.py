"""The array-module shim: NumPy by default, CuPy when asked, and no compute bypasses it."""

import ast
import pathlib
import sys
import types

import numpy as np
import pytest

from tinygan import backend, losses, nn, optim

PACKAGE = pathlib.Path(backend.__file__).parent
# Modules that compute on arrays; each must take its array functions from the shim.
COMPUTE_MODULES = ["nn.py", "losses.py", "optim.py", "gradcheck.py", "gan.py", "models.py", "toy.py", "theory.py",
                   "classifier.py", "evaluate.py"]
# The functions of those modules that read or write files, where host NumPy is the point.
HOST_IO_FUNCTIONS = {("classifier.py", "save_weights"), ("evaluate.py", "load_samples_file"),
                     ("evaluate.py", "npy_size_problem")}


def test_numpy_is_the_default(monkeypatch):
    monkeypatch.delenv("TINYGAN_DEVICE", raising=False)
    assert backend.use() == "cpu"
    assert backend.array_module() is np and backend.xp.zeros is np.zeros


def test_env_var_selects_device(monkeypatch):
    monkeypatch.setenv("TINYGAN_DEVICE", "tpu")
    with pytest.raises(backend.BackendError, match=r"unknown device 'tpu' \(from TINYGAN_DEVICE\)"):
        backend.use()
    with pytest.raises(backend.BackendError, match=r"unknown device 'tpu'; choose"):  # an option: no variable
        backend.use("tpu")
    monkeypatch.setenv("TINYGAN_DEVICE", "cpu")
    assert backend.use() == "cpu"
    monkeypatch.setenv("TINYGAN_DEVICE", " GPU ")  # read loosely, and it reaches the GPU path
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(backend.BackendError, match="CuPy"):
        backend.use()


def test_gpu_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(backend.BackendError, match=r"pip install cupy-cuda12x  \(or, in tinygan's folder, pip install -e '\.\[gpu\]'\)"):
        backend.use("gpu")
    assert backend.device() == "cpu"


def test_gpu_without_a_device_is_a_clear_error(monkeypatch):
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=lambda: (_ for _ in ()).throw(RuntimeError("cudaErrorNoDevice")))))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(backend.BackendError, match="no usable GPU"):
        backend.use("gpu")
    # a driver that answers, but counts no GPU: refused too, not a device that fails later
    fake.cuda.runtime.getDeviceCount = lambda: 0
    with pytest.raises(backend.BackendError, match="CuPy is installed but found no GPU"):
        backend.use("gpu")
    assert backend.device() == "cpu"


def numpy_imports(tree):
    """(function name or None, line) of every import of numpy, or of the shim's own numpy."""
    found = []

    def visit(node, function):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "numpy" for a in node.names):
            found.append((function, node.lineno))
        if isinstance(node, ast.ImportFrom) and (
                (node.module or "").split(".")[0] == "numpy"
                or (node.level and node.module == "backend" and any(a.name == "numpy" for a in node.names))):
            found.append((function, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


def test_compute_modules_do_not_import_numpy():
    """Computation must go through `xp`; a direct numpy import would silently stay on CPU."""
    for name in COMPUTE_MODULES:
        found = numpy_imports(ast.parse((PACKAGE / name).read_text()))
        bad = [(f, line) for f, line in found if (name, f) not in HOST_IO_FUNCTIONS]
        assert not bad, f"{name} imports numpy at (function, line) {bad}"


@pytest.mark.parametrize("source", ["import numpy as np", "from numpy import zeros", "from .backend import numpy",
                                    "def f():\n    import numpy.linalg"])
def test_the_numpy_import_check_can_fail(source):
    assert numpy_imports(ast.parse(source))


class FakeCupyArray(np.ndarray):
    """A NumPy array that says it was made by the fake CuPy module."""


class FakeCupy(types.ModuleType):
    """NumPy underneath; every array it makes is a FakeCupyArray, and it counts calls."""

    def __init__(self):
        super().__init__("fakecupy")
        self.calls = {}

    def __getattr__(self, name):
        target = getattr(np, name)
        if not callable(target) or isinstance(target, type):
            return target

        def wrapped(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            out = target(*args, **kwargs)
            return out.view(FakeCupyArray) if isinstance(out, np.ndarray) else out

        return wrapped

    def asnumpy(self, a):
        return np.asarray(a).view(np.ndarray)


def test_whole_training_step_takes_every_array_from_the_shim():
    fake = FakeCupy()
    backend.use("gpu", module=fake)
    rng = backend.Random(0)
    G = nn.Sequential(nn.Dense(4, 8, rng=rng), nn.BatchNorm1d(8), nn.ReLU(), nn.Dense(8, 6, rng=rng), nn.Tanh())
    D = nn.Sequential(nn.Dense(6, 8, rng=rng), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Dense(8, 1, rng=rng),
                      nn.Sigmoid())
    opt_g = optim.Adam(G.flat_params, G.flat_grads, lr=1e-3, weight_decay=1e-4)
    opt_d = optim.Adam(D.flat_params, D.flat_grads, lr=1e-3)
    x_real = rng.normal((5, 6))
    z = rng.normal((5, 4))
    # one D step on a real and a fake batch, one G step through the frozen D
    fake_x, _ = G.forward(z)
    real_out, real_caches = D.forward(x_real)
    fake_out, fake_caches = D.forward(fake_x)
    _, dr, df = losses.discriminator_loss(real_out, fake_out, real_target=0.9)
    D.zero_grad()
    D.backward(dr, real_caches)
    D.backward(df, fake_caches)
    opt_d.step()
    fake_x, g_caches = G.forward(z)
    logits, d_caches = D.forward(fake_x)
    _, dl = losses.generator_loss(logits, "minimax")
    G.zero_grad()
    G.backward(D.backward(dl, d_caches, param_grads=False), g_caches)
    opt_g.step()

    arrays = [G.flat_params, G.flat_grads, G.flat_state, D.flat_params, D.flat_grads, fake_x, logits,
              opt_g.m_sum, opt_g.v_sum, opt_d.m_sum, opt_d.v_sum, x_real, z]
    assert all(isinstance(a, FakeCupyArray) for a in arrays), [type(a) for a in arrays]
    for net in (G, D):
        for layer in net.layers:
            for table in (layer.params, layer.grads, layer.state):
                assert all(isinstance(a, FakeCupyArray) for a in table.values())
    for used in ("zeros", "asarray", "exp", "tanh", "maximum", "sqrt", "multiply", "divide"):
        assert fake.calls.get(used, 0) > 0, used
    host = backend.to_numpy(G.flat_params)
    assert type(host) is np.ndarray and np.all(np.isfinite(host))


def test_random_is_reproducible_and_restorable():
    a, b = backend.Random(7), backend.Random(7)
    np.testing.assert_array_equal(a.normal((3, 4)), b.normal((3, 4)))
    state = a.get_state()
    first = a.uniform(5)
    a.set_state(state)
    np.testing.assert_array_equal(a.uniform(5), first)
    assert a.normal((2,)).dtype == np.float32 and sorted(backend.to_numpy(a.permutation(6))) == list(range(6))
    assert not np.array_equal(backend.Random(1).normal((4,)), backend.Random(2).normal((4,)))


def test_blas_threads_are_read_and_set_through_numpys_openblas():
    if backend.blas_threads() is None:
        pytest.skip("this NumPy runs on a BLAS other than OpenBLAS, whose threads tinygan cannot set")
    for n in (1, 3, 2):
        assert backend.set_blas_threads(n) is True
        assert backend.blas_threads() == n
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(ValueError, match="BLAS threads"):
            backend.set_blas_threads(bad)
    assert backend.blas_threads() == 2  # a refused count changes nothing


def test_a_numpy_built_on_openblas_has_its_thread_count_found():
    """The test above skips where ``blas_threads()`` is None, so a ``blas_threads`` that
    always said None would pass it: pin that NumPy's own OpenBLAS, where its build names
    one, is found."""
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]  # NumPy >= 1.26
    if "openblas" not in str(blas.get("name", "")).lower():
        pytest.skip(f"this NumPy runs on {blas.get('name')!r}, not OpenBLAS")
    n = backend.blas_threads()
    assert isinstance(n, int) and n >= 1


def test_without_openblas_the_thread_count_is_unknown_and_left_alone(monkeypatch):
    monkeypatch.setattr(backend, "_openblas_handle", False)  # as on Accelerate or MKL
    assert backend.blas_threads() is None
    assert backend.set_blas_threads(1) is False


def test_an_injected_module_is_the_gpu_unless_named_otherwise():
    """``use(module=...)`` stands in for CuPy: without a device name it reports "gpu", which
    the command line reads to leave the host's BLAS threads alone."""
    assert backend.use(module=FakeCupy()) == "gpu" and backend.device() == "gpu"


def test_to_device_gives_the_asked_dtype_and_copies_nothing_otherwise():
    a = np.arange(4, dtype=np.float32)
    assert backend.to_device(a) is a
    converted = backend.to_device(a, dtype="float64")
    assert converted.dtype == np.float64 and np.array_equal(converted, a)
