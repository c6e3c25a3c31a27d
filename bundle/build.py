"""The archive an instructor hands out to a class without a hub (``make bundle``).

    .venv/bin/python bundle/build.py [--out dist/transformers-course-student.zip]

One folder, ``transformers-course/``, with what a student needs and nothing of the instructor's:

- ``course/``          the student release (``make release``), every assignment;
- ``utils/``           the course's helpers that the notebooks import (never an answer);
- ``media/``           the figures the notebooks show;
- ``pyproject.toml``, ``environment.yml``   the course's pins (less the instructor's hub server),
                       installing ``utils`` only;
- ``Makefile``, ``README.md``   ``make lab``, and a short student README (``bundle/``).

Never in it: ``solutions/`` (the instructor's notebooks), hidden tests, ``grading/``, ``tests/``,
nbgrader's gradebook or configuration, submissions. Before writing, every file is checked for
nbgrader's solution and hidden-test markers (an error names the file).
"""
from __future__ import annotations

import argparse
import sys
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TOP = "transformers-course"
#: Packages of the course's environment that only the instructor's hub needs.
HUB_ONLY = {"jupyterhub"}
JUNK = {".ipynb_checkpoints", "__pycache__", ".DS_Store", "Thumbs.db"}
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


class BundleError(RuntimeError):
    """Something the instructor has to fix before the bundle can be built."""


def student_dependencies() -> list[str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    return [d for d in deps if d.split("==")[0].strip().lower() not in HUB_ONLY]


def pyproject(deps: list[str]) -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = "\n".join(f'    "{d}",' for d in deps)
    return f'''[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "transformers-from-scratch-course-student"
version = "{project["version"]}"
description = "{project["description"]} (student edition)"
readme = "README.md"
requires-python = "{project["requires-python"]}"
# The course's pinned environment (environment.yml lists the same packages).
dependencies = [
{lines}
]

[tool.setuptools]
packages = ["utils"]
'''


def environment_yml(deps: list[str]) -> str:
    lines = "\n".join(f"      - {d}" for d in deps)
    return f'''# conda env create -f environment.yml && conda activate transformers-course
# then, from this folder:  jupyter lab
name: transformers-course
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
{lines}
      - -e .   # the course's helpers (import utils) from this folder
'''


def contents() -> dict[str, bytes]:
    """Archive path (below ``transformers-course/``) -> bytes."""
    solutions = REPO / "solutions"
    assignments = sorted(p.name for p in solutions.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
    missing = [a for a in assignments if not (REPO / "course" / a).is_dir()]
    if missing:
        raise BundleError(f"course/ has no release of {missing}: run `make release` first")
    files: dict[str, bytes] = {}

    def add_tree(folder: Path, name: str, pattern: str = "*"):
        for path in sorted(folder.rglob(pattern)):
            rel = path.relative_to(folder)
            if path.is_file() and not JUNK & set(rel.parts) and path.suffix != ".pyc":
                files[f"{name}/{rel.as_posix()}"] = path.read_bytes()

    for assignment in assignments:
        add_tree(REPO / "course" / assignment, f"course/{assignment}")
    add_tree(REPO / "utils", "utils", "*.py")
    add_tree(REPO / "media", "media", "*.png")
    deps = student_dependencies()
    files["pyproject.toml"] = pyproject(deps).encode()
    files["environment.yml"] = environment_yml(deps).encode()
    files["Makefile"] = (HERE / "Makefile").read_bytes()
    files["README.md"] = (HERE / "README.md").read_bytes()
    leaks = [f"{name} (contains `{m}`)" for name, data in files.items() for m in MARKERS
             if m.encode() in data]
    if leaks:
        raise BundleError("refusing to bundle solution or hidden-test code: " + "; ".join(leaks))
    return files


def build(out: Path) -> Path:
    files = contents()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"{TOP}/{name}", date_time=(2020, 1, 1, 0, 0, 0))  # reproducible
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    tmp.replace(out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "transformers-course-student.zip")
    args = parser.parse_args(argv)
    if args.out.suffix != ".zip":
        parser.error(f"--out must name a .zip file, not {args.out}")
    try:
        out = build(args.out)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(out) as archive:
        count = len(archive.namelist())
    print(f"wrote {out} ({count} files, {out.stat().st_size // 1024} KiB): unzip it, then `make lab` in {TOP}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
