"""The evaluator: the math against closed forms, real digits vs noise, collapse, the CLI."""

import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from tinygan import evaluate
from tinygan.data import load_dataset


@pytest.fixture(scope="module")
def mnist_test():
    return load_dataset("mnist", "test")


# ----------------------------------------------------------------------------- the math

def test_fd_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).standard_normal((500, 20)) @ np.random.default_rng(1).standard_normal((20, 20))
    mu, cov = evaluate.feature_statistics(x)
    assert evaluate.frechet_distance(mu, cov, mu, cov) < 1e-8 * np.trace(cov)


@pytest.mark.parametrize("dead", [0, 6], ids=["full-rank", "six-dead-directions"])
def test_fd_closed_form_commuting_gaussians(dead):
    """Covariances sharing eigenvectors Q: FD = |Δμ|² + Σ (√a − √b)².  The classifier's
    features have dead ReLUs, so directions with no variance in either set must work too."""
    rng = np.random.default_rng(2)
    d = 12
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a, b = rng.uniform(0.1, 4, d), rng.uniform(0.1, 4, d)
    a[:dead] = b[:dead] = 0
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    cov1, cov2 = (q * a) @ q.T, (q * b) @ q.T
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    # a zero eigenvalue comes out of eigh as round-off, ~1e-16, whose square root is ~1e-8
    assert math.isclose(evaluate.frechet_distance(mu1, cov1, mu2, cov2), expected,
                        rel_tol=1e-9 if dead == 0 else 1e-7)


def test_fd_of_rank_deficient_features_with_themselves_is_zero_never_below():
    """Features of rank 5 in 20 dimensions, as dead ReLUs make them: round-off in the
    square root must not leave a negative distance (the clamp at 0) or a large one."""
    for seed in range(20):
        rng = np.random.default_rng(seed)
        mu, cov = evaluate.feature_statistics(rng.standard_normal((500, 5)) @ rng.standard_normal((5, 20)))
        fd = evaluate.frechet_distance(mu, cov, mu, cov)
        assert 0 <= fd < 1e-9 * np.trace(cov), (seed, fd)


def test_feature_statistics_refuses_a_single_row():
    with pytest.raises(ValueError, match="n >= 2"):
        evaluate.feature_statistics(np.zeros((1, 3)))


def test_log_softmax_and_the_score_survive_extreme_logits():
    np.testing.assert_allclose(evaluate.log_softmax(np.array([[1000.0, 0.0], [0.0, 1000.0]])),
                               [[0, -1000], [-1000, 0]])
    # class 2 has probability exactly 0 in float64 for every sample: p(y) = 0 there, 0·log 0 = 0
    assert evaluate.inception_score(np.tile([0.0, 0.0, -1000.0], (4, 1))) == pytest.approx(1.0, abs=1e-12)


def test_fd_general_gaussians_against_eigenvalues_of_product():
    """tr((Σ₁Σ₂)^½) = Σ √λ over the (real, positive) eigenvalues of Σ₁Σ₂: an independent route."""
    rng = np.random.default_rng(3)
    d = 8
    m1, m2 = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    cov1, cov2 = m1 @ m1.T + 0.1 * np.eye(d), m2 @ m2.T + 0.1 * np.eye(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    lam = np.linalg.eigvals(cov1 @ cov2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * np.sqrt(lam).sum()
    got = evaluate.frechet_distance(mu1, cov1, mu2, cov2)
    assert math.isclose(got, expected, rel_tol=1e-8)
    assert math.isclose(got, evaluate.frechet_distance(mu2, cov2, mu1, cov1), rel_tol=1e-8)


def test_fd_one_dimensional():
    """In 1-D, FD = (μ₁ − μ₂)² + (σ₁ − σ₂)²."""
    fd = evaluate.frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]]))
    assert math.isclose(fd, 9 + 1, rel_tol=1e-12)


def test_sqrtm_psd_squares_back():
    m = np.random.default_rng(4).standard_normal((6, 3))
    cov = m @ m.T  # rank 3: three zero eigenvalues, some round to tiny negatives
    s = evaluate.sqrtm_psd(cov)
    np.testing.assert_allclose(s @ s, cov, atol=1e-10)


