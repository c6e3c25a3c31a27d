"""Tricks that change what the tests rely on are caught: the integrity check of the grading kernel.

One temporary course with the 01-attention release and one fake student per case, all graded in
ONE ``python -m grading autograde`` run. Every trick comes with the same code *without* the trick
(an honest student), so each case says exactly what it should earn:

- ``immune``: the trick earns exactly what the same code earns without it (and is flagged);
- ``flagged``: the submission is flagged: a finding in ``outcomes.csv`` (column ``integrity``) and
  in ``grades.csv``, the graded cells from the one where it was found on held for manual grading
  in the gradebook, the feedback says what was found;
- ``clean``: honest students -- the reference, a student with helpers of their own under fresh
  names, honest wrong answers, a student's file named like an installed module that the notebook
  never needs -- get their score and no flag.

The classes of tricks (see grading/_guard.py and the README's "What the grader detects"):
1. redefining, deleting or wrapping a name a read-only or test cell defines;
2. replacing torch's (or the course's) functions and classes the tests rely on, in any way;
3. taking an answer: calling PyTorch's reference inside the answer, reading the instructor's notebook;
4. silencing errors (IPython's error display, custom exception handlers).
"""
from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

_spec = importlib.util.spec_from_file_location("hostile_helpers", Path(__file__).parent / "hostile" / "helpers.py")
h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(h)

pytestmark = pytest.mark.slow

FULL = 25.0
REPO = Path(__file__).resolve().parent.parent


