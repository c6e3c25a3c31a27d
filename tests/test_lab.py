"""`make lab` serves the course in JupyterLab, with nbgrader's extensions, also as root."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url, token, data=None, timeout=10):
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read().decode("utf-8")


@pytest.mark.slow
def test_make_lab_serves_the_course_with_nbgrader(repo_root, tmp_path):
    port, token = _free_port(), "course-test-token"
    log = open(tmp_path / "lab.log", "w")
    lab = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"PORT={port}",
         f"LAB_ARGS=--no-browser --ServerApp.token={token} --ServerApp.ip=127.0.0.1"],
        cwd=repo_root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, status = time.time() + 90, None
        while time.time() < deadline and lab.poll() is None:
            try:
                status, page = _request(f"http://127.0.0.1:{port}/lab", token)
                break
            except OSError:
                time.sleep(1)
        assert status == 200, f"JupyterLab did not answer on /lab; log:\n{(tmp_path / 'lab.log').read_text()}"
        assert "@jupyter/nbgrader" in page, "nbgrader's JupyterLab extension is not loaded"
        # The student's assignment list (needs an existing exchange folder) ...
        status, body = _request(f"http://127.0.0.1:{port}/assignments?course_id=transformers-from-scratch", token)
        assert json.loads(body)["success"], body
        # ... and the Validate button's endpoint, on a released notebook.
        released = sorted((repo_root / "course").glob("*/*.ipynb"))
        if released:
            path = released[0].relative_to(repo_root).as_posix()
            status, body = _request(f"http://127.0.0.1:{port}/assignments/validate", token,
                                    data=urllib.parse.urlencode({"path": path}).encode())
            answer = json.loads(body)
            assert answer["success"], answer
            assert "failed" in json.dumps(answer["value"]), "an untouched release must not validate"
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)
        log.close()
