"""End to end: release each assignment, submit fake students, autograde them with nbgrader.

For every assignment of ``solutions/`` one nbgrader course is built in a temporary folder and ONE
``nbgrader autograde`` run grades all of its fake students:

- ``solution``: the release with the instructor's solution typed into the solution cells;
- ``release``: the release handed in untouched;
- one student per variant file ``tests/submissions/<assignment>/<variant>.py`` (see
  ``tests/grading_harness.py``): realistic wrong implementations must lose points, correct alternative
  implementations must get full marks.

A wrong variant that gets full marks means the notebook's tests have a hole: strengthen the tests,
never the variant. Run with ``-s`` to see the table of scores (also written to the pytest tmp dir).
"""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

import grading_harness as grading

pytestmark = pytest.mark.slow

#: Variants an assignment must have, by expected outcome: name -> what it gets wrong / does instead.
REQUIRED_VARIANTS = {
    "01-attention": {
        "loses points": {
            "no_scale": "no 1/sqrt(d) scaling of the scores",
            "softmax_over_queries": "softmax over the queries axis instead of the keys axis",
            "mask_ignored": "the mask is ignored",
            "mask_inverted": "the mask is inverted (True = padding)",
            "seed_fill_value": "the seed's fill value 1e-32 instead of -inf",
            "heads_by_reshape": "heads split with a bare reshape, no transpose",
            "no_output_projection": "no output projection",
            "dropout_in_eval": "dropout applied in eval mode",
            "bias_ignored": "bias=True always",
        },
        "full marks": {
            "einsum": "scores and values with torch.einsum",
            "permute_order": "another reshape/permute order",
            "scaled_queries": "queries scaled before the product",
            "fill_minus_1e9": "fill value -1e9 instead of -inf",
        },
    },
    "02-positional-encoding": {
        "loses points": {
            "sin_cos_swapped": "sin on odd and cos on even dimensions",
            "pe_parameter": "the table stored as an nn.Parameter",
            "wrong_exponent": "wrong exponent in the frequencies",
            "positions_from_one": "positions start at 1",
            "dropout_ignored": "dropout never applied",
        },
        "full marks": {},
    },
    "03-transformer": {
        "loses points": {},
        "full marks": {},
    },
    "04-translation": {
        "loses points": {
            "no_shift": "labels equal the decoder input (the seed's bug)",
            "loss_counts_padding": "the loss averages over padding too",
        },
        "full marks": {
            "cross_entropy_ignore_index": "F.cross_entropy with ignore_index",
        },
    },
}
RESERVED = {"solution", "release"}  # student ids of the reference submissions
#: Per-cell time limit for the test run (the course config allows 30 minutes for real training).
CELL_TIMEOUT_S = 600
ASSIGNMENTS = sorted(set(grading.assignments()) | set(REQUIRED_VARIANTS))
#: The kernels of several assignments run at once on few cores: one math thread each (unless the
#: caller chose otherwise) avoids oversubscription; the test tensors are tiny anyway.
KERNEL_ENV = {name: os.environ.get(name, "1") for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
#: A later notebook uses the instructor's reference of the earlier ones (as `python -m grading` does):
#: a wrong answer in 01 must cost points in 01 only.
KERNEL_ENV["COURSE_NOTEBOOKS"] = str(grading.ROOT / "solutions")


@dataclass
class Graded:
    assignment: str
    grades: dict[str, grading.StudentGrades]
    variants: dict[str, grading.Variant]
    expected: dict[str, str]  # student -> "full marks" | "loses points" | "zero"
    table: str

    def __repr__(self) -> str:  # keeps pytest's tracebacks short; the table is in the messages
        return f"Graded({self.assignment!r}, {len(self.grades)} submissions)"

    def line(self, student: str) -> str:
        variant = self.variants.get(student)
        what = f" ({variant.description})" if variant else ""
        return (
            f"- {student}{what}: expected {self.expected[student]}, "
            f"got {self.grades[student].describe()}"
        )

    def report(self, title: str, students: list[str]) -> str:
        return "\n".join([f"{self.assignment}: {title}", *map(self.line, students), "", self.table])


def prepare(assignment: str, folder: Path) -> tuple[grading.AutogradeRun, dict[str, grading.Variant]]:
    """Release the assignment in a temporary course, submit every fake student, start autograde."""
    variants = {v.name: v for v in grading.load_variants(assignment)}
    clash = RESERVED & set(variants)
    assert not clash, f"variant files may not be named {sorted(clash)}: those are reserved student ids"
    course = grading.Course(folder, [assignment], env=KERNEL_ENV)
    course.generate_assignment(assignment)
    course.submit_cells(assignment, "solution")
    course.submit_release(assignment, "release")
    for variant in variants.values():
        course.submit_cells(assignment, variant.name, variant.cells)
    return course.start_autograde(assignment, f"--Execute.timeout={CELL_TIMEOUT_S}"), variants


@pytest.fixture(scope="session")
def autograde_runs(request, tmp_path_factory):
    """One background ``nbgrader autograde`` per selected assignment, all started at once (the
    kernels of different assignments then share the CPU cores); each test waits for its own."""
    selected = sorted({
        item.callspec.params["graded"]
        for item in request.session.items
        if hasattr(item, "callspec") and "graded" in item.callspec.params
    })
    runs = {}
    for assignment in selected:
        try:
            runs[assignment] = prepare(assignment, tmp_path_factory.mktemp(f"course-{assignment}"))
        except Exception as error:  # reported by the tests of that assignment
            runs[assignment] = error
    yield runs
    for run in runs.values():
        if isinstance(run, tuple):
            run[0].kill()


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, autograde_runs, tmp_path_factory) -> Graded:
    assignment = request.param
    run = autograde_runs.get(assignment)
    if run is None:  # not started by autograde_runs (e.g. selected in an unusual way): start now
        run = prepare(assignment, tmp_path_factory.mktemp(f"course-{assignment}"))
    if isinstance(run, BaseException):
        raise run
    run, variants = run
    grades = run.wait()

    expected = {"solution": "full marks", "release": "zero"}
    expected |= {name: v.expected for name, v in variants.items()}
    order = ["solution", "release", *sorted(variants, key=lambda n: (variants[n].full_marks, n))]
    grades = {s: grades[s] for s in order}
    table = grading.format_table(grades, expected)
    reasons = [
        f"  {student}: {grades[student].lost[0]}"
        for student in order if student != "release" and grades[student].lost
    ]
    if reasons:  # why each submission lost points (its first failing test cell): a sanity check
        table += "\n\nfirst lost cell of each submission:\n" + "\n".join(reasons)
    report = tmp_path_factory.getbasetemp() / f"grading-{assignment}.txt"
    report.write_text(table + "\n", encoding="utf-8")
    print(f"\n{assignment}: points per test cell (also in {report})\n{table}")
    return Graded(assignment, grades, variants, expected, table)


