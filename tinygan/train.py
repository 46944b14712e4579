"""Train a GAN: ``python -m tinygan.train --data mnist``.

A run directory (``--out``, default ``runs/<data>-<arch>-<time>``) receives:

- ``config.json``      the run's settings, written as it starts (a folder holding one is
                       a run's: a new run will not write into it);
- ``checkpoint.npz``   both networks, both optimizers, the EMA generator, counters, RNG
                       states and the config (see ``tinygan.checkpoint``), after every
                       epoch, at the end, and on Ctrl-C;
- ``samples/epoch_NNN.png`` and ``samples.png``   the same fixed noise drawn every epoch;
- ``curves.png``       losses and mean D(x), D(G(z)) over training;
- ``metrics.jsonl``    one JSON line per 100 steps, at each epoch's end, and where
                       training stops;
- ``eval.json``        the final evaluation (the shipped MNIST only): Fréchet distance,
                       score, class counts.

``--resume`` continues a run from its checkpoint exactly where it stopped: a run of 2N
steps and a run of N steps, resumed for N more, end with bitwise-equal parameters on CPU.
Without ``--steps``/``--epochs``/``--max-seconds`` it goes on to the limits the run was
last given (kept in the checkpoint), so an interrupted run ends where it would have.
The checkpoint also keeps NumPy's BLAS thread count, which a resume sets back
(``--threads`` overrides it): the count changes the last bits of every matrix product.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import itertools
import json
import math
import os
import re
import shlex
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import backend, checkpoint, gan, models, nn, optim
from .cli import (STDOUT, STOP_SIGNALS, ArgumentParser, DefaultsWhenSetFormatter, Stopped, at_least, catch_signals,
                  command, describe_os_error, positive, signal_name, silence_stdout, unit_interval)
from .backend import Random, to_numpy, xp
from .losses import LOSSES

IMAGE_DATA = ("mnist", "fashion-mnist")


def toy_datasets():
    from . import toy

    return tuple(toy.DATASETS)


# Training settings that go with each architecture when the command line does not set them.
# "default" is tinygan's recipe for MNIST quality in five minutes on a CPU.  Beyond the
# plain recipe it keeps three tricks: an exponential moving average of G's weights, used
# for samples (Yazıcı et al. 2019), because the last iterate of a GAN jitters; and, in D
# (in ``models.build_gan``), dropout, which kept D from favouring some digits, and a
# minibatch spread feature, which lowered the FD further (measured with the standard
# deviation; the mean absolute deviation replaced it because with the standard deviation,
# runs got worse after five minutes).  Two time-scale
# learning rates (lr_d 4e-4, lr_g 1e-4) and label smoothing 0.9 were measured and did not
# help.  Its batch of 256 with a rate of 8e-4 is the ``seed`` recipe's batch of 64 at 2e-4
# (PyTorch-GAN's gan.py) scaled up
# together (the linear scaling rule): the larger products use the CPU better, so five
# minutes show D and G more examples, and two seeds reached FD 1.5 and 1.6 against 2.6 and
# 2.5 (at the old rate a larger batch did worse, and batch 256 at 4e-4 no better; lesson 12
# has the measurements).
# "seed" and "pytorch-gan" keep the plain recipe of their sources, so comparisons are fair.
RECIPES = {
    "default": dict(loss="nonsaturating", d_steps=1, batch_size=256, lr_g=8e-4, lr_d=8e-4,
                    beta1=0.5, beta2=0.999, ema=0.999, label_smoothing=1.0),
    "seed": dict(loss="nonsaturating", d_steps=1, batch_size=64, lr_g=2e-4, lr_d=2e-4,
                 beta1=0.5, beta2=0.999, ema=0.0, label_smoothing=1.0),
    "pytorch-gan": dict(loss="nonsaturating", d_steps=1, batch_size=64, lr_g=2e-4, lr_d=2e-4,
                        beta1=0.5, beta2=0.999, ema=0.0, label_smoothing=1.0),
    "toy": dict(loss="nonsaturating", d_steps=1, batch_size=128, lr_g=1e-3, lr_d=1e-3,
                beta1=0.5, beta2=0.999, ema=0.0, label_smoothing=1.0),
}


@dataclass
class Config:
    """Everything that defines a run; saved in its checkpoint and ``config.json``.

    The defaults are the ``default`` recipe's: ``Config(arch="seed")`` keeps its EMA of
    0.999, so give the recipe's values too (``**RECIPES["seed"]``), as the command line
    does in :func:`config_from_args`.  ``data_dir`` is stored as an absolute path, so a
    run resumes from any working directory.
    """

    data: str = "mnist"
    data_dir: str | None = None
    arch: str = "default"
    loss: str = "nonsaturating"
    d_steps: int = 1
    batch_size: int = 256
    lr_g: float = 8e-4
    lr_d: float = 8e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema: float = 0.999
    label_smoothing: float = 1.0  # the target for real data; 1.0 means none
    z_dim: int = 100
    seed: int = 0
    subset: int | None = None

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        """The Config a checkpoint stored, checked: ``TypeError`` for a field this version
        lacks, ``ValueError`` for a value no run can have (a hand-edited file)."""
        if not isinstance(values, dict):
            raise TypeError(f"the config is a {type(values).__name__}, not a JSON object")
        values = {k: v for k, v in values.items() if k != "extra"}  # an unused field of older checkpoints
        config = cls(**values)
        config.check()
        return config

    def check(self):
        """Raise ``ValueError`` naming the first field whose value no run can have."""
        def integer(value, low):
            return isinstance(value, int) and not isinstance(value, bool) and value >= low

        def number(value, low, high, closed_low, closed_high):
            return (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and (low <= value if closed_low else low < value)
                    and (value <= high if closed_high else value < high))

        valid = {
            "data": self.data in IMAGE_DATA + toy_datasets(), "arch": self.arch in models.ARCHS,
            "loss": self.loss in LOSSES, "data_dir": self.data_dir is None or isinstance(self.data_dir, str),
            "d_steps": integer(self.d_steps, 1), "batch_size": integer(self.batch_size, 1),
            "z_dim": integer(self.z_dim, 1), "seed": integer(self.seed, 0),
            "subset": self.subset is None or integer(self.subset, 1),
            "lr_g": number(self.lr_g, 0, math.inf, False, False), "lr_d": number(self.lr_d, 0, math.inf, False, False),
            "beta1": number(self.beta1, 0, 1, True, False), "beta2": number(self.beta2, 0, 1, True, False),
            "ema": number(self.ema, 0, 1, True, False),
            "label_smoothing": number(self.label_smoothing, 0, 1, False, True),
        }
        for name, ok in valid.items():
            if not ok:
                raise ValueError(f"config field {name} = {getattr(self, name)!r} is not a value a run can have")


# Options a resumed run may change: how long it runs, where (cpu or gpu, and on how many
# BLAS threads; the numbers then differ in the last bits), and its final evaluation; not
# the model or the training.
RESUMABLE_OVERRIDES = ("steps", "epochs", "max_seconds", "device", "threads", "eval_samples", "no_eval")


class TrainingError(RuntimeError):
    """Training cannot go on, for a reason the user should read: a loss or weight that is
    not finite, or a training set too small for one iteration."""


def load_training_data(config: Config):
    """Return the training set as a host float32 array ``(n, data_dim)``."""
    if config.data in IMAGE_DATA or config.data_dir:
        from .data import load_dataset

        x, _ = load_dataset(config.data, split="train", data_dir=config.data_dir)
    else:
        from . import toy

        x = to_numpy(toy.sample(config.data, 50_000, Random(config.seed + 3)))
    if config.subset:
        x = x[: config.subset]
    return np.ascontiguousarray(x, dtype=np.float32)


def data_fingerprint(data) -> str:
    """SHA-256 of the training array ``data`` (n, features) as the run reads it."""
    little_endian = np.ascontiguousarray(data, dtype="<f4")  # the same bytes on any machine
    return hashlib.sha256(little_endian.view(np.uint8)).hexdigest()


class Trainer:
    """Holds the networks, optimizers, data order and counters of one run."""

    def __init__(self, config: Config, data):
        self.config = c = config
        self.data_dim = data.shape[1]
        self.x_train = backend.to_device(data)
        self.n = data.shape[0]
        if self.n < c.batch_size * c.d_steps:
            raise TrainingError(
                f"the training set has {self.n} examples, fewer than one iteration uses "
                f"(--batch-size {c.batch_size} × --d-steps {c.d_steps} real examples)")
        self.batches_per_epoch = self.n // c.batch_size
        # A folder of the user's (--data-dir) can move or change; the checkpoint keeps this
        # to tell, on resume, that a folder holds the data the run trained on.
        self.data_sha256 = data_fingerprint(data) if c.data_dir else None
        self.G, self.D = models.build_gan(c.arch, Random(c.seed), c.z_dim, self.data_dim)
        if c.batch_size < 2 and any(isinstance(layer, nn.BatchNorm1d) for layer in self.G.layers + self.D.layers):
            raise TrainingError(f"--batch-size 1: arch {c.arch} has BatchNorm, whose statistics of a batch "
                                f"need at least 2 examples")
        self.G_ema = None
        if c.ema > 0:
            # a second G of the same preset (its D is dropped), then G's weights copied in:
            # not copy.deepcopy, which would cut the layers' views into the flat buffers
            self.G_ema, _ = models.build_gan(c.arch, Random(c.seed), c.z_dim, self.data_dim)
            self.G_ema.flat_params[...] = self.G.flat_params
        betas = (c.beta1, c.beta2)
        self.opt_g = optim.Adam(self.G.flat_params, self.G.flat_grads, c.lr_g, betas)
        self.opt_d = optim.Adam(self.D.flat_params, self.D.flat_grads, c.lr_d, betas)
        # One stream per purpose: weights from seed, data order and noise from seed + 1, the
        # fixed noise of the grids from seed + 2, toy data from seed + 3.  Seed k + 1's weights
        # therefore come from the stream of seed k's data order and noise, read at another
        # offset (the permutation is drawn first) for another use: we take runs of adjacent
        # seeds as independent enough to compare, but not in the strict sense.
        self.rng = Random(c.seed + 1)  # data order and noise
        self.fixed_noise = Random(c.seed + 2).normal((64, c.z_dim))
        self.step = 0  # generator steps taken
        self.epoch = 0  # epochs completed
        self.cursor = 0  # real batches used in the current epoch
        self.seconds = 0.0  # wall-clock seconds spent training, over every invocation
        # Where the command line was told to stop, kept so that --resume without limits
        # continues to them: {"steps": total or None, "epochs": total or None,
        # "seconds": a time on the ``seconds`` clock, or None}.  None: not set.
        self.limits = None
        self.perm = self.rng.permutation(self.n)

    # --- data ---------------------------------------------------------------
    def next_real_batch(self):
        """The next real batch ``(batch, data_dim)`` in this epoch's seeded order."""
        b = self.config.batch_size
        idx = self.perm[self.cursor * b:(self.cursor + 1) * b]
        self.cursor += 1
        return self.x_train[idx]

    def noise(self):
        """A noise batch ``(batch, z_dim)`` from the run's stream."""
        return self.rng.normal((self.config.batch_size, self.config.z_dim))

    def epoch_done(self) -> bool:
        return self.cursor + self.config.d_steps > self.batches_per_epoch

    def start_next_epoch(self):
        self.epoch += 1
        self.cursor = 0
        self.perm = self.rng.permutation(self.n)

    # --- one iteration -------------------------------------------------------
    def train_step(self) -> gan.StepStats:
        """One GAN iteration on the next real batches of this epoch."""
        c = self.config
        if self.epoch_done():
            raise RuntimeError("this epoch's batches are used up: call start_next_epoch() first")
        stats = gan.train_step(self.G, self.D, self.opt_g, self.opt_d, self.next_real_batch, self.noise,
                               d_steps=c.d_steps, loss=c.loss, real_target=c.label_smoothing)
        if self.G_ema is not None:
            gan.ema_update(self.G_ema.flat_params, self.G.flat_params, self.ema_decay(self.step))
        self.step += 1
        return stats

    def ema_decay(self, step: int) -> float:
        """The EMA decay used after iteration ``step`` (counting from 0):
        ``min(ema, (1 + step) / (10 + step))``.

        The warm-up matters because with the full decay from the start the average would
        mostly remember the random initial weights for thousands of steps.
        """
        return min(self.config.ema, (1 + step) / (10 + step))

    def sampling_generator(self):
        """The generator used for samples: the EMA one when there is one.

        The EMA generator averages weights only, so this first copies G's BatchNorm
        running statistics into it (``pytorch-gan`` has BatchNorm in G).
        """
        if self.G_ema is None:
            return self.G
        self.G_ema.flat_state[...] = self.G.flat_state  # BatchNorm statistics, if any
        return self.G_ema

    def sample(self, n: int, seed: int = 1234):
        """``n`` samples ``(n, data_dim)`` as a host float32 array (eval mode)."""
        from .sample import generate

        return generate(self.sampling_generator(), self.config, n, seed)

    # --- checkpoints ---------------------------------------------------------
    def state_buffers(self) -> dict:
        """The arrays a checkpoint holds besides the data order, by name, as the trainer
        keeps them: :meth:`state_arrays` copies them out for :meth:`save`, and
        :meth:`load_state` fills them in, so the two read one list and cannot disagree (a
        bitwise resume rests on that)."""
        buffers = {"G_params": self.G.flat_params, "G_state": self.G.flat_state,
                   "D_params": self.D.flat_params, "D_state": self.D.flat_state}
        if self.G_ema is not None:
            buffers["G_ema_params"] = self.G_ema.flat_params
        for name, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            for key in opt.state_names:
                buffers[f"{name}_{key}"] = getattr(opt, key)
        return buffers

    def state_arrays(self) -> dict:
        """The checkpoint's arrays (name -> host array): networks, optimizers, data order."""
        return {k: to_numpy(v) for k, v in {**self.state_buffers(), "perm": self.perm}.items()}

    def state_meta(self) -> dict:
        """The checkpoint's JSON part: config, counters, RNG states, clock and limits."""
        return {"config": dataclasses.asdict(self.config), "data_dim": self.data_dim, "step": self.step, "epoch": self.epoch,
                "cursor": self.cursor, "rng": self.rng.get_state(), "d_rng": self.D.get_rng_states(),
                "g_rng": self.G.get_rng_states(), "opt_g_t": self.opt_g.t, "opt_d_t": self.opt_d.t,
                "seconds": self.seconds, "limits": self.limits, "blas_threads": backend.blas_threads(),
                "data_sha256": self.data_sha256}

    def save(self, path):
        """Write a checkpoint, refusing a state that is no longer finite.

        A loss is computed before its update, so a blown-up update shows in the weights
        first: checking them here keeps NaN out of the "last good" checkpoint.  The rest is
        checked too, because ``load_state`` refuses any value that is not finite: Adam's
        ``v_sum`` of squared gradients overflows float32 (past 3.4e38) while the weights,
        their steps divided by its square root, can stay finite.
        """
        arrays = self.state_arrays()
        for name, array in arrays.items():
            if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
                if name.endswith("_params"):  # G_params, D_params, G_ema_params
                    what = f"{name.removesuffix('_params')}'s weights are"
                elif name.startswith("opt_"):  # opt_g_m_sum: G's optimizer
                    what = f"{name[4].upper()}'s optimizer state ({name}) is"
                else:  # G_state, D_state: BatchNorm's running statistics
                    what = f"{name[0]}'s running statistics ({name}) is"
                raise TrainingError(f"{what} no longer finite at step {self.step}; "
                                    f"training stopped and {last_checkpoint(path)}. {SMALLER_LR}")
        checkpoint.save(path, arrays, self.state_meta())

    def load_state(self, arrays: dict, meta: dict, path="checkpoint"):
        """Put a checkpoint's state into this trainer (built from the same config).

        Everything is checked before anything is put in, so a refused checkpoint
        (``checkpoint.CheckpointError``) leaves the trainer as it was.
        """
        def damaged(what):
            return checkpoint.CheckpointError(f"{path} holds a damaged training state ({what})")

        stored_data = meta.get("data_sha256")  # absent from checkpoints before it was kept
        if stored_data is not None and not (isinstance(stored_data, str) and len(stored_data) == 64):
            raise checkpoint.CheckpointError(f"{path} holds a damaged data fingerprint ({stored_data!r:.70})")
        if stored_data is not None and self.data_sha256 is not None and stored_data != self.data_sha256:
            raise checkpoint.CheckpointError(
                f"{path} was trained on other data than {self.config.data_dir} holds now (their SHA-256 "
                f"differ), so a resume would not continue the same run")
        buffers = self.state_buffers()
        for name in (*buffers, "perm"):
            if name not in arrays:
                raise checkpoint.CheckpointError(f"{path} lacks {name!r}; it was not written by this trainer")
        for name, dst in buffers.items():
            if arrays[name].shape != tuple(dst.shape):
                raise checkpoint.CheckpointError(
                    f"{path}: {name} has shape {arrays[name].shape}, this model needs {tuple(dst.shape)}")
            if not np.issubdtype(arrays[name].dtype, np.floating):
                raise checkpoint.CheckpointError(f"{path}: {name} holds {arrays[name].dtype}, not numbers")
            if not np.isfinite(arrays[name]).all():
                raise checkpoint.CheckpointError(f"{path}: {name} holds values that are not finite numbers")
            if name.endswith(("_v_sum", "_square_avg")) and (arrays[name] < 0).any():  # sums of squares
                raise checkpoint.CheckpointError(f"{path}: {name} holds negative values, which a sum of squares cannot")
        perm = arrays["perm"]
        if perm.shape != (self.n,):
            raise checkpoint.CheckpointError(f"{path} was trained on {perm.shape[0]} examples, "
                                             f"this data set has {self.n}")
        if not np.issubdtype(perm.dtype, np.integer) or not np.array_equal(np.sort(perm), np.arange(self.n)):
            raise checkpoint.CheckpointError(f"{path}: 'perm' is not an order of the {self.n} examples")
        try:
            counters = {name: meta[name] for name in ("step", "epoch", "cursor", "opt_g_t", "opt_d_t")}
            rng_states = meta["rng"], meta["d_rng"], meta["g_rng"]
        except KeyError as err:
            raise checkpoint.CheckpointError(f"{path} lacks {err}; it was not written by this trainer") from None
        for name, value in counters.items():
            # 2**53: beyond it a count is no longer exact as a float (Adam's β**t takes it as one)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2 ** 53:
                raise damaged(f"{name} = {value!r:.40}{'...' if len(repr(value)) > 40 else ''}")
        if counters["cursor"] + self.config.d_steps > self.batches_per_epoch:
            raise damaged(f"cursor = {counters['cursor']}: past the epoch's {self.batches_per_epoch} batches")
        seconds = meta.get("seconds", 0.0)  # absent from checkpoints before it was kept
        if not finite_number(seconds) or seconds < 0:
            raise damaged(f"seconds = {seconds!r}")
        limits = meta.get("limits")  # likewise
        if limits is not None and not (isinstance(limits, dict) and all(
                value is None or finite_number(value) and value >= 0
                for value in (limits.get(k) for k in ("steps", "epochs", "seconds")))):
            raise damaged(f"limits = {limits!r}")
        threads = meta.get("blas_threads")  # likewise; None also where the BLAS's count is unknown
        if threads is not None and not (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1):
            raise damaged(f"blas_threads = {threads!r}")
        # The generators' states can only be checked by setting them: where one is refused,
        # those already set are put back
        before = self.rng.get_state(), self.D.get_rng_states(), self.G.get_rng_states()
        try:
            self.rng.set_state(rng_states[0])
            self.D.set_rng_states(rng_states[1])
            self.G.set_rng_states(rng_states[2])
        except (KeyError, TypeError, ValueError, OverflowError) as err:  # Overflow: a state past 128 bits
            self.rng.set_state(before[0])
            self.D.set_rng_states(before[1])
            self.G.set_rng_states(before[2])
            if isinstance(err, KeyError):  # a generator's state without its "state" or "inc"
                raise checkpoint.CheckpointError(f"{path} lacks {err}; it was not written by this trainer") from None
            raise damaged(err) from None
        for name, dst in buffers.items():
            dst[...] = xp.asarray(arrays[name])
        self.perm = xp.asarray(perm)
        self.step, self.epoch, self.cursor = counters["step"], counters["epoch"], counters["cursor"]
        self.opt_g.t, self.opt_d.t = counters["opt_g_t"], counters["opt_d_t"]
        self.seconds, self.limits = float(seconds), limits


