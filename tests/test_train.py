"""The training command: outputs, exact resume, Ctrl-C, NaN handling and every error path.

Runs use a few hundred MNIST digits and a few dozen steps, so each takes about a second.
"""

import argparse
import io
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tinygan import checkpoint, train
from tinygan.backend import Random

SMALL = ["--data", "mnist", "--subset", "300", "--batch-size", "32", "--no-eval"]


def run_cli(capsys, *argv):
    """Call ``python -m tinygan.train`` in-process; return (exit code, stdout, stderr)."""
    try:
        code = train.main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_same_run(run_a, run_b, step):
    """Both runs' checkpoints are at ``step`` with bitwise-equal arrays and RNG states."""
    a, meta_a = checkpoint.load(run_a / "checkpoint.npz")
    b, meta_b = checkpoint.load(run_b / "checkpoint.npz")
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert meta_a["rng"] == meta_b["rng"] and meta_a["step"] == meta_b["step"] == step


def test_smoke_run_writes_everything(tmp_path, capsys):
    code, out, _ = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "12", "--out", tmp_path / "run")
    assert code == 0, out
    run = tmp_path / "run"
    for name in ("checkpoint.npz", "config.json", "curves.png", "metrics.jsonl", "samples.png",
                 "samples/epoch_001.png"):
        assert (run / name).is_file(), name
    arrays, meta = checkpoint.load(run / "checkpoint.npz")
    assert meta["step"] == 12 and meta["epoch"] == 1 and meta["config"]["arch"] == "seed"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 12
    assert all(0 < r["d_real"] < 1 and np.isfinite(r["loss_d"]) for r in records)
    assert "step 12" in out and "steps/s" in out and "D(G(z))" in out
    # 9 batches an epoch: step 12 is in the second epoch, and both lines count epochs from 1
    assert "epoch 2 step 12" in out and "at step 12, in epoch 2" in out
    assert set(records[-1]) == {"loss_d", "loss_g", "d_real", "d_fake", "step", "epochs_done", "seconds"}
    assert (records[-1]["step"], records[-1]["epochs_done"]) == (12, 1)  # in epoch 2, one done


def test_progress_and_stop_lines_agree_at_an_epochs_end(tmp_path, capsys):
    code, out, err = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "18", "--out", tmp_path / "run")
    assert code == 0, err
    text = out + err
    assert "epoch 2 step 18" in text and "epoch 3 step 18" not in text  # 9 batches an epoch
    assert "at step 18, after epoch 2" in out


@pytest.mark.parametrize("arch", ["seed", "default", "pytorch-gan"])  # dropout RNGs and the EMA; BatchNorm statistics
def test_resume_is_bitwise_identical_to_an_uninterrupted_run(tmp_path, capsys, arch):
    common = [*SMALL, "--arch", arch, "--batch-size", "16"]  # 18 batches an epoch: crosses epochs
    assert run_cli(capsys, *common, "--steps", "30", "--out", tmp_path / "straight")[0] == 0
    assert run_cli(capsys, *common, "--steps", "13", "--out", tmp_path / "split")[0] == 0
    code, out, err = run_cli(capsys, "--resume", "--out", tmp_path / "split", "--steps", "30", "--no-eval")
    assert code == 0, err
    assert "resuming at step 13" in out
    assert_same_run(tmp_path / "straight", tmp_path / "split", step=30)


@pytest.mark.parametrize("options", [
    # 9 batches an epoch, an iteration takes 2: 4 iterations, and one batch left over each epoch
    [*SMALL, "--arch", "seed", "--d-steps", "2"],
    # toy data is not stored: the resumed run draws the same 500 points again from the seed
    ["--data", "ring8", "--subset", "500", "--no-eval"],
], ids=["d-steps-2", "toy"])
def test_resume_is_bitwise_identical_with_several_d_steps_and_on_toy_data(tmp_path, capsys, options):
    assert run_cli(capsys, *options, "--steps", "10", "--out", tmp_path / "straight")[0] == 0
    assert run_cli(capsys, *options, "--steps", "5", "--out", tmp_path / "split")[0] == 0
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "split", "--steps", "10", "--no-eval")
    assert code == 0, err
    assert_same_run(tmp_path / "straight", tmp_path / "split", step=10)
    assert checkpoint.load(tmp_path / "split" / "checkpoint.npz")[1]["epoch"] >= 2  # the split crossed epochs


def test_resume_is_bitwise_identical_with_batchnorm_and_dropout_in_both_networks(tmp_path, capsys, monkeypatch):
    """No preset has BatchNorm in D or dropout in G, yet a checkpoint must carry both (D's
    running statistics, G's mask streams): nets that have everything stand in for ``seed``."""
    from tinygan import models, nn

    def nets_with_everything(arch, rng, z_dim, data_dim, dtype="float32"):
        def net(sizes, seed, out_act=None):
            return models._mlp(sizes, lambda: nn.LeakyReLU(0.2), rng, "xavier", dtype, batchnorm_eps=1e-5,
                               dropout=0.2, dropout_seed=seed, out_act=out_act)
        return net([z_dim, 32, 32, 32, data_dim], 5, nn.Tanh), net([data_dim, 32, 32, 32, 1], 9)

    monkeypatch.setattr(train.models, "build_gan", nets_with_everything)
    common = [*SMALL, "--arch", "seed", "--ema", "0.9"]
    assert run_cli(capsys, *common, "--steps", "20", "--out", tmp_path / "straight")[0] == 0
    assert run_cli(capsys, *common, "--steps", "9", "--out", tmp_path / "split")[0] == 0
    arrays, meta = checkpoint.load(tmp_path / "split" / "checkpoint.npz")
    assert arrays["D_state"].size and arrays["G_state"].size and meta["g_rng"] and meta["d_rng"]
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "split", "--steps", "20", "--no-eval")
    assert code == 0, err
    assert_same_run(tmp_path / "straight", tmp_path / "split", step=20)


def test_a_resumed_run_goes_on_with_the_blas_threads_it_had(tmp_path, capsys):
    """OpenBLAS splits a product differently on 1 and on 2 threads, so the bits of a run
    depend on the count: the checkpoint records it and a resume restores it (here after the
    count changed under it, as on a machine with more cores)."""
    from tinygan import backend

    if backend.blas_threads() is None:
        pytest.skip("this NumPy runs on a BLAS other than OpenBLAS, whose threads tinygan cannot set")
    common = [*SMALL, "--arch", "default"]
    assert run_cli(capsys, *common, "--threads", "1", "--steps", "20", "--out", tmp_path / "straight")[0] == 0
    assert run_cli(capsys, *common, "--threads", "2", "--steps", "20", "--out", tmp_path / "two")[0] == 0
    one, _ = checkpoint.load(tmp_path / "straight" / "checkpoint.npz")
    two, meta = checkpoint.load(tmp_path / "two" / "checkpoint.npz")
    assert meta["blas_threads"] == 2 and not np.array_equal(one["G_params"], two["G_params"])

    code, out, _ = run_cli(capsys, *common, "--threads", "1", "--steps", "9", "--out", tmp_path / "split")
    assert code == 0 and "(1 BLAS thread)" in out
    backend.set_blas_threads(2)
    code, out, err = run_cli(capsys, "--resume", "--out", tmp_path / "split", "--steps", "20", "--no-eval")
    assert code == 0, err
    assert "(1 BLAS thread)" in out and "differ" not in out
    assert_same_run(tmp_path / "straight", tmp_path / "split", step=20)

    # asked for another count, a resumed run uses it and says what that costs
    code, out, _ = run_cli(capsys, "--resume", "--out", tmp_path / "split", "--steps", "22", "--threads", "2")
    assert code == 0 and "(2 BLAS threads)" in out
    assert "trained with 1 BLAS thread until now; with 2, its numbers will differ in the last bits" in out
    code, out, _ = run_cli(capsys, *common, "--threads", "100000", "--steps", "1", "--out", tmp_path / "many")
    cap = backend.blas_threads()  # the build's maximum (64 for NumPy's wheels)
    assert code == 0 and f"runs at most {cap} BLAS threads; --threads 100000 uses {cap}" in out
    assert checkpoint.load(tmp_path / "many" / "checkpoint.npz")[1]["blas_threads"] == cap


def test_threads_where_numpy_has_no_openblas_is_a_note_not_an_error(tmp_path, capsys, monkeypatch):
    from tinygan import backend

    monkeypatch.setattr(backend, "_openblas_handle", False)
    code, out, _ = run_cli(capsys, *SMALL, "--arch", "seed", "--threads", "1", "--steps", "2",
                           "--out", tmp_path / "run")
    assert code == 0 and "--threads has no effect here" in out and "BLAS thread" not in out.split("\n")[1]
    assert checkpoint.load(tmp_path / "run" / "checkpoint.npz")[1]["blas_threads"] is None
    code, out, _ = run_cli(capsys, *SMALL, "--threads", "0", "--out", tmp_path / "zero")
    assert code == 2


def test_a_resume_where_numpy_has_no_openblas_says_its_numbers_will_differ(capsys, monkeypatch):
    """A run trained on 2 OpenBLAS threads, resumed on another BLAS: the count cannot be set back, and it says so."""
    from tinygan import backend

    monkeypatch.setattr(backend, "_openblas_handle", False)
    assert train.choose_blas_threads(None, 2) == ""
    out = capsys.readouterr().out
    assert "this run trained with 2 BLAS threads of OpenBLAS, and NumPy here runs on another BLAS" in out


def test_nan_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    config = train.Config(data="mnist", arch="seed", batch_size=32, subset=300, ema=0.0)
    trainer = train.Trainer(config, train.load_training_data(config))
    out = tmp_path / "run"
    train.run(trainer, out, max_steps=9, progress=train.Progress(open(os.devnull, "w")))  # 9 = one epoch
    good = (out / "checkpoint.npz").read_bytes()
    original_step = trainer.train_step

    def poisoned_step():
        stats = original_step()
        if trainer.step == 12:
            trainer.G.flat_params[:] = np.nan  # as if an update had blown up
        return stats

    trainer.train_step = poisoned_step
    with pytest.raises(train.TrainingError, match=r"(?s)nan.*last good checkpoint.*intact"):
        train.run(trainer, out, max_steps=100, log_every=5, progress=train.Progress(open(os.devnull, "w")))
    assert (out / "checkpoint.npz").read_bytes() == good


def test_a_nan_before_the_first_checkpoint_says_there_is_none(tmp_path):
    trainer = small_trainer(arch="seed", ema=0.0)
    original_step = trainer.train_step

    def poisoned_step():
        stats = original_step()
        if trainer.step == 3:
            trainer.G.flat_params[:] = np.nan
        return stats

    trainer.train_step = poisoned_step
    with pytest.raises(train.TrainingError, match=r"nan.*no checkpoint was written yet") as error:
        train.run(trainer, tmp_path, max_steps=100, log_every=5, progress=train.Progress(open(os.devnull, "w")))
    assert "intact" not in str(error.value) and not (tmp_path / "checkpoint.npz").exists()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C; kill, timeout, schedulers
def test_ctrl_c_saves_and_the_run_resumes(tmp_path, capsys, stop_signal):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "tinygan.train", *SMALL, "--arch", "seed", "--steps", "1000000",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "metrics.jsonl").exists() or not (out / "metrics.jsonl").read_text():
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(stop_signal)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + stop_signal, stderr  # 130 for Ctrl-C, 143 for SIGTERM
    assert "Traceback" not in stderr and f"resume with: python -m tinygan.train --resume --out {out} --no-eval" in stdout
    _, meta = checkpoint.load(out / "checkpoint.npz")
    assert meta["step"] > 0
    # The interrupted run goes on where it stopped: 3 more steps end where a run that was
    # never interrupted ends.
    steps = meta["step"] + 3
    code, text, err = run_cli(capsys, "--resume", "--out", out, "--steps", steps)
    assert code == 0, err
    assert f"resuming at step {meta['step']}" in text
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", steps, "--out", tmp_path / "straight")[0] == 0
    assert_same_run(tmp_path / "straight", out, step=steps)


def interrupt_at(monkeypatch, step):
    """Make the next ``python -m tinygan.train`` stop at ``step`` as if Ctrl-C were pressed."""
    real_run = train.run

    def run(trainer, out, *args, stop_flag, **kwargs):
        take_step = trainer.train_step

        def step_then_maybe_stop():
            stats = take_step()
            if trainer.step == step:
                stop_flag["stop"] = True  # what the SIGINT handler does
            return stats

        trainer.train_step = step_then_maybe_stop
        return real_run(trainer, out, *args, stop_flag=stop_flag, **kwargs)

    monkeypatch.setattr(train, "run", run)


def test_resume_without_limits_goes_on_to_the_limits_the_run_was_last_given(tmp_path, capsys, monkeypatch):
    common = [*SMALL, "--arch", "default", "--batch-size", "16"]
    assert run_cli(capsys, *common, "--steps", "20", "--out", tmp_path / "straight")[0] == 0
    with monkeypatch.context() as m:
        interrupt_at(m, 8)
        code, out, _ = run_cli(capsys, *common, "--steps", "20", "--out", tmp_path / "split")
    assert code == 130 and "at step 8" in out
    assert "the same limits: steps 20" in out
    assert f"--resume --out {tmp_path / 'split'} --no-eval " in out  # the option holds for one invocation
    code, out, err = run_cli(capsys, "--resume", "--out", tmp_path / "split")  # the printed command
    assert code == 0, err
    assert "resuming at step 8" in out and "(until steps 20)" in out
    assert_same_run(tmp_path / "straight", tmp_path / "split", step=20)
    before = (tmp_path / "split" / "checkpoint.npz").read_bytes()
    code, out, _ = run_cli(capsys, "--resume", "--out", tmp_path / "split")
    assert code == 0 and "already reached the limits it was last given (steps 20)" in out
    assert (tmp_path / "split" / "checkpoint.npz").read_bytes() == before
    # limits at or below the step: nothing is trained, rewritten, evaluated or forgotten
    files = {f.name: f.read_bytes() for f in (tmp_path / "split").iterdir() if f.is_file()}
    for limit in (["--steps", "20"], ["--steps", "3"], ["--epochs", "1"]):
        code, out, _ = run_cli(capsys, "--resume", "--out", tmp_path / "split", *limit)
        assert code == 0 and f"already reached the limits given ({limit[0][2:]} {limit[1]})" in out, out
        assert "it is at step 20, with 1 epoch(s) done" in out
    assert {f.name: f.read_bytes() for f in (tmp_path / "split").iterdir() if f.is_file()} == files
    code, out, _ = run_cli(capsys, "--resume", "--out", tmp_path / "split")
    assert "already reached the limits it was last given (steps 20)" in out
    code, out, err = run_cli(capsys, "--resume", "--out", tmp_path / "split", "--steps", "22")  # further
    assert code == 0 and "(until steps 22)" in out, err


def test_the_resume_command_repeats_the_evaluation_options(tmp_path, capsys, monkeypatch):
    """--no-eval and --eval-samples are not stored in the checkpoint, so the printed
    command carries them; without them a resumed run would evaluate 10,000 samples."""
    common = ["--data", "mnist", "--subset", "300", "--batch-size", "32", "--arch", "seed", "--steps", "20"]
    for run, (given, shown) in enumerate([([], ""), (["--eval-samples", "50"], " --eval-samples 50"),
                                          (["--eval-samples", "10000"], "")]):
        with monkeypatch.context() as m:
            interrupt_at(m, 4)
            code, out, _ = run_cli(capsys, *common, *given, "--out", tmp_path / str(run))
        assert code == 130 and f"--resume --out {tmp_path / str(run)}{shown}   (it goes on" in out, out


def test_resume_without_limits_gets_the_rest_of_the_time_budget(tmp_path, capsys, monkeypatch):
    with monkeypatch.context() as m:
        interrupt_at(m, 5)
        code, out, _ = run_cli(capsys, *SMALL, "--arch", "seed", "--out", tmp_path / "run")  # 300 s budget
    assert code == 130 and "(until 300 s)" in out
    _, meta = checkpoint.load(tmp_path / "run" / "checkpoint.npz")
    assert meta["limits"] == {"steps": None, "epochs": None, "seconds": 300.0}
    with monkeypatch.context() as m:
        interrupt_at(m, 7)
        code, out, _ = run_cli(capsys, "--resume", "--out", tmp_path / "run")
    assert code == 130
    left = float(re.search(r"\(until ([0-9.]+) s\)", out).group(1))  # to 0.01 s
    assert left == pytest.approx(300 - meta["seconds"], abs=0.01) and left < 300


@pytest.mark.parametrize("spent, limit", [(5.0, 1.0), (60.0, 60.0)])  # past the budget, or exactly on it
def test_a_resumed_run_whose_time_budget_is_spent_is_left_as_it_is(tmp_path, capsys, spent, limit):
    """A stored limit of `limit` s of training with `spent` s spent: nothing to train, and nothing rewritten."""
    out = tmp_path / "run"
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)[0] == 0
    arrays, meta = checkpoint.load(out / "checkpoint.npz")
    meta.update(seconds=spent, limits={"steps": None, "epochs": None, "seconds": limit})
    checkpoint.save(out / "checkpoint.npz", arrays, meta)
    files = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    code, text, _ = run_cli(capsys, "--resume", "--out", out)
    assert code == 0 and f"already reached the limits it was last given ({limit:g} s of training in all)" in text, text
    assert {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()} == files


def test_a_time_limit_is_stored_on_the_runs_clock(tmp_path, capsys):
    """--max-seconds 60 on a run whose clock says 100 s: the run is to stop at 160 s of training in all."""
    out = tmp_path / "run"
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)[0] == 0
    arrays, meta = checkpoint.load(out / "checkpoint.npz")
    meta["seconds"] = 100.0
    checkpoint.save(out / "checkpoint.npz", arrays, meta)
    code, _, err = run_cli(capsys, "--resume", "--out", out, "--steps", "3", "--max-seconds", "60", "--no-eval")
    assert code == 0, err
    assert checkpoint.load(out / "checkpoint.npz")[1]["limits"] == {"steps": 3, "epochs": None, "seconds": 160.0}


@pytest.fixture
def no_training(monkeypatch):
    """For options that must be refused: where a check is missing, the test fails at once
    instead of training on all of MNIST with no limit (``--max-seconds inf``) or none given."""
    def refuse(config):
        raise AssertionError(f"the options got past their checks, and training would start: {config}")

    monkeypatch.setattr(train, "load_training_data", refuse)