@pytest.mark.parametrize("assignment", sorted(REQUIRED_VARIANTS))
def test_required_variants_exist(assignment):
    """The variants this test promises (see REQUIRED_VARIANTS) exist, with the right expectation."""
    variants = {v.name: v for v in grading.load_variants(assignment)}
    problems = []
    for expected, names in REQUIRED_VARIANTS[assignment].items():
        for name, what in names.items():
            if name not in variants:
                problems.append(f"- missing tests/submissions/{assignment}/{name}.py ({what}; expected: {expected})")
            elif variants[name].expected != expected:
                problems.append(f"- {name}.py says `Expected: {variants[name].expected}`, should be {expected}")
    assert not problems, "variants missing or mislabelled:\n" + "\n".join(problems)


def _code(source: str) -> str:
    """The code of a cell, without comments, docstrings and formatting (to compare two versions)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if grading.load_variants(a)])
def test_variants_are_edits_of_solution_cells(assignment, repo_root):
    """Every section of a variant names a solution cell, parses, and changes the solution's code."""
    solutions = {}
    for path in sorted((repo_root / "solutions" / assignment).glob("*.ipynb")):
        solutions |= grading.solution_cells(grading.read_notebook(path))
    problems = []
    for variant in grading.load_variants(assignment):
        for gid, source in variant.cells.items():
            where = f"{variant.name}.py [{gid}]"
            if gid not in solutions:
                problems.append(f"{where}: no solution cell {gid!r} (there are {sorted(solutions)})")
                continue
            try:
                same = _code(source) == _code(solutions[gid])
            except SyntaxError as error:
                problems.append(f"{where}: does not parse: {error}")
                continue
            if same:
                problems.append(f"{where}: the same code as the solution (only comments/docstrings differ)")
    assert not problems, "\n".join(problems)


def test_variant_counts():
    """At least 10 wrong implementations and 3 correct alternatives over the graded assignments."""
    variants = [v for a in REQUIRED_VARIANTS for v in grading.load_variants(a)]
    wrong = [v.name for v in variants if not v.full_marks]
    right = [v.name for v in variants if v.full_marks]
    assert len(wrong) >= 10 and len(right) >= 3, f"wrong: {wrong}; correct: {right}"


def test_solution_gets_full_marks(graded):
    """The instructor's solution gets every point of every test cell (no error, nothing on stderr)."""
    grades = graded.grades["solution"]
    assert grades.full_marks, graded.report("the solution lost points", ["solution"])


def test_untouched_release_scores_zero(graded):
    grades = graded.grades["release"]
    assert grades.score == 0, graded.report("the untouched release got points", ["release"])


def test_wrong_variants_lose_points(graded):
    wrong = [n for n, v in graded.variants.items() if not v.full_marks]
    holes = [n for n in wrong if graded.grades[n].full_marks]
    assert not holes, graded.report(
        "wrong implementations got full marks (a hole in the notebook's tests: strengthen the tests)", holes
    )


def test_correct_variants_get_full_marks(graded):
    right = [n for n, v in graded.variants.items() if v.full_marks]
    failed = [n for n in right if not graded.grades[n].full_marks]
    assert not failed, graded.report("correct alternative implementations lost points", failed)


#: Errors that mean the submission is broken (a typo in a variant file), not wrong on purpose.
BROKEN = ("SyntaxError", "IndentationError", "NameError", "UnboundLocalError")


def test_submissions_are_not_broken(graded):
    """Every submission but the release runs its answer cells without an error, and no test cell
    fails on a NameError/SyntaxError: a variant must lose points for what it gets wrong on purpose,
    not because its file is broken."""
    broken = []
    for student, grades in graded.grades.items():
        if student == "release":
            continue
        errors = [f"answer cell {gid}: {problem}" for gid, problem in grades.answer_errors.items()]
        errors += [f"{cell.name}: {cell.problem}" for cell in grades.lost if cell.problem.startswith(BROKEN)]
        if errors:
            broken.append(f"- {student}: " + "; ".join(errors))
    assert not broken, f"{graded.assignment}: broken submissions (fix the variant file):\n" + "\n".join(broken)
