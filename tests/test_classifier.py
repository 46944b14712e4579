"""The MNIST classifier: softmax cross-entropy against finite differences, and the shipped weights."""

import io
import sys

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gradutil import TOL
from tinygan import classifier, losses, nn
from tinygan.backend import Random
from tinygan.data import load_dataset
from tinygan.gradcheck import numerical_gradient

PARAMS = classifier.build_classifier().flat_params.size

batches = st.tuples(st.integers(1, 6), st.integers(2, 7)).flatmap(
    lambda s: st.tuples(arrays(np.float64, s, elements=st.floats(-20, 20)),
                        arrays(np.int64, s[0], elements=st.integers(0, s[1] - 1))))


@given(batch=batches)
@example(batch=(np.array([[11.0, 0.0]]), np.array([0])))  # a confident row: a tiny gradient
def test_softmax_cross_entropy_value_and_gradient(batch):
    logits, labels = batch
    loss, grad = losses.softmax_cross_entropy(logits, labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected = -log_p[np.arange(len(labels)), labels].mean()
    assert abs(loss - expected) <= 1e-12 * max(1.0, abs(expected))
    onehot = np.eye(logits.shape[1])[labels]
    np.testing.assert_allclose(grad, (np.exp(log_p) - onehot) / len(labels), rtol=1e-10, atol=1e-16)
    numeric = numerical_gradient(lambda: losses.softmax_cross_entropy(logits, labels)[0], logits)
    # A central difference carries an absolute rounding error of about ε/h ≈ 1e-10, since the
    # loss goes through log Σ e^{a−m}, a number ≥ 1.  A confident row has a gradient as small
    # as e^{-11} ≈ 1.7e-5 (hypothesis found logits [11, 0]), where that floor alone is a
    # relative error of 6e-6; so the bound is relative to max(|grad|, 1e-3).
    assert np.abs(grad - numeric).max() <= TOL * max(np.abs(grad).max(), 1e-3)


def test_softmax_cross_entropy_extreme_logits_stay_finite():
    # float32 spacing at 6667 is 4.9e-4, so 1e-2 still sees the log 3 / 3 = 0.37 term
    for dtype, atol in ((np.float32, 1e-2), (np.float64, 1e-9)):
        logits = np.array([[1e4, 0, -1e4], [-1e4, 1e4, 0], [0, 0, 0]], dtype=dtype)
        loss, grad = losses.softmax_cross_entropy(logits, np.array([0, 0, 2]))
        assert np.isfinite(loss) and np.isfinite(grad).all()
        # row 1 is certain and right: loss 0; row 2 certain and wrong: 2e4; row 3 uniform: log 3
        assert abs(loss - (0 + 2e4 + np.log(3)) / 3) < atol
        # (softmax − onehot) / N, row by row
        expected = np.array([[0, 0, 0], [-1, 1, 0], [1 / 3, 1 / 3, -2 / 3]]) / 3
        np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_classifier_network_gradient():
    """The whole classifier (BatchNorm, Dropout) + softmax CE, against finite differences."""
    from gradutil import network_error

    net = nn.Sequential(nn.Dense(6, 5, init="he", rng=Random(1)), nn.BatchNorm1d(5), nn.ReLU(),
                        nn.Dropout(0.2, seed=3), nn.Dense(5, 4, rng=Random(2)), dtype="float64")
    x = np.random.default_rng(0).standard_normal((8, 6))
    labels = np.array([0, 1, 2, 3, 3, 2, 1, 0])
    err, kink = network_error(net, lambda y: losses.softmax_cross_entropy(y, labels), x)
    assert kink > 1e-4 and err < TOL


def test_random_shift_moves_pixels():
    img = -np.ones((1, 28, 28), np.float32)
    img[0, 10, 12] = 1
    batch = np.repeat(img.reshape(1, 784), 64, axis=0)
    out = classifier.random_shift(batch, Random(0), max_shift=2).reshape(64, 28, 28)
    rows, cols = np.nonzero(out == 1)[1:]
    assert len(rows) == 64  # every image keeps its single lit pixel
    assert set(rows) == set(range(8, 13)) and set(cols) == set(range(10, 15))  # every shift in -2..2 occurs
    assert len(set(zip(rows, cols))) > 10


def test_random_shift_fills_what_it_uncovers_with_background():
    """A white image shifted by (dy, dx) keeps (28 − |dy|)·(28 − |dx|) white pixels; the
    strips it uncovers are −1, the background of tinygan's digits, not 0."""
    out = classifier.random_shift(np.ones((64, 784), np.float32), Random(0), max_shift=2)
    assert set(np.unique(out)) == {-1.0, 1.0}
    white = (out == 1).sum(axis=1)
    assert set(white) <= {(28 - abs(dy)) * (28 - abs(dx)) for dy in range(-2, 3) for dx in range(-2, 3)}
    assert white.min() == 26 * 26 and white.max() == 28 * 28  # both extremes occur in 64 draws


def test_weights_round_trip(tmp_path):
    net = classifier.build_classifier(hidden=(16, 8), seed=5)
    net.flat_state[:] = np.arange(net.flat_state.size)
    path = classifier.save_weights(net, tmp_path / "w.npz", test_accuracy=0.5)
    back = classifier.load_classifier(path)
    np.testing.assert_array_equal(back.flat_params, net.flat_params)
    np.testing.assert_array_equal(back.flat_state, net.flat_state)
    with np.load(path, allow_pickle=False) as f:
        assert float(f["test_accuracy"]) == 0.5


def test_the_learning_rate_falls_along_a_cosine_to_a_hundredth():
    lr = classifier.cosine_learning_rate
    assert lr(2e-3, 0, 1000) == 2e-3
    assert lr(2e-3, 500, 1000) == pytest.approx(2e-3 * 0.505)
    assert lr(2e-3, 1000, 1000) == pytest.approx(2e-5)
    rates = [lr(1.0, step, 100) for step in range(101)]
    assert all(a > b for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("damage, message", [
    (dict(params=np.full(PARAMS, np.nan)), "params holds values that are not finite"),
    (dict(params=np.full(PARAMS, "x")), "params holds values that are not finite numbers"),
    (dict(hidden=np.array([-5, 256])), "not a valid classifier weights file"),
    (dict(format_version=np.asarray(99)), "weights format 99, this tinygan reads format 1"),
    (dict(state=np.zeros(1, np.float32)), "weights hold .* and 1 state values"),  # would broadcast
])
def test_weights_with_damaged_values_are_refused_by_name(tmp_path, damage, message):
    """Right names and shapes, wrong contents: refused on loading, not as a LinAlgError in the FD."""
    arrays = dict(np.load(classifier.WEIGHTS_PATH))
    np.savez(tmp_path / "w.npz", **{**arrays, **damage})
    with pytest.raises(classifier.WeightsError, match=f"w.npz: {message}"):
        classifier.load_classifier(tmp_path / "w.npz")


def test_weights_that_cannot_be_finished_leave_the_old_file(tmp_path, monkeypatch):
    import errno

    path = tmp_path / "w.npz"
    path.write_bytes(b"old weights")

    def disk_full(f, **arrays):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", disk_full)
    with pytest.raises(OSError):
        classifier.save_weights(classifier.build_classifier(hidden=(8, 4)), path)
    assert path.read_bytes() == b"old weights" and [p.name for p in tmp_path.iterdir()] == ["w.npz"]


def test_missing_or_bad_weights(tmp_path):
    with pytest.raises(classifier.WeightsError, match="python -m tinygan.classifier"):
        classifier.load_classifier(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    damaged = io.BytesIO()
    np.savez(damaged, hidden=np.array([512, 256]), params=np.zeros(3), state=np.zeros(3))
    bare_npy = io.BytesIO()
    np.save(bare_npy, np.zeros(3))
    for content in (b"not a zip", b"PK\x03\x04" + bytes(100), damaged.getvalue()[:200], bare_npy.getvalue(),
                    damaged.getvalue()):  # the last one is whole but has 3 parameters
        bad.write_bytes(content)
        with pytest.raises(classifier.WeightsError, match="bad.npz: (not a valid|weights hold 3)"):
            classifier.load_classifier(bad)


def test_classifier_command_rejects_bad_numbers_in_one_line(capsys):
    for argv, message in ((["--epochs", "0"], "--epochs: must be > 0, got 0"),
                          (["--lr", "inf"], "--lr: must be a finite number, got inf"),
                          (["--batch-size", "x"], "--batch-size: 'x' is not a valid int"),
                          (["--batch-size", "1"], "--batch-size: must be >= 2, got 1"),  # BatchNorm needs 2 rows
                          (["--batch-size", "60001"], "more than the 60,000 training digits"),
                          (["--seed", "-1"], "--seed: must be >= 0, got -1"),
                          (["--out", ""], "--out is empty; name the file")):  # not the current folder
        with pytest.raises(SystemExit) as exit_:
            classifier.main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and message in err and err.count("\n") == 1


def test_shipped_weights_small_and_accurate():
    assert classifier.WEIGHTS_PATH.stat().st_size < 3_000_000
    net = classifier.load_classifier()
    x, y = load_dataset("mnist", "test")
    acc = classifier.accuracy(net, x, y)
    assert acc >= 0.985, acc
    feats, logits = classifier.features_and_logits(net, x[:100])
    assert feats.shape == (100, 256) and logits.shape == (100, 10)


@pytest.fixture
def small_mnist(monkeypatch):
    """``data.load_dataset`` cut to 3,000 training and 1,000 test digits; returns the cut loader."""
    from tinygan import data

    full = data.load_dataset

    def small(name, split):
        x, y = full(name, split)
        return (x[:3000], y[:3000]) if split == "train" else (x[:1000], y[:1000])

    monkeypatch.setattr(data, "load_dataset", small)
    return small


def test_training_learns_on_a_small_subset(small_mnist):
    """classifier.train's loop (shifts, cosine schedule, Adam) on 3,000 digits, in about a second."""
    lines = []
    _, acc = classifier.train(epochs=1, log=lines.append)
    assert acc > 0.5, acc  # chance is 0.1; measured 0.72-0.73 for seeds 0-2
    assert "23 batches of 128" in lines[0]


def test_the_training_loop_shuffles_shifts_follows_its_schedule_and_starts_each_step_from_zero(
        small_mnist, monkeypatch):
    """What learning alone does not show: each step's gradient is that batch's only (after the
    first step the loss gradient is replaced by zeros, so every later one must be exactly 0),
    each batch is shifted, the rate follows the cosine step by step, the order is shuffled
    anew each epoch, and the accuracy reported is the test set's."""
    from tinygan import optim

    rates, largest_grads, shifted, labels_seen = [], [], [], []
    real_step, real_shift, real_loss = optim.Adam.step, classifier.random_shift, classifier.softmax_cross_entropy

    def step(self):
        rates.append(self.lr)
        largest_grads.append(float(np.abs(self.grads).max()))
        real_step(self)

    def loss(logits, labels):
        value, dlogits = real_loss(logits, labels)
        labels_seen.append(np.array(labels))
        return value, dlogits if len(labels_seen) == 1 else dlogits * 0

    monkeypatch.setattr(optim.Adam, "step", step)
    monkeypatch.setattr(classifier, "random_shift", lambda *a, **k: (shifted.append(1), real_shift(*a, **k))[1])
    monkeypatch.setattr(classifier, "softmax_cross_entropy", loss)
    net, acc = classifier.train(epochs=2, log=lambda *a: None)
    total = 2 * (3000 // 128)
    assert rates == [classifier.cosine_learning_rate(2e-3, s, total) for s in range(total)]
    assert largest_grads[0] > 0 and largest_grads[1:] == [0.0] * (total - 1)
    assert len(shifted) == total
    y_train = small_mnist("mnist", "train")[1]
    assert not np.array_equal(labels_seen[0], y_train[:128])
    assert not np.array_equal(labels_seen[0], labels_seen[total // 2])  # epoch 2 has another order
    assert acc == classifier.accuracy(net, *small_mnist("mnist", "test"))


@pytest.mark.slow
def test_training_one_epoch_learns():
    net, acc = classifier.train(epochs=1, log=lambda *a: None)
    assert acc > 0.95


def test_the_network_is_the_documented_mlp():
    """784 → Dense 512 (He) → BatchNorm → ReLU → Dropout → Dense 256 (He) → … → Dense 10 (Xavier),
    each Dropout with its own stream, every weight drawn from the seed."""
    net = classifier.build_classifier(seed=3)
    assert [type(layer).__name__ for layer in net.layers] == ["Dense", "BatchNorm1d", "ReLU", "Dropout"] * 2 + ["Dense"]
    assert [(d.n_in, d.n_out, d.init) for d in net.layers[::4]] == [(784, 512, "he"), (512, 256, "he"),
                                                                   (256, 10, "xavier")]
    assert [net.layers[3].p, net.layers[7].p] == [0.2, 0.2]
    assert [layer.p for layer in classifier.build_classifier(hidden=(8, 4), dropout=0.3).layers[3::4]] == [0.3, 0.3]
    x = np.ones((4, 64), np.float32)
    masks = [net.layers[k].forward(x, train=True)[1] for k in (3, 7)]
    assert not np.array_equal(masks[0], masks[1])  # the two Dropouts do not drop the same units
    np.testing.assert_array_equal(classifier.build_classifier(seed=3).flat_params, net.flat_params)
    assert not np.array_equal(classifier.build_classifier(seed=4).flat_params, net.flat_params)


def test_features_and_logits_cover_every_row_in_float32_whatever_the_batches():
    net = classifier.load_classifier()
    x = load_dataset("mnist", "test")[0][:5].astype(np.float64)
    feats, logits = classifier.features_and_logits(net, x)
    assert feats.dtype == logits.dtype == np.float32 and feats.shape == (5, 256) and logits.shape == (5, 10)
    for batch_size in (1, 2, 4):  # 5 rows: a last batch of one row, or of one short of a full one
        f, lg = classifier.features_and_logits(net, x, batch_size=batch_size)
        np.testing.assert_allclose(f, feats, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(lg, logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(classifier.predict(net, x, batch_size=2), logits.argmax(axis=1))


def test_random_shift_keeps_the_dtype_and_shifts_up_to_two_pixels_by_default():
    img = -np.ones((1, 28, 28), np.float32)
    img[0, 10, 12] = 1
    out = classifier.random_shift(np.repeat(img.reshape(1, 784), 64, axis=0), Random(0))
    assert out.dtype == np.float32
    rows, cols = np.nonzero(out.reshape(64, 28, 28) == 1)[1:]
    assert set(rows) == set(range(8, 13)) and set(cols) == set(range(10, 15))


STATE = classifier.build_classifier().flat_state.size  # BatchNorm running means and variances


@pytest.mark.parametrize("damage, message", [
    (dict(format_version=np.asarray(0)), "weights format 0, this tinygan reads format 1"),  # older, not only newer
    (dict(state=np.full(STATE, np.inf, np.float32)), "state holds values that are not finite numbers"),
    (dict(params=np.zeros(PARAMS, np.int64)), "params holds values that are not finite numbers"),
    (dict(params=np.zeros(1, np.float32)), "weights hold 1 parameters and"),  # would broadcast: all zeros
])
def test_more_damaged_weights_are_refused_by_name(tmp_path, damage, message):
    arrays = dict(np.load(classifier.WEIGHTS_PATH))
    np.savez(tmp_path / "w.npz", **{**arrays, **damage})
    with pytest.raises(classifier.WeightsError, match=f"w.npz: {message}"):
        classifier.load_classifier(tmp_path / "w.npz")


def test_an_empty_weights_path_is_not_the_shipped_file():
    with pytest.raises(classifier.WeightsError, match="classifier weights not found"):
        classifier.load_classifier("")


@pytest.fixture
def tiny_mnist(monkeypatch):
    """``data.load_dataset`` cut to 400 training and 100 test digits, each split read once."""
    from tinygan import data

    cut = {split: tuple(a[:400 if split == "train" else 100] for a in data.load_dataset("mnist", split))
           for split in ("train", "test")}
    monkeypatch.setattr(data, "load_dataset", lambda name, split: cut[split])


def test_training_is_seeded_and_logs_the_mean_loss_and_test_accuracy(tiny_mnist, monkeypatch):
    """The seed draws the initial weights and the order and shifts of the batches: the same
    seed gives the same network, another seed another one.  Training runs in train mode
    (BatchNorm's running statistics move), ``max_shift`` reaches the shifts, and each
    epoch's line reports the mean batch loss and the test accuracy returned."""
    from tinygan import optim

    real_loss, real_shift = classifier.softmax_cross_entropy, classifier.random_shift
    first_labels, shifts, nets = [], [], []

    def loss(logits, labels):
        first_labels.append(np.array(labels))
        return 1.5, real_loss(logits, labels)[1]  # every batch's loss is 1.5: so is their mean

    monkeypatch.setattr(classifier, "softmax_cross_entropy", loss)
    monkeypatch.setattr(optim.Adam, "step", lambda self: None)  # no updates: the weights stay the initial ones
    monkeypatch.setattr(classifier, "random_shift", lambda x, rng, max_shift=2: (shifts.append(max_shift),
                                                                                real_shift(x, rng, max_shift))[1])
    for seed in (1, 1, 2):
        lines = []
        net, acc = classifier.train(epochs=1, batch_size=200, seed=seed, max_shift=1, log=lines.append)
        assert f"loss 1.5000  test accuracy {100 * acc:.2f}%" in lines[1]
        np.testing.assert_array_equal(net.flat_params, classifier.build_classifier(seed=seed).flat_params)
        nets.append(net)
    assert shifts == [1] * 6
    np.testing.assert_array_equal(nets[0].flat_state, nets[1].flat_state)  # two batches: the same
    np.testing.assert_array_equal(first_labels[0], first_labels[2])
    assert not np.array_equal(first_labels[0], first_labels[4])  # another seed, another order
    assert not np.array_equal(nets[0].flat_state, nets[2].flat_state)
    assert not np.array_equal(nets[0].flat_state, classifier.build_classifier().flat_state)


@pytest.fixture
def stub_training(monkeypatch, tmp_path):
    """``classifier.train`` replaced by a stub that records its arguments and returns a tiny net;
    the default ``--out`` moved to ``tmp_path``, so no mistake can overwrite the shipped weights."""
    monkeypatch.setattr(classifier, "WEIGHTS_PATH", tmp_path / "shipped" / "mnist_classifier.npz")
    calls = []

    def train(**kwargs):
        calls.append(kwargs)
        return classifier.build_classifier(hidden=(8, 4)), 0.98765

    monkeypatch.setattr(classifier, "train", train)
    return calls


def test_classifier_command_trains_with_its_options_and_writes_the_weights(tmp_path, capsys, stub_training):
    out = tmp_path / "new" / "folders" / "w.npz"  # folders that do not exist yet are made
    assert classifier.main(["--out", str(out)]) == 0
    assert stub_training == [dict(epochs=30, batch_size=128, lr=2e-3, seed=0)]  # the documented recipe
    printed = capsys.readouterr().out
    assert "final test accuracy: 98.77%" in printed and f"wrote {out} (" in printed
    with np.load(out, allow_pickle=False) as f:
        assert (float(f["test_accuracy"]), int(f["epochs"]), int(f["seed"])) == (0.98765, 30, 0)
    classifier.load_classifier(out)
    assert classifier.main(["--epochs", "2", "--batch-size", "60000", "--lr", "0.5", "--seed", "7",
                            "--out", str(out)]) == 0  # the whole training set in one batch is allowed
    assert stub_training[1] == dict(epochs=2, batch_size=60_000, lr=0.5, seed=7)
    with np.load(out, allow_pickle=False) as f:
        assert (int(f["epochs"]), int(f["seed"])) == (2, 7)


def test_classifier_command_writes_the_shipped_file_by_default(tmp_path, monkeypatch, stub_training):
    written = []

    def save_weights(net, path, **info):
        written.append(path)
        (tmp_path / "w.npz").write_bytes(b"weights")
        return tmp_path / "w.npz"

    monkeypatch.setattr(classifier, "save_weights", save_weights)
    assert classifier.main([]) == 0 and written == [classifier.WEIGHTS_PATH]


def test_classifier_command_that_cannot_save_says_so_in_one_line(tmp_path, capsys, monkeypatch, stub_training):
    import errno

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(classifier, "save_weights", disk_full)
    assert classifier.main(["--out", str(tmp_path / "w.npz")]) == 1
    err = capsys.readouterr().err
    assert err == (f"python -m tinygan.classifier: error: cannot write {tmp_path / 'w.npz'}: No space left on "
                   "device; the weights there are as they were\n")


def test_classifier_command_on_a_gpu_without_cupy_is_one_line(tmp_path, capsys, monkeypatch, stub_training):
    monkeypatch.setitem(sys.modules, "cupy", None)  # as on a machine without CuPy
    monkeypatch.setenv("TINYGAN_DEVICE", "gpu")
    with pytest.raises(SystemExit) as exit_:
        classifier.main(["--out", str(tmp_path / "w.npz")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "device 'gpu' needs CuPy" in err and err.count("\n") == 1
    assert stub_training == []


def test_weights_the_loader_would_refuse_are_never_written(tmp_path, capsys):
    """A diverged training (NaN weights) or a seed of 2**64 (stored as a Python object)
    replaced the shipped weights with a file every evaluation then refused."""
    net = classifier.build_classifier(seed=0)
    path = tmp_path / "w.npz"
    with pytest.raises(classifier.WeightsError, match="its seed would hold no plain number"):
        classifier.save_weights(net, path, seed=2 ** 64)
    net.flat_params[0] = np.nan
    with pytest.raises(classifier.WeightsError, match="its params would hold values that are not finite numbers"):
        classifier.save_weights(net, path, seed=0)
    assert not path.exists()
    with pytest.raises(SystemExit):
        classifier.main(["--seed", str(2 ** 64), "--out", str(path)])
    assert "--seed must be below 2**63" in capsys.readouterr().err
