"""Checkpoints: one ``.npz`` file holding everything a run needs to continue exactly.

Arrays are stored as they are; everything else (the config, the step counters, the random
generators' states) is stored as JSON text in one 0-d string array, so the file loads with
``allow_pickle=False`` and nothing in it can run code.  Files are written atomically
(:func:`atomic_write`): to a temporary file beside the target, flushed to disk, then
renamed over it, so a crash, a full disk or a Ctrl-C mid-write leaves the previous file
intact.  Every output of tinygan's commands is written this way, but for the lines that
training appends to ``metrics.jsonl`` (``train.read_metrics`` drops a half-written last line).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import secrets
import stat
import sys
from pathlib import Path

import numpy as np

# 2: Adam state stored as weighted sums (m_sum, v_sum).  3: the default preset's D measures
# its batch's spread by the mean absolute deviation (nn.MinibatchMeanAbsDev), not the
# standard deviation: same shapes, so only the version tells an older D apart.
FORMAT_VERSION = 3
# Formats whose generators (parameters, BatchNorm statistics, config) read the same as now:
# enough for sampling and evaluation, though not for resuming training.
NETWORK_FORMATS = (1, 2, 3)


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not fit the run."""


STREAM_PATH = re.compile(r"^/dev/(stdout|stderr|fd/\d+)$|^/proc/[^/]+/fd/\d+$")


def _links(path) -> list:
    """``path`` and each path its chain of symlinks leads to, made absolute."""
    chain = [os.path.abspath(path)]
    for _ in range(40):  # a loop of links ends here, as the OS would refuse it
        if not os.path.islink(chain[-1]):
            break
        chain.append(os.path.normpath(os.path.join(os.path.dirname(chain[-1]), os.readlink(chain[-1]))))
    return chain


def _own_stream(path):
    """``sys.stdout`` or ``sys.stderr`` when ``path`` leads to this process's fd 1 or 2."""
    own = {"/dev/stdout": sys.stdout, "/dev/stderr": sys.stderr, "/dev/fd/1": sys.stdout, "/dev/fd/2": sys.stderr}
    for pid in ("self", str(os.getpid())):
        own.update({f"/proc/{pid}/fd/1": sys.stdout, f"/proc/{pid}/fd/2": sys.stderr})
    return next((own[p] for p in _links(path) if p in own), None)


def writes_in_place(path) -> bool:
    """Whether :func:`atomic_write` writes ``path`` directly instead of replacing it.

    A stream (``/dev/stdout``, ``/dev/fd/63`` of a ``>(...)``, or a symlink to one) and
    anything that exists but is no regular file (``/dev/null``, a pipe): there is no
    file to replace, and replacing what ``/dev/stdout`` points to would cut a shell's
    redirection.  Also an existing writable file in a folder that is not writable, where
    no temporary file can be made beside it.
    """
    if any(STREAM_PATH.match(p) for p in _links(path)):
        return True
    real = Path(os.path.realpath(path))
    if real.exists() and not real.is_file():
        return True
    return real.is_file() and os.access(real, os.W_OK) and not os.access(real.parent, os.W_OK)


@contextlib.contextmanager
def _in_place(path, mode):
    # Into memory first, then out in one write when the block ends: a pipe cannot seek,
    # and NumPy's writers ask where they are (np.save onto a FIFO failed after its
    # header); a block that raises then writes nothing at all.
    buffer = io.BytesIO() if "b" in mode else io.StringIO()
    yield buffer
    stream = _own_stream(path)
    if stream is None:
        with open(path, mode) as f:
            f.write(buffer.getvalue())
        return
    # This process's own stdout/stderr: write through it, not through a second opening,
    # whose offset would not move with the text already printed (`> file` would then
    # have the report and the JSON written over each other).
    stream.flush()
    (stream.buffer if "b" in mode else stream).write(buffer.getvalue())
    stream.flush()


