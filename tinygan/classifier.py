"""An MNIST digit classifier built from tinygan's own layers: the judge for generated digits.

A GAN's loss says little about how good its samples are, so ``tinygan.evaluate`` scores
samples with this network instead: its class probabilities give an inception-style score
and a class histogram, and its penultimate layer gives the features for a Fréchet distance.

The network is a plain multilayer perceptron::

    784 → Dense 512 → BatchNorm → ReLU → Dropout
        → Dense 256 → BatchNorm → ReLU → Dropout   ← penultimate features (256)
        → Dense 10                                 ← logits

trained with Adam on softmax cross-entropy.  Each training image is shifted by up to
2 pixels at random (data augmentation): an MLP has no built-in notion that a digit moved
one pixel is the same digit, and showing it such copies helps it generalise.  The
shipped weights (30 epochs, seed 0) reach 99.22% on the MNIST test set.

Weights ship in ``tinygan/weights/mnist_classifier.npz``.  Retrain them with::

    OPENBLAS_NUM_THREADS=1 python -m tinygan.classifier        # seeded; prints test accuracy
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from . import backend, checkpoint, nn, optim
from .cli import ArgumentParser, at_least, command, describe_os_error, output_problem, positive
from .backend import Random, xp
from .losses import softmax_cross_entropy

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "mnist_classifier.npz"
HIDDEN = (512, 256)
FORMAT_VERSION = 1


class WeightsError(ValueError):
    """The classifier weights file is missing, damaged, or does not fit the network."""


def build_classifier(hidden=HIDDEN, dropout: float = 0.2, seed: int = 0) -> nn.Sequential:
    """A fresh, randomly initialised classifier: ``(batch, 784) → (batch, 10)`` logits."""
    rng = Random(seed)
    layers = []
    n_in = 28 * 28
    for i, width in enumerate(hidden):
        layers += [nn.Dense(n_in, width, init="he", rng=rng), nn.BatchNorm1d(width), nn.ReLU(),
                   nn.Dropout(dropout, seed=seed + 1 + i)]
        n_in = width
    layers.append(nn.Dense(n_in, 10, init="xavier", rng=rng))
    return nn.Sequential(layers)


def features_and_logits(net: nn.Sequential, x, batch_size: int = 2000):
    """Eval-mode forward pass that also returns the penultimate activations.

    x: (n, 784) in [−1, 1] → ``(features: (n, 256), logits: (n, 10))``, float32 arrays
    of the module in use.  Runs in batches so memory stays small for large ``n``.
    """
    x = xp.asarray(x, dtype=net.dtype)
    body, head = net.layers[:-1], net.layers[-1]  # the features are what the final Dense reads
    feats, logits = [], []
    for start in range(0, x.shape[0], batch_size):
        h = x[start:start + batch_size]
        for layer in body:
            h = layer.forward(h, train=False)[0]
        feats.append(h)
        logits.append(head.forward(h, train=False)[0])
    return xp.concatenate(feats), xp.concatenate(logits)


def predict(net: nn.Sequential, x, batch_size: int = 2000):
    """Predicted class of each row of x: (n, 784) → (n,) int."""
    return features_and_logits(net, x, batch_size)[1].argmax(axis=1)


def accuracy(net: nn.Sequential, x, labels) -> float:
    """Fraction of rows of x: (n, 784) classified as ``labels: (n,)``."""
    return float((predict(net, x) == xp.asarray(labels)).mean())


# ----------------------------------------------------------------------------- weights I/O

def save_weights(net: nn.Sequential, path=WEIGHTS_PATH, **info) -> Path:
    """Write the network to ``path`` as an ``.npz`` of plain arrays (no pickles).

    Stores ``params`` and ``state`` (the flat buffers), ``hidden`` (the layer widths)
    and any extra scalars in ``info`` (e.g. ``test_accuracy``).
    """
    import numpy  # file I/O happens on the host

    path = Path(path)
    hidden = [layer.n_out for layer in net.layers[:-1] if isinstance(layer, nn.Dense)]
    arrays = {
        "format_version": numpy.asarray(FORMAT_VERSION),
        "hidden": numpy.asarray(hidden, dtype=numpy.int64),
        "params": backend.to_numpy(net.flat_params),
        "state": backend.to_numpy(net.flat_state),
    }
    arrays.update({k: numpy.asarray(v) for k, v in info.items()})
    # what load_classifier would refuse is never written (it would replace the shipped weights)
    for name, array in arrays.items():
        if array.dtype == object or (array.dtype.kind == "f" and not numpy.isfinite(array).all()):
            raise WeightsError(f"not writing {path}: its {name} would hold "
                               f"{'values that are not finite numbers' if array.dtype.kind == 'f' else 'no plain number'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with checkpoint.atomic_write(path) as f:  # the shipped weights are never left half-written
        numpy.savez_compressed(f, **arrays)
    return path


def load_classifier(path=None) -> nn.Sequential:
    """The trained classifier, in eval-ready form, on the device in use.

    ``path`` defaults to the shipped ``tinygan/weights/mnist_classifier.npz``.
    """
    path = Path(path) if path is not None else WEIGHTS_PATH
    if not path.is_file():
        raise WeightsError(f"{path}: classifier weights not found; "
                           "train them with: python -m tinygan.classifier")
    try:
        arrays = checkpoint.read_npz(path)
        version = int(arrays["format_version"])
        hidden = tuple(int(h) for h in arrays["hidden"])
        params, state = arrays["params"], arrays["state"]
        # the dropout rate is not stored: it does nothing in eval mode, the only one used here
        net = build_classifier(hidden)
    except Exception as err:  # zip, format, missing-entry or size errors: the file is not our weights
        raise WeightsError(f"{path}: not a valid classifier weights file "
                           f"({checkpoint.describe_load_error(err)})") from None
    if version != FORMAT_VERSION:
        raise WeightsError(f"{path}: weights format {version}, this tinygan reads format {FORMAT_VERSION}")
    for name, values in (("params", params), ("state", state)):
        if values.dtype.kind != "f" or not bool(xp.isfinite(xp.asarray(values)).all()):
            raise WeightsError(f"{path}: {name} holds values that are not finite numbers")
    if params.shape != net.flat_params.shape or state.shape != net.flat_state.shape:
        raise WeightsError(f"{path}: weights hold {params.size} parameters and {state.size} "
                           f"state values, network {hidden} needs {net.flat_params.size} and "
                           f"{net.flat_state.size}")
    net.flat_params[...] = backend.to_device(params, dtype=net.dtype)
    net.flat_state[...] = backend.to_device(state, dtype=net.dtype)
    return net


# ----------------------------------------------------------------------------- training

def random_shift(images, rng: Random, max_shift: int = 2):
    """Shift each 28×28 image by up to ``max_shift`` pixels in x and y, at random.

    images: (batch, 784) in [−1, 1] → (batch, 784); uncovered pixels become −1
    (background).  One gather with index arrays, no loop over images.
    """
    n = images.shape[0]
    s = max_shift
    padded = xp.full((n, 28 + 2 * s, 28 + 2 * s), -1.0, dtype=images.dtype)
    padded[:, s:s + 28, s:s + 28] = images.reshape(n, 28, 28)
    dy = rng.integers(0, 2 * s + 1, (n,))
    dx = rng.integers(0, 2 * s + 1, (n,))
    rows = dy[:, None] + xp.arange(28)  # (n, 28)
    cols = dx[:, None] + xp.arange(28)
    out = padded[xp.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(n, 28 * 28)


def cosine_learning_rate(lr: float, step: int, total: int) -> float:
    """``lr`` at step 0 falling along half a cosine to ``lr/100`` at step ``total``:
    big steps early, fine-tuning at the end."""
    return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / total)))


TRAIN_SIZE = 60_000  # MNIST's training split


def train(epochs: int = 30, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
          max_shift: int = 2, log=print):
    """Train a classifier on the MNIST train split; returns ``(net, test_accuracy)``.

    Adam with a cosine learning-rate schedule from ``lr`` down to ``lr/100``; every batch
    randomly shifted by up to ``max_shift`` pixels.  Seeded: the same arguments give the
    same network on the same machine.
    """
    from .data import load_dataset

    x_train, y_train = load_dataset("mnist", "train")
    x_test, y_test = load_dataset("mnist", "test")
    x_train, y_train = backend.to_device(x_train), backend.to_device(y_train)
    x_test, y_test = backend.to_device(x_test), backend.to_device(y_test)

    net = build_classifier(seed=seed)
    opt = optim.Adam(net.flat_params, net.flat_grads, lr=lr)
    rng = Random(seed)
    n = x_train.shape[0]
    # Drop the last partial batch: every batch then has batch_size rows (a partial one could
    # have a single row, which BatchNorm cannot normalize).
    steps_per_epoch = n // batch_size
    total = epochs * steps_per_epoch
    log(f"training {net.num_params():,}-parameter classifier: {epochs} epochs of "
        f"{steps_per_epoch} batches of {batch_size}, device {backend.device()}")
    start = time.time()
    step = 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        loss_sum = 0.0
        for b in range(steps_per_epoch):
            opt.lr = cosine_learning_rate(lr, step, total)
            idx = order[b * batch_size:(b + 1) * batch_size]
            xb = x_train[idx]
            if max_shift:
                xb = random_shift(xb, rng, max_shift)
            logits, caches = net.forward(xb, train=True)
            loss, dlogits = softmax_cross_entropy(logits, y_train[idx])
            # accumulate=False writes the gradients (no zero_grad pass), and input_grad=False
            # skips the first layer's input gradient: the input is data (as in gan.py)
            net.backward(dlogits, caches, accumulate=False, input_grad=False)
            opt.step()
            loss_sum += float(loss)
            step += 1
        acc = accuracy(net, x_test, y_test)
        log(f"epoch {epoch:3d}/{epochs}  loss {loss_sum / steps_per_epoch:.4f}  "
            f"test accuracy {100 * acc:.2f}%  ({time.time() - start:.0f} s)")
    return net, acc


@command("python -m tinygan.classifier", interrupted="no weights were written (those at --out are as they were)")
def main(argv=None) -> int:
    parser = ArgumentParser(
        prog="python -m tinygan.classifier",
        description="Train the MNIST classifier that tinygan.evaluate uses and save its weights.")
    parser.add_argument("--epochs", type=positive(int), default=30)
    parser.add_argument("--batch-size", type=at_least(2), default=128,
                        help="2 or more: BatchNorm cannot normalize a single row")
    parser.add_argument("--lr", type=positive(float), default=2e-3)
    parser.add_argument("--seed", type=at_least(0), default=0)
    parser.add_argument("--out", default=WEIGHTS_PATH,
                        help=f"where to write the weights (default: {WEIGHTS_PATH})")
    args = parser.parse_args(argv)
    if args.seed >= 2 ** 63:  # stored with the weights as a 64-bit integer
        parser.error(f"--seed must be below 2**63, got {args.seed}")
    if args.batch_size > TRAIN_SIZE:
        parser.error(f"--batch-size {args.batch_size} is more than the {TRAIN_SIZE:,} training digits")
    try:
        backend.use()
    except backend.BackendError as err:
        parser.fail(str(err))
    if not args.out:  # Path("") would be the current folder
        parser.error("--out is empty; name the file to write the weights to")
    if problem := output_problem(args.out):  # found now, not after half an hour of training
        parser.fail(f"--out: cannot write {args.out}: {problem}")
    start = time.time()
    from .data import DataError

    try:
        net, acc = train(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    except (DataError, OSError) as err:  # the shipped MNIST, missing, unreadable or damaged
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    minutes = (time.time() - start) / 60
    try:
        path = save_weights(net, args.out, test_accuracy=acc, epochs=args.epochs, seed=args.seed)
    except WeightsError as err:  # a diverged training (try a smaller --lr), or a seed past 64 bits
        print(f"{parser.prog}: error: {err}; the weights there are as they were", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"{parser.prog}: error: cannot write {args.out}: {describe_os_error(err)}; the weights "
              f"there are as they were", file=sys.stderr)
        return 1
    print(f"final test accuracy: {100 * acc:.2f}%  (trained in {minutes:.1f} min)")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
