"""How good are generated digits?  Scores from tinygan's own MNIST classifier.

A GAN's losses do not tell you whether its samples look like digits, so we ask a judge:
the classifier of ``tinygan.classifier`` (99% accurate on real test digits).  From it:

**Fréchet distance (FD)** between the classifier's penultimate features (256 numbers
per image) of the samples and of the 10,000 MNIST test images.  Fit a Gaussian to
each set of features, mean ``μ`` and covariance ``Σ``; the squared Fréchet
(2-Wasserstein) distance between the two Gaussians is ::

    FD = |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁^½ Σ₂ Σ₁^½)^½)

It is 0 for identical statistics and grows when the samples look wrong (μ moves) or
lack variety (Σ shrinks).  Square roots of symmetric matrices come from the
eigendecomposition ``Σ = V diag(λ) Vᵀ  ⇒  Σ^½ = V diag(√λ) Vᵀ`` (``linalg.eigh``), so
no SciPy is needed.  Even two sets of *real* digits are not at 0: the report gives the
**real-data floor**, the FD between 10,000 training images and the test set, and a
generator is as good as real data when its FD reaches that floor.

    This FD is NOT comparable with the "FID" of papers.  FID uses the features of an
    Inception-v3 network trained on ImageNet; ours come from a small MNIST classifier,
    so the numbers are on a different scale.  Compare FDs only with each other.

**Inception-style score** ``IS = exp(E_x KL(p(y|x) ‖ p(y)))`` (Salimans et al. 2016) with
``p(y) = E_x p(y|x)``.  High when each sample is classified confidently (``p(y|x)``
peaked) *and* the classes are varied (``p(y)`` flat); it lies between 1 and 10.

**Class histogram** of the predicted digits, the number of classes holding at least 2%
of samples (mode collapse shows up as fewer than 10), and ``KL(histogram ‖ uniform)``,
0 for a perfectly even spread and at most log 10 ≈ 2.30 for a single class.

From Python::

    from tinygan.evaluate import evaluate_samples
    report = evaluate_samples(samples)      # samples: (n, 784) in [-1, 1]

From the shell::

    python -m tinygan.evaluate --samples samples.npy [--json report.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

from . import backend, checkpoint, classifier
from .cli import ArgumentParser, at_least, command, describe_os_error, output_problem, path_text
from .backend import Random, xp

N_CLASSES = 10
COVERAGE_THRESHOLD = 0.02  # a class "is covered" when it holds at least 2% of the samples
FLOOR_SAMPLES = 10_000
RUN_SAMPLES = 10_000  # drawn from a run's generator by `--run` without `--n`
FD_NOTE = ("FD uses tinygan's MNIST-classifier features (256-d); it is NOT comparable with "
           "Inception FID from papers")

# Statistics of the real data, computed on first use and kept in memory only (a few
# seconds of work; nothing is written to disk).  Keyed by device: arrays live there.
_REFERENCE: dict = {}


class SampleError(ValueError):
    """The samples given for evaluation have the wrong shape, type or range."""


# ----------------------------------------------------------------------------- the math

def feature_statistics(features):
    """Mean and covariance of features: (n, d) → ``(mu: (d,), cov: (d, d))``, float64."""
    f = xp.asarray(features, dtype="float64")
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"feature_statistics needs an (n >= 2, d) array, got shape {tuple(f.shape)}")
    mu = f.mean(axis=0)
    centered = f - mu
    cov = centered.T @ centered / (f.shape[0] - 1)
    return mu, cov


def sqrtm_psd(cov):
    """Square root of a symmetric positive semi-definite matrix: (d, d) → (d, d).

    ``cov = V diag(λ) Vᵀ`` so ``cov^½ = V diag(√λ) Vᵀ``.  Round-off can make the
    smallest eigenvalues slightly negative; they are clipped to 0.
    """
    w, v = xp.linalg.eigh(cov)
    return (v * xp.sqrt(xp.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Fréchet distance between Gaussians ``N(mu1, cov1)`` and ``N(mu2, cov2)``.

    mu: (d,), cov: (d, d).  ``tr((Σ₁Σ₂)^½)`` is computed as ``tr((Σ₁^½ Σ₂ Σ₁^½)^½)``,
    the same number: with ``A = Σ₁^½`` and ``B = Σ₁^½ Σ₂`` the two matrices are ``AB`` and
    ``BA``, which share their eigenvalues.  The second is symmetric PSD, so ``eigvalsh``
    gives real, non-negative eigenvalues whose square roots we sum.
    """
    mu1, mu2 = xp.asarray(mu1, dtype="float64"), xp.asarray(mu2, dtype="float64")
    cov1, cov2 = xp.asarray(cov1, dtype="float64"), xp.asarray(cov2, dtype="float64")
    s1 = sqrtm_psd(cov1)
    m = s1 @ cov2 @ s1
    m = (m + m.T) / 2  # exactly symmetric again after round-off
    tr_sqrt = xp.sqrt(xp.clip(xp.linalg.eigvalsh(m), 0, None)).sum()
    diff = mu1 - mu2
    fd = float(diff @ diff + xp.trace(cov1) + xp.trace(cov2) - 2 * tr_sqrt)
    return max(fd, 0.0)  # a true distance is >= 0; round-off can give -1e-12


