"""The lessons in ``lessons/`` stay true: their code runs and the code they cite exists.

Four checks per lesson:

1. Every ```python block runs, in order, the blocks of one lesson sharing one namespace
   (a lesson reads as one program).  Blocks run inside a temporary working directory, with
   matplotlib on the Agg backend, so a snippet can draw but leaves no file behind.  The
   project's ``filterwarnings = error::RuntimeWarning`` stays on: a snippet that shows an
   overflow must say so with ``np.errstate``.
2. Every file path a lesson names (``tinygan/nn.py``, ``tests/test_layers.py``) exists, and
   every relative link or embedded figure (``figures/x.png``) points at a file.
3. Every dotted name it cites in prose, ``tinygan.nn.Dense`` or the short ``nn.Dense`` /
   ``losses.softplus`` / ``optim.Adam.step``, resolves with importlib and getattr.  An
   attribute a class sets in ``__init__`` (``Sequential.flat_params``) counts as existing.
   Lines containing ``planned:`` are exempt: they announce lessons for code still to come.
4. Every ```python block can be pasted, line by line, into the plain ``python`` prompt
   (the lessons' README invites it).  There a blank line ends an indented block, and a
   statement at column 0 straight after one is a SyntaxError (before Python 3.13).
"""

from __future__ import annotations

import code
import importlib
import inspect
import pathlib
import re
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

import tinygan  # noqa: E402,F401 - imported before any test changes the working directory

