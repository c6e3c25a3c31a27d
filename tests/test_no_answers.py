"""The reference of every graded TODO exists in one place only: its solution notebook.

``utils/`` (the course's framework, importable from every notebook) and ``bench/`` must not define
a function or class that a student writes in a TODO: ``from utils import PositionalEncoding``
would pass notebook 02 without writing a line.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

FRAMEWORK = ("utils", "bench", "grading")


def answer_names(repo_root: Path) -> dict[str, str]:
    """``{name: "solutions/<nb> [grade_id]"}`` for every def/class in the answer cells."""
    names = {}
    for path in sorted((repo_root / "solutions").glob("*/*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] != "code" or not meta.get("solution"):
                continue
            for node in ast.parse("".join(cell["source"])).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    names[node.name] = f"{path.relative_to(repo_root)} [{meta.get('grade_id')}]"
    return names


def test_there_are_answers_to_look_for(repo_root):
    names = answer_names(repo_root)
    for expected in ("scaled_dot_product_attention", "MultiHeadAttention", "PositionalEncoding", "Transformer"):
        assert expected in names, f"{expected} is no longer an answer of a solution notebook: update this test"


@pytest.mark.parametrize("package", FRAMEWORK)
def test_framework_defines_no_answer(repo_root, package):
    answers = answer_names(repo_root)
    found = []
    for path in sorted((repo_root / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in answers:
                found.append(f"{path.relative_to(repo_root)}:{node.lineno} defines {node.name} "
                             f"(the answer of {answers[node.name]})")
    assert not found, "an importable answer outside the solution notebooks:\n" + "\n".join(found)
