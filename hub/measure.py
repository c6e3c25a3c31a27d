"""What one student costs a hub: peak memory and CPU time of one kernel running a course notebook.

    .venv/bin/python hub/measure.py solutions/04-translation/04-translation.ipynb [--smoke] [--limit 360]

The notebook runs top to bottom in a fresh kernel (as a student's "Run All" does), with one torch
thread (``OMP_NUM_THREADS=1``, ``MKL_NUM_THREADS=1``: what a shared hub should give each student).
Every 0.2 s the kernel's resident memory (the kernel and any process it started) is sampled; at the
end its high-water mark (``VmHWM`` of /proc) and CPU time (user + system, children included) are
read. ``--limit`` stops a long run (full mode trains for a long time) after that many seconds: the
numbers then cover the part that ran, which is where the peak is reached (the corpus, the
vocabularies and the first training steps). Linux only (``/proc``). The README's section
"Teaching a class on JupyterHub" gives the numbers measured with it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError


def vm_hwm_kib(pid: int) -> int:
    """The peak resident set size of a process so far (kB), from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure(path: Path, smoke: bool, limit: float) -> dict:
    nb = nbformat.read(str(path), as_version=4)
    os.environ.update(COURSE_SMOKE="1" if smoke else "0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                      MPLBACKEND="Agg")
    client = NotebookClient(nb, timeout=int(max(limit, 60)), kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    peak_sampled = 0
    stop = threading.Event()
    state = {"proc": None, "cpu": 0.0, "hwm_kib": 0}

    def sample():
        nonlocal peak_sampled
        while not stop.wait(0.2):
            proc = state["proc"]
            if proc is None:
                continue
            try:
                procs = [proc, *proc.children(recursive=True)]
                peak_sampled = max(peak_sampled, sum(p.memory_info().rss for p in procs))
                times = proc.cpu_times()
                state["cpu"] = times.user + times.system + times.children_user + times.children_system
                state["hwm_kib"] = max(state["hwm_kib"], vm_hwm_kib(proc.pid))
            except (psutil.Error, OSError):
                pass

    cells = [c for c in nb.cells if c.cell_type == "code"]
    ran, outcome = 0, "completed"
    start = time.monotonic()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with client.setup_kernel():
        state["proc"] = psutil.Process(client.km.provisioner.process.pid)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            left = limit - (time.monotonic() - start)
            if left <= 0:
                outcome = "stopped at the time limit"
                break
            client.timeout = max(1, int(left))
            try:
                client.execute_cell(cell, index)
            except (CellTimeoutError, TimeoutError):
                outcome = "stopped at the time limit"
                break
            except CellExecutionError as error:
                outcome = f"error in cell {index}: {str(error).splitlines()[-1][:200]}"
                break
            except DeadKernelError:
                outcome = "the kernel died"
                break
            ran += 1
        time.sleep(0.5)  # one more sample before the kernel goes
        stop.set()
        sampler.join()
    return {
        "notebook": str(path), "mode": "smoke" if smoke else "full", "outcome": outcome,
        "code_cells_run": ran, "code_cells": len(cells), "wall_s": round(time.monotonic() - start, 1),
        "kernel_cpu_s": round(state["cpu"], 1), "kernel_peak_rss_mib": round(state["hwm_kib"] / 1024),
        "sampled_peak_rss_mib_with_children": round(peak_sampled / 2**20),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--smoke", action="store_true", help="COURSE_SMOKE=1 (tiny data, few steps)")
    parser.add_argument("--limit", type=float, default=360, help="seconds before the run is stopped (default 360)")
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        parser.error(f"no notebook at {args.notebook}")
    if not Path("/proc/self/status").is_file():
        parser.error("this measurement reads /proc: run it on Linux")
    print(json.dumps(measure(args.notebook.resolve(), args.smoke, args.limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
