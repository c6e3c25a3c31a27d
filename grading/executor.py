"""Run a notebook in a kernel under limits and report what happened.

:class:`GradingClient` is nbgrader's ``Execute`` preprocessor (so cells are executed exactly as
``nbgrader autograde`` executes them: errors are recorded and execution goes on) with what
autograding many untrusted notebooks needs on top:

- a time limit for the whole notebook and one per cell: the cell that overruns is interrupted and
  gets a ``CellTimeoutError``; the cells after it are not run (each gets a ``CellNotRun`` error, so a
  test cell that never ran can never count as passed);
- a kernel that dies (``os._exit``, a segfault, ``exit()``) ends the run the same way, with a
  ``KernelDied`` error in the cell that killed it, instead of nbgrader's "error processing";
- the kernel is started through ``_kernel.py``: memory limit, no core dumps, optionally another
  user; its stdout/stderr go to a log file, its working folder is given by the caller;
- at most ``output_limit`` bytes of output are kept per cell (a print loop cannot exhaust memory);
- a cell whose execution failed (the kernel's reply says so) but that shows no error, because the
  notebook silenced IPython's error display, gets the error output back, so it still fails;
- with ``guard=``, the kernel runs under the integrity check of :mod:`grading._guard` (through a pipe
  only the check writes to); :func:`integrity_findings` reads its report after the run.
"""
from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute

KERNEL_SCRIPT = Path(__file__).resolve().parent / "_kernel.py"
GUARD_SCRIPT = Path(__file__).resolve().parent / "_guard.py"
#: The grader's own last cell: compiling it makes the integrity check look once more after the last test.
FINAL_CHECK_SOURCE = "# the grader's integrity check, after the notebook's last cell\n"
MAX_REPORT_BYTES = 1_000_000
KERNEL_START_ATTEMPTS = 2
MEMORY_MARKERS = ("MemoryError", "can't allocate memory", "Cannot allocate memory", "bad_alloc",
                  "out of memory", "OutOfMemoryError")


def error_output(ename: str, evalue: str) -> dict:
    from nbformat.v4 import new_output

    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def kernel_argv(python: str = sys.executable, memory_mb: int = 0, fsize_mb: int = 0,
                user: str | None = None, home: str | None = None, guard: bool = True) -> list[str]:
    """The command of the grading kernel: the limits wrapper, then ipykernel (under the integrity
    check of :mod:`grading._guard` with ``guard``; it needs a client started with ``guard=``)."""
    argv = [python, str(KERNEL_SCRIPT)]
    if memory_mb:
        argv += ["--memory-mb", str(memory_mb)]
    if fsize_mb:
        argv += ["--fsize-mb", str(fsize_mb)]
    if user:
        argv += ["--user", user, "--home", str(home)]
    launcher = [str(GUARD_SCRIPT)] if guard else ["-m", "ipykernel_launcher"]
    return argv + ["--", python, *launcher, "-f", "{connection_file}", "--HistoryManager.hist_file=:memory:"]


def write_kernelspec(folder: Path, argv: list[str], name: str = "grading") -> Path:
    """A kernelspec folder ``folder/name/kernel.json`` that starts ``argv``."""
    spec = folder / name
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": argv, "display_name": "Python 3 (grading)", "language": "python",
        "interrupt_mode": "signal", "metadata": {"debugger": False},
    }), encoding="utf-8")
    return folder