@pytest.mark.parametrize("argv,message", [
    (["--data", "cifar"], "unknown --data 'cifar'; choose one of: mnist, fashion-mnist"),
    (["--arch", "dcgan"], "unknown --arch 'dcgan'; choose one of: default, seed, pytorch-gan"),
    (["--batch-size", "0"], "--batch-size: must be > 0, got 0"),
    (["--lr", "-1"], "--lr: must be > 0, got -1"),
    (["--lr", "nan"], "--lr: must be > 0, got nan"),
    (["--max-seconds", "inf"], "--max-seconds: must be a finite number, got inf"),
    (["--lr=-inf"], "--lr: must be > 0, got -inf"),
    (["--d-steps", "two"], "--d-steps: 'two' is not a valid int"),
    (["--label-smoothing", "1.5"], "--label-smoothing: must be in (0, 1], got 1.5"),
    (["--loss", "hinge"], "--loss: invalid choice: 'hinge'"),
    (["--device", "tpu"], "--device: invalid choice: 'tpu'"),
    (["--seed", "-1"], "--seed: must be >= 0, got -1"),  # NumPy's generators take no negative seed
    (["--eval-samples", "1"], "--eval-samples: must be >= 2, got 1"),  # else found only after training
    (["--data-dir", ""], "--data-dir is empty"),  # an unset $DATA: not silently the shipped MNIST
    (["--data", ""], "unknown --data ''; choose one of: mnist"),  # likewise: it trained MNIST
    (["--arch", ""], "unknown --arch ''; choose one of: default"),
    (["--steps", "9" * 30], "--steps: must be below 2**53 = 9,007,199,254,740,992, got 99999999999999999999..."),
    (["--epochs", str(2 ** 53)], "--epochs: must be below 2**53"),  # an OverflowError traceback mid-run
    (["--out", ""], "--out is empty"),
    (["--resume"], "--resume needs --out DIR"),
    (["--data", "mnist", "--arch", "toy"], "--arch toy is for the low-dimensional sets (gauss1d, ring8, grid25)"),
    (["--data", "ring8", "--arch", "default"], "--arch default is an image model: its generator ends in tanh"),
])
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, message, no_training):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_run_that_is_not_mnist_says_it_is_not_evaluated(tmp_path, capsys):
    """The evaluator knows digits only; a Fashion-MNIST run says so instead of staying silent."""
    package_mnist = pathlib.Path(train.__file__).parent / "data"  # four IDX files, as any --data-dir
    code, out, _ = run_cli(capsys, "--data", "fashion-mnist", "--data-dir", package_mnist, "--subset", "300",
                           "--batch-size", "32", "--arch", "seed", "--steps", "2", "--out", tmp_path / "r")
    assert code == 0 and "no evaluation: tinygan's evaluator scores MNIST digits" in out
    assert not (tmp_path / "r" / "eval.json").exists()


def test_a_failed_final_evaluation_is_one_line_and_keeps_the_training(tmp_path, capsys, monkeypatch):
    from tinygan import classifier, evaluate

    for error in (evaluate.SampleError("samples must lie in [-1, 1]"), classifier.WeightsError("no weights")):
        def failing_evaluation(*args, error=error):
            raise error

        monkeypatch.setattr(train, "evaluate_run", failing_evaluation)
        out = tmp_path / type(error).__name__
        code, _, err = run_cli(capsys, "--data", "mnist", "--subset", "300", "--batch-size", "32", "--arch", "seed",
                               "--steps", "2", "--out", out)
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
        assert f"the training is saved in {out / 'checkpoint.npz'}, but the evaluation failed: {error}" in err
        assert checkpoint.load(out / "checkpoint.npz")[1]["step"] == 2


def test_missing_data_dir_names_the_path(tmp_path, capsys):
    code, _, err = run_cli(capsys, "--data-dir", tmp_path / "nowhere", "--out", tmp_path / "r")
    assert code == 2 and "nowhere" in err and "Traceback" not in err


def test_a_run_on_a_data_directory_is_not_scored_as_digits(tmp_path, capsys):
    """--data-dir holds any 28x28 images (EMNIST letters, KMNIST): the digit evaluator would
    give them a meaningless FD and histogram, so neither train nor evaluate scores them."""
    from tinygan import evaluate

    package_mnist = pathlib.Path(train.__file__).parent / "data"
    code, out, err = run_cli(capsys, "--data-dir", package_mnist, "--subset", "300", "--batch-size", "32",
                             "--arch", "seed", "--steps", "2", "--out", tmp_path / "r")
    assert code == 0, err
    assert f"no evaluation: tinygan's evaluator scores MNIST digits, and this run reads {package_mnist}" in out
    assert not (tmp_path / "r" / "eval.json").exists()
    assert evaluate.main(["--run", str(tmp_path / "r"), "--n", "10"]) == 2
    assert "this evaluator scores MNIST digits" in capsys.readouterr().err


def test_a_relative_data_directory_resumes_from_anywhere(tmp_path, capsys, monkeypatch):
    package = pathlib.Path(train.__file__).parent
    monkeypatch.chdir(package)
    common = ["--data", "fashion-mnist", "--subset", "300", "--batch-size", "32", "--arch", "seed", "--no-eval"]
    assert run_cli(capsys, *common, "--data-dir", "data", "--steps", "2", "--out", tmp_path / "r")[0] == 0
    assert json.loads((tmp_path / "r" / "config.json").read_text())["data_dir"] == str(package / "data")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "r", "--steps", "4", "--no-eval")
    assert code == 0, err
    # the same directory typed again, another way, is no conflict
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "r", "--steps", "6", "--no-eval",
                           "--data-dir", os.path.relpath(package / "data"))
    assert code == 0, err
    assert checkpoint.load(tmp_path / "r" / "checkpoint.npz")[1]["step"] == 6


def copy_of_the_shipped_training_files(folder: pathlib.Path, source="train") -> pathlib.Path:
    """A --data-dir folder holding the shipped MNIST's ``source`` files (train or t10k) as train files."""
    import shutil

    package_data = pathlib.Path(train.__file__).parent / "data"
    folder.mkdir()
    for kind in ("images-idx3", "labels-idx1"):
        shutil.copy(package_data / f"{source}-{kind}-ubyte.gz", folder / f"train-{kind}-ubyte.gz")
    return folder


def test_a_run_whose_data_folder_moved_resumes_from_its_new_place_bit_for_bit(tmp_path, capsys):
    """A moved --data-dir folder could never be resumed: without --data-dir the old place
    was missing, and with it the resume called it a change of settings.  Now the new place
    is taken, after the data are compared with the checkpoint's SHA-256 of them."""
    common = ["--subset", "300", "--batch-size", "32", "--arch", "seed", "--no-eval"]
    data = copy_of_the_shipped_training_files(tmp_path / "digits")
    assert run_cli(capsys, *common, "--data-dir", data, "--steps", "4", "--out", tmp_path / "whole")[0] == 0
    assert run_cli(capsys, *common, "--data-dir", data, "--steps", "2", "--out", tmp_path / "halves")[0] == 0
    moved = data.rename(tmp_path / "moved")
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "halves", "--steps", "4")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"the run's data folder, {data}, is gone; if it moved, give its new place" in err
    code, out, err = run_cli(capsys, "--resume", "--out", tmp_path / "halves", "--steps", "4", "--data-dir", moved)
    assert code == 0, err
    assert f"reading the run's data from {moved} (it trained on {data})" in out
    assert_same_run(tmp_path / "whole", tmp_path / "halves", step=4)
    assert json.loads((tmp_path / "halves" / "config.json").read_text())["data_dir"] == str(moved)


def test_a_data_folder_holding_other_data_is_refused_on_resume(tmp_path, capsys):
    """Another folder (or the same one, its files replaced) with as many images: the
    order of examples would fit, and the run would go on, on other digits."""
    common = ["--subset", "300", "--batch-size", "32", "--arch", "seed", "--no-eval"]
    data = copy_of_the_shipped_training_files(tmp_path / "digits")
    assert run_cli(capsys, *common, "--data-dir", data, "--steps", "2", "--out", tmp_path / "run")[0] == 0
    other = copy_of_the_shipped_training_files(tmp_path / "other", source="t10k")
    for argv in (["--data-dir", other], []):
        code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "run", "--steps", "4", *argv)
        assert code == 2 and "was trained on other data than" in err and "SHA-256" in err, err
        if not argv:
            break
        for path in other.iterdir():  # the run's own folder, its files replaced in place
            path.replace(data / path.name)
    assert checkpoint.load(tmp_path / "run" / "checkpoint.npz")[1]["step"] == 2


def test_a_refused_resume_leaves_the_trainer_as_it_was_built(tmp_path, capsys):
    common = ["--subset", "300", "--batch-size", "32", "--arch", "seed", "--no-eval"]
    data = copy_of_the_shipped_training_files(tmp_path / "digits")
    assert run_cli(capsys, *common, "--data-dir", data, "--steps", "2", "--out", tmp_path / "run")[0] == 0
    arrays, meta = checkpoint.load(tmp_path / "run" / "checkpoint.npz")
    config = train.Config.from_dict(meta["config"])
    trainer = train.Trainer(config, train.load_training_data(config))
    built = trainer.G.flat_params.copy()
    meta["data_sha256"] = "0" * 64
    with pytest.raises(checkpoint.CheckpointError, match="trained on other data"):
        trainer.load_state(arrays, meta)
    np.testing.assert_array_equal(trainer.G.flat_params, built)
    assert not np.array_equal(arrays["G_params"], built)  # loading would have changed it


def test_a_checkpoint_from_before_the_data_fingerprint_resumes_with_a_note(tmp_path, capsys):
    common = ["--subset", "300", "--batch-size", "32", "--arch", "seed", "--no-eval"]
    data = copy_of_the_shipped_training_files(tmp_path / "digits")
    assert run_cli(capsys, *common, "--data-dir", data, "--steps", "2", "--out", tmp_path / "run")[0] == 0
    path = tmp_path / "run" / "checkpoint.npz"
    arrays, meta = checkpoint.load(path)
    assert meta.pop("data_sha256") == train.data_fingerprint(train.load_training_data(train.Config.from_dict(
        meta["config"])))
    checkpoint.save(path, arrays, meta)
    other = copy_of_the_shipped_training_files(tmp_path / "other", source="t10k")
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "run", "--steps", "4", "--data-dir", other)
    assert code == 2 and "drop --data-dir" in err  # unchecked, another folder only replaces one that is gone
    moved = data.rename(tmp_path / "moved")
    code, out, err = run_cli(capsys, "--resume", "--out", tmp_path / "run", "--steps", "4", "--data-dir", moved)
    assert code == 0 and "nothing checks that the folder holds the same data" in out, err


def test_retyping_lr_and_lr_g_on_resume_is_no_conflict(tmp_path, capsys):
    """--lr-g beats --lr in a new run; the resume check reads them the same way."""
    flags = ["--lr", "2e-4", "--lr-g", "1e-3"]
    assert run_cli(capsys, *SMALL, "--arch", "seed", *flags, "--steps", "2", "--out", tmp_path / "r")[0] == 0
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "r", *flags, "--steps", "4", "--no-eval")
    assert code == 0, err
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "r", "--lr", "1e-3", "--steps", "5", "--no-eval")
    assert code == 2 and "(lr_d=0.0002); drop --lr" in err


def test_an_output_that_cannot_be_written_is_one_line_after_the_checkpoint(tmp_path, capsys, monkeypatch):
    """A full disk while drawing epoch 1's grid: the checkpoint of that epoch's end is already saved."""
    def full_disk(samples, path, *args, **kwargs):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(train, "save_samples_figure", full_disk)
    out = tmp_path / "r"
    code, _, err = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "12", "--out", out)  # 9 steps an epoch
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"cannot write {out / 'samples' / 'epoch_001.png'}: No space left on device" in err
    assert f"the last good checkpoint, {out / 'checkpoint.npz'}, is intact" in err
    assert checkpoint.load(out / "checkpoint.npz")[1]["step"] == 9


OPEN_FOLDERS_ARE_NAMED = os.path.isdir("/proc/self/fd")  # Linux: where_folder_is_now can tell


@pytest.mark.parametrize("when", ["after the first checkpoint", "before it", "removed", "copied away, linked back"])
def test_a_run_directory_moved_under_the_run_is_followed_to_its_new_place(tmp_path, capsys, monkeypatch, when):
    """``mv`` on a training run's folder.  The next write failed, and the message said that
    no checkpoint had been written yet (there was none at the old path), though one had
    gone with the folder.  Now it says where the folder went, and how to resume there."""
    out, moved = tmp_path / "r", tmp_path / "moved"
    train_step = train.Trainer.train_step

    def move_during_a_step(trainer):
        if trainer.step == (4 if when == "before it" else 10):  # 9 steps an epoch, the first checkpoint at 9
            if when == "copied away, linked back":  # `mv` to another file system copies, then removes
                shutil.copytree(out, moved)
                shutil.rmtree(out)
                out.symlink_to(moved)
            else:
                shutil.rmtree(out) if when == "removed" else out.rename(moved)
        return train_step(trainer)

    monkeypatch.setattr(train.Trainer, "train_step", move_during_a_step)
    code, _, err = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "18", "--out", out)
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    if when == "copied away, linked back":  # the old path leads to the run's files: resume there
        assert err.strip().endswith(f"; {out} holds a checkpoint again: if it is this run's, python -m "
                                    f"tinygan.train --resume --out {out}") and out.is_symlink()
        monkeypatch.setattr(train.Trainer, "train_step", train_step)
        code, _, err = run_cli(capsys, "--resume", "--out", out, "--steps", "18", "--no-eval")
        assert code == 0 and checkpoint.load(moved / "checkpoint.npz")[1]["step"] == 18, err
        return
    assert not out.exists()  # no new folder of the old name
    if not OPEN_FOLDERS_ARE_NAMED:
        assert err.strip().endswith(f"the run directory {out} was moved or removed while the run wrote to it; "
                                    "training stopped")
        return  # a system without /proc/self/fd cannot say where
    if when == "removed":
        assert err.strip().endswith(f"the run directory {out} was removed, or moved to another file system, "
                                    "while the run wrote to it; training stopped")
        return
    if when == "before it":
        assert err.strip().endswith(f"the run directory {out} was moved to {moved} while the run wrote to it; "
                                    "training stopped before its first checkpoint")
        assert not (moved / "checkpoint.npz").exists()
        return
    assert err.strip().endswith(f"the run directory {out} was moved to {moved} while the run wrote to it; training "
                                f"stopped, and its last good checkpoint went with it: python -m tinygan.train "
                                f"--resume --out {moved}")
    assert checkpoint.load(moved / "checkpoint.npz")[1]["step"] == 9
    monkeypatch.setattr(train.Trainer, "train_step", train_step)
    code, _, err = run_cli(capsys, "--resume", "--out", moved, "--steps", "18")
    assert code == 0 and checkpoint.load(moved / "checkpoint.npz")[1]["step"] == 18, err
    assert [r["step"] for r in train.read_metrics(moved / "metrics.jsonl", 18)] == [9, 18] and not out.exists()


@pytest.mark.parametrize("when", ["moved", "removed", "moved, then Ctrl-C"])
def test_a_run_directory_moved_during_the_final_evaluation_gets_its_eval_json(tmp_path, capsys, monkeypatch, when):
    """The evaluation wrote ``eval.json`` into a new folder of the old name; now it follows
    the folder, or where the folder is gone, prints the report and says it is not saved.
    A Ctrl-C after the move gives the evaluation command for the new place."""
    from tinygan import evaluate

    out, moved = tmp_path / "r", tmp_path / "moved"
    evaluate_samples = evaluate.evaluate_samples
    removed = when == "removed"

    def move_while_scoring(samples):
        shutil.rmtree(out) if removed else out.rename(moved)
        if when == "moved, then Ctrl-C":
            raise KeyboardInterrupt
        return evaluate_samples(samples)

    monkeypatch.setattr(evaluate, "evaluate_samples", move_while_scoring)
    argv = [a for a in SMALL if a != "--no-eval"]
    code, printed, err = run_cli(capsys, *argv, "--arch", "seed", "--steps", "3", "--eval-samples", "200",
                                 "--out", out)
    assert not out.exists()  # no new folder of the old name
    if when == "moved, then Ctrl-C":
        named = moved if OPEN_FOLDERS_ARE_NAMED else out
        assert code == 130 and f"evaluate --run {named} --n 200 --json {named / 'eval.json'}" in err, err
        return
    assert "Frechet distance" in printed  # the report is shown, saved or not
    if removed or not OPEN_FOLDERS_ARE_NAMED:
        how = ("was removed, or moved to another file system," if OPEN_FOLDERS_ARE_NAMED
               else "was moved or removed")
        assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert err.strip().endswith(f"the run directory {out} {how} while the run went on: the evaluation above "
                                    "is not saved")
        return
    assert code == 0, err
    assert json.loads((moved / "eval.json").read_text())["step"] == 3
    assert f"the run directory {out} was moved to {moved} while the run went on: eval.json is there" in printed
    assert f"samples: {moved / 'samples.png'}" in printed


def test_a_run_directory_moved_while_the_run_starts_is_not_made_again(tmp_path, capsys, monkeypatch):
    """Moved while the data loaded, the folder was made again by config.json's write and
    trained into, while the run's lock stayed on the moved, empty one."""
    out, moved = tmp_path / "r", tmp_path / "moved"
    load_training_data = train.load_training_data

    def move_while_loading(config):
        out.rename(moved)
        return load_training_data(config)

    monkeypatch.setattr(train, "load_training_data", move_while_loading)
    code, _, err = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)
    where = f"moved to {moved}" if OPEN_FOLDERS_ARE_NAMED else "moved or removed"
    assert code == 1 and err == (f"python -m tinygan.train: error: the run directory {out} was {where} as the run "
                                 f"started; nothing was trained\n"), err
    assert not out.exists() and not any(moved.iterdir())


def test_where_a_held_folder_is_now(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    identity = checkpoint.folder_identity(folder)
    if not OPEN_FOLDERS_ARE_NAMED:
        assert checkpoint.where_folder_is_now(identity) is None
        pytest.skip("this system has no /proc/self/fd to tell an open folder's path")
    assert checkpoint.where_folder_is_now(identity) is None  # nothing here holds it yet
    release = checkpoint.lock_directory(folder)
    try:
        assert checkpoint.where_folder_is_now(identity) == str(folder)
        folder.rename(tmp_path / "b")
        assert checkpoint.where_folder_is_now(identity) == str(tmp_path / "b")
        (tmp_path / "b").rmdir()
        assert checkpoint.where_folder_is_now(identity) == ""
    finally:
        release()
    assert checkpoint.where_folder_is_now(identity) is None  # let go: nothing here knows it any more


def test_a_half_written_metrics_line_does_not_stop_a_resume(tmp_path, capsys):
    out = tmp_path / "r"
    assert run_cli(capsys, "--data", "ring8", "--steps", "3", "--no-eval", "--out", out)[0] == 0
    with (out / "metrics.jsonl").open("a") as f:
        f.write('{"step": 2}\n')  # JSON, but not a record the curves can draw
        f.write('{"loss_d": 1.3, "st')  # what a process killed mid-write leaves
    code, _, err = run_cli(capsys, "--resume", "--out", out, "--steps", "5", "--no-eval")
    assert code == 0 and "line 2, is not a metrics record; dropped it" in err
    assert "line 3, is not a metrics record; dropped it" in err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 5]
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []


