"""Data: the IDX reader on small hand-made files, every error path, and the shipped MNIST."""

import gzip
import hashlib
import struct
import types

import numpy as np
import pytest

from tinygan import data
from tinygan.data import DataError, load_dataset, parse_idx, read_idx, write_idx


IDX_CODES = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D, "float64": 0x0E}


def idx_bytes(array, code=0x08):
    """IDX bytes built by hand from the format's definition (independent of write_idx)."""
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def make_dataset(directory, n_train=12, n_test=5, gz=True, seed=0):
    """Write the four IDX files of a tiny MNIST-shaped dataset; return the arrays."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        image_stem, label_stem = data.FILE_STEMS[split]
        suffix = ".gz" if gz else ""
        write_idx(directory / f"{image_stem}{suffix}", images)
        write_idx(directory / f"{label_stem}{suffix}", labels)
        arrays[split] = images, labels
    return arrays


# ----------------------------------------------------------------------------- IDX format

def test_parse_hand_made_bytes():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(a)), a)
    b = np.array([1, -2, 300], dtype=">i4")
    out = parse_idx(idx_bytes(b, code=0x0C))
    assert out.dtype == np.int32 and out.tolist() == [1, -2, 300]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_read_round_trip(tmp_path, dtype, suffix):
    a = (np.arange(60) - 20).astype(dtype).reshape(3, 4, 5)
    path = write_idx(tmp_path / f"a{suffix}", a)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == a.shape
    np.testing.assert_array_equal(back, a)
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    big_endian = a.astype(np.dtype(dtype).newbyteorder(">"))
    assert raw == idx_bytes(big_endian, code=IDX_CODES[np.dtype(dtype).name])


@pytest.mark.parametrize("first_two", [b"\x01\x00", b"\x00\x01"])
def test_bad_magic(tmp_path, first_two):
    """Both leading bytes of the magic number are zero in IDX."""
    path = tmp_path / "bad"
    path.write_bytes(first_two + idx_bytes(np.zeros(3, np.uint8))[2:])
    with pytest.raises(DataError, match=r"bad.*magic number"):
        read_idx(path)


def test_gzip_is_known_by_its_bytes_not_its_name(tmp_path):
    a = np.arange(12, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", a).rename(tmp_path / "a-idx1-ubyte")  # gzipped, named like a raw file
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx1-ubyte"), a)


def test_unknown_dtype_code(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(idx_bytes(np.zeros(3, np.uint8), code=0x07))
    with pytest.raises(DataError, match=r"f: unknown IDX dtype code 0x07"):
        read_idx(path)


def test_write_idx_refuses_a_0d_array(tmp_path):
    with pytest.raises(ValueError, match="at least 1 dimension"):
        write_idx(tmp_path / "scalar", np.uint8(3))


def test_zero_dimensions(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"\x00\x00\x08\x00")
    with pytest.raises(DataError, match="0 dimensions"):
        read_idx(path)


@pytest.mark.parametrize("cut", [2, 3, 6, 20, -1])
def test_truncated_raw(tmp_path, cut):
    path = tmp_path / "short"
    path.write_bytes(idx_bytes(np.zeros((3, 4), np.uint8))[:cut])
    with pytest.raises(DataError, match=r"short.*(too short|truncated)"):
        read_idx(path)


def test_extra_bytes_rejected(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros((3, 4), np.uint8)) + b"\x00")
    with pytest.raises(DataError, match="1 unexpected bytes"):
        read_idx(path)


def test_wrong_dimensions_in_header(tmp_path):
    """A header claiming more rows than the file holds is a truncation, caught by length."""
    raw = bytearray(idx_bytes(np.zeros((3, 4), np.uint8)))
    raw[4:8] = struct.pack(">I", 5)
    path = tmp_path / "dims"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"dims: truncated: header says shape \(5, 4\)"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "cut.gz", np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match=r"cut.gz: truncated or corrupt gzip"):
        read_idx(path)


@pytest.mark.parametrize("damage", ["deflate", "crc"])
def test_corrupt_gzip(tmp_path, damage):
    """Damage inside the compressed stream and a wrong CRC, beside the truncation above."""
    path = write_idx(tmp_path / "bad.gz", np.arange(4000, dtype=np.int32) % 97)
    raw = bytearray(path.read_bytes())
    if damage == "crc":
        raw[-8] ^= 0xFF  # the CRC-32 of the uncompressed bytes
    else:
        raw[12:40] = bytes(b ^ 0x55 for b in raw[12:40])
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"bad.gz: truncated or corrupt gzip"):
        read_idx(path)


def test_checksum(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "a.gz", a)
    good = hashlib.sha256(idx_bytes(a)).hexdigest()
    np.testing.assert_array_equal(read_idx(path, sha256=good), a)
    with pytest.raises(DataError, match=r"a.gz: checksum mismatch"):
        read_idx(path, sha256="0" * 64)
    np.testing.assert_array_equal(read_idx(path, sha256=good.upper()), a)  # hex digits in either case


def test_an_idx_file_may_hold_zero_items(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(idx_bytes(np.zeros(0, np.uint8)))  # the header alone: 8 bytes
    assert read_idx(path).shape == (0,)


def test_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere"):
        read_idx(tmp_path / "nothere.gz")


# ----------------------------------------------------------------------------- load_dataset

@pytest.mark.parametrize("gz", [True, False])
def test_load_from_data_dir(tmp_path, gz):
    arrays = make_dataset(tmp_path, gz=gz)
    for split in ("train", "test"):
        x, y = load_dataset("mnist", split, data_dir=tmp_path)
        images, labels = arrays[split]
        assert x.dtype == np.float32 and x.shape == (len(images), 784)
        assert y.dtype == np.uint8
        np.testing.assert_array_equal(y, labels)
        np.testing.assert_allclose(x, images.reshape(len(images), -1) / 127.5 - 1, atol=1e-6)
        assert x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("which", [0, 1], ids=["images", "labels"])
def test_data_dir_checksum_mismatch(tmp_path, split, which):
    make_dataset(tmp_path)
    stem = data.FILE_STEMS[split][which]
    (tmp_path / "SHA256SUMS").write_text(f"{'ab' * 32}  {stem}\n")
    with pytest.raises(DataError, match=f"{stem}.gz: checksum mismatch"):
        load_dataset("mnist", split, data_dir=tmp_path)


def test_data_dir_checksum_match(tmp_path):
    make_dataset(tmp_path)
    stem = data.FILE_STEMS["test"][1]
    digest = hashlib.sha256(gzip.decompress((tmp_path / f"{stem}.gz").read_bytes())).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  {stem}\n")
    assert load_dataset("mnist", "test", data_dir=tmp_path)[1].shape == (5,)


def test_a_checksum_of_the_gz_file_as_stored_is_checked_too(tmp_path):
    """``sha256sum *.gz > SHA256SUMS`` lists the compressed files under their own names."""
    make_dataset(tmp_path)
    stem = data.FILE_STEMS["test"][1]
    stored = hashlib.sha256((tmp_path / f"{stem}.gz").read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{stored}  {stem}.gz\n")
    assert load_dataset("mnist", "test", data_dir=tmp_path)[1].shape == (5,)
    (tmp_path / "SHA256SUMS").write_text(f"{'ab' * 32}  {stem}.gz\n")
    with pytest.raises(DataError, match=f"{stem}.gz: checksum mismatch: SHA-256 of the file is {stored}"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_checksum_file_in_binary_mode_still_checks(tmp_path):
    """``sha256sum -b`` writes ``<digest> *<name>``: the name is the part after the star."""
    make_dataset(tmp_path)
    stem = data.FILE_STEMS["test"][1]
    (tmp_path / "SHA256SUMS").write_text(f"{'ab' * 32} *{stem}\n")
    assert data.read_checksums(tmp_path / "SHA256SUMS") == {stem: "ab" * 32}
    with pytest.raises(DataError, match=f"{stem}.gz: checksum mismatch"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_missing_file_in_data_dir(tmp_path):
    make_dataset(tmp_path)
    (tmp_path / f"{data.FILE_STEMS['train'][1]}.gz").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_dataset("mnist", "train", data_dir=tmp_path)


def test_missing_data_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_dataset("mnist", data_dir=tmp_path / "nowhere")


@pytest.mark.parametrize("shape", [(5, 27, 28), (5, 14, 56)])  # 14x56 has the right pixel count
def test_wrong_image_shape(tmp_path, shape):
    make_dataset(tmp_path)
    write_idx(tmp_path / f"{data.FILE_STEMS['test'][0]}.gz", np.zeros(shape, np.uint8))
    with pytest.raises(DataError, match=f"expected 28x28 images, got {shape[1]}x{shape[2]}"):
        load_dataset("mnist", "test", data_dir=tmp_path)


@pytest.mark.parametrize("which, array, message", [
    (0, np.zeros((5, 28, 28), np.float32), "expected uint8 images"),
    (1, np.zeros(5, np.int32), "expected uint8 labels"),
    (1, np.zeros((5, 1), np.uint8), "expected uint8 labels"),
])
def test_images_and_labels_must_be_mnists_types(tmp_path, which, array, message):
    make_dataset(tmp_path)
    write_idx(tmp_path / f"{data.FILE_STEMS['test'][which]}.gz", array)
    with pytest.raises(DataError, match=message):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_labels_come_back_as_an_array_of_their_own(tmp_path):
    make_dataset(tmp_path)
    labels = load_dataset("mnist", "test", data_dir=tmp_path)[1]
    assert labels.flags.writeable and labels.flags.owndata


def test_wrong_label_count(tmp_path):
    make_dataset(tmp_path)
    write_idx(tmp_path / f"{data.FILE_STEMS['test'][1]}.gz", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="4 labels for 5 images"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_labels_beyond_nine_load_as_stored(tmp_path):
    """EMNIST's letters are labelled 1..26: the GAN never reads labels, so --data-dir takes them."""
    make_dataset(tmp_path)
    write_idx(tmp_path / f"{data.FILE_STEMS['test'][1]}.gz", np.arange(22, 27, dtype=np.uint8))
    assert load_dataset("mnist", "test", data_dir=tmp_path)[1].tolist() == [22, 23, 24, 25, 26]


