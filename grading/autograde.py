"""Parallel autograding that survives hostile notebooks.

``nbgrader autograde`` grades one notebook after the other, in the course folder, and a notebook
that loops forever, eats the memory, kills its kernel or writes into the course can stop the run
or change grades. Here every (student, assignment, notebook) is a *job*:

1. **prepare** (this process, serially): read the submitted notebook (not JSON, empty, not a
   notebook -> outcome ``invalid``); sanitise it with nbgrader's own preprocessors against the
   gradebook (outputs cleared, duplicated cells ignored, kernelspec, edited read-only/test cells and
   points restored from the gradebook, hidden tests put back) and put back the read-only and test
   cells the student deleted; record what was changed in the outcome's notes.
2. **execute** (a worker process per job, ``--workers`` at a time): the worker runs the notebook in
   a kernel whose working folder is a throw-away *sandbox* outside the course (a copy of the
   assignment's other files), with ``COURSE_SMOKE=1``, a memory limit, a per-notebook and per-cell
   time limit. When grading as root on Linux the kernel is also *isolated* (``_kernel.py``): own
   mount and PID namespaces, read-only file system, the gradebook, ``submitted/``, ``autograded/``,
   ``feedback/``, the source and the other jobs hidden, no capabilities -- so even a notebook that
   knows the course's absolute path can change nothing. The worker and the kernel get their own
   session; a job that overruns its hard deadline is ended with all its processes.
3. **record** (this process, serially, so the SQLite gradebook has one writer): the executed
   notebook is scored with nbgrader's ``SaveAutoGrades`` (one difference: output on stderr -- a
   warning -- does not fail a test cell, only an error does), written to ``autograded/`` and the
   outcome is appended to ``autograded/outcomes.csv``.

Outcomes: ``graded``, ``timeout``, ``memory``, ``crashed`` (the kernel died), ``invalid`` (not a
notebook), ``missing`` (notebook not handed in), ``failed`` (the grader itself failed: scores are
left empty and marked for manual grading). Every job gets a row; one student never stops the run.
"""
from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .course import (Course, GradingError, STUDENT_ID, copy_tree_files, grade_id, nbgrader_meta,
                     retry_locked, shorten)
from .executor import guard_config, kernel_argv, write_kernelspec

OUTCOMES_FILE = "outcomes.csv"
#: Folder of a job's sandbox with the reference of the earlier notebooks (``COURSE_NOTEBOOKS`` points there).
REFERENCE_FOLDER = ".reference"
NOTEBOOKS_ENV = "COURSE_NOTEBOOKS"
OUTCOME_FIELDS = ["student", "assignment", "notebook", "outcome", "reason", "score", "max_score",
                  "seconds", "notes", "graded_at", "integrity"]
MAX_NOTEBOOK_BYTES = 100 * 1024 * 1024
STARTUP_GRACE_S = 120  # kernel start-up and shutdown, on top of the notebook's time limit
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
RESTORED_NOTE = "# (restored by the grader: this cell was missing from the submission)\n"


@dataclass
class Options:
    workers: int = 2
    timeout: float = 1800.0        #: seconds per notebook
    cell_timeout: float = 0.0      #: seconds per cell (0: nbgrader's Execute.timeout from the config)
    memory_mb: int = 4096          #: address-space limit of a kernel (0: none)
    fsize_mb: int = 2048           #: largest file a kernel may write (0: none)
    isolation: str = "auto"        #: "auto": namespaces (see _kernel.py) when root and available; "none"
    sandbox_user: str = ""         #: (root) run kernels as this user instead, e.g. "nobody"
    strict_stderr: bool = False    #: True: nbgrader's rule, output on stderr fails a test cell
    force: bool = False            #: regrade submissions already graded
    keep: bool = False             #: keep the job folders (debugging)
    threads: int = 0               #: OMP/MKL threads per kernel (0: cores // workers)
    grace: float = STARTUP_GRACE_S  #: seconds on top of ``timeout`` before a job is ended from outside


@dataclass
class Reference:
    """What the gradebook knows of one notebook of an assignment."""

    kernelspec: dict | None
    cells: dict          #: grade_id -> dict(cell_type, source, checksum, locked)
    grades: dict         #: grade_id -> max_score (grade cells)
    solutions: set
    tasks: set
    order: list          #: grade_ids in notebook order
    release: dict        #: grade_id -> (source, points) of the released notebook (what students got)