def finite_number(value) -> bool:
    """Whether a value read from JSON is a finite number (not a bool).  An int past the
    range of floats (about 1.8e308) is not: the ETA and the limits' messages compute with
    it as a float, and ``math.isfinite`` itself raises OverflowError on it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


EVAL_SAMPLES = 10_000  # the final evaluation's samples, as lesson 8 compares them
SMALLER_LR = "Try a smaller --lr (in a new run: a resumed run keeps its settings)."


def last_checkpoint(path, failed_write=None) -> str:
    """What a stopped run has kept, in words: the checkpoint at ``path``, or none yet.
    ``failed_write``: the file whose writing stopped the run, if that is what did."""
    if Path(path).exists():
        return f"the last good checkpoint, {path}, is intact"
    if failed_write is not None and Path(failed_write).resolve() == Path(path).resolve():
        return "there is no checkpoint: that was the first"
    return (f"no checkpoint was written yet (the first comes at an epoch's end, or where training stops), "
            f"so {path} does not exist")


# --- pictures ----------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_grid(images, cols: int = 8):
    """Tile square images ``(n, side²)`` in [−1, 1] into one array in [0, 1] of shape
    ``(rows·(side+1)+1, cols·(side+1)+1)``: for MNIST (side 28), ``(rows·29+1, cols·29+1)``."""
    n, side = images.shape[0], int(round(math.sqrt(images.shape[1])))
    rows = math.ceil(n / cols)
    grid = np.ones((rows * (side + 1) + 1, cols * (side + 1) + 1), dtype=np.float32)
    tiles = (np.clip(images, -1, 1).reshape(n, side, side) + 1) / 2
    for i in range(n):  # 64 tiles per grid, once an epoch: not a hot path
        r, c = divmod(i, cols)
        grid[1 + r * (side + 1):1 + r * (side + 1) + side, 1 + c * (side + 1):1 + c * (side + 1) + side] = tiles[i]
    return grid


def data_label(config) -> str:
    """What a figure's title calls the data: ``--data-dir``'s folder when one was given."""
    if not config.data_dir:
        return config.data
    return Path(config.data_dir).name or config.data_dir  # "/" has no name


def scored_as_digits(config) -> bool:
    """Whether the evaluator's MNIST classifier may score this run: the shipped MNIST only.

    A ``--data-dir`` run reads any 28×28 IDX images (EMNIST letters, KMNIST, ...), for
    which a digit classifier's FD and class histogram would mean nothing.
    """
    return config.data == "mnist" and not config.data_dir


def save_samples_figure(samples, path, title="", real=None, cols: int = 8):
    """A grid of images (``cols`` wide), or for low-dimensional data a scatter/histogram against ``real``."""
    plt = _pyplot()
    if samples.shape[1] >= 64:
        grid = image_grid(samples, cols)
        fig, ax = plt.subplots(figsize=(6, 6 * grid.shape[0] / grid.shape[1] + 0.4), dpi=100)
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
    else:
        fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
        if samples.shape[1] == 1:
            if real is not None:
                ax.hist(real[:, 0], bins=80, density=True, alpha=0.5, label="data")
            ax.hist(samples[:, 0], bins=80, density=True, alpha=0.5, label="generated")
            ax.legend()
        else:
            if real is not None:
                ax.scatter(real[:2000, 0], real[:2000, 1], s=2, alpha=0.3, label="data")
            ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.6, label="generated")
            ax.legend(loc="upper right")
            ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def save_figure(fig, path, dpi=None):
    """Write a matplotlib figure as a PNG, atomically, and close it (``dpi``: the figure's own when None)."""
    try:
        with checkpoint.atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=dpi)
    finally:
        _pyplot().close(fig)


