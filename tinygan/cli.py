"""What tinygan's commands share: one-line argument errors, number parsers, and a guard
that turns a Ctrl-C or an exhausted memory into one line instead of a traceback."""

from __future__ import annotations

import argparse
import functools
import math
import os
import signal
import sys
from pathlib import Path

import tinygan


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2), no usage dump.

    ``error`` is for options that are wrong or do not go together, so it points at
    ``--help``; ``fail`` is for a world that says no (a missing or damaged file, a folder
    that cannot be written, no GPU), where ``--help`` would not help.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def fail(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")

    def print_help(self, file=None):
        # argparse's own swallows a failed write: --help into a full disk exited 0 with nothing
        # written.  Where stdout is closed (None), it goes to stderr, as argparse's would.
        (file or sys.stdout or sys.stderr).write(self.format_help())


class DefaultsWhenSetFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to an option's help, except where the default is None/False.

    For those the help says what happens instead (the recipe's value, or off).
    """

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def positive(kind):
    """A parser for a number of type ``kind`` (int or float) that must be > 0 and finite;
    an int below 2**53, past which it is no longer exact as a float (a step count meets
    floats in the ETA and in Adam's β**t) and ``float()`` of it can overflow."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if kind is int and value >= 2 ** 53:
            raise argparse.ArgumentTypeError(f"must be below 2**53 = {2 ** 53:,}, got {text[:20]}"
                                             + ("..." if len(text) > 20 else ""))
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def at_least(minimum: int):
    """A parser for an integer >= ``minimum`` (a seed: 0, as NumPy's generators take)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid int") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    parse.__name__ = f"int >= {minimum}"
    return parse


def path_text(what: str):
    """A parser for a path that must not be empty (``Path("")`` is the current folder)."""
    def parse(text):
        if not text:
            raise argparse.ArgumentTypeError(f"is empty; name {what}")
        return text

    parse.__name__ = "path"
    return parse


def unit_interval(low_open: bool):
    """A parser for a number in (0, 1] (``low_open``) or in [0, 1)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        ok = (0 < value <= 1) if low_open else (0 <= value < 1)
        if not ok:
            raise argparse.ArgumentTypeError(f"must be in {'(0, 1]' if low_open else '[0, 1)'}, got {text}")
        return value

    return parse


def describe_os_error(err: OSError) -> str:
    """The reason an output could not be written, in words (no traceback)."""
    if isinstance(err, FileExistsError):  # mkdir met a file where a folder should be
        return f"{err.filename} is a file, not a directory"
    if err.errno is None and "requested and" in str(err):  # NumPy's words for a short write
        return f"only part of it could be written ({err}); is the disk full?"
    return err.strerror or str(err)


def output_problem(path) -> str | None:
    """Why ``path`` cannot be written, or None: checked before the work, not after it.

    Makes nothing: missing folders are made when the file is written, so a command that
    fails first leaves none behind.
    """
    from .checkpoint import read_only_file_system, writes_in_place

    if not os.fspath(path):
        return "an empty path"
    path = Path(path)
    if path.is_dir():
        return "it is a directory"
    if writes_in_place(path):
        return None if os.access(path, os.W_OK) else "permission denied"
    if path.exists() and not os.access(path, os.W_OK):
        return "it is on a read-only file system" if read_only_file_system(path) else "the file is write-protected"
    # atomic_write writes where a symlink leads, so that folder decides, not the link's
    folder = Path(os.path.realpath(path)).parent
    while not folder.exists():  # the nearest folder that exists decides
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is a file, not a directory"
    if not os.access(folder, os.W_OK):
        return f"{folder} is on a read-only file system" if read_only_file_system(folder) else f"{folder} is not writable"
    return None


STDOUT = "standard output"  # the name a failed write to sys.stdout carries (NamedStream)


class NamedStream:
    """``sys.stdout`` or ``sys.stderr`` as a command sees it.

    A write that fails (a full disk under ``> log``) raises an ``OSError`` naming the
    stream, so the handlers that say which output could not be written say it here too.
    And text the stream cannot encode (``PYTHONIOENCODING=ascii``; the help's β) is
    written with backslash escapes instead of raising ``UnicodeEncodeError``.
    """

    def __init__(self, stream, name: str):
        self._stream, self._name = stream, name

    def _named(self, err: OSError) -> OSError:
        if err.filename is None and not isinstance(err, BrokenPipeError):  # `| head`: handled as such
            err.filename = self._name
        return err

    def write(self, text):
        try:
            try:
                return self._stream.write(text)
            except UnicodeEncodeError:
                encoding = getattr(self._stream, "encoding", None) or "ascii"
                return self._stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        except OSError as err:
            raise self._named(err)

    def flush(self):
        try:
            return self._stream.flush()
        except OSError as err:
            raise self._named(err)

    def __getattr__(self, name):  # isatty, fileno, encoding, buffer, ...
        return getattr(self._stream, name)


def flush_stdout():
    if sys.stdout is not None:
        sys.stdout.flush()


def silence_stdout():
    """Point fd 1 at the null device: what a failed stdout still holds in its buffer then
    goes nowhere, instead of failing again in Python's flush at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file behind it (a test's capture), or None
        pass
    finally:
        os.close(devnull)


# What `kill`, `timeout`, batch schedulers (SIGTERM) and a closed terminal (SIGHUP) send
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def catch_signals(handler, signals=STOP_SIGNALS) -> dict:
    """Install ``handler`` for each of ``signals`` but those the parent process ignores
    (``nohup`` ignores SIGHUP so that a run outlives its terminal; a shell without job
    control ignores a background job's SIGINT): those stay ignored.  Returns
    ``{signal: previous handler}`` for the ones installed, to put back."""
    previous = {}
    for sig in signals:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    return previous


class Stopped(KeyboardInterrupt):
    """A stop signal, raised where the program is, like Ctrl-C's ``KeyboardInterrupt``, so
    that the same clean-up runs (an ``atomic_write`` in progress removes its temporary file)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def command(prog: str, interrupted: str = "nothing was written"):
    """Decorate a command's ``main``: a Ctrl-C, a SIGTERM or a SIGHUP (unless the parent
    ignores it, as ``nohup`` does SIGHUP) ends it with one line and exit code 128 + the
    signal's number (130 for Ctrl-C), an allocation too
    large for the memory with one line and exit code 1, and a closed pipe on stdout
    (``| head``) quietly.

    ``interrupted`` says what a stop leaves behind; every output is written whole or
    not at all (``checkpoint.atomic_write``), so it is never half a file.
    """
    def decorate(main):
        @functools.wraps(main)
        def guarded(argv=None) -> int:
            def stop(signum, frame):
                raise Stopped(signum)

            try:
                tinygan._started()  # those that guarded `python -m`'s imports (tinygan/__init__.py)
                previous = catch_signals(stop)
            except ValueError:  # not the main thread: signals cannot be caught here
                previous = {}
            streams = sys.stdout, sys.stderr
            # None where the stream is closed (`>&-`): print() then writes nothing, so it stays None
            sys.stdout, sys.stderr = (None if stream is None else NamedStream(stream, name)
                                      for stream, name in zip(streams, (STDOUT, "standard error")))
            try:
                # stdout into a file is written in blocks: the last one here, where a failure is
                # caught, not in Python's flush at exit (also after --help and argparse's errors)
                try:
                    code = main(argv)
                except SystemExit:
                    flush_stdout()
                    raise
                flush_stdout()
                return code
            except KeyboardInterrupt as err:
                signum = err.signum if isinstance(err, Stopped) else signal.SIGINT
                print(f"\n{prog}: interrupted ({signal_name(signum)}); {interrupted}", file=sys.stderr)
                return 128 + signum
            except MemoryError as err:
                print(f"\n{prog}: error: not enough memory ({err}); ask for fewer samples or a smaller model",
                      file=sys.stderr)
                return 1
            except BrokenPipeError:  # the reader of stdout went away (`| head`, a stopped `| tee`)
                silence_stdout()  # so that Python's exit flush does not fail again
                print(f"{prog}: stopped: its output pipe was closed; {interrupted}", file=sys.stderr)
                return 1
            except OSError as err:
                if err.filename != STDOUT:
                    raise
                silence_stdout()
                print(f"{prog}: error: cannot write {STDOUT}: {describe_os_error(err)}", file=sys.stderr)
                return 1
            finally:
                try:  # after a Ctrl-C or a memory error too, whose lines are already out on stderr
                    flush_stdout()
                except (OSError, ValueError):  # ValueError: flushing a closed file
                    silence_stdout()
                sys.stdout, sys.stderr = streams
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        return guarded

    return decorate