def test_the_epochs_eta_counts_whole_iterations():
    """With 9 batches an epoch and --d-steps 2, an epoch is 4 iterations: its last batch is left over."""
    trainer = small_trainer(arch="seed", ema=0.0, d_steps=2)
    assert trainer.batches_per_epoch == 9
    assert train._eta(trainer, 1.0, 0.0, None, 2, None) == "8s"
    trainer.cursor = 4  # two iterations into the first epoch
    assert train._eta(trainer, 1.0, 0.0, None, 2, None) == "6s"


def test_the_eta_is_the_nearest_limit_counted_from_where_the_run_is():
    """Steps left (not all steps) at the current pace, the time budget less the time spent, and the nearer of two."""
    trainer = small_trainer(arch="seed", ema=0.0)
    trainer.step = 100
    assert train._eta(trainer, 10.0, 0.0, 150, None, None) == "5s"  # 50 steps left at 10 steps/s
    assert train._eta(trainer, 10.0, 20.0, None, None, 300.0) == "4m40s"
    assert train._eta(trainer, 10.0, 20.0, 150, None, 300.0) == "5s"
    assert train._eta(trainer, 10.0, 20.0, None, None, None) == "-"


def test_resume_given_the_checkpoint_file_names_the_directory(tmp_path, capsys):
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "1", "--out", tmp_path / "r")[0] == 0
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "r" / "checkpoint.npz")
    assert code == 2 and f"--out is the run's directory: --resume --out {tmp_path / 'r'}" in err


def test_the_commands_end_a_ctrl_c_or_a_memory_error_with_one_line(tmp_path, capsys, monkeypatch):
    from tinygan import classifier, evaluate, sample, theory

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "1", "--out", tmp_path / "r")[0] == 0
    capsys.readouterr()
    from tinygan.cli import Stopped

    for error, code in ((KeyboardInterrupt(), 130), (Stopped(signal.SIGTERM), 143),
                        (MemoryError("Unable to allocate 29.2 GiB"), 1)):
        def fail(*args, error=error, **kwargs):
            raise error

        with monkeypatch.context() as m:
            m.setattr(sample, "generate", fail)
            m.setattr(evaluate, "evaluate_samples", fail)
            m.setattr(classifier, "train", fail)
            m.setattr(theory, "run_all", fail)
            calls = {"sample": (sample.main, ["--run", str(tmp_path / "r"), "--out", str(tmp_path / "s.npy")]),
                     "evaluate": (evaluate.main, ["--run", str(tmp_path / "r"), "--n", "10"]),
                     "classifier": (classifier.main, ["--out", str(tmp_path / "w.npz")]),
                     "theory": (theory.main, ["--out", str(tmp_path / "theory")])}
            for name, (main, argv) in calls.items():
                try:
                    assert main(argv) == code, name
                except (KeyboardInterrupt, MemoryError):  # escaping, it would also stop pytest itself
                    pytest.fail(f"{name}: {type(error).__name__} escaped as a traceback")
                err = capsys.readouterr().err
                assert err.strip().startswith(f"python -m tinygan.{name}: ") and len(err.strip().splitlines()) == 1, err
                expected = {130: "interrupted (Ctrl-C)", 143: "interrupted (SIGTERM)"}.get(
                    code, "not enough memory (Unable to allocate 29.2 GiB)")
                assert expected in err, err
    assert not (tmp_path / "s.npy").exists() and not (tmp_path / "w.npz").exists()


def test_outputs_that_cannot_be_written_are_refused_before_the_work(tmp_path, capsys, monkeypatch):
    from tinygan import classifier, evaluate

    monkeypatch.setattr(classifier, "train", lambda **kwargs: pytest.fail("trained before checking --out"))
    with pytest.raises(SystemExit) as exit_:
        classifier.main(["--out", str(tmp_path)])
    assert exit_.value.code == 2 and "cannot write" in capsys.readouterr().err
    monkeypatch.setattr(evaluate, "get_samples", lambda args: pytest.fail("sampled before checking --json"))
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--samples", "x.npy", "--json", str(tmp_path)])
    assert exit_.value.code == 2 and f"--json: cannot write {tmp_path}: it is a directory" in capsys.readouterr().err


def test_a_sample_file_that_cannot_be_finished_leaves_the_old_one(tmp_path, capsys, monkeypatch):
    from tinygan import sample

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "1", "--out", tmp_path / "r")[0] == 0
    out = tmp_path / "s.npy"
    assert sample.main(["--run", str(tmp_path / "r"), "--n", "5", "--out", str(out)]) == 0
    before = out.read_bytes()

    def disk_fills(f, array):
        f.write(b"\x93NUMPY partial")
        raise OSError("1000 requested and 524 written")  # NumPy's words for a short write

    monkeypatch.setattr(np, "save", disk_fills)
    assert sample.main(["--run", str(tmp_path / "r"), "--n", "9", "--out", str(out)]) == 1  # no mistake in the options
    assert "only part of it could be written (1000 requested and 524 written); is the disk full?" in capsys.readouterr().err
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["r", "s.npy"]


def test_resume_errors(tmp_path, capsys):
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "empty")
    assert code == 2 and "no checkpoint at" in err
    assert "see --help" not in err  # a missing file is no mistake in the options: --help would not help
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.npz").write_bytes(b"not a zip file")
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "bad")
    assert code == 2 and "not a readable tinygan checkpoint: truncated, damaged, or another kind of file" in err
    assert "see --help" not in err
    code, _, err = run_cli(capsys, "--resume")
    assert code == 2 and err.endswith("--resume needs --out DIR, the run to continue (see --help)\n")
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "ok")[0] == 0
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "ok", "--arch", "default")
    assert code == 2 and "arch='seed'" in err and "drop --arch" in err
    code, _, err = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "ok")
    assert code == 2 and "already holds a run" in err


def test_incompatible_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "ok")[0] == 0
    arrays, meta = checkpoint.load(tmp_path / "ok" / "checkpoint.npz")
    arrays["G_params"] = arrays["G_params"][:-5]
    checkpoint.save(tmp_path / "ok" / "checkpoint.npz", arrays, meta)
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "ok", "--steps", "4")
    assert code == 2 and "G_params has shape" in err


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"a": np.arange(3)}, {"step": 1})
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, {"a": np.arange(4)}, {"step": 2})
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_checkpoint_is_written_beside_its_target_then_renamed(tmp_path, monkeypatch):
    """A rename is atomic only within one file system, so the temporary file goes in the run directory."""
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renames.append((src, dst)), real_replace(src, dst))[1])
    checkpoint.save(tmp_path / "c.npz", {"a": np.arange(3)}, {"step": 1})
    [(src, dst)] = renames
    assert os.path.dirname(src) == str(tmp_path) and dst == tmp_path / "c.npz"


def test_a_checkpoint_reaches_the_disk_before_it_replaces_the_last_one(tmp_path, monkeypatch):
    """The rename is atomic, but without an fsync first a power cut can leave the new name
    pointing at a file whose data never reached the disk: the old checkpoint gone too."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.fstat(fd).st_size)), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda src, dst: (events.append(("replace", dst)), real_replace(src, dst))[1])
    checkpoint.save(tmp_path / "c.npz", {"a": np.arange(3)}, {"step": 1})
    (first, size), second = events
    assert first == "fsync" and size == (tmp_path / "c.npz").stat().st_size  # all of it, flushed
    assert second == ("replace", tmp_path / "c.npz")


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_checkpoint_gets_the_mode_of_any_other_output(tmp_path):
    """Not mkstemp's private 0600: another user of a shared run directory can sample it."""
    umask = os.umask(0o022)
    try:
        checkpoint.save(tmp_path / "c.npz", {"a": np.arange(3)}, {"step": 1})
        (tmp_path / "other.txt").write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "c.npz").stat().st_mode & 0o777 == (tmp_path / "other.txt").stat().st_mode & 0o777 == 0o644


@pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs as on POSIX")
def test_atomic_write_keeps_a_symlink_and_writes_a_pipe_directly(tmp_path):
    """A rename over a link would cut it, and over a pipe or /dev/stdout would replace the
    device: the target of a link is replaced, and what is no regular file is written in place."""
    import threading

    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    with checkpoint.atomic_write(tmp_path / "link.json", "w") as f:
        f.write("new")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_text() == "new"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    with checkpoint.atomic_write(fifo, "w") as f:
        f.write("through the pipe")
    reader.join(timeout=10)
    assert received == ["through the pipe"] and not fifo.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "pipe", "real.json"]


def test_atomic_write_keeps_a_files_mode_and_refuses_a_write_protected_one(tmp_path):
    private = tmp_path / "private.json"
    private.write_text("old")
    private.chmod(0o600)
    with checkpoint.atomic_write(private, "w") as f:
        f.write("new")
    assert private.read_text() == "new" and private.stat().st_mode & 0o777 == 0o600  # not made readable to all
    if os.name == "posix" and os.geteuid() != 0:  # root may write anything, as with a shell's >
        protected = tmp_path / "keep.npy"
        protected.write_text("old")
        protected.chmod(0o444)
        with pytest.raises(PermissionError):
            with checkpoint.atomic_write(protected) as f:
                f.write(b"new")
        assert protected.read_text() == "old"


def test_a_file_the_user_may_not_write_is_refused_even_where_the_folder_allows_a_rename(tmp_path, monkeypatch):
    """As a shell's > would (root may write anything, so here os.access says no for one file)."""
    protected = tmp_path / "keep.npy"
    protected.write_text("old")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: os.fspath(path) != str(protected) and real_access(path, mode))
    with pytest.raises(PermissionError, match="write-protected"):
        with checkpoint.atomic_write(protected) as f:
            f.write(b"new")
    assert protected.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.npy"]


def test_a_write_error_names_the_output_not_its_temporary_file(tmp_path):
    """A full disk says "No space left" with no file name; the user should read which output it was."""
    with pytest.raises(OSError) as error:
        with checkpoint.atomic_write(tmp_path / "c.npz"):
            raise OSError(28, "No space left on device")
    assert error.value.filename == str(tmp_path / "c.npz") and list(tmp_path.iterdir()) == []


def test_a_write_error_raised_again_as_the_file_closes_still_names_the_output(tmp_path, monkeypatch):
    """On a full disk, closing the temporary file tries to write the rest of its buffer and
    fails too; that second error, which replaces the first, used to carry no name, and the
    run said "cannot write an output"."""
    real_fdopen = os.fdopen

    class ClosesOnAFullDisk(io.BufferedWriter):
        def close(self):
            super().close()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "fdopen", lambda fd, mode: ClosesOnAFullDisk(real_fdopen(fd, "wb", buffering=0)))
    with pytest.raises(OSError) as error:
        with checkpoint.atomic_write(tmp_path / "c.npz"):
            raise OSError(28, "No space left on device")
    assert error.value.filename == str(tmp_path / "c.npz") and list(tmp_path.iterdir()) == []


def test_a_file_on_a_read_only_file_system_is_called_that_not_write_protected(tmp_path, monkeypatch):
    from tinygan import cli

    target = tmp_path / "eval.json"
    target.write_text("{}")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode == os.W_OK else real_access(p, mode, **kw))
    assert cli.output_problem(target) == "the file is write-protected"
    monkeypatch.setattr(checkpoint, "read_only_file_system", lambda path: True)
    assert cli.output_problem(target) == "it is on a read-only file system"
    assert cli.output_problem(tmp_path / "new" / "x.npy") == f"{tmp_path} is on a read-only file system"
    with pytest.raises(OSError) as error:
        with checkpoint.atomic_write(target, "w") as f:
            f.write("{}")
    assert error.value.strerror == "Read-only file system" and error.value.filename == str(target)
    assert not isinstance(error.value, PermissionError)


def test_a_format_version_of_the_wrong_type_is_shown_as_it_is(tmp_path):
    """Format "3" (a string) was reported as "format 3, this tinygan reads format 3"."""
    checkpoint.save(tmp_path / "c.npz", {"a": np.arange(3)}, {})
    arrays = checkpoint.read_npz(tmp_path / "c.npz")
    arrays["meta_json"] = np.array(json.dumps({"format_version": str(checkpoint.FORMAT_VERSION)}))
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(checkpoint.CheckpointError, match=f"has checkpoint format '{checkpoint.FORMAT_VERSION}', "):
        checkpoint.load(tmp_path / "c.npz")


def test_device_paths_and_pipes_are_written_in_place_not_replaced(tmp_path):
    """Replacing what /dev/stdout points to would cut a shell's `> report.txt`; such paths
    are opened and appended to, never renamed over."""
    assert checkpoint.writes_in_place("/dev/stdout") and checkpoint.writes_in_place("/dev/fd/63")
    assert checkpoint.writes_in_place("/dev/null")
    assert not checkpoint.writes_in_place(tmp_path / "a.json") and not checkpoint.writes_in_place(tmp_path / "new")
    (tmp_path / "old.json").write_text("{}")  # an existing file in a writable folder: replaced whole, atomically
    assert not checkpoint.writes_in_place(tmp_path / "old.json")
    assert not checkpoint.writes_in_place("/dev/shm/run/checkpoint.npz")  # a file system like any other
    if os.name == "posix":
        (tmp_path / "out.json").symlink_to("/dev/stdout")
        assert checkpoint.writes_in_place(tmp_path / "out.json")  # a link to a stream is the stream


def test_this_processs_stdout_is_written_through_sys_stdout(tmp_path, capsys):
    """Not a second opening of /dev/stdout: its offset would not follow what print() wrote,
    and with `> file` the JSON and the printed report would overwrite each other."""
    print("report line")
    with checkpoint.atomic_write("/dev/stdout", "w") as f:
        f.write('{"fd": 1.0}\n')
    print("wrote /dev/stdout")
    assert capsys.readouterr().out == 'report line\n{"fd": 1.0}\nwrote /dev/stdout\n'


def test_a_file_written_in_place_is_truncated_not_appended_to(tmp_path):
    """The in-place path (a writable file in a folder that is not) must not leave old bytes after the new."""
    target = tmp_path / "samples.npy"
    target.write_bytes(b"old samples, longer than the new ones")
    with checkpoint._in_place(target, "wb") as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    if os.name == "posix":
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        assert checkpoint.writes_in_place(fifo)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX named pipes")
def test_samples_can_be_written_into_a_named_pipe(tmp_path, capsys):
    """A pipe cannot seek, and np.save asks for the position: the samples go out whole,
    and the reader at the other end loads them."""
    import threading

    from tinygan import sample

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "1", "--out", tmp_path / "run")[0] == 0
    fifo = tmp_path / "samples.npy"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    code = sample.main(["--run", str(tmp_path / "run"), "--n", "5", "--out", str(fifo)])
    reader.join(timeout=30)
    assert code == 0, capsys.readouterr().err
    assert np.load(io.BytesIO(received[0])).shape == (5, 784) and fifo.is_fifo()


def test_an_output_check_makes_no_folders(tmp_path):
    from tinygan.cli import output_problem

    assert output_problem(tmp_path / "a" / "b" / "report.json") is None and not (tmp_path / "a").exists()
    assert output_problem("") == "an empty path"
    (tmp_path / "file").write_text("x")
    assert output_problem(tmp_path / "file" / "report.json") == f"{tmp_path / 'file'} is a file, not a directory"


def test_evaluate_refuses_to_write_its_report_over_its_samples(tmp_path, capsys):
    from tinygan import evaluate

    np.save(tmp_path / "s.npy", np.zeros((5, 784), np.float32) - 1)
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--samples", str(tmp_path / "s.npy"), "--json", str(tmp_path / "s.npy")])
    assert exit_.value.code == 2 and "is the samples file" in capsys.readouterr().err
    assert np.load(tmp_path / "s.npy").shape == (5, 784)


def test_evaluate_refuses_to_write_its_report_over_the_runs_own_files(tmp_path, capsys):
    """``--json run/checkpoint.npz`` (a tab completion away from eval.json) replaced the
    checkpoint with the report, and said "wrote"."""
    from tinygan import evaluate

    out = tmp_path / "run"
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)[0] == 0
    before = {name: (out / name).read_bytes() for name in ("checkpoint.npz", "config.json", "metrics.jsonl")}
    for target, message in ((out / "checkpoint.npz", f"is the checkpoint.npz of the run in {out}"),
                            (out / "config.json", f"is the config.json of the run in {out}"),
                            (out / "metrics.jsonl", f"is the metrics.jsonl of the run in {out}"),
                            (tmp_path / "digits.NPY", "the report is JSON text, not a .NPY file")):
        with pytest.raises(SystemExit) as exit_:
            evaluate.main(["--run", str(out), "--n", "50", "--json", str(target)])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert before == {name: (out / name).read_bytes() for name in before}
    assert not (tmp_path / "digits.NPY").exists()


def test_a_resaved_checkpoint_carries_the_current_format_version(tmp_path):
    checkpoint.save(tmp_path / "c.npz", {"a": np.arange(3)}, {"step": 1, "format_version": 1})
    assert checkpoint.load(tmp_path / "c.npz")[1]["format_version"] == checkpoint.FORMAT_VERSION


def test_sample_cli(tmp_path, capsys, monkeypatch):
    from tinygan import sample

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "run")[0] == 0
    assert sample.main(["--run", str(tmp_path / "run"), "--n", "7", "--out", str(tmp_path / "s.npy")]) == 0
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (7, 784) and samples.dtype == np.float32 and np.abs(samples).max() <= 1
    assert sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "i.png"), "--interpolate"]) == 0
    assert (tmp_path / "i.png").stat().st_size > 1000
    # --seed reaches the walks: another seed, another picture; the same seed, the same one
    for name, seed in (("i0.png", "0"), ("i5.png", "5")):
        assert sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / name), "--interpolate",
                            "--seed", seed]) == 0
    assert (tmp_path / "i0.png").read_bytes() == (tmp_path / "i.png").read_bytes()
    assert (tmp_path / "i5.png").read_bytes() != (tmp_path / "i.png").read_bytes()
    # with --interpolate, --n is the number of walks (8 unless given)
    walks = []
    real_interpolate = sample.interpolate
    monkeypatch.setattr(sample, "interpolate", lambda G, config, rows, cols, seed: (
        walks.append(rows), real_interpolate(G, config, rows, cols, seed))[1])
    assert sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "w3.png"), "--interpolate",
                        "--n", "3"]) == 0
    assert walks == [3]
    assert sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "w100.png"), "--interpolate",
                        "--n", "100"]) == 0 and walks[-1] == 100  # the most one picture takes
    assert sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "s64.npy")]) == 0
    assert np.load(tmp_path / "s64.npy").shape == (64, 784)  # without --n: 64 samples
    for argv, message in ((["--out", str(tmp_path / "s.txt")], "must end in .npy or .png"),
                          (["--out", str(tmp_path / "w.npy"), "--interpolate"], "--interpolate writes a picture"),
                          (["--out", str(tmp_path / "w.png"), "--interpolate", "--n", "101"],
                           "at most 100 latent walks"),
                          (["--out", str(tmp_path / "s.npy"), "--n", "0"], "must be > 0, got 0"),
                          (["--out", str(tmp_path / "s.npy"), "--n", "-5"], "must be > 0, got -5"),
                          (["--out", str(tmp_path / "s.npy"), "--seed", "-1"], "--seed: must be >= 0, got -1")):
        with pytest.raises(SystemExit) as exit_:
            sample.main(["--run", str(tmp_path / "run"), *argv])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    # the checkpoint file where its run directory belongs: the message names the folder
    with pytest.raises(SystemExit) as exit_:
        sample.main(["--run", str(tmp_path / "run" / "checkpoint.npz"), "--out", str(tmp_path / "c.npy")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"give the run's directory, {tmp_path / 'run'}, which holds" in err
    assert "see --help" not in err and not (tmp_path / "c.npy").exists()


def test_sample_takes_an_extension_in_capitals_and_refuses_a_name_that_is_only_one(tmp_path, capsys):
    from tinygan import sample

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "run")[0] == 0
    assert sample.main(["--run", str(tmp_path / "run"), "--n", "3", "--out", str(tmp_path / "S.NPY")]) == 0
    assert np.load(tmp_path / "S.NPY").shape == (3, 784)
    assert sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "W.PNG"), "--interpolate"]) == 0
    assert (tmp_path / "W.PNG").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for argv, message in ((["--run", str(tmp_path / "run"), "--out", str(tmp_path / ".npy")],
                           "names no file, only its kind: give it a name, as in samples.npy"),
                          (["--run", "", "--out", str(tmp_path / "x.npy")], "--run: is empty; name the run directory"),
                          (["--run", str(tmp_path / "run"), "--out", ""], "--out: is empty; name the file to write")):
        with pytest.raises(SystemExit) as exit_:
            sample.main(argv)
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / ".npy").exists()


