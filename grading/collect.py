"""Import returned notebooks into ``submitted/<student>/<assignment>/<notebook>.ipynb``.

Accepted layouts of the folder ``SRC`` (mixing them is fine):

1. ``SRC/<student>/<assignment>/<anything>.ipynb`` -- nbgrader's own layout. When the assignment
   has a single notebook, its file may have any name (it is renamed to the release name); with
   several notebooks the names must be the release names. Other files of that folder (e.g.
   ``timestamp.txt``, data the student added) are copied along.
2. ``SRC/<student>/<assignment>.ipynb`` (or ``<notebook>.ipynb``) -- a folder per student.
3. ``SRC/<student>_<assignment>.ipynb`` or ``SRC/<student>-<assignment>.ipynb`` (the notebook
   name instead of the assignment works too; the name is matched case-insensitively and the
   student id is what comes before it, e.g. ``alice_01-attention.ipynb``,
   ``bob-smith-01-attention.ipynb`` -> ``bob-smith``).

Student ids are letters, digits, ``_``, ``-`` and ``.`` (not first). Nothing is dropped silently:
every file under SRC is reported as imported, unchanged, or not imported with the reason (unknown
assignment, name that matches no pattern, bad student id, two files for the same notebook -- then
neither is imported --, a different submission already in ``submitted/`` without ``--force``, not
a notebook, editor/OS droppings). A notebook that is not valid JSON is imported with a warning: the
autograder records it as ``invalid`` (0 points) rather than losing it.
"""
from __future__ import annotations

import csv
import json
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .course import JUNK, STUDENT_ID, Course

REPORT_NAME = "collect-report.csv"


@dataclass
class Item:
    source: Path
    rel: str
    student: str = ""
    assignment: str = ""
    target: str = ""          #: file name inside submitted/<student>/<assignment>/
    status: str = ""          #: imported | replaced | unchanged | extra | not imported | ignored
    reason: str = ""

    @property
    def key(self):
        return (self.student, self.assignment, self.target)


def _names(course: Course) -> dict[str, tuple[str, str]]:
    """Lower-cased assignment and notebook names -> (assignment, notebook or '' for 'the only one')."""
    names: dict[str, tuple[str, str]] = {}
    for assignment in course.assignments():
        notebooks = course.notebook_names(assignment)
        for notebook in notebooks:
            names.setdefault(notebook.lower(), (assignment, notebook))
        if len(notebooks) == 1:
            names[assignment.lower()] = (assignment, notebooks[0])
    return names


def _classify(course: Course, src: Path, path: Path, names, assignments) -> Item:
    rel_parts = path.relative_to(src).parts
    item = Item(path, "/".join(rel_parts))
    if any(part in JUNK or part.startswith(".") for part in rel_parts):
        item.status, item.reason = "ignored", "editor/OS file or hidden file"
        return item
    is_nb = path.suffix.lower() == ".ipynb"
    stem = path.name[: -len(".ipynb")] if is_nb else path.name

    def by_name(text: str, student: str | None = None):
        """(student, assignment, notebook) from a name such as alice_01-attention or 01-attention."""
        low = text.lower()
        if student is not None and low in names:
            return (student, *names[low])
        for name in sorted(names, key=len, reverse=True):
            match = re.fullmatch(rf"(?P<student>.+?)[_-]{re.escape(name)}", low)
            if match:
                return (text[: match.end("student")], *names[name])
        return None

    if len(rel_parts) == 1:
        if not is_nb:
            item.status, item.reason = "not imported", "not a notebook (only .ipynb files are imported)"
            return item
        found = by_name(stem)
        if not found:
            item.status = "not imported"
            item.reason = ("bad name: expected <student>_<assignment>.ipynb or <student>-<assignment>.ipynb "
                           f"with an assignment of {sorted(assignments)}")
            return item
        item.student, item.assignment, notebook = found
        item.target = f"{notebook}.ipynb"
    elif len(rel_parts) == 2:
        item.student = rel_parts[0]
        if not is_nb:
            item.status, item.reason = "not imported", "not a notebook, and not inside an <assignment>/ folder"
            return item
        found = by_name(stem, item.student)
        if found and found[0] != item.student and found[0].lower() != item.student.lower():
            found = None
        if not found:
            item.status = "not imported"
            item.reason = (f"bad name: {rel_parts[0]}/{path.name} names no assignment of {sorted(assignments)}")
            return item
        _, item.assignment, notebook = found
        item.target = f"{notebook}.ipynb"
    else:
        item.student, item.assignment = rel_parts[0], rel_parts[1]
        if item.assignment not in assignments:
            item.status, item.reason = "not imported", f"unknown assignment {item.assignment!r} (assignments: {sorted(assignments)})"
            return item
        inner = rel_parts[2:]
        notebooks = course.notebook_names(item.assignment)
        if is_nb and len(inner) == 1:
            if stem in notebooks:
                item.target = path.name
            elif len(notebooks) == 1:
                item.target = f"{notebooks[0]}.ipynb"
            else:
                item.status, item.reason = "not imported", f"unknown notebook {path.name} (expected one of {notebooks})"
                return item
        elif is_nb:
            item.status, item.reason = "not imported", "a notebook in a sub-folder of the assignment folder"
            return item
        else:
            item.target = "/".join(inner)
            item.status = "extra"
    if not STUDENT_ID.match(item.student):
        item.status = "not imported"
        item.reason = f"bad student id {item.student!r} (letters, digits, _ - . allowed)"
    return item


