"""Make every figure the lessons embed, from tinygan's own code.

    python lessons/figures/make_figures.py            # all figures
    python lessons/figures/make_figures.py gan_1d     # only the named ones

Each ``fig_<name>`` function draws ``lessons/figures/<name>.png``.  The figures are
committed; rerun this script after changing code a figure shows.  Everything is seeded, so
a rerun on the same machine draws the same pictures, except ``step_time``, which is a
timing.  The number of BLAS threads changes
the order of sums inside matrix products, and a long training run amplifies those last
bits: ``mode_collapse`` was drawn with ``OPENBLAS_NUM_THREADS=1``, as
``python -m tinygan.theory`` runs it.
"""

from __future__ import annotations

import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tinygan import gan, gradcheck, losses, nn, optim  # noqa: E402
from tinygan.backend import Random  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
REAL, FAKE, DISC = "#1f77b4", "#d62728", "#2ca02c"


def save(fig, name):
    path = HERE / f"{name}.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path.relative_to(HERE.parent.parent)} ({path.stat().st_size // 1024} KB)")


# ----------------------------------------------------------------------------- lesson 01
def fig_gan_1d():
    """A 1-D GAN learning N(3, 0.5²): real density, generator histogram and D(x) over time."""
    rng = Random(0)
    G = nn.Sequential(nn.Dense(1, 16, rng=rng), nn.LeakyReLU(0.2), nn.Dense(16, 1, rng=rng))
    D = nn.Sequential(nn.Dense(1, 16, rng=rng), nn.LeakyReLU(0.2), nn.Dense(16, 1, rng=rng))
    opt_g = optim.Adam(G.flat_params, G.flat_grads, 2e-3, (0.5, 0.999))
    opt_d = optim.Adam(D.flat_params, D.flat_grads, 2e-3, (0.5, 0.999))
    snapshots = {0: None, 100: None, 200: None, 600: None}
    grid = np.linspace(-3, 7, 400, dtype=np.float32)[:, None]

    def snap():
        fake = G(rng.normal((5000, 1)))[:, 0]
        d = nn.sigmoid(D(grid))[:, 0]
        return fake, d

    snapshots[0] = snap()
    for step in range(1, 601):
        gan.train_step(G, D, opt_g, opt_d, lambda: 3 + 0.5 * rng.normal((64, 1)),
                       lambda: rng.normal((64, 1)))
        if step in snapshots:
            snapshots[step] = snap()

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), sharey=True)
    density = np.exp(-0.5 * ((grid[:, 0] - 3) / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi))
    for ax, (step, (fake, d)) in zip(axes, snapshots.items()):
        ax.plot(grid[:, 0], density, color=REAL, lw=2, label="real data density")
        ax.hist(fake, bins=60, range=(-3, 7), density=True, color=FAKE, alpha=0.45,
                label="generator samples G(z)")
        ax.plot(grid[:, 0], d, color=DISC, lw=2, ls="--", label="D(x) = σ(a)")
        ax.axhline(0.5, color="gray", lw=0.8, ls=":")
        ax.set_title(f"after {step} iterations")
        ax.set_xlabel("x")
        ax.set_ylim(0, 1.1)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, bbox_to_anchor=(0.5, -0.12))
    fig.suptitle("A GAN on one-dimensional data (tinygan.gan.train_step, k = 1)", y=1.03)
    save(fig, "gan_1d")


# ----------------------------------------------------------------------------- lesson 02
def fig_activations():
    """Each activation layer's forward output and its backward pass with dy = 1."""
    x = np.linspace(-4, 4, 801)
    layers = [("ReLU", nn.ReLU()), ("LeakyReLU(0.2)", nn.LeakyReLU(0.2)),
              ("Tanh", nn.Tanh()), ("Sigmoid", nn.Sigmoid())]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    for ax, (name, layer) in zip(axes, layers):
        y, cache = layer.forward(x[None, :])
        dx = layer.backward(np.ones_like(y), cache)  # the derivative f'(x), entry by entry
        ax.plot(x, y[0], color=REAL, lw=2, label="forward: y")
        ax.plot(x, dx[0], color=FAKE, lw=2, ls="--", label="backward with dy = 1: f'(x)")
        ax.axhline(0, color="gray", lw=0.6)
        ax.axvline(0, color="gray", lw=0.6)
        ax.set_title(f"nn.{name}")
        ax.set_xlabel("x")
        ax.set_ylim(-1.3, 2.2)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, bbox_to_anchor=(0.5, -0.12))
    save(fig, "activations")


