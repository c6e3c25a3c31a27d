"""Hostile and broken submissions: each gets a clear outcome, the others are graded normally.

One temporary course with the 01-attention release; one fake student per case below, all graded in
ONE parallel ``python -m grading autograde`` run (2 workers, a short per-cell time limit, a memory
limit), then one test per case checks the recorded outcome (``autograded/outcomes.csv``) and the
score in the gradebook. The reference student (the instructor's solution) must get full marks
whatever the others did; the gradebook must hold exactly one submission per student.

Points of 01-attention: the scaled_dot_product_attention tests are worth 8 of 25; a case that
breaks only the MultiHeadAttention cell therefore scores 8.
"""
from __future__ import annotations

import copy
import hashlib
import importlib.util
from collections import Counter
from pathlib import Path

import nbformat
import pytest

_spec = importlib.util.spec_from_file_location("hostile_helpers", Path(__file__).parent / "hostile" / "helpers.py")
h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(h)

pytestmark = pytest.mark.slow

FULL, SDPA = 25.0, 8.0
CELL_TIMEOUT_S = 20


def _with_code_cell(nb, after: str, code: str):
    index = next(i for i, c in enumerate(nb.cells) if h.grade_id(c) == after)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    return nb


def build_cases(course: Path) -> dict[str, tuple]:
    """student -> (notebook, bytes or str; expected outcome; expected score or a predicate)."""
    sol = h.solutions(course)
    mha = sol["mha"]
    cases = {}
    cases["reference"] = (h.solved(course), "graded", FULL)
    cases["syntax_error"] = (h.solved(course, mha=mha.replace("def forward(", "def forward((", 1)), "graded", SDPA)
    cases["infinite_loop"] = (h.solved(course, mha=mha + "\nwhile True:\n    pass\n"), "timeout", SDPA)
    cases["memory_hog"] = (h.solved(course, mha="hog = bytearray(8 * 1024 ** 3)\n" + mha), "memory", SDPA)
    cases["sys_exit"] = (h.solved(course, mha="import sys\nsys.exit('bye')\n" + mha), "graded", SDPA)
    cases["os_exit"] = (h.solved(course, mha="import os\nos._exit(3)\n" + mha), "crashed", SDPA)
    cases["segfault"] = (h.solved(course, mha="import ctypes\nctypes.string_at(0)\n" + mha), "crashed", SDPA)

    nb = h.solved(course)
    nb.cells = [c for c in nb.cells if h.grade_id(c) not in ("test_helpers", "test_sdpa_mask", "test_mha_bias")]
    cases["deleted_cells"] = (nb, "graded", FULL)

    nb = h.solved(course)
    for gid in ("test_sdpa_shapes", "sdpa"):
        index = next(i for i, c in enumerate(nb.cells) if h.grade_id(c) == gid)
        first = copy.deepcopy(nb.cells[index])
        first["id"] = f"copy-of-{gid}".replace("_", "-")
        if gid == "sdpa":
            first.source = "def scaled_dot_product_attention(*args, **kwargs):\n    raise NotImplementedError\n"
        nb.cells.insert(index, first)  # the first copy is wrong, the last one is graded
    cases["duplicated_cells"] = (nb, "graded", FULL)

    nb = h.solved(course, sdpa=h.release(course).cells[
        next(i for i, c in enumerate(h.release(course).cells) if h.grade_id(c) == "sdpa")].source)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass  # trust me"
            cell.metadata.nbgrader["points"] = 100
    cases["edited_tests"] = (nb, "graded", 0.0)

    cases["not_json"] = ("this is { not a notebook", "invalid", 0.0)
    cases["empty_file"] = ("", "invalid", 0.0)

    nb = h.solved(course)
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nb.metadata["language_info"] = {"name": "R"}
    cases["other_kernel"] = (nb, "graded", FULL)

    noisy_sdpa = sol["sdpa"].replace(
        "def scaled_dot_product_attention(", "import sys, warnings\n\ndef scaled_dot_product_attention(", 1)
    noisy_sdpa += ("\n_original = scaled_dot_product_attention\n"
                   "def scaled_dot_product_attention(*args, **kwargs):\n"
                   "    warnings.warn('this is a harmless warning', RuntimeWarning)\n"
                   "    sys.stderr.write('debug: attention called\\n')\n"
                   "    return _original(*args, **kwargs)\n")
    nb = h.solved(course, sdpa=noisy_sdpa)
    _with_code_cell(nb, "sdpa", "import sys\nprint('progress on stderr', file=sys.stderr)")
    cases["stderr_output"] = (nb, "graded", FULL)

    tamper = (h.HERE / "tamper_cell.py").read_text(encoding="utf-8")
    if h.isolation_available():  # the attack by absolute path too: only isolated kernels stop it
        tamper = f"COURSE_ROOT = {str(course)!r}\n" + tamper
    cases["tamper"] = (_with_code_cell(h.solved(course), "mha", tamper), "graded", FULL)
    return cases


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = h.make_course(tmp_path_factory.mktemp("hostile") / "course")
    h.cli(course, "release")
    cases = build_cases(course)
    for student, (notebook, _, _) in cases.items():
        h.submit(course, student, notebook)
    reference_submission = course / "submitted" / "reference" / "01-attention" / "01-attention.ipynb"
    before = _digest(reference_submission)
    proc = h.cli(course, "autograde", "--workers", "2", "--timeout", "300", "--cell-timeout", str(CELL_TIMEOUT_S),
                 "--memory-mb", "3072", "--force", timeout=900)
    return {"course": course, "cases": cases, "log": proc.stdout + proc.stderr,
            "outcomes": h.outcomes(course), "rows": h.gradebook_rows(course),
            "reference_digest": (before, _digest(reference_submission))}


