"""The instructor's workflow, end to end on a temporary course: ``python -m grading`` release ->
collect -> autograde -> grades -> feedback, and the students' ``validate``.

- collect imports every accepted layout, and reports -- never silently drops -- unknown
  assignments, bad names, duplicates, non-notebooks and editor droppings;
- autograde (2 workers, ``--isolation none``: what an instructor who is not root gets) grades a
  correct, a wrong and an untouched notebook, a broken file, and a notebook that tries to
  overwrite the gradebook and the others' notebooks through relative paths (it must find nothing:
  its kernel runs in a throw-away folder); a second run without --force grades nothing again, a
  forced one does not double any row;
- grades exports per-question and total CSVs that agree with the gradebook;
- feedback shows pass/fail and the tests' messages but never a line of the hidden tests;
- validate exits 0 when every test passes, 1 when one fails, 2 for a file that is not a notebook.
- steps in the wrong order say so: collect before release warns, autograde before release exits 2
  naming the submissions that wait for `make release`; a course whose Python lies under /tmp says
  why its kernels cannot be isolated and what to do.
"""
from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest

_spec = importlib.util.spec_from_file_location("hostile_helpers", Path(__file__).parent / "hostile" / "helpers.py")
h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(h)

pytestmark = pytest.mark.slow

A = "01-attention"
STUDENTS = ("alice", "bob", "carol", "dave-smith", "erin", "mallory")
WRONG_SDPA = '''def scaled_dot_product_attention(query, key, value, mask=None, fill_value=float("-inf"), dropout=None):
    scores = query @ key.transpose(-2, -1)          # WRONG: no 1/sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(~mask, fill_value)
    attention = torch.softmax(scores, dim=-1)
    return (attention if dropout is None else dropout(attention)) @ value, attention
'''


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = h.make_course(tmp_path_factory.mktemp("instructor") / "course")
    h.cli(course, "release")
    return course


# ------------------------------------------------------------------------------------------
# collect
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def collected(course, tmp_path_factory):
    src = tmp_path_factory.mktemp("returned")
    solved, untouched = h.solved(course), h.release(course)
    wrong = h.solved(course, sdpa=WRONG_SDPA)

    def put(rel: str, notebook=None, text: str | None = None):
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is not None:
            path.write_text(text)
        else:
            nbformat.write(notebook, str(path))

    put("alice/01-attention/my work (final).ipynb", solved)     # nbgrader layout, any name
    put("alice/01-attention/timestamp.txt", text="2026-01-10 10:00:00")
    put("bob/01-attention.ipynb", wrong)                         # a folder per student
    put("carol_01-attention.ipynb", untouched)                   # flat, underscore
    put("dave-smith-01-attention.ipynb", solved)                 # flat, dash: student dave-smith
    put("erin_01-Attention.ipynb", text="{ this is not json")    # imported, graded as invalid
    put("frank/99-unknown/99-unknown.ipynb", solved)             # unknown assignment
    put("gina_homework.ipynb", solved)                           # bad name
    put("hank_01-attention.ipynb", solved)                       # duplicates: neither imported
    put("hank-01-attention.ipynb", wrong)
    put("notes.txt", text="not a notebook")
    tamper = nbformat.v4.new_code_cell((h.HERE / "tamper_cell.py").read_text(encoding="utf-8"))
    mallory = h.solved(course)
    mallory.cells.insert(next(i for i, c in enumerate(mallory.cells) if h.grade_id(c) == "mha") + 1, tamper)
    put("mallory_01-attention.ipynb", mallory)                   # relative-path tampering
    put("alice/01-attention/.ipynb_checkpoints/01-attention-checkpoint.ipynb", solved)
    proc = h.cli(course, "collect", str(src), check=False)
    return src, proc


def test_collect_imports_every_accepted_layout(course, collected):
    _, proc = collected
    submitted = course / "submitted"
    for student in STUDENTS:
        assert (submitted / student / A / f"{A}.ipynb").is_file(), (student, proc.stdout)
    assert (submitted / "alice" / A / "timestamp.txt").is_file()
    assert sorted(p.name for p in submitted.iterdir() if p.is_dir()) == sorted(STUDENTS)