def test_generate_draws_the_same_samples_in_any_batch_size():
    """Noise is drawn batch by batch from one stream, so 1001 samples in batches of 1000
    (a batch of 1 at the end) equal one batch of 1001."""
    from tinygan import sample

    trainer = small_trainer(arch="seed", ema=0.0)
    one = sample.generate(trainer.G, trainer.config, 1001, seed=3, batch=2000)
    split = sample.generate(trainer.G, trainer.config, 1001, seed=3, batch=1000)
    assert one.shape == split.shape == (1001, 784) and split.dtype == np.float32
    np.testing.assert_allclose(split, one, atol=1e-5)  # float32 GEMMs round differently by batch size


def test_sampling_more_than_the_memory_holds_is_refused_first(tmp_path, capsys, monkeypatch):
    from tinygan import sample

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "1", "--out", tmp_path / "r")[0] == 0
    monkeypatch.setattr(sample, "memory_limit", lambda: (2**30, "this machine's"))
    monkeypatch.setattr(sample, "generate", lambda *args, **kwargs: pytest.fail("drew before checking the memory"))
    with pytest.raises(SystemExit) as exit_:
        sample.main(["--run", str(tmp_path / "r"), "--n", "400000", "--out", str(tmp_path / "s.npy")])
    assert exit_.value.code == 2
    assert "--n 400,000 samples need 1.2 GiB, more than this machine's 1.0 GiB" in capsys.readouterr().err


@pytest.mark.parametrize("cgroup, expected", [
    (None, (2 * 2**30, "this machine's")),
    ("max", (2 * 2**30, "this machine's")),  # cgroup v2 without a limit
    ("9223372036854771712", (2 * 2**30, "this machine's")),  # cgroup v1 without a limit
    (str(2**29), (2**29, "this container's limit of")),
    ("garbage", (2 * 2**30, "this machine's")),
])
def test_the_memory_limit_is_the_machines_or_a_smaller_containers(tmp_path, monkeypatch, cgroup, expected):
    from tinygan import sample

    monkeypatch.setattr(sample.os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 2**19}[name])
    limit_file = tmp_path / "memory.max"
    if cgroup is not None:
        limit_file.write_text(cgroup + "\n")
    monkeypatch.setattr(sample, "CGROUP_LIMITS", (str(limit_file), str(tmp_path / "absent")))
    assert sample.memory_limit() == expected


def test_generate_reports_its_progress_batch_by_batch():
    from tinygan import sample

    trainer = small_trainer(arch="seed", ema=0.0)
    calls = []
    samples = sample.generate(trainer.G, trainer.config, 2500, batch=1000, progress=lambda done, n: calls.append((done, n)))
    assert calls == [(1000, 2500), (2000, 2500), (2500, 2500)] and samples.shape == (2500, 784)


def test_interpolation_walks_are_straight_lines_between_two_seeded_ends():
    from tinygan import sample

    config = train.Config(z_dim=5)
    identity = lambda z: z  # noqa: E731 - a "generator" that shows the noise it is given
    z = sample.interpolate(identity, config, rows=3, cols=4, seed=7).reshape(3, 4, 5)
    ends = Random(7).normal((2, 3, 5))
    np.testing.assert_allclose(z[:, 0], ends[0], rtol=1e-6)
    np.testing.assert_allclose(z[:, -1], ends[1], rtol=1e-6)  # the walk reaches its second end
    for k, t in enumerate(np.linspace(0, 1, 4)):
        np.testing.assert_allclose(z[:, k], (1 - t) * ends[0] + t * ends[1], rtol=1e-5, atol=1e-6)


def test_evaluate_cli_scores_a_run(tmp_path, capsys):
    from tinygan import evaluate

    # the default recipe: its EMA generator is the one both the run and evaluate --run must score
    flags = ["--data", "mnist", "--subset", "300", "--batch-size", "32", "--arch", "default", "--eval-samples", "300"]
    assert run_cli(capsys, *flags, "--steps", "2", "--out", tmp_path / "run")[0] == 0
    assert evaluate.main(["--run", str(tmp_path / "run"), "--n", "300", "--json", str(tmp_path / "e.json")]) == 0
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["fd"] == json.loads((tmp_path / "run" / "eval.json").read_text())["fd"]  # the same samples
    x_train = train.load_training_data(train.Config(subset=None))
    real = evaluate.evaluate_samples(x_train[np.random.default_rng(0).permutation(len(x_train))[:300]])
    # 2 steps: not digits yet.  300 real digits already score 10-14x the 10,000-sample floor,
    # so the bound is against real digits at the same count
    assert report["n_samples"] == 300 and report["fd"] > 5 * real["fd"] and report["inception_score"] < 3
    assert evaluate.main(["--run", str(tmp_path / "missing")]) == 2
    capsys.readouterr()
    for n in ("0", "1"):  # a covariance needs 2 samples
        with pytest.raises(SystemExit) as exit_:
            evaluate.main(["--run", str(tmp_path / "run"), "--n", n])
        assert exit_.value.code == 2 and f"--n: must be >= 2, got {n}" in capsys.readouterr().err
    # --json into a folder that does not exist yet: made, as sample --out does
    assert evaluate.main(["--run", str(tmp_path / "run"), "--n", "20", "--json", str(tmp_path / "new" / "e.json")]) == 0
    assert json.loads((tmp_path / "new" / "e.json").read_text())["n_samples"] == 20
    # the same generator, recorded as trained on Fashion-MNIST: the digit classifier says no
    arrays, meta = checkpoint.load(tmp_path / "run" / "checkpoint.npz")
    meta["config"]["data"] = "fashion-mnist"
    (tmp_path / "fashion").mkdir()
    checkpoint.save(tmp_path / "fashion" / "checkpoint.npz", arrays, meta)
    assert evaluate.main(["--run", str(tmp_path / "fashion"), "--n", "300"]) == 2
    assert "trained on 'fashion-mnist'; this evaluator scores MNIST digits" in capsys.readouterr().err


@pytest.mark.parametrize("arch, owner, key, what", [
    ("seed", "G", "flat_params", "G's weights are"),
    ("seed", "D", "flat_params", "D's weights are"),
    ("seed", "G_ema", "flat_params", "G_ema's weights are"),
    ("seed", "opt_g", "v_sum", "G's optimizer state (opt_g_v_sum) is"),
    ("seed", "opt_d", "m_sum", "D's optimizer state (opt_d_m_sum) is"),
    ("pytorch-gan", "G", "flat_state", "G's running statistics (G_state) is")])
def test_a_state_that_is_not_finite_never_reaches_a_checkpoint(tmp_path, arch, owner, key, what):
    """A blown-up last update of an epoch must not be saved as the "good" checkpoint: not
    in the weights, and not in the rest of the state either, which load_state refuses (the
    "last good" checkpoint would then be one that --resume rejects)."""
    config = train.Config(data="mnist", arch=arch, batch_size=32, subset=300, ema=0.9)
    trainer = train.Trainer(config, train.load_training_data(config))
    assert getattr(getattr(trainer, owner), key).size > 0  # pytorch-gan's G has BatchNorm statistics
    out = tmp_path / "run"
    train.run(trainer, out, max_steps=9, progress=train.Progress(open(os.devnull, "w")))
    good = (out / "checkpoint.npz").read_bytes()
    original_step = trainer.train_step

    def poisoned_step():
        stats = original_step()  # its losses were computed before the update: finite
        if trainer.step == 18:  # the last step of the second epoch
            getattr(getattr(trainer, owner), key)[:1] = np.nan if key == "flat_params" else np.inf
        return stats

    trainer.train_step = poisoned_step
    with pytest.raises(train.TrainingError, match=re.escape(what) + " no longer finite at step 18"):
        train.run(trainer, out, max_steps=100, progress=train.Progress(open(os.devnull, "w")))
    assert (out / "checkpoint.npz").read_bytes() == good


def test_a_huge_learning_rate_that_overflows_adams_state_stops_the_run(tmp_path):
    """At lr 1e9 the squared gradients overflow Adam's v_sum to inf within a few steps,
    while the weights (each step is m/sqrt(v), so 0 where v is inf) and the losses stay
    finite: only the check of the whole state at save time stops the run."""
    config = train.Config(data="mnist", arch="seed", batch_size=64, subset=256, ema=0.0, lr_g=1e9, lr_d=1e9)
    trainer = train.Trainer(config, train.load_training_data(config))
    with np.errstate(all="ignore"), pytest.raises(train.TrainingError, match=r"optimizer state \(opt_._v_sum\)"):
        train.run(trainer, tmp_path / "run", max_steps=8, progress=train.Progress(open(os.devnull, "w")))
    assert np.isfinite(trainer.G.flat_params).all() and np.isfinite(trainer.D.flat_params).all()
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_train_step_refuses_to_run_past_the_epoch():
    config = train.Config(data="mnist", arch="seed", batch_size=100, subset=200, ema=0.0)
    trainer = train.Trainer(config, train.load_training_data(config))
    trainer.train_step()
    trainer.train_step()
    with pytest.raises(RuntimeError, match="start_next_epoch"):
        trainer.train_step()
    trainer.start_next_epoch()
    trainer.train_step()


@pytest.mark.parametrize("version, arch", [(1, "seed"), (2, "default")])
def test_older_formats_still_sample_but_do_not_resume(tmp_path, capsys, monkeypatch, version, arch):
    """Format 2 changed only Adam's stored state; format 3 changed the default preset's D
    (the mean absolute deviation as its spread feature) without changing a shape.  An
    older run's generator is still usable, but training must not go on from it."""
    from tinygan import sample

    assert run_cli(capsys, *SMALL, "--arch", arch, "--steps", "2", "--out", tmp_path)[0] == 0
    arrays, meta = checkpoint.load(tmp_path / "checkpoint.npz")
    if version == 1:
        for name in ("opt_g", "opt_d"):  # what format 1 stored: Adam's m and v
            arrays[f"{name}_m"] = arrays.pop(f"{name}_m_sum") * 0.5
            arrays[f"{name}_v"] = arrays.pop(f"{name}_v_sum") * 0.001
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", version)
    checkpoint.save(tmp_path / "checkpoint.npz", arrays, meta)
    monkeypatch.undo()
    G, config = sample.load_generator(tmp_path)
    assert config.arch == arch and np.all(np.isfinite(G(np.zeros((2, 100), np.float32))))
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path, "--steps", "4")
    assert code == 2 and f"checkpoint format {version}, this tinygan reads format 3" in err
    assert "can still be sampled" in err and "start a new run" in err
    assert "\n" not in err.strip() and "Traceback" not in err


# --- what a careful user meets: wrong paths, hand-made files, Ctrl-C at odd moments ------------


def test_help_shows_defaults_only_where_an_option_has_one(capsys):
    with pytest.raises(SystemExit):
        train.main(["--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "(default: 10000)" in text  # --eval-samples has a default of its own


def test_resume_conflict_names_the_option_the_user_typed(tmp_path, capsys):
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "ok")[0] == 0
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "ok", "--lr", "1e-3", "--steps", "4")
    assert code == 2 and "drop --lr or" in err and "--lr-g" not in err


def test_an_out_path_that_cannot_be_a_directory_is_one_line(tmp_path, capsys):
    from tinygan import sample

    (tmp_path / "afile").write_text("")
    code, _, err = run_cli(capsys, *SMALL, "--steps", "2", "--out", tmp_path / "afile")
    assert code == 2 and "afile is a file, not a directory" in err and "Traceback" not in err
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "run")[0] == 0
    with pytest.raises(SystemExit) as exit_:
        sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "afile" / "s.npy")])
    assert exit_.value.code == 2 and "afile is a file, not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["random bytes", "a bare .npy", "metadata not JSON", "metadata not an object",
                                    "no step", "no G_state"])
def test_hand_made_checkpoints_are_clear_errors(tmp_path, capsys, damage):
    from tinygan import sample

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "run")[0] == 0
    path = tmp_path / "run" / "checkpoint.npz"
    arrays, meta = checkpoint.load(path)
    if damage == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(3000))
    elif damage == "a bare .npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    elif damage.startswith("metadata"):
        text = "{not json" if damage == "metadata not JSON" else "[1, 2]"
        np.savez(path, meta_json=np.array(text), **arrays)
    elif damage == "no step":
        checkpoint.save(path, arrays, {k: v for k, v in meta.items() if k != "step"})
    else:
        checkpoint.save(path, {k: v for k, v in arrays.items() if k != "G_state"},
                        meta)
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "run", "--steps", "4")
    assert code == 2 and "checkpoint.npz" in err and len(err.strip().splitlines()) == 1, err
    assert "allow_pickle" not in err  # NumPy's advice to unpickle a file that is not a checkpoint
    if damage == "a bare .npy":
        assert "a single array, not an .npz archive" in err
    if damage == "no step":  # sampling needs the networks only, and they are all there
        assert sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "s.npy")]) == 0
        return
    with pytest.raises(SystemExit) as exit_:
        sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "s.npy")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "checkpoint.npz" in err and "allow_pickle" not in err, err


@pytest.mark.parametrize("part, key, value", [
    ("config", "arch", "bogus"), ("config", "loss", "hinge"), ("config", "batch_size", 0),
    ("config", "batch_size", "64"), ("config", "lr_g", -1.0), ("meta", "step", "abc"),
    ("meta", "cursor", 10 ** 6), ("meta", "seconds", "x"), ("meta", "limits", "x"),
    ("arrays", "D_params", "strings"), ("arrays", "perm", "out of range"), ("arrays", "perm", "repeats"),
    ("arrays", "D_params", "NaN"), ("arrays", "opt_d_m_sum", "NaN"), ("arrays", "opt_g_v_sum", "negative"),
    ("meta", "config", [1]), ("meta", "limits", {"steps": None, "epochs": None, "seconds": float("nan")}),
    ("meta", "blas_threads", 0), ("meta", "blas_threads", "2"),
    ("config", "ema", 1.0),  # an average that never moves from the initial weights
    # once an OverflowError in Adam's β**t, after the start line
    pytest.param("meta", "opt_g_t", 10 ** 400, id="meta-opt_g_t-10**400"),
    # a generator state beyond its 128 bits, or below 0
    pytest.param("meta", "rng", 2 ** 200, id="meta-rng-2**200"), ("meta", "rng", -1),
])
def test_hand_edited_checkpoint_values_are_clear_errors(tmp_path, capsys, part, key, value):
    """Right names and shapes, values no run can have: one line naming the file, on resume
    and (for the networks' part) on sampling, never a traceback or a silent wrong run."""
    from tinygan import sample

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "run")[0] == 0
    path = tmp_path / "run" / "checkpoint.npz"
    arrays, meta = checkpoint.load(path)
    if part == "config":
        meta["config"][key] = value
    elif part == "meta" and key == "config":  # not a JSON object at all
        meta["config"] = value
    elif part == "meta" and key == "rng":
        meta["rng"]["state"]["state"] = value
    elif part == "meta":
        meta[key] = value
    elif key == "perm" and value == "repeats":
        arrays["perm"] = np.zeros_like(arrays["perm"])  # one example, 300 times: no order of all 300
    elif key == "perm":
        arrays["perm"] = arrays["perm"] + 1  # 300 is past the last of 300 examples
    elif value == "NaN":  # the "last good" checkpoint must not be one that holds NaN
        arrays[key] = arrays[key].copy()
        arrays[key][0] = np.nan
    elif value == "negative":  # Adam would take the square root of it
        arrays[key] = arrays[key].copy()
        arrays[key][0] = -1.0
    else:
        arrays[key] = np.full(arrays[key].shape, "x")
    checkpoint.save(path, arrays, meta)
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "run", "--steps", "4")
    assert code == 2 and "checkpoint.npz" in err and len(err.strip().splitlines()) == 1, err
    assert len(err) < 400, err  # a 400-digit number is shown by its start
    if part == "config":
        with pytest.raises(SystemExit) as exit_:
            sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "s.npy")])
        assert exit_.value.code == 2 and f"config field {key}" in capsys.readouterr().err


def test_sampling_refuses_a_generator_that_is_not_finite(tmp_path, capsys):
    from tinygan import sample

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "run")[0] == 0
    arrays, meta = checkpoint.load(tmp_path / "run" / "checkpoint.npz")
    arrays["G_params"][3] = np.nan
    checkpoint.save(tmp_path / "run" / "checkpoint.npz", arrays, meta)
    with pytest.raises(SystemExit) as exit_:
        sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "s.npy")])
    assert exit_.value.code == 2 and "G_params holds values that are not finite" in capsys.readouterr().err
    assert not (tmp_path / "s.npy").exists()


@pytest.mark.parametrize("damage, message", [
    ("short", "G_params does not fit arch 'seed'"),
    ("no data_dim", "lacks 'data_dim'"),
])
def test_sampling_refuses_a_checkpoint_whose_generator_does_not_fit(tmp_path, capsys, damage, message):
    from tinygan import sample

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "1", "--out", tmp_path / "run")[0] == 0
    arrays, meta = checkpoint.load(tmp_path / "run" / "checkpoint.npz")
    if damage == "short":
        arrays["G_params"] = arrays["G_params"][:-1]
    else:
        del meta["data_dim"]
    checkpoint.save(tmp_path / "run" / "checkpoint.npz", arrays, meta)
    with pytest.raises(SystemExit) as exit_:
        sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "s.npy")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and err.count("\n") == 1, err