def test_a_header_whose_sizes_overflow_int64_is_refused_by_name():
    """Four sizes of 65536 multiply to 2**64, which wraps to 0 in int64: the file must
    still be called truncated, not handed to reshape."""
    header = bytes([0, 0, 0x08, 4]) + (65536).to_bytes(4, "big") * 4
    with pytest.raises(DataError, match=r"huge\.idx: truncated"):
        data.parse_idx(header, "huge.idx")


def test_a_data_dir_that_is_a_file_says_so(tmp_path):
    make_dataset(tmp_path)
    with pytest.raises(NotADirectoryError, match="a file, not the directory that holds the IDX files"):
        load_dataset("mnist", "test", data_dir=next(tmp_path.iterdir()))


def test_a_digest_that_is_not_sha256_is_refused(tmp_path):
    (tmp_path / "SHA256SUMS").write_text("d41d8cd98f00b204e9800998ecf8427e  t10k-labels-idx1-ubyte\n")  # MD5
    with pytest.raises(DataError, match=r"SHA256SUMS:1: expected '<sha256>  <file name>'"):
        data.read_checksums(tmp_path / "SHA256SUMS")


def test_the_gzipped_file_is_read_when_both_are_there(tmp_path):
    make_dataset(tmp_path)
    write_idx(tmp_path / data.FILE_STEMS["test"][1], np.full(5, 1, np.uint8))  # beside the .gz
    gz_labels = read_idx(tmp_path / f"{data.FILE_STEMS['test'][1]}.gz")
    np.testing.assert_array_equal(load_dataset("mnist", "test", data_dir=tmp_path)[1], gz_labels)
    assert not (gz_labels == 1).all()