def plan(course: Course, src: Path) -> list[Item]:
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"{src} is not a folder")
    assignments = set(course.assignments())
    names = _names(course)
    items = [_classify(course, src, p, names, assignments) for p in sorted(src.rglob("*")) if p.is_file()]
    groups = defaultdict(list)
    for item in items:
        if item.status in ("", "extra"):
            groups[item.key].append(item)
    for key, group in groups.items():
        if len(group) > 1:
            others = ", ".join(i.rel for i in group)
            for item in group:
                item.status = "not imported"
                item.reason = f"duplicate: {len(group)} files for {key[0]}/{key[1]}/{key[2]} ({others}); keep one and collect again"
    return items


def collect(course: Course, src: Path, force: bool = False, dry_run: bool = False) -> list[Item]:
    items = plan(course, src)

    def decide(item: Item) -> None:
        target = course.submitted / item.student / item.assignment / item.target
        data = item.source.read_bytes()
        if target.is_file() and target.read_bytes() == data:
            item.status = "unchanged" if item.status == "" else "extra"
            item.reason = item.reason or "already in submitted/"
            return
        if target.exists() and not force:
            item.status = "not imported"
            item.reason = f"a different {item.target} is already in {target.parent} (use --force to replace it)"
            return
        replacing = target.exists()
        if item.status == "":
            item.status = "replaced" if replacing else "imported"
            try:
                json.loads(data.decode("utf-8"))
            except Exception:
                item.reason = "warning: not valid JSON, it will be graded as an invalid notebook"
        if not dry_run:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.source, target)  # a new mtime: the autograder sees it as new

    for item in items:  # notebooks first...
        if item.status == "":
            decide(item)
    # ... then the other files of a folder, unless its notebook was not imported
    blocked = {(i.student, i.assignment) for i in items if i.status == "not imported" and i.assignment}
    for item in items:
        if item.status != "extra":
            continue
        if (item.student, item.assignment) in blocked:
            item.status, item.reason = "not imported", "its notebook was not imported"
        else:
            decide(item)
    if not dry_run and course.submitted.is_dir():
        with open(course.submitted / REPORT_NAME, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "status", "student", "assignment", "target", "reason"])
            for item in items:
                writer.writerow([item.rel, item.status, item.student, item.assignment, item.target, item.reason])
    return items


def unreleased_warnings(course: Course, items: list[Item]) -> list[str]:
    """A warning per assignment collected here that is not in the gradebook yet: ``make autograde``
    grades only released assignments (collecting works without a release, grading does not)."""
    collected: dict[str, set[str]] = defaultdict(set)
    for item in items:
        if item.status in ("imported", "replaced", "unchanged") and item.assignment:
            collected[item.assignment].add(item.student)
    if not collected:
        return []
    released = course.released()
    waiting = course.submissions(sorted(set(collected) - released))
    return [f"warning: {assignment} is not in the gradebook yet: its {len(students)} submission(s) in submitted/ "
            "wait for `make release` (python -m grading release); run it before `make autograde`"
            for assignment, students in sorted(waiting.items())]


def format_report(items: list[Item]) -> str:
    lines = []
    good = [i for i in items if i.status in ("imported", "replaced", "unchanged", "extra")]
    bad = [i for i in items if i.status == "not imported"]
    ignored = [i for i in items if i.status == "ignored"]
    for title, group in (("imported", good), ("NOT imported", bad), ("ignored", ignored)):
        lines.append(f"{title}: {len(group)}")
        for item in group:
            where = f" -> {item.student}/{item.assignment}/{item.target}" if item.target and item.status != "not imported" else ""
            status = f"[{item.status}] " if title == "imported" else ""
            lines.append(f"  {status}{item.rel}{where}" + (f"  ({item.reason})" if item.reason else ""))
    return "\n".join(lines)
