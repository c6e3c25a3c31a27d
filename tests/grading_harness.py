"""Grade notebooks with nbgrader in a throw-away course folder (test harness, future instructor tool).

A :class:`Course` is a temporary copy of the course's nbgrader set-up: ``nbgrader_config.py`` and
the assignments' source folders from ``solutions/``. The config takes the folder that holds it as
nbgrader's root, so everything nbgrader writes -- the release, the gradebook, ``submitted/``,
``autograded/`` -- stays in the temporary folder and the repository is never touched::

    course = Course(tmp_path / "course", ["01-attention"])
    release = course.generate_assignment("01-attention")       # what a student gets
    for variant in load_variants("01-attention"):
        course.submit_cells("01-attention", variant.name, variant.cells)
    grades = course.autograde("01-attention")                  # {student: StudentGrades}

Submissions are built from the *released* notebooks (what a student edits): the source of the
solution cells, found by ``grade_id``, is replaced with given code; solution cells not named keep
the instructor's solution (:func:`solution_cells`), so a variant changes exactly one thing.

Variants are files ``tests/submissions/<assignment>/<variant>.py``. A variant is written as an
*edit* of the instructor's solution cell: the lines it changes, not a copy of the whole cell, so that
a change to the solution reaches every variant (and a variant whose edit no longer fits says so)::

    \"\"\"Wrong: no 1/sqrt(d) scaling of the scores. Expected: loses points.\"\"\"
    # %% [sdpa] replace
        scores = query @ key.transpose(-2, -1) / math.sqrt(d)
    # %% with
        scores = query @ key.transpose(-2, -1)

- ``# %% [grade_id] replace`` starts the lines to replace, ``# %% with`` (next) the lines that take
  their place; both blocks run to the next ``# %%`` marker and may span several lines (blank lines at
  their start and end do not count; the ``with`` block may be empty: the lines are deleted).
- The ``replace`` lines must stand, as whole lines and exactly once, in the *current* solution cell
  of that grade_id: the cell of ``solutions/<assignment>/*.ipynb`` with its ``### BEGIN/END SOLUTION``
  lines removed (:func:`solution_cells`). Add unchanged lines around the change until they do.
  Otherwise :class:`GradingError` names the variant file and the grade_id: a *stale variant* (the
  solution changed under it): write the edit again against the new solution.
- A cell may take several ``replace``/``with`` pairs (they must not overlap; each is looked up in
  the solution cell as it is, not as the pairs before it left it), and a file may edit several cells.
- ``# %% [grade_id]`` alone (no ``replace``) gives the cell's whole code instead: for variants that
  really rewrite a cell (another algorithm, a short cell without the solution's docstring). Prefer
  an edit when the change is a few lines. A cell is either rewritten or edited, not both.

:attr:`Variant.cells` is the result either way, grade_id -> the code the fake student submits.

The header (everything before the first ``# %%`` marker) says what the variant is and
must contain ``Expected: full marks`` or ``Expected: loses points``. A wrong variant may also name
what its failure must tell the student, one ``Message: <text>`` line per expected substring::

    \"\"\"Wrong: key.transpose(1, 2), right for 3-D inputs only. Expected: loses points.

    Message: key.transpose(-2, -1)
    \"\"\"

The first test cell that loses points must then fail with an error whose full text (the exception's
message, e.g. ``utils.testing.call``'s with its hint -- not only PyTorch's) contains every one of them
(:attr:`Variant.messages`, :attr:`CellGrade.error`).

nbgrader exits 0 after many failures (a kernel that died, a notebook it could not execute), so
:meth:`Course.autograde` checks the gradebook instead: every student that was submitted must have
a submission, an autograded copy of every notebook and a score for every autograded test cell;
otherwise it raises :class:`GradingError` with nbgrader's log.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CONFIG_NAME = "nbgrader_config.py"
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
NB_VERSION = 4

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: A section of a variant file that gives a whole cell: ``# %% [grade_id]`` on a line of its own.
SECTION = re.compile(r"^# %% \[(?P<grade_id>[^\]\s]+)\][ \t]*$", re.MULTILINE)
#: Any marker line of a variant file: ``# %% [grade_id]`` (a whole cell), ``# %% [grade_id] replace``
#: (the solution's lines an edit replaces) or ``# %% with`` (the lines that take their place).
MARKER = re.compile(
    r"^# %% (?:\[(?P<grade_id>[^\]\s]+)\](?:[ \t]+(?P<replace>replace))?|(?P<with>with))[ \t]*$", re.MULTILINE
)
#: A line that looks like a marker (``# %%`` at its start): it must be one, not a typo taken for code.
MARKER_LIKE = re.compile(r"^# %%.*$", re.MULTILINE)
EXPECTED = re.compile(r"Expected:\s*(?P<expected>full marks|loses points)\.?", re.IGNORECASE)
#: ``Message: <text>`` on a line of its own in a variant's header (the text runs to the end of the line).
MESSAGE = re.compile(r"^[ \t#]*Message:[ \t]*(?P<text>.*?)[ \t]*$", re.MULTILINE)
#: nbgrader uses the student id as a folder name: keep it to a safe alphabet.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
#: Folders and files of an assignment that are never copied (editor and Python droppings).
IGNORED = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc", ".DS_Store")


class GradingError(RuntimeError):
    """nbgrader failed, or left the gradebook without a full set of scores."""


# --------------------------------------------------------------------------------------------
# Notebooks and nbgrader cell metadata
# --------------------------------------------------------------------------------------------
def nbgrader_meta(cell) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def is_solution_cell(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_autograded_test(cell) -> bool:
    """A test cell that the autograder scores (graded, code, not a student answer)."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def read_notebook(path: Path):
    return nbformat.read(str(path), as_version=NB_VERSION)


