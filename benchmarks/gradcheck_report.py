"""Worst relative error of every backward pass against finite differences, over random draws.

    python benchmarks/gradcheck_report.py --draws 30

One line per layer, loss and optimizer: the largest ``rel_error`` seen (float64), next to
the bound the tests assert for backward passes (1e-6; for the optimizers they assert 1e-12).  The draws are like the tests' (random shapes, values,
weights), kept off kinks and out of the saturated tails as the tests explain.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from gradutil import layer_errors, network_error  # noqa: E402

from tinygan import losses, nn, optim  # noqa: E402
from tinygan.cli import positive  # noqa: E402
from tinygan.backend import Random  # noqa: E402
from tinygan.gradcheck import numerical_gradient, rel_error  # noqa: E402


def draws(n, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield i, rng, (int(rng.integers(2, 7)), int(rng.integers(1, 8)))


def away_from_kink(x):
    return np.where(x >= 0, x + 1e-2, x - 1e-2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--draws", type=positive(int), default=30)
    args = p.parse_args(argv)
    worst = {}

    def record(name, err):
        worst[name] = max(worst.get(name, 0.0), err)

    for i, rng, (b, f) in draws(args.draws):
        x = rng.uniform(-4, 4, (b, f))
        layer = nn.Dense(f, int(rng.integers(1, 8)), rng=Random(i), dtype="float64")
        layer.params["b"][...] = rng.standard_normal(layer.n_out)
        record("Dense", max(layer_errors(layer, x).values()))
        record("ReLU", max(layer_errors(nn.ReLU(), away_from_kink(x)).values()))
        record("LeakyReLU", max(layer_errors(nn.LeakyReLU(0.2), away_from_kink(x)).values()))
        record("Tanh", max(layer_errors(nn.Tanh(), np.clip(x, -3, 3)).values()))
        record("Sigmoid", max(layer_errors(nn.Sigmoid(), rng.uniform(-6, 6, (b, f))).values()))
        bn = nn.BatchNorm1d(f, dtype="float64")
        bn.params["gamma"][...] = rng.standard_normal(f)
        bn.params["beta"][...] = rng.standard_normal(f)
        if b >= 3:  # a batch of 2 normalises to ±1 whatever x is: see tests/test_layers.py
            record("BatchNorm1d (train, batch >= 3)", max(layer_errors(bn, x, train=True).values()))
        record("BatchNorm1d (eval)", max(layer_errors(bn, x, train=False).values()))
        record("Dropout (train, mask fixed)", max(layer_errors(nn.Dropout(0.3, seed=i), x).values()))
        if x.std(axis=0).min() > 1e-2:  # every column spread well above sqrt(eps): see tests/test_layers.py
            record("MinibatchStd", max(layer_errors(nn.MinibatchStd(), x).values()))
        if np.abs(x - x.mean(axis=0)).min() > 1e-4:  # away from |·|'s kink: see tests/test_layers.py
            record("MinibatchMeanAbsDev", max(layer_errors(nn.MinibatchMeanAbsDev(), x).values()))
        a, t = rng.uniform(-15, 15, (b, 1)), rng.uniform(0, 1, (b, 1))
        record("bce_with_logits", rel_error(losses.bce_with_logits(a, t)[1],
                                            numerical_gradient(lambda: losses.bce_with_logits(a, t)[0], a)))
        r, fk = rng.uniform(-15, 15, (b, 1)), rng.uniform(-15, 15, (b + 1, 1))
        _, dr, df = losses.discriminator_loss(r, fk)
        f_d = lambda: losses.discriminator_loss(r, fk)[0]  # noqa: E731
        record("discriminator_loss", rel_error(np.concatenate([dr, df]),
                                               np.concatenate([numerical_gradient(f_d, r), numerical_gradient(f_d, fk)])))
        for name, fn in (("generator_loss_minimax", losses.generator_loss_minimax),
                         ("generator_loss_nonsaturating", losses.generator_loss_nonsaturating)):
            record(name, rel_error(fn(a)[1], numerical_gradient(lambda: fn(a)[0], a)))
        labels = rng.integers(0, 5, b)
        logits = rng.uniform(-10, 10, (b, 5))
        record("softmax_cross_entropy", rel_error(losses.softmax_cross_entropy(logits, labels)[1],
                                                  numerical_gradient(lambda: losses.softmax_cross_entropy(logits, labels)[0], logits)))
        net = nn.Sequential(nn.Dense(6, 5, rng=Random(i), dtype="float64"), nn.BatchNorm1d(5, dtype="float64"),
                            nn.LeakyReLU(0.2), nn.Dropout(0.3, seed=i), nn.Dense(5, 1, rng=Random(i + 1), dtype="float64"))
        tt = (rng.uniform(size=(b, 1)) > 0.5).astype(float)
        err, kink = network_error(net, lambda y: losses.bce_with_logits(y, tt), rng.standard_normal((b, 6)))
        if kink > 1e-4:
            record("Sequential (Dense+BN+LeakyReLU+Dropout+Dense)", err)

    # Optimizers: against the formula-by-formula references of tests/test_optim.py, 300 steps.
    from test_optim import gradient_sequence, reference_adam

    for i in range(min(args.draws, 10)):
        grads = gradient_sequence(i, 37, 300)
        theta = np.random.default_rng(i + 1).standard_normal(37)
        ours, g = theta.copy(), np.zeros(37)
        opt = optim.Adam(ours, g, lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-2)
        for gr in grads:
            g[...] = gr
            opt.step()
        record("Adam (vs Algorithm 1, 300 steps)", rel_error(ours, reference_adam(theta, grads, 1e-2, 0.5, 0.999, 1e-8, 1e-2)))
        for cls, kw, ref in ((optim.SGD, {"momentum": 0.9}, "sgd"), (optim.RMSprop, {"alpha": 0.9}, "rms")):
            ours, g = theta.copy(), np.zeros(37)
            opt = cls(ours, g, lr=1e-2, **kw)
            u, s_, r = np.zeros(37), np.zeros(37), theta.copy()
            for gr in grads:
                g[...] = gr
                opt.step()
                if ref == "sgd":
                    u = 0.9 * u + gr
                    r = r - 1e-2 * u
                else:
                    s_ = 0.9 * s_ + 0.1 * gr * gr
                    r = r - 1e-2 * gr / (np.sqrt(s_) + 1e-8)
            record(f"{cls.__name__} (vs formula, 300 steps)", rel_error(ours, r))
    width = max(len(k) for k in worst)
    for name, err in worst.items():
        print(f"{name:<{width}}  worst rel_error {err:.2e}  ({'ok' if err <= 1e-6 else 'ABOVE 1e-6'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