@dataclass
class Job:
    student: str
    assignment: str
    notebook: str
    path: Path                    #: the submitted notebook
    outcome: str = ""
    reason: str = ""
    notes: list = field(default_factory=list)
    score: float | None = None
    max_score: float | None = None
    seconds: float = 0.0
    job_dir: Path | None = None
    sandbox: Path | None = None
    proc: subprocess.Popen | None = None
    started: float = 0.0
    deadline: float = 0.0
    killed: bool = False
    integrity: list = field(default_factory=list)  #: findings of the integrity check (grading._guard)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.student, self.assignment, self.notebook)

    def row(self) -> dict:
        return {
            "student": self.student, "assignment": self.assignment, "notebook": self.notebook,
            "outcome": self.outcome, "reason": self.reason,
            "score": "" if self.score is None else f"{self.score:g}",
            "max_score": "" if self.max_score is None else f"{self.max_score:g}",
            "seconds": f"{self.seconds:.1f}", "notes": "; ".join(self.notes),
            "graded_at": dt.datetime.now().isoformat(timespec="seconds"),
            "integrity": "; ".join(f["message"] for f in self.integrity),
        }


# ------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------
class Autograder:
    def __init__(self, course: Course, options: Options, log=print):
        self.course, self.opts, self.log = course, options, log
        self.refs: dict[tuple[str, str], Reference] = {}
        self.user = None
        self.isolate = False
        self.run_dir: Path | None = None
        self.sandbox_root: Path | None = None
        #: assignment -> students whose submissions wait for ``make release`` (set by find_jobs)
        self.waiting: dict[str, list[str]] = {}

    # -- set-up -----------------------------------------------------------------------------
    def find_jobs(self, assignments: list[str] | None, students: list[str] | None) -> list[Job]:
        known = self.course.assignments()
        wanted = assignments or known
        unknown = sorted(set(wanted) - set(known))
        if unknown:
            raise GradingError(f"no assignment {unknown} in {self.course.source} (assignments: {known})")
        released = self.course.released()
        missing = [a for a in wanted if a not in released]
        self.waiting = {a: [s for s in names if STUDENT_ID.match(s)]
                        for a, names in self.course.submissions(missing, students).items()}
        self.waiting = {a: names for a, names in self.waiting.items() if names}
        if missing and assignments:
            if self.waiting:
                raise NotReleased(self.waiting)
            raise GradingError(f"{missing} not in the gradebook yet: run `make release` "
                               "(python -m grading release) first")
        wanted = [a for a in wanted if a in released]
        jobs = []
        root = self.course.submitted
        folders = sorted(p for p in root.glob("*/*") if p.is_dir()) if root.is_dir() else []
        for folder in folders:
            student, assignment = folder.parent.name, folder.name
            if assignment not in wanted or (students and student not in students):
                continue
            if not STUDENT_ID.match(student):
                self.log(f"skipped {folder}: {student!r} is not a valid student id")
                continue
            for notebook in self.course.notebook_names(assignment):
                jobs.append(Job(student, assignment, notebook, folder / f"{notebook}.ipynb"))
        return jobs

    def reference(self, assignment: str, notebook: str) -> Reference:
        key = (assignment, notebook)
        if key not in self.refs:
            import nbformat

            with self.course.gradebook() as gb:
                nbrec = gb.find_notebook(notebook, assignment)
                cells = {c.name: {"cell_type": c.cell_type, "source": c.source, "checksum": c.checksum,
                                  "locked": bool(c.locked)} for c in nbrec.source_cells}
                grades = {c.name: float(c.max_score) for c in nbrec.grade_cells}
                solutions = {c.name for c in nbrec.solution_cells}
                tasks = {c.name for c in nbrec.task_cells}
                kernelspec = json.loads(nbrec.kernelspec) if nbrec.kernelspec else None
            order = []
            source = self.course.source_notebook(assignment, notebook)
            if source.is_file():
                order = [grade_id(c) for c in nbformat.read(str(source), as_version=4).cells if grade_id(c)]
            order = [n for n in order if n in cells] + [n for n in cells if n not in order]
            release = {}
            released = self.course.release / assignment / f"{notebook}.ipynb"
            if released.is_file():
                for c in nbformat.read(str(released), as_version=4).cells:
                    if grade_id(c):
                        release[grade_id(c)] = (c.source, nbgrader_meta(c).get("points"))
            self.refs[key] = Reference(kernelspec, cells, grades, solutions, tasks, order, release)
        return self.refs[key]

    def choose_user(self) -> str | None:
        """``--sandbox-user`` (root, without isolation): the user kernels run as, if a test kernel starts so."""
        wanted = self.opts.sandbox_user
        if wanted in ("", "none") or not hasattr(os, "geteuid"):
            return None
        if os.geteuid() != 0:
            self.log(f"warning: --sandbox-user {wanted} needs root; kernels run as the current user")
            return None
        home = Path(tempfile.mkdtemp(prefix="grading-check-"))
        try:
            import pwd

            entry = pwd.getpwnam(wanted)
            os.chown(home, entry.pw_uid, entry.pw_gid)
            check = [sys.executable, str(Path(__file__).resolve().parent / "_kernel.py"), "--user", wanted,
                     "--home", str(home), "--check", "--", sys.executable, "-c",
                     "import ipykernel, os; open('probe', 'w').write('ok'); print(os.getuid())"]
            proc = subprocess.run(check, cwd=home, capture_output=True, text=True, timeout=120)
            if proc.returncode == 0 and proc.stdout.strip() == str(entry.pw_uid):
                return wanted
            self.log(f"warning: kernels cannot run as {wanted!r} "
                     f"({shorten(proc.stderr or proc.stdout, 200)}); they run as the current user")
        except Exception as error:
            self.log(f"warning: kernels cannot run as {wanted!r} ({error}); they run as the current user")
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return None

    def hidden_paths(self) -> list[str]:
        """What an isolated kernel must not see: the grader's state, other jobs, the instructor's source."""
        course = self.course
        paths = [course.submitted, course.autograded, course.feedback, course.source, self.run_dir, self.sandbox_root]
        db = course.db_path()
        if db is not None:
            paths.append(db.parent if db.parent.resolve() != course.root.resolve() else db)
        return [str(p) for p in paths if p is not None]

    def writable_paths(self) -> list[str]:
        """Folders an isolated kernel may write besides its sandbox: the data cache of the course's
        ``utils`` (``data/`` next to it, or ``COURSE_DATA_DIR``), where notebook 03 writes its splits;
        created here if missing, since the kernel cannot create it on a read-only file system."""
        import importlib.util

        paths = [self.course.root / "data"] if (self.course.root / "data").is_dir() else []
        try:
            spec = importlib.util.find_spec("utils")
            if spec is not None and spec.origin:
                paths.append(Path(spec.origin).resolve().parent.parent / "data")
        except (ImportError, ValueError):
            pass
        if os.environ.get("COURSE_DATA_DIR"):
            paths.append(Path(os.environ["COURSE_DATA_DIR"]))
        found = []
        for path in dict.fromkeys(paths):
            if not path.is_dir() and path.parent.is_dir() and path.name == "data":
                try:
                    path.mkdir()
                except OSError:
                    continue
            if path.is_dir():
                found.append(str(path))
        return found

    def isolation_args(self, home: Path) -> list[str]:
        args = ["--isolate", "--home", str(home)]
        for path in self.hidden_paths():
            args += ["--hide", path]
        for path in self.writable_paths():
            args += ["--writable", path]
        return args

    def choose_isolation(self) -> bool:
        """Kernels in their own mount and PID namespaces (Linux, root), if a test kernel starts so."""
        if self.opts.isolation in ("", "none") or not sys.platform.startswith("linux") or os.geteuid() != 0:
            return False
        hidden = hidden_by_private_tmp()
        if hidden:
            what, path = hidden[0]
            folder = private_root(os.path.abspath(path))
            symptom = (' ("could not start the isolated kernel: [Errno 2] No such file or directory")'
                       if "interpreter" in what else "")
            self.log(f"warning: kernels cannot be isolated here: {what} ({path}) lies under {folder}, and an "
                     f"isolated kernel gets a private, empty {folder} (so that it sees no other job): it would not "
                     f"find it{symptom}. Move the course folder, with its .venv, out of /tmp (e.g. to ~/course) to "
                     "grade isolated, or pass --isolation none (make autograde GRADING_ARGS=\"--isolation none\") to "
                     "choose this mode yourself. Now kernels run in a throw-away folder as the current user.")
            return False
        home = Path(tempfile.mkdtemp(prefix="probe-", dir=self.sandbox_root))
        try:
            db = self.course.db_path()
            probe = ("import ipykernel, os, sys; assert os.getpid() == 1, 'no PID namespace'; "
                     "assert not os.access(sys.prefix, os.W_OK), 'file system not read-only'; "
                     f"assert not os.access({str(db)!r}, os.W_OK), 'gradebook writable'; "
                     "open('probe', 'w').write('ok'); print('isolated')")
            check = [sys.executable, str(Path(__file__).resolve().parent / "_kernel.py"),
                     *self.isolation_args(home), "--check", "--", sys.executable, "-c", probe]
            proc = subprocess.run(check, cwd=home, capture_output=True, text=True, timeout=120)
            if proc.returncode == 0 and proc.stdout.strip() == "isolated":
                return True
            self.log(f"note: kernels cannot be isolated here ({shorten(proc.stderr or proc.stdout, 200)}); "
                     "they run in a throw-away folder as the current user")
        except Exception as error:
            self.log(f"note: kernels cannot be isolated here ({error}); they run in a throw-away folder "
                     "as the current user")
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return False

    def protect_state(self) -> None:
        """With kernels running as another user, keep students' answers and the gradebook private."""
        for folder in (self.course.submitted, self.course.autograded, self.course.feedback):
            if folder.is_dir():
                os.chmod(folder, 0o700)
        db = self.course.db_path()
        if db and db.is_file():
            os.chmod(db, 0o600)

    # -- the loop -----------------------------------------------------------------------------
    def run(self, jobs: list[Job]) -> list[Job]:
        done: list[Job] = []
        self.run_dir = Path(tempfile.mkdtemp(prefix="grading-run-"))
        self.sandbox_root = Path(tempfile.mkdtemp(prefix="grading-sandboxes-"))
        for folder in (self.run_dir, self.sandbox_root):
            os.chmod(folder, 0o700)
        self.isolate = self.choose_isolation()
        self.user = None if self.isolate else self.choose_user()
        if self.user:
            os.chmod(self.sandbox_root, 0o711)
            self.protect_state()
        workers = max(1, int(self.opts.workers))
        how = ("isolated (namespaces: read-only file system, grading state hidden, no capabilities)"
               if self.isolate else f"as {self.user}" if self.user else "as the current user, in a throw-away folder")
        self.log(f"autograding {len(jobs)} notebook(s) with {workers} worker(s); kernels run {how}, "
                 f"time limit {self.opts.timeout:g} s per notebook, memory limit "
                 f"{self.opts.memory_mb or 'none'} MB")
        pending = list(jobs)
        running: list[Job] = []
        try:
            while pending or running:
                while pending and len(running) < workers:
                    job = pending.pop(0)
                    try:
                        if self.prepare(job):
                            running.append(job)
                            continue
                    except Exception as error:
                        job.outcome, job.reason = "failed", f"grader error while preparing: {type(error).__name__}: {error}"
                    self.record(job)
                    done.append(job)
                for job in list(running):
                    if job.proc.poll() is None and time.monotonic() > job.deadline:
                        self.kill(job)
                    if job.proc.poll() is not None:
                        running.remove(job)
                        try:
                            self.finish(job)
                        except Exception as error:
                            job.outcome = "failed"
                            job.reason = f"grader error while recording: {type(error).__name__}: {error}"
                        self.record(job)
                        done.append(job)
                        if not self.opts.keep:
                            for folder in (job.job_dir, job.sandbox):
                                shutil.rmtree(folder, ignore_errors=True)
                if running:
                    time.sleep(0.1)
        finally:
            for job in running:
                self.kill(job)
            if not self.opts.keep:
                shutil.rmtree(self.run_dir, ignore_errors=True)
                shutil.rmtree(self.sandbox_root, ignore_errors=True)
        return done

    # -- 1. prepare ---------------------------------------------------------------------------
    def prepare(self, job: Job) -> bool:
        """Read and sanitise the notebook and start its worker; False if it needs no execution."""
        import nbformat

        out_dir = self.course.autograded / job.student / job.assignment
        if not job.path.is_file():
            others = sorted(p.name for p in job.path.parent.glob("*.ipynb"))
            job.outcome = "missing"
            job.reason = f"no {job.path.name} in the submission" + (f" (it has {others})" if others else "")
            return False
        data = job.path.read_bytes()
        if not data.strip():
            job.outcome, job.reason = "invalid", "the notebook file is empty"
            return False
        if len(data) > MAX_NOTEBOOK_BYTES:
            job.outcome, job.reason = "invalid", f"the notebook file is too large ({len(data)} bytes)"
            return False
        try:
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
            nbformat.validate(nb)
        except Exception as error:
            job.outcome, job.reason = "invalid", f"not a valid notebook: {shorten(f'{type(error).__name__}: {error}', 200)}"
            return False
        ref = self.reference(job.assignment, job.notebook)
        try:
            nb, notes = self.sanitize(nb, job, ref)
        except Exception as error:
            job.outcome = "invalid"
            job.reason = f"the notebook's nbgrader metadata is corrupted: {shorten(str(error), 200)}"
            return False
        job.notes += notes
        if not self.opts.force and self.up_to_date(job, out_dir):
            job.outcome, job.reason = "skipped", "already graded (use --force to grade again)"
            return False

        job.job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=self.run_dir))
        nbformat.write(nb, str(job.job_dir / "input.ipynb"), version=4)
        job.sandbox = Path(tempfile.mkdtemp(prefix="job-", dir=self.sandbox_root))
        work = job.sandbox / job.assignment
        work.mkdir()
        copy_tree_files(job.path.parent, work)                                    # the student's other files
        copy_tree_files(self.course.source / job.assignment, work)               # the instructor's win
        for sub in (".ipython", ".cache", ".config", ".mpl", ".runtime", ".jupyter"):
            (job.sandbox / sub).mkdir()
        self.write_reference(job.sandbox / REFERENCE_FOLDER, job.assignment)
        if self.user:
            import pwd

            entry = pwd.getpwnam(self.user)
            for path in [job.sandbox, *job.sandbox.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        argv = kernel_argv(sys.executable, self.opts.memory_mb, self.opts.fsize_mb, self.user, str(job.sandbox))
        if self.isolate:
            argv[2:2] = self.isolation_args(job.sandbox)
        write_kernelspec(job.job_dir / "kernels", argv)
        guard = guard_config(nb, lambda cell: self.trusted(cell, ref), forbidden=self.instructor_folders(),
                             folder=str(work))
        cell_timeout = self.opts.cell_timeout or float(self.course.config.Execute.get("timeout", 0) or 0)
        (job.job_dir / "job.json").write_text(json.dumps({
            "sandbox": str(work), "timeout": self.opts.timeout, "cell_timeout": cell_timeout,
            "env": self.kernel_env(job.sandbox), "guard": guard,
        }), encoding="utf-8")
        log = open(job.job_dir / "worker.log", "wb")
        bootstrap = (f"import sys; sys.path.insert(0, {PACKAGE_PARENT!r}); "
                     "from grading._worker import main; sys.exit(main(sys.argv[1:]))")
        worker_env = self.scrubbed_env()
        worker_env["JUPYTER_RUNTIME_DIR"] = str(job.job_dir / "runtime")
        job.proc = subprocess.Popen([sys.executable, "-c", bootstrap, str(job.job_dir)], cwd=job.job_dir,
                                    env=worker_env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        log.close()
        job.started = time.monotonic()
        job.deadline = job.started + (self.opts.timeout or 24 * 3600) + self.opts.grace
        return True

    @staticmethod
    def trusted(cell, ref: Reference) -> bool:
        """A read-only or test cell as the gradebook has it (with its hidden tests; the grader restored
        it): trusted code."""
        gid = grade_id(cell)
        info = ref.cells.get(gid)
        source = cell.source.removeprefix(RESTORED_NOTE)  # a deleted cell the grader put back is the instructor's
        return bool(info and info["locked"] and cell.cell_type == "code"
                    and source.strip() == (info["source"] or "").strip())

    def instructor_folders(self) -> list[str]:
        """Where the instructor's notebooks (answers, hidden tests) lie: opening them is flagged."""
        folders = [self.course.source, Path(PACKAGE_PARENT) / "solutions"]
        return sorted({str(p.resolve()) for p in folders if p is not None and p.is_dir()})

    def write_reference(self, folder: Path, assignment: str) -> None:
        """The instructor's definitions of the notebooks before ``assignment``, for ``COURSE_NOTEBOOKS``.

        A later notebook runs on the code of earlier ones (``utils.notebooks``); graded, it gets the
        reference, so that a wrong answer in one notebook costs points there only. Only what the
        loader reads is copied (imports, answer and definition cells): no tests, hidden or not.
        """
        from utils.notebooks import export_definitions

        for earlier in self.course.assignments():
            if earlier >= assignment:
                continue
            for notebook in self.course.notebook_names(earlier):
                export_definitions(self.course.source_notebook(earlier, notebook),
                                   folder / earlier / f"{notebook}.ipynb")

    def up_to_date(self, job: Job, out_dir: Path) -> bool:
        graded = out_dir / f"{job.notebook}.ipynb"
        return graded.is_file() and graded.stat().st_mtime >= job.path.stat().st_mtime

    def sanitize(self, nb, job: Job, ref: Reference):
        """nbgrader's sanitising preprocessors, plus restoring deleted read-only cells; returns notes."""
        from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteCells,
                                            OverwriteKernelspec)

        notes = []
        ids = [grade_id(c) for c in nb.cells if grade_id(c)]
        dupes = sorted(n for n, k in Counter(ids).items() if k > 1)
        if dupes:
            notes.append(f"duplicated cells ignored, the last copy is graded: {', '.join(dupes)}")
        unknown = sorted(set(ids) - set(ref.cells))
        if unknown:
            notes.append(f"cells with unknown ids treated as ordinary cells: {', '.join(unknown)}")
        name = (nb.metadata.get("kernelspec") or {}).get("name")
        if ref.kernelspec and name != ref.kernelspec.get("name"):
            notes.append(f"kernel {name!r} replaced by {ref.kernelspec.get('name')!r}")
        edited = []
        for cell in nb.cells:
            gid = grade_id(cell)
            if gid not in ref.cells or not ref.cells[gid]["locked"]:
                continue
            released = ref.release.get(gid)
            points = nbgrader_meta(cell).get("points")
            if (cell.cell_type != ref.cells[gid]["cell_type"]
                    or (released is not None and cell.source.strip() != released[0].strip())
                    or (gid in ref.grades and points is not None and float(points) != ref.grades[gid])):
                edited.append(gid)
        if edited:
            notes.append(f"edited read-only/test cells restored: {', '.join(sorted(set(edited)))}")

        resources = {"nbgrader": {"notebook": job.notebook, "assignment": job.assignment,
                                  "student": job.student, "db_url": self.course.db_url}}
        config = self.course.config
        for cls in (ClearOutput, DeduplicateIds, OverwriteKernelspec):
            nb, resources = cls(config=config).preprocess(nb, resources)
        for cell in nb.cells:  # DeduplicateIds leaves {} that CheckCellMetadata rejects
            if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"]:
                del cell.metadata["nbgrader"]
        overwrite = OverwriteCells(config=config)
        overwrite.add_missing_cells = False  # done below (nbgrader's version fails on some deletions)
        nb, resources = retry_locked(lambda: overwrite.preprocess(nb, resources))
        restored = restore_missing_cells(nb, ref)
        if restored:
            notes.append(f"deleted cells put back: {', '.join(restored)}")
        CheckCellMetadata(config=config).preprocess(nb, resources)
        return nb, notes

    def scrubbed_env(self) -> dict[str, str]:
        """The environment of workers: the course's paths and nbgrader's settings removed."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("NBGRADER_", "JPY_")) and k not in ("PWD", "OLDPWD", "VIRTUAL_ENV_PROMPT")}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        return env

    def kernel_env(self, home: Path) -> dict[str, str]:
        env = self.scrubbed_env()
        threads = self.opts.threads or max(1, (os.cpu_count() or 1) // max(1, self.opts.workers))
        env.update({
            "COURSE_SMOKE": "1", "NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "Agg",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "MALLOC_ARENA_MAX": "2",
            "HOME": str(home), "IPYTHONDIR": str(home / ".ipython"), "MPLCONFIGDIR": str(home / ".mpl"),
            "XDG_CACHE_HOME": str(home / ".cache"), "XDG_CONFIG_HOME": str(home / ".config"),
            "JUPYTER_CONFIG_DIR": str(home / ".jupyter"), "JUPYTER_RUNTIME_DIR": str(home / ".runtime"),
            "TMPDIR": str(home), NOTEBOOKS_ENV: str(home / REFERENCE_FOLDER),
        })
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(var, str(threads))
        return env

    # -- 2. the hard deadline ------------------------------------------------------------------
    def kill(self, job: Job) -> None:
        from ._worker import end_descendants

        if job.proc is None or job.proc.poll() is not None:
            return
        job.killed = True
        end_descendants(job.proc.pid)
        try:
            os.killpg(job.proc.pid, 9)
        except OSError:
            pass
        try:
            job.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    # -- 3. record ----------------------------------------------------------------------------
    def finish(self, job: Job) -> None:
        import nbformat

        job.seconds = time.monotonic() - job.started
        result_path, output_path = job.job_dir / "result.json", job.job_dir / "output.ipynb"
        if job.killed:
            job.outcome = "timeout"
            job.reason = (f"ended after {job.seconds:.0f} s: the notebook did not finish within its "
                          f"{self.opts.timeout:g} s limit (+{self.opts.grace:g} s to start and stop the kernel)")
            return
        if not result_path.is_file():
            tail = (job.job_dir / "worker.log").read_text(errors="replace")[-500:]
            job.outcome = "failed"
            job.reason = f"the grading worker stopped (exit code {job.proc.returncode}): {shorten(tail, 300)}"
            return
        result = json.loads(result_path.read_text(encoding="utf-8"))
        job.notes += result.get("notes", [])
        status = result.get("status")
        if status == "error" or not output_path.is_file():
            job.outcome, job.reason = "failed", shorten(result.get("reason", "unknown error"), 300)
            return
        nb = nbformat.read(str(output_path), as_version=4)
        job.outcome = {"ok": "graded", "timeout": "timeout", "crashed": "crashed"}.get(status, "failed")
        job.reason = result.get("reason", "")
        cell = result.get("cell")
        def where(index):
            if index is None or not 0 <= index < len(nb.cells):
                return ""
            gid = grade_id(nb.cells[index])
            return f" [cell {index}{': ' + gid if gid else ''}]"

        if job.reason:
            job.reason += where(cell)
        job.integrity = [dict(f, where=where(f.get("cell")).strip(" []")) for f in result.get("integrity", [])]
        if job.integrity:
            job.notes.append(f"flagged by the integrity check ({len(job.integrity)} finding(s), column integrity): "
                             "the graded cells from the first one on are held for grading by hand")
            self.log(f"{job.student}: FLAGGED by the integrity check: "
                     + "; ".join(f["message"] + (f" [{f['where']}]" if f["where"] else "") for f in job.integrity))
        if result.get("memory"):
            memory = f"out of memory (limit {self.opts.memory_mb} MB){where(result.get('memory_cell'))}"
            if job.outcome in ("graded", "crashed"):
                job.outcome = "memory"
                job.reason = f"{job.reason}; {memory}" if job.reason else memory
            else:
                job.notes.append(memory)
        self.save_scores(job, nb)

    def save_scores(self, job: Job, nb) -> None:
        """Score the executed notebook into the gradebook; write it to autograded/."""
        from nbgrader.preprocessors import AssignLatePenalties, IgnorePattern, LimitOutput, SaveAutoGrades

        config = self.course.config
        resources = {"nbgrader": {"notebook": job.notebook, "assignment": job.assignment,
                                  "student": job.student, "db_url": self.course.db_url}}
        for cls in (IgnorePattern, LimitOutput):
            nb, resources = cls(config=config).preprocess(nb, resources)
        scored = copy.deepcopy(nb)
        if not self.opts.strict_stderr:
            for cell in scored.cells:
                if nbgrader_meta(cell).get("grade") and cell.cell_type == "code":
                    cell.outputs = [o for o in cell.outputs
                                    if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]

        held = held_cells(nb, job.integrity)

        def write():
            self.ensure_submission(job)
            SaveAutoGrades(config=config).preprocess(scored, resources)
            AssignLatePenalties(config=config).preprocess(scored, resources)
            if held:
                with self.course.gradebook() as gb:
                    notebook = gb.find_submission_notebook(job.notebook, job.assignment, job.student)
                    for grade in notebook.grades:
                        if grade.name in held:
                            grade.needs_manual_grade = True
                    gb.db.commit()

        retry_locked(write)
        out_dir = self.reset_autograded(job)
        import nbformat

        nbformat.write(nb, str(out_dir / f"{job.notebook}.ipynb"), version=4)
        self.read_score(job)

    def ensure_submission(self, job: Job):
        timestamp = None
        stamp = job.path.parent / "timestamp.txt"
        if stamp.is_file():
            timestamp = stamp.read_text(encoding="utf-8", errors="replace").strip() or None
        with self.course.gradebook() as gb:
            gb.update_or_create_student(job.student)
            try:
                gb.update_or_create_submission(job.assignment, job.student,
                                               **({"timestamp": timestamp} if timestamp else {}))
            except Exception:
                gb.db.rollback()
                gb.update_or_create_submission(job.assignment, job.student)

    def zero_scores(self, job: Job, ungraded: bool = False) -> None:
        """No executed notebook: 0 for every graded cell (``ungraded``: empty, to grade by hand)."""
        def write():
            self.ensure_submission(job)
            with self.course.gradebook() as gb:
                notebook = gb.find_submission_notebook(job.notebook, job.assignment, job.student)
                for grade in notebook.grades:
                    grade.auto_score = None if ungraded else 0
                    grade.needs_manual_grade = ungraded
                gb.db.commit()

        retry_locked(write)
        graded = self.course.autograded / job.student / job.assignment / f"{job.notebook}.ipynb"
        if graded.is_file():
            graded.unlink()  # a stale copy from an earlier run would contradict the outcome
        self.read_score(job)

    def reset_autograded(self, job: Job) -> Path:
        """autograded/<student>/<assignment>/: the other files, as ``nbgrader autograde`` leaves them."""
        out_dir = self.course.autograded / job.student / job.assignment
        out_dir.mkdir(parents=True, exist_ok=True)
        copy_tree_files(job.path.parent, out_dir)
        copy_tree_files(self.course.source / job.assignment, out_dir)
        stamp = job.path.parent / "timestamp.txt"
        if stamp.is_file():
            shutil.copyfile(stamp, out_dir / "timestamp.txt")
        return out_dir

    def read_score(self, job: Job) -> None:
        with self.course.gradebook() as gb:
            notebook = gb.find_submission_notebook(job.notebook, job.assignment, job.student)
            grades = list(notebook.grades)
            job.max_score = float(sum(g.max_score for g in grades))
            scores = [g.score for g in grades]
            job.score = None if any(g.auto_score is None and g.manual_score is None for g in grades) \
                else float(sum(s or 0 for s in scores))

    def record(self, job: Job) -> None:
        if job.outcome in ("invalid", "missing", "timeout", "failed") and job.score is None and job.outcome != "skipped":
            try:
                self.zero_scores(job, ungraded=job.outcome == "failed")
            except Exception as error:
                job.notes.append(f"could not write the gradebook: {error}")
        if job.outcome != "skipped":
            append_outcomes(self.course, [job.row()])
        score = "" if job.score is None else f" {job.score:g}/{job.max_score:g}"
        self.log(f"{job.student:<16} {job.assignment}/{job.notebook}: {job.outcome}{score}"
                 + (f" -- {job.reason}" if job.reason else "") + (f" [{'; '.join(job.notes)}]" if job.notes else ""))


#: Folders an isolated kernel gets new and empty (``_kernel.py``): what lies under them is gone for it.
PRIVATE_FOLDERS = ("/tmp", "/dev/shm")


def private_root(path: str) -> str:
    """The private folder of an isolated kernel that ``path`` lies under, or ''."""
    for folder in PRIVATE_FOLDERS:
        if path == folder or path.startswith(folder.rstrip("/") + "/"):
            return folder
    return ""


def hidden_by_private_tmp() -> list[tuple[str, str]]:
    """(what, path) of what an isolated kernel needs but would not see: the interpreter, its
    environment (site-packages) or the course's ``utils`` under /tmp (a course cloned into /tmp,
    with its .venv). The kernel's /tmp is new and empty, so its ``execv`` fails with ENOENT."""
    import importlib.util

    needed = [("the Python interpreter", sys.executable), ("the Python interpreter", os.path.realpath(sys.executable)),
              ("its environment", sys.prefix), ("its environment", os.path.realpath(sys.prefix))]
    try:
        spec = importlib.util.find_spec("utils")
        if spec is not None and spec.origin:
            needed.append(("the course's utils package", os.path.realpath(os.path.dirname(spec.origin))))
    except (ImportError, ValueError):
        pass
    return [(what, path) for what, path in needed if private_root(os.path.abspath(path))]


