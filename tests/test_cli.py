"""The command-line helpers: argument types, output checks, and the wrapper that turns
signals and a closed pipe into one line and an exit status."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tinygan import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__)))  # where `import tinygan` finds it


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


def test_output_problem_checks_the_folder_a_symlink_leads_to(tmp_path, monkeypatch):
    """A link to a file not yet made in a folder that cannot be written: the link's own
    folder passed the check, and the command failed after its work."""
    (tmp_path / "ro").mkdir()
    (tmp_path / "link.npy").symlink_to(tmp_path / "ro" / "s.npy")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(tmp_path / "ro") else real(p, mode, **kw))
    assert cli.output_problem(tmp_path / "link.npy") == f"{tmp_path / 'ro'} is not writable"
    assert cli.output_problem(tmp_path / "plain.npy") is None


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


def run_with_a_numpy_that_signals(tmp_path, args, signal_name, preexec_fn=None):
    """Run ``python ARGS`` where ``import numpy`` finds a stand-in that sends this process
    ``signal_name`` and then waits (or, once the signal is survived, exits 0 saying so):
    a stop that lands for certain while a command's modules are still imported."""
    fake = tmp_path / "fake"
    (fake / "numpy").mkdir(parents=True)
    (fake / "numpy" / "__init__.py").write_text(textwrap.dedent(f"""
        import os, signal, sys, time
        os.kill(os.getpid(), signal.{signal_name})
        time.sleep(0.2)  # room for the handler to run, should the signal not end the process at once
        print("survived")
        sys.exit(0)
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), REPO]))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=env, preexec_fn=preexec_fn)


@pytest.mark.parametrize("module, signal_name, words", [
    ("tinygan.train", "SIGINT", "Ctrl-C"), ("tinygan.sample", "SIGTERM", "SIGTERM"),
    ("tinygan.evaluate", "SIGHUP", "SIGHUP"), ("tinygan.theory", "SIGINT", "Ctrl-C"),
    ("tinygan.classifier", "SIGTERM", "SIGTERM")])
def test_a_stop_while_a_command_starts_is_one_line_not_a_traceback(tmp_path, module, signal_name, words):
    """C19: Ctrl-C in the first fraction of a second of `python -m tinygan.X`, while NumPy
    is imported and before the command's own handlers exist, ends it as a later stop does:
    one line, exit 128 + the signal's number, nothing written."""
    proc = run_with_a_numpy_that_signals(tmp_path, ["-m", module, "--out", "run"], signal_name)
    assert proc.returncode == 128 + getattr(signal, signal_name), proc
    assert proc.stderr.strip() == f"python -m {module}: interrupted ({words}) while starting; nothing was written"
    assert proc.stdout == "" and sorted(p.name for p in tmp_path.iterdir()) == ["fake"]


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX")
def test_a_signal_ignored_by_the_parent_stays_ignored_while_a_command_starts(tmp_path):
    """C19: under `nohup` SIGHUP is ignored from the start, and tinygan leaves it so."""
    proc = run_with_a_numpy_that_signals(tmp_path, ["-m", "tinygan.train"], "SIGHUP",
                                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert proc.returncode == 0 and proc.stdout.strip() == "survived", proc


def test_a_signal_ignored_by_the_parent_stays_ignored_while_a_command_runs():
    """Once started, a command installed its stop handler over an ignored SIGHUP too, so a
    `nohup python -m tinygan.sample ...` ended with its terminal."""
    @cli.command("prog")
    def main(argv=None):
        os.kill(os.getpid(), signal.SIGHUP)
        return 0

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        assert main([]) == 0 and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_importing_tinygan_elsewhere_changes_no_signal_handler(tmp_path):
    """C19: only `python -m tinygan.X` guards its start.  A program that imports tinygan
    keeps Python's handlers (Ctrl-C still raises KeyboardInterrupt), also when that
    program is itself run with -m and imports tinygan while Python locates it."""
    report = ("import signal, tinygan\n"
              "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,"
              " signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, tinygan._starting_handlers)\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "__init__.py").write_text("import tinygan\n")
    (tmp_path / "other" / "run.py").write_text(report)
    for args in (["-c", report], ["-m", "other.run"]):
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                              env=dict(os.environ, PYTHONPATH=REPO))
        assert proc.returncode == 0 and proc.stdout.strip() == "True True {}", (args, proc)


def test_a_command_puts_back_the_handlers_that_guarded_its_start():
    """C19: once a command runs, Ctrl-C is Python's KeyboardInterrupt again (what train's
    stop handling and the command's one line rest on) and SIGTERM the command's own."""
    import tinygan

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, *cli.STOP_SIGNALS)}
    seen = {}

    @cli.command("prog")
    def main(argv=None):
        seen.update({sig: signal.getsignal(sig) for sig in before})
        return 0

    tinygan._stop_quietly_while_starting("tinygan.prog")
    try:
        assert all(signal.getsignal(sig) is not before[sig] for sig in before)
        assert main([]) == 0
    finally:
        tinygan._started()
    assert seen[signal.SIGINT] is signal.default_int_handler
    assert all(getattr(seen[sig], "__qualname__", "").endswith("guarded.<locals>.stop") for sig in cli.STOP_SIGNALS)
    assert {sig: signal.getsignal(sig) for sig in before} == before and tinygan._starting_handlers == {}


FULL_DISK = "/dev/full"  # Linux's device on which every write fails with ENOSPC


def environment(buffered: bool) -> dict:
    """This process's environment, with Python's stdout block-buffered (as it is by
    default into a file) or unbuffered (PYTHONUNBUFFERED=1, as some machines set it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return env if buffered else {**env, "PYTHONUNBUFFERED": "1"}


@pytest.mark.skipif(not os.path.exists(FULL_DISK), reason="no /dev/full on this system")
@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("argv", [
    ["tinygan.train", "--data", "ring8", "--steps", "3", "--no-eval"],  # fails at its start line
    ["tinygan.sample", "--run", "RUN", "--n", "2", "--out", "OUT/s.npy"],  # fails after writing the file
])
def test_standard_output_on_a_full_disk_is_one_line_and_exit_1(tmp_path, argv, buffered):
    """`> log` on a full disk: a traceback before, and for a file written whole, exit 1
    with a traceback too.  Now the write error names standard output."""
    run = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "tinygan.train", "--data", "ring8", "--steps", "2", "--no-eval",
                    "--out", str(run)], cwd=REPO, check=True, capture_output=True, timeout=120)
    argv = [a.replace("RUN", str(run)).replace("OUT", str(tmp_path)) for a in argv]
    if argv[0] == "tinygan.train":
        argv += ["--out", str(tmp_path / "new")]
    with open(FULL_DISK, "w") as full:
        proc = subprocess.run([sys.executable, "-m", *argv], cwd=REPO, stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120, env=environment(buffered))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == (f"python -m {argv[0]}: error: cannot write standard output: "
                                   f"No space left on device"), proc.stderr
    if argv[0] == "tinygan.sample":
        assert (tmp_path / "s.npy").exists()  # the samples were written before the line that says so


def test_a_terminal_that_cannot_show_a_character_gets_an_escape_not_a_traceback():
    """PYTHONIOENCODING=ascii: the help's β became a UnicodeEncodeError."""
    proc = subprocess.run([sys.executable, "-m", "tinygan.train", "--help"], cwd=REPO, capture_output=True,
                          env={**os.environ, "PYTHONIOENCODING": "ascii"}, timeout=120)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    assert b"Adam \\u03b21" in proc.stdout


def test_a_named_stream_names_itself_in_a_write_error_and_passes_the_rest_through():
    import errno
    import io

    class Failing(io.StringIO):
        def write(self, text):
            raise OSError(errno.EIO, "Input/output error")

    stream = cli.NamedStream(Failing(), cli.STDOUT)
    with pytest.raises(OSError) as err:
        stream.write("x")
    assert err.value.filename == "standard output" and err.value.errno == errno.EIO
    assert not stream.isatty() and stream.getvalue() == ""  # everything else reaches the stream
    ascii_only = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    cli.NamedStream(ascii_only, cli.STDOUT).write("β = 0.5")
    ascii_only.flush()
    assert ascii_only.buffer.getvalue() == b"\\u03b2 = 0.5"


@pytest.mark.skipif(not os.path.exists(FULL_DISK), reason="no /dev/full on this system")
def test_a_ctrl_c_with_stdout_on_a_full_disk_is_its_own_line_and_130():
    """What stdout still held was flushed by Python at exit, after the Ctrl-C's line:
    "Exception ignored ... OSError: [Errno 28]" and exit status 120 instead of 130.
    (Block-buffered stdout: unbuffered, the print itself fails, before the Ctrl-C.)"""
    code = textwrap.dedent("""
        import sys
        from tinygan.cli import command

        @command("prog", interrupted="nothing was written")
        def main(argv=None):
            print("a line in stdout's buffer")
            raise KeyboardInterrupt

        sys.exit(main())
    """)
    with open(FULL_DISK, "w") as full:
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=60, env=environment(buffered=True))
    assert proc.returncode == 130 and proc.stderr.strip() == "prog: interrupted (Ctrl-C); nothing was written", \
        proc.stderr


@pytest.mark.parametrize("argv", [["tinygan.train", "--help"], ["tinygan.evaluate", "--help"],
                                  ["tinygan.train", "--data", "ring8", "--steps", "3", "--no-eval", "--out", "RUN"]])
def test_a_closed_stdout_is_no_error(tmp_path, argv):
    """`>&-`: Python sets sys.stdout to None, and print() writes nothing; a wrapper around
    None made every command end in an AttributeError."""
    argv = [a.replace("RUN", str(tmp_path / "run")) for a in argv]
    proc = subprocess.run([sys.executable, "-m", *argv], cwd=REPO, capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: os.close(1))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    if "--help" not in argv:
        assert (tmp_path / "run" / "checkpoint.npz").exists()


@pytest.mark.skipif(not os.path.exists(FULL_DISK), reason="no /dev/full on this system")
def test_help_into_a_full_disk_says_so():
    """argparse swallows a failed write of its help: exit 0, and nothing written."""
    with open(FULL_DISK, "w") as full:
        proc = subprocess.run([sys.executable, "-m", "tinygan.sample", "--help"], cwd=REPO, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60, env=environment(buffered=False))
    assert proc.returncode == 1 and "cannot write standard output: No space left on device" in proc.stderr