def signal_name(code: int | None) -> str:
    if code is None:
        return "unknown exit status"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class GradingClient(Execute):
    """nbgrader's Execute with notebook/cell time limits, kernel-death handling and a limited kernel."""

    def __init__(self, *, kernel_dirs: list[str], cwd: str, env: dict[str, str], log_path: str | None = None,
                 notebook_timeout: float = 0, cell_timeout: float = 0, output_limit: int = 2_000_000,
                 guard: dict | None = None, **kw):
        super().__init__(**kw)
        self.guard = guard  #: {"trusted": [{"source", "label", "test"}], "forbidden": [...], "folder": ...}
        self.guard_lines: list[str] = []
        self.kernel_dirs = list(kernel_dirs)
        self.run_cwd, self.run_env, self.log_path = cwd, env, log_path
        self.notebook_timeout, self.cell_timeout = float(notebook_timeout or 0), float(cell_timeout or 0)
        self.output_limit = output_limit
        self.kernel_name = "grading"
        self.shutdown_kernel = "immediate"
        self.interrupt_on_timeout = True
        self.raise_on_iopub_timeout = False
        self.iopub_timeout = 10
        self.startup_timeout = 120
        self.allow_errors = True
        self._deadline = None
        self._timed_out = None
        self._output_bytes: dict[int, int] = {}

    # -- kernel -----------------------------------------------------------------------------
    def create_kernel_manager(self):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager

        ksm = KernelSpecManager(kernel_dirs=self.kernel_dirs, ensure_native_kernel=False)
        self.km = AsyncKernelManager(kernel_name=self.kernel_name, kernel_spec_manager=ksm)
        return self.km

    def kernel_pid(self) -> int | None:
        try:
            return self.km.provisioner.pid  # type: ignore[union-attr]
        except Exception:
            return None

    def kernel_exit(self, wait: float = 3.0) -> int | None:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is None:
            return None
        end = time.monotonic() + wait
        while process.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        return process.poll()

    # -- limits -----------------------------------------------------------------------------
    def _remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def _timeout_for(self, cell) -> int | None:
        limits = [t for t in (self.cell_timeout or None, self._remaining()) if t is not None]
        if not limits:
            return None
        return max(1, int(round(min(limits))))

    async def _async_handle_timeout(self, timeout, cell=None):
        remaining = self._remaining()
        self._timed_out = "notebook" if remaining is not None and remaining <= 1 else "cell"
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self._output_bytes.get(cell_index, 0)
        self._output_bytes[cell_index] = used + size
        if used + size > self.output_limit:
            if used <= self.output_limit:
                from nbformat.v4 import new_output

                outs.append(new_output("stream", name="stdout",
                                       text=f"\n... output cut by the grader after {self.output_limit} bytes ...\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        """A failed execution that shows no error (IPython's error display silenced) still fails."""
        content = (exec_reply or {}).get("content", {})
        if content.get("status") == "error" and not any(
                o.get("output_type") == "error" for o in cell.get("outputs", []) or []):
            cell.outputs = list(cell.get("outputs", [])) + [error_output(
                content.get("ename") or "Error", (content.get("evalue") or "") +
                " (the error was not displayed: the notebook silenced IPython's error display)")]
            self.silenced_cells.append(cell_index)
        return await super()._check_raise_for_error(cell, cell_index, exec_reply)

    # -- the integrity check ------------------------------------------------------------------
    def _open_guard(self, env: dict) -> tuple[dict, dict]:
        """A pipe for the check's report; (env, extra Popen arguments) of the kernel."""
        import os
        import threading

        if self.guard is None:
            return env, {}
        read, write = os.pipe()
        os.set_inheritable(write, True)
        self._guard_write = write

        def drain():
            size = 0
            with os.fdopen(read, "rb") as pipe:
                for line in pipe:
                    size += len(line)
                    if size <= MAX_REPORT_BYTES:
                        self.guard_lines.append(line.decode("utf-8", "replace"))

        self._guard_thread = threading.Thread(target=drain, daemon=True)
        self._guard_thread.start()
        env = dict(env, COURSE_GUARD_FD=str(write), COURSE_GUARD=json.dumps(self.guard))
        return env, {"pass_fds": (write,)}

    def _close_guard(self, started: bool) -> None:
        import os

        if self.guard is None:
            return
        if getattr(self, "_guard_write", None) is not None:
            try:
                os.close(self._guard_write)
            except OSError:
                pass
            self._guard_write = None
        if started:
            self._guard_thread.join(timeout=10)

    # -- running ----------------------------------------------------------------------------
    def run(self, nb, resources: dict | None = None) -> dict:
        """Execute ``nb`` in place; return what happened (see the module docstring)."""
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, None)
        self.reset_execution_trackers()
        self.resources = resources or {"metadata": {"path": self.run_cwd}}
        self.timeout_func = self._timeout_for
        result = {"status": "ok", "reason": "", "cell": None, "kernel_exit": None, "seconds": 0.0,
                  "cells_run": 0, "memory": False, "kernel_pid": None}
        started = time.monotonic()
        stop_reason = ""
        self.silenced_cells = []
        log = open(self.log_path, "ab") if self.log_path else None
        kernel_started = False
        try:
            for attempt in range(KERNEL_START_ATTEMPTS):  # a start can lose its ports to another kernel's
                self.guard_lines = []
                env, extra = self._open_guard(self.run_env)
                try:
                    context = self.setup_kernel(cwd=self.run_cwd, env=env, stdout=log, stderr=log, **extra)
                    context.__enter__()
                    kernel_started = True
                    self._close_guard(started=False)  # the kernel holds its end; ours must not keep the pipe open
                    break
                except Exception as error:  # the kernel did not start
                    if self.km is not None:
                        try:
                            self._cleanup_kernel()
                        except Exception:
                            pass
                    self._close_guard(started=True)
                    if attempt + 1 < KERNEL_START_ATTEMPTS:
                        continue
                    result.update(status="error", reason=f"the kernel did not start: {type(error).__name__}: {error}")
                    self._mark_not_run(0, "not run: the kernel did not start")
                    return result
            result["kernel_pid"] = self.kernel_pid()
            try:
                info = self.wait_for_reply(self.kc.kernel_info())
                if info:
                    self.nb.metadata["language_info"] = info["content"].get("language_info", {})
                if self.notebook_timeout:
                    self._deadline = time.monotonic() + self.notebook_timeout
                for index, cell in enumerate(self.nb.cells):
                    if cell.cell_type != "code":
                        continue
                    if stop_reason:
                        cell.outputs = [error_output("CellNotRun", stop_reason)]
                        continue
                    remaining = self._remaining()
                    if remaining is not None and remaining <= 0:
                        result.update(status="timeout", cell=index,
                                      reason=f"the notebook ran longer than its {self.notebook_timeout:g} s limit")
                        stop_reason = f"not run: {result['reason']}"
                        cell.outputs = [error_output("CellNotRun", stop_reason)]
                        continue
                    self._timed_out = None
                    try:
                        self.execute_cell(cell, index, store_history=True)
                        result["cells_run"] += 1
                    except DeadKernelError:
                        code = self.kernel_exit()
                        result.update(status="crashed", cell=index, kernel_exit=code,
                                      reason=f"the kernel died ({signal_name(code)})")
                        cell.outputs = list(cell.get("outputs", [])) + [
                            error_output("KernelDied", f"the kernel died while running this cell ({signal_name(code)})")]
                        stop_reason = "not run: the kernel died in an earlier cell"
                        continue
                    except CellTimeoutError as error:
                        self._timed_out = self._timed_out or "cell"
                        cell.outputs = list(cell.get("outputs", [])) + [error_output("CellTimeoutError", str(error))]
                    if self._timed_out:
                        limit = (f"its {self.notebook_timeout:g} s limit" if self._timed_out == "notebook"
                                 else f"the {self.cell_timeout:g} s limit per cell")
                        where = "the notebook" if self._timed_out == "notebook" else "a cell"
                        result.update(status="timeout", cell=index, reason=f"{where} ran longer than {limit}")
                        stop_reason = f"not run: {result['reason']}"
                if self.guard is not None and not stop_reason:
                    from nbformat.v4 import new_code_cell

                    self.nb.cells.append(new_code_cell(FINAL_CHECK_SOURCE))
                    try:
                        self.execute_cell(self.nb.cells[-1], len(self.nb.cells) - 1, store_history=False)
                    except Exception:
                        pass
                    finally:
                        self.nb.cells.pop()
            finally:
                try:
                    context.__exit__(None, None, None)
                except Exception:
                    pass
        finally:
            if log:
                log.close()
            self._close_guard(started=kernel_started)
            result["seconds"] = round(time.monotonic() - started, 2)
        self.memory_cell = None
        result["memory"] = self._memory_hit()
        result["memory_cell"] = self.memory_cell
        result["silenced_cells"] = list(self.silenced_cells)
        if self.guard is not None:
            result["integrity"] = integrity_findings(self.nb, self.guard_lines, self.silenced_cells)
        return result

    def _mark_not_run(self, start: int, reason: str) -> None:
        for cell in self.nb.cells[start:]:
            if cell.cell_type == "code":
                cell.outputs = [error_output("CellNotRun", reason)]

    def _memory_hit(self) -> bool:
        for index, cell in enumerate(self.nb.cells):
            for output in cell.get("outputs", []) or []:
                if output.get("output_type") == "error":
                    text = f"{output.get('ename', '')} {output.get('evalue', '')}"
                    if any(marker in text for marker in MEMORY_MARKERS):
                        self.memory_cell = index
                        return True
        if self.log_path and Path(self.log_path).is_file():
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 20000))
                tail = f.read().decode("utf-8", "replace")
            return any(marker in tail for marker in MEMORY_MARKERS[1:])
        return False