def test_a_checksum_list_that_is_not_text_is_named(tmp_path):
    make_dataset(tmp_path)
    (tmp_path / "SHA256SUMS").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match=r"SHA256SUMS: not a text file of checksums"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="choose one of: mnist, fashion-mnist"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="choose one of: train, test"):
        load_dataset("mnist", "validation")


def test_fashion_mnist_missing_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="sudo apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_fashion_mnist_reads_package_dir(monkeypatch, tmp_path):
    make_dataset(tmp_path)
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path)
    x, y = load_dataset("fashion-mnist", "test")
    assert x.shape == (5, 784) and y.shape == (5,)


# ----------------------------------------------------------------------------- shipped MNIST

def test_shipped_files_present():
    sums = data.read_checksums(data.PACKAGE_DATA / "SHA256SUMS")
    assert sorted(sums) == sorted(s for stems in data.FILE_STEMS.values() for s in stems)
    for stem in sums:
        assert (data.PACKAGE_DATA / f"{stem}.gz").is_file()


@pytest.mark.parametrize("split, n", [("test", 10_000), ("train", 60_000)])
def test_shipped_mnist(split, n):
    x, y = load_dataset("mnist", split)
    assert isinstance(x, np.ndarray) and x.shape == (n, 784) and x.dtype == np.float32
    assert isinstance(y, np.ndarray) and y.shape == (n,) and y.dtype == np.uint8
    assert x.min() == -1.0 and x.max() == 1.0
    counts = np.bincount(y, minlength=10)
    assert len(counts) == 10 and counts.sum() == n
    if split == "test":  # the canonical test-set class counts
        assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    else:
        assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    # about 19% of MNIST pixels are ink; the background maps to exactly -1
    assert 0.75 < (x == -1).mean() < 0.85


