"""Where a training step's time goes: matrix products, Adam, and everything else, tinygan and PyTorch.

    python benchmarks/products.py                                 # seed and pytorch-gan, batch 256
    python benchmarks/products.py --arch pytorch-gan --batch-size 64 256
    python benchmarks/products.py --batch-size 64 256 --plot lessons/figures/step_time.png

``benchmarks/speed.py`` says how fast each library's step is; this script says why, and
lesson 13 reads its figures.  Per configuration it prints five lines (one run on the
2-core development machine):

    tinygan: step 33.6 ms = products 24.8 ms (4.07 GFLOP at 164 GFLOP/s) + the rest 8.8 ms (Adam's updates 5.0 ms of it)
    alone:   tinygan's products back to back 24.3 ms (167 GFLOP/s)
    torch:   step 35.2 ms = products 26.9 ms (4.35 GFLOP at 162 GFLOP/s) + the rest 8.3 ms (Adam's updates 4.7 ms of it)
    alone:   PyTorch's products back to back 26.8 ms (162 GFLOP/s); under the profiler a step took 39.1 ms
    ratio:   now 1.05; with nothing but the products, in-step 1.42, alone 1.45; 1.25 leaves the rest 3.4 ms (it takes 8.8)

- **step** is timed as ``speed.py`` times it: alternating blocks of the two libraries,
  each in its own process, medians over ``--repeats`` blocks of ``--steps`` steps.
- **tinygan's products** are the time inside ``nn.Dense.forward`` and ``.backward`` in
  an instrumented run (the matrix products, with the bias add, the bias gradient's column
  sum, and the broadcast multiply that replaces a product with an inner size of 1), and
  their FLOPs are ``2·rows·in·out`` for every product those calls make.  The same run
  times ``optim.Adam.update``.  Each is a median over blocks.
- **PyTorch's products** are the self time of ``aten::mm`` and ``aten::addmm`` (which
  includes its bias add) under ``torch.profiler``, with FLOPs from the shapes it records.
  The profiler adds to every call it times (the step under it is printed), so this is an
  upper bound, loosest at small batches.  ``torch.optim.Adam.step`` is timed in a run
  without the profiler.
- **the rest** is the step minus its products: activations, BatchNorm, losses, the
  noise, Adam, and the interpreter.
- **alone** replays the products of one step back to back on warm arrays, with nothing
  between them: for tinygan the exact calls (same shapes, transposes and ``out=``), for
  PyTorch ``mm``/``addmm`` on contiguous tensors of the recorded shapes.  It is what this
  machine's BLAS gives those shapes, measured the same way for both libraries, and it is
  what ``--plot`` draws.
- **ratio** is PyTorch's step time over tinygan's (``speed.py``'s ratio), then what it
  would be if everything but tinygan's products took no time, and how many milliseconds
  the rest may take for a ratio of ``--target`` with the products as they are in the step.
- **--plot FILE** draws every configuration as stacked bars (products alone, Adam,
  everything else) for both libraries.

On a shared virtual machine a block can be 10-30% slower than the next; the split comes
from runs other than the step times', so run it twice before trusting a difference of a
millisecond.  Where a split does not even fit inside its step (the products and Adam
longer than the whole step), a warning line says so.  Without PyTorch only tinygan's lines
are printed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import multiprocessing
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # tinygan from this checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # speed.py's steppers

import speed  # noqa: E402


def _timed_blocks(step, steps, repeats):
    """Milliseconds per step: the median over ``repeats`` blocks of ``steps`` steps."""
    per_step = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        per_step.append((time.perf_counter() - start) / steps * 1e3)
    return statistics.median(per_step)


def tinygan_breakdown(arch, batch, steps, repeats):
    """``dict``: ms and FLOPs per step in ``nn.Dense``, ms in Adam's updates, and the
    ms of the same products replayed alone."""
    import numpy as np

    from tinygan import nn, optim

    products = []  # (a, b, out): one step's products, recorded by shape and layout
    clock = {"seconds": 0.0, "flops": 0, "record": False, "adam": 0.0}
    plain_forward, plain_backward = nn.Dense.forward, nn.Dense.backward
    plain_update = optim.Adam.update

    def update(self, g):
        start = time.perf_counter()
        plain_update(self, g)
        clock["adam"] += time.perf_counter() - start

    def forward(self, x, train=True):
        start = time.perf_counter()
        result = plain_forward(self, x, train)
        clock["seconds"] += time.perf_counter() - start
        clock["flops"] += 2 * x.shape[0] * self.n_in * self.n_out
        if clock["record"]:
            products.append((x, self.params["W"], None))
        return result

    def backward(self, dout, cache, *, param_grads=True, accumulate=True, input_grad=True):
        start = time.perf_counter()
        result = plain_backward(self, dout, cache, param_grads=param_grads, accumulate=accumulate,
                                input_grad=input_grad)
        clock["seconds"] += time.perf_counter() - start
        flops = 2 * dout.shape[0] * self.n_in * self.n_out
        clock["flops"] += flops * (param_grads + (input_grad and self.n_out > 1))
        if clock["record"]:
            if param_grads:
                products.append((cache.T, dout, None if accumulate else self.grads["W"]))
            if input_grad and self.n_out > 1:
                products.append((dout, self.params["W"].T, None))
        return result

    step, _ = speed.tinygan_stepper(arch, batch)
    for _ in range(10):
        step()
    nn.Dense.forward, nn.Dense.backward, optim.Adam.update = forward, backward, update
    try:
        clock["record"] = True
        step()
        clock["record"] = False
        per_block = []  # (ms in the products, ms in Adam, FLOPs) per step of each block
        for _ in range(repeats):
            clock["seconds"], clock["flops"], clock["adam"] = 0.0, 0, 0.0
            _timed_blocks(step, steps, 1)
            per_block.append((clock["seconds"] / steps * 1e3, clock["adam"] / steps * 1e3, clock["flops"] / steps))
    finally:
        nn.Dense.forward, nn.Dense.backward, optim.Adam.update = plain_forward, plain_backward, plain_update
    # medians over blocks, as for the step times: a slow spell of the machine moves one block
    dense_ms, adam_ms, flops = (statistics.median(column) for column in zip(*per_block))

    # the same products, alone: fresh arrays of the same shapes and memory layouts
    def like(a):
        fresh = np.random.default_rng(0).standard_normal(a.shape).astype(a.dtype)
        return np.asfortranarray(fresh) if a.flags.f_contiguous and not a.flags.c_contiguous else fresh

    replay = [(like(a), like(b), None if out is None else np.empty_like(out)) for a, b, out in products]

    def products_alone():
        for a, b, out in replay:
            if out is None:
                a @ b
            else:
                np.matmul(a, b, out=out)

    alone_ms = _timed_blocks(products_alone, steps, repeats)
    return {"products_ms": dense_ms, "flops": flops, "adam_ms": adam_ms, "alone_ms": alone_ms,
            "n_products": len(products)}


def torch_breakdown(arch, batch, steps, repeats):
    """``dict``: ms and FLOPs per step in ``aten::mm`` and ``aten::addmm`` under the
    profiler (``products_ms``, ``flops``), the ms a step took under it (``profiled_ms``),
    the same products replayed alone (``alone_ms``), and the ms in
    ``torch.optim.Adam.step`` (``adam_ms``, timed in a run without the profiler, whose
    overhead on Adam's many small operations would count against it)."""
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")  # above its USDT level: no "profiler_start" lines
    import torch
    from torch.profiler import ProfilerActivity, profile

    step, _ = speed.torch_stepper(arch, batch)
    for _ in range(10):
        step()
    per_block = []  # (ms in the products, FLOPs, ms a step took) per step of each profiled block
    for _ in range(repeats):
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            start = time.perf_counter()
            for _ in range(steps):
                step()
            profiled_ms = (time.perf_counter() - start) / steps * 1e3
        micros, flops, calls = 0.0, 0, []
        for event in prof.key_averages(group_by_input_shape=True):
            if event.key not in ("aten::mm", "aten::addmm"):
                continue
            micros += event.self_cpu_time_total
            a, b = event.input_shapes[1:3] if event.key == "aten::addmm" else event.input_shapes[:2]
            flops += 2 * a[0] * a[1] * b[1] * event.count
            calls.append((event.key, event.input_shapes, event.count // steps))
        per_block.append((micros / 1e3 / steps, flops / steps, profiled_ms))
    products_ms, flops, profiled_ms = (statistics.median(column) for column in zip(*per_block))

    # one step's products again, alone and unprofiled (contiguous operands of the recorded shapes)
    replay = []
    for key, shapes, count in calls:
        if key == "aten::addmm":
            bias, a, b = (torch.randn(*shape) for shape in shapes[:3])
            replay += [lambda bias=bias, a=a, b=b: torch.addmm(bias, a, b)] * count
        else:
            a, b = (torch.randn(*shape) for shape in shapes[:2])
            replay += [lambda a=a, b=b: torch.mm(a, b)] * count

    def products_alone():
        for product in replay:
            product()

    alone_ms = _timed_blocks(products_alone, steps, repeats)

    plain_step = torch.optim.Adam.step
    adam_seconds = [0.0]

    def timed_step(self, *args, **kwargs):
        start = time.perf_counter()
        result = plain_step(self, *args, **kwargs)
        adam_seconds[0] += time.perf_counter() - start
        return result

    torch.optim.Adam.step = timed_step
    adam_ms = []
    try:
        for _ in range(repeats):
            adam_seconds[0] = 0.0
            _timed_blocks(step, steps, 1)
            adam_ms.append(adam_seconds[0] / steps * 1e3)
    finally:
        torch.optim.Adam.step = plain_step
    return {"products_ms": products_ms, "flops": flops, "adam_ms": statistics.median(adam_ms),
            "profiled_ms": profiled_ms, "alone_ms": alone_ms}


def plot_split(rows, path):
    """Draw each configuration's step as stacked bars, tinygan over PyTorch: matrix
    products, Adam's updates, and everything else, in ms.  The products are the replay
    alone, the same measurement for both libraries (PyTorch's in-step figure comes from
    its profiler, which adds to every call it times).

    rows: dicts with ``arch``, ``batch``, ``ratio`` (or None) and ``steps``, a list of
    ``(library, step_ms, split)`` with ``split`` a ``*_breakdown`` dict (its ``alone_ms``
    and ``adam_ms`` are drawn).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [("matrix products (timed alone)", "#4c72b0"), ("Adam's updates", "#dd8452"), ("everything else", "#a5a5a5")]
    fig, axes = plt.subplots(len(rows), 1, figsize=(7.5, 1.15 + 1.05 * len(rows)), squeeze=False)
    for ax, row in zip(axes[:, 0], rows):
        names = [name for name, _, _ in row["steps"]]
        for y, (name, step_ms, split) in enumerate(row["steps"]):
            widths = [split["alone_ms"], split["adam_ms"], step_ms - split["alone_ms"] - split["adam_ms"]]
            left = 0.0
            for (label, colour), width in zip(parts, widths):
                ax.barh(y, width, left=left, color=colour, label=label if y == 0 else None, height=0.6)
                left += width
            ax.text(left, y, f" {step_ms:.1f} ms", va="center", fontsize=9)
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.2 * max(step_ms for _, step_ms, _ in row["steps"]))
        ratio = f": tinygan {row['ratio']:.2f} times as fast" if row["ratio"] is not None else ""
        ax.set_title(f"{row['arch']}, batch {row['batch']}{ratio}", fontsize=10, loc="left")
    axes[-1, 0].set_xlabel("ms per training step")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _in_child(function, *args):
    """``function(*args)`` in a fresh process, so that neither library's threads sit in the other's."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def describe(name, step_ms, split):
    """One line: the step, its products (time, FLOPs, rate) and the rest; and a second,
    a warning, when the split does not fit inside the step.

    The step and its split come from different runs, so on a busy machine the products
    (and Adam) can seem to take longer than the whole step; the split then says nothing.
    """
    rate = split["flops"] / (split["products_ms"] / 1e3) / 1e9
    rest_ms = step_ms - split["products_ms"]
    line = (f"  {name + ':':8} step {step_ms:.1f} ms = products {split['products_ms']:.1f} ms "
            f"({split['flops'] / 1e9:.2f} GFLOP at {rate:.0f} GFLOP/s) + the rest {rest_ms:.1f} ms")
    line += f" (Adam's updates {split['adam_ms']:.1f} ms of it)" if "adam_ms" in split else ""
    if rest_ms < split.get("adam_ms", 0.0):
        line += (f"\n  {'warning:':8} this split (timed in another run) does not fit inside the step: "
                 "the load changed between runs; run again on an idle machine")
    return line


def main(argv=None):
    from tinygan.cli import output_problem, positive

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", nargs="+", default=["seed", "pytorch-gan"], choices=["seed", "pytorch-gan", "default"])
    p.add_argument("--batch-size", nargs="+", type=positive(int), default=[256])
    p.add_argument("--steps", type=positive(int), default=20, help="steps per timed block")
    p.add_argument("--repeats", type=positive(int), default=7, help="timed blocks per library; medians are reported")
    p.add_argument("--target", type=positive(float), default=1.25, help="the ratio to budget for (speed.py's target)")
    p.add_argument("--plot", metavar="FILE", help="also draw the splits as stacked bars into FILE (a PNG)")
    args = p.parse_args(argv)
    if args.plot and (problem := output_problem(args.plot)):  # found now, not after minutes of timing
        p.error(f"cannot write --plot {args.plot}: {problem}")
    try:
        importlib.metadata.version("torch")
        have_torch = True
    except importlib.metadata.PackageNotFoundError:
        have_torch = False
    makers = [speed.tinygan_stepper, speed.torch_stepper] if have_torch else [speed.tinygan_stepper]
    print(f"# {os.cpu_count()} CPUs; ms per step: medians of {args.repeats} alternating blocks of {args.steps} "
          f"steps (as speed.py times them), split by one instrumented run of each library")
    rows = []
    for arch in args.arch:
        for batch in args.batch_size:
            print(f"arch={arch} batch={batch}", flush=True)
            rates = speed.block_rates(makers, arch, batch, args.steps, args.repeats)
            ours = _in_child(tinygan_breakdown, arch, batch, args.steps, args.repeats)
            our_ms = 1e3 / statistics.median(rates[0])
            print(describe("tinygan", our_ms, ours))
            alone_rate = ours["flops"] / (ours["alone_ms"] / 1e3) / 1e9
            print(f"  {'alone:':8} tinygan's products back to back {ours['alone_ms']:.1f} ms ({alone_rate:.0f} GFLOP/s)",
                  flush=True)
            rows.append({"arch": arch, "batch": batch, "ratio": None, "steps": [("tinygan", our_ms, ours)]})
            if not have_torch:
                continue
            theirs = _in_child(torch_breakdown, arch, batch, args.steps, args.repeats)
            their_ms = 1e3 / statistics.median(rates[1])
            print(describe("torch", their_ms, theirs))
            print(f"  {'alone:':8} PyTorch's products back to back {theirs['alone_ms']:.1f} ms "
                  f"({theirs['flops'] / (theirs['alone_ms'] / 1e3) / 1e9:.0f} GFLOP/s); under the profiler "
                  f"a step took {theirs['profiled_ms']:.1f} ms", flush=True)
            ratio = statistics.median(a / b for a, b in zip(*rates))
            budget = their_ms / args.target - ours["products_ms"]
            print(f"  {'ratio:':8} now {ratio:.2f}; with nothing but the products, in-step "
                  f"{their_ms / ours['products_ms']:.2f}, alone {their_ms / ours['alone_ms']:.2f}; "
                  f"{args.target:.2f} leaves the rest {budget:.1f} ms (it takes {our_ms - ours['products_ms']:.1f})",
                  flush=True)
            rows[-1]["ratio"] = ratio
            rows[-1]["steps"].append(("PyTorch", their_ms, theirs))
    if args.plot:
        plot_split(rows, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
