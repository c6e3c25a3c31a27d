"""The fake-student variant files (``tests/submissions/``) and their edit format, without nbgrader.

A variant is an edit of the instructor's current solution cell (see ``tests/grading_harness.py``):
these tests check, in seconds, that every variant file still applies to the solutions -- none is
stale -- and that an edit that no longer fits fails loudly instead of submitting something else.
The grading of the variants is ``tests/test_grading_pipeline.py`` (slow: it runs nbgrader).
"""
from __future__ import annotations

import pytest

import grading_harness as grading

ASSIGNMENTS = [a for a in grading.assignments() if (grading.SUBMISSIONS / a).is_dir()]

SOLUTION = {
    "sdpa": "def f(query, key, d):\n"
            "    scores = query @ key.T / math.sqrt(d)\n"
            "    weights = scores.softmax(-1)\n"
            "    return weights\n",
    "mha": "x = 1\ny = 2\nx = 1\n",
}


def write(tmp_path, body: str, header: str = '"""Wrong: a typo. Expected: loses points."""\n\n', name="wrong"):
    path = tmp_path / "01-attention" / f"{name}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(header + body, encoding="utf-8")
    return path


def load(path, solutions=SOLUTION):
    return grading.Variant.from_file(path, "01-attention", solutions)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_variant_resolves_against_the_current_solution(assignment):
    """No variant is stale: every ``replace`` stands once in the solution cell it edits, and every
    variant changes the code of each cell it names."""
    solutions = grading.assignment_solution_cells(assignment)
    variants = grading.load_variants(assignment)
    assert variants, f"{assignment}: no variant files"
    for variant in variants:
        assert variant.cells, variant.path
        for gid, code in variant.cells.items():
            assert gid in solutions, f"{variant.path}: no solution cell {gid!r}"
            assert code.strip() != solutions[gid].strip(), f"{variant.path} [{gid}]: the solution itself"


def test_edits_are_applied_to_the_solution_cell(tmp_path):
    path = write(tmp_path, "# %% [sdpa] replace\n"
                           "    scores = query @ key.T / math.sqrt(d)\n"
                           "# %% with\n"
                           "    scores = query @ key.T\n"
                           "    scores = scores * 1\n"
                           "\n"
                           "# %% [sdpa] replace\n"
                           "    return weights\n"
                           "# %% with\n"
                           "    return weights.T\n")
    variant = load(path)
    assert variant.cells == {"sdpa": "def f(query, key, d):\n    scores = query @ key.T\n    scores = scores * 1\n"
                                     "    weights = scores.softmax(-1)\n    return weights.T\n"}
    assert variant.description == "Wrong: a typo." and not variant.full_marks


def test_an_empty_with_deletes_and_whole_cells_still_work(tmp_path):
    path = write(tmp_path, "# %% [sdpa] replace\n    weights = scores.softmax(-1)\n# %% with\n\n"
                           "# %% [mha]\nz = 3\n")
    assert load(path).cells == {
        "sdpa": "def f(query, key, d):\n    scores = query @ key.T / math.sqrt(d)\n    return weights\n",
        "mha": "z = 3\n",
    }


def test_edits_resolve_against_the_repository_solutions(tmp_path):
    """Without ``solutions``, the edit applies to ``solutions/<assignment>/*.ipynb`` of the repository."""
    line = "    scores = query @ key.transpose(-2, -1) / math.sqrt(d)"
    assert line in grading.assignment_solution_cells("01-attention")["sdpa"].split("\n")
    path = write(tmp_path, f"# %% [sdpa] replace\n{line}\n# %% with\n    scores = query @ key.transpose(-2, -1)\n")
    cell = grading.Variant.from_file(path).cells["sdpa"]
    assert line not in cell.split("\n") and "    scores = query @ key.transpose(-2, -1)" in cell.split("\n")


def test_a_stale_replace_names_the_file_and_the_cell(tmp_path):
    """The solution changed under the variant: its ``replace`` text is not in the cell any more."""
    path = write(tmp_path, "# %% [sdpa] replace\n    scores = query @ key.transpose(1, 2) / math.sqrt(d)\n"
                           "# %% with\n    scores = query @ key.transpose(1, 2)\n")
    for solutions in (SOLUTION, None):  # a given cell, and the repository's real solution
        with pytest.raises(grading.GradingError) as error:
            grading.Variant.from_file(path, "01-attention", solutions)
        message = str(error.value)
        assert "stale variant" in message and str(path) in message and "[sdpa]" in message
        assert "solution changed" in message and "key.transpose(1, 2)" in message


def test_a_replace_that_stands_twice_is_refused(tmp_path):
    path = write(tmp_path, "# %% [mha] replace\nx = 1\n# %% with\nx = 0\n")
    with pytest.raises(grading.GradingError, match=r"stands 2 times"):
        load(path)
    path = write(tmp_path, "# %% [mha] replace\nx = 1\ny = 2\n# %% with\nx = 0\ny = 2\n")  # context: unique
    assert load(path).cells == {"mha": "x = 0\ny = 2\nx = 1\n"}


@pytest.mark.parametrize("body, error", [
    ("# %% [mha] replace\nx = 1\ny = 2\n# %% with\n\n# %% [mha] replace\ny = 2\nx = 1\n# %% with\n", "overlap"),
    ("# %% with\nx = 1\n", "without a `# %% \\[grade_id\\] replace`"),
    ("# %% [mha] replace\ny = 2\n# %% [mha]\ny = 3\n", "must be followed by `# %% with`"),
    ("# %% [mha] replace\n\n# %% with\ny = 3\n", "nothing to replace"),
    ("# %% [mha]\ny = 3\n# %% [mha] replace\ny = 3\n# %% with\ny = 4\n", "both given whole and edited"),
    ("# %% [mha] replace\ny = 2\n# %% with\ny = 4\n# %% [mha]\ny = 3\n", "both given whole and edited"),
    ("# %% [mha] replce\ny = 2\n# %% with\ny = 4\n", "is not a marker"),
    ("# %% [nope] replace\ny = 2\n# %% with\ny = 4\n", "no solution cell with grade_id 'nope'"),
    ("x = 1\n", "no `# %% \\[grade_id\\]`"),
])
def test_malformed_variant_files_are_refused(tmp_path, body, error):
    with pytest.raises(grading.GradingError, match=error):
        load(write(tmp_path, body))