def assignments(root: Path = ROOT) -> list[str]:
    """The assignments of the course: folders of ``solutions/`` that hold a notebook."""
    source = root / "solutions"
    if not source.is_dir():
        return []
    return sorted(
        p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb"))
    )


def strip_solution_markers(source: str) -> str:
    """The solution cell's source as a student who solved it would write it (no nbgrader markers)."""
    lines = [line for line in source.splitlines() if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION)]
    return "\n".join(lines)


def marked_blocks(source: str, begin: str, end: str) -> list[str]:
    """The text between each ``begin``/``end`` marker pair (e.g. the hidden tests of a cell)."""
    blocks, current = [], None
    for line in source.splitlines():
        if line.strip() == begin:
            current = []
        elif line.strip() == end and current is not None:
            blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def solution_cells(source_notebook) -> dict[str, str]:
    """``grade_id -> source`` of the instructor's solution cells, solution markers removed."""
    return {
        grade_id(cell): strip_solution_markers(cell.source)
        for cell in source_notebook.cells
        if is_solution_cell(cell)
    }


def fill_solution_cells(release_notebook, cells: Mapping[str, str]):
    """A copy of a released notebook whose solution cells ``cells`` (grade_id -> code) are filled in.

    Raises :class:`GradingError` if a grade_id is not a solution cell of the notebook: a typo in a
    variant file must not silently submit the untouched release.
    """
    notebook = nbformat.from_dict(release_notebook)  # deep copy
    solution_ids = {grade_id(cell) for cell in notebook.cells if is_solution_cell(cell)}
    unknown = sorted(set(cells) - solution_ids)
    if unknown:
        raise GradingError(
            f"no solution cell with grade_id {unknown} in the notebook (solution cells: {sorted(solution_ids)})"
        )
    for cell in notebook.cells:
        if is_solution_cell(cell) and grade_id(cell) in cells:
            cell.source = cells[grade_id(cell)]
    return notebook


