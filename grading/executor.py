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
- at most ``output_limit`` bytes of output are kept per cell (a print loop cannot exhaust memory).
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
MEMORY_MARKERS = ("MemoryError", "can't allocate memory", "Cannot allocate memory", "bad_alloc",
                  "out of memory", "OutOfMemoryError")


def error_output(ename: str, evalue: str) -> dict:
    from nbformat.v4 import new_output

    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def kernel_argv(python: str = sys.executable, memory_mb: int = 0, fsize_mb: int = 0,
                user: str | None = None, home: str | None = None) -> list[str]:
    """The command of the grading kernel: the limits wrapper, then ipykernel."""
    argv = [python, str(KERNEL_SCRIPT)]
    if memory_mb:
        argv += ["--memory-mb", str(memory_mb)]
    if fsize_mb:
        argv += ["--fsize-mb", str(fsize_mb)]
    if user:
        argv += ["--user", user, "--home", str(home)]
    return argv + ["--", python, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                   "--HistoryManager.hist_file=:memory:"]


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
                 notebook_timeout: float = 0, cell_timeout: float = 0, output_limit: int = 2_000_000, **kw):
        super().__init__(**kw)
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
        log = open(self.log_path, "ab") if self.log_path else None
        try:
            try:
                context = self.setup_kernel(cwd=self.run_cwd, env=self.run_env, stdout=log, stderr=log)
                context.__enter__()
            except Exception as error:  # the kernel did not start
                if self.km is not None:
                    try:
                        self._cleanup_kernel()
                    except Exception:
                        pass
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
            finally:
                try:
                    context.__exit__(None, None, None)
                except Exception:
                    pass
        finally:
            if log:
                log.close()
            result["seconds"] = round(time.monotonic() - started, 2)
        self.memory_cell = None
        result["memory"] = self._memory_hit()
        result["memory_cell"] = self.memory_cell
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