def test_import_finds_module_not_folder():
    """``tinygan/data.py`` and the folder ``tinygan/data/`` coexist: the folder has no
    ``__init__.py``, so ``import tinygan.data`` finds the module."""
    assert data.__file__.endswith("data.py")
    assert hasattr(data, "load_dataset")


@pytest.mark.skipif(not data.FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_installed_fashion_mnist():
    """The Debian package's real files, at the path and under the names the loader expects."""
    for split, n in (("train", 60_000), ("test", 10_000)):
        x, y = load_dataset("fashion-mnist", split)
        assert x.shape == (n, 784) and x.dtype == np.float32, split
        assert x.min() == -1 and x.max() == 1, split
        assert np.bincount(y).tolist() == [n // 10] * 10, split


# Tests below were added after a mutation pass over data.py: each fails on a change the
# suite had let through.

# data.py: IDX format

def test_a_file_starting_with_0x1f_alone_is_a_bad_magic_number_not_corrupt_gzip(tmp_path):
    """gzip is recognised by both magic bytes 1f 8b; a file whose first byte only is 0x1f
    is no gzip stream and must be reported as a bad IDX magic number."""
    path = tmp_path / "odd"
    path.write_bytes(b"\x1f\x00" + idx_bytes(np.zeros(3, np.uint8))[2:])
    with pytest.raises(DataError, match=r"odd: bad magic number 0x1f00"):
        read_idx(path)


def test_bytes_come_back_as_a_read_only_view_not_a_copy():
    """parse_idx promises a view of the data for uint8/int8: 47 MB of MNIST is not copied."""
    raw = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
    out = parse_idx(raw)
    assert not out.flags.writeable and not out.flags.owndata
    assert np.shares_memory(out, np.frombuffer(raw, np.uint8))


def test_a_missing_file_is_named_in_tinygans_words(tmp_path):
    """read_idx says '<path>: no such file', not Python's '[Errno 2] ...' (the rewrapping)."""
    with pytest.raises(FileNotFoundError, match=r"nothere\.gz: no such file$"):
        read_idx(tmp_path / "nothere.gz")


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.float16, np.uint16])
def test_write_idx_refuses_a_dtype_idx_cannot_store(tmp_path, dtype):
    """An unsupported dtype is a ValueError naming the dtype and the choices, and no file
    is written (without the check it is a bare KeyError from the code table)."""
    with pytest.raises(ValueError, match=rf"IDX cannot store dtype {np.dtype(dtype)}; use one of: uint8"):
        write_idx(tmp_path / "a.gz", np.zeros(3, dtype))
    assert not (tmp_path / "a.gz").exists()


def test_a_gzipped_idx_file_is_the_same_bytes_whenever_it_is_written(tmp_path, monkeypatch):
    """write_idx uses mtime=0, so the same array gives the same .gz at any time of day."""
    a = np.arange(50, dtype=np.int16)
    written = []
    for now in (1_000_000_000.0, 2_000_000_000.0):
        monkeypatch.setattr(gzip, "time", types.SimpleNamespace(time=lambda now=now: now))
        written.append(write_idx(tmp_path / f"{len(written)}.gz", a).read_bytes())
    assert written[0] == written[1]
    assert written[0][4:8] == bytes(4)  # the gzip header's MTIME field


