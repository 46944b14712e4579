"""The generator/discriminator presets are the nets their docstrings describe."""

import numpy as np
import pytest

from tinygan import models, nn
from tinygan.backend import Random

# Each preset layer by layer, as the layers print themselves: the sizes, activations,
# BatchNorm (with pytorch-gan's eps=0.8 quirk), dropout and initialisation of tinygan/models.py.
LEAKY = "LeakyReLU(0.2)"
PRESETS = {
    "seed": (
        ["Dense(100, 256, init='he')", "ReLU()", "Dense(256, 256, init='he')", "ReLU()",
         "Dense(256, 784, init='he')", "Tanh()"],
        ["Dense(784, 256, init='he')", "ReLU()", "Dense(256, 256, init='he')", "ReLU()",
         "Dense(256, 1, init='he')"]),
    "pytorch-gan": (
        ["Dense(100, 128, init='pytorch')", LEAKY,
         "Dense(128, 256, init='pytorch')", "BatchNorm1d(256, eps=0.8, momentum=0.1)", LEAKY,
         "Dense(256, 512, init='pytorch')", "BatchNorm1d(512, eps=0.8, momentum=0.1)", LEAKY,
         "Dense(512, 1024, init='pytorch')", "BatchNorm1d(1024, eps=0.8, momentum=0.1)", LEAKY,
         "Dense(1024, 784, init='pytorch')", "Tanh()"],
        ["Dense(784, 512, init='pytorch')", LEAKY, "Dense(512, 256, init='pytorch')", LEAKY,
         "Dense(256, 1, init='pytorch')"]),
    "default": (
        ["Dense(100, 256, init='xavier')", LEAKY, "Dense(256, 256, init='xavier')", LEAKY,
         "Dense(256, 784, init='xavier')", "Tanh()"],
        ["Dense(784, 256, init='xavier')", LEAKY, "Dropout(0.3)", "Dense(256, 256, init='xavier')", LEAKY,
         "Dropout(0.3)", "MinibatchMeanAbsDev()", "Dense(257, 1, init='xavier')"]),
    "toy": (  # no tanh: the toy sets are not bounded
        ["Dense(100, 128, init='xavier')", LEAKY, "Dense(128, 128, init='xavier')", LEAKY,
         "Dense(128, 784, init='xavier')"],
        ["Dense(784, 128, init='xavier')", LEAKY, "Dense(128, 128, init='xavier')", LEAKY,
         "Dense(128, 1, init='xavier')"]),
}


@pytest.mark.parametrize("arch", sorted(PRESETS))
def test_presets_are_the_documented_nets(arch):
    G, D = models.build_gan(arch)
    expected_g, expected_d = PRESETS[arch]
    assert [repr(layer) for layer in G.layers] == expected_g
    assert [repr(layer) for layer in D.layers] == expected_d
    # the reprs above must show what they claim: the values behind them
    for layer in G.layers + D.layers:
        if isinstance(layer, nn.BatchNorm1d):
            assert (layer.eps, layer.momentum) == (0.8, 0.1)
        if isinstance(layer, nn.LeakyReLU):
            assert layer.alpha == 0.2


def test_toy_preset_follows_the_data_and_noise_sizes():
    G, D = models.build_gan("toy", z_dim=2, data_dim=3)
    assert (G.layers[0].n_in, G.layers[-1].n_out, D.layers[0].n_in, D.layers[-1].n_out) == (2, 3, 3, 1)
    assert not any(isinstance(layer, nn.Tanh) for layer in G.layers)  # toy data is not in [−1, 1]


@pytest.mark.parametrize("arch", ["seed", "pytorch-gan", "default"])
def test_shapes_range_and_one_logit(arch):
    G, D = models.build_gan(arch, Random(0), z_dim=100, data_dim=784)
    x = G(Random(1).normal((8, 100)))
    assert x.shape == (8, 784) and x.dtype == np.float32 and np.abs(x).max() <= 1
    assert D(x).shape == (8, 1)
    G64, _ = models.build_gan(arch, dtype="float64")
    assert G64.flat_params.dtype == np.float64


def test_weights_come_from_the_rng_and_differ_between_layers():
    G1, D1 = models.build_gan("default", Random(0))
    G2, D2 = models.build_gan("default", Random(0))
    G3, _ = models.build_gan("default", Random(1))
    np.testing.assert_array_equal(G1.flat_params, G2.flat_params)
    np.testing.assert_array_equal(D1.flat_params, D2.flat_params)
    assert not np.array_equal(G1.flat_params, G3.flat_params)
    # one stream draws every layer: G's and D's hidden (256, 256) layers do not start alike
    g_hidden, d_hidden = G1.layers[2], D1.layers[3]
    assert g_hidden.params["W"].shape == d_hidden.params["W"].shape == (256, 256)
    assert not np.array_equal(g_hidden.params["W"], d_hidden.params["W"])


def test_default_dropout_layers_draw_different_masks():
    _, D = models.build_gan("default", Random(0))
    drops = [layer for layer in D.layers if isinstance(layer, nn.Dropout)]
    assert len(drops) == 2
    x = np.ones((64, 256), np.float32)
    masks = [drop.forward(x, train=True)[0] != 0 for drop in drops]
    assert not np.array_equal(masks[0], masks[1])  # two layers with one seed would drop alike
    _, D_other = models.build_gan("default", Random(1))
    other = [layer for layer in D_other.layers if isinstance(layer, nn.Dropout)][0]
    assert not np.array_equal(other.forward(x, train=True)[0] != 0, masks[0])  # seeded by the rng


def test_unknown_arch_lists_the_choices():
    with pytest.raises(ValueError, match="unknown arch 'dcgan'; choose one of: default, seed, pytorch-gan, toy"):
        models.build_gan("dcgan")


@pytest.mark.parametrize("arch", models.ARCHS)
def test_every_preset_starts_with_zero_biases_and_takes_other_sizes(arch):
    """Biases start at zero (nn.Dense); z_dim and data_dim reach the first and last layers."""
    G, D = models.build_gan(arch, Random(0), z_dim=16, data_dim=20)
    for net in (G, D):
        for layer in net.layers:
            if isinstance(layer, nn.Dense):
                assert not layer.params["b"].any()
    z = Random(1).normal((4, 16))
    assert G(z).shape == (4, 20) and D(G(z)).shape == (4, 1)


@pytest.mark.parametrize("arch", ["seed", "toy"])
def test_every_preset_draws_the_dropout_seed_first_so_dropout_moves_no_weight(arch):
    """build_gan's docstring: the rng gives D's dropout seed first, for every preset, then G's weights."""
    rng = Random(0)
    rng.generator.integers(2**31)  # the dropout seed, drawn even where there is no dropout
    init = {"seed": "he", "toy": "xavier"}[arch]
    first = nn.Dense(100, {"seed": 256, "toy": 128}[arch], init=init, rng=rng)
    G, _ = models.build_gan(arch, Random(0), z_dim=100, data_dim=2 if arch == "toy" else 784)
    np.testing.assert_array_equal(G.layers[0].params["W"], first.params["W"])
