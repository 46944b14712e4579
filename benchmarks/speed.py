"""Training steps per second: tinygan against PyTorch CPU eager, same nets, batch and loss.

    python benchmarks/speed.py                       # seed and pytorch-gan, batch 64 and 256
    python benchmarks/speed.py --arch seed --batch-size 64 --steps 300 --threads 1
    python benchmarks/speed.py --device gpu          # tinygan on CuPy against PyTorch on CUDA

One line per configuration, ready to compare across runs and machines:

    arch=seed batch=64 tinygan=NN.N torch=NN.N ratio=N.NN

``ratio`` is tinygan's steps/s over PyTorch's: above 1, tinygan is faster.

A step is one full GAN iteration: one discriminator update on a real and a fake batch,
then one generator update through the discriminator, both with Adam(2e-4, (0.5, 0.999))
and the non-saturating loss.  PyTorch runs the textbook eager loop of its examples
(the fake batch is made once, detached for D, reused for G).  ``torch=-`` when PyTorch
is not installed.  With ``--device gpu`` tinygan runs on CuPy and PyTorch on CUDA, and
each block ends by waiting for the GPU to finish its queued work.  Each library runs in
its own worker process (so neither's idle BLAS/OpenMP threads sit in the other's process).  Timings are medians of ``--repeats``
blocks of ``--steps`` steps, after a warm-up; the two libraries' blocks alternate, and
``ratio`` is the median of the ratios of back-to-back pairs of blocks, so that a slow
spell of a shared machine falls on both and the ratio stays comparable from run to run.  On a busy or virtual machine, single blocks still vary by 10-20%:
use more ``--repeats`` before trusting a difference of a few percent.

The ratio falls as the batch grows; ``benchmarks/products.py`` shows why, and lesson 13
reads its figures.  In two of its runs on the 2-core development machine, with each
step's matrix products replayed alone: at batch 64 both libraries did the products at
similar speed, and PyTorch spent 2.4-3.5 times as long as tinygan on everything else (a
cost per operation that did not grow with the batch), so tinygan was 1.36-1.44 times as
fast.  At batch 256 both libraries' products ran at 155-167 GFLOP/s, near this machine's
rate, and were two thirds or more of either step.  PyTorch does 6.7% (``pytorch-gan``)
to 10.3% (``seed``) more arithmetic than tinygan: D's weight gradients in the generator
step, which PyTorch computes and discards.  For ``seed`` that is 0.8-0.9 ms of a 2.0-2.3 ms
lead; the rest is half a millisecond of Adam (PyTorch loops over its parameter tensors on
a CPU) and 0.7-0.9 ms of everything else.  For ``pytorch-gan`` tinygan's everything else
took 0.6-1.3 ms longer (and in one run its Adam 0.3 ms longer), leaving 1.6 ms.  With
the products on both cores and the rest on one, perfectly overlapped, ``pytorch-gan`` at
batch 256 could be at most about 1.22-1.24 times as fast as PyTorch on that machine.
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


def tinygan_stepper(arch, batch, device="cpu", seed=0):
    """``(step, sync)``: one GAN iteration, and a call that waits for the device."""
    from tinygan import backend, gan, models, optim
    from tinygan.backend import Random

    backend.use(device)
    rng = Random(seed)
    G, D = models.build_gan(arch, rng)
    opt_g = optim.Adam(G.flat_params, G.flat_grads, 2e-4, (0.5, 0.999))
    opt_d = optim.Adam(D.flat_params, D.flat_grads, 2e-4, (0.5, 0.999))
    data = rng.uniform((batch * 16, 784), -1, 1)
    i = [0]

    def real():
        i[0] = (i[0] + 1) % 16
        return data[i[0] * batch:(i[0] + 1) * batch]

    def noise():
        return rng.normal((batch, 100))

    def step():
        gan.train_step(G, D, opt_g, opt_d, real, noise)

    def sync():
        if device == "gpu":
            backend.array_module().cuda.Device().synchronize()

    return step, sync


def torch_nets(arch):
    """``(G, D)``: the PyTorch twins of tinygan's preset ``arch``, layer for layer
    (``tests/test_torch_parity.py`` checks that they match ``tinygan.models``)."""
    import torch
    from torch import nn

    class MinibatchMeanAbsDev(nn.Module):
        """tinygan's ``nn.MinibatchMeanAbsDev``: appends the batch's mean absolute
        deviation (over rows, then features) to every row."""

        def forward(self, x):
            spread = (x - x.mean(dim=0)).abs().mean()
            return torch.cat([x, spread.expand(x.shape[0], 1)], dim=1)

    leaky = lambda: nn.LeakyReLU(0.2)  # noqa: E731
    if arch == "seed":
        G = nn.Sequential(nn.Linear(100, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 784), nn.Tanh())
        D = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    elif arch == "pytorch-gan":
        def block(n_in, n_out, normalize=True):
            layers = [nn.Linear(n_in, n_out)]
            if normalize:
                layers.append(nn.BatchNorm1d(n_out, 0.8))  # eps=0.8, as gan.py writes it
            return layers + [leaky()]

        G = nn.Sequential(*block(100, 128, normalize=False), *block(128, 256), *block(256, 512), *block(512, 1024),
                          nn.Linear(1024, 784), nn.Tanh())
        D = nn.Sequential(nn.Linear(784, 512), leaky(), nn.Linear(512, 256), leaky(), nn.Linear(256, 1))
    elif arch == "default":  # the nets only: the EMA of the default recipe is not part of a step here
        G = nn.Sequential(nn.Linear(100, 256), leaky(), nn.Linear(256, 256), leaky(), nn.Linear(256, 784), nn.Tanh())
        D = nn.Sequential(nn.Linear(784, 256), leaky(), nn.Dropout(0.3), nn.Linear(256, 256), leaky(),
                          nn.Dropout(0.3), MinibatchMeanAbsDev(), nn.Linear(257, 1))
    else:
        raise SystemExit(f"no PyTorch twin for arch {arch!r} (choose seed, pytorch-gan or default)")
    return G, D


def torch_stepper(arch, batch, device="cpu", seed=0):
    """``(step, sync)`` for the PyTorch twin of ``arch``."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    on = torch.device("cuda" if device == "gpu" else "cpu")
    G, D = torch_nets(arch)
    G, D = G.to(on), D.to(on)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    data = torch.rand(batch * 16, 784, device=on) * 2 - 1
    ones, zeros = torch.ones(batch, 1, device=on), torch.zeros(batch, 1, device=on)
    i = [0]

    def step():
        i[0] = (i[0] + 1) % 16
        real = data[i[0] * batch:(i[0] + 1) * batch]
        fake = G(torch.randn(batch, 100, device=on))
        opt_d.zero_grad()
        loss_d = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = bce(D(fake), ones)  # non-saturating: -log D(G(z))
        loss_g.backward()
        opt_g.step()

    def sync():
        if device == "gpu":
            torch.cuda.synchronize()

    return step, sync


