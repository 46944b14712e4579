"""Datasets: an IDX file reader and ``load_dataset`` for MNIST and Fashion-MNIST.

MNIST ships inside the package (``tinygan/data/*.gz``, about 11 MB) so the lessons work
offline; Fashion-MNIST is read from Debian's ``dataset-fashion-mnist`` package.  Both
come in the IDX format of LeCun's MNIST page, a tiny self-describing binary layout::

    bytes 0-1   0x00 0x00                     magic: always zero
    byte  2     dtype code                    0x08 = uint8, 0x09 = int8, 0x0B = int16,
                                              0x0C = int32, 0x0D = float32, 0x0E = float64
    byte  3     number of dimensions d
    then        d big-endian uint32 sizes     e.g. 60000, 28, 28
    then        the data, row-major, big-endian

so the reader checks every one of those fields and that the file holds exactly
``prod(sizes)`` items, then hands the bytes to ``numpy.frombuffer`` with no Python loop.

The shipped files carry a SHA-256 list (``tinygan/data/SHA256SUMS``) of their
*decompressed* bytes; the loader checks it, so a damaged download or a hand-edited file
is refused rather than silently training on it.

This is file I/O, not computation, so it uses NumPy directly and returns host arrays;
move them to the GPU with ``backend.to_device`` when you need them there.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np

DATASETS = ("mnist", "fashion-mnist")
SPLITS = ("train", "test")

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_HINT = ("Fashion-MNIST comes from the Debian/Ubuntu package dataset-fashion-mnist; "
                      "install it with: sudo apt-get install dataset-fashion-mnist  "
                      "(or point --data-dir DIR at a folder holding its four IDX files)")

# IDX type code -> big-endian NumPy dtype
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt: code for code, dt in IDX_DTYPES.items()}

# file stems of the four IDX files, as on LeCun's page; a ".gz" suffix is optional
FILE_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_GZIP_MAGIC = b"\x1f\x8b"


class DataError(ValueError):
    """A data file is malformed, truncated, or fails its checksum.  The message names the file."""


# ----------------------------------------------------------------------------- IDX format

def read_idx_bytes(path) -> bytes:
    """The decompressed bytes of IDX file ``path`` (gzip detected by its magic bytes)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        # EOFError is what a cut-off gzip stream raises; say it in words a reader can act on
        raise DataError(f"{path}: truncated or corrupt gzip data ({err}); "
                        "download or copy the file again") from None


def parse_idx(data: bytes, name="<bytes>") -> np.ndarray:
    """Decode the IDX bytes ``data`` into an array of the shape in its header.

    ``name`` only labels error messages.  The array is a native-endian copy for
    multi-byte types and a read-only view of ``data`` for bytes (uint8/int8).
    Raises :class:`DataError` for a bad magic number, an unknown dtype code, zero
    dimensions, or a length that does not match the header.
    """
    if len(data) < 4:
        raise DataError(f"{name}: file too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{name}: bad magic number 0x{data[:4].hex()}: an IDX file starts with "
                        "two zero bytes (is this really an IDX file?)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(f"{name}: unknown IDX dtype code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataError(f"{name}: IDX header says 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated header: {ndim} dimensions need {header} bytes, "
                        f"file has {len(data)}")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    # math.prod on Python ints: np.prod would wrap around for a header of huge sizes
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) < expected:
        raise DataError(f"{name}: truncated: header says shape {shape} ({expected} bytes), "
                        f"file has only {len(data)} bytes")
    if len(data) > expected:
        raise DataError(f"{name}: {len(data) - expected} unexpected bytes after the data "
                        f"of shape {shape}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    if dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))
    return array


def read_idx(path, sha256: str | None = None) -> np.ndarray:
    """Read IDX file ``path`` (gzip-compressed or raw) into a NumPy array.

    ``sha256``: if given, the hex SHA-256 the *decompressed* bytes must have; a mismatch
    raises :class:`DataError` naming the file.  Example: ``read_idx(".../t10k-labels-idx1-ubyte.gz")``
    gives a uint8 array of shape ``(10000,)``.
    """
    path = Path(path)
    data = read_idx_bytes(path)
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256.lower():
            raise DataError(f"{path}: checksum mismatch: SHA-256 of the decompressed bytes is "
                            f"{actual}, expected {sha256.lower()}; the file is damaged or "
                            "not the original, replace it")
    return parse_idx(data, name=str(path))


def write_idx(path, array) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed if ``path`` ends in ``.gz``.

    The inverse of :func:`read_idx`; used by the tests and handy for making small
    datasets of your own.  Supported dtypes: uint8, int8, int16, int32, float32, float64.
    """
    path = Path(path)
    array = np.asarray(array)
    key = array.dtype.newbyteorder(">")  # IDX is big-endian (a 1-byte dtype has no order: unchanged)
    if key not in _CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of: "
                         f"{', '.join(dt.name for dt in IDX_DTYPES.values())}")
    if array.ndim == 0:
        raise ValueError("IDX needs at least 1 dimension, got a 0-d array")
    header = bytes([0, 0, _CODES[key], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=key).tobytes()
    if path.suffix == ".gz":
        # mtime=0 and no file name: the same array always gives the same bytes
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------- datasets

def read_checksums(path) -> dict:
    """Parse a ``sha256sum``-style file into ``{file name: hex digest}``."""
    sums = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a text file of checksums ({err.reason} at byte {err.start})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{path}:{lineno}: expected '<sha256>  <file name>', got {line!r}")
        sums[parts[1].lstrip("*")] = parts[0]
    return sums


def _find(directory: Path, stem: str) -> Path:
    """``directory/stem.gz`` if it exists, else ``directory/stem``."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{directory / stem}.gz (or without .gz): no such file")