# --------------------------------------------------------------------------------------------
# Variants: tests/submissions/<assignment>/<variant>.py
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One implementation of an assignment's solution cells, submitted as a fake student."""

    assignment: str
    name: str
    description: str
    full_marks: bool  #: expected outcome: full marks, or at least one test cell loses points
    cells: Mapping[str, str]  #: grade_id -> source of the solution cell
    path: Path | None = None
    #: substrings that the error of the first test cell losing points must contain (``Message:`` lines)
    messages: tuple[str, ...] = ()

    @property
    def expected(self) -> str:
        return "full marks" if self.full_marks else "loses points"

    @classmethod
    def from_file(cls, path: Path, assignment: str | None = None, solutions: Mapping[str, str] | None = None,
                  root: Path = ROOT) -> "Variant":
        """Read a variant file; its edits are applied to ``solutions`` (grade_id -> solution cell),
        by default the solution cells of ``<root>/solutions/<assignment>/*.ipynb``."""
        path = Path(path)
        assignment = assignment or path.parent.name
        text = path.read_text(encoding="utf-8")
        where = f"variant file {path}"
        header, sections = _parse_sections(text, where)
        match = EXPECTED.search(header)
        if match is None:
            raise GradingError(f"{where}: the header must say `Expected: full marks` or `Expected: loses points`")
        if not STUDENT_ID.match(path.stem):
            raise GradingError(f"{where}: the file name must be a valid student id ({STUDENT_ID.pattern})")
        messages = tuple(m.group("text") for m in MESSAGE.finditer(header))
        if any(not m for m in messages):
            raise GradingError(f"{where}: an empty `Message:` line")
        full_marks = match.group("expected").lower() == "full marks"
        if messages and full_marks:
            raise GradingError(f"{where}: `Message:` lines belong to variants that lose points, not to `Expected: full marks`")
        if solutions is None and any(not isinstance(s, str) for s in sections.values()):
            solutions = assignment_solution_cells(assignment, root)
        cells = {gid: code if isinstance(code, str) else apply_edits(solutions, gid, code, where)
                 for gid, code in sections.items()}
        description = EXPECTED.sub("", MESSAGE.sub("", header)).strip().strip('"').strip("'").strip("#").strip()
        description = " ".join(description.split())
        return cls(
            assignment=assignment,
            name=path.stem,
            description=description,
            full_marks=full_marks,
            cells=cells,
            path=path,
            messages=messages,
        )


#: An edit of a solution cell: (the lines to replace, the lines that take their place).
Edit = tuple[tuple[str, ...], tuple[str, ...]]


def _block(text: str) -> tuple[str, ...]:
    """The lines of a section's body (after its marker line), blank lines at its start and end dropped."""
    lines = text.split("\n")[1:]  # [0] is what follows the marker on its own line: nothing
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return tuple(lines)


def _parse_sections(text: str, where: str) -> tuple[str, dict[str, str | list[Edit]]]:
    """A variant file's header and its sections in the file's order: grade_id -> the whole cell's code
    (``# %% [grade_id]``) or the list of its edits (``replace``/``with`` pairs)."""
    markers = list(MARKER.finditer(text))
    known = {m.start() for m in markers}
    for line in MARKER_LIKE.finditer(text):
        if line.start() not in known:
            raise GradingError(
                f"{where}: {line.group(0)!r} is not a marker: `# %% [grade_id]`, `# %% [grade_id] replace` or `# %% with`"
            )
    if not markers:
        raise GradingError(f"{where}: no `# %% [grade_id]` or `# %% [grade_id] replace` section")
    header = text[: markers[0].start()]
    bodies = [text[m.end(): nxt.start() if nxt else len(text)]
              for m, nxt in zip(markers, [*markers[1:], None])]
    sections: dict[str, str | list[Edit]] = {}
    i = 0
    while i < len(markers):
        m, body = markers[i], bodies[i]
        gid = m.group("grade_id")
        if m.group("with"):
            raise GradingError(f"{where}: `# %% with` (line {text.count(chr(10), 0, m.start()) + 1}) without a "
                               "`# %% [grade_id] replace` just before it")
        if m.group("replace"):
            if i + 1 >= len(markers) or not markers[i + 1].group("with"):
                raise GradingError(f"{where}: `# %% [{gid}] replace` must be followed by `# %% with`")
            old, new = _block(body), _block(bodies[i + 1])
            if not old:
                raise GradingError(f"{where}: `# %% [{gid}] replace` with nothing to replace")
            edits = sections.setdefault(gid, [])
            if isinstance(edits, str):
                raise GradingError(f"{where}: [{gid}] is both given whole and edited: choose one")
            edits.append((old, new))
            i += 2
            continue
        if isinstance(sections.get(gid), str):
            raise GradingError(f"{where}: section [{gid}] appears twice")
        if gid in sections:
            raise GradingError(f"{where}: [{gid}] is both given whole and edited: choose one")
        sections[gid] = body.strip("\n") + "\n"
        i += 1
    return header, sections