# data.py: checksum lists

def test_a_checksum_list_may_have_blank_lines(tmp_path):
    """Blank and whitespace-only lines (a hand-edited list, a trailing newline) are skipped."""
    (tmp_path / "SHA256SUMS").write_text(f"\n{'ab' * 32}  a\n   \n{'cd' * 32}  b\n\n")
    assert data.read_checksums(tmp_path / "SHA256SUMS") == {"a": "ab" * 32, "b": "cd" * 32}


@pytest.mark.parametrize("line", [f"{'ab' * 32}", f"{'ab' * 32}  a  b"])
def test_a_checksum_line_without_exactly_one_file_name_is_refused(tmp_path, line):
    """'<digest>' alone (an IndexError without the check) or with two names is malformed."""
    (tmp_path / "SHA256SUMS").write_text(f"{'cd' * 32}  ok\n{line}\n")
    with pytest.raises(DataError, match=r"SHA256SUMS:2: expected '<sha256>  <file name>'"):
        data.read_checksums(tmp_path / "SHA256SUMS")


def test_a_sha512_list_under_the_name_sha256sums_is_refused(tmp_path):
    """A digest longer than 64 hex digits (sha512sum's output) is not a SHA-256."""
    (tmp_path / "SHA256SUMS").write_text(f"{'ab' * 64}  t10k-labels-idx1-ubyte\n")
    with pytest.raises(DataError, match=r"SHA256SUMS:1: expected '<sha256>  <file name>'"):
        data.read_checksums(tmp_path / "SHA256SUMS")


