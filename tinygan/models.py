"""Generator and discriminator presets, selected by name (``--arch``).

Every preset maps noise ``z: (batch, z_dim)`` to samples ``(batch, data_dim)`` and
samples to one discriminator **logit** per row, ``(batch, 1)``: the sigmoid lives inside
the loss (see ``losses``).  The image presets end G in a tanh, so their samples lie in
[−1, 1] like the scaled pixels; ``toy`` has no tanh, since its data sets are not bounded.

Presets:

``seed``
    The nets of the article tinygan grew from: G 100-256-256-784 and D 784-256-256-1
    with ReLU hidden layers.
``pytorch-gan``
    The widely copied MLP of PyTorch-GAN's ``implementations/gan/gan.py``:
    G 100-128-256-512-1024-784 with LeakyReLU(0.2) and BatchNorm after every hidden
    layer but the first, D 784-512-256-1 with LeakyReLU(0.2).  That file writes
    ``nn.BatchNorm1d(out_feat, 0.8)``; the second positional argument of PyTorch's
    BatchNorm1d is ``eps``, not ``momentum``, so its BatchNorm divides by
    sqrt(σ² + 0.8).  We reproduce it as written: ``eps=0.8, momentum=0.1``.
    Its weights use PyTorch's default Linear initialisation, U(±1/sqrt(in)).
    These are its nets, not its loop: tinygan trains them in Algorithm 1's order
    (``gan.train_step``), while gan.py takes simultaneous steps (lesson 10, section 4).
``default``
    What ``python -m tinygan.train`` uses: the ``seed`` sizes with LeakyReLU(0.2),
    Xavier initialisation, dropout 0.3 after D's hidden layers, and a minibatch
    spread feature, the batch's mean absolute deviation (``nn.MinibatchMeanAbsDev``),
    before D's last layer.  Small nets are
    deliberate: in a budget of a few CPU minutes the number of examples seen matters more than
    width (measured in 240 s: a 1.5M+1.5M-parameter pair reached FD 24.4, this size 11.8,
    and 7.8 on a quieter machine).
    Dropout in D evened out the digit classes (the least common went from 4% of
    samples to 7.8%) and lowered the FD from 7.2 to 4.7 in 300 s; in a second set of
    runs (two seeds each, one BLAS thread per run), adding the minibatch standard
    deviation to dropout lowered it from 4.8–4.9 to 3.0.  The feature is taken after the second dropout, so in train mode,
    when D learns, it measures dropped-out features, whose noise is much of their spread
    (at initialisation, seed 0, for the standard deviation: 64 copies of one fake give 0.15
    against 0.17 for 64 different fakes; in eval mode 1e-4 against 0.10); the FD gain was
    measured with it there.  The mean absolute deviation replaced the standard deviation
    because runs longer than five minutes got worse with the latter: the generator raised
    the batch's standard deviation with a growing share of white-background blots (1.4%
    of samples after 15 minutes), and the FD went from 1.5 at 300 s to 6.0 at 900 s.
    With the mean absolute deviation no such blots appeared and the FD kept falling.
    Lesson 12 has the measurements.  The training settings that go
    with it, the EMA generator among them, are ``RECIPES["default"]`` in ``tinygan.train``.
``toy``
    Small nets for the low-dimensional sets of ``tinygan.toy``.
"""

from __future__ import annotations

from . import nn
from .backend import Random

ARCHS = ("default", "seed", "pytorch-gan", "toy")


def _mlp(sizes, hidden_act, rng, init, dtype, batchnorm_eps=None, dropout=0.0,
         dropout_seed=0, out_act=None, minibatch_spread=None):
    """Dense layers of ``sizes`` with ``hidden_act()`` between them.

    ``batchnorm_eps`` puts a BatchNorm1d before each hidden activation from the second
    hidden layer on (the first has none, as in PyTorch-GAN's gan.py); ``dropout``
    follows each hidden activation.  ``minibatch_spread`` (a layer class such as
    ``nn.MinibatchMeanAbsDev``) puts that layer before the last Dense layer, which then
    takes one input more.
    """
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        if last and minibatch_spread is not None:
            layers.append(minibatch_spread())
            n_in += 1
        layers.append(nn.Dense(n_in, n_out, init=init, rng=rng, dtype=dtype))
        if last:
            break
        if batchnorm_eps is not None and i > 0:
            layers.append(nn.BatchNorm1d(n_out, eps=batchnorm_eps, dtype=dtype))
        layers.append(hidden_act())
        if dropout:
            layers.append(nn.Dropout(dropout, seed=dropout_seed + i))
    if out_act is not None:
        layers.append(out_act())
    return nn.Sequential(layers, dtype=dtype)


def build_gan(arch: str = "default", rng: Random | None = None, z_dim: int = 100, data_dim: int = 784,
              dtype="float32"):
    """Return ``(G, D)`` for preset ``arch``.  ``rng`` first draws a seed for D's dropout
    masks (for every preset, so that adding dropout moves no weight), then the weights:
    G's layers, then D's."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHS)}")
    rng = rng if rng is not None else Random(0)
    dropout_seed = int(rng.generator.integers(2**31))
    leaky = lambda: nn.LeakyReLU(0.2)  # noqa: E731
    if arch == "seed":
        G = _mlp([z_dim, 256, 256, data_dim], nn.ReLU, rng, "he", dtype, out_act=nn.Tanh)
        D = _mlp([data_dim, 256, 256, 1], nn.ReLU, rng, "he", dtype)
    elif arch == "pytorch-gan":
        G = _mlp([z_dim, 128, 256, 512, 1024, data_dim], leaky, rng, "pytorch", dtype,
                 batchnorm_eps=0.8, out_act=nn.Tanh)
        D = _mlp([data_dim, 512, 256, 1], leaky, rng, "pytorch", dtype)
    elif arch == "default":
        G = _mlp([z_dim, 256, 256, data_dim], leaky, rng, "xavier", dtype, out_act=nn.Tanh)
        D = _mlp([data_dim, 256, 256, 1], leaky, rng, "xavier", dtype, dropout=0.3, dropout_seed=dropout_seed,
                 minibatch_spread=nn.MinibatchMeanAbsDev)
    else:  # toy
        G = _mlp([z_dim, 128, 128, data_dim], leaky, rng, "xavier", dtype)
        D = _mlp([data_dim, 128, 128, 1], leaky, rng, "xavier", dtype)
    return G, D