def held_cells(nb, findings: list[dict]) -> set[str]:
    """The graded cells an integrity finding puts in doubt: those from the cell where it was found
    on (all of them when it is not known where): the instructor grades them by hand."""
    if not findings:
        return set()
    cells = [f.get("cell") for f in findings]
    first = 0 if any(c is None for c in cells) else min(cells)
    return {grade_id(c) for i, c in enumerate(nb.cells) if i >= first and nbgrader_meta(c).get("grade")}


def restore_missing_cells(nb, ref: Reference) -> list[str]:
    """Put back the read-only and graded cells of ``ref`` that the notebook lacks, where they were."""
    from nbformat.v4 import new_code_cell, new_markdown_cell
    from nbgrader.nbgraderformat import MetadataValidator

    restored = []
    for position, name in enumerate(ref.order):
        present = {grade_id(c): i for i, c in enumerate(nb.cells) if grade_id(c)}
        if name in present:
            continue
        info = ref.cells[name]
        if not (info["locked"] or name in ref.grades or name in ref.tasks):
            continue  # an answer cell the student deleted: nothing to grade there
        meta = {"grade": name in ref.grades, "grade_id": name, "locked": info["locked"],
                "solution": name in ref.solutions, "task": name in ref.tasks, "schema_version": 3,
                "checksum": info["checksum"], "cell_type": info["cell_type"]}
        if name in ref.grades:
            meta["points"] = ref.grades[name]
        if info["cell_type"] == "code":
            cell = new_code_cell(RESTORED_NOTE + info["source"])
        else:
            cell = new_markdown_cell("*(restored by the grader: this cell was missing from the submission)*\n\n"
                                     + info["source"])
        cell.metadata["nbgrader"] = meta
        cell = MetadataValidator().upgrade_cell_metadata(cell)
        index = 0
        for previous in reversed(ref.order[:position]):
            if previous in present:
                index = present[previous] + 1
                break
        nb.cells.insert(index, cell)
        restored.append(name)
    return restored