def test_inception_score_bounds():
    confident_varied = np.eye(10)[np.arange(100) % 10] * 50
    assert math.isclose(evaluate.inception_score(confident_varied), 10, rel_tol=1e-6)
    confident_one_class = np.tile(np.eye(10)[3] * 50, (100, 1))
    assert math.isclose(evaluate.inception_score(confident_one_class), 1, rel_tol=1e-6)
    unsure = np.zeros((100, 10))
    assert math.isclose(evaluate.inception_score(unsure), 1, rel_tol=1e-12)


def test_kl_to_uniform():
    assert evaluate.kl_to_uniform([5] * 10) == 0
    assert math.isclose(evaluate.kl_to_uniform([0, 7, 0, 0, 0, 0, 0, 0, 0, 0]), math.log(10))
    assert math.isclose(evaluate.kl_to_uniform([1, 1, 0, 0]), math.log(2))


def test_inception_score_by_hand_on_two_samples():
    """IS = exp(mean_x KL(p(y|x) ‖ p(y))), p(y) = mean_x p(y|x) (Salimans et al. 2016), by hand:
    p(y|x₁) = (1, 0) and p(y|x₂) = (½, ½) give p(y) = (¾, ¼), KL₁ = log(4/3), KL₂ = ½ log(4/3),
    so IS = (4/3)^¾ = 1.2408.  The bounds test only has samples whose KLs are all equal, where
    a mean of exp(KL) (here 1.2440) or p(y) taken as the softmax of the mean logit give the same
    number; before this test the first was caught only by an MNIST test
    (test_single_class_is_flagged) and the second only by lesson 8's code."""
    logits = np.array([[0.0, -1000.0], [0.0, 0.0]])  # e^-1000 is 0 in float64: p(y|x₁) = (1, 0)
    assert math.isclose(evaluate.inception_score(logits), (4 / 3) ** 0.75, rel_tol=1e-12)


# ----------------------------------------------------------------------------- on images

def test_feature_statistics_are_the_sample_mean_and_unbiased_covariance():
    x = np.random.default_rng(3).standard_normal((5, 3))  # n = 5: a biased covariance is 25% off
    mu, cov = evaluate.feature_statistics(x)
    np.testing.assert_allclose(mu, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False), rtol=1e-12)


def test_a_class_is_covered_from_two_percent():
    counts = [20, 19] + [120] * 7 + [121]  # 1,000 samples: 2.0%, 1.9% and eight of about 12%
    assert sum(counts) == 1000 and evaluate.classes_covered(counts) == 9


def test_real_test_digits_score_high(mnist_test):
    x, y = mnist_test
    # a random half: the test set's first and last 5,000 digits come from different
    # writers (FD between the halves is about 3x the floor), so x[:5000] is no fair sample
    r = evaluate.evaluate_samples(x[np.random.default_rng(1).permutation(10_000)[:5000]])
    assert r["n_samples"] == 5000
    assert r["mean_confidence"] > 0.95
    assert r["inception_score"] > 9.0 and r["inception_score_real"] > 9.0
    assert r["classes_covered"] == 10 and r["kl_to_uniform"] < 0.01
    assert r["fd"] < r["fd_real_floor"]  # half of the test set itself
    assert sum(r["class_histogram"]) == 5000
    assert "NOT comparable" in r["note"]
    json.dumps(r)  # every value is plain Python


def test_real_train_digits_near_floor():
    x, _ = load_dataset("mnist", "train")
    r = evaluate.evaluate_samples(x[-10_000:])  # not the floor's random subset
    assert 0 < r["fd_real_floor"] < 2
    assert r["fd"] < 3 * r["fd_real_floor"]
    # the floor is the documented random 10,000 (lesson 12 quotes 0.448), not the first 10,000
    assert abs(r["fd_real_floor"] - 0.448) < 0.002


def test_uniform_noise_scores_badly():
    noise = np.random.default_rng(0).uniform(-1, 1, (5000, 784)).astype(np.float32)
    r = evaluate.evaluate_samples(noise)
    assert r["fd"] > 50 * r["fd_real_floor"]
    assert r["inception_score"] < 3
    assert 0.3 < r["mean_confidence"] < 0.8  # measured 0.56


