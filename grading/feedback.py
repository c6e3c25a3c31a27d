"""Per-student feedback that does not reveal the hidden tests.

``nbgrader generate_feedback`` renders the autograded notebook, hidden tests' code and tracebacks
included. Here the feedback is a small HTML page per notebook,
``feedback/<student>/<assignment>/<notebook>.html``, built from the gradebook, the outcome log and
the autograded notebook, that shows for every test cell only: what it checks (its first comment
line, which students already see), the points, passed / failed / not run, and for a failure the
error line (``AssertionError: <the test's message>``), saying whether a visible or a hidden test
failed. No test source, no traceback. The outcome of the grading (time limit, crash, invalid
notebook, restored cells...) is explained at the top.
"""
from __future__ import annotations

import datetime as dt
import html
import shutil
from pathlib import Path

from .autograde import RESTORED_NOTE, read_outcomes
from .course import (Course, error_line, error_of, failed_line, grade_id, hidden_line_ranges, is_test_cell,
                     shorten)

OUTCOME_TEXT = {
    "graded": "Your notebook was graded.",
    "timeout": "Your notebook ran out of time: the cells after the one that was stopped were not run and score 0.",
    "memory": "A cell of your notebook ran out of memory.",
    "crashed": "The Python kernel stopped while running your notebook: the cells after that point were not run.",
    "invalid": "Your file could not be read as a Jupyter notebook, so nothing could be graded.",
    "missing": "This notebook was not in your submission.",
    "failed": "The grader failed on your notebook: it will be graded by hand.",
}

STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.35rem .5rem;vertical-align:top;text-align:left}
th{background:#f3f3f3}.pass{color:#17692e;font-weight:600}.fail{color:#a4161a;font-weight:600}
.skip{color:#8a6d00;font-weight:600}.msg{font-family:ui-monospace,monospace;font-size:.9em;white-space:pre-wrap}
.box{background:#f7f7f7;border-left:4px solid #888;padding:.5rem 1rem;margin:1rem 0}
"""


def _describe(cell) -> str:
    """The first comment line of a test cell (visible to students), if any."""
    for line in cell.source.splitlines():
        line = line.strip()
        if not line or line == RESTORED_NOTE.strip():
            continue
        return line.lstrip("#").strip() if line.startswith("#") and not line.startswith("###") else ""
    return ""


def cell_report(cell, score, max_score) -> dict:
    error = error_of(cell) if cell is not None else None
    message, where = "", ""
    if cell is None:
        status = "not run"
        message = "this test was not run"
    elif error is not None and error.get("ename") == "CellNotRun":
        status, message = "not run", shorten(str(error.get("evalue", "")), 300)
    elif score is None:
        status, message = "to grade", "graded by hand"
    elif score >= max_score:
        status = "passed"
    else:
        status = "failed"
        message = shorten(error_line(cell), 300) if error is not None else ""
        line = failed_line(cell)
        if error is not None and error.get("ename") not in ("CellTimeoutError", "KernelDied"):
            hidden = line is not None and any(a <= line <= b for a, b in hidden_line_ranges(cell.source))
            where = "hidden test" if hidden else "visible test"
    return {"status": status, "message": message, "where": where,
            "what": _describe(cell) if cell is not None else ""}


def notebook_feedback(course: Course, student: str, assignment: str, notebook: str, grades: dict,
                      outcome: dict | None) -> tuple[str, dict]:
    """The HTML page and a summary dict for one submitted notebook."""
    import nbformat

    path = course.autograded / student / assignment / f"{notebook}.ipynb"
    cells = {}
    if path.is_file():
        try:
            nb = nbformat.read(str(path), as_version=4)
            cells = {grade_id(c): c for c in nb.cells if is_test_cell(c)}
        except Exception:
            cells = {}
    rows = []
    for name, (score, max_score) in grades.items():
        report = cell_report(cells.get(name), score, max_score)
        rows.append({"name": name, "score": score, "max_score": max_score, **report})
    total = sum(r["score"] or 0 for r in rows)
    max_total = sum(r["max_score"] for r in rows)
    kind = (outcome or {}).get("outcome", "graded") or "graded"
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Feedback: {e(assignment)}/{e(notebook)} ({e(student)})</title><style>{STYLE}</style></head><body>",
        f"<h1>{e(assignment)} &mdash; {e(notebook)}</h1>",
        f"<p>Student: <b>{e(student)}</b> &middot; Score: <b>{total:g} / {max_total:g}</b></p>",
        f"<div class='box'><p>{e(OUTCOME_TEXT.get(kind, kind))}</p>",
    ]
    if outcome and outcome.get("reason"):
        parts.append(f"<p>Details: {e(outcome['reason'])}</p>")
    if outcome and outcome.get("notes"):
        parts.append(f"<p>Notes: {e(outcome['notes'])}</p>")
    if outcome and outcome.get("integrity"):
        parts.append("<p class='fail'>The grader's integrity check found what the tests rely on changed: "
                     f"{e(outcome['integrity'])}. The tests from there on are held for your instructor to grade "
                     "by hand; the scores below are the automatic ones.</p>")
    parts.append("</div><table><tr><th>test</th><th>checks</th><th>points</th><th>result</th><th>message</th></tr>")
    css = {"passed": "pass", "failed": "fail"}
    for r in rows:
        score = "&ndash;" if r["score"] is None else f"{r['score']:g}"
        label = r["status"] + (f" ({r['where']})" if r["where"] else "")
        parts.append(
            f"<tr><td>{e(r['name'])}</td><td>{e(r['what'])}</td><td>{score} / {r['max_score']:g}</td>"
            f"<td class='{css.get(r['status'], 'skip')}'>{e(label)}</td><td class='msg'>{e(r['message'])}</td></tr>")
    parts.append("</table><p><small>Only the result and the message of each test are shown: the code of the "
                 f"hidden tests stays hidden. Generated {dt.datetime.now():%Y-%m-%d %H:%M}.</small></p></body></html>")
    summary = {"student": student, "assignment": assignment, "notebook": notebook, "score": total,
               "max_score": max_total, "outcome": kind, "tests": rows,
               "integrity": (outcome or {}).get("integrity", "")}
    return "\n".join(parts), summary


#: Files of an exchange submission that `nbgrader release_feedback` needs next to the page.
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")


def write_feedback(course: Course, assignments: list[str] | None = None, students: list[str] | None = None) -> list[Path]:
    outcomes = {(r["student"], r["assignment"], r["notebook"]): r for r in read_outcomes(course)}
    written = []
    jobs = []
    with course.gradebook() as gb:
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            if assignments and assignment.name not in assignments:
                continue
            order = {}
            for notebook in assignment.notebooks:
                source = course.source_notebook(assignment.name, notebook.name)
                if source.is_file():
                    import nbformat

                    ids = [grade_id(c) for c in nbformat.read(str(source), as_version=4).cells]
                    order[notebook.name] = {n: i for i, n in enumerate(ids) if n}
            for submission in assignment.submissions:
                student = submission.student.id
                if students and student not in students:
                    continue
                for notebook in submission.notebooks:
                    rank = order.get(notebook.name, {})
                    grades = sorted(((g.name, (g.score if (g.auto_score is not None or g.manual_score is not None)
                                                else None, float(g.max_score)))
                                     for g in notebook.grades if g.cell.cell_type == "code"),
                                    key=lambda item: rank.get(item[0], 10**6))
                    jobs.append((student, assignment.name, notebook.name, dict(grades)))
    for student, assignment, notebook, grades in jobs:
        page, _ = notebook_feedback(course, student, assignment, notebook, grades,
                                    outcomes.get((student, assignment, notebook)))
        out = course.feedback / student / assignment / f"{notebook}.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
        written.append(out)
        # `nbgrader release_feedback` (the exchange of a JupyterHub) publishes a page under a hash
        # of the submission's secret and reads its time stamp: both come with the submission.
        for name in EXCHANGE_FILES:
            stamp = course.submitted / student / assignment / name
            if stamp.is_file():
                shutil.copyfile(stamp, out.parent / name)
    return written