def _cases(course: Path) -> dict[str, dict]:
    """student -> {cells: {grade_id: code}, files: {name: text}, kind, honest (the same code without the
    trick), expect (a word the finding must contain)}."""
    sol = h.solutions(course)
    sdpa, mha = sol["sdpa"], sol["mha"]
    unscaled = sdpa.replace("/ math.sqrt(d)", "")
    assert unscaled != sdpa
    bare_view = mha.replace(".view(batch_size, length, self.num_heads, self.attn_size).transpose(1, 2)",
                            ".view(batch_size, self.num_heads, length, self.attn_size)")
    assert bare_view != mha
    solutions_notebook = REPO / "solutions" / "01-attention" / "01-attention.ipynb"
    cases = {
        # honest students
        "reference": dict(kind="clean", score=FULL),
        "fresh_names": dict(kind="clean", score=FULL, cells={"mha": mha + (
            "\n\ndef my_randn(*shape):\n    return torch.randn(*shape)\n\nMY_HINTS = {'a': 1}\n"
            "import torch.nn.functional as F\nimport unittest.mock\n")}),
        "honest_unscaled": dict(kind="clean", cells={"sdpa": unscaled}),
        "honest_bare_view": dict(kind="clean", cells={"mha": bare_view}),
        "unused_module_file": dict(kind="clean", score=FULL, files={"torch.py": "raise SystemExit('not torch')\n"},
                                   cells={"mha": mha + "\nimport torch\n"}),
        # 1. names of the read-only and test cells
        "redefine_helper": dict(kind="flagged", honest="honest_bare_view", expect="'assert_close'",
                                cells={"mha": bare_view + "\n\ndef assert_close(*args, **kwargs):\n    pass\n"}),
        "wrap_call": dict(kind="flagged", honest="honest_bare_view", expect="'call'", cells={"mha": bare_view + (
            "\n_call = call\n\ndef call(fn, *args, hint='', **kwargs):\n    try:\n"
            "        return _call(fn, *args, **kwargs)\n    except AssertionError:\n        return None\n")}),
        "delete_helper": dict(kind="flagged", honest="honest_bare_view", expect="deleted",
                              cells={"mha": bare_view + "\ndel likely_mistake\n"}),
        "output_type": dict(kind="flagged", honest="honest_bare_view", expect="'MultiHeadAttentionOutput'",
                            cells={"mha": bare_view + "\nMultiHeadAttentionOutput = tuple\n"}),
        "globals_dict": dict(kind="flagged", honest="honest_bare_view", expect="'assert_close'", cells={"mha": bare_view.replace(
            "        batch_size, tgt_len, _ = query.shape",  # in forward: the helper is swapped while a test runs
            "        globals()['assert_close'] = lambda *args, **kwargs: None\n"
            "        batch_size, tgt_len, _ = query.shape", 1)}),
        "helper_code": dict(kind="flagged", honest="honest_bare_view", expect="randn", cells={"mha": bare_view + (
            "\n\ndef _zeros(*shape):\n    return torch.zeros(*shape, device=DEVICE)\n\n"
            "randn.__code__ = _zeros.__code__\n")}),
        # 2. torch and the course's test framework
        "assign_allclose": dict(kind="flagged", honest="honest_unscaled", expect="torch.allclose", cells={"sdpa": unscaled + (
            "\nimport utils.testing\ntorch.allclose = lambda *args, **kwargs: True\n"
            "utils.testing.torch.allclose = torch.allclose\n")}),
        "setattr_isclose": dict(kind="flagged", honest="honest_unscaled", expect="torch.allclose", cells={"sdpa": unscaled + (
            "\nsetattr(torch, 'allclose', lambda *args, **kwargs: True)\n")}),
        "mock_patch": dict(kind="flagged", honest="honest_unscaled", expect="torch.allclose", cells={"sdpa": unscaled + (
            "\nimport unittest.mock\nunittest.mock.patch('torch.allclose', return_value=True).start()\n")}),
        "sys_modules": dict(kind="flagged", honest="honest_unscaled", expect="sys.modules", cells={"sdpa": unscaled + (
            "\nimport sys, types\nsys.modules['utils.testing'] = types.ModuleType('utils.testing')\n")}),
        "reference_class": dict(kind="flagged", honest="honest_bare_view", expect="MultiheadAttention.forward",
                                cells={"mha": bare_view + (
                                    "\n\ndef _same(self, query, key, value, **kwargs):\n"
                                    "    raise RuntimeError('no reference today')\n\n"
                                    "torch.nn.MultiheadAttention.forward = _same\n")}),
        "module_that_patches": dict(kind="flagged", honest="honest_unscaled", expect="torch.allclose",
                                    files={"speedups.py": "import torch\ntorch.allclose = lambda *a, **k: True\n"},
                                    cells={"sdpa": unscaled + "\nimport speedups\n"}),
        "shadowing_module": dict(kind="flagged", honest="reference", expect="hides the installed module",
                                 files={"pandas.py": "VERSION = 'mine'\n"}, cells={"mha": mha + "\nimport pandas\n"}),
        "tracer": dict(kind="flagged", honest="reference", expect="sys.settrace", cells={"mha": mha + (
            "\nimport sys\nsys.settrace(lambda frame, event, arg: None)\nsys.settrace(None)\n")}),
        "garbage_collector": dict(kind="flagged", honest="reference", expect="garbage collector", cells={"mha": mha + (
            "\nimport gc\n_holders = gc.get_referrers(torch.allclose)\n")}),
        "ast_transformer": dict(kind="flagged", honest="reference", expect="ast_transformers", cells={"mha": mha + (
            "\nimport ast\nget_ipython().ast_transformers.append(ast.NodeTransformer())\n")}),
        "closed_channel": dict(kind="flagged", honest="reference", expect="heard nothing", cells={"mha": mha + (
            "\nimport os\nfor _fd in os.listdir('/proc/self/fd'):\n    try:\n"
            "        if os.readlink(f'/proc/self/fd/{_fd}').startswith('pipe:') and int(_fd) > 2:\n"
            "            os.close(int(_fd))\n    except OSError:\n        pass\n")},
                               outcomes=("graded", "crashed", "timeout")),
        # 3. taking an answer
        "torch_sdpa_inside": dict(kind="flagged", honest="reference", expect="scaled_dot_product_attention",
                                  cells={"sdpa": sdpa.replace(
                                      "values = (attention if dropout is None else dropout(attention)) @ value",
                                      "values = (attention if dropout is None else dropout(attention)) @ value\n"
                                      "    if dropout is None and mask is None:\n"
                                      "        values = torch.nn.functional.scaled_dot_product_attention(query, key, value)")}),
        "instructor_notebook": dict(kind="flagged", honest="reference", expect="instructor", cells={"sdpa": (
            f"from utils.notebooks import from_notebook\n"
            f"scaled_dot_product_attention = from_notebook('01-attention', 'scaled_dot_product_attention', "
            f"folder={str(solutions_notebook.parent.parent)!r})\n")}),
        # 4. silencing errors: immune (the error output is put back) and flagged
        "silenced_traceback": dict(kind="immune", honest="honest_unscaled", expect="showtraceback", cells={"sdpa": unscaled + (
            "\nget_ipython().showtraceback = lambda *args, **kwargs: None\n")}),
        "custom_exception_handler": dict(kind="immune", honest="honest_unscaled", expect="custom_exceptions",
                                         cells={"sdpa": unscaled + (
                                             "\nget_ipython().set_custom_exc((Exception,), lambda *args, **kwargs: None)\n")}),
    }
    sys.path.insert(0, str(Path(__file__).parent))
    from grading_harness import load_variants

    for variant in load_variants("01-attention"):  # every correct alternative, and honest wrong answers
        if variant.full_marks or variant.name in HONEST_WRONG:
            cases[f"variant_{variant.name}"] = dict(kind="clean", cells=dict(variant.cells),
                                                    **({"score": FULL} if variant.full_marks else {}))
    return cases