def test_single_class_is_flagged(mnist_test):
    x, y = mnist_test
    r = evaluate.evaluate_samples(x[y == 3])
    assert r["classes_covered"] == 1
    assert r["kl_to_uniform"] > 2.0
    assert r["inception_score"] < 1.5
    assert r["fd"] > 20 * r["fd_real_floor"]
    # confidence is each sample's top probability, averaged (measured 0.99): the classifier
    # is sure of every 3; averaging each class's top over the samples would give 0.51
    assert r["mean_confidence"] > 0.95


def test_accepts_28x28_images(mnist_test):
    x, _ = mnist_test
    a = evaluate.evaluate_samples(x[:300])
    b = evaluate.evaluate_samples(x[:300].reshape(300, 28, 28))
    assert a == b


@pytest.mark.parametrize("bad, message", [
    (np.zeros((10, 100), np.float32), r"shape \(n, 784\)"),
    (np.zeros(784, np.float32), r"shape \(n, 784\)"),
    (np.zeros((1, 784), np.float32), "at least 2"),
    (np.full((10, 784), 255, np.float32), r"\[-1, 1\].*\[0, 255\] become x / 127\.5 - 1"),
    (np.full((10, 784), -3.0, np.float32), r"\[-1, 1\].*found values in \[-3, -3\]"),
    # images in [0, 1], the usual export, would score as a collapsed GAN: refused by name
    (np.random.default_rng(0).uniform(0, 1, (10, 784)).astype(np.float32), r"look like images in \[0, 1\]"),
    (np.ones((10, 784), bool), "numbers, got dtype bool"),
    (np.full((10, 784), np.nan, np.float32), "NaN"),
    (np.zeros((10, 784), "U1"), "numbers"),
    (np.zeros((10, 14, 56), np.float32), r"shape \(n, 784\).*\(10, 14, 56\)"),  # 784 pixels, not 28x28
    (np.zeros((10, 27, 28), np.float32), r"shape \(n, 784\)"),
    ([[0.0] * 784] * 10, r"an array of shape \(n, 784\), got a list"),  # not "got ()"
])
def test_bad_samples_rejected(bad, message):
    with pytest.raises(evaluate.SampleError, match=message):
        evaluate.evaluate_samples(bad)


@pytest.mark.parametrize("value, hint", [
    (-1.2, r"found values in \[-1\.2, 1\]; rescale them into \[-1, 1\]"),
    (1.2, r"found values in \[-1, 1\.2\]; rescale them into \[-1, 1\]"),
    (1.0005, None),  # tanh's ±1 plus float round-off is let through
    (2.0, r"\[0, 255\] become x / 127\.5 - 1"),  # past 1.5: more likely pixel values
])
def test_values_just_outside_the_range_are_refused_with_the_right_hint(mnist_test, value, hint):
    x = mnist_test[0][:50].copy()
    x[0, 0], x[1, 0] = value, 1.0
    if hint is None:
        evaluate._check_samples(x)
    else:
        with pytest.raises(evaluate.SampleError, match=hint):
            evaluate._check_samples(x)


def test_real_digits_exported_to_0_1_are_refused(mnist_test):
    """The usual export: a background of exactly 0, so no value is below 0."""
    x = (mnist_test[0][:50] + 1) / 2
    assert x.min() == 0
    with pytest.raises(evaluate.SampleError, match=r"look like images in \[0, 1\].*x \* 2 - 1"):
        evaluate.evaluate_samples(x)


def test_integer_images_with_nothing_below_0_get_the_8_bit_hint():
    """All-black uint8 images: the hint for [0, 1] (x * 2 - 1) would leave them wrong."""
    with pytest.raises(evaluate.SampleError, match=r"look like images in \[0, 255\].*x / 127\.5 - 1"):
        evaluate.evaluate_samples(np.zeros((10, 784), np.uint8))


def test_the_real_data_score_is_over_the_whole_test_set(mnist_test):
    from tinygan import classifier

    reference = evaluate._reference()
    logits = classifier.features_and_logits(reference["net"], mnist_test[0])[1]
    assert len(mnist_test[0]) == 10_000 and reference["is_real"] == evaluate.inception_score(logits)


# ----------------------------------------------------------------------------- command line