ROOT = pathlib.Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
LESSON_FILES = sorted(LESSONS.glob("*.md"))
FIGURE_LIMIT = 200 * 1024  # bytes per committed PNG

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
PATH = re.compile(r"\b((?:tinygan|tests|lessons|benchmarks)/[\w./-]*\w)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
# The package's modules (test_the_name_checker_is_not_vacuous keeps the list complete); a
# short citation such as `nn.Dense` is recognised by its first word.
MODULES = ("backend", "nn", "losses", "optim", "gradcheck", "gan", "data", "evaluate",
           "classifier", "toy", "theory", "models", "train", "checkpoint", "sample", "cli")
DOTTED = re.compile(r"(?<![\w./])((?:tinygan\.)?(?:%s)(?:\.\w+)+)" % "|".join(MODULES))
# `checkpoint.npz` is a file name, not the attribute npz of tinygan.checkpoint
FILE_SUFFIXES = (".py", ".md", ".npz", ".npy", ".png", ".json", ".jsonl", ".csv")
INLINE_CODE = re.compile(r"`([^`\n]+)`")


def python_blocks(text: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == "python"]


def prose(text: str) -> str:
    """The lesson without its fenced blocks and without ``planned:`` lines."""
    text = FENCE.sub("", text)
    return "\n".join(line for line in text.splitlines() if "planned:" not in line)


def resolve(dotted: str):
    """Import ``tinygan.<module>`` and walk the remaining attributes; raise if any is missing."""
    parts = dotted.split(".")
    if parts[0] == "tinygan":
        parts = parts[1:]
    obj = importlib.import_module(f"tinygan.{parts[0]}")
    for name in parts[1:]:
        if hasattr(obj, name):
            obj = getattr(obj, name)
        elif inspect.isclass(obj) and any(
                re.search(rf"\bself\.{name}\b\s*(?:,[^=\n]*)?=", inspect.getsource(k))
                for k in obj.__mro__ if k.__module__.startswith("tinygan")):
            return obj  # an instance attribute set in the class's code
        else:
            raise AttributeError(f"{dotted}: {obj!r} has no attribute {name!r}")
    return obj


@pytest.fixture
def quiet_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def test_there_are_lessons():
    assert len(LESSON_FILES) >= 6, [p.name for p in LESSON_FILES]
    assert (LESSONS / "README.md") in LESSON_FILES


@pytest.mark.parametrize("lesson", LESSON_FILES, ids=lambda p: p.name)
def test_lesson_code_runs(lesson, quiet_cwd):
    import matplotlib.pyplot as plt

    namespace: dict = {"__name__": f"lesson_{lesson.stem.replace('-', '_')}"}
    for number, block in enumerate(python_blocks(lesson.read_text()), start=1):
        label = f"{lesson.name}, python block {number}"
        try:
            exec(compile(block, label, "exec"), namespace)
        except BaseException as err:  # noqa: BLE001 - report any failure with its place
            pytest.fail(f"{label} raised {type(err).__name__}: {err}\n--- block ---\n{block}")
        finally:
            plt.close("all")
    leftovers = sorted(p.name for p in quiet_cwd.iterdir())
    assert not leftovers, f"{lesson.name} wrote files: {leftovers}"


@pytest.mark.parametrize("lesson", LESSON_FILES, ids=lambda p: p.name)
def test_lesson_paths_and_links_exist(lesson):
    text = prose(lesson.read_text())
    missing = [p for p in PATH.findall(text) if not (ROOT / p).exists()]
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor
        path = (lesson.parent / target.split("#")[0]).resolve()
        if not path.exists():
            missing.append(target)
        elif path.suffix == ".png":
            assert path.stat().st_size < FIGURE_LIMIT, f"{target} is over 200 KB"
            assert f"def fig_{path.stem}(" in (LESSONS / "figures" / "make_figures.py").read_text(), \
                f"{target} is not made by lessons/figures/make_figures.py"
    assert not missing, f"{lesson.name} cites missing files: {missing}"


@pytest.mark.parametrize("lesson", LESSON_FILES, ids=lambda p: p.name)
def test_lesson_names_resolve(lesson):
    names = set()
    for span in INLINE_CODE.findall(prose(lesson.read_text())):
        names.update(n for n in DOTTED.findall(span) if not n.endswith(FILE_SUFFIXES))
    unresolved = []
    for name in sorted(names):
        try:
            resolve(name)
        except (ImportError, AttributeError) as err:
            unresolved.append(f"{name} ({err})")
    assert not unresolved, f"{lesson.name} cites names that do not exist: {unresolved}"


class _PastedConsole(code.InteractiveConsole):
    """The interactive prompt's line-by-line compiling, without running anything."""

    def __init__(self):
        super().__init__()
        self.rejected = []

    def runcode(self, compiled):
        pass

    def showsyntaxerror(self, filename=None, **kwargs):
        self.rejected.append(self.current_line)


def paste_errors(block: str) -> list[str]:
    """The lines of ``block`` that the interactive prompt would reject, typed in order."""
    console = _PastedConsole()
    for line in [*block.splitlines(), ""]:  # the final Enter that ends a last block
        console.current_line = line
        console.push(line)
    return console.rejected


@pytest.mark.parametrize("lesson", LESSON_FILES, ids=lambda p: p.name)
def test_lesson_blocks_paste_into_the_interactive_prompt(lesson):
    bad = [f"python block {number}: {line!r}"
           for number, block in enumerate(python_blocks(lesson.read_text()), start=1)
           for line in paste_errors(block)]
    assert not bad, (f"{lesson.name}: at a plain python prompt these lines are syntax errors "
                     f"(add a blank line after an indented block; none inside one): {bad}")


def test_the_paste_checker_is_not_vacuous():
    assert paste_errors("for i in range(2):\n    x = i\n\ny = x\n") == []
    assert paste_errors("f(1,\n  2)\ny = 3\n") == []  # a continuation line is not a block
    assert paste_errors("for i in range(2):\n    x = i\ny = x\n") == ["y = x"]
    inside = "class A:\n    def f(self):\n        pass\n\n    def g(self):\n        pass\n"
    assert paste_errors(inside)[0] == "    def g(self):"  # the blank line ended class A


def test_the_name_checker_is_not_vacuous():
    assert resolve("tinygan.nn.Dense.backward") is not None
    assert resolve("nn.Sequential.flat_params") is not None
    for bad in ("nn.Convolution", "tinygan.losses.hinge", "optim.Adam.zero_everything"):
        with pytest.raises((ImportError, AttributeError)):
            resolve(bad)
    assert DOTTED.findall("see tinygan.gan.train_step and nn.Dense") == ["tinygan.gan.train_step", "nn.Dense"]
    assert python_blocks("text\n```python\nx = 1\n```\n```bash\nls\n```\n") == ["x = 1\n"]
    package = {p.stem for p in (ROOT / "tinygan").glob("*.py")} - {"__init__"}
    assert set(MODULES) == package, "MODULES must list every module of tinygan"


def test_make_figures_names_an_unknown_figure_in_one_line():
    result = subprocess.run([sys.executable, str(LESSONS / "figures" / "make_figures.py"), "no_such"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("make_figures.py: unknown figure 'no_such'; choose from gan_1d, ")
    assert "blots" in line
