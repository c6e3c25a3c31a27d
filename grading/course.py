"""The course on disk: nbgrader's configuration, its folders, the gradebook and notebook helpers.

The course root is the folder that holds ``nbgrader_config.py`` (``--root``, else the current folder
or the nearest parent that has one). Every path of nbgrader's layout is read from that config, so
the grading commands work the same on the repository and on a temporary copy of it (tests).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

CONFIG_NAME = "nbgrader_config.py"
NB_VERSION = 4
#: nbgrader uses the student id as a folder name: keep it to a safe alphabet.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: Editor and OS droppings: never copied, never imported.
JUNK = (".ipynb_checkpoints", "__pycache__", "__MACOSX", ".DS_Store", "Thumbs.db")


class GradingError(RuntimeError):
    """A problem the instructor has to fix (bad configuration, assignment not released...)."""


def find_root(start: Path | None = None) -> Path:
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise GradingError(f"no {CONFIG_NAME} in {here} or any parent folder: pass --root COURSE_FOLDER")


@dataclass
class Course:
    """nbgrader's view of a course folder, read from its ``nbgrader_config.py``."""

    root: Path
    config: object
    course_id: str
    db_url: str
    source: Path
    release: Path
    submitted: Path
    autograded: Path
    feedback: Path
    python: str = sys.executable

    @classmethod
    def load(cls, root: Path | str | None = None) -> "Course":
        from traitlets.config.loader import PyFileConfigLoader

        root = find_root(Path(root) if root else None)
        config = PyFileConfigLoader(CONFIG_NAME, path=str(root)).load_config()
        cd = config.CourseDirectory
        cfg_root = Path(cd.get("root", root)).resolve()
        if cfg_root != root:
            raise GradingError(f"{root / CONFIG_NAME} must take its own folder as nbgrader's root, not {cfg_root}")

        def folder(name: str, default: str) -> Path:
            return root / cd.get(name, default)

        db_url = cd.get("db_url", "") or "sqlite:///" + str(root / "gradebook.db")
        return cls(
            root=root,
            config=config,
            course_id=cd.get("course_id", "") or "default_course",
            db_url=db_url,
            source=folder("source_directory", "source"),
            release=folder("release_directory", "release"),
            submitted=folder("submitted_directory", "submitted"),
            autograded=folder("autograded_directory", "autograded"),
            feedback=folder("feedback_directory", "feedback"),
        )

    # -- assignments -------------------------------------------------------------------------
    def assignments(self) -> list[str]:
        """Assignments of the course: folders of the source directory that hold a notebook."""
        if not self.source.is_dir():
            return []
        return sorted(
            p.name for p in self.source.iterdir()
            if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb"))
        )

    def notebook_names(self, assignment: str) -> list[str]:
        """The notebooks of an assignment, without ``.ipynb`` (nbgrader's notebook ids)."""
        return sorted(p.stem for p in (self.source / assignment).glob("*.ipynb"))

    def source_notebook(self, assignment: str, notebook: str) -> Path:
        return self.source / assignment / f"{notebook}.ipynb"

    def db_path(self) -> Path | None:
        if self.db_url.startswith("sqlite:///"):
            return Path(self.db_url[len("sqlite:///"):])
        return None

    def released(self) -> set[str]:
        """The assignments in the gradebook: ``make release`` (nbgrader ``generate_assignment``) puts
        them there, and only those can be autograded. Empty when there is no gradebook yet (it is
        not created here)."""
        db = self.db_path()
        if db is not None and not db.is_file():
            return set()
        with self.gradebook() as gb:
            return {a.name for a in gb.assignments}

    def submissions(self, assignments: list[str] | None = None,
                    students: list[str] | None = None) -> dict[str, list[str]]:
        """``assignment -> students`` with a folder ``submitted/<student>/<assignment>/`` (filtered)."""
        found: dict[str, list[str]] = {}
        if not self.submitted.is_dir():
            return found
        for folder in sorted(p for p in self.submitted.glob("*/*") if p.is_dir()):
            student, assignment = folder.parent.name, folder.name
            if (assignments is None or assignment in assignments) and (not students or student in students):
                found.setdefault(assignment, []).append(student)
        return found

    # -- nbgrader -----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment of nbgrader commands: the interpreter's bin folder first (nbgrader runs
        ``alembic`` from PATH) even when the virtual environment is not activated."""
        env = os.environ.copy()
        env["PATH"] = os.pathsep.join([str(Path(self.python).parent), env.get("PATH", "")])
        return env

    @contextlib.contextmanager
    def gradebook(self, retries: int = 20) -> Iterator[object]:
        """The gradebook, opened with this course's id (retries while SQLite says it is locked)."""
        from nbgrader.api import Gradebook

        with _bin_on_path(self.python):
            gb = retry_locked(lambda: Gradebook(self.db_url, self.course_id), retries)
        try:
            yield gb
        finally:
            gb.close()