def test_cli_report_and_json(tmp_path, mnist_test, capsys):
    x, _ = mnist_test
    np.save(tmp_path / "s.npy", x[:1000])
    assert evaluate.main(["--samples", str(tmp_path / "s.npy"), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "Frechet distance" in out and "NOT comparable with Inception FID" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_samples"] == 1000 and report["classes_covered"] == 10
    assert f"{report['fd']:.3f}   (real-data floor {report['fd_real_floor']:.3f}: 10,000 train digits" in out
    assert f"mean confidence            {report['mean_confidence']:.3f}" in out
    assert "caution: FD from 1,000 samples is biased upward against the 10,000-sample floor" in out


def test_the_small_sample_caution_starts_below_the_floors_sample_count():
    assert evaluate.small_sample_caution(9_999).startswith("  caution: FD from 9,999 samples")
    assert evaluate.small_sample_caution(10_000) == evaluate.small_sample_caution(50_000) == ""


def npy_header(shape) -> bytes:
    """The header of a float32 ``.npy`` file of ``shape``, as ``np.save`` writes it."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def npy_bytes(array, version) -> bytes:
    """``array`` as an ``.npy`` file's bytes, with a header of ``version``."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


def npz_bytes(**arrays) -> bytes:
    """An .npz archive's bytes (written under a .npy name, as a user might)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: np.save(p, np.zeros((5, 10), np.float32)), "shape (n, 784)"),
    (lambda p: np.save(p, np.full((5, 784), 3.0, np.float32)), "[-1, 1]"),
    (lambda p: p.write_bytes(b"garbage"), "not a readable .npy"),
    (lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), "not a readable .npy"),
    (lambda p: p.write_bytes(np.random.default_rng(0).bytes(3000)), "not NumPy arrays of numbers"),
    (lambda p: p.write_bytes(npz_bytes(x=np.zeros((5, 784)))), "an .npz archive; save the samples with numpy.save"),
    # a header that promises 10¹² rows over 100 bytes: once "not enough memory ... ask for fewer samples"
    (lambda p: p.write_bytes(npy_header((10 ** 12, 784)) + bytes(100)),
     "truncated or damaged: its header promises an array of shape (1000000000000, 784)"),
    (lambda p: p.write_bytes(npy_header((5, 784)) + bytes(5 * 784 * 4 - 1)), "truncated or damaged"),
    (lambda p: p.write_bytes(npy_bytes(np.zeros((5, 784), np.float32), version=(3, 0))[:-1]),
     "truncated or damaged"),  # a version-3 header (UTF-8 field names allowed) is read too
    # a header of 3 rows over 5 rows of data: np.load would score the first 3 and say nothing
    (lambda p: p.write_bytes(npy_header((3, 784)) + bytes(5 * 784 * 4)), "truncated or damaged"),
])
def test_cli_bad_input(tmp_path, capsys, make, message):
    path = tmp_path / "s.npy"
    make(path)
    assert evaluate.main(["--samples", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m tinygan.evaluate: error: ") and message in err and err.count("\n") == 1
    assert "allow_pickle" not in err  # NumPy's advice to unpickle a file we should simply refuse


def test_cli_empty_json_path_is_named(tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.zeros((5, 784), np.float32))
    with pytest.raises(SystemExit) as exc:
        evaluate.main(["--samples", str(tmp_path / "s.npy"), "--json", ""])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--json is empty; name the file" in err and err.count("\n") == 1


def test_cli_empty_sample_sources_are_named(capsys):
    for argv, message in ((["--samples", ""], "--samples: is empty; name the .npy file of samples"),
                          (["--run", ""], "--run: is empty; name the run directory")):
        with pytest.raises(SystemExit) as exc:
            evaluate.main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize("array", [np.zeros((5, 784), np.float32), np.zeros((0, 784), np.float32),
                                   np.asfortranarray(np.zeros((5, 784), ">f8")), np.zeros(3, "i4,f8")])
@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_complete_npy_files_pass_the_size_check(array, version):
    data = npy_bytes(array, version)
    assert evaluate.npy_size_problem(io.BytesIO(data), len(data)) is None


def test_samples_can_be_read_from_a_pipe(tmp_path, mnist_test, capsys):
    """`python -m tinygan.evaluate --samples <(...)`: NumPy's reader seeks, which a pipe cannot."""
    import threading

    fifo = tmp_path / "samples.npy"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(npy_bytes(mnist_test[0][:500], (1, 0))))
    writer.start()
    assert evaluate.main(["--samples", str(fifo)]) == 0
    writer.join()
    assert "samples                    500" in capsys.readouterr().out


def test_the_json_report_is_written_where_stdout_fails(tmp_path, mnist_test, capsys, monkeypatch):
    """stdout into a full disk: the report on stdout is lost, the --json copy need not be."""
    import errno

    class FullDisk(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    np.save(tmp_path / "s.npy", mnist_test[0][:500])
    monkeypatch.setattr(sys, "stdout", FullDisk())
    assert evaluate.main(["--samples", str(tmp_path / "s.npy"), "--json", str(tmp_path / "r.json")]) == 1
    assert "cannot write standard output: No space left on device" in capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["fd"] > 0


def test_the_json_report_may_not_replace_another_runs_files(tmp_path, capsys):
    """Not only the --run's own: a run folder's checkpoint.npz, config.json or metrics.jsonl."""
    run = tmp_path / "victim"
    run.mkdir()
    (run / "checkpoint.npz").write_bytes(b"a run's")
    (run / "metrics.jsonl").write_text("{}\n")
    np.save(tmp_path / "s.npy", np.zeros((5, 784), np.float32) - 1)
    for name in ("metrics.jsonl", "config.json"):
        with pytest.raises(SystemExit) as exc:
            evaluate.main(["--samples", str(tmp_path / "s.npy"), "--json", str(run / name)])
        assert exc.value.code == 2 and f"is the {name} of the run in {run}" in capsys.readouterr().err
    assert (run / "metrics.jsonl").read_text() == "{}\n" and not (run / "config.json").exists()


def test_cli_subprocess_exit_code_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tinygan.evaluate", "--samples", str(tmp_path / "x.npy")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "no such file" in result.stderr
    assert result.stderr.count("\n") == 1


def test_cli_refuses_n_with_samples(tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.zeros((5, 784), np.float32))
    with pytest.raises(SystemExit) as exc:
        evaluate.main(["--samples", str(tmp_path / "s.npy"), "--n", "5"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--n is for --run" in err and err.count("\n") == 1


def test_a_report_that_cannot_be_written_leaves_the_old_one(tmp_path, mnist_test, capsys, monkeypatch):
    import errno

    np.save(tmp_path / "s.npy", mnist_test[0][:50])
    (tmp_path / "r.json").write_text("old report")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(evaluate.json, "dumps", disk_full)
    assert evaluate.main(["--samples", str(tmp_path / "s.npy"), "--json", str(tmp_path / "r.json")]) == 1
    assert "No space left" in capsys.readouterr().err and (tmp_path / "r.json").read_text() == "old report"


def test_cli_needs_a_source(capsys):
    with pytest.raises(SystemExit) as exc:
        evaluate.main([])
    assert exc.value.code == 2
    err = capsys.readouterr().err  # one line, as from the other commands: no usage block
    assert "one of the arguments --samples --run is required" in err and err.count("\n") == 1


def test_cli_gpu_without_cupy_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # as on a machine without CuPy
    np.save(tmp_path / "s.npy", np.zeros((5, 784), np.float32))
    assert evaluate.main(["--samples", str(tmp_path / "s.npy"), "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m tinygan.evaluate: error: device 'gpu' needs CuPy") and err.count("\n") == 1


def test_feature_statistics_refuses_a_flat_array():
    with pytest.raises(ValueError, match=r"n >= 2, d\) array, got shape \(5,\)"):
        evaluate.feature_statistics(np.zeros(5))


def test_log_softmax_is_float64_and_shifts_each_row_by_its_own_maximum():
    """Rows far apart: shifting all by the largest logit overall would underflow row 2 to log 0."""
    out = evaluate.log_softmax(np.array([[1000.0, 999.0], [0.0, -1.0]], np.float32))
    assert out.dtype == np.float64
    row = [-math.log1p(math.exp(-1)), -1 - math.log1p(math.exp(-1))]
    np.testing.assert_allclose(out, [row, row], rtol=1e-12)


def test_class_histogram_counts_every_class_even_empty_ones():
    assert evaluate.class_histogram(np.array([3, 3, 0])) == [1, 0, 0, 2, 0, 0, 0, 0, 0, 0]
    assert evaluate.class_histogram(np.array([1]), n_classes=3) == [0, 1, 0]


@pytest.mark.parametrize("value, refused", [(-1.0005, False), (1.0005, False), (-1.002, True), (1.002, True)])
def test_the_range_slack_is_a_thousandth_on_both_sides(value, refused):
    x = np.full((4, 784), -1.0, np.float32)
    x[1] = 1.0
    x[0, 0] = value
    if refused:
        with pytest.raises(evaluate.SampleError, match=r"must lie in \[-1, 1\]"):
            evaluate._check_samples(x)
    else:
        evaluate._check_samples(x)


def test_integer_samples_are_numbers_too():
    """Integer images are checked like any others: ints in {-1, 0, 1} pass, pixel values in
    [0, 255] (uint8, as images are read) get the hint for them, not a dtype complaint."""
    x = np.where(np.arange(3 * 784).reshape(3, 784) % 2, 1, -1).astype(np.int8)
    checked = evaluate._check_samples(x)
    assert checked.dtype == np.float32 and np.array_equal(checked, x)
    with pytest.raises(evaluate.SampleError, match=r"\[0, 255\] become x / 127\.5 - 1"):
        evaluate._check_samples(np.full((3, 784), 255, np.uint8))


def test_float64_samples_become_float32_and_beyond_its_range_is_refused_as_infinite():
    x = np.full((3, 784), -1.0)
    x[0, 0] = 0.5
    assert evaluate._check_samples(x).dtype == np.float32
    x[0, 0] = 1e39  # finite in float64, infinite in float32
    with pytest.raises(evaluate.SampleError, match="NaN or infinity"):
        evaluate._check_samples(x)


def test_format_report_lines():
    report = {"n_samples": 200, "fd": 12.34567, "fd_real_floor": 0.44812, "inception_score": 3.21,
              "inception_score_real": 9.87654, "mean_confidence": 0.5, "class_histogram": [120, 60, 20] + [0] * 7,
              "classes_covered": 3, "kl_to_uniform": 1.2345678, "note": evaluate.FD_NOTE}
    lines = evaluate.format_report(report, "run-7").splitlines()
    assert lines[:7] == [
        "tinygan sample quality -- run-7",
        "  samples                    200",
        "  Frechet distance (FD)      12.346   (real-data floor 0.448: 10,000 train digits vs test set; "
        "lower is better)",
        "  inception-style score      3.210   (real test digits: 9.877; max 10)",
        "  mean confidence            0.500",
        "  classes with >= 2%         3 / 10",
        "  KL(histogram || uniform)   1.2346   (0 = even, 2.303 = one class)"]
    assert lines[7:11] == ["  predicted classes:",
                           "    0:    120   60.0%  " + "#" * 30,
                           "    1:     60   30.0%  " + "#" * 15,
                           "    2:     20   10.0%  " + "#" * 5]
    assert lines[11] == "    3:      0    0.0%  " and len(lines) == 20
    assert lines[-2].startswith("  caution: FD from 200 samples") and lines[-1] == f"  note: {evaluate.FD_NOTE}."
    assert evaluate.format_report(report).splitlines()[0] == "tinygan sample quality"


def test_cli_prints_its_source_writes_the_same_report_as_json_and_says_so(tmp_path, mnist_test, capsys):
    x = mnist_test[0][:50]
    np.save(tmp_path / "s.npy", x)
    assert evaluate.main(["--samples", str(tmp_path / "s.npy"), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"tinygan sample quality -- {tmp_path / 's.npy'}\n")
    assert out.endswith(f"\nwrote {tmp_path / 'r.json'}\n")
    report = evaluate.evaluate_samples(x)
    assert json.loads((tmp_path / "r.json").read_text()) == report
    reference = evaluate._reference()  # the real-data numbers are the reference's, not the samples'
    assert (report["fd_real_floor"], report["inception_score_real"]) == (reference["fd_floor"], reference["is_real"])


def test_cli_without_classifier_weights_exits_1_in_one_line(tmp_path, capsys, monkeypatch):
    from tinygan import classifier

    np.save(tmp_path / "s.npy", np.full((5, 784), -1, np.float32))
    monkeypatch.setattr(evaluate, "_REFERENCE", {})  # as in a fresh process
    monkeypatch.setattr(classifier, "WEIGHTS_PATH", tmp_path / "none.npz")
    assert evaluate.main(["--samples", str(tmp_path / "s.npy")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python -m tinygan.evaluate: error: ") and "classifier weights not found" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_damaged_shipped_mnist_is_one_line_from_every_command(tmp_path, capsys, monkeypatch, damage):
    """evaluate and classifier ended in a 19-25 line traceback over data.py's one-line
    message; the final evaluation of a training run in its last line too."""
    import shutil

    from tinygan import classifier, data, train

    copy = tmp_path / "data"
    shutil.copytree(data.PACKAGE_DATA, copy)
    images = copy / "t10k-images-idx3-ubyte.gz"
    if damage == "truncated":
        images.write_bytes(images.read_bytes()[:1000])
    else:
        images.unlink()
    monkeypatch.setattr(data, "PACKAGE_DATA", copy)
    monkeypatch.setattr(evaluate, "_REFERENCE", {})  # as in a fresh process
    said = ("truncated or corrupt gzip data" if damage == "truncated" else "(or without .gz): no such file")
    np.save(tmp_path / "s.npy", np.full((5, 784), -1, np.float32))
    assert evaluate.main(["--samples", str(tmp_path / "s.npy")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python -m tinygan.evaluate: error: the MNIST digits the scores compare against "
                          f"cannot be read: {images}") and said in err and err.count("\n") == 1, err
    assert classifier.main(["--epochs", "1", "--out", str(tmp_path / "w.npz")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"python -m tinygan.classifier: error: {images}") and said in err and err.count("\n") == 1
    assert not (tmp_path / "w.npz").exists()
    out = tmp_path / "run"  # trains on the training digits, which are whole; then scores against the test ones
    code = train.main(["--data", "mnist", "--subset", "300", "--batch-size", "32", "--arch", "seed", "--steps", "2",
                       "--eval-samples", "50", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and f"the training is saved in {out / 'checkpoint.npz'}, but the " \
        f"evaluation failed: the MNIST digits the scores compare against cannot be read: {images}" in err, err


def test_cli_run_draws_ten_thousand_samples_by_default(mnist_test, capsys, monkeypatch):
    from tinygan import sample, train

    asked = []

    def generate(G, config, n, seed):
        asked.append(n)
        return mnist_test[0][:20]

    monkeypatch.setattr(sample, "load_generator", lambda run: (None, train.Config()))
    monkeypatch.setattr(sample, "generate", generate)
    assert evaluate.main(["--run", "somewhere"]) == 0 and asked == [10_000]
    assert "somewhere (10000 samples)" in capsys.readouterr().out
    assert evaluate.main(["--run", "somewhere", "--n", "30"]) == 0 and asked == [10_000, 30]


def test_cli_refuses_n_with_samples_even_at_its_default(tmp_path, capsys):
    """--n is for --run; `--samples f.npy --n 10000` was taken (10000 was the default), while
    `--n 9999` was refused."""
    np.save(tmp_path / "s.npy", np.full((5, 784), -1, np.float32))
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--samples", str(tmp_path / "s.npy"), "--n", "10000"])
    assert exit_.value.code == 2 and "--n is for --run" in capsys.readouterr().err


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "is a directory, expected a .npy file"),
    (lambda p: p.write_bytes(b""), "not a readable .npy array (No data left in file)"),
])
def test_samples_file_that_is_a_directory_or_empty(tmp_path, make, message):
    make(tmp_path / "s.npy")
    with pytest.raises(evaluate.SampleError) as err:
        evaluate.load_samples_file(tmp_path / "s.npy")
    assert str(err.value) == f"{tmp_path / 's.npy'}: {message}"


def test_cli_float64_samples_beyond_float32_are_one_line_without_a_warning(tmp_path, capsys):
    """NumPy warns "overflow encountered in cast" on the way to float32; the one-line error
    must not come with a RuntimeWarning and its source line on stderr."""
    x = np.full((3, 784), -1.0)
    x[0, 0] = -1e300
    np.save(tmp_path / "s.npy", x)
    assert evaluate.main(["--samples", str(tmp_path / "s.npy")]) == 2
    err = capsys.readouterr().err
    assert err == "python -m tinygan.evaluate: error: samples contain NaN or infinity (or numbers beyond float32's range)\n"


def test_the_reference_statistics_are_computed_once_per_process():
    """A few seconds of work (the classifier over 20,000 digits): every later call reuses it."""
    assert evaluate._reference() is evaluate._reference()
