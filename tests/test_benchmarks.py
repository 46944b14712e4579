"""The benchmark scripts count what they claim to count (they are not timed here)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

from tinygan import nn, optim

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def products(monkeypatch):
    """``benchmarks/products.py`` as a module, with what loading it changes undone afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts benchmarks/ on it
    monkeypatch.delitem(sys.modules, "speed", raising=False)  # and imports speed.py as "speed"
    return load("products")


def test_products_counts_the_flops_of_one_gan_step_of_the_seed_nets(products):
    """``benchmarks/products.py`` must count every product of ``gan.train_step`` once,
    and none it skips.  For the ``seed`` nets, G 100-256-256-784 and D 784-256-256-1,
    multiply-adds per row:

    - G forward: 100·256 + 256·256 + 256·784 = 291,840;
    - D forward on the real, the fake, and the fake again in the generator step:
      3 · (784·256 + 256·256 + 256·1) = 3 · 266,496;
    - D backward in the discriminator step, twice: every weight gradient (266,496) and
      the input gradient of the middle layer only (65,536: the first layer's input is
      data, and the last layer's, with one output, is a broadcast multiply);
    - D backward in the generator step: input gradients of the first two layers only
      (200,704 + 65,536), no weight gradients;
    - G backward: every weight gradient (291,840) and the input gradients of all but the
      first layer, whose input is noise (65,536 + 200,704).
    """
    plain = (nn.Dense.forward, nn.Dense.backward, optim.Adam.update)
    batch = 8
    result = products.tinygan_breakdown("seed", batch, steps=2, repeats=1)
    per_row = (291_840 + 3 * 266_496 + 2 * (266_496 + 65_536) + (200_704 + 65_536)
               + (291_840 + 65_536 + 200_704))
    assert result["flops"] == 2 * batch * per_row
    assert result["n_products"] == 3 + 9 + 2 * 4 + 2 + 5
    assert (nn.Dense.forward, nn.Dense.backward, optim.Adam.update) == plain  # the timing wrappers are gone
    for key in ("products_ms", "adam_ms", "alone_ms"):
        assert result[key] > 0


def test_products_plot_draws_each_configuration_and_refuses_an_unwritable_file(products, monkeypatch, tmp_path,
                                                                             capsys):
    """``--plot`` draws one panel per configuration (a PNG that opens), and a path it
    cannot write is refused in one line before any timing starts."""
    import matplotlib.image

    split = {"products_ms": 6.0, "alone_ms": 5.5, "adam_ms": 1.0, "flops": 1e9}
    rows = [{"arch": "seed", "batch": 64, "ratio": 1.4, "steps": [("tinygan", 8.0, split), ("PyTorch", 11.0, split)]},
            {"arch": "seed", "batch": 256, "ratio": None, "steps": [("tinygan", 9.0, split)]}]
    path = tmp_path / "split.png"
    products.plot_split(rows, path)
    image = matplotlib.image.imread(path)
    assert image.shape[0] > image.shape[1] / 3  # two panels stacked, not one strip

    timed = []
    monkeypatch.setattr(products.speed, "block_rates", lambda *args, **kwargs: timed.append(args))
    blocker = tmp_path / "file"
    blocker.write_text("")
    try:
        products.main(["--plot", str(blocker / "split.png")])
    except SystemExit as stop:
        assert stop.code == 2
    else:
        raise AssertionError("an unwritable --plot path was accepted")
    assert "cannot write --plot" in capsys.readouterr().err and not timed


def test_products_warns_when_the_split_does_not_fit_inside_the_step(products):
    """The step and its split are timed in different runs; on a busy machine the products
    and Adam can seem to take longer than the whole step (a helper's run once printed
    products 533 ms and the rest -482 ms), and then the script must say so."""
    split = {"products_ms": 6.0, "adam_ms": 1.0, "flops": 1e9}
    assert "warning" not in products.describe("tinygan", 8.0, split)
    assert products.describe("tinygan", 8.0, split).count("\n") == 0
    for step_ms in (6.5, 5.0):  # the rest shorter than Adam alone, or below zero
        line = products.describe("tinygan", step_ms, split)
        assert "warning:" in line.splitlines()[1] and "idle machine" in line
    no_adam = {"products_ms": 6.0, "flops": 1e9}  # PyTorch's split as describe sees it without Adam
    assert "warning" not in products.describe("torch", 6.5, no_adam)
    assert "warning" in products.describe("torch", 5.9, no_adam)


def test_products_counts_pytorchs_products_of_one_step_of_the_seed_nets(products):
    """PyTorch's side of ``benchmarks/products.py``: the FLOPs of ``aten::mm``/``addmm``
    in one step of its textbook loop are tinygan's (see the test above) plus what that
    loop does and tinygan does not: ``D``'s weight gradients in the generator step
    (266,496 multiply-adds per row) and ``D``'s last input gradient as a product with an
    inner size of 1 (256 per row), in each of its three backward passes."""
    torch = pytest.importorskip("torch")
    batch = 8
    result = products.torch_breakdown("seed", batch, steps=2, repeats=1)
    tinygan_per_row = 2_579_712
    assert result["flops"] == 2 * batch * (tinygan_per_row + 266_496 + 3 * 256)
    # the timing wrapper is gone (PyTorch wraps Adam.step itself when an optimizer is made,
    # so the method cannot be compared with the one from before)
    assert torch.optim.Adam.step.__name__ != "timed_step"
    for key in ("products_ms", "adam_ms", "alone_ms", "profiled_ms"):
        assert result[key] > 0
