"""Generate the student release: ``nbgrader generate_assignment <assignment> --force`` for each one."""
from __future__ import annotations

import subprocess
import sys

from .course import Course, GradingError


def release(course: Course, assignments: list[str] | None = None, log=print) -> list[str]:
    known = course.assignments()
    wanted = assignments or known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise GradingError(f"no assignment {unknown} in {course.source} (assignments: {known})")
    for assignment in wanted:
        log(f"release {assignment}")
        proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                               "--log-level=WARN"], cwd=course.root, env=course.env(), capture_output=True, text=True)
        output = (proc.stdout + proc.stderr).strip()
        missing = [n for n in course.notebook_names(assignment)
                   if not (course.release / assignment / f"{n}.ipynb").is_file()]
        if proc.returncode != 0 or missing:
            raise GradingError(f"`nbgrader generate_assignment {assignment}` failed (exit {proc.returncode}"
                               f"{', no ' + str(missing) if missing else ''}):\n{output[-3000:]}")
        if output:
            log(output)
    return wanted
