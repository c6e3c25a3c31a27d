"""Code travels between notebooks: ``utils.notebooks`` loads an earlier notebook's definitions.

- From the instructor's notebooks (``solutions/``), nested loads included (03 loads 01 and 02).
- From the folder next to the kernel's working folder (a student's ``course/``) when nothing else
  is said, from ``COURSE_NOTEBOOKS`` when it is set, from ``folder=`` first of all.
- An unwritten TODO, a syntax error, a missing notebook, a missing name: one clear error each.
- Only definitions run (no prints, no training), and a changed file is read again.
- ``export_definitions`` keeps what the loader reads and drops every test, hidden or not.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from utils import notebooks
from utils.notebooks import NotebookNotReady, export_definitions, from_notebook, load_notebook


def _notebook(path: Path, cells: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")
    return path


def _code(source: str, grade_id: str | None = None, solution: bool = False, locked: bool = False,
          grade: bool = False) -> dict:
    cell = {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}
    if grade_id:
        cell["metadata"]["nbgrader"] = {"grade_id": grade_id, "solution": solution, "locked": locked,
                                        "grade": grade, "schema_version": 3}
    return cell


@pytest.fixture
def toy_course(tmp_path, monkeypatch) -> Path:
    """A course folder with two tiny notebooks: ``10-one`` defines ``double``, ``20-two`` uses it."""
    monkeypatch.delenv(notebooks.NOTEBOOKS_ENV, raising=False)
    course = tmp_path / "course"
    _notebook(course / "10-one" / "10-one.ipynb", [
        _code("import math\nprint('setup runs only in the notebook')", "setup", locked=True),
        _code("def double(x):\n    return 2 * x\n\nprint('not run by the loader')\nRESULT = double(21)",
              "double", solution=True),
        _code("assert double(2) == 4\nDEFINED_IN_A_TEST = 1", "test_double", locked=True, grade=True),
        _code("def helper_in_a_plain_cell():\n    pass"),
    ])
    _notebook(course / "20-two" / "20-two.ipynb", [
        _code("from utils.notebooks import from_notebook\ndouble = from_notebook('10-one', 'double')",
              "setup", locked=True),
        _code("def quadruple(x):\n    return double(double(x))", "quadruple", solution=True),
    ])
    return course


def test_loads_only_definitions(toy_course, capsys):
    module = load_notebook("10-one", folder=toy_course)
    assert module.double(5) == 10 and module.math.pi > 3
    assert not hasattr(module, "RESULT"), "statements other than def/class/import must not run"
    assert not hasattr(module, "DEFINED_IN_A_TEST") and not hasattr(module, "helper_in_a_plain_cell")
    assert capsys.readouterr().out == "", "loading must print nothing"
    assert module.__notebook_todos__ == {"double": "TODO 1"}


def test_nested_loads_come_from_the_same_folder(toy_course):
    quadruple = from_notebook("20-two", "quadruple", folder=toy_course)
    assert quadruple(3) == 12


def test_default_is_the_folder_next_to_the_kernel(toy_course, monkeypatch):
    monkeypatch.chdir(toy_course / "20-two")   # the kernel runs in the notebook's folder
    assert from_notebook("10-one", "double")(1) == 2


def test_environment_variable_points_elsewhere(toy_course, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    shutil.copytree(toy_course, reference)
    source = json.loads((reference / "10-one" / "10-one.ipynb").read_text())
    source["cells"][1]["source"] = "def double(x):\n    return x + x + 1000\n"
    _notebook(reference / "10-one" / "10-one.ipynb", source["cells"])
    monkeypatch.chdir(toy_course / "20-two")
    monkeypatch.setenv(notebooks.NOTEBOOKS_ENV, str(reference))
    assert from_notebook("10-one", "double")(1) == 1002, "COURSE_NOTEBOOKS must win over the sibling folder"
    assert from_notebook("10-one", "double", folder=toy_course)(1) == 2, "folder= must win over everything"


def test_unwritten_todo_says_which_to_finish(toy_course):
    path = toy_course / "10-one" / "10-one.ipynb"
    cells = json.loads(path.read_text())["cells"]
    cells[1]["source"] = "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    _notebook(path, cells)
    with pytest.raises(NotebookNotReady, match=r"finish TODO 1 \(double\) of 10-one first"):
        from_notebook("10-one", "double", folder=toy_course)


def test_syntax_error_names_the_todo(toy_course):
    path = toy_course / "10-one" / "10-one.ipynb"
    cells = json.loads(path.read_text())["cells"]
    cells[1]["source"] = "def double(x)\n    return 2 * x\n"
    _notebook(path, cells)
    with pytest.raises(NotebookNotReady, match="10-one: TODO 1 does not parse"):
        load_notebook("10-one", folder=toy_course)


def test_missing_notebook_and_missing_name(toy_course):
    with pytest.raises(NotebookNotReady, match="notebook 99-none not found"):
        load_notebook("99-none", folder=toy_course)
    with pytest.raises(NotebookNotReady, match="defines no triple"):
        from_notebook("10-one", "triple", folder=toy_course)


def test_a_changed_notebook_is_read_again(toy_course):
    path = toy_course / "10-one" / "10-one.ipynb"
    first = load_notebook("10-one", folder=toy_course)
    assert load_notebook("10-one", folder=toy_course) is first, "unchanged: the cached module"
    cells = json.loads(path.read_text())["cells"]
    cells[1]["source"] = "def double(x):\n    return 3 * x\n"
    _notebook(path, cells)
    import os
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    assert from_notebook("10-one", "double", folder=toy_course)(2) == 6


def test_export_keeps_definitions_and_drops_tests(toy_course, tmp_path):
    exported = export_definitions(toy_course / "10-one" / "10-one.ipynb", tmp_path / "ref" / "10-one" / "10-one.ipynb")
    text = exported.read_text()
    assert "assert double(2) == 4" not in text, "test cells must not be exported"
    assert from_notebook("10-one", "double", folder=tmp_path / "ref")(4) == 8


def test_course_notebooks_load_from_solutions(repo_root):
    """The real chain: 03's layers are built from 01's attention and 02's encoding."""
    solutions = repo_root / "solutions"
    transformer = load_notebook("03-transformer", folder=solutions)
    attention = load_notebook("01-attention", folder=solutions)
    assert transformer.MultiHeadAttention is attention.MultiHeadAttention, "one class, loaded once"
    assert notebooks.source_notebook(transformer.PositionalEncoding).endswith("02-positional-encoding.ipynb")
    import inspect
    assert "class MultiHeadAttention" in inspect.getsource(attention.MultiHeadAttention)


def test_release_without_answers_asks_for_them(repo_root):
    """The student release of 01, untouched: loading it names both TODOs."""
    with pytest.raises(NotebookNotReady, match=r"finish TODO 1 \(sdpa\) and TODO 2 \(mha\) of 01-attention"):
        load_notebook("01-attention", folder=repo_root / "course")


def test_hidden_tests_are_never_exported(repo_root, tmp_path):
    for path in sorted((repo_root / "solutions").glob("*/*.ipynb")):
        exported = export_definitions(path, tmp_path / path.parent.name / path.name).read_text()
        assert "BEGIN HIDDEN TESTS" not in exported, f"{path.name}: hidden tests exported"