def test_a_large_draw_shows_its_progress(tmp_path, capsys, monkeypatch):
    from tinygan import sample

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "1", "--out", tmp_path / "run")[0] == 0
    real_generate = sample.generate
    monkeypatch.setattr(sample, "generate", lambda G, config, n, seed, progress=None: real_generate(
        G, config, 1000, seed, progress=progress and (lambda done, total: progress(n, n))))  # n: pretend
    assert sample.main(["--run", str(tmp_path / "run"), "--n", "100000", "--out", str(tmp_path / "s.npy")]) == 0
    assert "drawing samples: 100,000 / 100,000" in capsys.readouterr().err


def test_interpolate_refuses_a_run_that_does_not_draw_images(tmp_path, capsys):
    from tinygan import sample

    assert run_cli(capsys, "--data", "ring8", "--steps", "2", "--out", tmp_path / "toy")[0] == 0
    with pytest.raises(SystemExit) as exit_:
        sample.main(["--run", str(tmp_path / "toy"), "--out", str(tmp_path / "w.png"), "--interpolate"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "2-dimensional points" in err and "Traceback" not in err


def test_metrics_clock_continues_across_resume(tmp_path, capsys):
    common = [*SMALL, "--arch", "seed", "--batch-size", "16"]  # 18 batches an epoch
    assert run_cli(capsys, *common, "--steps", "20", "--out", tmp_path / "run")[0] == 0
    _, meta = checkpoint.load(tmp_path / "run" / "checkpoint.npz")
    assert meta["seconds"] > 0
    assert run_cli(capsys, "--resume", "--out", tmp_path / "run", "--steps", "40", "--no-eval")[0] == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    after = [r["seconds"] for r in records if r["step"] > 20]  # the epoch end at step 36
    assert after and min(after) >= meta["seconds"]
    seconds = [r["seconds"] for r in records]
    assert seconds == sorted(seconds)


def test_a_second_ctrl_c_or_one_during_evaluation_ends_with_a_line(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "run", interrupted)  # what on_sigint raises on a second Ctrl-C
    code, _, err = run_cli(capsys, *SMALL, "--steps", "2", "--out", tmp_path / "a")
    assert code == 130 and "second Ctrl-C" in err and "Traceback" not in err
    monkeypatch.undo()
    monkeypatch.setattr(train, "evaluate_run", interrupted)
    code, out, err = run_cli(capsys, "--data", "mnist", "--subset", "300", "--batch-size", "32", "--steps", "2",
                             "--out", tmp_path / "b")
    assert code == 130 and "python -m tinygan.evaluate --run" in err
    assert checkpoint.load(tmp_path / "b" / "checkpoint.npz")[1]["step"] == 2
    monkeypatch.setattr(train, "load_training_data", interrupted)  # Ctrl-C before training starts
    code, _, err = run_cli(capsys, *SMALL, "--steps", "2", "--out", tmp_path / "c")
    assert code == 130 and "interrupted" in err


def test_a_stop_for_a_loss_or_a_second_signal_during_training_is_one_line_and_its_code(tmp_path, capsys, monkeypatch):
    """A NaN stop exits 1 (no mistake in the options); a second SIGTERM is named and exits 143."""
    from tinygan.cli import Stopped

    for error, code, words in ((train.TrainingError("loss_G became nan near step 3"), 1, "loss_G became nan"),
                               (Stopped(signal.SIGTERM), 143, "stopped at once by a second SIGTERM")):
        def fail(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(train, "run", fail)
        result, _, err = run_cli(capsys, *SMALL, "--steps", "2", "--out", tmp_path / str(code))
        assert result == code and words in err and len(err.strip().splitlines()) == 1, err


def test_a_second_ctrl_c_during_training_stops_at_once(tmp_path, capsys, monkeypatch):
    """The first Ctrl-C asks for a stop at the next step; the second, through the handler train installs, stops now."""
    def two_ctrl_cs(*args, stop_flag, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 10
        while not stop_flag["stop"] and time.monotonic() < deadline:  # the handler runs between bytecodes
            pass
        assert stop_flag["stop"]  # the first one only asks for a stop
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the handler raises here, between bytecodes
            pass
        return "done"  # reached only when the second Ctrl-C did not stop the run

    monkeypatch.setattr(train, "run", two_ctrl_cs)
    code, _, err = run_cli(capsys, *SMALL, "--steps", "2", "--out", tmp_path / "r")
    assert code == 130 and err.strip().endswith(f"stopped at once by a second Ctrl-C; no checkpoint was written "
                                                f"yet ({tmp_path / 'r' / 'checkpoint.npz'})"), err
    monkeypatch.undo()
    assert run_cli(capsys, *SMALL, "--steps", "3", "--out", tmp_path / "s")[0] == 0
    monkeypatch.setattr(train, "run", two_ctrl_cs)
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "s", "--steps", "5")  # it said 'if any'
    assert code == 130 and err.strip().endswith(f"stopped at once by a second Ctrl-C; {tmp_path / 's' / 'checkpoint.npz'}"
                                                f" holds step 3; resume with: python -m tinygan.train --resume --out "
                                                f"{tmp_path / 's'}"), err


def test_progress_does_not_repeat_its_last_line():
    import io

    stream = io.StringIO()
    progress = train.Progress(stream)
    progress.update("step 5", force=True)
    progress.update("step 5", force=True)
    progress.update("step 6", force=True)
    assert stream.getvalue() == "step 5\nstep 6\n"


def test_figures_name_the_data_directory(tmp_path):
    config = train.Config(data="mnist", data_dir=str(tmp_path / "letters"))
    assert train.data_label(config) == "letters"
    assert train.data_label(train.Config(data="mnist")) == "mnist"


def small_trainer(n=300, **options):
    """A Trainer on ``n`` random 784-pixel rows (no file I/O), batch 32."""
    config = train.Config(**{"batch_size": 32, **options})
    data = np.random.default_rng(0).uniform(-1, 1, (n, 784)).astype(np.float32)
    return train.Trainer(config, data)


def test_each_network_gets_its_own_learning_rate_and_the_configured_betas():
    """Two time-scale settings reach the right optimizers (every preset uses one rate for
    both, so nothing else would notice them swapped or one of them ignored)."""
    trainer = small_trainer(lr_g=1e-4, lr_d=4e-4, beta1=0.3, beta2=0.99)
    assert (trainer.opt_g.lr, trainer.opt_d.lr) == (1e-4, 4e-4)
    assert trainer.opt_g.betas == trainer.opt_d.betas == (0.3, 0.99)


def test_sampling_a_saved_run_uses_the_generators_batchnorm_statistics(tmp_path):
    # Only pytorch-gan has BatchNorm (in G); eval-mode samples read its running statistics,
    # which training moves but no parameter comparison would notice.
    from tinygan import sample

    trainer = small_trainer(arch="pytorch-gan", ema=0.9)
    fresh_state = trainer.G.flat_state.copy()
    for _ in range(2):
        trainer.train_step()
    assert not np.array_equal(trainer.G.flat_state, fresh_state)  # the statistics moved: not vacuous
    trainer.save(tmp_path / "checkpoint.npz")
    G, config = sample.load_generator(tmp_path)
    np.testing.assert_array_equal(G.flat_state, trainer.G.flat_state)
    np.testing.assert_array_equal(sample.generate(G, config, 8, seed=3), trainer.sample(8, seed=3))


def test_trainer_passes_its_recipe_to_the_gan_step(monkeypatch):
    seen = {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return "stats"

    monkeypatch.setattr(train.gan, "train_step", spy)
    trainer = small_trainer(loss="minimax", label_smoothing=0.9, d_steps=2, ema=0.0)
    assert trainer.train_step() == "stats"
    assert seen == {"d_steps": 2, "loss": "minimax", "real_target": 0.9}


def test_ema_follows_the_generator_with_a_warm_up():
    """``G_ema ← d·G_ema + (1 − d)·G`` after each step, ``d = min(ema, (1 + step)/(10 + step))``."""
    trainer = small_trainer(arch="default", ema=0.999)
    for step, decay in ((0, 0.1), (10**6, 0.999)):
        trainer.step = step
        before = trainer.G_ema.flat_params.copy()
        trainer.train_step()
        expected = decay * before + (1 - decay) * trainer.G.flat_params
        np.testing.assert_allclose(trainer.G_ema.flat_params, expected, rtol=1e-5, atol=1e-7)
        assert np.abs(trainer.G.flat_params - before).max() > 1e-4  # G moved, so d is seen


def test_each_epoch_visits_every_example_once_in_a_fresh_order():
    trainer = small_trainer(n=100, arch="seed", ema=0.0)
    trainer.x_train[:, 0] = np.arange(100)  # each row carries its own index
    orders = []
    for _ in range(2):
        seen = np.concatenate([trainer.next_real_batch()[:, 0] for _ in range(trainer.batches_per_epoch)])
        assert len(seen) == 96 and len(np.unique(seen)) == 96  # 3 batches of 32, no repeats
        np.testing.assert_array_equal(np.sort(trainer.perm), np.arange(100))
        orders.append(trainer.perm.copy())
        trainer.start_next_epoch()
    assert not np.array_equal(orders[0], orders[1])


def test_ema_sampler_uses_the_generators_batchnorm_statistics():
    trainer = small_trainer(arch="pytorch-gan", ema=0.9)
    for _ in range(2):
        trainer.train_step()
    # Training moves G's running statistics; the EMA copy only averages parameters.
    assert not np.allclose(trainer.G.flat_state, trainer.G_ema.flat_state)
    sampler = trainer.sampling_generator()
    assert sampler is trainer.G_ema
    np.testing.assert_array_equal(sampler.flat_state, trainer.G.flat_state)


def test_sampling_uses_the_ema_generator_and_its_seed(tmp_path):
    from tinygan import sample

    trainer = small_trainer(arch="default", ema=0.999)
    for _ in range(2):
        trainer.train_step()
    trainer.save(tmp_path / "checkpoint.npz")
    G, config = sample.load_generator(tmp_path)
    np.testing.assert_array_equal(G.flat_params, trainer.G_ema.flat_params)
    assert not np.array_equal(G.flat_params, trainer.G.flat_params)
    one = sample.generate(G, config, 4, seed=1)
    np.testing.assert_array_equal(one, sample.generate(G, config, 4, seed=1))
    assert not np.array_equal(one, sample.generate(G, config, 4, seed=2))


class RunsCodeWhenUnpickled:
    """An object whose unpickling creates a file: the proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_pickles_in_a_checkpoint_or_samples_file_never_run(tmp_path):
    from tinygan import evaluate

    marker = tmp_path / "pickle-ran"
    payload = np.array([RunsCodeWhenUnpickled(marker)], dtype=object)
    meta = np.array(json.dumps({"format_version": checkpoint.FORMAT_VERSION}))
    np.savez(tmp_path / "checkpoint.npz", G_params=payload, meta_json=meta)
    np.save(tmp_path / "samples.npy", payload)
    with pytest.raises(checkpoint.CheckpointError, match="not a readable"):
        checkpoint.load(tmp_path / "checkpoint.npz")
    with pytest.raises(evaluate.SampleError, match="not a readable"):
        evaluate.load_samples_file(tmp_path / "samples.npy")
    assert not marker.exists()


def test_an_npz_without_metadata_is_not_a_checkpoint(tmp_path):
    np.savez(tmp_path / "checkpoint.npz", G_params=np.zeros(3, np.float32))
    with pytest.raises(checkpoint.CheckpointError, match="is not a tinygan checkpoint \\(no metadata\\)"):
        checkpoint.load(tmp_path / "checkpoint.npz")


def test_an_epoch_ends_when_a_whole_iteration_no_longer_fits():
    trainer = small_trainer(n=300, batch_size=100, d_steps=2, arch="seed", ema=0.0)  # 3 batches
    trainer.train_step()  # uses batches 1 and 2; a second iteration would need a 4th
    assert trainer.epoch_done()
    with pytest.raises(RuntimeError, match="start_next_epoch"):
        trainer.train_step()
    assert train._eta(small_trainer(n=320, d_steps=2, arch="seed", ema=0.0), 1.0, 0, None, 1, None) == "5s"


def test_metrics_are_the_mean_of_the_steps_since_the_last_line(tmp_path, monkeypatch):
    trainer = small_trainer(arch="seed", ema=0.0)
    values = iter([(1.0, 2.0, 0.5, 0.25), (3.0, 4.0, 0.7, 0.15), (2.0, 3.0, 0.6, 0.2)])

    def fixed_step():
        trainer.step += 1
        return train.gan.StepStats(*next(values))

    monkeypatch.setattr(trainer, "train_step", fixed_step)
    train.run(trainer, tmp_path, max_steps=3, log_every=100, progress=train.Progress(open(os.devnull, "w")))
    (record,) = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    seconds = record.pop("seconds")
    assert record == {"loss_d": 2.0, "loss_g": 3.0, "d_real": pytest.approx(0.6), "d_fake": pytest.approx(0.2),
                      "step": 3, "epochs_done": 0} and seconds >= 0


def test_metrics_get_a_line_every_100_steps_and_where_training_stops(tmp_path, monkeypatch):
    """The module docstring's "one JSON line per 100 steps" (and at the stop), for the command's default."""
    trainer = small_trainer(arch="seed", ema=0.0)

    def fixed_step():
        trainer.step += 1
        return train.gan.StepStats(1.0, 2.0, 0.5, 0.25)

    monkeypatch.setattr(trainer, "train_step", fixed_step)
    train.run(trainer, tmp_path, max_steps=250, progress=train.Progress(open(os.devnull, "w")))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [100, 200, 250]


@pytest.mark.parametrize("stats, words", [((0.7, float("nan"), 0.5, 0.5), "loss_G became nan near step 5;"),
                                          ((float("inf"), 0.7, 0.5, 0.5), "loss_D became inf near step 5;"),
                                          ((0.7, 0.7, float("nan"), 0.5), r"mean D\(x\) became nan near step 5;")])
def test_a_loss_that_is_not_finite_is_the_one_the_message_names(tmp_path, monkeypatch, stats, words):
    """The message names the number that is not finite, never a finite one (0.7)."""
    trainer = small_trainer(arch="seed", ema=0.0)

    def step_with(stats=stats):
        trainer.step += 1
        return train.gan.StepStats(*stats)

    monkeypatch.setattr(trainer, "train_step", step_with)
    with pytest.raises(train.TrainingError, match=words):
        train.run(trainer, tmp_path, max_steps=100, log_every=5, progress=train.Progress(open(os.devnull, "w")))


class FakeClock:
    """``time`` for ``train``: ``monotonic()`` reads ``now``, which only the test moves."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


def test_the_progress_line_of_a_resumed_run_counts_this_invocations_steps(tmp_path, monkeypatch):
    """A run resumed at step 1000 that takes a step a second goes at 1.0 steps/s, not 334."""
    clock = FakeClock()
    monkeypatch.setattr(train, "time", clock)
    trainer = small_trainer(arch="seed", ema=0.0)
    trainer.step = 1000

    def one_second_step():
        clock.now += 1.0
        trainer.step += 1
        return train.gan.StepStats(0.7, 0.7, 0.5, 0.5)

    monkeypatch.setattr(trainer, "train_step", one_second_step)
    stream = io.StringIO()
    train.run(trainer, tmp_path, max_steps=1003, log_every=1, progress=train.Progress(stream))
    assert "epoch 1 step 1003 1.0 steps/s ETA 0s" in stream.getvalue().splitlines()[-1]


def test_the_slowdown_watch_times_the_steps_not_an_epochs_outputs(tmp_path, monkeypatch):
    """An epoch's pictures and checkpoint take long on a busy disk; they must not count as a slow step."""
    clock = FakeClock()
    monkeypatch.setattr(train, "time", clock)
    monkeypatch.setattr(train, "save_samples_figure", lambda *args: setattr(clock, "now", clock.now + 100))
    monkeypatch.setattr(train, "save_curves", lambda *args: None)

    class Recording:
        rates = (0.0, 0.0)

        def __init__(self):
            self.seconds = []

        def tick(self, seconds):
            self.seconds.append(seconds)
            return False

    trainer = small_trainer(n=64, arch="seed", ema=0.0)  # 2 batches an epoch: epoch ends at steps 2 and 4
    real_step = trainer.train_step

    def step_of_a_tenth():
        clock.now += 0.1
        return real_step()

    monkeypatch.setattr(trainer, "train_step", step_of_a_tenth)
    watch = Recording()
    train.run(trainer, tmp_path, max_steps=5, progress=train.Progress(open(os.devnull, "w")), slowdown=(watch, str))
    assert watch.seconds == [pytest.approx(0.1)] * 5


def test_the_slowdown_hint_keeps_a_line_of_its_own_on_a_terminal(tmp_path, monkeypatch):
    """The hint is a note: on a terminal the next progress update would otherwise write over it."""
    monkeypatch.setenv("COLUMNS", "101")
    monkeypatch.setattr(train, "save_samples_figure", lambda *args: None)  # no pictures needed here
    class FiresAtTheSecondStep:
        rates = (150.0, 20.0)
        ticks = 0

        def tick(self, seconds):
            self.ticks += 1
            return self.ticks == 2

    stream = Terminal()
    trainer = small_trainer(arch="seed", ema=0.0)
    train.run(trainer, tmp_path, max_steps=3, progress=train.Progress(stream),
              slowdown=(FiresAtTheSecondStep(), lambda best, now: f"slowed from {best:.0f} to {now:.0f} steps/s"))
    assert stream.getvalue().count("slowed") == 1
    assert "\r" + "slowed from 150 to 20 steps/s".ljust(100) + "\n" in stream.getvalue()


def test_a_checkpoint_carries_the_runs_clock_on_from_the_time_before(tmp_path):
    """A resumed run's checkpoint adds its time to the clock it loaded, which the next resume continues."""
    trainer = small_trainer(arch="seed", ema=0.0)
    trainer.seconds = 1000.0  # as loaded from a checkpoint
    train.run(trainer, tmp_path, max_steps=2, progress=train.Progress(open(os.devnull, "w")))
    assert 1000.0 < checkpoint.load(tmp_path / "checkpoint.npz")[1]["seconds"] < 1100.0


def test_the_default_time_budget_applies_only_without_other_limits(tmp_path, capsys, monkeypatch):
    limits = []

    def record_limits(trainer, out, max_steps, max_epochs, max_seconds, **kwargs):
        limits.append((max_steps, max_epochs, max_seconds))
        return "done"

    monkeypatch.setattr(train, "run", record_limits)
    for i, extra in enumerate([["--epochs", "1"], ["--steps", "3"], []]):
        assert run_cli(capsys, *SMALL, *extra, "--out", tmp_path / str(i))[0] == 0
    assert limits == [(None, 1, None), (3, None, None), (None, None, 300.0)]


def test_max_seconds_counts_this_invocation_only(tmp_path, capsys, monkeypatch):
    """A resumed run gets its own --max-seconds, whatever the run's clock already says."""
    out = tmp_path / "run"
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "5", "--out", out)[0] == 0
    original = train.Trainer.load_state

    def load_with_a_long_past(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.seconds = 1000.0

    monkeypatch.setattr(train.Trainer, "load_state", load_with_a_long_past)
    code, text, _ = run_cli(capsys, "--resume", "--out", out, "--steps", "20", "--max-seconds", "60")
    assert code == 0 and "stopped (done) at step 20" in text


# ----------------------------------------------------------------------------- the small pieces

def test_durations_read_as_minutes_and_zero_padded_seconds():
    assert [train.fmt_duration(s) for s in (-3, 0, 5, 59.9, 60, 65, 3599, 3600, 7380)] == [
        "0s", "0s", "5s", "59s", "1m00s", "1m05s", "59m59s", "1h00m", "2h03m"]
    assert train.fmt_duration(1e300) == "1.16e+295 days"  # --max-seconds 1e300: not 300 digits


def test_progress_stops_printing_when_its_pipe_closes():
    """`train | tee log`, and Ctrl-C stops tee first: the progress line must not stop the save."""
    class ClosedPipe:
        def isatty(self):
            return False

        def write(self, text):
            raise BrokenPipeError

        def flush(self):
            pass

    progress = train.Progress(ClosedPipe())
    progress.update("epoch 1 step 5", force=True)
    progress.update("epoch 1 step 6", force=True)
    progress.close()
    assert progress.stream is None


def test_a_signal_while_the_last_outputs_are_written_skips_the_evaluation(tmp_path, capsys, monkeypatch):
    """Ctrl-C after the last step, while the final figures are drawn: the checkpoint is
    saved already, and the long evaluation must not run as if nothing was pressed."""
    real_save_curves = train.save_curves

    def curves_then_ctrl_c(records, path):
        real_save_curves(records, path)
        os.kill(os.getpid(), signal.SIGINT)  # reaches the handler train installed

    monkeypatch.setattr(train, "save_curves", curves_then_ctrl_c)
    monkeypatch.setattr(train, "evaluate_run", lambda *args: pytest.fail("evaluated after a Ctrl-C"))
    flags = ["--data", "mnist", "--subset", "300", "--batch-size", "32", "--arch", "seed"]
    code, out, _ = run_cli(capsys, *flags, "--steps", "5", "--out", tmp_path / "r")  # within the first epoch
    assert code == 130 and "Ctrl-C after training: the evaluation is skipped" in out
    assert f"python -m tinygan.evaluate --run {tmp_path / 'r'} --n 10000" in out
    assert checkpoint.load(tmp_path / "r" / "checkpoint.npz")[1]["step"] == 5


@pytest.mark.parametrize("flags", [[*SMALL, "--arch", "seed"], ["--data", "ring8", "--batch-size", "32"]],
                         ids=["no-eval", "toy"])
def test_a_signal_after_training_with_no_evaluation_to_come_ends_the_run_as_done(tmp_path, capsys, monkeypatch,
                                                                                 flags):
    """It printed 'the evaluation is skipped; run it with python -m tinygan.evaluate ...'
    for a --no-eval run and for a toy run, whose evaluation the evaluator refuses."""
    real_save_curves = train.save_curves

    def curves_then_ctrl_c(records, path):
        real_save_curves(records, path)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(train, "save_curves", curves_then_ctrl_c)
    code, out, err = run_cli(capsys, *flags, "--steps", "5", "--out", tmp_path / "r")
    assert code == 0 and "evaluat" not in out.replace("no evaluation: tinygan's evaluator", ""), out
    assert out.endswith(f"samples: {tmp_path / 'r' / 'samples.png'}   curves: {tmp_path / 'r' / 'curves.png'}\n")
    assert checkpoint.load(tmp_path / "r" / "checkpoint.npz")[1]["step"] == 5


@pytest.mark.parametrize("name", ["SIGHUP", "SIGINT"])
def test_a_signal_the_parent_ignores_stays_ignored_while_training(tmp_path, capsys, monkeypatch, name):
    """Under `nohup` SIGHUP is ignored, so that the run outlives its terminal, and a shell
    without job control ignores a background job's SIGINT; train's handlers replaced
    those, and a closed terminal stopped a nohup run (exit 129)."""
    sig = getattr(signal, name)
    train_step = train.Trainer.train_step

    def signal_at_step_2(trainer):
        if trainer.step == 2:
            os.kill(os.getpid(), sig)
        return train_step(trainer)

    monkeypatch.setattr(train.Trainer, "train_step", signal_at_step_2)
    previous = signal.signal(sig, signal.SIG_IGN)
    try:
        code, out, err = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "5", "--out", tmp_path / "r")
        assert signal.getsignal(sig) is signal.SIG_IGN
    finally:
        signal.signal(sig, previous)
    assert code == 0 and "stopped (done) at step 5" in out, (out, err)


def test_the_resume_command_repeats_what_holds_for_one_invocation():
    """A GPU run's printed command resumed it on the CPU: --device is not stored."""
    def args(no_eval=False, eval_samples=train.EVAL_SAMPLES):
        return argparse.Namespace(no_eval=no_eval, eval_samples=eval_samples)

    out = pathlib.Path("/tmp/my run")
    assert train.resume_command(out, args(), "cpu") == "python -m tinygan.train --resume --out '/tmp/my run'"
    assert train.resume_command(out, args(no_eval=True), "gpu") == \
        "python -m tinygan.train --resume --out '/tmp/my run' --no-eval --device gpu"
    assert train.resume_command(out, args(eval_samples=500), "gpu").endswith("--eval-samples 500 --device gpu")


def test_a_run_from_before_data_dirs_were_resolved_resumes_from_elsewhere(tmp_path, capsys, monkeypatch):
    package = pathlib.Path(train.__file__).parent
    common = ["--data", "fashion-mnist", "--subset", "300", "--batch-size", "32", "--arch", "seed", "--no-eval"]
    assert run_cli(capsys, *common, "--data-dir", package / "data", "--steps", "2", "--out", tmp_path / "r")[0] == 0
    arrays, meta = checkpoint.load(tmp_path / "r" / "checkpoint.npz")
    meta["config"]["data_dir"] = "data"  # as an older tinygan stored `--data-dir data` typed in tinygan/
    checkpoint.save(tmp_path / "r" / "checkpoint.npz", arrays, meta)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "r", "--steps", "4", "--no-eval",
                           "--data-dir", package / "data")  # the folder typed again replaces it
    assert code == 0, err
    monkeypatch.chdir(package)  # or, typed nowhere, read from where it was relative to
    assert run_cli(capsys, "--resume", "--out", tmp_path / "r", "--steps", "6", "--no-eval")[0] == 0


@pytest.mark.parametrize("argv, field, value", [
    (["--loss", "minimax"], "loss", "minimax"),
    (["--d-steps", "3"], "d_steps", 3),
    (["--lr-g", "1e-3"], "lr_g", 1e-3),
    (["--lr-d", "3e-4"], "lr_d", 3e-4),
    (["--beta1", "0.7"], "beta1", 0.7),
    (["--beta2", "0.99"], "beta2", 0.99),
    (["--batch-size", "32"], "batch_size", 32),
    (["--z-dim", "16"], "z_dim", 16),
    (["--ema", "0"], "ema", 0.0),  # 0 = off
    (["--label-smoothing", "0.9"], "label_smoothing", 0.9),
    (["--seed", "7"], "seed", 7),
    (["--subset", "500"], "subset", 500),
    (["--arch", "pytorch-gan"], "arch", "pytorch-gan"),
    (["--data", "fashion-mnist"], "data", "fashion-mnist"),
])
def test_every_option_reaches_the_config(argv, field, value):
    parser = train.build_parser()
    config = train.config_from_args(parser.parse_args(argv), parser)
    assert getattr(config, field) == value
    assert getattr(train.config_from_args(parser.parse_args([]), parser), field) != value  # not the default anyway


def test_lr_sets_both_learning_rates():
    parser = train.build_parser()
    config = train.config_from_args(parser.parse_args(["--lr", "1e-3"]), parser)
    assert config.lr_g == config.lr_d == 1e-3


@pytest.mark.parametrize("argv, message", [
    (["--ema", "1"], r"must be in \[0, 1\), got 1"),
    (["--lr", "inf"], "must be a finite number, got inf"),
    (["--lr", "nan"], "must be > 0, got nan"),
    (["--label-smoothing", "0"], r"must be in \(0, 1\], got 0"),
])
def test_values_outside_their_range_are_refused(capsys, argv, message, no_training):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and re.search(message, err) and "Traceback" not in err


def test_image_grid_is_filled_row_by_row():
    images = np.repeat(np.linspace(-1, 1, 7, dtype=np.float32)[:, None], 784, axis=1)  # tile i is all one value
    grid = train.image_grid(images, cols=4)
    assert grid.shape == (2 * 29 + 1, 4 * 29 + 1)  # 7 tiles in rows of 4: 2 rows, the last one short
    tile = lambda r, c: grid[1 + 29 * r:29 * (r + 1), 1 + 29 * c:29 * (c + 1)]  # noqa: E731
    for i in range(7):
        np.testing.assert_allclose(tile(*divmod(i, 4)), (images[i, 0] + 1) / 2)
    assert (tile(1, 3) == 1).all()  # the eighth place stays blank (white)


def test_progress_off_a_terminal_is_a_line_every_ten_seconds():
    import io

    stream = io.StringIO()
    progress = train.Progress(stream)
    assert not progress.tty and progress.every == 10.0
    progress.update("a")
    progress.update("b")  # within 10 s: not written
    progress.update("c", force=True)
    assert stream.getvalue() == "a\nc\n"


class Terminal(io.StringIO):
    """A stream that says it is a terminal (of $COLUMNS columns: it has no file descriptor
    to ask; the tests that read its lines set 101)."""

    def isatty(self):
        return True


def test_progress_on_a_terminal_is_one_line_redrawn_and_a_note_keeps_a_line_of_its_own(monkeypatch):
    """On a terminal each update goes back to the line's start (\\r), a note ends its line and
    the same progress text is drawn again below it, and close ends the progress line."""
    monkeypatch.setenv("COLUMNS", "101")
    stream = Terminal()
    progress = train.Progress(stream)
    assert progress.tty and progress.every == 0.5
    progress.update("step 5", force=True)
    progress.note("slowed down")
    progress.update("step 5", force=True)  # the note wrote over the line: it is drawn again
    progress.close()
    line = "\r" + "step 5".ljust(100)
    assert stream.getvalue() == line + "\r" + "slowed down".ljust(100) + "\n" + line + "\n"
    plain = io.StringIO()
    off_terminal = train.Progress(plain)
    off_terminal.update("step 5", force=True)
    off_terminal.close()  # a plain line needs no ending
    assert plain.getvalue() == "step 5\n"


def test_a_data_set_of_exactly_one_batch_trains():
    config = train.Config(data="mnist", arch="seed", batch_size=32, subset=32)
    trainer = train.Trainer(config, train.load_training_data(config))
    assert trainer.batches_per_epoch == 1
    trainer.train_step()
    assert trainer.step == 1


def test_an_iteration_needs_d_steps_batches_in_an_epoch(tmp_path, capsys):
    """k discriminator steps take k real batches from one epoch, so an epoch must hold k."""
    config = train.Config(data="mnist", arch="seed", batch_size=32, subset=64, d_steps=2, ema=0.0)
    trainer = train.Trainer(config, train.load_training_data(config))
    for _ in range(2):  # one iteration is one whole epoch here
        trainer.train_step()
        assert trainer.epoch_done()
        trainer.start_next_epoch()
    assert (trainer.step, trainer.epoch) == (2, 2)
    code, _, err = run_cli(capsys, "--data", "mnist", "--subset", "63", "--batch-size", "32", "--d-steps", "2",
                           "--steps", "1", "--no-eval", "--out", tmp_path / "r")
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "63 examples, fewer than one iteration uses (--batch-size 32 × --d-steps 2" in err


def test_resume_keeps_the_metrics_line_of_the_checkpoint_step(tmp_path, capsys):
    common = [*SMALL, "--arch", "seed"]  # 9 batches an epoch: a line at step 9, the checkpoint's step
    assert run_cli(capsys, *common, "--steps", "9", "--out", tmp_path / "run")[0] == 0
    metrics = tmp_path / "run" / "metrics.jsonl"
    before = metrics.read_text().splitlines()
    assert json.loads(before[-1])["step"] == 9
    assert run_cli(capsys, "--resume", "--out", tmp_path / "run", "--steps", "12", "--no-eval")[0] == 0
    after = metrics.read_text().splitlines()
    assert after[:len(before)] == before and [json.loads(line)["step"] for line in after].count(9) == 1


def test_the_ctrl_c_handler_is_put_back_when_training_returns(tmp_path, capsys):
    before = signal.getsignal(signal.SIGINT)
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "run")[0] == 0
    assert signal.getsignal(signal.SIGINT) is before


def test_the_final_evaluation_scores_the_asked_number_of_samples(tmp_path, capsys):
    argv = [a for a in SMALL if a != "--no-eval"]
    code, out, err = run_cli(capsys, *argv, "--arch", "seed", "--steps", "3", "--eval-samples", "500",
                             "--out", tmp_path / "run")
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert report["n_samples"] == 500 and report["step"] == 3  # which weights were scored
    assert sum(report["class_histogram"]) == 500 and "Frechet distance" in out


def test_configs_defaults_are_the_default_recipe():
    """``Config``'s docstring says so, and a library user who builds ``Config()`` trains
    what ``python -m tinygan.train --data mnist`` trains."""
    config = train.Config()
    assert config.arch == "default" and config.data == "mnist"
    assert {name: getattr(config, name) for name in train.RECIPES["default"]} == train.RECIPES["default"]


def test_a_config_from_an_older_checkpoint_with_an_extra_field_loads():
    values = {**train.dataclasses.asdict(train.Config(arch="seed")), "extra": {}}  # what older versions stored
    assert train.Config.from_dict(values) == train.Config(arch="seed")


def test_a_checkpoint_one_iteration_before_its_epochs_end_resumes(tmp_path):
    """Cursor 8 of 9 batches is a legal place to stop (one iteration is left), not a damaged state."""
    trainer = small_trainer(arch="seed", ema=0.0)
    for _ in range(8):
        trainer.train_step()
    assert (trainer.cursor, trainer.batches_per_epoch) == (8, 9) and not trainer.epoch_done()
    trainer.save(tmp_path / "checkpoint.npz")
    resumed = small_trainer(arch="seed", ema=0.0)
    resumed.load_state(*checkpoint.load(tmp_path / "checkpoint.npz"))
    assert (resumed.step, resumed.cursor) == (8, 8)
    resumed.train_step()
    assert resumed.epoch_done()


def test_the_slowdown_watch_speaks_once_after_several_slow_windows():
    watch = train.SlowdownWatch(window_steps=10, ratio=0.4, windows=3)
    said = []

    def steps(n, seconds_each):
        said.extend(watch.tick(seconds_each) for _ in range(n))

    steps(100, 0.01)  # 100 steps/s
    steps(10, 0.05)  # one slow window (a hiccup): no news
    steps(50, 0.01)
    steps(20, 0.03)  # 33 steps/s, under 0.4 x 100, but only two windows
    steps(50, 0.01)
    assert not any(said)
    steps(29, 0.03)  # the third slow window in a row is one step short
    assert not any(said)
    steps(1, 0.03)
    assert said[-1] and watch.rates == (pytest.approx(100), pytest.approx(1 / 0.03))
    steps(100, 0.05)  # it says so once
    assert sum(said) == 1
    steady = train.SlowdownWatch(window_steps=10)
    assert not any(steady.tick(0.02) for _ in range(1000))
    slowing = train.SlowdownWatch(window_steps=10)  # a gentle drift to half the pace is no collapse
    assert not any(slowing.tick(0.01 * (1 + s / 1000)) for s in range(1000))  # 100 to 50 steps/s


def test_the_default_watch_speaks_after_three_slow_windows_of_200_steps():
    """The command's watch (no arguments): 200-step windows, under 40% of the best pace, three in a row."""
    watch = train.SlowdownWatch()
    said = [watch.tick(0.01) for _ in range(200)]  # 100 steps/s
    said += [watch.tick(0.03) for _ in range(599)]  # 33 steps/s: two windows and 199 steps of a third
    assert not any(said)
    assert watch.tick(0.03) and watch.rates == (pytest.approx(100), pytest.approx(1 / 0.03))


def test_training_that_slows_down_gets_the_threads_hint_once(tmp_path, capsys, monkeypatch):
    """On a CPU with 2+ BLAS threads the command watches its pace; a collapse prints how
    to resume on one thread.  (A watch that sees a collapse at once stands in for a busy
    machine; on one thread there is no such advice to give.)"""
    from tinygan import backend

    if backend.blas_threads() is None:
        pytest.skip("this NumPy runs on a BLAS other than OpenBLAS, whose threads tinygan cannot set")

    class Collapsed(train.SlowdownWatch):
        def tick(self, seconds):
            assert 0 < seconds < 60  # the time of one step
            self.steps += 1
            if self.steps == 3:
                self.rates = (150.0, 20.0)
                return True
            return False

    monkeypatch.setattr(train, "SlowdownWatch", Collapsed)
    code, out, _ = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "6", "--threads", "2", "--out", tmp_path / "r")
    hint = (f"tinygan: training slowed from 150 to 20 steps/s. If other work is using the CPU, one BLAS thread "
            f"is often much faster then: Ctrl-C, then python -m tinygan.train --resume --out {tmp_path / 'r'} "
            f"--no-eval --threads 1\n")  # --no-eval holds for one invocation: repeated, as after a Ctrl-C
    assert code == 0 and out.count(hint) == 1
    code, out, _ = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "6", "--threads", "1", "--out", tmp_path / "one")
    assert code == 0 and "slowed" not in out


