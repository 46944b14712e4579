"""Optional parity with PyTorch (float64): the same network, loss and Adam give the same numbers.

Skipped when PyTorch is not installed; tinygan itself never imports it.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tinygan import losses, nn, optim  # noqa: E402
from tinygan.backend import Random  # noqa: E402


class TorchMinibatchStd(torch.nn.Module):
    """``nn.MinibatchStd`` written with PyTorch ops, differentiated by autograd."""

    def forward(self, x):
        spread = (x.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        return torch.cat([x, spread.expand(x.shape[0], 1)], dim=1)


class TorchMinibatchMeanAbsDev(torch.nn.Module):
    """``nn.MinibatchMeanAbsDev`` written with PyTorch ops, differentiated by autograd."""

    def forward(self, x):
        spread = (x - x.mean(dim=0)).abs().mean()
        return torch.cat([x, spread.expand(x.shape[0], 1)], dim=1)


def twin(net):
    """A torch.nn.Sequential with the same layers and weights as a tinygan Sequential."""
    layers = []
    for layer in net.layers:
        if isinstance(layer, nn.Dense):
            lin = torch.nn.Linear(layer.n_in, layer.n_out).double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.params["W"].T.copy()))
                lin.bias.copy_(torch.from_numpy(layer.params["b"].copy()))
            layers.append(lin)
        elif isinstance(layer, nn.BatchNorm1d):
            layers.append(torch.nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum).double())
        elif isinstance(layer, nn.LeakyReLU):
            layers.append(torch.nn.LeakyReLU(layer.alpha))
        elif isinstance(layer, nn.MinibatchStd):
            assert layer.eps == 1e-8
            layers.append(TorchMinibatchStd())
        elif isinstance(layer, nn.MinibatchMeanAbsDev):
            layers.append(TorchMinibatchMeanAbsDev())
        else:
            layers.append({nn.ReLU: torch.nn.ReLU, nn.Tanh: torch.nn.Tanh, nn.Sigmoid: torch.nn.Sigmoid}[type(layer)]())
    return torch.nn.Sequential(*layers)


def torch_grads(model):
    """The gradients of a torch model laid out like tinygan's flat buffer (W as (in, out))."""
    parts = []
    for m in model:
        if isinstance(m, torch.nn.Linear):
            parts += [m.weight.grad.T.reshape(-1), m.bias.grad]
        elif isinstance(m, torch.nn.BatchNorm1d):
            parts += [m.weight.grad, m.bias.grad]
    return torch.cat(parts).numpy()


def make_pair(seed, spread=None):
    rng = Random(seed)
    head = [spread(), nn.Dense(9, 1, rng=rng, dtype="float64")] if spread is not None else \
        [nn.Dense(8, 1, rng=rng, dtype="float64")]
    D = nn.Sequential(nn.Dense(12, 16, rng=rng, dtype="float64"), nn.BatchNorm1d(16, eps=0.8, dtype="float64"),
                      nn.LeakyReLU(0.2), nn.Dense(16, 8, rng=rng, dtype="float64"), nn.Tanh(), *head)
    return D, twin(D), rng


