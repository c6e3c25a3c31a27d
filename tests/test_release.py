"""The committed student notebooks (``course/``) are the current release of ``solutions/``.

1. ``course/<assignment>/`` is exactly what ``nbgrader generate_assignment`` makes of
   ``solutions/<assignment>/`` today (cells, their types and nbgrader metadata; other files byte
   for byte).
2. Untouched, the release earns nothing: every graded test cell fails when the notebook runs, and
   the release holds no solution code and no hidden tests.
"""
from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import nbformat
import pytest

import grading_harness as grading

pytestmark = pytest.mark.slow

ASSIGNMENTS = grading.assignments()
STALE = "course/ is stale: run `make release` and commit"
MARKERS = (grading.BEGIN_SOLUTION, grading.END_SOLUTION, grading.BEGIN_HIDDEN, grading.END_HIDDEN)
#: Per-cell time limit when running a release (smoke mode: tiny data, few steps).
CELL_TIMEOUT_S = 600


def committed_release(repo_root: Path, assignment: str) -> Path:
    folder = repo_root / "course" / assignment
    if not folder.is_dir():
        pytest.fail(f"{STALE} (there is no {folder.relative_to(repo_root)}/)")
    return folder


@pytest.fixture(scope="module")
def fresh_course(tmp_path_factory) -> grading.Course:
    """Every assignment released again, into a temporary course."""
    course = grading.Course(tmp_path_factory.mktemp("release"), ASSIGNMENTS)
    for assignment in ASSIGNMENTS:
        course.generate_assignment(assignment)
    return course


def files(folder: Path) -> set[str]:
    ignored = {".ipynb_checkpoints", "__pycache__"}
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not ignored & set(p.relative_to(folder).parts) and p.suffix != ".pyc"
    }


def comparable(notebook) -> list[tuple]:
    """What must agree between two releases of a notebook: per cell its type, source and
    nbgrader metadata (cell ids, outputs and other metadata are left out)."""
    return [(cell.cell_type, cell.source, grading.nbgrader_meta(cell)) for cell in notebook.cells]


def differences(committed, fresh) -> str:
    a, b = comparable(committed), comparable(fresh)
    found = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            what = [n for n, u, v in zip(("cell type", "source", "nbgrader metadata"), x, y) if u != v]
            gid = x[2].get("grade_id") or y[2].get("grade_id")
            found.append(f"cell {i}{f' ({gid})' if gid else ''} differs in its {', '.join(what)}")
    if len(a) != len(b):
        found.append(f"{len(a)} cells committed, {len(b)} in a fresh release")
    return "; ".join(found)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_is_up_to_date(assignment, fresh_course, repo_root):
    committed = committed_release(repo_root, assignment)
    fresh = fresh_course.release_dir(assignment)
    ours, theirs = files(committed), files(fresh)
    assert ours == theirs, (
        f"{STALE}: files only in course/{assignment}: {sorted(ours - theirs)}; "
        f"only in a fresh release: {sorted(theirs - ours)}"
    )
    problems = []
    for name in sorted(ours):
        if name.endswith(".ipynb"):
            old, new = grading.read_notebook(committed / name), grading.read_notebook(fresh / name)
            if comparable(old) != comparable(new):
                problems.append(f"{name}: {differences(old, new)}")
        elif not filecmp.cmp(committed / name, fresh / name, shallow=False):
            problems.append(f"{name}: contents differ")
    assert not problems, f"{STALE}\n" + "\n".join(f"- course/{assignment}/{p}" for p in problems)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_has_no_solution_or_hidden_tests(assignment, repo_root):
    committed = committed_release(repo_root, assignment)
    problems = []
    for source_path in sorted((repo_root / "solutions" / assignment).glob("*.ipynb")):
        release_path = committed / source_path.name
        if not release_path.is_file():
            problems.append(f"{source_path.name}: not released")
            continue
        source, release = grading.read_notebook(source_path), grading.read_notebook(release_path)
        text = "\n".join(cell.source for cell in release.cells)
        flat = _flat(text)
        for marker in MARKERS:
            if marker in text:
                problems.append(f"{release_path.name}: contains `{marker}`")
        for cell in source.cells:
            blocks = grading.marked_blocks(cell.source, grading.BEGIN_HIDDEN, grading.END_HIDDEN)
            blocks += grading.marked_blocks(cell.source, grading.BEGIN_SOLUTION, grading.END_SOLUTION)
            for block in blocks:
                if len(_flat(block)) >= 20 and _flat(block) in flat:
                    first = block.strip().splitlines()[0]
                    problems.append(
                        f"{release_path.name}: cell {grading.grade_id(cell)} leaks solution/hidden code: {first!r}..."
                    )
        for cell in release.cells:
            meta = grading.nbgrader_meta(cell)
            if cell.cell_type == "code" and (meta.get("solution") or meta.get("grade")) and cell.get("outputs"):
                problems.append(f"{release_path.name}: cell {meta.get('grade_id')} has outputs")
    assert not problems, f"the release of {assignment} gives answers away:\n" + "\n".join(problems)


def _flat(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_fails_every_graded_cell(assignment, repo_root, tmp_path):
    from nbclient import NotebookClient

    workdir = tmp_path / assignment
    shutil.copytree(committed_release(repo_root, assignment), workdir, ignore=grading.IGNORED)
    problems = []
    notebooks = sorted(workdir.glob("*.ipynb"))
    assert notebooks, f"course/{assignment} has no notebook"
    for path in notebooks:
        notebook = grading.read_notebook(path)
        tests = [c for c in notebook.cells if grading.is_autograded_test(c)]
        if not tests:
            problems.append(f"{path.name}: no graded test cell")
            continue
        kernel = notebook.metadata.get("kernelspec", {}).get("name", "python3")
        NotebookClient(
            notebook, timeout=CELL_TIMEOUT_S, kernel_name=kernel, allow_errors=True,
            resources={"metadata": {"path": str(workdir)}},
        ).execute()
        nbformat.write(notebook, str(path))  # for a look after a failure (pytest keeps tmp_path)
        for cell in tests:
            if not any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
                problems.append(f"{path.name}: test cell {grading.grade_id(cell)} ran without an error")
    assert not problems, (
        f"untouched, the release of {assignment} would earn points (executed copy in {workdir}):\n"
        + "\n".join(problems)
    )