CASES = ["reference", "syntax_error", "infinite_loop", "memory_hog", "sys_exit", "os_exit", "segfault",
         "deleted_cells", "duplicated_cells", "edited_tests", "not_json", "empty_file", "other_kernel",
         "stderr_output", "tamper"]


def _score(graded, student) -> float:
    return sum(score or 0 for s, a, n, cell, score in graded["rows"] if s == student)


@pytest.mark.parametrize("student", CASES)
def test_case_outcome_and_score(graded, student):
    _, outcome, expected = graded["cases"][student]
    row = graded["outcomes"].get(student)
    assert row is not None, f"no outcome recorded for {student}:\n{graded['log']}"
    assert row["outcome"] == outcome, f"{student}: {row}"
    assert _score(graded, student) == pytest.approx(expected), f"{student}: {row}"
    assert float(row["score"]) == pytest.approx(expected) and float(row["max_score"]) == FULL, row
    if outcome == "graded" and expected == FULL:  # honest, merely untidy submissions: no integrity finding
        assert not row.get("integrity"), f"{student}: flagged: {row['integrity']}"


def test_every_submission_once_in_the_gradebook(graded):
    per_student = Counter(s for s, *_ in graded["rows"])
    assert set(per_student) == set(CASES)
    assert set(per_student.values()) == {h.test_cells()}, per_student  # every test cell once, no row lost or doubled
    assert len(graded["outcomes"]) == len(CASES)


def test_reasons_are_recorded(graded):
    o = graded["outcomes"]
    assert f"{CELL_TIMEOUT_S:g} s" in o["infinite_loop"]["reason"] and "mha" in o["infinite_loop"]["reason"]
    assert "exit code 3" in o["os_exit"]["reason"]
    assert "SIGSEGV" in o["segfault"]["reason"]
    assert "memory" in o["memory_hog"]["reason"]
    assert "empty" in o["empty_file"]["reason"]
    assert "not a valid notebook" in o["not_json"]["reason"]
    assert "test_helpers" in o["deleted_cells"]["notes"] and "test_sdpa_mask" in o["deleted_cells"]["notes"]
    assert "duplicated" in o["duplicated_cells"]["notes"] and "sdpa" in o["duplicated_cells"]["notes"]
    assert "edited" in o["edited_tests"]["notes"] and "test_mha_bias" in o["edited_tests"]["notes"]
    assert "'ir' replaced" in o["other_kernel"]["notes"]


def test_stderr_in_test_cells_does_not_cost_points(graded):
    nb = nbformat.read(str(graded["course"] / "autograded" / "stderr_output" / "01-attention" / "01-attention.ipynb"), 4)
    noisy = [h.grade_id(c) for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
             and any(o.get("name") == "stderr" for o in c.get("outputs", []))]
    assert noisy, "the case must write to stderr inside test cells"  # and yet full marks (above)


def test_tampering_changes_nothing(graded):
    course = graded["course"]
    before, after = graded["reference_digest"]
    assert before == after, "the reference student's submission was modified"
    autograded = course / "autograded" / "reference" / "01-attention" / "01-attention.ipynb"
    assert b"hacked" not in autograded.read_bytes()
    assert _score(graded, "reference") == FULL
    nb = nbformat.read(str(course / "autograded" / "tamper" / "01-attention" / "01-attention.ipynb"), 4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "TAMPER relative found=0 read=0 written=0" in text, text[:2000]
    assert "COURSE_SMOKE=1 " in text  # autograding runs notebooks in smoke mode
    assert f"cwd={course}" not in text  # the kernel did not run inside the course
    # The absolute-path attack is in the notebook only where the fixture's own isolation check
    # passed (it fails, e.g., when the checkout itself lies under /tmp, which kernels see privately).
    if h.isolation_available():
        assert "isolated" in graded["log"], "the fixture attacked by absolute path, but kernels were not isolated"
        assert "TAMPER absolute found=0 read=0 written=0" in text, text[:2000]
    else:
        assert "TAMPER absolute" not in text


def test_hard_deadline_ends_the_whole_job(graded):
    """The last resort: a job still running ``--timeout`` + ``--grace`` seconds after it started is
    killed from outside with every process it started (here: while the kernel is still starting)."""
    import psutil

    course = graded["course"]
    h.submit(course, "slowpoke", h.solved(course))
    proc = h.cli(course, "autograde", "--student", "slowpoke", "--timeout", "1", "--grace", "0.5", "--force")
    row = h.outcomes(course)["slowpoke"]
    assert row["outcome"] == "timeout" and row["reason"].startswith("ended after"), (row, proc.stdout)
    assert float(row["score"]) == 0 and float(row["max_score"]) == FULL
    import re

    leftovers = []  # processes of a job whose sandbox folder is gone: the run is over, they must be too
    for p in psutil.process_iter(["cmdline"]):
        roots = {m.group(1) for a in (p.info["cmdline"] or []) for m in [re.search(r"(.*/grading-sandboxes-[^/]+)", a)] if m}
        if any(not Path(root).exists() for root in roots):
            leftovers.append((p.pid, p.info["cmdline"]))
    assert not leftovers, leftovers