def assignment_solution_cells(assignment: str, root: Path = ROOT) -> dict[str, str]:
    """``grade_id -> source`` of the solution cells of every notebook of ``<root>/solutions/<assignment>``
    (solution markers removed): what the edits of a variant apply to."""
    notebooks = sorted((Path(root) / "solutions" / assignment).glob("*.ipynb"))
    if not notebooks:
        raise GradingError(f"no notebook in {Path(root) / 'solutions' / assignment}: no solution cells to edit")
    cells: dict[str, str] = {}
    for notebook in notebooks:
        cells |= solution_cells(read_notebook(notebook))
    return cells


def apply_edits(solutions: Mapping[str, str], gid: str, edits: Sequence[Edit], where: str = "variant") -> str:
    """The solution cell ``gid`` with every edit applied.

    Each edit's old lines must stand exactly once, as whole lines, in the solution cell, and edits may
    not overlap; otherwise :class:`GradingError`: the variant is stale (the solution changed)."""
    if gid not in solutions:
        raise GradingError(f"{where}: [{gid}] replace: no solution cell with grade_id {gid!r} "
                           f"(solution cells: {sorted(solutions)})")
    lines = solutions[gid].strip("\n").split("\n")
    spans = []
    for number, (old, new) in enumerate(edits, 1):
        n = len(old)
        hits = [i for i in range(len(lines) - n + 1) if tuple(lines[i: i + n]) == old]
        if len(hits) != 1:
            shown = "\n    ".join(old[:6]) + ("\n    ..." if len(old) > 6 else "")
            found = "does not stand" if not hits else f"stands {len(hits)} times (add unchanged lines around it)"
            raise GradingError(
                f"{where}: stale variant: replace #{number} of [{gid}] {found} in the current solution cell "
                f"{gid!r}; it must stand there exactly once, as whole lines. The solution changed since the "
                f"variant was written: write its edit again against the solution. The lines to replace:\n    {shown}"
            )
        spans.append((hits[0], hits[0] + n, new, number))
    spans.sort()
    for (_, end, _, a), (start, _, _, b) in zip(spans, spans[1:]):
        if start < end:
            raise GradingError(f"{where}: replace #{a} and #{b} of [{gid}] overlap in the solution cell: merge them")
    out: list[str] = []
    position = 0
    for start, end, new, _ in spans:
        out += lines[position:start]
        out += new
        position = end
    out += lines[position:]
    return "\n".join(out).strip("\n") + "\n"


def load_variants(assignment: str, folder: Path = SUBMISSIONS, root: Path = ROOT) -> list[Variant]:
    """The variants of an assignment, sorted by name; [] if it has no variants folder.

    Edits are applied to the solution cells of ``<root>/solutions/<assignment>`` (read once)."""
    directory = Path(folder) / assignment
    if not directory.is_dir():
        return []
    paths = [p for p in sorted(directory.glob("*.py")) if not p.name.startswith("_")]
    solutions = assignment_solution_cells(assignment, root) if any(map(_has_edits, paths)) else None
    return [Variant.from_file(p, assignment, solutions, root) for p in paths]