def test_collect_reports_what_it_did_not_import(collected):
    src, proc = collected
    assert proc.returncode == 1, proc.stdout  # something was not imported
    out = proc.stdout
    not_imported = out.split("NOT imported:")[1].split("ignored:")[0]
    assert "frank/99-unknown/99-unknown.ipynb" in not_imported and "unknown assignment" in not_imported
    assert "gina_homework.ipynb" in not_imported and "bad name" in not_imported
    assert "hank_01-attention.ipynb" in not_imported and "hank-01-attention.ipynb" in not_imported
    assert "duplicate" in not_imported
    assert "notes.txt" in not_imported
    assert "checkpoint" in out.split("ignored:")[1]
    assert "not valid JSON" in out  # erin: imported with a warning
    # every file under SRC is accounted for in the report
    files = [p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()]
    missing = [f for f in files if f not in out]
    assert not missing, missing


def test_collect_again_is_idempotent_and_refuses_to_overwrite(course, collected, tmp_path):
    src, _ = collected
    again = h.cli(course, "collect", str(src), check=False)
    assert "[unchanged]" in again.stdout and "[imported]" not in again.stdout
    other = tmp_path / "late"
    (other / "alice").mkdir(parents=True)
    nbformat.write(h.release(course), str(other / "alice" / f"{A}.ipynb"))
    proc = h.cli(course, "collect", str(other), check=False)
    assert proc.returncode == 1 and "--force" in proc.stdout
    assert "alice" in proc.stdout and "replaced" not in proc.stdout


# ------------------------------------------------------------------------------------------
# autograde, grades, feedback
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graded(course, collected):
    alice = (course / "submitted" / "alice" / A / f"{A}.ipynb").read_bytes()
    proc = h.cli(course, "autograde", "--workers", "2", "--timeout", "600", "--isolation", "none", timeout=900)
    assert (course / "submitted" / "alice" / A / f"{A}.ipynb").read_bytes() == alice
    return proc


def test_autograde_outcomes(course, graded):
    outcomes = h.outcomes(course)
    assert {s: o["outcome"] for s, o in outcomes.items()} == {
        "alice": "graded", "bob": "graded", "carol": "graded", "dave-smith": "graded", "erin": "invalid",
        "mallory": "graded"}, graded.stdout
    scores = {s: float(o["score"]) for s, o in outcomes.items()}
    assert scores["alice"] == scores["dave-smith"] == scores["mallory"] == 25
    assert 0 < scores["bob"] < 25
    assert scores["carol"] == scores["erin"] == 0