# ----------------------------------------------------------------------------- lesson 03
def fig_generator_gradients():
    """The two generator losses and their gradients against the logit a = D's output on a fake."""
    a = np.linspace(-8, 8, 801)[:, None]  # one fake per row; N = 1 so the 1/N factor is 1
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, index, title in ((left, 0, "loss  L_G"), (right, 1, "gradient  dL_G/da")):
        mm = np.array([losses.generator_loss_minimax(v[None])[index] for v in a]).ravel()
        ns = np.array([losses.generator_loss_nonsaturating(v[None])[index] for v in a]).ravel()
        ax.plot(a[:, 0], mm, color=FAKE, lw=2, label="minimax: log(1 − σ(a))")
        ax.plot(a[:, 0], ns, color=REAL, lw=2, label="non-saturating: −log σ(a)")
        ax.axhline(0, color="gray", lw=0.6)
        ax.axvline(0, color="gray", lw=0.6)
        ax.set_xlabel("logit a of a fake  (D(G(z)) = σ(a))")
        ax.set_title(title)
    right.axvspan(-8, -3, color="0.92", zorder=0)
    right.text(-5.5, -0.55, "D rejects the fake\n(early training)", ha="center", fontsize=9)
    right.set_ylim(-1.1, 0.15)
    left.set_ylim(-8.5, 8.5)
    left.legend(loc="upper right", fontsize=9)
    save(fig, "generator_gradients")