def log_softmax(logits):
    """Stable ``log p(y|x)``: (n, classes) → (n, classes), float64."""
    a = xp.asarray(logits, dtype="float64")
    shifted = a - a.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def inception_score(logits) -> float:
    """``exp(mean_x KL(p(y|x) ‖ p(y)))`` from classifier logits: (n, classes) → float in [1, classes].

    One split over all ``n`` samples, with ``p(y)`` their mean prediction; Salimans et
    al. average 10 splits and report a spread, so papers' "IS ± std" is another estimator.
    """
    log_p = log_softmax(logits)
    p = xp.exp(log_p)
    p_y = p.mean(axis=0)
    # a class with p(y) = 0 has p(y|x) = 0 for every x, so its terms are 0·(…) = 0
    log_p_y = xp.log(xp.maximum(p_y, 1e-300))
    kl = (p * (log_p - log_p_y)).sum(axis=1)
    return float(math.exp(float(kl.mean())))


def class_histogram(predictions, n_classes: int = N_CLASSES):
    """Counts of each predicted class: (n,) ints → list of ``n_classes`` Python ints."""
    counts = xp.bincount(xp.asarray(predictions), minlength=n_classes)
    return [int(c) for c in counts]


def classes_covered(counts) -> int:
    """How many classes hold at least ``COVERAGE_THRESHOLD`` (2%) of the ``sum(counts)`` samples."""
    total = sum(counts)
    return sum(c >= COVERAGE_THRESHOLD * total for c in counts)


def kl_to_uniform(counts) -> float:
    """``KL(h ‖ uniform) = Σ h_k log(K h_k)`` for the normalised histogram ``h`` of ``counts``."""
    total = sum(counts)
    k = len(counts)
    return float(sum((c / total) * math.log(k * c / total) for c in counts if c > 0))


# ----------------------------------------------------------------------------- evaluation

def _check_samples(samples):
    """Validate and move samples to the device: (n, 784) or (n, 28, 28) → (n, 784) float32."""
    if not hasattr(samples, "shape"):
        raise SampleError(f"samples must be an array of shape (n, 784), got a {type(samples).__name__}")
    shape = tuple(samples.shape)
    if len(shape) == 3 and shape[1:] == (28, 28):
        samples = samples.reshape(shape[0], 784)
        shape = (shape[0], 784)
    if len(shape) != 2 or shape[1] != 784:
        raise SampleError(f"samples must have shape (n, 784) (flattened 28x28 images), got {shape}")
    if shape[0] < 2:
        raise SampleError(f"need at least 2 samples for a covariance, got {shape[0]}")
    kind = getattr(getattr(samples, "dtype", None), "kind", None)
    if kind not in ("f", "i", "u"):  # not "b": a boolean mask is no image in [-1, 1]
        raise SampleError(f"samples must be numbers, got dtype {getattr(samples, 'dtype', None)}")
    with warnings.catch_warnings():  # NumPy warns "overflow encountered in cast": refused below, in one line
        warnings.simplefilter("ignore", RuntimeWarning)
        x = xp.asarray(samples, dtype="float32")
    if not bool(xp.isfinite(x).all()):
        raise SampleError("samples contain NaN or infinity (or numbers beyond float32's range)")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1.001 or hi > 1.001:  # small slack for float round-off around tanh's ±1
        hint = "images in [0, 255] become x / 127.5 - 1" if hi > 1.5 else "rescale them into [-1, 1]"
        raise SampleError(f"samples must lie in [-1, 1] (tanh output), found values in "
                          f"[{lo:.4g}, {hi:.4g}]; {hint}")
    if lo >= 0:
        # Digits have a background of -1; images in [0, 1] (the usual export) would pass the
        # range check and score as a collapsed GAN (FD ~146 for real digits), so refuse them.
        looks = "images in [0, 255]" if kind in ("i", "u") else "images in [0, 1]"  # integers: 8-bit pixels
        fix = "x / 127.5 - 1" if kind in ("i", "u") else "x * 2 - 1"
        raise SampleError(f"no sample value is below 0 (values in [{lo:.4g}, {hi:.4g}]): these look like "
                          f"{looks}; tinygan's are in [-1, 1] with a background of -1: use {fix}")
    return x