def save_curves(records, path):
    """Losses and mean discriminator outputs against generator step."""
    if not records:
        return
    plt = _pyplot()
    steps = [r["step"] for r in records]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    ax1.plot(steps, [r["loss_d"] for r in records], label="loss_D")
    ax1.plot(steps, [r["loss_g"] for r in records], label="loss_G")
    ax1.set_xlabel("generator step")
    ax1.set_title("losses")
    ax1.legend()
    ax2.plot(steps, [r["d_real"] for r in records], label="mean D(x)")
    ax2.plot(steps, [r["d_fake"] for r in records], label="mean D(G(z))")
    ax2.axhline(0.5, color="gray", lw=0.8, ls="--")
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("generator step")
    ax2.set_title("discriminator outputs (0.5 = cannot tell)")
    ax2.legend()
    fig.tight_layout()
    save_figure(fig, path)


# --- the loop ------------------------------------------------------------------------


class Progress:
    """One updating terminal line (or a plain line every few seconds when not a terminal).

    On a terminal each update goes back to the line's start (``\\r``) and is cut and padded
    to one character less than the terminal's width: a line that wrapped onto a second
    row could not be drawn over, and every update would leave a row behind.
    """

    def __init__(self, stream=None, every: float = 0.5):
        self.stream = stream = stream or sys.stdout  # None where stdout is closed (`>&-`)
        self.tty = stream is not None and stream.isatty()
        self.every = every if self.tty else 10.0
        self.last = 0.0
        self.last_text = None

    def update(self, text: str, force: bool = False):
        now = time.monotonic()
        if (not force and now - self.last < self.every) or text == self.last_text:
            return
        self.last, self.last_text = now, text
        if self.tty:
            width = self.width()
            self._write("\r" + text[:width].ljust(width))
        else:
            self._write(text + "\n")

    def note(self, text: str):
        """``text`` on a line of its own; the progress line goes on below it."""
        # padded over the progress line it replaces; a longer note may wrap, as it ends its line
        self._write(("\r" + text.ljust(self.width()) + "\n") if self.tty else text + "\n")
        self.last_text = None  # so that the next update redraws the line

    def width(self) -> int:
        """Characters a progress line may take: the terminal's columns less one, asked at
        each update, so that a resized window is followed; at least 20."""
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):  # no file descriptor (a stream made in Python)
            columns = 0
        if columns <= 0:  # that, or a terminal whose size was never set (`docker -t`, some CI runners)
            columns = shutil.get_terminal_size().columns  # $COLUMNS, else standard output's, else 80
        return max(columns - 1, 20)

    def close(self):
        if self.tty:
            self._write("\n")

    def _write(self, text):
        # A closed pipe (`train | tee log`, and Ctrl-C stopped tee) or a full disk under
        # `> log` ends the progress output, not the training: the run still reaches its
        # checkpoints; the command's last lines then say that stdout failed.
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:
            self.stream = None


