"""tinygan: Generative Adversarial Networks from scratch in NumPy.

Modules, in the order of the lessons: ``backend`` (NumPy or CuPy), ``nn`` (layers),
``losses``, ``optim``, ``gradcheck``, ``gan`` (one training iteration), ``models``,
``data``, ``train``, ``checkpoint``, ``sample``, ``classifier`` and ``evaluate`` (judging
samples), ``toy`` and ``theory`` (the GAN theory, checked numerically).
"""

import signal as _signal
import sys as _sys

__version__ = "0.1.0"

# Handlers installed while a command starts, and those they replaced: {signal: previous}
_starting_handlers = {}


def _module_run_with_m():
    """The module named by ``python -m MODULE``, read from the command line Python was given."""
    args = getattr(_sys, "orig_argv", [])[1:]
    for k, arg in enumerate(args):
        if arg == "-m":
            return args[k + 1] if k + 1 < len(args) else None
        if arg.startswith("-m"):
            return arg[2:]
    return None


def _stop_quietly_while_starting(module: str):
    """For ``python -m tinygan.<command>`` only: a Ctrl-C, SIGTERM or SIGHUP that comes while
    Python still imports the command's modules (NumPy alone takes some 0.2 s) ends it with
    one line and exit status 128 + the signal's number, as the command itself does once it
    runs, instead of a traceback out of the import machinery.  Nothing has been written by
    then.  ``cli.command`` puts the usual handlers back as the command starts; importing
    tinygan in any other way changes no signal handling."""
    def stop(signum, frame):
        name = "Ctrl-C" if signum == _signal.SIGINT else _signal.Signals(signum).name
        print(f"\npython -m {module}: interrupted ({name}) while starting; nothing was written",
              file=_sys.stderr)
        raise SystemExit(128 + signum)

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(_signal, name, None)
        previous = _signal.getsignal(sig) if sig is not None else None
        if previous in (_signal.SIG_DFL, _signal.default_int_handler):  # not one ignored (nohup)
            _starting_handlers[sig] = previous
            _signal.signal(sig, stop)


def _started():
    """Put back the handlers :func:`_stop_quietly_while_starting` replaced."""
    while _starting_handlers:
        sig, previous = _starting_handlers.popitem()
        _signal.signal(sig, previous)


# Python sets argv[0] to "-m" only while it locates the module of `python -m`
_command = _module_run_with_m() if _sys.argv[:1] == ["-m"] else None
if _command and _command.startswith("tinygan."):
    _stop_quietly_while_starting(_command)