# --- from a mutation pass over train.py: each test below fails with one deliberate bug ---------


@pytest.mark.parametrize("field, value", [
    ("d_steps", 0), ("batch_size", 0), ("z_dim", 0), ("seed", -1), ("subset", 0), ("d_steps", True),
    ("lr_g", 0.0), ("lr_g", float("inf")), ("lr_d", 0.0), ("lr_d", float("inf")), ("lr_g", True),
    ("beta1", 1.0), ("beta2", 1.0), ("ema", 1.0), ("label_smoothing", 0.0), ("label_smoothing", True),
    ("data_dir", 5), ("data", "cifar"), ("loss", "hinge"),
])
def test_a_config_refuses_each_field_just_outside_its_range(field, value):
    """What a hand-edited checkpoint could hold: each value one step past what a run can have."""
    with pytest.raises(ValueError, match=f"config field {field} = {value!r} is not a value a run can have"):
        train.Config(**{field: value}).check()


@pytest.mark.parametrize("field, value", [
    ("d_steps", 1), ("batch_size", 1), ("z_dim", 1), ("seed", 0), ("subset", 1), ("subset", None),
    ("beta1", 0.0), ("beta2", 0.0), ("ema", 0.0), ("label_smoothing", 1.0), ("lr_g", 1), ("lr_d", 2),
    ("data_dir", "/data"), ("data", "ring8"),
])
def test_a_config_accepts_the_edges_of_each_range(field, value):
    """The closed ends (β and EMA 0, smoothing 1, the least counts) and whole-number rates (JSON's 1) are values a run can have."""
    train.Config(**{field: value}).check()
    assert train.Config.from_dict({**train.dataclasses.asdict(train.Config()), field: value}).__dict__[field] == value