def retry_locked(action, retries: int = 20, delay: float = 0.25):
    """Run ``action()``; on SQLite's "database is locked" wait and try again (another process,
    e.g. the formgrader, may be writing)."""
    for attempt in range(retries + 1):
        try:
            return action()
        except Exception as error:  # sqlalchemy.exc.OperationalError, sqlite3.OperationalError
            if "database is locked" not in str(error) or attempt == retries:
                raise
            time.sleep(delay * (1 + attempt))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _bin_on_path(python: str):
    old = os.environ.get("PATH")
    os.environ["PATH"] = os.pathsep.join([str(Path(python).parent), old or ""])
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = old


# ------------------------------------------------------------------------------------------
# Notebook cells
# ------------------------------------------------------------------------------------------
def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return dict(meta) if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def is_test_cell(cell) -> bool:
    """An autograded test cell: graded, code, not a student answer."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


def hidden_line_ranges(source: str) -> list[tuple[int, int]]:
    """1-based (first, last) line numbers of the hidden-test blocks of a cell, markers included."""
    ranges, start = [], None
    for number, line in enumerate(source.splitlines(), start=1):
        if line.strip() == BEGIN_HIDDEN:
            start = number
        elif line.strip() == END_HIDDEN and start is not None:
            ranges.append((start, number))
            start = None
    return ranges


def hidden_blocks(source: str) -> list[str]:
    lines = source.splitlines()
    return ["\n".join(lines[a:b - 1]) for a, b in hidden_line_ranges(source)]


def strip_hidden(source: str, placeholder: str = "# (hidden tests)") -> str:
    """The source of a test cell with every hidden block replaced by ``placeholder``."""
    lines, out = source.splitlines(), []
    ranges = hidden_line_ranges(source)
    number = 0
    while number < len(lines):
        block = next((r for r in ranges if r[0] == number + 1), None)
        if block:
            out.append(placeholder)
            number = block[1]
        else:
            out.append(lines[number])
            number += 1
    return "\n".join(out)


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    return ANSI.sub("", text)


def shorten(text: str, width: int = 300) -> str:
    text = " ".join(plain(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def error_of(cell) -> dict | None:
    """The first error output of a code cell, or None."""
    for output in cell.get("outputs", []) or []:
        if output.get("output_type") == "error":
            return output
    return None


def error_line(cell) -> str:
    """``Name: message`` of a cell's error (what a student may see), '' if it has none."""
    error = error_of(cell)
    if error is None:
        return ""
    evalue = plain(str(error.get("evalue", ""))).strip()
    return f"{error.get('ename', 'Error')}: {evalue}" if evalue else str(error.get("ename", "Error"))


def failed_line(cell) -> int | None:
    """The line of the cell where its error was raised, from IPython's traceback (``Cell In[..], line N``)."""
    error = error_of(cell)
    if error is None:
        return None
    found = None
    for frame in error.get("traceback", []) or []:
        frame = plain(frame)
        match = re.search(r"(?:Cell In\s*\[\d*\]|<ipython-input-[^>]*>), line (\d+)", frame)
        if match:
            found = int(match.group(1))
            break  # the first frame that is the cell itself is the line of the test that failed
    return found


def copy_tree_files(src: Path, dest: Path, skip_notebooks: bool = True) -> None:
    """Copy the files of ``src`` into ``dest`` (sub-folders too), except notebooks and junk."""
    if not src.is_dir():
        return
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if any(part in JUNK for part in rel.parts) or not path.is_file() or path.is_symlink():
            continue
        if skip_notebooks and path.suffix == ".ipynb":
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