def _has_edits(path: Path) -> bool:
    return any(m.group("replace") for m in MARKER.finditer(path.read_text(encoding="utf-8")))


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellGrade:
    name: str
    score: float
    max_score: float
    problem: str = ""  #: why the cell lost points, from the autograded notebook (error or stderr), shortened
    error: str = ""  #: the same, in full: the exception's type and whole message (no traceback), or the stderr text

    @property
    def full(self) -> bool:
        return self.score >= self.max_score

    def __str__(self) -> str:
        text = f"{self.name} {_fmt(self.score)}/{_fmt(self.max_score)}"
        return f"{text} ({self.problem})" if self.problem and not self.full else text


@dataclass
class StudentGrades:
    student: str
    cells: dict[str, CellGrade] = field(default_factory=dict)  #: autograded test cells, notebook order
    #: solution (answer) cells that raised when the autograder ran them: grade_id -> error
    answer_errors: dict[str, str] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cells.values())

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.cells.values())

    @property
    def full_marks(self) -> bool:
        return all(c.full for c in self.cells.values())

    @property
    def lost(self) -> list[CellGrade]:
        return [c for c in self.cells.values() if not c.full]

    def describe(self) -> str:
        """One line: total, then every cell with its score (and why the ones that lost points did)."""
        cells = "; ".join(str(c) for c in self.cells.values())
        return f"{_fmt(self.score)}/{_fmt(self.max_score)} [{cells}]"


def _fmt(x: float) -> str:
    return f"{x:g}"


def _error_text(cell) -> str:
    """The full text of a graded cell's failure: ``ename: evalue`` of its error, else its stderr.

    Only the exception's own message, not the traceback: a traceback quotes the test's source, hints
    included, so a check for a hint's text would pass whether or not the error carried it."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return _strip_ansi(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return _strip_ansi("stderr: " + "".join(output.get("text", "")))
    return ""


def _problem(cell) -> str:
    """Why a graded cell lost points, read from its outputs (nbgrader's own rules), shortened."""
    error = _error_text(cell)
    if error:
        return _shorten(error)
    for output in cell.get("outputs", []):
        if output.get("output_type") == "execute_result":
            return "partial credit: " + _shorten(str(output.get("data", {}).get("text/plain", "")))
    return ""


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)  # ANSI colours of tracebacks


