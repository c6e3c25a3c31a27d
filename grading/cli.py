"""``python -m grading <command>``: the instructor's workflow, one command per step.

    release   [ASSIGNMENT...]          generate the student release (nbgrader generate_assignment --force)
    collect   SRC [--force]            import returned notebooks into submitted/ (report of every file)
    autograde [-a A] [-s S] [-w N]     grade in parallel, sandboxed; outcomes in autograded/outcomes.csv
    grades    [--out DIR]              grades.csv (totals) and grades-questions.csv (per test cell)
    feedback  [-a A] [-s S]            feedback/<student>/<assignment>/<notebook>.html (no hidden code)
    validate  NOTEBOOK                 run a notebook's tests; exit 1 when one fails (for students)

``--root`` names the course folder (the one with nbgrader_config.py); default: the current folder
or its nearest parent with one.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from .course import Course, GradingError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="course folder (holds nbgrader_config.py)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="generate the student release of every (or the named) assignment")
    p.add_argument("assignments", nargs="*")

    p = sub.add_parser("collect", help="import returned notebooks into submitted/")
    p.add_argument("src", help="folder of returned notebooks")
    p.add_argument("--force", action="store_true", help="replace submissions already in submitted/")
    p.add_argument("--dry-run", action="store_true", help="only report what would be imported")

    p = sub.add_parser("autograde", help="autograde submissions in parallel, in sandboxed kernels")
    p.add_argument("-a", "--assignment", action="append", help="assignment to grade (repeatable; default: all)")
    p.add_argument("-s", "--student", action="append", help="student to grade (repeatable; default: all)")
    p.add_argument("-w", "--workers", type=int, default=int(os.environ.get("GRADING_WORKERS", 2)),
                   help="notebooks graded at the same time (default 2)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per notebook (default 1800)")
    p.add_argument("--cell-timeout", type=float, default=0,
                   help="seconds per cell (default: Execute.timeout of nbgrader_config.py)")
    p.add_argument("--memory-mb", type=int, default=4096, help="memory (address space) per kernel, 0: none")
    p.add_argument("--isolation", choices=["auto", "none"], default="auto",
                   help="auto: when grading as root on Linux, every kernel gets its own mount and PID namespaces "
                        "(read-only file system, grading state hidden, no capabilities); none: only a throw-away folder")
    p.add_argument("--sandbox-user", default="",
                   help="(root, without isolation) run the kernels as this user, e.g. nobody")
    p.add_argument("--strict-stderr", action="store_true",
                   help="nbgrader's rule: any output on stderr fails a test cell (default: only errors do)")
    p.add_argument("--grace", type=float, default=120,
                   help="seconds on top of --timeout to start and stop a kernel; past them the job and all its "
                        "processes are killed (default 120)")
    p.add_argument("--force", action="store_true", help="grade again submissions already autograded")
    p.add_argument("--keep", action="store_true", help="keep the job and sandbox folders (debugging)")

    p = sub.add_parser("grades", help="export grades.csv and grades-questions.csv")
    p.add_argument("--out", help="folder of the CSV files (default: the course folder)")

    p = sub.add_parser("feedback", help="per-student HTML feedback without the hidden tests")
    p.add_argument("-a", "--assignment", action="append")
    p.add_argument("-s", "--student", action="append")

    p = sub.add_parser("validate", help="run a notebook's tests; exit status 1 when one fails")
    p.add_argument("notebook")
    p.add_argument("--timeout", type=float, default=0, help="seconds for the whole notebook (0: none)")
    p.add_argument("--cell-timeout", type=float, default=0, help="seconds per cell (0: none)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import warnings

    # nbgrader's gradebook API trips SQLAlchemy's session warnings on every new submission
    warnings.filterwarnings("ignore", message=r".*not in session.*")
    try:
        if args.command == "validate":
            from .validate import validate

            return validate(Path(args.notebook), timeout=args.timeout, cell_timeout=args.cell_timeout)
        course = Course.load(args.root)
        if args.command == "release":
            from .release import release

            release(course, args.assignments or None)
            return 0
        if args.command == "collect":
            from .collect import collect, format_report, unreleased_warnings

            items = collect(course, Path(args.src), force=args.force, dry_run=args.dry_run)
            print(format_report(items))
            for warning in unreleased_warnings(course, items):
                print(warning)
            return 1 if any(i.status == "not imported" for i in items) else 0
        if args.command == "autograde":
            from .autograde import NotReleased, Options, autograde, outcomes_path

            options = Options(workers=args.workers, timeout=args.timeout, cell_timeout=args.cell_timeout,
                              memory_mb=args.memory_mb, isolation=args.isolation, sandbox_user=args.sandbox_user,
                              strict_stderr=args.strict_stderr, force=args.force, keep=args.keep,
                              grace=args.grace)
            waiting = None
            try:
                jobs = autograde(course, options, args.assignment, args.student)
            except NotReleased as error:  # submissions wait for `make release`: never a "green" run
                jobs, waiting = error.jobs, error
            counts = Counter(job.outcome for job in jobs)
            if jobs:
                print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                      + f" (log: {outcomes_path(course)})")
            if waiting is not None:
                print(f"error: {waiting}", file=sys.stderr)
                return 2
            return 3 if counts.get("failed") else 0
        if args.command == "grades":
            from .grades import export

            for path in export(course, Path(args.out) if args.out else None):
                print(f"wrote {path}")
            return 0
        if args.command == "feedback":
            from .feedback import write_feedback

            written = write_feedback(course, args.assignment, args.student)
            print(f"wrote {len(written)} feedback page(s) in {course.feedback}")
            return 0
    except (GradingError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