class ReferenceDataError(Exception):
    """The shipped MNIST digits the scores compare against cannot be read (missing or
    damaged files); the message names the file."""


def _mnist(split: str):
    """The shipped MNIST ``split`` as ``(images, labels)``, or :class:`ReferenceDataError`."""
    from .data import DataError, load_dataset

    try:
        return load_dataset("mnist", split)
    except (DataError, OSError) as err:
        raise ReferenceDataError(f"the MNIST digits the scores compare against cannot be read: {err}") from err


def _reference():
    """Classifier and real-data statistics for the device in use, computed once per process."""
    key = backend.device()
    if key not in _REFERENCE:
        net = classifier.load_classifier()
        x_test, _ = _mnist("test")
        feats, logits = classifier.features_and_logits(net, x_test)
        mu, cov = feature_statistics(feats)
        x_train, _ = _mnist("train")
        # a fixed random subset, so the floor is one reproducible number
        pick = backend.to_numpy(Random(0).permutation(len(x_train))[:FLOOR_SAMPLES])
        train_feats, _ = classifier.features_and_logits(net, x_train[pick])
        floor = frechet_distance(*feature_statistics(train_feats), mu, cov)
        _REFERENCE[key] = {"net": net, "mu": mu, "cov": cov, "fd_floor": floor,
                           "is_real": inception_score(logits)}
    return _REFERENCE[key]


def evaluate_samples(samples) -> dict:
    """Score generated digits against the MNIST test set.

    samples: (n, 784) float in [−1, 1], a host or device array (n ≥ 2; use 10,000 for
    numbers comparable with the real-data floor: FD is biased upwards for small n).
    Returns a JSON-ready dict:

    - ``fd``: Fréchet distance of the classifier features to the test set's (lower is
      better); ``fd_real_floor``: the same for 10,000 real training digits.  NOT
      comparable with Inception FID (see the module docstring);
    - ``inception_score`` (1 to 10, higher is better) and ``inception_score_real``
      (the test digits' own score);
    - ``mean_confidence``: mean of the classifier's top probability;
    - ``class_histogram`` (10 counts), ``classes_covered`` (classes with ≥ 2% of
      samples) and ``kl_to_uniform`` (0 = even spread, log 10 ≈ 2.30 = one class);
    - ``n_samples`` and ``note`` (the FID caveat, in words).
    """
    x = _check_samples(samples)
    ref = _reference()
    feats, logits = classifier.features_and_logits(ref["net"], x)
    mu, cov = feature_statistics(feats)
    counts = class_histogram(logits.argmax(axis=1))
    n = int(x.shape[0])
    return {
        "n_samples": n,
        "fd": frechet_distance(mu, cov, ref["mu"], ref["cov"]),
        "fd_real_floor": ref["fd_floor"],
        "inception_score": inception_score(logits),
        "inception_score_real": ref["is_real"],
        "mean_confidence": float(xp.exp(log_softmax(logits)).max(axis=1).mean()),
        "class_histogram": counts,
        "classes_covered": classes_covered(counts),
        "kl_to_uniform": kl_to_uniform(counts),
        "note": FD_NOTE,
    }


