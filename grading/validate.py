"""An honest ``validate`` for students: run the notebook, report every test, exit non-zero on failure.

``nbgrader validate`` prints its verdict but exits 0 whatever happens. Here the notebook is run
from top to bottom in a fresh kernel (in its own folder, in smoke mode unless ``COURSE_SMOKE`` is
set otherwise) with the same rules as the autograder: a test cell passes when it raises no error
(output on stderr, e.g. a warning, is fine), and under the same integrity check
(:mod:`grading._guard`), whose findings it prints with the grader's words, so that a student who
shadowed a test helper by accident learns why before handing in. Exit status: 0 all tests pass,
1 a test failed (or a test cell was edited, the integrity check found something, or the run was
stopped), 2 the file is not a notebook or the kernel did not start.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .course import error_line, grade_id, is_test_cell, nbgrader_meta, shorten
from .executor import GradingClient, guard_config, kernel_argv, write_kernelspec


def intact(cell) -> bool:
    """A read-only cell whose content still matches the checksum the release gave it: trusted code."""
    from nbgrader import utils

    meta = nbgrader_meta(cell)
    return bool(meta.get("locked") and meta.get("checksum") and utils.compute_checksum(cell) == meta["checksum"])


def changed_cells(nb) -> list[str]:
    """Read-only cells whose content no longer matches the checksum the release gave them."""
    return [grade_id(cell) or "?" for cell in nb.cells
            if nbgrader_meta(cell).get("locked") and nbgrader_meta(cell).get("checksum") and not intact(cell)]


def validate(path: Path, timeout: float = 0, cell_timeout: float = 0, memory_mb: int = 0, out=print) -> int:
    import nbformat

    path = Path(path)
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except Exception as error:
        out(f"INVALID: {path} is not a valid notebook: {shorten(f'{type(error).__name__}: {error}', 300)}")
        return 2
    changed = changed_cells(nb)
    env = os.environ.copy()
    env.setdefault("COURSE_SMOKE", "1")
    env["NBGRADER_VALIDATING"] = "1"
    with tempfile.TemporaryDirectory(prefix="grading-validate-") as tmp:
        kernels = write_kernelspec(Path(tmp) / "kernels", kernel_argv(sys.executable, memory_mb))
        client = GradingClient(kernel_dirs=[str(kernels)], cwd=str(path.parent.resolve()), env=env,
                               log_path=str(Path(tmp) / "kernel.log"), notebook_timeout=timeout,
                               cell_timeout=cell_timeout,
                               guard=guard_config(nb, intact, folder=str(path.parent.resolve())))
        result = client.run(nb)
    if result["status"] == "error":
        out(f"ERROR: {result['reason']}")
        return 2
    tests = [c for c in nb.cells if is_test_cell(c)]
    failed = []
    for cell in tests:
        points = nbgrader_meta(cell).get("points", 0)
        problem = error_line(cell)
        if problem:
            failed.append(cell)
            out(f"FAIL  {grade_id(cell)} ({points:g} pt): {shorten(problem, 300)}")
        else:
            out(f"ok    {grade_id(cell)} ({points:g} pt)")
    for cell in nb.cells:
        if cell.cell_type == "code" and not is_test_cell(cell) and error_line(cell) \
                and not error_line(cell).startswith("CellNotRun"):
            name = grade_id(cell) or f"cell {nb.cells.index(cell)}"
            out(f"note  {name} raised {shorten(error_line(cell), 200)}")
    if result["status"] != "ok":
        out(f"STOPPED: {result['reason']}")
    if changed:
        out(f"CHANGED: you edited read-only/test cell(s) {', '.join(changed)}; the grader restores the originals")
    findings = result.get("integrity", [])
    for finding in findings:
        out(f"FLAGGED: {finding['message']} -- the grader flags this and holds the tests after it for the "
            "instructor to grade by hand")
    passed = len(tests) - len(failed)
    verdict = "PASSED" if not failed and not changed and not findings and result["status"] == "ok" else "FAILED"
    out(f"{verdict}: {passed}/{len(tests)} test cells pass ({path})")
    return 0 if verdict == "PASSED" else 1