@pytest.mark.parametrize("option, value, message", [
    ("--d-steps", "0", "must be > 0, got 0"), ("--lr-g", "0", "must be > 0, got 0"),
    ("--lr-d", "-1e-3", "must be > 0, got -1e-3"), ("--lr-g", "inf", "must be a finite number, got inf"),
    ("--beta1", "1", "must be in [0, 1), got 1"), ("--beta2", "1", "must be in [0, 1), got 1"),
    ("--z-dim", "0", "must be > 0, got 0"), ("--epochs", "0", "must be > 0, got 0"),
    ("--steps", "0", "must be > 0, got 0"), ("--subset", "0", "must be > 0, got 0"),
    ("--max-seconds", "0", "must be > 0, got 0"), ("--batch-size", "-32", "must be > 0, got -32"),
])
def test_every_numeric_option_refuses_the_first_value_past_its_range(capsys, option, value, message):
    """Found here, before any data is read: --subset 0 would otherwise train on all 60,000
    examples, --steps 0 or --epochs 0 end a run at once, and --d-steps 0 fail in the first step."""
    with pytest.raises(SystemExit) as exit_:
        train.build_parser().parse_args([f"{option}={value}"])
    assert exit_.value.code == 2 and f"{option}: {message}" in capsys.readouterr().err


def test_the_closed_ends_of_the_unit_intervals_are_accepted():
    """β1 = β2 = 0 (no momentum), EMA 0 (off) and label smoothing 1 (none) are settings, not mistakes."""
    parser = train.build_parser()
    args = parser.parse_args(["--beta1", "0", "--beta2", "0", "--ema", "0", "--label-smoothing", "1"])
    config = train.config_from_args(args, parser)
    assert (config.beta1, config.beta2, config.ema, config.label_smoothing) == (0.0, 0.0, 0.0, 1.0)


def test_each_arch_gets_its_own_recipe_and_the_options_override_it():
    """--arch seed trains gan.py's plain recipe (batch 64 at 2e-4, no EMA), the toy sets the toy
    recipe; an option typed on the command line beats the recipe."""
    parser = train.build_parser()

    def config(*argv):
        return train.config_from_args(parser.parse_args(list(argv)), parser)

    for argv, arch in ((["--arch", "seed"], "seed"), (["--arch", "pytorch-gan"], "pytorch-gan"),
                       (["--data", "ring8"], "toy"), ([], "default")):
        c = config(*argv)
        assert c.arch == arch and {name: getattr(c, name) for name in train.RECIPES[arch]} == train.RECIPES[arch]
    c = config("--arch", "seed", "--batch-size", "16", "--ema", "0.5", "--lr", "1e-3", "--lr-d", "5e-4")
    assert (c.batch_size, c.ema, c.lr_g, c.lr_d, c.beta1) == (16, 0.5, 1e-3, 5e-4, 0.5)


def test_the_sample_grids_draw_the_ema_generator_on_the_same_64_noise_vectors(tmp_path, monkeypatch):
    """Every grid (epoch_NNN.png and samples.png) shows the EMA generator on the run's fixed
    noise, 64 vectors from seed + 2, so that grids of different epochs compare."""
    grids = []
    monkeypatch.setattr(train, "save_samples_figure", lambda samples, path, *args: grids.append(samples))
    trainer = small_trainer(n=64, arch="default", ema=0.9, seed=5)  # 2 batches an epoch
    train.run(trainer, tmp_path, max_steps=3, progress=train.Progress(open(os.devnull, "w")))
    assert len(grids) == 2  # at the end of epoch 1, and at the end
    fixed = Random(7).normal((64, 100))
    assert not np.array_equal(trainer.G_ema.flat_params, trainer.G.flat_params)  # else EMA and G look alike
    np.testing.assert_array_equal(grids[-1], train.to_numpy(trainer.sampling_generator()(fixed)))


def test_a_stop_before_the_first_step_saves_and_reports_without_a_pace(tmp_path):
    """A Ctrl-C that comes before the first step: nothing trained, no steps/s to divide by."""
    trainer = small_trainer(arch="seed", ema=0.0)
    for limits in (dict(max_steps=10), dict(max_epochs=2)):
        reason = train.run(trainer, tmp_path, **limits, stop_flag={"stop": True},
                           progress=train.Progress(open(os.devnull, "w")))
        assert reason == "interrupted" and trainer.step == 0
    assert checkpoint.load(tmp_path / "checkpoint.npz")[1]["step"] == 0


def test_a_limit_reached_at_the_step_a_signal_came_is_done_not_interrupted(tmp_path):
    trainer = small_trainer(arch="seed", ema=0.0)
    trainer.train_step()
    reason = train.run(trainer, tmp_path, max_steps=1, stop_flag={"stop": True},
                       progress=train.Progress(open(os.devnull, "w")))
    assert reason == "done"


def test_describe_limits_keeps_their_order_and_digits():
    limits = {"steps": 600, "epochs": 3, "seconds": 1234.5}
    assert train.describe_limits(limits) == "steps 600, epochs 3, 1234.5 s of training in all"
    assert train.describe_limits(limits, seconds_left=54.2234) == "steps 600, epochs 3, 54.22 s"
    assert train.describe_limits({"steps": None, "epochs": None, "seconds": 300.0}) == "300 s of training in all"


def test_a_time_limit_alone_replaces_the_default_budget(tmp_path, capsys, monkeypatch):
    limits = []
    monkeypatch.setattr(train, "run", lambda trainer, out, *limit, **kwargs: limits.append(limit) or "done")
    assert run_cli(capsys, *SMALL, "--max-seconds", "5", "--out", tmp_path / "r")[0] == 0
    assert limits == [(None, None, 5.0)]


def test_durations_from_100_hours_read_in_days():
    assert train.fmt_duration(100 * 3600 - 1) == "99h59m"  # hours read as minutes (5999m59s) before
    assert train.fmt_duration(100 * 3600) == "4.17 days"


@pytest.mark.parametrize("columns", [80, 101, 300])
def test_progress_on_a_terminal_never_wraps(monkeypatch, columns):
    """Each update was padded to 100 characters (and cut at 160) whatever the terminal: on
    80 columns it wrapped, and \\r, which goes back only to the start of the last row,
    left one row behind per update."""
    monkeypatch.setenv("COLUMNS", str(columns))
    stream = Terminal()
    progress = train.Progress(stream)
    progress.update("x" * 200, force=True)
    progress.update("y" * 10, force=True)
    width = columns - 1
    assert stream.getvalue() == "\r" + ("x" * 200)[:width].ljust(width) + "\r" + "y" * 10 + " " * (width - 10)


def test_the_progress_line_leaves_out_whole_fields_on_a_narrow_terminal():
    """Cut at the terminal's width, a 90-character line lost D(G(z)) on 80 columns and cut
    loss_G 1.209 to 'loss_G 1' on 60; now the least wanted fields go, whole."""
    fields = {"epoch": "epoch 23", "step": "step 5400", "rate": "59.1 steps/s", "eta": "ETA 3m29s",
              "loss_d": "loss_D 1.312", "loss_g": "loss_G 1.209", "d_real": "D(x) 0.55", "d_fake": "D(G(z)) 0.41"}
    whole = " ".join(fields.values())
    assert len(whole) == 90 and train.fitted_line(fields, None) == train.fitted_line(fields, 90) == whole
    assert train.fitted_line(fields, 79) == "epoch 23 step 5400 ETA 3m29s loss_D 1.312 loss_G 1.209 D(x) 0.55 D(G(z)) 0.41"
    assert train.fitted_line(fields, 59) == "step 5400 loss_D 1.312 loss_G 1.209 D(x) 0.55 D(G(z)) 0.41"


def test_progress_on_a_terminal_of_no_size_falls_back_to_columns(monkeypatch):
    """A pty whose size was never set (`docker -t`, some CI runners) says 0 columns: the
    line then shrank to 20 characters; $COLUMNS (else 80) is the better guess."""
    monkeypatch.setenv("COLUMNS", "101")
    monkeypatch.setattr(os, "get_terminal_size", lambda fd: os.terminal_size((0, 0)))

    class Sizeless(Terminal):
        def fileno(self):
            return 1

    stream = Sizeless()
    train.Progress(stream).update("x" * 200, force=True)
    assert stream.getvalue() == "\r" + "x" * 100


def test_the_slowdown_watch_counts_a_window_at_exactly_the_ratio_as_not_slow():
    watch = train.SlowdownWatch(window_steps=8, ratio=0.5, windows=1)
    assert not any(watch.tick(1 / 64) for _ in range(8))  # 64 steps/s
    assert not any(watch.tick(1 / 32) for _ in range(8))  # 32 steps/s: half, not under half
    assert any(watch.tick(1 / 16) for _ in range(8))  # 16 steps/s


def test_the_default_watch_lets_a_pace_above_40_percent_pass():
    watch = train.SlowdownWatch()
    said = [watch.tick(0.01) for _ in range(200)]  # 100 steps/s
    said += [watch.tick(1 / 45) for _ in range(2000)]  # 45 steps/s, ten windows
    assert not any(said)


def test_the_training_data_is_the_first_subset_examples_and_50000_toy_points():
    from tinygan.data import load_dataset

    x = train.load_training_data(train.Config(subset=50))
    np.testing.assert_array_equal(x, load_dataset("mnist", split="train")[0][:50])
    assert train.load_training_data(train.Config(data="ring8", arch="toy")).shape == (50_000, 2)


def test_each_purpose_draws_from_its_own_seeded_stream():
    """``Trainer``: one stream per purpose: weights from ``seed``, data order and noise from
    ``seed + 1``, the grids' fixed noise from ``seed + 2``, toy data from ``seed + 3``.
    Toy points drawn from ``seed + 1`` would reuse the bit stream (the same PCG64 state)
    from which the run draws its data order and noise, and the fixed noise from it would
    repeat the start of that stream.  Each is checked against its own ``Random(seed + k)``."""
    from tinygan import models, toy

    seed = 4
    x = train.load_training_data(train.Config(data="ring8", arch="toy", seed=seed))
    np.testing.assert_array_equal(x, toy.sample("ring8", 50_000, Random(seed + 3)))
    trainer = train.Trainer(train.Config(data="ring8", arch="toy", seed=seed, batch_size=64, ema=0.0), x[:200])
    np.testing.assert_array_equal(trainer.G.flat_params, models.build_gan("toy", Random(seed), 100, 2)[0].flat_params)
    stream = Random(seed + 1)
    np.testing.assert_array_equal(trainer.perm, stream.permutation(200))
    np.testing.assert_array_equal(trainer.noise(), stream.normal((64, 100)))
    np.testing.assert_array_equal(trainer.fixed_noise, Random(seed + 2).normal((64, 100)))


def test_data_dir_with_a_toy_set_is_refused_before_any_reading(tmp_path, capsys):
    code, _, err = run_cli(capsys, "--data", "ring8", "--data-dir", tmp_path, "--out", tmp_path / "r")
    assert code == 2 and "--data-dir reads MNIST-format IDX files; use it with --data mnist or fashion-mnist" in err


def test_resume_conflict_names_a_two_word_option_with_its_dash(tmp_path, capsys):
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "1", "--out", tmp_path / "r")[0] == 0
    code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "r", "--batch-size", "16")
    assert code == 2 and "(batch_size=32); drop --batch-size or start a new run" in err


def test_metrics_lines_past_the_checkpoint_and_records_that_are_not_numbers_are_dropped(tmp_path, capsys):
    path = tmp_path / "metrics.jsonl"
    good = {"loss_d": 1.0, "loss_g": 1.0, "d_real": 0.5, "d_fake": 0.5, "step": 5}
    path.write_text("".join(json.dumps(r) + "\n" for r in (
        good, {**good, "loss_d": "1.0", "step": 6}, {**good, "step": 7}, {**good, "step": 9})))
    assert train.read_metrics(path, up_to_step=7) == [good, {**good, "step": 7}]
    assert "line 2, is not a metrics record" in capsys.readouterr().err


@pytest.mark.parametrize("key, value, message", [
    ("perm", "floats", "'perm' is not an order of the 300 examples"),
    ("step", -1, "(step = -1)"), ("epoch", True, "(epoch = True)"),
    ("cursor", 8, "cursor = 8: past the epoch's 9 batches"),  # 8 + 2 d-steps > 9 batches
    ("seconds", -1.0, "(seconds = -1.0)"), ("seconds", float("inf"), "(seconds = inf)"),
    ("limits", {"steps": -5, "epochs": None, "seconds": None}, "(limits = "),
    ("limits", {"steps": None, "epochs": None, "seconds": float("inf")}, "(limits = "),
    ("limits", {"steps": None, "epochs": True, "seconds": None}, "(limits = "),
    pytest.param("limits", {"steps": 10 ** 400, "epochs": None, "seconds": None}, "(limits = ",
                 id="limits-past-float"),  # an OverflowError traceback (2**53 and more is fine: see below)
    pytest.param("seconds", 10 ** 400, "(seconds = 1000", id="seconds-past-float"),
    ("blas_threads", True, "(blas_threads = True)"),
])
def test_a_resume_refuses_counters_clocks_and_orders_no_run_can_have(tmp_path, key, value, message):
    trainer = small_trainer(arch="seed", ema=0.0, d_steps=2)
    trainer.train_step()
    trainer.save(tmp_path / "checkpoint.npz")
    arrays, meta = checkpoint.load(tmp_path / "checkpoint.npz")
    if key == "perm":
        arrays["perm"] = arrays["perm"].astype(np.float64)  # the right numbers, but not indices
    else:
        meta[key] = value
    with pytest.raises(checkpoint.CheckpointError) as error:
        small_trainer(arch="seed", ema=0.0, d_steps=2).load_state(arrays, meta, "ckpt")
    assert str(error.value).startswith("ckpt") and message in str(error.value)


@pytest.mark.parametrize("damage", ["opt_d_t", "g_rng", "d_rng", "d_rng_key", "cursor", "limits", "perm",
                                    "G_ema_params"])
def test_a_refused_checkpoint_leaves_the_trainer_as_it_was(tmp_path, damage):
    """load_state put the arrays in before it checked the counters and the generators'
    states, so a refused checkpoint left a trainer half loaded: a library user who caught
    the error trained on a mixture.  The random generators can only be checked by setting
    them (``g_rng`` is set after two that are fine)."""
    done = small_trainer(arch="default", d_steps=2)  # dropout: D has generator states too
    for _ in range(3):
        done.train_step()
    done.save(tmp_path / "checkpoint.npz")
    arrays, meta = checkpoint.load(tmp_path / "checkpoint.npz")
    if damage == "perm":
        arrays["perm"] = arrays["perm"][::-1].copy()
        arrays["perm"][0] = arrays["perm"][1]
    elif damage == "G_ema_params":  # the last network's weights: G's and D's come before them
        arrays["G_ema_params"] = arrays["G_ema_params"][:-1]
    elif damage == "limits":
        meta["limits"] = {"steps": -1}
    elif damage == "cursor":
        meta["cursor"] = 10 ** 6
    elif damage.endswith("_key"):  # a state without its "inc": numpy's setter raises KeyError
        del meta[damage.removesuffix("_key")][0]["state"]["inc"]
    elif damage.endswith("rng"):
        meta[damage] = meta[damage][:-1] if damage == "d_rng" else [{"state": "no state"}]
    else:
        meta[damage] = -1
    fresh = small_trainer(arch="default", d_steps=2)
    meta_before = fresh.state_meta()
    arrays_before = {name: array.copy() for name, array in fresh.state_arrays().items()}  # not views of the buffers
    with pytest.raises(checkpoint.CheckpointError) as refused:
        fresh.load_state(arrays, meta, "ckpt")
    if damage.endswith("_key"):  # D's are set after the run's own generator, which is put back
        assert str(refused.value) == "ckpt lacks 'inc'; it was not written by this trainer"
    assert fresh.state_meta() == meta_before
    for name, array in fresh.state_arrays().items():
        np.testing.assert_array_equal(array, arrays_before[name], err_msg=name)


def test_a_limit_of_2_53_steps_or_more_from_an_older_tinygan_still_resumes(tmp_path, capsys):
    """--steps 10**16 ("train on and on") was accepted before the options stopped at 2**53;
    such a checkpoint is no damaged one."""
    out = tmp_path / "r"
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)[0] == 0
    arrays, meta = checkpoint.load(out / "checkpoint.npz")
    meta["limits"]["steps"] = 10 ** 16
    checkpoint.save(out / "checkpoint.npz", arrays, meta)
    code, printed, err = run_cli(capsys, "--resume", "--out", out, "--steps", "4", "--no-eval")
    assert code == 0 and "stopped (done) at step 4" in printed, err


def test_an_epoch_of_whole_batches_visits_every_example():
    """96 examples in batches of 32: the three batches of an epoch are its order cut in three."""
    trainer = small_trainer(n=96, arch="seed", ema=0.0)
    batches = [trainer.next_real_batch() for _ in range(3)]
    for i, batch in enumerate(batches):
        np.testing.assert_array_equal(batch, trainer.x_train[trainer.perm[32 * i:32 * (i + 1)]])


def test_a_checkpoint_of_another_data_set_size_says_both_sizes(tmp_path):
    """The data behind a --data-dir changed between runs: the order in the checkpoint is of other examples."""
    small_trainer(arch="seed", ema=0.0).save(tmp_path / "checkpoint.npz")
    with pytest.raises(checkpoint.CheckpointError, match="ckpt was trained on 300 examples, this data set has 200"):
        small_trainer(n=200, arch="seed", ema=0.0).load_state(*checkpoint.load(tmp_path / "checkpoint.npz"), "ckpt")


def test_a_run_drops_the_metrics_lines_past_the_step_it_starts_from(tmp_path):
    """A run killed after a metrics line and before its next checkpoint: the resumed run
    trains those steps again, and their old lines go, so that no step has two."""
    later = {"loss_d": 1.0, "loss_g": 1.0, "d_real": 0.5, "d_fake": 0.5, "step": 50, "epochs_done": 5, "seconds": 9.0}
    (tmp_path / "metrics.jsonl").write_text(json.dumps({**later, "step": 0}) + "\n" + json.dumps(later) + "\n")
    train.run(small_trainer(arch="seed", ema=0.0), tmp_path, max_steps=2, progress=train.Progress(open(os.devnull, "w")))
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [0, 2]


def test_a_checkpoint_from_before_the_clock_and_limits_were_kept_resumes(tmp_path):
    trainer = small_trainer(arch="seed", ema=0.0)
    trainer.train_step()
    trainer.save(tmp_path / "checkpoint.npz")
    arrays, meta = checkpoint.load(tmp_path / "checkpoint.npz")
    for key in ("seconds", "limits", "blas_threads"):
        del meta[key]
    resumed = small_trainer(arch="seed", ema=0.0)
    resumed.load_state(arrays, meta)
    assert (resumed.step, resumed.seconds, resumed.limits) == (1, 0.0, None)