# ------------------------------------------------------------------------------------------
# The outcomes log: autograded/outcomes.csv, one row per (student, assignment, notebook)
# ------------------------------------------------------------------------------------------
def outcomes_path(course: Course) -> Path:
    return course.autograded / OUTCOMES_FILE


def read_outcomes(course: Course) -> list[dict]:
    path = outcomes_path(course)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def append_outcomes(course: Course, rows: list[dict]) -> None:
    """Replace the rows of the same (student, assignment, notebook), keep the others."""
    path = outcomes_path(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {(r["student"], r["assignment"], r["notebook"]) for r in rows}
    kept = [r for r in read_outcomes(course) if (r["student"], r["assignment"], r["notebook"]) not in keys]
    allrows = sorted(kept + rows, key=lambda r: (r["assignment"], r["student"], r["notebook"]))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=OUTCOME_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(allrows)
    os.replace(tmp, path)


def autograde(course: Course, options: Options, assignments: list[str] | None = None,
              students: list[str] | None = None, log=print) -> list[Job]:
    """Grade the submissions of the released assignments; the jobs, one per (student, notebook).

    Raises
    ------
    NotReleased
        Some submissions wait for ``make release`` (their assignment is not in the gradebook):
        raised after grading the others (``error.jobs``), so that the run does not end "green".
    """
    grader = Autograder(course, options, log)
    jobs = grader.find_jobs(assignments, students)
    done = grader.run(jobs) if jobs else []
    if grader.waiting:
        raise NotReleased(grader.waiting, done)
    if not jobs:
        log("nothing to grade: no submissions in " + str(course.submitted))
    return done


class NotReleased(GradingError):
    """Submissions in ``submitted/`` whose assignment is not in the gradebook yet: ``make release``
    first (``make collect`` works without it, autograding does not)."""

    def __init__(self, waiting: dict[str, list[str]], jobs: list[Job] | None = None):
        self.waiting, self.jobs = waiting, list(jobs or [])
        super().__init__(waiting_message(waiting, graded_others=bool(self.jobs)))


def waiting_message(waiting: dict[str, list[str]], graded_others: bool = False, shown: int = 8) -> str:
    """What to tell the instructor about submissions that wait for ``make release``."""
    count = sum(len(students) for students in waiting.values())
    lines = [f"{count} submission(s) in submitted/ wait for `make release` and were not graded"
             + (" (the others were)" if graded_others else "") + ":"]
    for assignment, students in sorted(waiting.items()):
        names = ", ".join(students[:shown]) + (f" and {len(students) - shown} more" if len(students) > shown else "")
        lines.append(f"  {assignment} (not in the gradebook yet): {names}")
    lines.append("Only assignments in the gradebook can be graded, and `make release` (python -m grading release) "
                 "puts them there: run it, then autograde again.")
    return "\n".join(lines)