class SlowdownWatch:
    """Notices when training steps run at under ``ratio`` of the best pace they have had.

    ``tick(seconds)`` after every step, with the time the step took; it returns True
    once, at the end of the ``windows``-th window of ``window_steps`` steps in a row that
    each went slower than ``ratio`` times the fastest window so far.  On a CPU that other
    work keeps busy, NumPy's BLAS, splitting every product over all cores, waits at each
    one for the thread that did not get a core: the README measured 631 steps in 30 s on
    two threads beside a busy loop and 1,302 on one.  Only the steps' own time counts, so
    an epoch's end (pictures, a checkpoint) does not look slow; one slow window can still
    be a hiccup, several in a row are news.
    """

    def __init__(self, window_steps: int = 200, ratio: float = 0.4, windows: int = 3):
        self.window_steps, self.ratio, self.windows = window_steps, ratio, windows
        self.steps, self.seconds = 0, 0.0  # in the current window
        self.best = 0.0  # steps/s of the fastest window so far
        self.slow_in_a_row = 0
        self.rates = (0.0, 0.0)  # (best, latest) steps/s, for the message
        self.warned = False

    def tick(self, seconds: float) -> bool:
        self.steps += 1
        self.seconds += seconds
        if self.steps < self.window_steps:
            return False
        rate = self.steps / max(self.seconds, 1e-9)
        self.steps, self.seconds = 0, 0.0
        if rate < self.ratio * self.best:
            self.slow_in_a_row += 1
        else:
            self.slow_in_a_row = 0
        self.best = max(self.best, rate)
        if self.warned or self.slow_in_a_row < self.windows:
            return False
        self.warned, self.rates = True, (self.best, rate)
        return True


def fmt_duration(seconds: float) -> str:
    """An ETA in words: ``"45s"``, ``"4m05s"``, ``"2h03m"``, ``"4.17 days"``."""
    if seconds >= 100 * 3600:  # --max-seconds 1e300 would print 300 digits
        return f"{seconds / 86400:.3g} days"
    seconds = int(max(seconds, 0))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def count_limit_reached(trainer: Trainer, max_steps=None, max_epochs=None) -> bool:
    """Whether ``trainer`` has taken ``max_steps`` steps or finished ``max_epochs`` epochs."""
    return (max_steps is not None and trainer.step >= max_steps
            or max_epochs is not None and trainer.epoch >= max_epochs)


def fitted_line(fields: dict, width: int | None, least_wanted=("rate", "epoch", "eta")) -> str:
    """The progress line's fields joined by spaces; where that is wider than ``width`` (a
    narrow terminal), whole fields are left out, ``least_wanted`` first, so that no number
    is cut in half and the losses and D's outputs stay (an 80-column terminal lost D(G(z)))."""
    fields = dict(fields)
    for name in least_wanted:
        if width is None or len(" ".join(fields.values())) <= width:
            break
        fields.pop(name, None)
    return " ".join(fields.values())


class MetricsLog:
    """The run's ``metrics.jsonl``: the means of each step's four numbers over a stretch of
    steps, one JSON line per stretch.

    ``add`` after every step; ``flush`` ends a stretch: it checks the means are finite,
    appends them as a record and returns it.  ``records`` holds every record so far (the
    curves are drawn from them).  A resumed run first drops the lines past its checkpoint.
    """

    NAMES = ("loss_d", "loss_g", "d_real", "d_fake")
    SHOWN = ("loss_D", "loss_G", "mean D(x)", "mean D(G(z))")  # in messages, as the progress line says them

    def __init__(self, path: Path, up_to_step: int):
        self.path = path
        self.records = read_metrics(path, up_to_step)
        write_text_atomically(path, "".join(json.dumps(r) + "\n" for r in self.records))
        self.sums, self.count = None, 0

    def add(self, stats: gan.StepStats):
        values = (stats.loss_d, stats.loss_g, stats.d_real, stats.d_fake)
        # summed where they are (0-d arrays on a GPU): a float() per step would make the
        # CPU wait for the GPU at every step (lesson 11)
        self.sums = list(values) if self.sums is None else [s + v for s, v in zip(self.sums, values)]
        self.count += 1

    def flush(self, step: int, epochs_done: int, seconds: float, before_writing, checkpoint_path) -> dict | None:
        """Append the means since the last flush; returns the record, or None where no step
        was added since.  ``before_writing()`` runs just before the file is touched.
        Raises ``TrainingError`` on a mean that is not finite, naming ``checkpoint_path``."""
        if not self.count:
            return None
        values = [float(v) / self.count for v in self.sums]
        for name, value in zip(self.SHOWN, values):
            if not math.isfinite(value):
                raise TrainingError(f"{name} became {value} near step {step}; training stopped, "
                                    f"and {last_checkpoint(checkpoint_path)}. {SMALLER_LR}")
        # epochs_done, not "epoch": the progress line names the epoch in progress (from 1)
        record = dict(zip(self.NAMES, values), step=step, epochs_done=epochs_done, seconds=round(seconds, 2))
        self.records.append(record)
        before_writing()
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        self.sums, self.count = None, 0
        return record


def run(trainer: Trainer, out: Path, max_steps=None, max_epochs=None, max_seconds=None, log_every=100,
        progress: Progress | None = None, stop_flag=None, real_for_plots=None,
        slowdown: tuple | None = None, identity=None) -> str:
    """Train until a limit is reached; returns why it stopped: "done", "time", "interrupted".

    ``slowdown``, a :class:`SlowdownWatch` and ``hint(best, now)`` (steps/s to a line of
    text), prints the hint once, on a line of its own, when the watch sees the pace collapse.

    A checkpoint is written at each epoch's end and where training stops, before the
    figures, so that an output that cannot be drawn costs no training.  Raises
    ``TrainingError`` on a loss or weights that are not finite, and ``OSError`` when an
    output cannot be written; the last checkpoint is then left intact.  ``OSError`` too
    (``FileNotFoundError`` on ``out``) where ``out`` is no longer the folder of
    ``identity`` (:func:`checkpoint.folder_identity`; ``out``'s own when None): the
    folder was moved or removed, and writing on would make a new folder of the old name.
    """
    progress = progress or Progress()
    stop_flag = stop_flag or {"stop": False}
    (out / "samples").mkdir(parents=True, exist_ok=True)
    identity = identity or checkpoint.folder_identity(out)
    metrics = MetricsLog(out / "metrics.jsonl", up_to_step=trainer.step)
    ckpt = out / "checkpoint.npz"
    start, start_step, seconds_before = time.monotonic(), trainer.step, trainer.seconds
    latest_record = {}  # what the progress line shows: the last record written

    def seconds_trained():
        return seconds_before + time.monotonic() - start  # the clock a resumed run continues

    def limit_reached():
        if count_limit_reached(trainer, max_steps, max_epochs):
            return "done"
        if max_seconds is not None and time.monotonic() - start >= max_seconds:
            return "time"
        if stop_flag["stop"]:
            return "interrupted"
        return None

    def check_the_folder_is_still_there():
        if not checkpoint.is_the_folder(out, identity):
            raise FileNotFoundError(errno.ENOENT, "the run directory was moved or removed", str(out))

    def log_metrics():
        nonlocal latest_record
        record = metrics.flush(trainer.step, trainer.epoch, seconds_trained(), check_the_folder_is_still_there, ckpt)
        latest_record = record or latest_record

    def save_checkpoint():
        check_the_folder_is_still_there()
        trainer.seconds = seconds_trained()
        trainer.save(ckpt)

    def draw_figures(samples_path, title):
        check_the_folder_is_still_there()
        samples = to_numpy(trainer.sampling_generator()(trainer.fixed_noise))
        save_samples_figure(samples, samples_path, title, real_for_plots)
        save_curves(metrics.records, out / "curves.png")

    def report_progress(force=False):
        elapsed = time.monotonic() - start
        rate = (trainer.step - start_step) / max(elapsed, 1e-9)
        eta = _eta(trainer, rate, elapsed, max_steps, max_epochs, max_seconds)
        # the epoch in progress, counted from 1; right at an epoch's end, the one just
        # finished, so that the last line agrees with "stopped ... after epoch N"
        shown_epoch = trainer.epoch + 1 if trainer.cursor else max(trainer.epoch, 1)
        if latest_record:
            r = latest_record
            fields = {"epoch": f"epoch {shown_epoch}", "step": f"step {trainer.step}",
                      "rate": f"{rate:.1f} steps/s", "eta": f"ETA {eta}",
                      "loss_d": f"loss_D {r['loss_d']:.3f}", "loss_g": f"loss_G {r['loss_g']:.3f}",
                      "d_real": f"D(x) {r['d_real']:.2f}", "d_fake": f"D(G(z)) {r['d_fake']:.2f}"}
            progress.update(fitted_line(fields, progress.width() if progress.tty else None), force=force)

    while (reason := limit_reached()) is None:
        step_start = time.monotonic()
        metrics.add(trainer.train_step())
        step_seconds = time.monotonic() - step_start
        if trainer.step % log_every == 0:
            log_metrics()
        if trainer.epoch_done():
            trainer.start_next_epoch()
            log_metrics()
            save_checkpoint()
            label = f"epoch_{trainer.epoch:03d}"
            draw_figures(out / "samples" / f"{label}.png",
                         f"{data_label(trainer.config)} · {label} · step {trainer.step}")
        if slowdown and slowdown[0].tick(step_seconds):
            progress.note(slowdown[1](*slowdown[0].rates))
        report_progress()
    log_metrics()
    save_checkpoint()
    report_progress(force=True)
    progress.close()
    draw_figures(out / "samples.png", f"{data_label(trainer.config)} · step {trainer.step}")
    return reason