def _check_stored_digest(path: Path, sha256: str) -> None:
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != sha256.lower():
        raise DataError(f"{path}: checksum mismatch: SHA-256 of the file is {actual}, expected "
                        f"{sha256.lower()}; the file is damaged or not the original, replace it")


def _default_dir(name: str) -> Path:
    return PACKAGE_DATA if name == "mnist" else FASHION_MNIST_DIR


def load_dataset(name: str, split: str = "train", data_dir=None):
    """Load a dataset split as ``(images, labels)``, ready for a tanh generator.

    name: ``"mnist"`` (shipped with tinygan) or ``"fashion-mnist"`` (Debian package
    ``dataset-fashion-mnist``); split: ``"train"`` (60,000) or ``"test"`` (10,000);
    data_dir: read the split's two IDX files (``train-images-idx3-ubyte[.gz]`` and its
    labels, or the ``t10k-`` pair) from this directory instead.  If that directory holds a
    ``SHA256SUMS`` file, each of the two files it lists is checked: an entry under the
    name without ``.gz`` is the digest of the decompressed bytes (how the shipped MNIST
    lists them), an entry under the file's own name the digest of the file as stored
    (what ``sha256sum *.gz`` writes).  A file it does not list is read unchecked.

    Returns host NumPy arrays: ``images`` float32 ``(n, 784)`` scaled from bytes
    0..255 to [−1, 1], and ``labels`` uint8 ``(n,)`` as stored: any byte, so EMNIST's
    letters (labels 1..26) load too.  The GAN never reads labels; the classifier, which
    does, trains on the shipped MNIST, whose checksums pin its labels to 0..9.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    directory = Path(data_dir) if data_dir is not None else _default_dir(name)
    if data_dir is None and name == "fashion-mnist" and not directory.is_dir():
        raise FileNotFoundError(f"{directory}: not found. {FASHION_MNIST_HINT}")
    if directory.is_file():
        raise NotADirectoryError(f"{directory}: a file, not the directory that holds the IDX files")
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such directory")
    sums_file = directory / "SHA256SUMS"
    sums = read_checksums(sums_file) if sums_file.is_file() else {}

    image_stem, label_stem = FILE_STEMS[split]
    if data_dir is None and name == "mnist" and not {image_stem, label_stem} <= sums.keys():
        # the shipped files are verified on load: without their digests nothing would be
        raise DataError(f"{sums_file}: the digests of the shipped MNIST ({image_stem}, {label_stem}) are "
                        f"missing; reinstall tinygan")
    paths = []
    for stem in (image_stem, label_stem):
        try:
            paths.append(_find(directory, stem))
        except FileNotFoundError as err:
            hint = f" {FASHION_MNIST_HINT}" if name == "fashion-mnist" and data_dir is None else ""
            raise FileNotFoundError(f"{err}{hint}") from None
    for path in paths:
        if path.name in sums and path.name not in FILE_STEMS[split]:  # an entry for the .gz as stored
            _check_stored_digest(path, sums[path.name])
    images = read_idx(paths[0], sha256=sums.get(image_stem))
    labels = read_idx(paths[1], sha256=sums.get(label_stem))

    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{paths[0]}: expected uint8 images of shape (n, rows, cols), "
                        f"got {images.dtype} {images.shape}")
    if images.shape[1:] != (28, 28):
        raise DataError(f"{paths[0]}: expected 28x28 images, got {images.shape[1]}x{images.shape[2]}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{paths[1]}: expected uint8 labels of shape (n,), "
                        f"got {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise DataError(f"{paths[1]}: {len(labels)} labels for {len(images)} images in {paths[0]}")

    # Division by 127.5 maps 0 -> -1 and 255 -> 1 exactly (both are exact in float32).
    x = images.reshape(len(images), 28 * 28).astype(np.float32)
    x /= 127.5
    x -= 1.0
    return x, labels.copy()