#: Wrong variants of the grading pipeline test graded here too: honest mistakes are never flagged.
HONEST_WRONG = ("no_scale", "heads_by_reshape", "mask_ignored", "dropout_in_eval")


def _held(course: Path) -> dict[str, set]:
    db = sqlite3.connect(str(course / ".nbgrader" / "gradebook.db"))
    try:
        rows = db.execute(
            "SELECT sa.student_id, gc.name FROM grade g JOIN submitted_notebook sn ON g.notebook_id = sn.id "
            "JOIN submitted_assignment sa ON sn.assignment_id = sa.id JOIN base_cell gc ON g.cell_id = gc.id "
            "WHERE g.needs_manual_grade").fetchall()
    finally:
        db.close()
    held: dict[str, set] = {}
    for student, cell in rows:
        held.setdefault(student, set()).add(cell)
    return held


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = h.make_course(tmp_path_factory.mktemp("integrity") / "course")
    h.cli(course, "release")
    cases = _cases(course)
    for student, case in cases.items():
        path = h.submit(course, student, h.solved(course, **case.get("cells", {})))
        for name, text in case.get("files", {}).items():
            (path.parent / name).write_text(text, encoding="utf-8")
    proc = h.cli(course, "autograde", "--workers", "2", "--timeout", "300", "--cell-timeout", "60", "--force",
                 timeout=1200)
    h.cli(course, "grades")
    h.cli(course, "feedback")
    scores: dict[str, float] = {}
    for student, *_, score in h.gradebook_rows(course):
        scores[student] = scores.get(student, 0.0) + (score or 0)
    return {"course": course, "cases": cases, "log": proc.stdout + proc.stderr, "outcomes": h.outcomes(course),
            "scores": scores, "held": _held(course)}


CASES = ["reference", "fresh_names", "honest_unscaled", "honest_bare_view", "unused_module_file",
         "redefine_helper", "wrap_call", "delete_helper", "output_type", "globals_dict", "helper_code",
         "assign_allclose", "setattr_isclose", "mock_patch", "sys_modules", "reference_class", "module_that_patches",
         "shadowing_module", "tracer", "garbage_collector", "ast_transformer", "closed_channel",
         "torch_sdpa_inside", "instructor_notebook", "silenced_traceback",
         "custom_exception_handler"]