def format_report(report: dict, source: str = "") -> str:
    """The dict of :func:`evaluate_samples` as a short readable text."""
    n = report["n_samples"]
    bars = "\n".join(
        f"    {k}: {c:6,d}  {100 * c / n:5.1f}%  {'#' * round(50 * c / n)}"
        for k, c in enumerate(report["class_histogram"]))
    return (
        f"tinygan sample quality{f' -- {source}' if source else ''}\n"
        f"  samples                    {n:,}\n"
        f"  Frechet distance (FD)      {report['fd']:.3f}   (real-data floor "
        f"{report['fd_real_floor']:.3f}: 10,000 train digits vs test set; lower is better)\n"
        f"  inception-style score      {report['inception_score']:.3f}   "
        f"(real test digits: {report['inception_score_real']:.3f}; max 10)\n"
        f"  mean confidence            {report['mean_confidence']:.3f}\n"
        f"  classes with >= 2%         {report['classes_covered']} / {N_CLASSES}\n"
        f"  KL(histogram || uniform)   {report['kl_to_uniform']:.4f}   (0 = even, 2.303 = one class)\n"
        f"  predicted classes:\n{bars}\n"
        f"{small_sample_caution(n)}"
        f"  note: {report['note']}.")


def small_sample_caution(n: int) -> str:
    """A report line for fewer samples than the floor's 10,000: FD's bias grows as n falls."""
    if n >= FLOOR_SAMPLES:
        return ""
    return (f"  caution: FD from {n:,} samples is biased upward against the {FLOOR_SAMPLES:,}-sample floor;"
            f" compare runs only at equal sample counts (lesson 8)\n")


# ----------------------------------------------------------------------------- command line

def npy_size_problem(f, size: int) -> str | None:
    """Why the ``.npy`` bytes of ``f`` (a binary file at its start, ``size`` bytes in all)
    do not hold the array their header describes, or None.

    Found before reading: NumPy would first allocate what the header asks for, so a
    damaged header (a shape of 10¹² rows over 100 bytes) would end as a memory error.
    None also where the header cannot be read here (``np.load`` then says why).
    """
    import numpy

    # version 3 differs from 2 only in allowing UTF-8 field names (2's reader then refuses it: None)
    read_2_0 = numpy.lib.format.read_array_header_2_0
    readers = {(1, 0): numpy.lib.format.read_array_header_1_0, (2, 0): read_2_0, (3, 0): read_2_0}
    try:
        shape, _, dtype = readers[numpy.lib.format.read_magic(f)](f)
        if dtype.hasobject:
            return None
        promised = f.tell() + math.prod(shape) * dtype.itemsize
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finally:
        f.seek(0)
    if size != promised:  # short: truncated; long: np.load would read only the first rows
        return (f"truncated or damaged: its header promises an array of shape {shape} ({promised:,} bytes "
                f"with the header), and the file has {size:,} bytes")
    return None


def load_samples_file(path):
    """Read a ``.npy`` file of samples into a host array (no pickles allowed).  A pipe
    (``--samples /dev/stdin``, ``<(...)``) is read whole first: NumPy's reader seeks."""
    import io
    import numpy  # file I/O happens on the host

    try:
        with open(path, "rb") as f:
            if os.path.isfile(path):
                problem = npy_size_problem(f, os.fstat(f.fileno()).st_size)
                source = path
            else:
                data = f.read()
                problem = npy_size_problem(io.BytesIO(data), len(data))
                source = io.BytesIO(data)
    except FileNotFoundError:
        raise SampleError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SampleError(f"{path}: is a directory, expected a .npy file") from None
    except OSError as err:
        raise SampleError(f"{path}: cannot be read ({describe_os_error(err)})") from None
    if problem:
        raise SampleError(f"{path}: {problem}")
    try:
        loaded = numpy.load(source, allow_pickle=False)
    except FileNotFoundError:
        raise SampleError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SampleError(f"{path}: is a directory, expected a .npy file") from None
    except (OSError, ValueError, EOFError) as err:
        raise SampleError(f"{path}: not a readable .npy array ({checkpoint.describe_load_error(err)})") from None
    if not isinstance(loaded, numpy.ndarray):  # np.load opens an .npz archive lazily
        loaded.close()
        raise SampleError(f"{path}: an .npz archive; save the samples with numpy.save as one .npy array")
    return loaded


def add_sample_sources(parser: argparse.ArgumentParser):
    """The ways to say where samples come from; exactly one must be given.

    To add a source: add an option to this group and a branch to :func:`get_samples`.
    """
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--samples", metavar="FILE.npy", type=path_text("the .npy file of samples"),
                       help="a .npy array of shape (n, 784) with values in [-1, 1]")
    group.add_argument("--run", metavar="DIR", type=path_text("the run directory"),
                       help="a training run directory: samples from its checkpoint's generator")
    # default None, so that --n given with --samples is refused even when it says 10000
    parser.add_argument("--n", type=at_least(2), default=None,
                        help=f"with --run: how many samples to draw (a covariance needs 2 or more; "
                             f"default: {RUN_SAMPLES})")
    return group