def read_only_file_system(path) -> bool:
    """Whether ``path`` lies on a file system mounted read-only (where no file can be written)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # no statvfs (Windows)
        return False


# atomic_write's temporary file beside its target: "checkpoint.npz.1a2b3c4d.tmp".  A process
# killed mid-write (kill -9, a power cut) leaves it behind.
TEMPORARY = re.compile(r"(?P<target>.+)\.[0-9a-f]{8}\.tmp")


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """``with atomic_write(path) as f:`` writes ``f`` to ``path`` whole or not at all.

    The data go to a temporary file beside ``path`` (a rename is atomic only within one
    file system), are flushed to disk, and the file is renamed over ``path`` when the
    block ends; if the block raises, the temporary file is removed and ``path`` is as
    it was.  Missing folders on the way are made.  A symlink is followed, so its target
    is replaced and the link kept.  An existing file keeps its permissions, and one the
    user may not write is refused (``PermissionError``), as a shell's ``>`` would.
    What :func:`writes_in_place` names is written directly, as by ``open(path, "w")``,
    in one write when the block ends (a pipe cannot seek, and NumPy's writers ask where
    they are); this process's own stdout and stderr through ``sys.stdout``/``sys.stderr``.
    ``mode``: ``"wb"`` or ``"w"`` (text).
    """
    if writes_in_place(path):
        with _in_place(path, mode) as f:
            yield f
        return
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not os.access(path, os.W_OK):
        if read_only_file_system(path):  # os.access says no there too, for every file
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        raise PermissionError(errno.EACCES, "Permission denied (the file is write-protected)", str(path))
    # Not tempfile.mkstemp: it makes the file private (0600), and os.replace would keep
    # that, so others could not read the run; os.open applies the umask like any output.
    tmp = path.parent / f"{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:  # a read-only or full file system: name the output, not the temporary file
        err.filename = str(path)
        raise
    try:
        if path.exists():  # a file made private (0600) or shared stays so
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        try:
            with os.fdopen(fd, mode) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:  # name the output, not its temporary file; also where closing
            # the file raised (a full disk refuses the rest of its buffer) over the first error
            if err.errno is not None and err.filename in (None, str(tmp)):  # errno None: NumPy's own words
                err.filename = str(path)
            raise
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def lock_directory(path):
    """Hold the folder ``path`` for this process alone: returns a function that lets it go,
    or None where another process holds it.

    The lock is ``flock`` on the open folder, so the system lets go when the process ends,
    however it ends (even killed): a stale lock cannot stay behind, and no file is added to
    the folder.  Where folders cannot be locked (no ``fcntl``, as on Windows, or a file
    system without ``flock``), it returns a function that does nothing: the folder is
    then unguarded.
    """
    try:
        import fcntl
        fd = os.open(path, os.O_RDONLY)
    except (ImportError, OSError):
        return lambda: None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:  # ENOLCK, EOPNOTSUPP: this file system keeps no locks
        os.close(fd)
        return lambda: None
    return lambda: os.close(fd)


def folder_identity(path) -> tuple[int, int]:
    """``(device, inode)`` of the folder ``path``: which folder it is, whatever it is named later."""
    found = os.stat(path)
    return found.st_dev, found.st_ino


def is_the_folder(path, identity) -> bool:
    """Whether ``path`` names the folder of ``identity`` (:func:`folder_identity`): False
    where that folder was moved or removed, even if another now has its name."""
    try:
        return folder_identity(path) == identity
    except OSError:
        return False


def where_folder_is_now(identity) -> str | None:
    """The path now of a folder this process holds open (as :func:`lock_directory` holds
    a run directory), given its :func:`folder_identity`: ``""`` where it was removed, and
    None where this system cannot say (it has no ``/proc/self/fd``, or nothing here holds
    the folder open)."""
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for descriptor in descriptors:
        link = f"/proc/self/fd/{descriptor}"
        try:
            if folder_identity(link) != identity:
                continue
            target = os.readlink(link)
        except OSError:  # closed since the listing (the listing's own descriptor, say)
            continue
        return "" if target.endswith(" (deleted)") else target
    return None


def save(path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (name -> host array) and ``meta`` (JSON-able dict) to ``path``."""
    payload = {name: np.asarray(a) for name, a in arrays.items()}
    # the version last, so that a re-saved meta from load() cannot carry an old one along
    payload["meta_json"] = np.array(json.dumps({**meta, "format_version": FORMAT_VERSION}))
    with atomic_write(path) as f:
        np.savez(f, **payload)


def load(path, formats=(FORMAT_VERSION,)) -> tuple[dict, dict]:
    """Return ``(arrays, meta)`` from a checkpoint written by :func:`save`.

    ``formats`` lists the format versions the caller can use; pass ``NETWORK_FORMATS``
    when only the networks are needed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        arrays = read_npz(path)
    except Exception as err:  # zipfile/format errors: the file is not a checkpoint
        raise CheckpointError(f"{path} is not a readable tinygan checkpoint: truncated, damaged, or another "
                              f"kind of file ({describe_load_error(err)})") from err
    if "meta_json" not in arrays:
        raise CheckpointError(f"{path} is not a tinygan checkpoint (no metadata)")
    try:
        meta = json.loads(str(arrays.pop("meta_json")))
    except ValueError as err:
        raise CheckpointError(f"{path} is not a tinygan checkpoint (its metadata is not JSON: {err})") from err
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is not a tinygan checkpoint (its metadata is not a JSON object)")
    if meta.get("format_version") not in formats:
        readable = " or ".join(str(f) for f in formats)
        raise CheckpointError(f"{path} has checkpoint format {meta.get('format_version')!r}, "
                              f"this tinygan reads format {readable} here")
    return arrays, meta


def read_npz(path) -> dict:
    """Every array of the ``.npz`` archive at ``path`` (host NumPy), never unpickling.

    Raises ``ValueError`` for a bare ``.npy`` file (``np.load`` returns it as an array)
    and whatever NumPy or ``zipfile`` raise for a file that is no archive at all.
    """
    loaded = np.load(path, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError("a single array, not an .npz archive")
    with loaded as f:
        return {name: f[name] for name in f.files}


def describe_load_error(err: Exception) -> str:
    """Why NumPy could not read a file, in words that fit a file that is not ours.

    ``np.load`` guesses that bytes it does not recognise are a pickle, and says so of an
    ``.npy`` of Python objects too, suggesting ``allow_pickle=True``: advice that must not
    be passed on for a file that is simply not a checkpoint or a samples array.
    """
    text = str(err)
    if "allow_pickle" in text:
        return "not NumPy arrays of numbers: unknown bytes, or Python objects, which are never unpickled"
    return text
