"""A later notebook is graded on the instructor's reference of the earlier ones.

Notebook 03-transformer builds its model from ``PositionalEncoding`` of 02 (and the attention of
01). ``python -m grading autograde`` grades a student whose 02 is wrong and whose 03 is right: 02
loses points, 03 gets every point — the kernel of 03 loads the reference definitions the grader
put in its sandbox (``COURSE_NOTEBOOKS``), not the student's own 02, which the grader never shows it.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("hostile_helpers", Path(__file__).parent / "hostile" / "helpers.py")
h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(h)

pytestmark = pytest.mark.slow

EARLIER, LATER = "02-positional-encoding", "03-transformer"
# sin and cos swapped: a wrong table, every shape right (a realistic mistake, see tests/submissions/).
WRONG = ("table[:, 0::2] = torch.sin(angles)", "table[:, 0::2] = torch.cos(angles)"), \
        ("table[:, 1::2] = torch.cos(angles)", "table[:, 1::2] = torch.sin(angles)")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = h.make_course(tmp_path_factory.mktemp("chain") / "course", ("01-attention", EARLIER, LATER))
    h.cli(course, "release")
    answer = h.solutions(course, EARLIER)["positional_encoding"]
    for old, new in WRONG:
        assert old in answer, f"the solution of {EARLIER} changed: update WRONG ({old!r} is gone)"
        answer = answer.replace(old, new)
    h.submit(course, "pat", h.solved(course, EARLIER, positional_encoding=answer), EARLIER)
    h.submit(course, "pat", h.solved(course, LATER), LATER)
    # No COURSE_NOTEBOOKS from the test session: the grader must set it itself.
    saved = os.environ.pop("COURSE_NOTEBOOKS", None)
    try:
        h.cli(course, "autograde", "--workers", "1", "--timeout", "900", timeout=1200)
    finally:
        if saved is not None:
            os.environ["COURSE_NOTEBOOKS"] = saved
    return course


def test_both_notebooks_ran_to_the_end(graded):
    import csv

    with open(graded / "autograded" / "outcomes.csv", newline="", encoding="utf-8") as f:
        outcomes = {row["assignment"]: row for row in csv.DictReader(f) if row["student"] == "pat"}
    for assignment in (EARLIER, LATER):
        assert outcomes.get(assignment, {}).get("outcome") == "graded", f"{assignment}: {outcomes.get(assignment)}"
        assert not outcomes[assignment].get("integrity"), (  # honest code of 02 and 03: no false alarm
            f"{assignment}: flagged by the integrity check: {outcomes[assignment]['integrity']}")


def test_wrong_earlier_notebook_loses_points_there(graded):
    course = graded
    rows = [row for row in h.gradebook_rows(course) if row[1] == EARLIER]
    assert rows and sum(r[4] or 0 for r in rows) < _max(course, EARLIER), f"{EARLIER} with sin/cos swapped kept every point"


def test_later_notebook_is_graded_on_the_reference(graded):
    course = graded
    rows = [row for row in h.gradebook_rows(course) if row[1] == LATER]
    assert rows and _max(course, LATER) > 0, f"{LATER} was not graded"
    lost = [f"{cell}: {score}" for _, _, _, cell, score in rows if (score or 0) < _points(course, LATER)[cell]]
    assert not lost, (f"{LATER} lost points because the student's {EARLIER} is wrong (the grader must run "
                      f"it on the reference of {EARLIER}): {lost}")


def _points(course: Path, assignment: str) -> dict[str, float]:
    import nbformat

    notebook = nbformat.read(str(course / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader.get("points", 0))
            for c in notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")}


def _max(course: Path, assignment: str) -> float:
    return sum(_points(course, assignment).values())


def test_later_notebook_loaded_the_reference(graded):
    """Its setup cell ran without an error and says where the earlier definitions came from."""
    import nbformat

    notebook = nbformat.read(str(graded / "autograded" / "pat" / LATER / f"{LATER}.ipynb"), as_version=4)
    setup = next(c for c in notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup")
    errors = [o for o in setup.outputs if o.output_type == "error"]
    assert not errors, f"the setup cell of {LATER} failed: {errors[0].ename}: {errors[0].evalue}"
    printed = "".join(o.get("text", "") for o in setup.outputs if o.output_type == "stream")
    assert f".reference/{EARLIER}/{EARLIER}.ipynb" in printed, f"not loaded from the grader's reference:\n{printed}"