# ----------------------------------------------------------------------------- lesson 04
def fig_batchnorm():
    """Left: running_mean following noisy batch means.  Right: what eps does to var(x̂)."""
    rng = np.random.default_rng(0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    steps = np.arange(1, 201)
    batch_means = []
    traces = {0.1: [], 0.01: []}
    layers = {m: nn.BatchNorm1d(1, momentum=m, dtype="float64") for m in traces}
    for _ in steps:
        x = rng.normal(2.0, 1.0, size=(16, 1))  # true mean 2, batch of 16
        batch_means.append(x.mean())
        for m, layer in layers.items():
            layer.forward(x, train=True)
            traces[m].append(float(layer.state["running_mean"][0]))
    left.plot(steps, batch_means, ".", color="0.6", ms=4, label="batch mean μ (batch of 16)")
    for (m, trace), color in zip(traces.items(), (REAL, FAKE)):
        left.plot(steps, trace, color=color, lw=2, label=f"running_mean, momentum = {m}")
    left.axhline(2.0, color="k", lw=0.8, ls=":")
    left.set_xlabel("training step")
    left.set_title("running statistics (true mean 2)")
    left.legend(fontsize=8, loc="lower right")

    variances = np.logspace(-3, 2, 200)
    for eps, color in ((1e-5, REAL), (0.8, FAKE)):
        out = []
        for v in variances:
            x = rng.normal(0.0, np.sqrt(v), size=(4096, 1))
            y, _ = nn.BatchNorm1d(1, eps, dtype="float64").forward(x, train=True)
            out.append(y.var())
        right.semilogx(variances, out, color=color, lw=2, label=f"BatchNorm1d(n, eps={eps:g})")
    right.set_xlabel("variance of the input feature")
    right.set_ylabel("variance of x̂ (gamma = 1, beta = 0)")
    right.set_title("BatchNorm1d(n, 0.8) sets eps = 0.8")
    right.set_ylim(0, 1.1)
    right.legend(fontsize=8, loc="lower right")
    save(fig, "batchnorm")


# ----------------------------------------------------------------------------- lesson 05
def fig_optimizers():
    """Left: optimizer paths on a narrow valley.  Right: Adam's first steps with and without
    bias correction, for a constant gradient."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    scales = np.array([1.0, 25.0])  # f(θ) = ½(θ0² + 25·θ1²): a valley 5 times narrower in θ1

    def path(make, steps=40):
        params = np.array([-4.0, 1.5])
        grads = np.zeros(2)
        opt = make(params, grads)
        points = [params.copy()]
        for _ in range(steps):
            grads[...] = scales * params  # ∇f
            opt.step()
            points.append(params.copy())
        return np.array(points)

    u, v = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-2, 2, 200))
    left.contour(u, v, 0.5 * (u ** 2 + 25 * v ** 2), levels=[0.1, 0.5, 2, 5, 10, 20, 35], colors="0.8")
    runs = [("SGD, lr 0.07", lambda p, g: optim.SGD(p, g, lr=0.07), "0.4"),
            ("SGD + momentum 0.8, lr 0.02", lambda p, g: optim.SGD(p, g, lr=0.02, momentum=0.8), DISC),
            ("RMSprop, lr 0.05", lambda p, g: optim.RMSprop(p, g, lr=0.05), "#9467bd"),
            ("Adam (0.9, 0.999), lr 0.2", lambda p, g: optim.Adam(p, g, lr=0.2), REAL),
            ("Adam (0.5, 0.999), lr 0.2", lambda p, g: optim.Adam(p, g, lr=0.2, betas=(0.5, 0.999)), FAKE)]
    for label, make, color in runs:
        pts = path(make)
        left.plot(pts[:, 0], pts[:, 1], ".-", color=color, lw=1.2, ms=3, label=label)
    left.plot([0], [0], "k*", ms=10)
    left.set_xlabel("θ0")
    left.set_ylabel("θ1")
    left.set_title("40 steps on f(θ) = ½(θ0² + 25·θ1²)")
    left.legend(fontsize=8, loc="lower right")
    left.set_xlim(-4.5, 1.5)
    left.set_ylim(-2, 2)

    t = np.arange(1, 3001)
    for (b1, b2), color in (((0.9, 0.999), REAL), ((0.5, 0.999), FAKE)):
        params, grads = np.zeros(1), np.ones(1)  # a constant gradient g = 1
        opt = optim.Adam(params, grads, lr=1.0, betas=(b1, b2))
        steps = []
        for _ in t:
            before = params.copy()
            opt.step()
            steps.append(abs(params - before)[0])
        right.semilogx(t, steps, color=color, lw=2, label=f"tinygan Adam {b1, b2}: |Δθ| / lr")
        raw = (1 - b1 ** t) / np.sqrt(1 - b2 ** t)  # m / sqrt(v) without the corrections
        right.semilogx(t, raw, color=color, lw=2, ls="--", label=f"without bias correction {b1, b2}")
    right.axhline(1, color="gray", lw=0.6)
    right.set_xlabel("step t (constant gradient g = 1)")
    right.set_ylabel("step size / lr")
    right.set_title("bias correction keeps the first steps the right size")
    right.legend(fontsize=8)
    save(fig, "optimizers")


# ----------------------------------------------------------------------------- lesson 06
def fig_gradcheck_h():
    """rel_error between backprop and central differences, against the step h, in two dtypes."""
    hs = np.logspace(-11, -0.5, 43)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    rng = Random(0)  # one network and one batch, drawn in float64 and rounded for float32
    net64 = nn.Sequential(nn.Dense(4, 5, rng=rng, dtype="float64"), nn.Tanh(), nn.Dense(5, 1, rng=rng, dtype="float64"))
    x64 = rng.normal((6, 4), dtype="float64")
    for dtype, color in (("float64", REAL), ("float32", FAKE)):
        net = nn.Sequential(nn.Dense(4, 5, dtype=dtype), nn.Tanh(), nn.Dense(5, 1, dtype=dtype))
        net.flat_params[...] = net64.flat_params
        x, t = x64.astype(dtype), np.ones((6, 1), dtype)
        y, caches = net.forward(x)
        net.zero_grad()
        net.backward(losses.bce_with_logits(y, t)[1], caches)
        analytic = net.flat_grads.copy()

        def loss():
            return losses.bce_with_logits(net.forward(x)[0], t)[0]

        errors = [gradcheck.rel_error(analytic, gradcheck.numerical_gradient(loss, net.flat_params, h=h))
                  for h in hs]
        ax.loglog(hs, np.maximum(errors, 1e-16), "o-", color=color, ms=3, lw=1.5, label=dtype)
        eps = np.finfo(dtype).eps
        ax.loglog(hs, eps / hs, ":", color=color, lw=1, label=f"ε/h, ε = {eps:.1e} (rounding)")
    ax.loglog(hs, 0.1 * hs ** 2, "k--", lw=1, label="~h² (truncation)")
    ax.axvline(1e-6, color="gray", lw=0.6)
    ax.text(1.2e-6, 3e-14, "gradcheck default\nh = 1e-6", fontsize=8)
    ax.axhspan(1e-3, 10, color="#fbe3e3", zorder=0)
    ax.text(3e-11, 2e-3, "≥ 1e-3: a bug (or float32)", fontsize=8)
    ax.set_ylim(1e-14, 3)
    ax.set_xlabel("finite-difference step h")
    ax.set_ylabel("rel_error(backprop, central difference)")
    ax.set_title("A small network's gradient check: error vs step size")
    ax.legend(fontsize=8, loc="lower left")
    save(fig, "gradcheck_h")


# ----------------------------------------------------------------------------- lesson 07
def fig_mnist_run(steps=2400):
    """A real (short) MNIST run of tinygan.train.Trainer: fixed-noise grids over time,
    the EMA generator against the last iterate, and the D(x), D(G(z)) curves.
    2400 steps take under a minute on a laptop CPU."""
    from tinygan import train

    config = train.Config()  # the "default" recipe: small LeakyReLU nets, dropout in D, EMA 0.999, batch 256
    trainer = train.Trainer(config, train.load_training_data(config))
    keep = trainer.fixed_noise[:16]  # 16 of the 64 fixed noise vectors, as 4 x 4 tiles
    snaps, records, wanted = [], [], [0, 100, 400]
    sums, count = np.zeros(4), 0
    snaps.append((0, train.image_grid(trainer.sampling_generator()(keep), cols=4)))
    while trainer.step < steps:
        stats = trainer.train_step()
        sums += [float(v) for v in (stats.loss_d, stats.loss_g, stats.d_real, stats.d_fake)]
        count += 1
        if trainer.step % 25 == 0:
            records.append((trainer.step, *(sums / count)))
            sums, count = np.zeros(4), 0
        if trainer.epoch_done():
            trainer.start_next_epoch()
        if trainer.step in wanted[1:]:
            snaps.append((trainer.step, train.image_grid(trainer.sampling_generator()(keep), cols=4)))
    snaps.append((trainer.step, train.image_grid(trainer.sampling_generator()(keep), cols=4)))
    raw = train.image_grid(trainer.G(keep), cols=4)

    fig = plt.figure(figsize=(11, 5.4))
    grid = fig.add_gridspec(2, 5, height_ratios=[1, 1.05])
    for i, (step, image) in enumerate(snaps):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"EMA G, step {step}", fontsize=9)
        ax.axis("off")
    ax = fig.add_subplot(grid[0, 4])
    ax.imshow(raw, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(f"last-iterate G, step {trainer.step}", fontsize=9)
    ax.axis("off")
    rec = np.array(records)
    left, right = fig.add_subplot(grid[1, :2]), fig.add_subplot(grid[1, 2:])
    left.plot(rec[:, 0], rec[:, 1], label="loss_D", color=REAL)
    left.plot(rec[:, 0], rec[:, 2], label="loss_G", color=FAKE)
    left.set_xlabel("generator step")
    left.set_title("losses (means over 25 steps)", fontsize=10)
    left.legend(fontsize=8)
    right.plot(rec[:, 0], rec[:, 3], label="mean D(x)", color=REAL)
    right.plot(rec[:, 0], rec[:, 4], label="mean D(G(z))", color=FAKE)
    right.axhline(0.5, color="gray", lw=0.8, ls="--")
    right.set_ylim(0, 1)
    right.set_xlabel("generator step")
    right.set_title("discriminator outputs (0.5 = cannot tell)", fontsize=10)
    right.legend(fontsize=8)
    fig.suptitle(f"python -m tinygan.train --data mnist, default recipe, first {trainer.step} steps "
                 f"({trainer.epoch} epochs + {trainer.cursor} batches) of one run, seed 0", fontsize=11)
    fig.tight_layout()
    save(fig, "mnist_run")
    shrink(HERE / "mnist_run.png")  # the noisy digit grids compress badly


# ----------------------------------------------------------------------------- lesson 08
def fig_fd_sample_size():
    """FD of n *real* training digits against the test set: the bias of small samples."""
    from tinygan import data, evaluate

    x_train, _ = data.load_dataset("mnist", "train")
    order = np.random.default_rng(0).permutation(len(x_train))
    sizes = [100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for draw, color in zip(range(3), (REAL, FAKE, DISC)):
        picks = np.roll(order, draw * 20000)
        fds = [evaluate.evaluate_samples(x_train[picks[:n]])["fd"] for n in sizes]
        ax.loglog(sizes, fds, "o-", color=color, ms=4, label=f"real training digits, draw {draw + 1}")
    ax.set_xlabel("number of samples n")
    ax.set_ylabel("FD to the MNIST test set")
    ax.set_title("Real digits scored as if generated: the FD depends on n", fontsize=10)
    ax.legend(fontsize=8)
    save(fig, "fd_sample_size")


# ----------------------------------------------------------------------------- lesson 09
def shrink(path, limit_kb=190):
    """Re-encode a PNG over ``limit_kb`` with a 256-colour palette (the lessons' limit is 200 KB)."""
    from PIL import Image

    if path.stat().st_size <= limit_kb * 1024:
        return
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)


def _theory_figure(name, make, produced):
    """Run a tinygan.theory check that draws into a directory; keep its figure as <name>.png."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = make(tmp)
        shutil.copy(pathlib.Path(tmp) / produced, HERE / f"{name}.png")
    path = HERE / f"{name}.png"
    shrink(path)
    print(f"wrote {path.relative_to(HERE.parent.parent)} ({path.stat().st_size // 1024} KB): "
          f"{result.status if hasattr(result, 'status') else ''}")


def fig_optimal_discriminator():
    """theory.check_learned_discriminator: a trained D against D* = p/(p+q)."""
    from tinygan import theory

    _theory_figure("optimal_discriminator", lambda d: theory.check_learned_discriminator(out=d),
                   "1b_optimal_discriminator.png")


def fig_figure1():
    """theory.check_figure1: Goodfellow et al.'s Figure 1 with tinygan."""
    from tinygan import theory

    _theory_figure("figure1", lambda d: theory.check_figure1(out=d), "6_figure1.png")


def fig_jsd_gaussians():
    """C(G) + log 4 = 2·JSD, and W1, for N(0, 1) against N(μ, 1) as μ moves away."""
    from tinygan import theory

    mus = np.linspace(0, 8, 41)
    c = np.array([theory.gaussian_c_and_jsd(0.0, 1.0, m, 1.0)[0] for m in mus])
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(mus, c, color=REAL, lw=2, label="C(G) = max_D V(G, D)  (quadrature)")
    ax.plot(mus, (c + np.log(4)) / 2, color=FAKE, lw=2, ls="--", label="JSD = (C(G) + log 4)/2")
    ax.plot(mus, mus / 8, color=DISC, lw=1.5, ls=":", label="W1 = |μ|  (scaled by 1/8)")
    ax.axhline(-np.log(4), color="gray", lw=0.8)
    ax.axhline(np.log(2), color="gray", lw=0.8)
    ax.text(5.2, -np.log(4) + 0.05, "−log 4 (p_g = p_data)", fontsize=8)
    ax.text(0.2, np.log(2) + 0.04, "log 2 (disjoint)", fontsize=8)
    ax.set_xlabel("μ: p_data = N(0, 1), p_g = N(μ, 1)")
    ax.set_title("JSD saturates at log 2; W1 keeps growing", fontsize=10)
    ax.legend(fontsize=8, loc="center right")
    save(fig, "jsd_gaussians")


# ----------------------------------------------------------------------------- lesson 10
def fig_saturation_mnist():
    """theory.check_saturation_mnist: ‖∇G‖ of both losses as D learns to reject G's fakes."""
    from tinygan import theory

    _theory_figure("saturation_mnist", lambda d: theory.check_saturation_mnist(out=d),
                   "4b_saturation_mnist.png")


def fig_mode_collapse():
    """theory.run_mode_collapse: short toy GANs on ring8 and grid25, both losses, k = 1, 5."""
    from tinygan import theory

    _theory_figure("mode_collapse", lambda d: theory.run_mode_collapse(out=d)[0],
                   "7_mode_collapse.png")


# ----------------------------------------------------------------------------- lesson 12
def fig_blots(steps=(13_000, 26_000, 40_000)):
    """Lesson 12's blots: the default recipe with D's spread feature measured by the
    standard deviation (nn.MinibatchStd, as the preset had it) and by the mean absolute
    deviation (the preset now), from the same initial weights.  FD of the EMA generator as
    training goes on, and at the end the 32 of 10,000 samples farthest from the test
    digits in the evaluator's features.  Two runs of 40,000 steps: about 20 minutes on
    the 2-core development machine."""
    from tinygan import classifier, evaluate, models, train
    from tinygan.data import load_dataset

    net = classifier.load_classifier()
    test_features, _ = classifier.features_and_logits(net, load_dataset("mnist", "test")[0])
    mu, cov = evaluate.feature_statistics(test_features)
    precision = np.linalg.inv(cov)
    config = train.Config()  # the default recipe, seed 0
    data = train.load_training_data(config)
    build = models.build_gan
    results = {}
    for spread in (nn.MinibatchStd, nn.MinibatchMeanAbsDev):
        def with_spread(*args, **kwargs):
            G, D = build(*args, **kwargs)
            return G, nn.Sequential([spread() if isinstance(layer, nn.MinibatchSpread) else layer
                                     for layer in D.layers])

        models.build_gan = with_spread
        try:
            trainer = train.Trainer(config, data)
        finally:
            models.build_gan = build
        fds = []
        while trainer.step < steps[-1]:
            if trainer.epoch_done():
                trainer.start_next_epoch()
            trainer.train_step()
            if trainer.step in steps:
                samples = trainer.sample(10_000)
                features, _ = classifier.features_and_logits(net, samples)
                fds.append(evaluate.frechet_distance(*evaluate.feature_statistics(features), mu, cov))
                print(f"{spread.__name__}: step {trainer.step}, FD {fds[-1]:.2f}", flush=True)
        centred = np.asarray(features, dtype=np.float64) - mu
        distance = np.sqrt(np.einsum("ij,jk,ik->i", centred, precision, centred))
        tiles = samples.reshape(-1, 28, 28)
        border = np.concatenate([tiles[:, :3].reshape(len(tiles), -1), tiles[:, -3:].reshape(len(tiles), -1),
                                 tiles[:, :, :3].reshape(len(tiles), -1), tiles[:, :, -3:].reshape(len(tiles), -1)], 1)
        blots = float((border.mean(axis=1) > 0).mean())
        results[spread.__name__] = (fds, samples[np.argsort(-distance)[:32]], blots)

    fig = plt.figure(figsize=(11, 4.2))
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 1.15, 1.15])
    ax = fig.add_subplot(grid[0, 0])
    for (name, (fds, _, _)), color in zip(results.items(), (FAKE, REAL)):
        ax.plot(steps, fds, "o-", color=color, label=name)
    ax.set_xlabel("generator step")
    ax.set_ylabel("FD (lower is better)")
    ax.set_ylim(0, None)
    ax.set_title("FD of the EMA generator", fontsize=10)
    ax.legend(fontsize=8)
    for i, (name, (fds, far, blots)) in enumerate(results.items()):
        ax = fig.add_subplot(grid[0, i + 1])
        ax.imshow(train.image_grid(far, cols=8), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{name}: the 32 farthest of 10,000\n(white background: {blots:.1%} of samples)", fontsize=9)
        ax.axis("off")
    fig.suptitle(f"default recipe, seed 0, two BLAS threads: D's spread feature, {steps[-1]:,} steps", fontsize=11)
    fig.tight_layout()
    save(fig, "blots")
    shrink(HERE / "blots.png")


# ----------------------------------------------------------------------------- lesson 13
def fig_step_time():
    """Lesson 13's split of a training step into matrix products, Adam's updates and the
    rest, tinygan against PyTorch, drawn by ``benchmarks/products.py`` (which needs
    PyTorch).  A timing: every run draws its own figure.  About five minutes on the
    2-core development machine, which should be otherwise idle."""
    sys.path.insert(0, str(HERE.parent.parent / "benchmarks"))
    import products

    products.main(["--batch-size", "64", "256", "--plot", str(HERE / "step_time.png")])


FIGURES = {name[4:]: f for name, f in dict(globals()).items() if name.startswith("fig_")}

if __name__ == "__main__":
    wanted = sys.argv[1:] or list(FIGURES)
    unknown = [name for name in wanted if name not in FIGURES]
    if unknown:
        print(f"make_figures.py: unknown figure {', '.join(map(repr, unknown))}; "
              f"choose from {', '.join(FIGURES)}", file=sys.stderr)
        sys.exit(2)
    for name in wanted:
        FIGURES[name]()
