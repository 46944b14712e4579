"""Sampling: ``python -m tinygan.sample`` and its parts, on a one-step run of the ``seed``
preset (tests of whole runs are in test_train.py).  Added after a mutation pass over
sample.py: each test fails on a change the suite had let through."""

import io
import sys
from pathlib import Path

import numpy as np
import pytest

from test_train import small_trainer
from tinygan import backend, checkpoint, sample, train
from tinygan.backend import Random


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A saved run of the 'seed' preset (no EMA), one step in, made without file I/O for data."""
    directory = tmp_path_factory.mktemp("run")
    trainer = small_trainer(arch="seed", ema=0.0)
    trainer.train_step()
    trainer.save(directory / "checkpoint.npz")
    return directory


def test_a_generator_of_strings_is_a_checkpoint_error(tmp_path, run_dir):
    """Non-float generator weights are refused by name (np.isfinite alone raises TypeError on strings)."""
    arrays, meta = checkpoint.load(run_dir / "checkpoint.npz")
    arrays["G_params"] = np.full(arrays["G_params"].shape, "x")
    checkpoint.save(tmp_path / "checkpoint.npz", arrays, meta)
    with pytest.raises(checkpoint.CheckpointError, match="G_params holds values that are not finite numbers"):
        sample.load_generator(tmp_path)


def test_the_npy_samples_follow_seed(tmp_path, run_dir):
    """--seed reaches the .npy draw too (the suite checks it for --interpolate only)."""
    for name, extra in (("default", []), ("zero", ["--seed", "0"]), ("five", ["--seed", "5"])):
        assert sample.main(["--run", str(run_dir), "--n", "4", "--out", str(tmp_path / f"{name}.npy"), *extra]) == 0
    default, zero, five = (np.load(tmp_path / f"{name}.npy") for name in ("default", "zero", "five"))
    np.testing.assert_array_equal(default, zero)
    assert not np.allclose(zero, five)


def test_generate_without_a_seed_draws_what_the_command_draws_without_one(tmp_path, run_dir):
    """generate's default seed is the command's default --seed (0)."""
    assert sample.main(["--run", str(run_dir), "--n", "4", "--out", str(tmp_path / "s.npy")]) == 0
    G, config = sample.load_generator(run_dir)
    np.testing.assert_array_equal(sample.generate(G, config, 4), np.load(tmp_path / "s.npy"))


def test_generate_draws_a_thousand_at_a_time_by_default(run_dir):
    """The default batch is 1000 rows: a large draw is a few big products, not thousands of small ones."""
    G, config = sample.load_generator(run_dir)
    calls = []
    sample.generate(G, config, 2001, progress=lambda done, n: calls.append(done))
    assert calls == [1000, 2000, 2001]


def test_generate_refuses_no_samples_and_an_empty_batch(run_dir):
    """n = 0 returned None, not the (0, data_dim) array the docstring promised; batch = 0
    failed inside range()."""
    G, config = sample.load_generator(run_dir)
    for n, batch in ((0, 1000), (-1, 1000), (5, 0)):
        with pytest.raises(ValueError, match=f"generate needs n >= 1 and batch >= 1, got n={n}, batch={batch}"):
            sample.generate(G, config, n, batch=batch)


def test_generate_says_a_count_no_array_can_hold_is_too_many(run_dir):
    """2**53 - 1 samples: NumPy's ValueError 'array is too big' came out of evaluate --n and
    train --eval-samples as a traceback; a MemoryError is what their one-line messages catch."""
    G, config = sample.load_generator(run_dir)
    with pytest.raises(MemoryError, match="9,007,199,254,740,991 samples of 784 numbers are too many to hold"):
        sample.generate(G, config, 2 ** 53 - 1, batch=2)


def test_a_png_without_interpolate_is_a_picture_of_all_the_samples(tmp_path, run_dir, monkeypatch):
    """--out FILE.png writes a PNG (not .npy bytes), drawn from all n samples."""
    out = tmp_path / "s.png"
    assert sample.main(["--run", str(run_dir), "--n", "6", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    seen = []
    monkeypatch.setattr(sample, "save_samples_figure", lambda samples, path, title, **kw: seen.append(
        (samples.shape, Path(path), title, kw)))
    assert sample.main(["--run", str(run_dir), "--n", "6", "--out", str(out)]) == 0
    assert seen == [((6, 784), out, "mnist · 6 samples", {})]


def test_an_interpolation_picture_is_ten_points_wide(tmp_path, run_dir, monkeypatch):
    """Each latent walk is one row of the picture: 10 points, so the grid is 10 columns wide."""
    seen = []
    monkeypatch.setattr(sample, "save_samples_figure", lambda samples, path, title, **kw: seen.append(
        (samples.shape, kw)))
    assert sample.main(["--run", str(run_dir), "--n", "3", "--out", str(tmp_path / "w.png"), "--interpolate"]) == 0
    assert seen == [((30, 784), {"cols": 10})]


def test_interpolate_defaults_to_eight_walks_of_ten_points():
    z = sample.interpolate(lambda z: z, train.Config(z_dim=5))
    assert z.shape == (80, 5)


@pytest.mark.parametrize("error", [OSError, ValueError, AttributeError])
def test_an_unknown_machine_memory_falls_back_to_the_containers_limit(tmp_path, monkeypatch, error):
    """os.sysconf may be missing (AttributeError) or not know the name (ValueError): the
    cgroup limit alone is used, and with no cgroup file either the answer is None."""
    def no_sysconf(name):
        raise error(name)

    monkeypatch.setattr(sample.os, "sysconf", no_sysconf)
    limit_file = tmp_path / "memory.max"
    limit_file.write_text(f"{2**29}\n")
    monkeypatch.setattr(sample, "CGROUP_LIMITS", (str(limit_file),))
    assert sample.memory_limit() == (2**29, "this container's limit of")
    monkeypatch.setattr(sample, "CGROUP_LIMITS", (str(tmp_path / "absent"),))
    assert sample.memory_limit() is None


def test_a_cgroup_v1_limit_is_read_when_there_is_no_v2_file(tmp_path, monkeypatch):
    """The first cgroup path missing (cgroup v1 machines) must not stop the search."""
    monkeypatch.setattr(sample.os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 2**19}[name])
    (tmp_path / "limit_in_bytes").write_text(f"{2**29}\n")
    monkeypatch.setattr(sample, "CGROUP_LIMITS", (str(tmp_path / "absent"), str(tmp_path / "limit_in_bytes")))
    assert sample.memory_limit() == (2**29, "this container's limit of")


def test_a_container_limit_equal_to_the_machines_memory_is_the_machines(tmp_path, monkeypatch):
    monkeypatch.setattr(sample.os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 2**19}[name])
    (tmp_path / "memory.max").write_text(f"{2 * 2**30}\n")
    monkeypatch.setattr(sample, "CGROUP_LIMITS", (str(tmp_path / "memory.max"),))
    assert sample.memory_limit() == (2 * 2**30, "this machine's")


def test_sampling_goes_on_when_the_memory_limit_is_unknown_or_exactly_enough(tmp_path, run_dir, monkeypatch):
    """No limit known (None) is no refusal, and n samples needing exactly the limit fit."""
    for limit in (None, (5 * 784 * 4, "this machine's")):
        monkeypatch.setattr(sample, "memory_limit", lambda limit=limit: limit)
        assert sample.main(["--run", str(run_dir), "--n", "5", "--out", str(tmp_path / "s.npy")]) == 0
        assert np.load(tmp_path / "s.npy").shape == (5, 784)


def test_device_reaches_the_backend_and_its_error_is_one_line(tmp_path, run_dir, capsys, monkeypatch):
    """--device is handed to backend.use, and a BackendError (no GPU) is one line, exit 2."""
    asked = []

    def no_gpu(device):
        asked.append(device)
        raise backend.BackendError("--device gpu: no GPU here")

    monkeypatch.setattr(sample.backend, "use", no_gpu)
    with pytest.raises(SystemExit) as exit_:
        sample.main(["--run", str(run_dir), "--out", str(tmp_path / "s.npy"), "--device", "gpu"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and asked == ["gpu"]
    assert err == "python -m tinygan.sample: error: --device gpu: no GPU here\n"
    assert not (tmp_path / "s.npy").exists()


def test_a_large_draw_on_a_terminal_ends_its_progress_line(tmp_path, run_dir, monkeypatch):
    """On a terminal the progress line is redrawn with \\r; closing it ends it with a newline."""


    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    real_generate = sample.generate
    monkeypatch.setattr(sample, "generate", lambda G, config, n, seed, progress=None: real_generate(
        G, config, 10, seed, progress=progress and (lambda done, total: progress(n, n))))
    assert sample.main(["--run", str(run_dir), "--n", "100000", "--out", str(tmp_path / "s.npy")]) == 0
    text = terminal.getvalue()
    assert text.startswith("\rdrawing samples: 100,000 / 100,000") and text.endswith("\n")


def test_sampling_says_what_it_wrote(tmp_path, run_dir, capsys):
    out = tmp_path / "s.npy"
    assert sample.main(["--run", str(run_dir), "--n", "2", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"


def test_generate_feeds_the_generator_the_seeded_noise_stream():
    """Samples of seed s are G(Random(s).normal(...)): the same numbers in every version, so
    a recorded seed reproduces its samples (as interpolate's test pins its walk ends)."""
    identity = lambda z: z  # noqa: E731 - a "generator" that shows the noise it is given
    z = sample.generate(identity, train.Config(z_dim=5), 7, seed=3)
    np.testing.assert_array_equal(z, np.asarray(Random(3).normal((7, 5)), dtype=np.float32))


@pytest.mark.parametrize("config", [[1], "newer"], ids=["not an object", "a field this version lacks"])
def test_a_config_this_tinygan_cannot_read_is_a_checkpoint_error(tmp_path, run_dir, config):
    """Config.from_dict raises TypeError for a non-object config or an unknown field (a newer
    tinygan's run): sampling names the file instead of a traceback."""
    arrays, meta = checkpoint.load(run_dir / "checkpoint.npz")
    meta["config"] = config if config != "newer" else {**meta["config"], "a_future_option": 1}
    checkpoint.save(tmp_path / "checkpoint.npz", arrays, meta)
    with pytest.raises(checkpoint.CheckpointError, match="checkpoint.npz: its config does not fit this tinygan"):
        sample.load_generator(tmp_path)


def test_a_large_draw_always_shows_its_last_count(tmp_path, run_dir, capsys, monkeypatch):
    """Progress lines are rate-limited, but the final 'n / n' is forced out even right after
    another line."""
    real_generate = sample.generate

    def quick(G, config, n, seed, progress=None):
        progress(n // 2, n)  # printed: the first line
        progress(n, n)  # a moment later: printed only because it is forced
        return real_generate(G, config, 10, seed)

    monkeypatch.setattr(sample, "generate", quick)
    assert sample.main(["--run", str(run_dir), "--n", "100000", "--out", str(tmp_path / "s.npy")]) == 0
    err = capsys.readouterr().err
    assert "drawing samples: 50,000 / 100,000" in err and "drawing samples: 100,000 / 100,000" in err
