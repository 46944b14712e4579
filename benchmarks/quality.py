"""Sample quality in a fixed wall-clock budget: tinygan's default recipe against PyTorch-GAN.

    python benchmarks/quality.py                    # 300 s each, about 11 minutes in all
    python benchmarks/quality.py --seconds 120 --skip-torch

Trains (1) ``python -m tinygan.train --data mnist`` with default settings and (2) a
faithful PyTorch port of PyTorch-GAN's ``implementations/gan/gan.py`` (its MLPs, its
``BatchNorm1d(n, 0.8)`` i.e. eps=0.8, Sigmoid + BCELoss, Adam(2e-4, (0.5, 0.999)), batch
64, G step then D step with ``d_loss = (real + fake) / 2``) for the same number of
seconds on the same data, then scores 10,000 samples of each with ``tinygan.evaluate``.
For PyTorch-GAN the better of its train-mode and eval-mode samples is reported (its own
script saves train-mode samples), so the comparison leans in its favour.

Prints one line per model and a final ``fd_ratio`` = tinygan FD / PyTorch-GAN FD
(tinygan's target: at most 0.25, a quarter of PyTorch-GAN's FD).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def run_tinygan(seconds, seed, out):
    from tinygan import train

    code = train.main(["--data", "mnist", "--max-seconds", str(seconds), "--seed", str(seed), "--out", out])
    if code != 0:
        raise SystemExit(f"tinygan training failed with exit code {code}")
    with open(os.path.join(out, "eval.json")) as f:
        report = json.load(f)
    return report


def run_pytorch_gan(seconds, seed, n_samples=10_000, out=None):
    import numpy as np
    import torch
    from torch import nn

    from tinygan import evaluate
    from tinygan.data import load_dataset

    torch.manual_seed(seed)
    latent_dim, batch_size = 100, 64

    def block(n_in, n_out, normalize=True):
        layers = [nn.Linear(n_in, n_out)]
        if normalize:
            layers.append(nn.BatchNorm1d(n_out, 0.8))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        return layers

    G = nn.Sequential(*block(latent_dim, 128, normalize=False), *block(128, 256), *block(256, 512),
                      *block(512, 1024), nn.Linear(1024, 784), nn.Tanh())
    D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2, inplace=True), nn.Linear(512, 256),
                      nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1), nn.Sigmoid())
    loss = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x, _ = load_dataset("mnist")
    data = torch.from_numpy(x)
    n = data.shape[0]
    valid, fake_label = torch.ones(batch_size, 1), torch.zeros(batch_size, 1)
    start, steps, epoch = time.monotonic(), 0, 0
    while time.monotonic() - start < seconds:
        perm = torch.randperm(n)
        for i in range(n // batch_size):
            if time.monotonic() - start >= seconds:
                break
            real = data[perm[i * batch_size:(i + 1) * batch_size]]
            opt_g.zero_grad()
            gen = G(torch.randn(batch_size, latent_dim))
            g_loss = loss(D(gen), valid)
            g_loss.backward()
            opt_g.step()
            opt_d.zero_grad()
            d_loss = (loss(D(real), valid) + loss(D(gen.detach()), fake_label)) / 2
            d_loss.backward()
            opt_d.step()
            steps += 1
        epoch += 1
    reports = {}
    trained_state = {k: v.clone() for k, v in G.state_dict().items()}
    with torch.no_grad():
        z = torch.from_numpy(np.random.default_rng(1234).standard_normal((n_samples, latent_dim), dtype=np.float32))
        for mode in ("train", "eval"):
            # no_grad does not stop train mode from moving BatchNorm's running statistics:
            # each mode starts from the network as training left it
            G.load_state_dict(trained_state)
            G.train(mode == "train")
            samples = torch.cat([G(z[i:i + 1000]) for i in range(0, n_samples, 1000)]).numpy()
            reports[mode] = evaluate.evaluate_samples(samples)
            if out:
                from tinygan.train import save_samples_figure

                save_samples_figure(samples[:64], os.path.join(out, f"pytorch_gan_{mode}.png"),
                                    f"PyTorch-GAN gan.py, {steps} steps, {mode}-mode samples")
    best = min(reports, key=lambda m: reports[m]["fd"])
    return {**reports[best], "mode": best, "steps": steps, "other_mode_fd": reports["eval" if best == "train" else "train"]["fd"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--skip-tinygan", action="store_true")
    p.add_argument("--out", default=None, help="a directory for both models' sample grids (PNG)")
    args = p.parse_args(argv)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    line = lambda name, r: (f"{name}: fd={r['fd']:.3f} is={r['inception_score']:.2f} "  # noqa: E731
                            f"classes={r['classes_covered']} kl={r['kl_to_uniform']:.3f} steps={r.get('step', r.get('steps'))}")
    ours = None
    if not args.skip_tinygan:
        with tempfile.TemporaryDirectory() as tmp:
            ours = run_tinygan(args.seconds, args.seed, os.path.join(tmp, "run"))
            if args.out:
                import shutil

                shutil.copy(os.path.join(tmp, "run", "samples.png"), os.path.join(args.out, "tinygan.png"))
        print(line("tinygan default", ours), flush=True)
    try:
        import torch  # noqa: F401
    except ImportError:
        args.skip_torch = True
        print("pytorch-gan: skipped (torch is not installed)")
    if not args.skip_torch:
        theirs = run_pytorch_gan(args.seconds, args.seed, out=args.out)
        print(line(f"pytorch-gan ({theirs['mode']}-mode samples; other mode fd={theirs['other_mode_fd']:.3f})", theirs))
        if ours is not None:
            print(f"seconds={args.seconds:g} floor={ours['fd_real_floor']:.3f} fd_ratio={ours['fd'] / theirs['fd']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
