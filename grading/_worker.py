"""One autograding job, in its own process: ``python -m grading._worker JOB_FOLDER``.

The orchestrator (:mod:`grading.autograde`) writes ``job.json`` and the sanitised notebook
``input.ipynb`` into a private job folder, starts this worker in a new session and reads back
``output.ipynb`` (the executed notebook) and ``result.json``. The worker never touches the
gradebook or the course folders: the kernel it starts runs in the sandbox folder named by the
job, under the limits of :mod:`grading._kernel`.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path


def _become_subreaper() -> None:
    """Orphans of the kernel (daemons a student started) are re-parented to this process, so that
    they can be found and ended with it (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def end_descendants(pid: int | None = None, grace: float = 0.0, patience: float = 0.0) -> int:
    """SIGKILL every descendant of ``pid`` (default: this process) and their process groups; return
    how many there were (after waiting up to ``patience`` seconds for them to end by themselves)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        return 0
    if pid is None:  # reap the children that already ended (this process is their subreaper)
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
    try:
        root = psutil.Process(pid or os.getpid())
        children = [c for c in root.children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]
    except psutil.Error:
        return 0
    if patience and children:  # a kernel that was just killed takes a moment to go
        _, children = psutil.wait_procs(children, timeout=patience)
        children = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    groups = set()
    for child in children:
        try:
            groups.add(os.getpgid(child.pid))
        except OSError:
            pass
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass
    for group in groups - {os.getpgid(0)}:
        try:
            os.killpg(group, 9)
        except OSError:
            pass
    if grace:
        psutil.wait_procs(children, timeout=grace)
    return len(children)


def main(argv: list[str]) -> int:
    job_dir = Path(argv[0])
    _become_subreaper()
    started = time.monotonic()
    result: dict = {"status": "error", "reason": "the worker did not finish"}
    try:
        import nbformat

        from .executor import GradingClient

        job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
        nb = nbformat.read(str(job_dir / "input.ipynb"), as_version=4)
        client = GradingClient(
            kernel_dirs=[str(job_dir / "kernels")],
            cwd=job["sandbox"],
            env=job["env"],
            log_path=str(job_dir / "kernel.log"),
            notebook_timeout=job["timeout"],
            cell_timeout=job["cell_timeout"],
            output_limit=job.get("output_limit", 2_000_000),
            guard=job.get("guard"),
        )
        result = client.run(nb, {"metadata": {"path": job["sandbox"]}})
        nbformat.write(nb, str(job_dir / "output.ipynb"), version=4)
    except BaseException as error:  # recorded, the orchestrator decides
        result = {"status": "error", "reason": f"{type(error).__name__}: {error}",
                  "traceback": traceback.format_exc()}
    finally:
        left = end_descendants(grace=2, patience=2)
        if left:
            result["notes"] = result.get("notes", []) + [f"{left} process(es) still running after the kernel stopped were ended"]
        result["worker_seconds"] = round(time.monotonic() - started, 2)
        tmp = job_dir / "result.json.tmp"
        tmp.write_text(json.dumps(result, default=str), encoding="utf-8")
        os.replace(tmp, job_dir / "result.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
