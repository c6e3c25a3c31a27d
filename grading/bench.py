"""Time parallel autograding: ``python -m grading.bench [--submissions 40] [--workers 2 1]``.

Builds a temporary course with the 01-attention release and N fake submissions (copies of the
instructor's solution and, every fourth one, a wrong variant from ``tests/submissions/01-attention``),
then grades all of them with ``python -m grading autograde --force`` once per ``--workers`` value and
prints the wall time, the speed-up over the first value of 1 worker and the machine's load average
(sampled every 5 s during each run: on a shared machine the load says how far the numbers can be
trusted). Every run must give every submission the same score.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _wrong_variants(assignment: str) -> list:
    """The wrong variants of ``tests/submissions/<assignment>/`` (edits of the current solution),
    read by the pipeline test's own harness so that both see the same cells."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        import grading_harness
    finally:
        sys.path.remove(str(REPO / "tests"))
    return [v for v in grading_harness.load_variants(assignment) if not v.full_marks]


def build(course: Path, count: int, assignment: str = "01-attention") -> dict[str, str]:
    import nbformat

    course.mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions" / assignment, course / "solutions" / assignment)
    _cli(course, "release", assignment)
    release = nbformat.read(str(course / "course" / assignment / f"{assignment}.ipynb"), as_version=4)
    source = nbformat.read(str(course / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)
    solution = {c.metadata.nbgrader["grade_id"]: "\n".join(
        l for l in c.source.splitlines() if l.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
        for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    wrong = _wrong_variants(assignment)
    kinds = {}
    for i in range(count):
        cells = dict(solution)
        kind = "solution"
        if wrong and i % 4 == 3:
            variant = wrong[(i // 4) % len(wrong)]
            cells.update(variant.cells)
            kind = variant.name
        nb = nbformat.from_dict(release)
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution") and gid in cells:
                cell.source = cells[gid]
        student = f"student{i:03d}"
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{assignment}.ipynb"))
        kinds[student] = kind
    return kinds


def _cli(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, "-m", "grading", "--root", str(course), *args], cwd=REPO, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"grading {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0]) if Path("/proc/loadavg").exists() else os.getloadavg()[0]


def run(course: Path, workers: int) -> dict:
    samples, stop = [_load()], threading.Event()

    def sample():
        while not stop.wait(5):
            samples.append(_load())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    started = time.monotonic()
    _cli(course, "autograde", "--workers", str(workers), "--force")
    seconds = time.monotonic() - started
    stop.set()
    thread.join()
    with open(course / "autograded" / "outcomes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"workers": workers, "seconds": round(seconds, 1), "load_min": min(samples), "load_mean":
            round(sum(samples) / len(samples), 2), "load_max": max(samples),
            "outcomes": {r["student"]: (r["outcome"], r["score"]) for r in rows}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="grading-bench-"))
    try:
        kinds = build(tmp / "course", args.submissions)
        print(f"{args.submissions} submissions ({sum(k == 'solution' for k in kinds.values())} solutions), "
              f"{os.cpu_count()} CPUs, load before {_load():.2f}", flush=True)
        results = []
        for workers in args.workers:
            result = run(tmp / "course", workers)
            results.append(result)
            print(f"workers={workers}: {result['seconds']:.1f} s  (load avg during the run: min "
                  f"{result['load_min']:.2f} mean {result['load_mean']:.2f} max {result['load_max']:.2f})", flush=True)
        base = next((r for r in results if r["workers"] == 1), None)
        for r in results:
            if base and r is not base:
                print(f"speed-up of {r['workers']} workers over 1: {base['seconds'] / r['seconds']:.2f}x")
        same = all(r["outcomes"] == results[0]["outcomes"] for r in results)
        graded = all(o == "graded" for o, _ in results[0]["outcomes"].values())
        full = {s for s, (_, score) in results[0]["outcomes"].items() if score == "25"}
        solutions = {s for s, k in kinds.items() if k == "solution"}
        print(f"all graded: {graded}; same scores in every run: {same}; solutions with full marks: "
              f"{len(solutions & full)}/{len(solutions)}")
        holes = sorted({kinds[s] for s in full - solutions})
        if holes:
            print(f"note: wrong variants that got full marks (a hole in the notebook's tests?): {holes}")
        if args.out:
            Path(args.out).write_text(json.dumps({"kinds": kinds, "results": results}, indent=1))
        return 0 if same and graded and solutions <= full else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