METRIC_FIELDS = ("loss_d", "loss_g", "d_real", "d_fake", "step")


def read_metrics(path: Path, up_to_step: int) -> list:
    """The records of ``metrics.jsonl`` at ``path`` up to step ``up_to_step``, oldest first.

    A line that is not a JSON record (what a process killed mid-write leaves at the end)
    is dropped with a warning rather than stopping a resume.
    """
    if not path.exists():
        return []
    records = []
    # bytes that are no UTF-8 (a damaged file) become U+FFFD, and their line no JSON: dropped
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        try:
            record = json.loads(line)
            if not all(isinstance(record[k], (int, float)) for k in METRIC_FIELDS):
                raise TypeError("not numbers")
            if record["step"] <= up_to_step:
                records.append(record)
        except (ValueError, TypeError, KeyError):
            print(f"tinygan: {path}, line {number}, is not a metrics record; dropped it", file=sys.stderr)
    return records


def write_text_atomically(path: Path, text: str):
    """Replace ``path`` by ``text`` whole: a crash leaves the old file, never half of each."""
    with checkpoint.atomic_write(path, "w") as f:
        f.write(text)


def _eta(trainer, rate, elapsed, max_steps, max_epochs, max_seconds):
    remaining = []
    if max_seconds is not None:
        remaining.append(max_seconds - elapsed)
    if rate > 0 and max_steps is not None:
        remaining.append((max_steps - trainer.step) / rate)
    if rate > 0 and max_epochs is not None:
        # an iteration takes d_steps batches, and an epoch's last few batches may not fit one
        d_steps, per_epoch = trainer.config.d_steps, trainer.batches_per_epoch
        iterations_left = ((per_epoch - trainer.cursor) // d_steps
                           + (max_epochs - trainer.epoch - 1) * (per_epoch // d_steps))
        remaining.append(iterations_left / rate)
    return fmt_duration(min(remaining)) if remaining else "-"


# --- command line ----------------------------------------------------------------------


def build_parser():
    p = ArgumentParser(prog="python -m tinygan.train", description=__doc__.split("\n")[0],
                       formatter_class=DefaultsWhenSetFormatter)
    # None means "the recipe's value for this --arch" (see RECIPES) or, on --resume, the checkpoint's.
    p.add_argument("--data", default=None, help="mnist, fashion-mnist, or a toy set: " + ", ".join(toy_datasets()))
    p.add_argument("--data-dir", default=None, help="a directory holding MNIST-format train-images-idx3-ubyte and train-labels-idx1-ubyte files (gzipped or not)")
    p.add_argument("--arch", default=None, help="model preset: " + ", ".join(models.ARCHS))
    p.add_argument("--loss", default=None, choices=LOSSES, help="generator loss (default: the recipe's)")
    p.add_argument("--d-steps", type=positive(int), default=None, help="discriminator steps per generator step")
    p.add_argument("--lr", type=positive(float), default=None, help="learning rate of both G and D")
    p.add_argument("--lr-g", type=positive(float), default=None, help="learning rate of G")
    p.add_argument("--lr-d", type=positive(float), default=None, help="learning rate of D")
    p.add_argument("--beta1", type=unit_interval(False), default=None, help="Adam β1")
    p.add_argument("--beta2", type=unit_interval(False), default=None, help="Adam β2")
    p.add_argument("--batch-size", type=positive(int), default=None, help="examples per batch (default: the recipe's: "
                   + ", ".join(f"{recipe['batch_size']} for {arch}" for arch, recipe in RECIPES.items()) + ")")
    p.add_argument("--z-dim", type=positive(int), default=None, help="noise dimension (default 100)")
    p.add_argument("--ema", type=unit_interval(False), default=None,
                   help="decay of the generator weights' moving average used for samples; 0 = off")
    p.add_argument("--label-smoothing", type=unit_interval(True), default=None,
                   help="target for real data in D's loss (1.0 = no smoothing, 0.9 = one-sided smoothing)")
    p.add_argument("--epochs", type=positive(int), default=None, help="stop after this many epochs in all")
    p.add_argument("--steps", type=positive(int), default=None, help="stop after this many generator steps in all")
    p.add_argument("--max-seconds", type=positive(float), default=None,
                   help="wall-clock budget of this invocation (default: 300 for a new run without "
                        "--epochs/--steps; on --resume, what is left of the run's limits)")
    p.add_argument("--seed", type=at_least(0), default=None, help="one seed (>= 0) reproduces a run (default 0)")
    p.add_argument("--subset", type=positive(int), default=None, help="train on the first N examples only")
    p.add_argument("--device", default=None, choices=backend.DEVICES, help="cpu (NumPy) or gpu (CuPy)")
    p.add_argument("--threads", type=positive(int), default=None,
                   help="threads of NumPy's BLAS for the matrix products (default: the BLAS's own choice, "
                        "one per core; on --resume, the count the run had). 1 is much faster on a CPU that "
                        "other work keeps busy. A run's numbers differ in the last bits between counts")
    p.add_argument("--out", default=None, help="run directory (default runs/<data>-<arch>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--eval-samples", type=at_least(2), default=EVAL_SAMPLES,
                   help="samples for the final evaluation (a covariance needs 2 or more)")
    p.add_argument("--no-eval", action="store_true", help="skip the final evaluation")
    return p


def config_from_args(args, parser) -> Config:
    """Fill a Config from the command line, the arch's recipe, and Config's defaults."""
    c = Config()
    c.data = "mnist" if args.data is None else args.data  # "" (an unset $DATA) is no choice: refused below
    known = IMAGE_DATA + toy_datasets()
    if c.data not in known:
        parser.error(f"unknown --data {c.data!r}; choose one of: {', '.join(known)}")
    if args.data_dir and c.data not in IMAGE_DATA:
        parser.error("--data-dir reads MNIST-format IDX files; use it with --data mnist or fashion-mnist")
    if args.data_dir == "":  # an unset shell variable, most likely: not "the shipped MNIST"
        parser.error("--data-dir is empty; name the directory of the IDX files")
    c.data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None  # resumable from anywhere
    c.arch = args.arch if args.arch is not None else "default" if c.data in IMAGE_DATA else "toy"
    if c.arch not in models.ARCHS:
        parser.error(f"unknown --arch {c.arch!r}; choose one of: {', '.join(models.ARCHS)}")
    if c.arch == "toy" and c.data in IMAGE_DATA:
        image_archs = ", ".join(a for a in models.ARCHS if a != "toy")
        parser.error(f"--arch toy is for the low-dimensional sets ({', '.join(toy_datasets())}): its "
                     f"generator has no tanh, so its images would leave [-1, 1]; for {c.data} choose one "
                     f"of: {image_archs}")
    if c.arch != "toy" and c.data not in IMAGE_DATA:
        parser.error(f"--arch {c.arch} is an image model: its generator ends in tanh, so its samples "
                     f"stay in [-1, 1], and {c.data} reaches beyond that; for the toy sets use --arch toy")
    for name, value in RECIPES[c.arch].items():
        setattr(c, name, value)
    if args.lr is not None:
        c.lr_g = c.lr_d = args.lr
    for name in ("loss", "d_steps", "lr_g", "lr_d", "beta1", "beta2", "batch_size", "z_dim", "ema",
                 "label_smoothing", "seed", "subset"):
        if getattr(args, name) is not None:
            setattr(c, name, getattr(args, name))
    return c


def explicit_settings(args) -> dict:
    """Options the user set that define the model or the training (not only its length)."""
    skip = set(RESUMABLE_OVERRIDES) | {"out", "resume"}
    return {k: v for k, v in vars(args).items() if k not in skip and v is not None and v is not False}


@command("python -m tinygan.train",
         interrupted="a checkpoint is only ever replaced whole, so any written before is intact")
def main(argv=None) -> int:
    """The command line.  A first Ctrl-C (or a SIGTERM or SIGHUP) stops training at the next
    step and saves a checkpoint; anywhere else, Ctrl-C ends it with one line.  A signal the
    parent process ignores stays ignored (:func:`cli.catch_signals`)."""
    with contextlib.ExitStack() as held:  # the run directory, held until the command ends
        return train_command(argv, held)


def train_command(argv, held: contextlib.ExitStack) -> int:
    """:func:`main`'s work; the run directory's lock goes on ``held``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.out == "":
        parser.error("--out is empty; name the run directory, or leave --out out for runs/<data>-<arch>-<time>")
    try:
        device = backend.use(args.device)
    except backend.BackendError as err:
        parser.fail(str(err))

    def hold(path: Path, new: bool) -> Path:
        try:
            return hold_run_directory(path, held, new=new, numbered=new and not args.out)
        except RunDirectoryTaken as err:
            parser.fail(str(err))
        except OSError as err:
            parser.fail(f"cannot write the run directory {path}: {describe_os_error(err)}")

    # The run directory is held before anything is read from it or written to it: a run
    # that another process is writing is refused before its checkpoint is read.
    if args.resume:
        out = hold(resume_directory(args, parser), new=False)
        config, saved = resumed_config(args, parser, out)
    else:
        config = config_from_args(args, parser)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = hold(Path(args.out or f"runs/{config.data}-{config.arch}-{stamp}"), new=True)
    # the folder as it was held: one moved from now on is followed, not made again (atomic_write would)
    identity = checkpoint.folder_identity(out) if out.is_dir() else None

    try:
        data = load_training_data(config)
    except (OSError, ValueError) as err:
        print(f"python -m tinygan.train: error: {err}", file=sys.stderr)
        return 2
    try:
        trainer = Trainer(config, data)
        if args.resume:
            trainer.load_state(*saved, out / "checkpoint.npz")
    except (TrainingError, checkpoint.CheckpointError) as err:
        print(f"python -m tinygan.train: error: {err}", file=sys.stderr)
        return 2
    threads = choose_blas_threads(args.threads, saved[1].get("blas_threads") if args.resume else None)
    if device != "cpu":  # the matrix products run on the GPU: the host's BLAS threads are no news
        threads = ""

    max_steps, max_epochs, max_seconds = resolve_limits(args, trainer)
    if count_limit_reached(trainer, max_steps, max_epochs) or (max_seconds is not None and max_seconds <= 0):
        # only a resumed run can be there already; it is left exactly as it is
        which = (f"the limits given ({describe_limits(dict(steps=max_steps, epochs=max_epochs))})"
                 if limits_given(args) else f"the limits it was last given ({describe_limits(trainer.limits)})")
        print(f"tinygan: {out} has already reached {which}: it is at step {trainer.step}, with "
              f"{trainer.epoch} epoch(s) done; to train it further, give --steps or --epochs beyond "
              f"that, or --max-seconds (a budget for that invocation)")
        return 0
    trainer.limits = {"steps": max_steps, "epochs": max_epochs,
                      "seconds": None if max_seconds is None else trainer.seconds + max_seconds}

    if identity is not None and not checkpoint.is_the_folder(out, identity):
        now = checkpoint.where_folder_is_now(identity)
        print(f"python -m tinygan.train: error: the run directory {out} was "
              f"{f'moved to {now}' if now else 'moved or removed'} as the run started; nothing was trained",
              file=sys.stderr)
        return 1
    try:
        write_text_atomically(out / "config.json", json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    except OSError as err:
        where = err.filename if err.filename and Path(err.filename) != out else f"the run directory {out}"
        parser.fail(f"cannot write {where}: {describe_os_error(err)}")
    until = describe_limits(dict(steps=max_steps, epochs=max_epochs), seconds_left=max_seconds)
    print(f"tinygan: {data_label(config)} ({trainer.n} examples), arch {config.arch} "
          f"(G {trainer.G.num_params():,} / D {trainer.D.num_params():,} parameters), {config.loss} loss, "
          f"batch {config.batch_size}, {device}{threads}; {'resuming at step ' + str(trainer.step) if args.resume else 'new run'}"
          f" -> {out} (until {until})", flush=True)

    stop_flag = {"stop": False, "signal": None}

    def on_stop_signal(signum, frame):
        if stop_flag["stop"]:  # a second one: stop now
            raise Stopped(signum)
        stop_flag["stop"], stop_flag["signal"] = True, signum

    # SIGTERM and SIGHUP too (`kill`, `timeout`, a scheduler, a closed terminal): they save like
    # Ctrl-C, unless ignored from the start (`nohup`: then a closed terminal does not stop the run)
    previous = catch_signals(on_stop_signal, (signal.SIGINT, *STOP_SIGNALS))
    real_for_plots = data[:5000] if data.shape[1] < 64 else None
    ckpt = out / "checkpoint.npz"
    identity = identity or checkpoint.folder_identity(out)  # config.json is in it: the folder is there
    slowdown = None
    if device == "cpu" and (backend.blas_threads() or 1) > 1:
        slowdown = (SlowdownWatch(), lambda best, now: (
            f"tinygan: training slowed from {best:.0f} to {now:.0f} steps/s. If other work is using the CPU, "
            f"one BLAS thread is often much faster then: Ctrl-C, then {resume_command(out, args, device)} "
            f"--threads 1"))
    try:
        # NumPy's overflow warnings would print source lines before the one line that says
        # what happened: `run` checks the losses and weights for non-finite values itself
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            reason = run(trainer, out, max_steps, max_epochs, max_seconds, stop_flag=stop_flag,
                         real_for_plots=real_for_plots, slowdown=slowdown, identity=identity)
    except TrainingError as err:
        print(f"\npython -m tinygan.train: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a full disk, a run directory moved or removed under the run, ...
        gone = run_directory_gone(out, identity)
        print("\npython -m tinygan.train: error: " + (gone or (
            f"cannot write {err.filename or 'an output'}: {describe_os_error(err)}; training stopped, "
            f"and {last_checkpoint(ckpt, err.filename)}")), file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:  # a second signal: stop now, whatever was being done
        signum = err.signum if isinstance(err, Stopped) else signal.SIGINT
        try:  # what is saved, from the file itself: the save the second signal cut short left it as it was
            kept = (f"{ckpt} holds step {checkpoint.load(ckpt)[1]['step']}; resume with: "
                    f"{resume_command(out, args, device)}")
        except (OSError, checkpoint.CheckpointError, KeyError, TypeError):
            kept = f"no checkpoint was written yet ({ckpt})"
        print(f"\npython -m tinygan.train: stopped at once by a second {signal_name(signum)}; {kept}",
              file=sys.stderr)
        return 128 + signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return end_of_run(trainer, out, reason, stop_flag, args, device, identity)


def end_of_run(trainer: Trainer, out: Path, reason: str, stop_flag: dict, args, device: str, identity) -> int:
    """What the command says and does once :func:`run` has returned ``reason``: how to
    resume, or the final evaluation; returns the exit code."""
    config = trainer.config
    ckpt = out / "checkpoint.npz"
    stop_signal = stop_flag["signal"] or signal.SIGINT  # what set the stop flag, if anything did
    done = (f"after epoch {trainer.epoch}" if trainer.cursor == 0
            else f"in epoch {trainer.epoch + 1}")  # the progress line's epoch counts from 1
    stopped = f"stopped ({reason}) at step {trainer.step}, {done}; checkpoint {ckpt}"
    if reason == "interrupted":
        lines = (f"{stopped}\nresume with: {resume_command(out, args, device)}   "
                 f"(it goes on to the same limits: {describe_limits(trainer.limits)})")
        try:
            print(lines, flush=True)
        except OSError:  # `train | tee log`: the Ctrl-C stopped tee first, but how to resume must be said
            silence_stdout()
            print(lines, file=sys.stderr)
        return 128 + stop_signal
    print(stopped)
    evaluating = not args.no_eval and scored_as_digits(config)
    if stop_flag["stop"] and evaluating:  # the signal came while the last checkpoint and figures were written
        print(f"{signal_name(stop_signal)} after training: the evaluation is skipped; run it with "
              f"{evaluate_command(out, args.eval_samples)}")
        return 128 + stop_signal
    # a signal now, with no evaluation to come, found the run's work done: it ends as if none came
    if evaluating:
        return final_evaluation(trainer, out, args.eval_samples, identity)
    if not args.no_eval:
        print(f"no evaluation: tinygan's evaluator scores MNIST digits, and this run reads "
              f"{config.data_dir or config.data}")
    print(f"samples: {out / 'samples.png'}   curves: {out / 'curves.png'}")
    return 0


def resume_command(out: Path, args, device: str) -> str:
    """The command that resumes the run in ``out`` as this invocation ran it: the options
    that hold for one invocation only (the evaluation's, the device) are repeated."""
    evaluation = (" --no-eval" if args.no_eval else
                  f" --eval-samples {args.eval_samples}" if args.eval_samples != EVAL_SAMPLES else "")
    on = f" --device {device}" if device != "cpu" else ""  # else a GPU run would resume on the CPU
    return f"python -m tinygan.train --resume --out {shell_quoted(out)}{evaluation}{on}"


def evaluate_command(out: Path, n: int) -> str:
    """The command that scores the run in ``out`` later, as the final evaluation would."""
    return f"python -m tinygan.evaluate --run {shell_quoted(out)} --n {n} --json {shell_quoted(out / 'eval.json')}"


def run_directory_gone(out: Path, identity) -> str | None:
    """Where the run directory ``out`` was moved or removed while the run wrote to it,
    that in words, with what became of its checkpoint; else None.  ``identity``: the
    folder's :func:`checkpoint.folder_identity` as training began."""
    if checkpoint.is_the_folder(out, identity):
        return None
    now = checkpoint.where_folder_is_now(identity)
    if now is None:
        return f"the run directory {out} was moved or removed while the run wrote to it; training stopped"
    if now == "":
        # `mv` to another file system copies, then removes: the files may live on elsewhere
        gone = (f"the run directory {out} was removed, or moved to another file system, while the run "
                f"wrote to it; training stopped")
        if (out / "checkpoint.npz").is_file():  # moved, and linked back (or copied back) in its place
            gone += (f"; {out} holds a checkpoint again: if it is this run's, python -m tinygan.train "
                     f"--resume --out {shell_quoted(out)}")
        return gone
    if not (Path(now) / "checkpoint.npz").is_file():
        return (f"the run directory {out} was moved to {now} while the run wrote to it; training "
                f"stopped before its first checkpoint")
    return (f"the run directory {out} was moved to {now} while the run wrote to it; training stopped, "
            f"and its last good checkpoint went with it: python -m tinygan.train --resume --out {shell_quoted(now)}")


def shell_quoted(path) -> str:
    """``path`` as a shell command takes it: quoted where it has spaces or other specials."""
    return shlex.quote(str(path))


# What a run writes into its directory.  A new run is refused a folder holding any of
# them: it would replace them, and the files of two runs would mix.
RUN_FILES = ("checkpoint.npz", "config.json", "metrics.jsonl", "eval.json", "samples.png", "curves.png", "samples")


class RunDirectoryTaken(ValueError):
    """The run directory is another run's, or another process is writing to it."""


def run_files_in(out: Path) -> list:
    """The names of ``RUN_FILES`` that ``out`` holds."""
    return [name for name in RUN_FILES if (out / name).exists()]


def new_run_problem(out: Path) -> str | None:
    """Why a new run cannot start in ``out``, in words, or None."""
    found = run_files_in(out)
    if "checkpoint.npz" in found:
        return f"{out} already holds a run; add --resume to continue it, or choose another --out"
    if found and not stopped_before_its_first_checkpoint(out):
        return (f"{out} already holds {', '.join(found)}, which a new run would replace; choose another "
                f"--out, or remove them (without checkpoint.npz there is no run in it to resume)")
    return None


def stopped_before_its_first_checkpoint(out: Path) -> bool:
    """Whether ``out`` holds only what a run leaves that stopped before its first
    checkpoint (a NaN, a bad option found late): a ``config.json`` with tinygan's settings
    and nothing else, a ``metrics.jsonl``, and an empty ``samples/``.  A new run may take
    such a folder over, so that the retry a failure suggests (a smaller ``--lr``) can use
    the same ``--out``; nothing in it can be resumed."""
    found = set(run_files_in(out))
    if "config.json" not in found or not found <= {"config.json", "metrics.jsonl", "samples"}:
        return False
    try:
        settings = json.loads((out / "config.json").read_text())
        if not isinstance(settings, dict) or set(settings) != {f.name for f in dataclasses.fields(Config)}:
            return False
        Config.from_dict(settings)
    except (OSError, ValueError, TypeError):  # not tinygan's file (ValueError: not JSON, or a bad value)
        return False
    samples = out / "samples"
    return not samples.exists() or (samples.is_dir() and not any(samples.iterdir()))


def hold_run_directory(out: Path, held: contextlib.ExitStack, new: bool, numbered: bool) -> Path:
    """Hold the folder ``out`` for this process until ``held`` closes; returns the folder.

    Two commands started together would otherwise write into one folder, each replacing
    the other's files, and both would say they succeeded.  The lock is
    :func:`checkpoint.lock_directory`'s, taken before the folder's files are looked at.
    A ``new`` run makes the folder, and the folders above it that are missing (and removes
    them again if the command ends before writing anything into them), and needs one
    without another run's files
    (:func:`new_run_problem`); a resumed run's folder must exist, or there is nothing to
    hold (its checkpoint then fails to load, and says so).  Where the folder is taken, a
    ``numbered`` one (a default name, chosen by the clock to the second) moves on to
    ``<out>-2``, ``<out>-3``, …; else ``RunDirectoryTaken`` says why.
    """
    for number in itertools.count(1):
        path = out if number == 1 else out.with_name(f"{out.name}-{number}")
        if not new and not path.is_dir():
            return path
        made = list(itertools.takewhile(lambda folder: not folder.exists(), [path, *path.parents]))  # deepest first
        path.mkdir(parents=True, exist_ok=True)
        release = checkpoint.lock_directory(path)
        if release is None:  # another process made or holds it: it is not ours to remove
            problem = (f"another python -m tinygan.train is writing to {path}; wait for it to end"
                       + (", or choose another --out" if new else ""))
        else:
            problem = new_run_problem(path) if new else None
            if problem is None:
                remove_leftover_temporary_files(path)
                if new and run_files_in(path):  # allowed with files only where stopped_before_its_first_checkpoint
                    print(f"tinygan: {path} holds a run that stopped before its first checkpoint; "
                          f"this run replaces its files")
                held.callback(release)
                for folder in reversed(made):  # callbacks run last first: path, then up, while still held
                    held.callback(remove_if_empty, folder)
                return path
            release()
        if not numbered:
            raise RunDirectoryTaken(problem)


def remove_leftover_temporary_files(out: Path):
    """Remove the temporary files of a run killed mid-write (``checkpoint.TEMPORARY``) from
    ``out`` and its ``samples/``: called with the folder held, when no run can be writing them."""
    for folder, is_a_target in ((out, lambda name: name in RUN_FILES),
                                (out / "samples", lambda name: re.fullmatch(r"epoch_\d+\.png", name))):
        for path in folder.glob("*.tmp") if folder.is_dir() else ():
            found = checkpoint.TEMPORARY.fullmatch(path.name)
            if found and is_a_target(found["target"]):
                path.unlink(missing_ok=True)


def remove_if_empty(folder: Path):
    """Remove ``folder`` if nothing was written into it (a command that stopped early)."""
    try:
        folder.rmdir()
    except OSError:  # not empty: the run's files are in it
        pass


def choose_blas_threads(asked: int | None, stored: int | None) -> str:
    """Set NumPy's BLAS threads for this invocation: ``asked`` (``--threads``), else the
    count a resumed run had (``stored``), so that it goes on bit for bit; else leave the
    BLAS's choice.  Prints a note where the numbers will not match an uninterrupted run.
    Returns the count for the start line, `` (N BLAS threads)``, or "" where unknown."""
    wanted = asked if asked is not None else stored
    if wanted is not None and not backend.set_blas_threads(wanted):
        if asked is not None:
            print("tinygan: --threads has no effect here: NumPy does not run on OpenBLAS, the BLAS "
                  "whose threads tinygan can set, so its own BLAS chooses them")
        else:
            print(f"tinygan: this run trained with {_threads(stored)} of OpenBLAS, and NumPy here runs on "
                  f"another BLAS: its numbers will differ in the last bits from an uninterrupted run")
    elif asked is not None and stored is not None and asked != stored:
        print(f"tinygan: this run trained with {_threads(stored)} until now; with {asked}, its "
              f"numbers will differ in the last bits from an uninterrupted run")
    now = backend.blas_threads()
    if asked is not None and now is not None and now != asked:  # OpenBLAS caps it at its build's maximum
        print(f"tinygan: NumPy's OpenBLAS runs at most {_threads(now)}; --threads {asked} uses {now}")
    cores = available_cores()
    if wanted is not None and now is not None and now > cores:
        print(f"tinygan: {_threads(now)} on {cores} core{'' if cores == 1 else 's'}: every matrix product waits "
              f"for threads that share a core, so expect training to be much slower; --threads {cores} is "
              f"faster (more threads than cores only serve to repeat, bit for bit, a run made with that many)")
    return "" if now is None else f" ({_threads(now)})"


def available_cores() -> int:
    """The cores this process may run on (fewer than the machine's under ``taskset`` or a container)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def _threads(n: int) -> str:
    return f"{n} BLAS thread{'' if n == 1 else 's'}"


def resume_directory(args, parser) -> Path:
    """The run directory that ``--resume --out`` names."""
    if not args.out:
        parser.error("--resume needs --out DIR, the run to continue")
    out = Path(args.out)
    if out.name == "checkpoint.npz" and out.is_file():
        parser.error(f"--out is the run's directory: --resume --out {shell_quoted(out.parent)}")
    return out


def resumed_config(args, parser, out: Path):
    """``(config, (arrays, meta))`` of the run in ``out``, after checking that the options
    the user typed agree with it (the resumed run computes what it did before)."""
    path = out / "checkpoint.npz"
    try:
        arrays, meta = checkpoint.load(path)
    except checkpoint.CheckpointError as err:
        hint = ""
        try:  # an older format whose generator still reads: say what the run is still good for
            checkpoint.load(path, formats=checkpoint.NETWORK_FORMATS)
            hint = ("; its generator can still be sampled (python -m tinygan.sample) and scored "
                    "(python -m tinygan.evaluate), but training cannot go on from it: start a new run")
        except checkpoint.CheckpointError:
            pass
        parser.fail(f"cannot resume: {err}{hint}")
    try:
        config = Config.from_dict(meta["config"])
    except (TypeError, ValueError, KeyError) as err:
        parser.fail(f"cannot resume: {path}: its config does not fit this tinygan ({err})")
    asked = explicit_settings(args)
    option_for_field = {name: name for name in asked}  # config field -> the option the user typed
    if "lr" in asked:  # as in config_from_args: --lr-g and --lr-d take precedence over --lr
        lr = asked.pop("lr")
        for name in ("lr_g", "lr_d"):
            if name not in asked:
                asked[name], option_for_field[name] = lr, "lr"
    if "data_dir" in asked:
        asked["data_dir"] = str(Path(asked["data_dir"]).resolve())
    if config.data_dir and not Path(config.data_dir).is_absolute():
        # a run from before data_dir was stored resolved: the folder typed now replaces it,
        # or else the stored path is read from here, as the version that wrote it did
        config.data_dir = asked.get("data_dir") or str(Path(config.data_dir).resolve())
    moved_to = asked.get("data_dir")
    fingerprinted = "data_sha256" in meta  # absent from checkpoints before it was kept
    if (config.data_dir and moved_to and moved_to != config.data_dir
            and (fingerprinted or not Path(config.data_dir).is_dir())):
        # the run's folder, moved: read from where it is now, once Trainer.load_state has
        # compared the data with the checkpoint's fingerprint of them.  Without one, only a
        # folder that is gone may be replaced, and nothing checks the new one.
        print(f"tinygan: reading the run's data from {moved_to} (it trained on {config.data_dir})")
        config.data_dir = asked.pop("data_dir")
        if not fingerprinted:
            print("tinygan: this checkpoint is older than the data fingerprint, so nothing checks that the "
                  "folder holds the same data")
    elif config.data_dir and not moved_to and not Path(config.data_dir).is_dir():
        parser.fail(f"cannot resume: the run's data folder, {config.data_dir}, is gone; if it moved, give its "
                    f"new place: python -m tinygan.train --resume --out {shell_quoted(out)} --data-dir NEW_PLACE")
    stored = dataclasses.asdict(config)
    conflicts = [name for name, value in asked.items() if stored.get(name, value) != value]
    if conflicts:
        name = conflicts[0]
        parser.error(f"--resume continues the run as it was configured ({name}={stored[name]!r}); "
                     f"drop --{option_for_field[name].replace('_', '-')} or start a new run")
    return config, (arrays, meta)


def limits_given(args) -> bool:
    return args.steps is not None or args.epochs is not None or args.max_seconds is not None


def resolve_limits(args, trainer: Trainer) -> tuple:
    """``(max_steps, max_epochs, max_seconds)`` for this invocation: the ones given; on a
    resume without any, the rest of the run's stored limits; else a 300-second budget."""
    if limits_given(args):
        return args.steps, args.epochs, args.max_seconds
    if args.resume and trainer.limits:
        # continue to where the run was told to stop (an interrupted run), not a new budget
        seconds = trainer.limits.get("seconds")
        return (trainer.limits.get("steps"), trainer.limits.get("epochs"),
                None if seconds is None else seconds - trainer.seconds)
    return None, None, 300.0


def final_evaluation(trainer: Trainer, out: Path, n: int, identity=None) -> int:
    """Run :func:`evaluate_run` for the command line; returns its exit code."""
    from . import classifier, evaluate

    started_in = out
    try:
        try:
            evaluate_run(trainer, out, n, identity)
        finally:  # the messages below name the run's files where they are now
            out = run_directory_now(out, identity) or out
    except RunDirectoryGone as err:
        print(f"python -m tinygan.train: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:  # Ctrl-C, or a SIGTERM/SIGHUP raised as Stopped
        signum = err.signum if isinstance(err, Stopped) else signal.SIGINT
        print(f"\npython -m tinygan.train: evaluation interrupted ({signal_name(signum)}); the checkpoint is "
              f"saved, so it can run later with: {evaluate_command(out, n)}", file=sys.stderr)
        return 128 + signum
    except MemoryError:
        print(f"python -m tinygan.train: the training is saved in {out / 'checkpoint.npz'}, but the evaluation's "
              f"{n:,} samples do not fit in the memory; score fewer later with: "
              f"{evaluate_command(out, max(2, min(n // 2, EVAL_SAMPLES)))}", file=sys.stderr)
        return 1
    except (evaluate.SampleError, classifier.WeightsError, evaluate.ReferenceDataError) as err:
        print(f"python -m tinygan.train: the training is saved in {out / 'checkpoint.npz'}, "
              f"but the evaluation failed: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        if err.filename == STDOUT:  # the report
            silence_stdout()
        print(f"python -m tinygan.train: the training is saved in {out / 'checkpoint.npz'}, "
              f"but {err.filename or 'eval.json'} could not be written: {describe_os_error(err)}", file=sys.stderr)
        return 1
    if out != started_in:
        print(f"the run directory {started_in} was moved to {out} while the run went on: eval.json is there")
    print(f"samples: {out / 'samples.png'}   curves: {out / 'curves.png'}")
    return 0


def describe_limits(limits: dict, seconds_left=None) -> str:
    """``"steps 600, 300 s of training in all"`` for ``Trainer.limits``, or with
    ``seconds_left`` the time this invocation may train: ``"steps 600, 54.22 s"``."""
    parts = [f"{name} {limits[name]}" for name in ("steps", "epochs") if limits.get(name) is not None]
    if seconds_left is not None:
        parts.append(f"{round(seconds_left, 2):g} s")
    elif limits.get("seconds") is not None:
        parts.append(f"{limits['seconds']:.6g} s of training in all")
    return ", ".join(parts)


def run_directory_now(out: Path, identity) -> Path | None:
    """Where the run directory is now: ``out``, unless it was moved (then its new path)
    or removed (then None) since :func:`checkpoint.folder_identity` gave ``identity``
    (None: ``out``, unasked).  None too where the system cannot say where it went."""
    if identity is None or checkpoint.is_the_folder(out, identity):
        return out
    now = checkpoint.where_folder_is_now(identity)
    return Path(now) if now else None


class RunDirectoryGone(Exception):
    """The run directory was removed (or moved where it cannot be found) before the
    final evaluation could write ``eval.json``; the message says so."""


def evaluate_run(trainer: Trainer, out: Path, n: int, identity=None):
    """Score ``n`` samples with the MNIST evaluator, print the report and write it to
    ``eval.json`` in the run directory.

    ``identity`` (:func:`checkpoint.folder_identity` as training began): where the run
    directory was moved while the run went on, ``eval.json`` follows it rather than
    making a new folder of the old name (:func:`write_text_atomically` makes missing
    folders).  Where it is gone, the report is still printed.
    """
    from . import evaluate

    samples = trainer.sample(n)
    report = evaluate.evaluate_samples(samples)
    report.update(step=trainer.step, n_samples=n)
    folder = run_directory_now(out, identity)
    if folder is None:
        print(evaluate.format_report(report))
        how = ("was removed, or moved to another file system," if checkpoint.where_folder_is_now(identity) == ""
               else "was moved or removed")
        raise RunDirectoryGone(f"the run directory {out} {how} while the run went on: the evaluation above "
                               f"is not saved")
    # written before it is printed: a closed standard output must not cost the file
    write_text_atomically(folder / "eval.json", json.dumps(report, indent=2) + "\n")
    print(evaluate.format_report(report))


if __name__ == "__main__":
    sys.exit(main())