@pytest.mark.parametrize("spread", [None, nn.MinibatchStd, nn.MinibatchMeanAbsDev],
                         ids=["no-spread", "std", "mean-abs-dev"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_discriminator_step_gradients_match_torch(seed, spread):
    D, T, rng = make_pair(seed, spread)
    x_real, x_fake = rng.normal((9, 12), dtype="float64"), rng.normal((7, 12), dtype="float64")
    real_logits, rc = D.forward(x_real)
    fake_logits, fc = D.forward(x_fake)
    loss, dr, df = losses.discriminator_loss(real_logits, fake_logits)
    D.zero_grad()
    D.backward(dr, rc)
    D.backward(df, fc)

    bce = torch.nn.BCEWithLogitsLoss()
    tr, tf = T(torch.from_numpy(x_real)), T(torch.from_numpy(x_fake))
    t_loss = bce(tr, torch.ones_like(tr)) + bce(tf, torch.zeros_like(tf))
    t_loss.backward()
    np.testing.assert_allclose(float(loss), t_loss.item(), rtol=1e-12)
    np.testing.assert_allclose(D.flat_grads, torch_grads(T), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(D.layers[1].state["running_var"], T[1].running_var.numpy(), rtol=1e-12)


def test_mean_abs_dev_at_its_kink_matches_torch():
    """Lesson 4: where ``x[n, f] = μ_f`` the layer uses ``sign(0) = 0``, "as PyTorch does".
    Every column here holds its own mean exactly, in 8 entries of 15, so the kink is hit, and
    the layer's ``dx`` must equal autograd's through ``|x − mean(x)|``; the random batches
    of the other parity tests never land on a kink."""
    x = np.array([[-2.0, 3.0, 0.5], [0.0, 1.0, 0.5], [1.0, -1.0, -1.0], [1.0, 1.0, 2.0], [0.0, 1.0, 0.5]])
    assert (x == x.mean(axis=0)).sum(axis=0).tolist() == [2, 3, 3]  # the means: 0, 1, 0.5
    dy = Random(0).normal((5, 4), dtype="float64")
    layer = nn.MinibatchMeanAbsDev()
    y, cache = layer.forward(x)
    dx = layer.backward(dy, cache)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = TorchMinibatchMeanAbsDev()(tx)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_adam_matches_torch_over_many_steps():
    D, T, rng = make_pair(3)
    opt = optim.Adam(D.flat_params, D.flat_grads, lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-3)
    t_opt = torch.optim.Adam(T.parameters(), lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-3)
    bce = torch.nn.BCEWithLogitsLoss()
    for _ in range(50):
        x = rng.normal((10, 12), dtype="float64")
        t = (rng.uniform((10, 1), dtype="float64") > 0.5).astype("float64")
        y, caches = D.forward(x)
        _, dy = losses.bce_with_logits(y, t)
        D.zero_grad()
        D.backward(dy, caches)
        opt.step()
        t_opt.zero_grad()
        bce(T(torch.from_numpy(x)), torch.from_numpy(t)).backward()
        t_opt.step()
    params = [m.weight.detach().T.reshape(-1) if isinstance(m, torch.nn.Linear) else m.weight.detach().reshape(-1)
              for m in T if isinstance(m, (torch.nn.Linear, torch.nn.BatchNorm1d))]
    biases = [m.bias.detach() for m in T if isinstance(m, (torch.nn.Linear, torch.nn.BatchNorm1d))]
    flat = torch.cat([p for pair in zip(params, biases) for p in pair]).numpy()
    # The first bias feeds a BatchNorm, which subtracts the batch mean: its true gradient
    # is 0, and both libraries move it only by rounding noise (which Adam normalises to
    # steps of up to lr = 1e-2).  Comparing noise is meaningless; check only that it stays
    # far below one step in both (seen: 3e-7 here, 2e-5 in PyTorch).
    first_bias = slice(12 * 16, 12 * 16 + 16)
    assert np.abs(D.flat_params[first_bias]).max() < 1e-3 and np.abs(flat[first_bias]).max() < 1e-3
    rest = np.ones(flat.size, bool)
    rest[first_bias] = False
    np.testing.assert_allclose(D.flat_params[rest], flat[rest], rtol=1e-9, atol=1e-11)


def layer_signature(layer):
    """A tinygan or torch layer as a comparable tuple: its kind and the numbers that define it."""
    if isinstance(layer, nn.Dense):
        return ("linear", layer.n_in, layer.n_out)
    if isinstance(layer, torch.nn.Linear):
        return ("linear", layer.in_features, layer.out_features)
    if isinstance(layer, nn.BatchNorm1d):
        return ("batchnorm", layer.num_features, layer.eps, layer.momentum)
    if isinstance(layer, torch.nn.BatchNorm1d):
        return ("batchnorm", layer.num_features, layer.eps, layer.momentum)
    if isinstance(layer, (nn.LeakyReLU, torch.nn.LeakyReLU)):
        return ("leaky", getattr(layer, "alpha", getattr(layer, "negative_slope", None)))
    if isinstance(layer, (nn.Dropout, torch.nn.Dropout)):
        return ("dropout", layer.p)
    return (type(layer).__name__.lower(),)  # ReLU, Tanh: nothing more to compare


@pytest.mark.parametrize("arch", ["seed", "pytorch-gan", "default"])
def test_the_speed_benchmarks_torch_nets_are_the_presets(arch):
    """benchmarks/speed.py times a PyTorch twin of each preset; a twin with a layer less
    (its default D once lacked the dropout) would time a different network."""
    import importlib.util
    import pathlib

    from tinygan import models

    path = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "speed.py"
    spec = importlib.util.spec_from_file_location("speed_benchmark", path)
    speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed)
    ours = models.build_gan(arch, Random(0))
    theirs = speed.torch_nets(arch)
    for net, twin_net in zip(ours, theirs):
        assert [layer_signature(layer) for layer in net.layers] == [layer_signature(m) for m in twin_net]