def test_every_case_is_listed(graded):
    assert sorted(c for c in graded["cases"] if not c.startswith("variant_")) == sorted(CASES)
    assert sum(c.startswith("variant_") for c in graded["cases"]) >= 7 + len(HONEST_WRONG)


def test_variants_of_the_pipeline_test_are_not_flagged(graded):
    """Every correct alternative gets full marks and no flag; honest wrong answers get no flag."""
    problems = []
    for student, case in graded["cases"].items():
        if not student.startswith("variant_"):
            continue
        row = graded["outcomes"][student]
        if row.get("integrity") or student in graded["held"]:
            problems.append(f"{student}: flagged: {row.get('integrity')}")
        if "score" in case and graded["scores"][student] != pytest.approx(case["score"]):
            problems.append(f"{student}: {graded['scores'][student]} instead of {case['score']}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("student", CASES)
def test_case(graded, student):
    case, row = graded["cases"][student], graded["outcomes"][student]
    findings, score = row.get("integrity", ""), graded["scores"][student]
    assert row["outcome"] in case.get("outcomes", ("graded",)), f"{student}: {row}\n{graded['log'][-3000:]}"
    if case["kind"] == "clean":
        assert findings == "", f"{student}: an honest submission was flagged: {findings}"
        assert student not in graded["held"], f"{student}: cells held for manual grading: {graded['held'][student]}"
        if "score" in case:
            assert score == pytest.approx(case["score"]), f"{student}: {score}"
        return
    assert case["expect"] in findings, f"{student}: expected a finding with {case['expect']!r}, got {findings!r}"
    held = graded["held"].get(student, set())
    assert held, f"{student}: flagged, but no cell is held for manual grading"
    honest = graded["scores"][case["honest"]]
    if case["kind"] == "immune":
        assert score == pytest.approx(honest), f"{student}: the trick earned {score}, the same code without it {honest}"


def test_the_honest_twins_lose_points(graded):
    """The tricks hide real mistakes: without them the same code scores less than full marks."""
    assert graded["scores"]["honest_unscaled"] < FULL and graded["scores"]["honest_bare_view"] < FULL


def test_grades_and_feedback_show_the_findings(graded):
    import pandas as pd

    course = graded["course"]
    totals = pd.read_csv(course / "grades.csv", keep_default_na=False).set_index("student")
    assert "01-attention:integrity" in totals.columns
    assert "torch.allclose" in totals.loc["assign_allclose", "01-attention:integrity"]
    assert totals.loc["reference", "01-attention:integrity"] == ""
    pages = {p.parent.parent.name: p.read_text(encoding="utf-8")
             for p in (course / "feedback").rglob("*.html")}
    assert "integrity check found" in pages["redefine_helper"] and "assert_close" in pages["redefine_helper"]
    assert "integrity check" not in pages["reference"]


def test_validate_warns_with_the_same_message(graded, tmp_path):
    """An honest student who shadowed a helper by accident learns it from validate, before handing in."""
    course = graded["course"]
    sol = h.solutions(course)
    nb = h.solved(course, mha=sol["mha"] + "\n\ndef randn(*shape):\n    return torch.randn(*shape, device=DEVICE)\n")
    path = tmp_path / "01-attention.ipynb"
    nbformat.write(nb, str(path))
    proc = subprocess.run([sys.executable, "-m", "grading", "validate", str(path)], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FLAGGED: 'randn', which the read-only cell test_helpers defines" in proc.stdout, proc.stdout
    ok = subprocess.run([sys.executable, "-m", "grading", "validate", str(_write(tmp_path / "ok", h.solved(course)))],
                        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0 and "FLAGGED" not in ok.stdout, ok.stdout


def _write(folder: Path, nb) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "01-attention.ipynb"
    nbformat.write(nb, str(path))
    return path