def test_relative_tampering_finds_nothing(course, graded):
    nb = nbformat.read(str(course / "autograded" / "mallory" / A / f"{A}.ipynb"), 4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "TAMPER relative found=0 read=0 written=0" in text, text[:2000]
    for student in set(STUDENTS) - {"mallory"}:
        graded_nb = course / "autograded" / student / A / f"{A}.ipynb"
        assert not graded_nb.exists() or b"hacked" not in graded_nb.read_bytes(), student
    assert b"hacked" not in (course / ".nbgrader" / "gradebook.db").read_bytes()


def test_autograde_again_skips_and_force_does_not_double(course, graded):
    rows = h.gradebook_rows(course)
    again = h.cli(course, "autograde")
    assert "already graded" in again.stdout and sorted(h.gradebook_rows(course)) == sorted(rows)
    h.cli(course, "autograde", "--force", "--student", "erin")  # invalid: re-recorded, no kernel
    after = h.gradebook_rows(course)
    assert sorted(after) == sorted(rows)
    assert Counter(r[0] for r in after) == {s: h.test_cells() for s in STUDENTS}


def test_grades_export(course, graded):
    h.cli(course, "grades")
    with open(course / "grades-questions.csv", newline="") as f:
        questions = list(csv.DictReader(f))
    with open(course / "grades.csv", newline="") as f:
        totals = {r["student"]: r for r in csv.DictReader(f)}
    assert len(questions) == len(STUDENTS) * h.test_cells()
    bob = {q["question"]: float(q["score"]) for q in questions if q["student"] == "bob"}
    assert bob["test_sdpa_shapes"] == 2 and bob["test_sdpa_reference"] == 0
    assert float(totals["bob"][A]) == sum(bob.values())
    assert float(totals["alice"]["total"]) == 25 and float(totals["alice"]["max_total"]) == 25
    assert float(totals["alice"][f"{A}/test_mha_mask"]) == 3
    assert totals["erin"][f"{A}:outcome"] == "invalid"


def _hidden_lines(course) -> list[str]:
    source = nbformat.read(str(course / "solutions" / A / f"{A}.ipynb"), 4)
    lines, inside = [], False
    for cell in source.cells:
        for line in cell.source.splitlines():
            if line.strip() == "### BEGIN HIDDEN TESTS":
                inside = True
            elif line.strip() == "### END HIDDEN TESTS":
                inside = False
            elif inside and len(line.strip()) > 25:
                lines.append(line.strip())
    assert lines, "01-attention has hidden tests"
    return lines


def test_feedback_hides_hidden_tests(course, graded):
    h.cli(course, "feedback")
    pages = {p.parent.parent.name: p.read_text() for p in (course / "feedback").glob(f"*/{A}/{A}.html")}
    assert set(pages) == set(STUDENTS)
    hidden = _hidden_lines(course)
    import html

    for student, page in pages.items():
        text = html.unescape(page)
        leaked = [line for line in hidden if line in text]
        assert not leaked, (student, leaked[:3])
        assert "Traceback" not in text and "### BEGIN" not in text
    bob = html.unescape(pages["bob"])
    assert "failed" in bob and "passed" in bob and "AssertionError" in bob
    assert "not divided by sqrt(d)" in bob  # the visible test's own hint reaches the student
    assert "25 / 25" in html.unescape(pages["alice"])
    assert "could not be read" in html.unescape(pages["erin"])


# ------------------------------------------------------------------------------------------
# validate
# ------------------------------------------------------------------------------------------
def test_validate_exit_codes(course, tmp_path):
    good, bad, broken = tmp_path / "good.ipynb", tmp_path / "bad.ipynb", tmp_path / "broken.ipynb"
    nbformat.write(h.solved(course), str(good))
    nbformat.write(h.solved(course, sdpa=WRONG_SDPA), str(bad))
    broken.write_text("not json")
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(h.REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    procs = {name: subprocess.Popen([sys.executable, "-m", "grading", "validate", str(path)], cwd=h.REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name, path in (("good", good), ("bad", bad), ("broken", broken))}
    out = {name: proc.communicate(timeout=600)[0] for name, proc in procs.items()}
    codes = {name: proc.returncode for name, proc in procs.items()}
    assert codes == {"good": 0, "bad": 1, "broken": 2}, out
    assert f"PASSED: {h.test_cells()}/{h.test_cells()}" in out["good"]
    assert "FAIL  test_sdpa_reference" in out["bad"] and "FAILED" in out["bad"]


# ------------------------------------------------------------------------------------------
# instructor steps in the wrong order, a course under /tmp: the tools say so
# ------------------------------------------------------------------------------------------
P = "02-positional-encoding"


def test_autograde_before_release_names_the_waiting_submissions(tmp_path):
    """collect, then autograde before release: autograde exits non-zero and names the submissions
    that wait for `make release` (never "nothing to grade" and exit 0); collect warns first."""
    course = h.make_course(tmp_path / "course", (A, P))           # nothing released yet
    src = tmp_path / "returned"
    (src / "bob").mkdir(parents=True)
    (src / "alice_01-attention.ipynb").write_text("{ not json")    # graded `invalid`: no kernel needed
    (src / "bob" / "01-attention.ipynb").write_text("{ not json")
    nbformat.write(nbformat.read(str(course / "solutions" / P / f"{P}.ipynb"), 4), str(src / f"carol_{P}.ipynb"))

    collected = h.cli(course, "collect", str(src))                 # collecting needs no release: exit 0
    for assignment, count in ((A, 2), (P, 1)):
        assert (f"warning: {assignment} is not in the gradebook yet: its {count} submission(s) in submitted/ "
                "wait for `make release`") in collected.stdout, collected.stdout

    for args, named, unnamed in (((), ["alice, bob", "carol"], []), (("--assignment", A), ["alice, bob"], ["carol"])):
        proc = h.cli(course, "autograde", "--isolation", "none", *args, check=False)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "nothing to grade" not in proc.stdout + proc.stderr
        assert "wait for `make release` and were not graded:" in proc.stderr, proc.stderr
        assert all(name in proc.stderr for name in named) and not any(name in proc.stderr for name in unnamed)
        assert "(not in the gradebook yet)" in proc.stderr and "then autograde again" in proc.stderr
    assert not (course / "autograded" / "outcomes.csv").exists()   # nothing was graded

    h.cli(course, "release", A)                                    # 01 released, 02 still not
    again = h.cli(course, "collect", str(src))
    assert f"warning: {A} is not" not in again.stdout and f"warning: {P} is not in the gradebook yet" in again.stdout
    proc = h.cli(course, "autograde", "--isolation", "none", check=False)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)         # 01 graded, 02 still waits: not green
    assert "outcomes: invalid 2" in proc.stdout, proc.stdout
    assert "1 submission(s)" in proc.stderr and "(the others were)" in proc.stderr
    assert f"{P} (not in the gradebook yet): carol" in proc.stderr and "alice" not in proc.stderr
    assert {s: o["outcome"] for s, o in h.outcomes(course).items()} == {"alice": "invalid", "bob": "invalid"}
    ok = h.cli(course, "autograde", "--isolation", "none", "--assignment", A)   # only released ones asked: exit 0
    assert "outcomes: invalid 2" in ok.stdout and not ok.stderr.strip().startswith("error")


@pytest.mark.skipif(not h.isolation_available(), reason="kernels cannot be isolated here (Linux, root, namespaces)")
def test_course_python_under_tmp_says_why_it_cannot_isolate(tmp_path):
    """A course whose Python lies under /tmp (cloned there, with its .venv): an isolated kernel gets a
    private, empty /tmp and cannot start. The grader says why and what to do, and grades anyway."""
    import sysconfig

    if not str(tmp_path.resolve()).startswith("/tmp/"):
        pytest.skip(f"the temporary folder {tmp_path} is not under /tmp")
    venv = tmp_path / "venv"                                       # the course's own Python, under /tmp
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "course_packages.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")

    home = tmp_path / "home"
    home.mkdir()
    kernel = subprocess.run([str(python), str(h.REPO / "grading" / "_kernel.py"), "--isolate", "--home", str(home),
                             "--check", "--", str(python), "-c", "print('started')"],
                            cwd=home, capture_output=True, text=True, timeout=120)
    assert kernel.returncode == 127 and "started" not in kernel.stdout, (kernel.stdout, kernel.stderr)
    assert f"No such file or directory: {python}" in kernel.stderr, kernel.stderr
    assert "It lies under /tmp" in kernel.stderr and "--isolation none" in kernel.stderr

    course = h.make_course(tmp_path / "course")
    h.cli(course, "release")
    h.submit(course, "erin", "{ not json")
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(h.REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PATH"] = os.pathsep.join([str(python.parent), str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run([str(python), "-m", "grading", "--root", str(course), "autograde"], cwd=h.REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    out = proc.stdout
    assert "warning: kernels cannot be isolated here: the Python interpreter" in out, out
    assert "lies under /tmp" in out and "private, empty /tmp" in out
    assert "Move the course folder, with its .venv, out of /tmp" in out and "--isolation none" in out
    assert "kernels run as the current user, in a throw-away folder" in out
    assert h.outcomes(course)["erin"]["outcome"] == "invalid"