def test_figures_name_a_data_directory_at_the_root_by_its_path():
    assert train.data_label(train.Config(data="mnist", data_dir="/")) == "/"  # "/" has no name


def test_each_metrics_line_is_the_mean_of_its_own_steps_and_an_epochs_end_writes_one(tmp_path, monkeypatch):
    """Lines at every second step (log_every 2) and at the end of each 2-batch epoch: each the
    mean of the steps since the line before, not of all steps so far."""
    monkeypatch.setattr(train, "save_samples_figure", lambda *args: None)
    trainer = small_trainer(n=96, arch="seed", ema=0.0)  # 3 batches an epoch: ends at steps 3 and 6
    losses = iter([1.0, 3.0, 5.0, 7.0, 9.0])

    def fixed_step():
        trainer.step += 1
        trainer.cursor += 1
        return train.gan.StepStats(next(losses), 0.5, 0.5, 0.5)

    monkeypatch.setattr(trainer, "train_step", fixed_step)
    train.run(trainer, tmp_path, max_steps=5, log_every=2, progress=train.Progress(open(os.devnull, "w")))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["loss_d"]) for r in records] == [(2, 2.0), (3, 5.0), (4, 7.0), (5, 9.0)]


def test_one_step_into_an_epoch_is_in_it_and_no_eval_skips_the_evaluation(tmp_path, capsys):
    """9 batches an epoch: step 10 is the first of epoch 2; --no-eval on MNIST writes no eval.json."""
    code, out, err = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "10", "--out", tmp_path / "r")
    assert code == 0, err
    assert "at step 10, in epoch 2" in out and "Frechet" not in out
    assert not (tmp_path / "r" / "eval.json").exists()


def test_a_data_directory_of_damaged_files_is_one_line(tmp_path, capsys):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(b"not an IDX file")
    code, _, err = run_cli(capsys, "--data-dir", tmp_path, "--steps", "1", "--out", tmp_path / "r")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and "IDX" in err, err


def test_write_text_atomically_replaces_the_file_and_makes_missing_folders(tmp_path):
    """Replaced by a rename, not written over: another hard link to the old file keeps the
    old text (what a reader holding it sees); and missing folders on the way are made."""
    path = tmp_path / "run" / "config.json"
    train.write_text_atomically(path, "new folder\n")
    assert path.read_text() == "new folder\n"
    old = tmp_path / "old-link"
    os.link(path, old)
    train.write_text_atomically(path, "second\n")
    assert path.read_text() == "second\n" and old.read_text() == "new folder\n"


# --- the run directory: one run, one process ---------------------------------------------


def test_a_new_run_refuses_a_folder_holding_a_runs_files_and_leaves_them_as_they_were(tmp_path, capsys):
    """A folder with config.json, metrics.jsonl and epoch pictures but no checkpoint (the
    user's own, or a run stopped before its first epoch ended): a new run would replace
    them all, and used to, saying nothing."""
    out = tmp_path / "mine"
    (out / "samples").mkdir(parents=True)
    (out / "config.json").write_text("my notes\n")
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    code, _, err = run_cli(capsys, *SMALL, "--steps", "2", "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "already holds config.json, metrics.jsonl, samples, which a new run would replace" in err
    assert (out / "config.json").read_text() == "my notes\n" and (out / "metrics.jsonl").read_text() == '{"step": 1}\n'
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "metrics.jsonl", "samples"]


@pytest.fixture
def folder_locks(tmp_path):
    """Skip where this file system keeps no locks: there a folder in use cannot be told."""
    first = checkpoint.lock_directory(tmp_path)
    second = checkpoint.lock_directory(tmp_path)
    first()
    if second is not None:
        second()
        pytest.skip("this file system keeps no flock locks")


def test_a_run_directory_that_another_process_is_writing_is_refused(tmp_path, capsys, folder_locks):
    """Two commands with one --out, started together: both used to train into it, each
    replacing the other's files, and both said they succeeded.  The lock is ``flock`` on
    the folder; here this process holds it through another descriptor, which conflicts
    as another process's would."""
    out = tmp_path / "run"
    out.mkdir()
    release = checkpoint.lock_directory(out)
    assert release is not None
    try:
        assert checkpoint.lock_directory(out) is None  # what a second command finds
        code, _, err = run_cli(capsys, *SMALL, "--steps", "2", "--out", out)
        assert code == 2 and f"another python -m tinygan.train is writing to {out}" in err
        assert list(out.iterdir()) == []
    finally:
        release()
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)[0] == 0
    release = checkpoint.lock_directory(out)  # the run let go of it as it ended
    assert release is not None
    try:
        code, _, err = run_cli(capsys, "--resume", "--out", out, "--steps", "4")
        assert code == 2 and "is writing to" in err and checkpoint.load(out / "checkpoint.npz")[1]["step"] == 2
    finally:
        release()
    assert run_cli(capsys, "--resume", "--out", out, "--steps", "4")[0] == 0


def test_a_default_run_name_that_is_taken_moves_on_to_a_numbered_one(tmp_path, capsys, monkeypatch, folder_locks):
    """The default name has the time to the second: two runs started in one second (or a
    folder of that name in use) used to share a folder.  Now the later run numbers its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train.time, "strftime", lambda fmt: "20260101-000000")
    base = tmp_path / "runs" / "mnist-seed-20260101-000000"
    options = [*SMALL, "--arch", "seed", "--steps", "2"]
    assert run_cli(capsys, *options)[0] == 0 and (base / "checkpoint.npz").exists()
    code, out, _ = run_cli(capsys, *options)
    assert code == 0 and "-> runs/mnist-seed-20260101-000000-2 " in out
    numbered_3 = base.with_name(base.name + "-3")
    numbered_3.mkdir()
    release = checkpoint.lock_directory(numbered_3)  # an empty folder, but in use
    try:
        code, out, _ = run_cli(capsys, *options)
    finally:
        release()
    assert code == 0 and "-> runs/mnist-seed-20260101-000000-4 " in out and list(numbered_3.iterdir()) == []
    assert sorted(p.name for p in base.parent.iterdir()) == [base.name + s for s in ("", "-2", "-3", "-4")]


def test_a_folder_that_cannot_be_locked_is_used_unguarded(tmp_path, monkeypatch):
    """Windows has no fcntl, and some network file systems keep no locks: the run goes on
    as before locks, rather than refusing to start."""
    import errno

    fcntl = pytest.importorskip("fcntl")

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    release = checkpoint.lock_directory(tmp_path)
    assert release is not None and release() is None
    assert checkpoint.lock_directory(tmp_path / "missing") is not None  # nothing to lock: nothing refused


def test_a_resume_of_a_run_in_use_is_refused_before_its_checkpoint_is_read(tmp_path, capsys, monkeypatch,
                                                                           folder_locks):
    """Read first and locked later, a resume could take the lock just after another process
    finished the run, and put the checkpoint back to the older state it had read."""
    out = tmp_path / "run"
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)[0] == 0
    release = checkpoint.lock_directory(out)
    monkeypatch.setattr(checkpoint, "load", lambda *a, **k: pytest.fail("the checkpoint was read before the lock"))
    try:
        code, _, err = run_cli(capsys, "--resume", "--out", out, "--steps", "4")
    finally:
        release()
    assert code == 2 and err.strip().endswith(f"another python -m tinygan.train is writing to {out}; wait for it to end")


def test_a_folder_in_use_is_called_that_even_when_it_holds_a_runs_files(tmp_path, capsys, folder_locks):
    """Checked before the lock, the second of two runs with one --out was told to remove
    the files of the first, which was still writing them."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}\n")
    release = checkpoint.lock_directory(out)
    try:
        code, _, err = run_cli(capsys, *SMALL, "--steps", "2", "--out", out)
    finally:
        release()
    assert code == 2 and f"another python -m tinygan.train is writing to {out}; wait for it to end, or choose" in err


def test_a_new_run_takes_over_a_folder_whose_run_stopped_before_its_first_checkpoint(tmp_path, capsys):
    """The NaN message says to try a smaller --lr in a new run: with the same --out that was
    refused, for the files the failed run had left (config.json, metrics.jsonl, samples/)."""
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "30", "--lr", "1e30", "--out", out)
    assert code == 1 and "Try a smaller --lr" in err and not (out / "checkpoint.npz").exists()
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "metrics.jsonl", "samples"]
    code, printed, err = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)
    assert code == 0, err
    assert f"{out} holds a run that stopped before its first checkpoint; this run replaces its files" in printed
    assert json.loads((out / "config.json").read_text())["lr_g"] != 1e30
    settings = json.loads((out / "config.json").read_text())
    (out / "checkpoint.npz").unlink()
    (out / "config.json").write_text(json.dumps({**settings, "notes": "mine"}))  # not tinygan's own file
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)[0] == 2


def test_batch_size_one_with_batchnorm_is_one_line_before_anything_is_written(tmp_path, capsys):
    """BatchNorm's batch statistics need two rows: a traceback from inside the layer before."""
    code, _, err = run_cli(capsys, *SMALL, "--arch", "pytorch-gan", "--batch-size", "1", "--steps", "2",
                           "--out", tmp_path / "run")
    assert code == 2 and "--batch-size 1: arch pytorch-gan has BatchNorm" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--batch-size", "1", "--steps", "2",
                   "--out", tmp_path / "seed")[0] == 0  # no BatchNorm: one row per batch is allowed


def test_a_new_run_that_fails_early_leaves_none_of_the_folders_it_made(tmp_path, capsys):
    """Only the run directory itself was removed again: `--out nest/a/b` left nest/a."""
    (tmp_path / "kept").mkdir()
    for out in (tmp_path / "nest" / "a" / "b", tmp_path / "kept" / "a" / "b"):
        code, _, err = run_cli(capsys, *SMALL, "--data-dir", tmp_path / "nowhere", "--steps", "2", "--out", out)
        assert code == 2 and "nowhere: no such directory" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"] and not any((tmp_path / "kept").iterdir())


def test_a_huge_learning_rate_ends_with_one_line_and_no_numpy_warnings(tmp_path, capsys):
    """The run finds the non-finite loss itself; NumPy's overflow warnings used to print
    six lines of source before that message (and fail here, where warnings are errors)."""
    code, _, err = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "30", "--lr", "1e30",
                           "--out", tmp_path / "run")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "became nan" in err and "RuntimeWarning" not in err


def test_more_blas_threads_than_cores_says_it_will_be_slow(tmp_path, capsys, monkeypatch):
    """--threads 1000 on two cores ran at a fiftieth of the speed with one note about
    OpenBLAS's cap; a resumed run sets the stored count back, so it says so there too."""
    from tinygan import backend

    if backend.blas_threads() is None:
        pytest.skip("NumPy does not run on OpenBLAS here: --threads has no effect")
    before = backend.blas_threads()
    monkeypatch.setattr(train, "available_cores", lambda: 1)
    try:
        code, out, _ = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--threads", "2",
                               "--out", tmp_path / "run")
        assert code == 0 and "2 BLAS threads on 1 core: every matrix product waits" in out
        assert "--threads 1 is faster" in out
        code, out, _ = run_cli(capsys, "--resume", "--out", tmp_path / "run", "--steps", "3")
        assert code == 0 and "2 BLAS threads on 1 core" in out
        code, out, _ = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--threads", "1",
                               "--out", tmp_path / "one")
        assert code == 0 and "core:" not in out
    finally:
        backend.set_blas_threads(before)


def test_a_final_evaluation_too_large_for_the_memory_keeps_the_training(tmp_path, capsys, monkeypatch):
    def no_memory(*args):
        raise MemoryError()

    monkeypatch.setattr(train, "evaluate_run", no_memory)
    out = tmp_path / "my run"
    code, _, err = run_cli(capsys, "--data", "mnist", "--subset", "300", "--batch-size", "32", "--arch", "seed",
                           "--steps", "2", "--eval-samples", "10000000000", "--out", out)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "the training is saved in" in err and "10,000,000,000 samples do not fit in the memory" in err
    assert f"python -m tinygan.evaluate --run '{out}' --n 10000 --json '{out / 'eval.json'}'" in err
    assert checkpoint.load(out / "checkpoint.npz")[1]["step"] == 2


def test_printed_commands_quote_a_path_with_a_space(tmp_path, capsys, monkeypatch):
    """The resume line is for copying into a shell: `--out /tmp/my run` would be two words."""
    out = tmp_path / "my run"
    interrupt_at(monkeypatch, 2)
    code, printed, _ = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "5", "--out", out)
    assert code == 130 and f"resume with: python -m tinygan.train --resume --out '{out}'" in printed
    code, _, err = run_cli(capsys, "--resume", "--out", out / "checkpoint.npz")
    assert code == 2 and f"--resume --out '{out}'" in err


def test_a_config_json_that_is_a_folder_is_named_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)[0] == 0
    (out / "config.json").unlink()
    (out / "config.json").mkdir()
    code, _, err = run_cli(capsys, "--resume", "--out", out, "--steps", "4")
    assert code == 2 and f"cannot write {out / 'config.json'}: " in err, err


def test_metrics_bytes_that_are_not_text_are_dropped_like_any_damaged_line(tmp_path, capsys):
    """A 0xff byte in metrics.jsonl used to end the resume in a UnicodeDecodeError."""
    out = tmp_path / "r"
    assert run_cli(capsys, "--data", "ring8", "--steps", "3", "--no-eval", "--out", out)[0] == 0
    with (out / "metrics.jsonl").open("ab") as f:
        f.write(b'\xff{"loss_d": 1.0}\n')
    code, _, err = run_cli(capsys, "--resume", "--out", out, "--steps", "5", "--no-eval")
    assert code == 0 and "line 2, is not a metrics record; dropped it" in err
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [3, 5]


def test_the_first_checkpoint_failing_to_write_says_it_was_the_first(tmp_path, capsys, monkeypatch):
    import errno

    def full_disk(self, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(train.Trainer, "save", full_disk)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)
    assert code == 1 and f"cannot write {out / 'checkpoint.npz'}: No space left on device" in err
    assert "there is no checkpoint: that was the first" in err and "the first comes at" not in err


def test_progress_that_cannot_be_printed_does_not_stop_the_run(tmp_path, capsys, monkeypatch):
    """stdout into a file on a full disk: the progress line goes quiet, the run trains to
    its end and saves, and the last lines' failure is one line naming standard output."""
    import errno

    class FullDisk(io.StringIO):
        def write(self, text):
            if "epoch" in text:  # the start line goes through; the progress line does not
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(text)

    monkeypatch.setattr(sys, "stdout", FullDisk())
    code = train.main([*SMALL, "--arch", "seed", "--steps", "12", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and err == "python -m tinygan.train: error: cannot write standard output: No space left on device\n"
    assert checkpoint.load(tmp_path / "run" / "checkpoint.npz")[1]["step"] == 12


def test_after_a_ctrl_c_into_a_closed_pipe_the_resume_command_goes_to_standard_error(tmp_path, capsys, monkeypatch):
    """`train | tee log`, Ctrl-C: tee stops first, and the lines saying where the run
    stopped and how to resume it were lost to the closed pipe (exit 1, no command)."""
    class ClosedAfterCtrlC(io.StringIO):
        def write(self, text):
            if "stopped" in text or "resume" in text:
                raise BrokenPipeError(32, "Broken pipe")
            return super().write(text)

    interrupt_at(monkeypatch, 3)
    monkeypatch.setattr(sys, "stdout", ClosedAfterCtrlC())
    out = tmp_path / "run"
    code = train.main([*SMALL, "--arch", "seed", "--steps", "12", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 130 and err.startswith(f"stopped (interrupted) at step 3, in epoch 1; checkpoint {out}")
    assert f"resume with: python -m tinygan.train --resume --out {out} --no-eval" in err


def test_a_damaged_data_dim_is_refused_before_the_generator_is_built(tmp_path, capsys, monkeypatch):
    """data_dim 10**7 built a generator of 24 GB before any shape was checked (killed by the
    system, no message); 0, -1 and True were tracebacks from inside the layers."""
    from tinygan import models, sample

    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", tmp_path / "run")[0] == 0
    path = tmp_path / "run" / "checkpoint.npz"
    arrays, meta = checkpoint.load(path)
    real_build = models.build_gan
    for value in (10 ** 7, 0, -1, True):
        checkpoint.save(path, arrays, {**meta, "data_dim": value})
        monkeypatch.setattr(models, "build_gan", lambda arch, rng, z_dim, data_dim: (
            pytest.fail(f"built with data_dim {data_dim}") if data_dim > 10 ** 6 else real_build(arch, rng, z_dim, data_dim)))
        with pytest.raises(SystemExit) as exit_:
            sample.main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "s.npy")])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "checkpoint.npz" in err and len(err.strip().splitlines()) == 1, err


def test_a_data_fingerprint_that_is_no_fingerprint_is_called_damaged(tmp_path, capsys):
    data = copy_of_the_shipped_training_files(tmp_path / "digits")
    common = ["--subset", "300", "--batch-size", "32", "--arch", "seed", "--no-eval"]
    assert run_cli(capsys, *common, "--data-dir", data, "--steps", "2", "--out", tmp_path / "run")[0] == 0
    path = tmp_path / "run" / "checkpoint.npz"
    arrays, meta = checkpoint.load(path)
    for value in (123, [], "abc"):
        checkpoint.save(path, arrays, {**meta, "data_sha256": value})
        code, _, err = run_cli(capsys, "--resume", "--out", tmp_path / "run", "--steps", "4")
        assert code == 2 and "holds a damaged data fingerprint" in err, err


def test_a_resume_removes_the_temporary_files_of_a_killed_write(tmp_path, capsys):
    """kill -9 in the middle of a checkpoint or a picture leaves their temporary files; a
    command holding the folder removes them, and nothing else: not another program's."""
    out = tmp_path / "run"
    assert run_cli(capsys, *SMALL, "--arch", "seed", "--steps", "2", "--out", out)[0] == 0
    leftovers = [out / "checkpoint.npz.1a2b3c4d.tmp", out / "curves.png.00ff00ff.tmp",
                 out / "samples" / "epoch_003.png.0123abcd.tmp"]
    kept = [out / "notes.txt.1a2b3c4d.tmp", out / "checkpoint.npz.tmp", out / "samples" / "mine.png.0123abcd.tmp"]
    for path in leftovers + kept:
        path.write_bytes(b"half")
    assert run_cli(capsys, "--resume", "--out", out, "--steps", "4")[0] == 0
    assert [p for p in leftovers if p.exists()] == [] and all(p.exists() for p in kept)


def test_an_output_on_a_read_only_file_system_names_the_output_not_its_temporary_file(tmp_path, monkeypatch):
    import errno

    real_open = os.open

    def read_only(path, flags, mode=0o777, **kwargs):
        if str(path).endswith(".tmp"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(checkpoint.os, "open", read_only)
    with pytest.raises(OSError) as error:
        with checkpoint.atomic_write(tmp_path / "config.json", "w") as f:
            f.write("{}")
    assert error.value.filename == str(tmp_path / "config.json")