def cell_file_name(source: str) -> str:
    """The file name ipykernel compiles a cell's code under (without its folder)."""
    from ipykernel.compiler import get_tmp_hash_seed, murmur2_x86

    return f"{murmur2_x86(source, get_tmp_hash_seed())}.py"


def guard_config(nb, trusted_cells, forbidden=(), folder: str = "") -> dict:
    """What the integrity check needs: the sources of the read-only and test cells (as the grader
    restored them), the folders of the instructor's notebooks, the notebook's folder."""
    from .course import grade_id, is_test_cell

    trusted = [{"source": cell.source, "label": grade_id(cell) or f"cell {index}", "test": is_test_cell(cell)}
               for index, cell in enumerate(nb.cells) if cell.cell_type == "code" and trusted_cells(cell)]
    return {"trusted": trusted, "forbidden": [str(p) for p in forbidden], "folder": folder}


def integrity_findings(nb, lines: list[str], silenced: list[int] = ()) -> list[dict]:
    """What the integrity check found, one dict per finding: kind, message, cell (index or None).

    Besides the check's own findings: a test cell that ran but that the check did not hear of (it
    was switched off or its pipe closed), and a cell whose error the notebook did not display.
    """
    from .course import grade_id, is_test_cell

    by_file: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            by_file.setdefault(cell_file_name(cell.source), index)
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    findings, seen = [], set()

    def add(kind, message, cell):
        if (kind, message) not in seen:
            seen.add((kind, message))
            findings.append({"kind": kind, "message": message, "cell": cell})

    if not any(r.get("event") == "ready" for r in records):
        add("silenced", "the grader's integrity check did not report that it started", None)
    heard = {str(r.get("file")) for r in records if r.get("event") == "cell"}
    for record in records:
        if record.get("event") == "flag":
            where = str(record.get("cell") or "").rsplit("/", 1)[-1]
            add(str(record.get("kind", "")), str(record.get("message", ""))[:500], by_file.get(where))
    for index, cell in enumerate(nb.cells):
        if not is_test_cell(cell):
            continue
        ran = not any(o.get("output_type") == "error" and o.get("ename") == "CellNotRun" for o in cell.get("outputs", []))
        if ran and cell_file_name(cell.source) not in heard:
            add("silenced", f"the grader's integrity check heard nothing of test cell {grade_id(cell)}: it was "
                "switched off or its channel closed before that cell ran", index)
    for index in silenced:
        name = grade_id(nb.cells[index]) if index < len(nb.cells) else ""
        add("errors", f"cell {index}{' (' + name + ')' if name else ''} failed without showing its error: "
            "IPython's error display was silenced", index)
    return findings
