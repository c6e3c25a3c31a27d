"""Shared helpers of tests/test_instructor.py and tests/test_hostile.py (loaded by path).

A temporary course (the repository's ``nbgrader_config.py`` and some of ``solutions/``), the
``python -m grading`` CLI run on it, and notebooks built from its release: the instructor's
solution typed into the solution cells, or any other code.

The CLI runs in a subprocess: a subprocess keeps the CLI apart from pytest's process (``tests/grading_harness.py`` is the
pipeline test harness), not the ``grading/`` package.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"


def make_course(path: Path, assignments=("01-attention",)) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "nbgrader_config.py", path / "nbgrader_config.py")
    for assignment in assignments:
        shutil.copytree(REPO / "solutions" / assignment, path / "solutions" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return path


def cli(course: Path | None, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m grading [--root course] args`` from the repository root."""
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    root = ["--root", str(course)] if course else []
    proc = subprocess.run([sys.executable, "-m", "grading", *root, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"`python -m grading {' '.join(args)}` exited {proc.returncode}:\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def test_cells(assignment: str = "01-attention") -> int:
    """How many graded test cells the assignment's solution notebook has."""
    notebook = nbformat.read(str(REPO / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)
    return sum(1 for c in notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
               and not c.metadata.nbgrader.get("solution"))


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def release(course: Path, assignment: str = "01-attention", name: str | None = None):
    return nbformat.read(str(course / "course" / assignment / f"{name or assignment}.ipynb"), as_version=4)


def solutions(course: Path, assignment: str = "01-attention", name: str | None = None) -> dict[str, str]:
    """grade_id -> the instructor's solution code (markers removed)."""
    source = nbformat.read(str(course / "solutions" / assignment / f"{name or assignment}.ipynb"), as_version=4)
    return {
        grade_id(c): "\n".join(l for l in c.source.splitlines() if l.strip() not in (BEGIN_SOLUTION, END_SOLUTION))
        for c in source.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }


def solved(course: Path, assignment: str = "01-attention", **cells: str):
    """The release with every solution cell solved, except those given (grade_id=code)."""
    nb = release(course, assignment)
    code = {**solutions(course, assignment), **cells}
    for cell in nb.cells:
        if grade_id(cell) in code and cell.metadata.nbgrader.get("solution"):
            cell.source = code[grade_id(cell)]
    return nb


def submit(course: Path, student: str, notebook, assignment: str = "01-attention") -> Path:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{assignment}.ipynb"
    if isinstance(notebook, (bytes, str)):
        target.write_bytes(notebook if isinstance(notebook, bytes) else notebook.encode())
    else:
        nbformat.write(notebook, str(target), version=4)
    return target


def outcomes(course: Path) -> dict[str, dict]:
    with open(course / "autograded" / "outcomes.csv", newline="", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def gradebook_rows(course: Path) -> list[tuple]:
    """(student, assignment, notebook, grade cell, auto_score) of every grade in the gradebook."""
    import sqlite3

    db = sqlite3.connect(str(course / ".nbgrader" / "gradebook.db"))
    try:
        return db.execute(
            "SELECT sa.student_id, a.name, n.name, gc.name, g.auto_score FROM grade g "
            "JOIN submitted_notebook sn ON g.notebook_id = sn.id JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
            "JOIN notebook n ON sn.notebook_id = n.id JOIN assignment a ON sa.assignment_id = a.id "
            "JOIN base_cell gc ON g.cell_id = gc.id").fetchall()
    finally:
        db.close()


def isolation_available() -> bool:
    """Whether grading kernels can run in their own namespaces here (Linux, root, unshare allowed)."""
    import tempfile

    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory() as home:
        proc = subprocess.run([sys.executable, str(REPO / "grading" / "_kernel.py"), "--isolate", "--home", home,
                               "--check", "--", sys.executable, "-c", "import os; print(os.getpid())"],
                              cwd=home, capture_output=True, text=True, timeout=60)
        return proc.returncode == 0 and proc.stdout.strip() == "1"
