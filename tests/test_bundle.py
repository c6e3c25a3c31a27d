"""``make bundle``: the archive handed out to a class without a hub is complete and leaks nothing.

- Nothing of the instructor's: no ``solutions/``, ``grading/``, ``tests/`` (``tests/submissions``),
  nbgrader gradebook or configuration; no solution or hidden-test marker, and no line block of a
  solution or hidden test of ``solutions/`` anywhere in its text.
- Complete: every released notebook, every helper of ``utils/``, every figure a notebook shows,
  environment files with the course's pins, a README and a Makefile whose ``make lab`` works
  (dry run). Unpacked, notebooks 01 and 02 -- their answer cells filled from the solutions, as a
  student who solved them would -- run in smoke mode from the bundle's own folder with the bundle's
  own ``utils`` (02 loads the student's 01 from the bundle's ``course/``), every visible test passing.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

import grading_harness as grading

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TOP = "transformers-course"
RUN = ("01-attention", "02-positional-encoding")
FORBIDDEN_PARTS = {"solutions", "grading", "tests", "submissions", ".nbgrader", "submitted", "autograded",
                   "feedback", "bench", "hub", "bundle", ".git", "data", "dist"}
MARKERS = (grading.BEGIN_SOLUTION, grading.END_SOLUTION, grading.BEGIN_HIDDEN, grading.END_HIDDEN)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "transformers-course-student.zip"
    proc = subprocess.run([sys.executable, str(REPO / "bundle" / "build.py"), "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file() and str(out) in proc.stdout
    return out


def _flat(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _texts(archive: zipfile.ZipFile) -> dict[str, str]:
    """name -> text a reader would see (a notebook: its cells' sources and outputs)."""
    texts = {}
    for name in archive.namelist():
        data = archive.read(name)
        if name.endswith(".png"):
            continue
        text = data.decode("utf-8")
        if name.endswith(".ipynb"):
            nb = nbformat.reads(text, as_version=4)
            text = "\n".join([c.source for c in nb.cells]
                             + [str(o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])])
        texts[name] = text
    return texts


def test_make_bundle_target_builds_the_archive(repo_root):
    proc = subprocess.run(["make", "-n", "bundle"], cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "bundle/build.py --out dist/transformers-course-student.zip" in proc.stdout, proc.stdout


def test_bundle_leaks_nothing_of_the_instructor(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        texts = _texts(archive)
    assert names and all(n.startswith(f"{TOP}/") for n in names), names[:5]
    parts = {part for n in names for part in Path(n).parts[1:-1]}
    assert not parts & FORBIDDEN_PARTS, sorted(parts & FORBIDDEN_PARTS)
    bad = [n for n in names if re.search(r"gradebook|\.db$|nbgrader_config|\.sqlite|jupyterhub_config", n)]
    assert not bad, bad
    marked = [(n, m) for n, t in texts.items() for m in MARKERS if m in t]
    assert not marked, marked
    flat = {n: _flat(t) for n, t in texts.items()}
    leaks = []
    for assignment in grading.assignments(REPO):
        for source_path in sorted((REPO / "solutions" / assignment).glob("*.ipynb")):
            for cell in grading.read_notebook(source_path).cells:
                blocks = grading.marked_blocks(cell.source, grading.BEGIN_HIDDEN, grading.END_HIDDEN)
                blocks += grading.marked_blocks(cell.source, grading.BEGIN_SOLUTION, grading.END_SOLUTION)
                for block in blocks:
                    code = _flat(block)
                    if len(code) >= 20:
                        leaks += [f"{n}: {grading.grade_id(cell)}: {block.strip().splitlines()[0]!r}"
                                  for n, t in flat.items() if code in t]
    assert not leaks, "solution or hidden-test code in the bundle:\n" + "\n".join(leaks)


def test_bundle_is_complete(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = {n.removeprefix(f"{TOP}/") for n in archive.namelist()}
        read = lambda n: archive.read(f"{TOP}/{n}").decode()  # noqa: E731
        expected = {"README.md", "Makefile", "pyproject.toml", "environment.yml"}
        for assignment in grading.assignments(REPO):
            expected |= {f"course/{assignment}/{p.name}" for p in (REPO / "solutions" / assignment).glob("*.ipynb")}
        expected |= {f"utils/{p.name}" for p in (REPO / "utils").glob("*.py")}
        shown = {m for n in names if n.endswith(".ipynb") for m in re.findall(r"media/[\w.-]+\.png", read(n))}
        assert shown, "the notebooks show no figure?"
        expected |= shown
        assert not expected - names, f"missing from the bundle: {sorted(expected - names)}"
        project = tomllib.loads(read("pyproject.toml"))
        env = yaml.safe_load(read("environment.yml"))
    course = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    deps = project["project"]["dependencies"]
    assert "torch==2.13.0" in deps and set(deps) <= set(course), sorted(set(deps) - set(course))
    assert sorted(set(course) - set(deps)) == ["jupyterhub==6.1.1"], "the bundle drops only the hub's packages"
    assert project["tool"]["setuptools"]["packages"] == ["utils"]
    conda_pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(d for d in conda_pip if not d.startswith("-e")) == sorted(deps)


@pytest.fixture(scope="module")
def unpacked(bundle, tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(where)
    return where / TOP


def test_make_lab_works_from_the_unpacked_bundle(unpacked):
    proc = subprocess.run(["make", "-n", "lab"], cwd=unpacked, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "pip install" in proc.stdout and "-e ." in proc.stdout and "jupyter lab" in proc.stdout, proc.stdout


def test_solved_notebooks_run_from_the_bundle_with_its_own_utils(unpacked, monkeypatch):
    from nbclient import NotebookClient

    # the kernel sees the bundle's utils first, and later notebooks load the earlier ones from the
    # bundle's course/ (never the repository's solutions/ that the other tests point at)
    monkeypatch.setenv("PYTHONPATH", str(unpacked))
    monkeypatch.delenv("COURSE_NOTEBOOKS", raising=False)
    monkeypatch.setenv("COURSE_SMOKE", "1")
    for assignment in RUN:
        path = unpacked / "course" / assignment / f"{assignment}.ipynb"
        source = grading.read_notebook(REPO / "solutions" / assignment / f"{assignment}.ipynb")
        answers = grading.solution_cells(source)
        nb = grading.fill_solution_cells(grading.read_notebook(path), answers)
        nbformat.write(nb, str(path))            # saved, as a student does: 02 loads 01 from this file
        tests = [grading.grade_id(c) for c in nb.cells if grading.is_autograded_test(c)]
        assert tests and answers
        nb.cells.append(nbformat.v4.new_code_cell(
            "import utils, utils.notebooks as _n; print('UTILS', utils.__file__)"))
        NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        errors = [(grading.grade_id(c) or i, o.get("ename"), o.get("evalue", "")[:300])
                  for i, c in enumerate(nb.cells) if c.cell_type == "code"
                  for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{assignment} from the bundle: {errors}"
        printed = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
        assert f"UTILS {unpacked / 'utils' / '__init__.py'}" in printed, printed
