"""Draw samples from a trained run: ``python -m tinygan.sample --run DIR --n N --out FILE``.

``FILE.npy`` receives ``(N, data_dim)`` float32 samples (in [−1, 1] for the image
presets, whose generators end in a tanh); ``FILE.png`` a grid of them, or for a toy run
a scatter plot (2-D points) or a histogram (1-D).
``--interpolate`` instead draws rows that walk in a straight line between pairs of noise
vectors, showing how the generator's output changes along the way.
The EMA generator is used when the run has one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from . import backend, checkpoint, nn
from .backend import Random, to_numpy, xp
from .cli import ArgumentParser, at_least, command, describe_os_error, output_problem, path_text, positive
from .train import Config, Progress, data_label, save_samples_figure


def load_generator(run_dir):
    """Rebuild the sampling generator of the run in ``run_dir``; returns ``(G, config)``."""
    if Path(run_dir).is_file():  # the checkpoint itself, most likely: say which folder to give
        raise checkpoint.CheckpointError(f"{run_dir} is a file; give the run's directory, "
                                         f"{Path(run_dir).parent}, which holds checkpoint.npz")
    path = Path(run_dir) / "checkpoint.npz"
    arrays, meta = checkpoint.load(path, formats=checkpoint.NETWORK_FORMATS)
    try:
        config = Config.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise checkpoint.CheckpointError(f"{path}: its config does not fit this tinygan ({err})") from err
    from . import models

    name = "G_ema_params" if "G_ema_params" in arrays else "G_params"
    for key in (name, "G_state"):
        if key not in arrays:
            raise checkpoint.CheckpointError(f"{path} lacks {key!r}; it was not written by python -m tinygan.train")
    data_dim = meta.get("data_dim")
    if not isinstance(data_dim, int) or isinstance(data_dim, bool):
        raise checkpoint.CheckpointError(f"{path} lacks 'data_dim'; it was not written by python -m tinygan.train")
    # G's last layer alone has data_dim weights per input, so no real data_dim exceeds the
    # parameter count: checked before G is built, which a damaged 10**7 would take 24 GB for
    if not 1 <= data_dim <= arrays[name].size:
        raise checkpoint.CheckpointError(f"{path} holds a damaged data_dim ({data_dim!r:.40})")
    G, _ = models.build_gan(config.arch, Random(config.seed), config.z_dim, meta["data_dim"])
    for key, dst in ((name, G.flat_params), ("G_state", G.flat_state)):
        if arrays[key].shape != tuple(dst.shape):
            raise checkpoint.CheckpointError(f"{path}: {key} does not fit arch {config.arch!r}")
        if not np.issubdtype(arrays[key].dtype, np.floating) or not np.isfinite(arrays[key]).all():
            raise checkpoint.CheckpointError(f"{path}: {key} holds values that are not finite numbers")
        dst[...] = xp.asarray(arrays[key])
    return G, config


def generate(G, config, n: int, seed: int = 0, batch: int = 1000, progress=None):
    """``n`` samples ``(n, data_dim)``, host float32, from noise seeded by ``seed``.

    Drawn ``batch`` at a time into one array, made once the first batch shows its width
    (no list of parts to join, which would need twice the memory); ``progress(done, n)``
    is called after each batch.
    """
    if n < 1 or batch < 1:
        raise ValueError(f"generate needs n >= 1 and batch >= 1, got n={n}, batch={batch}")
    rng = Random(seed)
    samples = None
    for start in range(0, n, batch):
        part = to_numpy(G(rng.normal((min(batch, n - start), config.z_dim))))
        if samples is None:
            try:
                samples = np.empty((n, part.shape[1]), dtype=np.float32)
            except ValueError:  # NumPy's "array is too big": more bytes than an address can count
                raise MemoryError(f"{n:,} samples of {part.shape[1]} numbers are too many to hold") from None
        samples[start:start + len(part)] = part
        if progress is not None:
            progress(start + len(part), n)
    return samples


CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max",  # cgroup v2: "max" when there is no limit
                 "/sys/fs/cgroup/memory/memory.limit_in_bytes")  # cgroup v1


def memory_limit() -> tuple[int, str] | None:
    """``(bytes, whose)``: the memory this process may use and whose limit it is ("this
    machine's", or a container's smaller limit on Linux), or None where nothing says."""
    try:
        limit = (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's")
    except (AttributeError, ValueError, OSError):
        limit = None
    for path in CGROUP_LIMITS:
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and (limit is None or int(text) < limit[0]):  # v1 writes "no limit" as ~2**63
            limit = (int(text), "this container's limit of")
    return limit


def interpolate(G, config, rows: int = 8, cols: int = 10, seed: int = 0):
    """``rows`` straight-line walks of ``cols`` points between pairs of noise vectors:
    samples ``(rows·cols, data_dim)``, walk by walk, host float32."""
    rng = Random(seed)
    ends = to_numpy(rng.normal((2, rows, config.z_dim)))
    t = np.linspace(0, 1, cols, dtype=np.float32)[None, :, None]
    z = (1 - t) * ends[0][:, None, :] + t * ends[1][:, None, :]  # (rows, cols, z_dim)
    return to_numpy(G(xp.asarray(z.reshape(rows * cols, -1))))


MAX_WALKS = 100  # rows of an interpolation picture


@command("python -m tinygan.sample", interrupted="nothing was written (an --out file is written whole or not at all)")
def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m tinygan.sample", description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, type=path_text("the run directory"),
                   help="a run directory written by python -m tinygan.train")
    p.add_argument("--n", type=positive(int), default=None,
                   help="number of samples (default 64), or of latent walks with --interpolate (default 8)")
    p.add_argument("--out", required=True, type=path_text("the file to write"),
                   help="FILE.npy (arrays) or FILE.png (a grid)")
    p.add_argument("--interpolate", action="store_true", help="a PNG of latent interpolations instead")
    p.add_argument("--seed", type=at_least(0), default=0, help="seed of the noise (>= 0)")
    p.add_argument("--device", default=None, choices=backend.DEVICES)
    args = p.parse_args(argv)
    out = Path(args.out)
    kind = out.suffix.lower()
    if out.name.lower() in (".npy", ".png"):  # a file named ".npy" has no suffix, only a name
        p.error(f"--out {args.out} names no file, only its kind: give it a name, as in samples{out.name.lower()}")
    if kind not in (".npy", ".png"):
        p.error(f"--out must end in .npy or .png, got {out.name!r}")
    if args.interpolate and kind != ".png":
        p.error("--interpolate writes a picture: use --out FILE.png")
    if args.interpolate and args.n is not None and args.n > MAX_WALKS:
        p.error(f"--n: at most {MAX_WALKS} latent walks in one picture, got {args.n}")
    n = args.n if args.n is not None else (8 if args.interpolate else 64)
    if problem := output_problem(out):  # found now, not after the samples are drawn
        p.fail(f"--out: cannot write {out}: {problem}")
    try:
        backend.use(args.device)
        G, config = load_generator(args.run)
    except (backend.BackendError, checkpoint.CheckpointError) as err:
        p.fail(str(err))
    data_dim = [layer for layer in G.layers if isinstance(layer, nn.Dense)][-1].n_out  # G's last product
    need, limit = n * data_dim * 4, memory_limit()
    if limit is not None and need > limit[0]:  # refused now, not after minutes of swapping (or a kill)
        p.fail(f"--n {n:,} samples need {need / 2**30:.1f} GiB, more than {limit[1]} {limit[0] / 2**30:.1f} GiB")
    if args.interpolate and data_dim < 64:
        p.error(f"--interpolate draws image grids; the run in {args.run} generates "
                f"{data_dim}-dimensional points (its samples.png shows them)")
    try:
        if args.interpolate:
            rows, cols = n, 10
            images = interpolate(G, config, rows, cols, seed=args.seed)
            save_samples_figure(images, out, f"{data_label(config)} · {rows} latent walks, left to right", cols=cols)
        else:
            report = None
            if n >= 100_000:  # a few seconds or more: a progress line on standard error
                progress = Progress(sys.stderr)

                def report(done, total):
                    progress.update(f"drawing samples: {done:,} / {total:,}", force=done == total)

            samples = generate(G, config, n, args.seed, progress=report)
            if report:
                progress.close()
            if kind == ".npy":
                with checkpoint.atomic_write(out) as f:  # whole or not at all: a full disk keeps the old file
                    np.save(f, samples)
            else:
                save_samples_figure(samples, out, f"{data_label(config)} · {n} samples")
    except OSError as err:  # a full disk, say: not a mistake in the options, so exit 1 and no "see --help"
        print(f"{p.prog}: error: cannot write {out}: {describe_os_error(err)}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
