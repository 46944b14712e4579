"""The command-line helpers: argument types, output checks, and the wrapper that turns
signals and a closed pipe into one line and an exit status."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tinygan import cli


def test_unit_interval_low_open_accepts_1_and_refuses_0():
    """C05: (0, 1] includes 1 (e.g. --label-smoothing 1, no smoothing); [0, 1) includes 0."""
    closed_top, closed_bottom = cli.unit_interval(True), cli.unit_interval(False)
    assert closed_top("1") == 1.0 and closed_bottom("0") == 0.0
    for parse, text in ((closed_top, "0"), (closed_bottom, "1")):
        with pytest.raises(Exception, match="must be in"):
            parse(text)


def test_output_problem_write_protection_and_folders(tmp_path, monkeypatch):
    """C09, C11: a write-protected file and a folder that is not writable are refused.
    os.access is patched: as root every path is writable."""
    target = tmp_path / "out.json"
    target.write_text("{}")
    denied = {str(target), str(tmp_path / "ro")}
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) in denied else real(p, mode, **kw))
    assert cli.output_problem(target) == "the file is write-protected"
    (tmp_path / "ro").mkdir()
    assert cli.output_problem(tmp_path / "ro" / "new" / "x.npy") == f"{tmp_path / 'ro'} is not writable"
    assert cli.output_problem(tmp_path / "ok.npy") is None


def test_output_problem_checks_a_pipe_it_cannot_write(tmp_path, monkeypatch):
    """C10: a FIFO (written in place) that this process may not write is refused."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert cli.output_problem(fifo) is None
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(fifo) else real(p, mode, **kw))
    assert cli.output_problem(fifo) == "permission denied"


def test_a_closed_output_pipe_ends_the_command_with_1_and_one_line():
    """C15, C16: `python -m tinygan.X | head`: exit status 1, one line on stderr, and no
    'Exception ignored ... BrokenPipeError' from Python's exit flush."""
    code = textwrap.dedent("""
        import sys
        from tinygan.cli import command

        @command("prog", interrupted="nothing was written")
        def main(argv=None):
            for i in range(100000):
                print("line", i)
            return 0

        sys.exit(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait() == 1, err
    assert err.strip() == "prog: stopped: its output pipe was closed; nothing was written", err


def test_command_puts_the_signal_handlers_back():
    """C17: after a command returns, SIGTERM and SIGHUP are handled as before it ran."""
    before = {sig: signal.getsignal(sig) for sig in cli.STOP_SIGNALS}
    ran = []

    @cli.command("prog")
    def main(argv=None):
        ran.append({sig: signal.getsignal(sig) for sig in cli.STOP_SIGNALS})
        return 0

    assert main([]) == 0
    assert all(h is not before[sig] for sig, h in ran[0].items())  # installed while it ran
    assert {sig: signal.getsignal(sig) for sig in cli.STOP_SIGNALS} == before


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX")
def test_a_closed_terminal_sighup_ends_a_command_with_129():
    """C18: SIGHUP (the terminal closed) is a stop like SIGTERM: one line, exit 128 + 1.
    In a child process: an uncaught SIGHUP would end pytest itself."""
    code = textwrap.dedent("""
        import os, signal, sys
        from tinygan.cli import command

        @command("prog", interrupted="nothing was written")
        def main(argv=None):
            os.kill(os.getpid(), signal.SIGHUP)
            return 0

        sys.exit(main())
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 128 + signal.SIGHUP, proc
    assert proc.stderr.strip() == "prog: interrupted (SIGHUP); nothing was written"
