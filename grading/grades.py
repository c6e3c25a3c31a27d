"""Export the gradebook with pandas: one row per question, and a table of totals.

- ``grades-questions.csv``: student, assignment, notebook, question (grade cell id), score,
  max_score, auto_score, manual_score, needs_manual_grade, outcome -- one row per graded cell of
  every submission;
- ``grades.csv``: one row per student: for every assignment its questions' scores
  (``<assignment>/<question>``), its total (``<assignment>``) and outcome, then the overall
  ``total`` and ``max_total``. A student who did not hand an assignment in gets empty cells and
  the outcome ``not submitted``.
"""
from __future__ import annotations

from pathlib import Path

from .autograde import read_outcomes
from .course import Course

QUESTION_COLUMNS = ["student", "assignment", "notebook", "question", "score", "max_score", "auto_score",
                    "manual_score", "needs_manual_grade", "outcome", "integrity"]


def question_table(course: Course):
    import pandas as pd

    records = read_outcomes(course)
    outcomes = {(r["student"], r["assignment"], r["notebook"]): r["outcome"] for r in records}
    integrity = {(r["student"], r["assignment"], r["notebook"]): r.get("integrity") or "" for r in records}
    rows, order = [], {}
    with course.gradebook() as gb:
        assignments = sorted(gb.assignments, key=lambda a: a.name)
        for assignment in assignments:
            for notebook in assignment.notebooks:
                for i, cell in enumerate(notebook.grade_cells):
                    order[(assignment.name, notebook.name, cell.name)] = i
            for submission in assignment.submissions:
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        rows.append({
                            "student": submission.student.id, "assignment": assignment.name,
                            "notebook": notebook.name, "question": grade.name,
                            "score": grade.score if (grade.auto_score is not None or grade.manual_score is not None) else None,
                            "max_score": grade.max_score, "auto_score": grade.auto_score,
                            "manual_score": grade.manual_score, "needs_manual_grade": bool(grade.needs_manual_grade),
                            "outcome": outcomes.get((submission.student.id, assignment.name, notebook.name), ""),
                            "integrity": integrity.get((submission.student.id, assignment.name, notebook.name), ""),
                        })
        students = sorted(s.id for s in gb.students)
        assignment_names = [a.name for a in assignments]
        max_scores = {a.name: float(a.max_score) for a in assignments}
    table = pd.DataFrame(rows, columns=QUESTION_COLUMNS)
    if not table.empty:
        table["_order"] = [order.get((a, n, q), 0) for a, n, q in zip(table.assignment, table.notebook, table.question)]
        table = table.sort_values(["assignment", "student", "notebook", "_order"]).drop(columns="_order")
        table = table.reset_index(drop=True)
    return table, students, assignment_names, max_scores


def totals_table(questions, students, assignments, max_scores):
    import pandas as pd

    wide = pd.DataFrame({"student": students}).set_index("student")
    for assignment in assignments:
        part = questions[questions.assignment == assignment]
        if part.empty:
            wide[assignment] = float("nan")
            wide[f"{assignment}:outcome"] = "not submitted"
            continue
        multi = part.notebook.nunique() > 1
        names = part.notebook + ":" + part.question if multi else part.question
        part = part.assign(column=assignment + "/" + names)
        scores = part.pivot_table(index="student", columns="column", values="score", aggfunc="first", sort=False)
        columns = list(dict.fromkeys(part.column))
        for column in columns:
            wide[column] = scores[column] if column in scores else float("nan")
        total = part.groupby("student")["score"].sum(min_count=1)
        wide[assignment] = total
        outcome = part.groupby("student")["outcome"].agg(lambda o: ",".join(sorted({x for x in o if x})) or "graded")
        wide[f"{assignment}:outcome"] = outcome
        wide[f"{assignment}:outcome"] = wide[f"{assignment}:outcome"].fillna("not submitted")
        found = part.groupby("student")["integrity"].agg(lambda x: "; ".join(sorted({v for v in x if v})))
        wide[f"{assignment}:integrity"] = found
        wide[f"{assignment}:integrity"] = wide[f"{assignment}:integrity"].fillna("")
    wide["total"] = wide[[a for a in assignments]].sum(axis=1, min_count=1) if assignments else float("nan")
    wide["max_total"] = sum(max_scores.get(a, 0.0) for a in assignments)
    return wide.reset_index()


def export(course: Course, out_dir: Path | None = None) -> tuple[Path, Path]:
    out_dir = Path(out_dir or course.root)
    out_dir.mkdir(parents=True, exist_ok=True)
    questions, students, assignments, max_scores = question_table(course)
    totals = totals_table(questions, students, assignments, max_scores)
    q_path, t_path = out_dir / "grades-questions.csv", out_dir / "grades.csv"
    questions.to_csv(q_path, index=False)
    totals.to_csv(t_path, index=False)
    return q_path, t_path