def block_rate(step, sync, steps):
    """Steps per second over one block of ``steps`` calls, queued GPU work included."""
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return steps / (time.perf_counter() - start)


def _worker(make_stepper, arch, batch, threads, device, conn):
    """A child process that owns one library: warms up, then times blocks on request.

    Each library runs in its own process so that neither one's idle worker threads
    (OpenBLAS's, OpenMP's) share a process with the other's work.
    """
    if threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    if threads and make_stepper is torch_stepper:
        import torch

        torch.set_num_threads(threads)
    step, sync = make_stepper(arch, batch, device)
    for _ in range(10):
        step()
    conn.send("ready")
    while (steps := conn.recv()) is not None:
        conn.send(block_rate(step, sync, steps))


def block_rates(makers, arch, batch, steps, repeats, threads=None, device="cpu"):
    """Steps/s of every block of each library, timing their blocks in turn: A B A B ...

    Returns one list of ``repeats`` rates per library; entry ``i`` of each list was
    measured back to back, so a slow spell of a shared machine falls on both.
    """
    ctx = multiprocessing.get_context("spawn")
    workers = []
    for make in makers:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(make, arch, batch, threads, device, child))
        proc.start()
        child.close()  # only the worker holds this end now: its exit shows as EOFError
        workers.append((proc, parent))
    try:
        for (proc, conn), make in zip(workers, makers):
            try:
                conn.recv()
            except EOFError:
                raise SystemExit(f"{make.__name__} failed for arch={arch} batch={batch} (see above)") from None
        rates = [[] for _ in workers]
        for _ in range(repeats):
            for (_, conn), rate in zip(workers, rates):
                time.sleep(0.2)  # the other library's idle threads stop spinning meanwhile
                conn.send(steps)
                rate.append(conn.recv())
        return rates
    finally:
        for proc, conn in workers:
            if proc.is_alive():
                try:
                    conn.send(None)
                except OSError:
                    pass
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()


def main(argv=None):
    from tinygan.cli import positive

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", nargs="+", default=["seed", "pytorch-gan"], choices=["seed", "pytorch-gan", "default"],
                   help="presets with a PyTorch twin")
    p.add_argument("--batch-size", nargs="+", type=positive(int), default=[64, 256])
    p.add_argument("--steps", type=positive(int), default=50, help="steps per timed block")
    p.add_argument("--repeats", type=positive(int), default=11, help="timed blocks per library; medians are reported")
    p.add_argument("--threads", type=positive(int), default=None,
                   help="threads for both libraries (default: what each picks on this machine)")
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                   help="gpu: tinygan on CuPy, PyTorch on CUDA")
    args = p.parse_args(argv)
    try:  # the parent only asks whether PyTorch is there; the workers import it
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = None
    print(f"# device={args.device}, {os.cpu_count()} CPUs, threads={args.threads or 'default'}, "
          f"torch={torch_version or '-'}; "
          f"median of {args.repeats} alternating blocks of {args.steps} steps, each library in its own process")
    for arch in args.arch:
        for batch in args.batch_size:
            if torch_version is None:
                (ours,) = block_rates([tinygan_stepper], arch, batch, args.steps, args.repeats, args.threads,
                                      args.device)
                print(f"arch={arch} batch={batch} tinygan={statistics.median(ours):.1f} torch=- ratio=-", flush=True)
                continue
            ours, theirs = block_rates([tinygan_stepper, torch_stepper], arch, batch, args.steps,
                                       args.repeats, args.threads, args.device)
            # the ratio is the median over back-to-back pairs of blocks: steadier than a
            # ratio of two medians taken over minutes of a machine's ups and downs
            ratio = statistics.median(a / b for a, b in zip(ours, theirs))
            print(f"arch={arch} batch={batch} tinygan={statistics.median(ours):.1f} "
                  f"torch={statistics.median(theirs):.1f} ratio={ratio:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