def test_a_stored_file_digest_in_capitals_is_accepted(tmp_path):
    """The digest of the .gz as stored is compared case-insensitively, like the one of the
    decompressed bytes."""
    make_dataset(tmp_path)
    stem = data.FILE_STEMS["test"][1]
    stored = hashlib.sha256((tmp_path / f"{stem}.gz").read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{stored.upper()}  {stem}.gz\n")
    assert load_dataset("mnist", "test", data_dir=tmp_path)[1].shape == (5,)


def test_a_gzipped_file_without_gz_is_checked_against_its_decompressed_digest(tmp_path):
    """An entry under the name without .gz is the digest of the decompressed bytes, even
    when the file so named is gzipped: it must not also be checked as stored."""
    make_dataset(tmp_path)
    stem = data.FILE_STEMS["test"][1]
    (tmp_path / f"{stem}.gz").rename(tmp_path / stem)  # gzipped, named like a raw file
    digest = hashlib.sha256(gzip.decompress((tmp_path / stem).read_bytes())).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  {stem}\n")
    assert load_dataset("mnist", "test", data_dir=tmp_path)[1].shape == (5,)


# data.py: load_dataset

def test_a_folder_named_like_a_gz_file_is_passed_over(tmp_path):
    """_find takes files only: a directory called '<stem>.gz' beside the raw file is skipped."""
    make_dataset(tmp_path, gz=False)
    (tmp_path / f"{data.FILE_STEMS['test'][1]}.gz").mkdir()
    assert load_dataset("mnist", "test", data_dir=tmp_path)[1].shape == (5,)


def test_a_missing_data_dir_says_no_such_directory_without_the_fashion_hint(tmp_path):
    """--data-dir that does not exist: 'no such directory', for either dataset, and no
    advice to apt-get install a package the user did not ask for."""
    for name in ("mnist", "fashion-mnist"):
        with pytest.raises(FileNotFoundError, match=r"nowhere: no such directory$") as err:
            load_dataset(name, "test", data_dir=tmp_path / "nowhere")
        assert "apt-get" not in str(err.value)


def test_a_missing_mnist_package_folder_does_not_advise_fashion_mnist(tmp_path, monkeypatch):
    """The apt-get hint is for Fashion-MNIST's default folder only, not for MNIST's."""
    monkeypatch.setattr(data, "PACKAGE_DATA", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"absent: no such directory") as err:
        load_dataset("mnist", "test")
    assert "apt-get" not in str(err.value)


def test_a_file_missing_from_the_installed_fashion_mnist_says_how_to_install(tmp_path, monkeypatch):
    """The package folder is there but a file is not: the message still says how to get it."""
    make_dataset(tmp_path)
    (tmp_path / f"{data.FILE_STEMS['test'][1]}.gz").unlink()
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte.*sudo apt-get install dataset-fashion"):
        load_dataset("fashion-mnist", "test")


def test_a_file_missing_from_a_fashion_data_dir_gives_no_install_hint(tmp_path):
    """With --data-dir the user chose the folder: no apt-get advice for a file missing there."""
    make_dataset(tmp_path)
    (tmp_path / f"{data.FILE_STEMS['test'][1]}.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte") as err:
        load_dataset("fashion-mnist", "test", data_dir=tmp_path)
    assert "apt-get" not in str(err.value)


def test_flat_images_are_a_data_error_naming_the_image_file(tmp_path):
    """(n, 784) uint8 images: a DataError on the image file, not an IndexError while
    formatting the 28x28 message."""
    make_dataset(tmp_path)
    stem = data.FILE_STEMS["test"][0]
    write_idx(tmp_path / f"{stem}.gz", np.zeros((5, 784), np.uint8))
    with pytest.raises(DataError, match=rf"{stem}.gz: expected uint8 images of shape \(n, rows, cols\)"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_wrong_image_files_are_named_in_the_message(tmp_path):
    """Image-shape and image-type errors name the image file, not the labels file."""
    make_dataset(tmp_path)
    stem = data.FILE_STEMS["test"][0]
    for images, message in ((np.zeros((5, 27, 28), np.uint8), "expected 28x28 images"),
                            (np.zeros((5, 28, 28), np.float32), "expected uint8 images")):
        write_idx(tmp_path / f"{stem}.gz", images)
        with pytest.raises(DataError, match=rf"{stem}.gz: {message}"):
            load_dataset("mnist", "test", data_dir=tmp_path)


def test_a_label_count_error_names_the_labels_file_first(tmp_path):
    make_dataset(tmp_path)
    images, labels = (f"{s}.gz" for s in data.FILE_STEMS["test"])
    write_idx(tmp_path / labels, np.zeros(4, np.uint8))
    with pytest.raises(DataError) as err:
        load_dataset("mnist", "test", data_dir=tmp_path)
    assert str(err.value) == f"{tmp_path / labels}: 4 labels for 5 images in {tmp_path / images}"


def test_an_empty_split_loads_as_zero_rows_of_784(tmp_path):
    """IDX files may hold zero items; the flattening names 784 columns, so an empty split
    is (0, 784), not a reshape error."""
    make_dataset(tmp_path, n_test=0)
    x, y = load_dataset("mnist", "test", data_dir=tmp_path)
    assert x.shape == (0, 784) and x.dtype == np.float32 and y.shape == (0,)


def test_a_corrupt_data_file_stops_training_with_one_line(tmp_path, capsys):
    """DataError is a ValueError, which the training command turns into one line and exit 2."""
    from tinygan import train

    make_dataset(tmp_path / "d")
    stem = data.FILE_STEMS["train"][0]
    (tmp_path / "d" / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((5, 28, 28), np.uint8))[:16], mtime=0))
    code = train.main(["--data-dir", str(tmp_path / "d"), "--arch", "seed", "--steps", "1", "--no-eval",
                       "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and f"{stem}.gz: truncated" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("sums", ["missing", "empty"])
def test_the_shipped_mnist_without_its_digests_is_refused(tmp_path, monkeypatch, sums):
    """The README says the shipped files are verified on load; with SHA256SUMS missing or
    empty they loaded unchecked, and without a word."""
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(data.PACKAGE_DATA, copy)
    (copy / "SHA256SUMS").unlink() if sums == "missing" else (copy / "SHA256SUMS").write_text("")
    monkeypatch.setattr(data, "PACKAGE_DATA", copy)
    with pytest.raises(data.DataError, match=r"SHA256SUMS: the digests of the shipped MNIST \(t10k-images-idx3-ubyte, "
                                             r"t10k-labels-idx1-ubyte\) are missing; reinstall tinygan"):
        load_dataset("mnist", "test")
    assert load_dataset("mnist", "test", data_dir=copy)[0].shape == (10_000, 784)  # a --data-dir may lack them