def _shorten(text: str, width: int = 160) -> str:
    text = " ".join(_strip_ansi(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def format_table(grades: Mapping[str, StudentGrades], expected: Mapping[str, str] | None = None,
                 strip_prefix: str = "test_") -> str:
    """A plain-text table: student -> points per test cell, total (and expected outcome if given).

    Column headers are the test cells' grade_ids without ``strip_prefix``."""
    if not grades:
        return "(no grades)"
    cell_names: list[str] = []
    for g in grades.values():
        cell_names += [n for n in g.cells if n not in cell_names]
    short = [n[len(strip_prefix):] if strip_prefix and n.startswith(strip_prefix) else n for n in cell_names]
    header = ["student", *short, "total"] + (["expected", "ok"] if expected else [])
    rows = [header]
    for student, g in grades.items():
        row = [student]
        for n in cell_names:
            c = g.cells.get(n)
            row.append(f"{_fmt(c.score)}/{_fmt(c.max_score)}" if c else "-")
        row.append(f"{_fmt(g.score)}/{_fmt(g.max_score)}")
        if expected:
            exp = expected.get(student, "")
            ok = {"full marks": g.full_marks, "loses points": not g.full_marks, "zero": g.score == 0}.get(exp)
            row += [exp, "" if ok is None else ("yes" if ok else "NO")]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The temporary course
# --------------------------------------------------------------------------------------------
class Course:
    """A temporary nbgrader course: the repository's config and some of its assignments."""

    def __init__(
        self,
        path: Path,
        assignments: Iterable[str],
        repo_root: Path = ROOT,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``env``: extra environment variables for nbgrader and the kernels it starts."""
        self.path = Path(path)
        self.extra_env = dict(env or {})
        self.repo_root = Path(repo_root)
        self.python = python
        self.path.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.repo_root / CONFIG_NAME, self.path / CONFIG_NAME)
        config = self._load_config()
        self.course_id = config.CourseDirectory.course_id
        self.db_url = config.CourseDirectory.db_url
        self.source_directory = config.CourseDirectory.source_directory
        self.release_directory = config.CourseDirectory.release_directory
        self.submitted_directory = config.CourseDirectory.get("submitted_directory", "submitted")
        self.autograded_directory = config.CourseDirectory.get("autograded_directory", "autograded")
        self.assignments = list(assignments)
        for assignment in self.assignments:
            src = self.repo_root / self.source_directory / assignment
            if not src.is_dir():
                raise GradingError(f"no assignment {assignment!r}: {src} does not exist")
            shutil.copytree(src, self.path / self.source_directory / assignment, ignore=IGNORED)
        self.log: list[str] = []  #: every nbgrader command run and its output

    def _env(self) -> dict[str, str]:
        """The environment of nbgrader commands: nbgrader runs ``alembic`` from PATH, so the
        interpreter's bin folder (the venv's) goes first even if the venv is not activated."""
        env = os.environ.copy()
        env.update(self.extra_env)
        env["PATH"] = os.pathsep.join([str(Path(self.python).parent), env.get("PATH", "")])
        return env

    def _load_config(self):
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader(CONFIG_NAME, path=str(self.path)).load_config()
        root = Path(config.CourseDirectory.get("root", self.path)).resolve()
        if root != self.path.resolve():
            raise GradingError(f"{CONFIG_NAME} must take its own folder as nbgrader's root, not {root}")
        return config

    # -- paths -----------------------------------------------------------------------------
    def source_dir(self, assignment: str) -> Path:
        return self.path / self.source_directory / assignment

    def release_dir(self, assignment: str) -> Path:
        return self.path / self.release_directory / assignment

    def submitted_dir(self, assignment: str, student: str) -> Path:
        return self.path / self.submitted_directory / student / assignment

    def autograded_dir(self, assignment: str, student: str) -> Path:
        return self.path / self.autograded_directory / student / assignment

    def notebook_names(self, assignment: str) -> list[str]:
        return sorted(p.name for p in self.source_dir(assignment).glob("*.ipynb"))

    def source_notebooks(self, assignment: str) -> dict[str, object]:
        return {n: read_notebook(self.source_dir(assignment) / n) for n in self.notebook_names(assignment)}

    def release_notebooks(self, assignment: str) -> dict[str, object]:
        release = self.release_dir(assignment)
        if not release.is_dir():
            raise GradingError(f"{assignment} is not released yet: call generate_assignment first")
        return {n: read_notebook(release / n) for n in self.notebook_names(assignment)}

    # -- nbgrader --------------------------------------------------------------------------
    def nbgrader(self, *args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run ``python -m nbgrader *args`` (this interpreter's, i.e. the venv's) in the course folder."""
        cmd = [self.python, "-m", "nbgrader", *args]
        proc = subprocess.run(cmd, cwd=self.path, capture_output=True, text=True, timeout=timeout, env=self._env())
        output = proc.stdout + proc.stderr
        self.log.append(f"$ nbgrader {' '.join(args)}  (exit {proc.returncode})\n{output}")
        if check and proc.returncode != 0:
            raise GradingError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n{_tail(output)}")
        return proc

    def generate_assignment(self, assignment: str, *extra: str) -> Path:
        """Release an assignment (what ``make release`` does); returns the release folder."""
        self.nbgrader("generate_assignment", assignment, "--force", *extra)
        release = self.release_dir(assignment)
        missing = [n for n in self.notebook_names(assignment) if not (release / n).is_file()]
        if missing:
            raise GradingError(f"generate_assignment {assignment} wrote no {missing} in {release}")
        return release

    # -- submissions -----------------------------------------------------------------------
    def submit(self, assignment: str, student: str, notebooks: Mapping[str, object]) -> Path:
        """Place ``{notebook name: notebook}`` as ``submitted/<student>/<assignment>/``."""
        if not STUDENT_ID.match(student):
            raise GradingError(f"bad student id {student!r} (must match {STUDENT_ID.pattern})")
        expected = set(self.notebook_names(assignment))
        unknown = set(notebooks) - expected
        if unknown:
            raise GradingError(f"{assignment} has no notebook {sorted(unknown)} (it has {sorted(expected)})")
        folder = self.submitted_dir(assignment, student)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for name, notebook in notebooks.items():
            nbformat.write(notebook, str(folder / name), version=NB_VERSION)
        return folder

    def submit_release(self, assignment: str, student: str) -> Path:
        """Submit the release untouched (a student who handed in without doing anything)."""
        return self.submit(assignment, student, self.release_notebooks(assignment))

    def submit_cells(self, assignment: str, student: str, cells: Mapping[str, str] | None = None) -> Path:
        """Submit the release with the solution cells filled in.

        Every solution cell gets the instructor's solution, except those named in ``cells``
        (grade_id -> code), which get the given code. With ``cells=None``: the solution.
        """
        cells = dict(cells or {})
        notebooks = {}
        releases = self.release_notebooks(assignment)
        sources = self.source_notebooks(assignment)
        found: set[str] = set()
        for name, release in releases.items():
            ids = {grade_id(c) for c in release.cells if is_solution_cell(c)}
            mine = {gid: code for gid, code in cells.items() if gid in ids}
            found |= set(mine)
            notebooks[name] = fill_solution_cells(release, {**solution_cells(sources[name]), **mine})
        if set(cells) - found:
            raise GradingError(f"{assignment}: no solution cell with grade_id {sorted(set(cells) - found)}")
        return self.submit(assignment, student, notebooks)

    # -- grading ---------------------------------------------------------------------------
    def autograde(self, assignment: str, *extra: str, students: Sequence[str] | None = None) -> dict[str, StudentGrades]:
        """Autograde every submission of ``assignment`` in one nbgrader call; return the grades.

        ``students`` defaults to every folder in ``submitted/`` with this assignment. Raises
        :class:`GradingError` if nbgrader failed or any of them has no complete set of scores.
        """
        return self.start_autograde(assignment, *extra, students=students).wait()

    def start_autograde(self, assignment: str, *extra: str, students: Sequence[str] | None = None) -> "AutogradeRun":
        """Start ``nbgrader autograde <assignment> --force`` in the background (see :meth:`autograde`).

        Courses are independent (own folder, own gradebook): several can be graded at once.
        """
        if students is None:
            root = self.path / self.submitted_directory
            students = sorted(p.parent.name for p in root.glob(f"*/{assignment}") if p.is_dir())
        if not students:
            raise GradingError(f"nothing submitted for {assignment}")
        args = ["autograde", assignment, "--force", *extra]
        log_path = self.path / f"autograde-{assignment}.log"
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                [self.python, "-m", "nbgrader", *args], cwd=self.path, env=self._env(),
                stdout=log, stderr=subprocess.STDOUT, text=True,
            )
        return AutogradeRun(self, assignment, list(students), args, proc, log_path)

    def grades(self, assignment: str, student: str) -> StudentGrades:
        """A student's autograded test-cell scores from the gradebook, checked to be complete."""
        from nbgrader.api import Gradebook, MissingEntry

        result = StudentGrades(student)
        with _bin_on_path(self.python), Gradebook(self.db_url, self.course_id) as gb:
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                raise GradingError("no submission in the gradebook") from None
            for notebook in sorted(submission.notebooks, key=lambda nb: nb.name):
                path = self.autograded_dir(assignment, student) / f"{notebook.name}.ipynb"
                if not path.is_file():
                    raise GradingError(f"no autograded notebook {path.name} (nbgrader could not execute it)")
                executed = read_notebook(path)
                order = {grade_id(c): i for i, c in enumerate(executed.cells) if grade_id(c)}
                problems = {grade_id(c): _problem(c) for c in executed.cells if is_autograded_test(c)}
                errors = {grade_id(c): _error_text(c) for c in executed.cells if is_autograded_test(c)}
                for c in executed.cells:
                    if is_solution_cell(c) and any(out.get("output_type") == "error" for out in c.get("outputs", [])):
                        result.answer_errors[grade_id(c)] = _problem(c)
                solution_ids = {c.name for c in notebook.notebook.solution_cells}
                scored = [g for g in notebook.grades if g.name not in solution_ids and g.cell.cell_type == "code"]
                missing = [g.name for g in scored if g.auto_score is None]
                if missing:
                    raise GradingError(f"{notebook.name}: no score for test cells {missing}")
                for g in sorted(scored, key=lambda g: order.get(g.name, len(order))):
                    name = g.name if len(submission.notebooks) == 1 else f"{notebook.name}:{g.name}"
                    score = g.manual_score if g.manual_score is not None else g.auto_score
                    result.cells[name] = CellGrade(name, float(score), float(g.max_score), problems.get(g.name, ""),
                                                   errors.get(g.name, ""))
        if not result.cells:
            raise GradingError("the gradebook has no autograded test cell for this submission")
        return result


class AutogradeRun:
    """A running ``nbgrader autograde``: :meth:`wait` for it, then read and check the gradebook."""

    def __init__(self, course: Course, assignment: str, students: list[str], args: list[str],
                 proc: subprocess.Popen, log_path: Path) -> None:
        self.course, self.assignment, self.students = course, assignment, students
        self.args, self.proc, self.log_path = args, proc, log_path

    def kill(self) -> None:
        """Stop nbgrader (and so its kernels) if it still runs."""
        if self.proc.poll() is None:
            self.proc.terminate()  # nbgrader shuts its kernel down; ipykernel also exits with its parent
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def wait(self, timeout: float | None = None) -> dict[str, StudentGrades]:
        try:
            returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise GradingError(
                f"`nbgrader {' '.join(self.args)}` ran longer than {timeout} s:\n{_tail(self.output())}"
            ) from None
        output = self.output()
        self.course.log.append(f"$ nbgrader {' '.join(self.args)}  (exit {returncode})\n{output}")
        pattern = rf"error processing assignment '{re.escape(self.assignment)}' for student '([^']+)'"
        failed = sorted(set(re.findall(pattern, output)))
        grades, problems = {}, []
        for student in self.students:
            try:
                grades[student] = self.course.grades(self.assignment, student)
            except GradingError as error:
                problems.append(f"- {student}: {error}")
        if returncode != 0 or failed or problems:
            raise GradingError(
                f"`nbgrader {' '.join(self.args)}` failed (exit {returncode}); "
                f"students nbgrader reported as failed: {failed or 'none'}\n"
                + "\n".join(problems)
                + f"\n--- nbgrader output (all of it in {self.log_path}) ---\n{_tail(output)}"
            )
        return grades

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def _bin_on_path(python: str):
    """Opening a Gradebook runs ``alembic`` from PATH: put the interpreter's bin folder first."""
    old = os.environ.get("PATH")
    os.environ["PATH"] = os.pathsep.join([str(Path(python).parent), old or ""])
    try:
        yield
    finally:
        if old is None:
            del os.environ["PATH"]
        else:
            os.environ["PATH"] = old


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])