def get_samples(args):
    """``(samples, description)`` from the parsed options of :func:`add_sample_sources`."""
    if args.samples is not None:
        return load_samples_file(args.samples), args.samples
    if args.run is not None:
        from . import sample, train  # only --run needs them

        try:
            G, config = sample.load_generator(args.run)
        except checkpoint.CheckpointError as err:
            raise SampleError(str(err)) from err
        if not train.scored_as_digits(config):
            raise SampleError(f"{args.run} was trained on {config.data_dir or config.data!r}; "
                              "this evaluator scores MNIST digits (the shipped set)")
        n = RUN_SAMPLES if args.n is None else args.n
        return sample.generate(G, config, n, seed=1234), f"{args.run} ({n} samples)"
    raise SampleError("no source of samples given")  # argparse's required group prevents this


def json_clash(json_path, samples) -> str | None:
    """Why ``--json json_path`` would replace a file that is no report, or None: the
    samples, a run's own files (its checkpoint, one tab-completion away from ``eval.json``),
    or an array or a picture."""
    from .train import RUN_FILES

    target = Path(json_path).resolve()
    if samples is not None and target == Path(samples).resolve():
        return f"--json {json_path} is the samples file: the report would replace the samples"
    in_a_run = (target.parent / "checkpoint.npz").exists() or (target.parent / "config.json").exists()
    if target.name in RUN_FILES and target.name != "eval.json" and in_a_run:
        return (f"--json {json_path} is the {target.name} of the run in {target.parent}: the report would "
                f"replace it (a run's report is eval.json)")
    if target.suffix.lower() in (".npy", ".npz", ".png"):
        return f"--json {json_path}: the report is JSON text, not a {target.suffix} file; name a .json file"
    return None


@command("python -m tinygan.evaluate", interrupted="a --json report is written whole or not at all")
def main(argv=None) -> int:
    """Command line: print a report.  Exit 0 on success; 2 on bad input (options, samples,
    a run, the device); 1 when the classifier's weights or the shipped MNIST are missing or
    damaged, or ``--json`` cannot be written; 130 on Ctrl-C.  Each failure is one line, no
    traceback."""
    parser = ArgumentParser(
        prog="python -m tinygan.evaluate",
        description="Score generated MNIST digits with tinygan's classifier: Frechet distance "
                    "(NOT comparable with Inception FID), inception-style score, class coverage.")
    add_sample_sources(parser)
    parser.add_argument("--json", metavar="OUT", help="also write the report as JSON to OUT")
    parser.add_argument("--device", default=None, choices=backend.DEVICES,
                        help="cpu (NumPy) or gpu (CuPy); default: $TINYGAN_DEVICE or cpu")
    args = parser.parse_args(argv)
    if args.samples is not None and args.n is not None:
        parser.error("--n is for --run (how many samples to draw); --samples scores the whole file")
    if args.json == "":
        parser.error("--json is empty; name the file to write the report to")
    if args.json is not None and (problem := output_problem(args.json)):
        parser.fail(f"--json: cannot write {args.json}: {problem}")
    if args.json is not None and (problem := json_clash(args.json, args.samples)):
        parser.error(problem)
    try:
        backend.use(args.device)
        samples, source = get_samples(args)
        report = evaluate_samples(samples)
    except (SampleError, backend.BackendError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except (classifier.WeightsError, ReferenceDataError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    stdout_failed = None
    try:
        print(format_report(report, source))
    except OSError as err:  # a full disk under `> report.txt`: the --json report is still written
        stdout_failed = err
    if args.json is not None:
        try:
            with checkpoint.atomic_write(args.json, "w") as f:
                f.write(json.dumps(report, indent=2) + "\n")
        except OSError as err:
            print(f"{parser.prog}: error: cannot write {args.json}: {describe_os_error(err)}", file=sys.stderr)
            return 1
        if stdout_failed is None:
            print(f"wrote {args.json}")
    if stdout_failed is not None:
        raise stdout_failed  # cli.command says it in one line
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
