"""A class on a real JupyterHub: nbgrader's exchange end to end, with real users.

The hub (``hub/jupyterhub_config.py``, ``COURSE_HUB_USERS=system``: JupyterHub's
``LocalProcessSpawner``) runs on 127.0.0.1 behind the pinned configurable-http-proxy. Its users are
throw-away system accounts (one unique prefix, removed with their homes at the end, even after a
failure): an instructor and three students, each with a server of their own, run as that account.
The workflow goes through the hub's REST API and each user's own server, as the JupyterLab
Assignments tab and formgrader would:

1. the instructor releases 01-attention (``python -m grading release``, ``nbgrader release_assignment``,
   run as the instructor) into a temporary exchange;
2. each student fetches it (``POST /user/<name>/assignments/fetch``), writes the notebook through
   the contents API and submits it (``.../assignments/submit``): alice the solution, bob a wrong
   attention (no 1/sqrt(d)), carol the untouched release and then, resubmitted, the solution;
3. the instructor collects (``nbgrader collect``: the newest submission of each student), grades
   with ``python -m grading autograde``, writes feedback (``python -m grading feedback``) and
   releases it (``nbgrader release_feedback``);
4. each student fetches feedback (``.../assignments/fetch_feedback``) and gets their own page only.

Unix permissions are checked from a kernel of a student's own server: listing the exchange's
inbound and feedback folders, reading another student's notebook or their copy of a submission,
and the instructor's ``solutions/`` and collected ``submitted/`` all fail with PermissionError.
At the end every process that the hub started (proxy, single-user servers, kernels) has ended.

The instructor's commands run in a kernel of the instructor's own server, in the course folder,
as from a JupyterLab terminal. Where the course's Python lies below a folder closed to other users
(CI's pyenv under /root, mode 0700), the hub runs in a mount namespace of its own in which that
folder is a 0711 tmpfs showing only the way to Python; nothing changes outside (a real hub
installs Python where every user reaches it, as TLJH's /opt/tljh/user).

Skipped, with the reason, where it cannot run: not Linux, not root (system accounts), no
``useradd``, no npm (then ``make venv`` installs no proxy). CI runs it (root, Node.js 20, npm).
"""
from __future__ import annotations

import asyncio
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
import psutil
import pytest
import requests

import grading_harness

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
A = "01-attention"
COURSE_ID = "transformers-from-scratch"
PROXY = REPO / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
BIN = Path(sys.executable).parent
#: Bob's answer: the course's own wrong variant of 01 whose scores are not divided by sqrt(d).
WRONG_VARIANT = grading_harness.SUBMISSIONS / A / "no_scale.py"
#: Upper bounds of every wait (seconds).
HUB_START_S, SPAWN_S, REQUEST_S, COMMAND_S, STOP_S = 60, 180, 120, 600, 60


def _why_not() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the hub test creates Linux system accounts"
    if os.geteuid() != 0:
        return "the hub test runs as root (it creates throw-away system accounts); CI does"
    for tool in ("useradd", "userdel"):
        if not shutil.which(tool):
            return f"`{tool}` is not installed"
    if not PROXY.is_file():
        if shutil.which("npm"):
            pytest.fail(f"npm is installed but {PROXY.relative_to(REPO)} is not (did `npm ci --prefix hub` "
                        "fail during `make venv`?): run `npm ci --prefix hub`")
        return "Node.js/npm is not installed, so `make venv` installed no configurable-http-proxy"
    return None


def _blocked(paths) -> list[tuple[Path, Path]]:
    """(folder, child) where ``folder``, an ancestor of a path, is closed to other users (no o+x)
    and ``child`` is the next folder on the way to that path (e.g. ``/root``, ``/root/.pyenv``)."""
    found = []
    for path in paths:
        parts = Path(os.path.realpath(path)).parts
        for i in range(1, len(parts) - 1):
            folder = Path(*parts[:i])
            if not folder.stat().st_mode & 0o001:
                pair = (folder, Path(*parts[:i + 1]))
                if pair not in found:
                    found.append(pair)
                for j in range(i + 1, len(parts) - 1):
                    deeper = Path(*parts[:j])
                    if not deeper.stat().st_mode & 0o001:
                        pytest.fail(f"{path} lies below {folder} and {deeper}, both closed to other users: "
                                    "the students' servers could not run Python")
                break
    return found


def _reachable_by_all(paths, stash: Path) -> list[str]:
    """A command prefix that makes ``paths`` reachable by every user, for the hub and the servers
    it starts only: where Python lives below a folder closed to others (``/root``, mode 0700, when
    it comes from pyenv as in CI), the hub runs in a mount namespace of its own in which that folder
    is a 0711 tmpfs holding only the way to those paths. Nothing changes outside. ``[]`` if all
    paths are reachable already (a system Python, TLJH's /opt/tljh/user)."""
    blocked = _blocked(paths)
    # A folder on the list that is closed itself (a clone in a `mktemp -d` folder, mode 0700): in the
    # namespace it becomes a 0711 tmpfs with each of its entries bound back in.
    closed = [Path(os.path.realpath(p)) for p in paths if os.path.isdir(p) and not os.stat(p).st_mode & 0o001]
    if not blocked and not closed:
        return []
    check = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True,
                           text=True, timeout=30)
    if check.returncode != 0:
        pytest.fail(f"{', '.join(str(f) for f, _ in blocked) or ', '.join(map(str, closed))} is closed to other users, and no "
                    f"mount namespace can be made here to show it to them (unshare: {check.stderr.strip()}): "
                    "install Python where every user reaches it")
    lines = ["set -e"]
    q = lambda path: shlex.quote(str(path))  # noqa: E731
    for i, (_, child) in enumerate(blocked):
        lines += [f"mkdir -p {q(stash / str(i))}", f"mount --bind {q(child)} {q(stash / str(i))}"]
    for folder in dict.fromkeys(folder for folder, _ in blocked):
        lines.append(f"mount -t tmpfs -o mode=0711 tmpfs {q(folder)}")
    for i, (_, child) in enumerate(blocked):
        lines += [f"mkdir -p {q(child)}", f"mount --bind {q(stash / str(i))} {q(child)}"]
    for k, folder in enumerate(closed):
        kept = stash / f"open{k}"
        lines += [f"mkdir -p {q(kept)}", f"mount --bind {q(folder)} {q(kept)}",
                  f"mount -t tmpfs -o mode=0711 tmpfs {q(folder)}"]
        for entry in sorted(folder.iterdir()):
            if entry.is_symlink():
                lines.append(f"ln -s {q(os.readlink(entry))} {q(entry)}")
                continue
            lines += [f"{'mkdir' if entry.is_dir() else 'touch'} {q(entry)}", f"mount --bind {q(kept / entry.name)} {q(entry)}"]
    lines.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines), "sh"]


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _answered(release: dict, **override: str) -> dict:
    """The fetched release (notebook JSON) with every answer cell filled (``override``: grade_id=code)."""
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    code = {**grading_harness.assignment_solution_cells(A), **override}
    filled = 0
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in code:
            cell.source = code[meta["grade_id"]]
            filled += 1
    assert filled, "the release has no answer cell to fill"
    return nb


class Hub:
    """A JupyterHub on loopback with throw-away system accounts; ``stop()`` ends it all."""

    def __init__(self):
        self.prefix = "ch" + secrets.token_hex(3)
        self.instructor = f"{self.prefix}-teacher"
        self.students = {s: f"{self.prefix}-{s}" for s in ("alice", "bob", "carol")}
        self.users: list[str] = []
        self.base = Path(tempfile.mkdtemp(prefix="course-hub-", dir="/tmp"))
        os.chmod(self.base, 0o755)  # the users' servers read the hub's configuration below it
        self.homes = self.base / "home"
        self.homes.mkdir(mode=0o755)
        self.state = self.base / "state"
        self.exchange = self.base / "exchange"
        self.course = self.homes / self.instructor / "course"
        self.token = secrets.token_hex(32)
        self.port, api_port, proxy_port = _free_ports(3)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "COURSE_", "IPYTHON"))}
        self.env.update(COURSE_HUB_USERS="system", COURSE_HUB_PASSWORD=secrets.token_hex(8),
                        COURSE_HUB_INSTRUCTOR=self.instructor, COURSE_HUB_STUDENTS=",".join(self.students.values()),
                        COURSE_HUB_STATE=str(self.state), COURSE_EXCHANGE=str(self.exchange),
                        COURSE_HUB_COURSE_DIR=str(self.course), COURSE_HUB_PORT=str(self.port),
                        COURSE_HUB_API_PORT=str(api_port), COURSE_HUB_PROXY_API_PORT=str(proxy_port),
                        COURSE_HUB_ADMIN_TOKEN=self.token)
        self.proc: subprocess.Popen | None = None
        self.log = self.base / "jupyterhub.log"
        self.tokens: dict[str, str] = {}
        self.uids: set[int] = set()
        self.seen: set[int] = set()   # every process of the hub (hub, proxy, servers, kernels) seen
        self.stopped = False

    # -- accounts ------------------------------------------------------------------------------
    def create_users(self):
        for name in [self.instructor, *self.students.values()]:
            home = self.homes / name
            subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                            "--user-group", name], check=True, capture_output=True, timeout=60)
            self.users.append(name)
            os.chmod(home, 0o700)  # as on a real hub: nobody else reads a home
            self.uids.add(pwd.getpwnam(name).pw_uid)
        # the instructor's course: nbgrader's configuration and the solution of 01 (nbgrader's source)
        self.course.mkdir()
        shutil.copy2(REPO / "nbgrader_config.py", self.course / "nbgrader_config.py")
        shutil.copytree(REPO / "solutions" / A, self.course / "solutions" / A,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        subprocess.run(["chown", "-R", f"{self.instructor}:{self.instructor}", str(self.course)], check=True, timeout=60)

    def instructor_runs(self, *cmd: str, timeout: float = COMMAND_S) -> dict:
        """A command of the instructor's, run in the course folder from a kernel of the instructor's
        own server (so as the instructor's account, as from a JupyterLab terminal)."""
        code = INSTRUCTOR_COMMAND % (list(cmd), str(self.course), timeout)
        out = run_in_kernel(self, self.instructor, code, timeout=timeout + 60)
        result = json.loads(out.strip().splitlines()[-1])
        assert result["rc"] == 0, f"{' '.join(cmd)} exited {result['rc']}:\n{result['out']}\n{result['err']}"
        return result

    # -- the hub -------------------------------------------------------------------------------
    def start(self):
        self.state.mkdir()
        with open(self.log, "w") as log:
            prefix = _reachable_by_all([sys.executable, sys.base_prefix, REPO], self.base / "namespace")
            self.proc = subprocess.Popen([*prefix, str(BIN / "jupyterhub"), "-f", str(REPO / "hub" / "jupyterhub_config.py")],
                                         cwd=self.state, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + HUB_START_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"jupyterhub exited {self.proc.returncode}:\n{self.tail()}"
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the hub did not answer in {HUB_START_S} s:\n{self.tail()}")

    def tail(self, n: int = 12000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.is_file() else ""

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """The hub's REST API with the course-admin service's token."""
        r = requests.request(method, f"{self.url}/hub/api{path}", timeout=REQUEST_S,
                             headers={"Authorization": f"token {self.token}"}, **kwargs)
        return r

    def spawn_all(self):
        for name in self.users:
            r = self.api("POST", f"/users/{name}/server")
            assert r.status_code in (201, 202), (name, r.status_code, r.text, self.tail())
        deadline = time.monotonic() + SPAWN_S
        waiting = set(self.users)
        while waiting and time.monotonic() < deadline:
            for name in sorted(waiting):
                server = self.api("GET", f"/users/{name}").json().get("servers", {}).get("")
                if server and server.get("ready"):
                    waiting.discard(name)
            self.watch()
            time.sleep(1)
        assert not waiting, f"servers not ready in {SPAWN_S} s: {sorted(waiting)}\n{self.tail()}"
        for name in self.users:
            r = self.api("POST", f"/users/{name}/tokens", json={"expires_in": 3600, "note": "tests/test_hub.py"})
            assert r.status_code == 201, (r.status_code, r.text)
            self.tokens[name] = r.json()["token"]

    def user(self, name: str, method: str, path: str, token_of: str | None = None, **kwargs) -> requests.Response:
        """A request to that user's own server, with a user's token (their own by default)."""
        self.watch()
        return requests.request(method, f"{self.url}/user/{name}{path}", timeout=REQUEST_S,
                                headers={"Authorization": f"token {self.tokens[token_of or name]}"}, **kwargs)

    def assignments(self, name: str, action: str) -> dict:
        r = self.user(name, "POST", f"/assignments/{action}", data={"course_id": COURSE_ID, "assignment_id": A})
        assert r.status_code == 200, (name, action, r.status_code, r.text[:2000])
        body = r.json()
        assert body.get("success"), (name, action, body)
        return body

    def watch(self):
        """Remember every process of the hub's tree and of the throw-away accounts."""
        if self.proc is None:
            return
        try:
            root = psutil.Process(self.proc.pid)
            found = [root, *root.children(recursive=True)]
        except psutil.Error:
            found = []
        for p in found + self.user_processes():
            try:
                _START_TIMES.setdefault(p.pid, p.create_time())
                self.seen.add(p.pid)
            except psutil.Error:
                pass

    def user_processes(self) -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["uids"]):
            try:
                if p.info["uids"] and p.info["uids"].real in self.uids:
                    found.append(p)
            except psutil.Error:
                pass
        return found

    def stop(self) -> list[str]:
        """Stop the servers through the API, then the hub; returns what was still alive after that."""
        if self.stopped:
            return []
        self.stopped = True
        self.watch()
        if self.proc is not None and self.proc.poll() is None:
            for name in self.users:
                try:
                    self.api("DELETE", f"/users/{name}/server")
                except requests.RequestException:
                    pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 15
        alive = []
        while time.monotonic() < deadline:
            alive = [p for p in self.seen if psutil.pid_exists(p) and _same(p)]
            if not alive:
                break
            time.sleep(0.5)
        leftovers = []
        for pid in alive:  # only processes this test started (the hub's tree, the throw-away accounts)
            try:
                p = psutil.Process(pid)
                leftovers.append(f"{pid} {p.username()} {' '.join(p.cmdline())[:200]}")
                p.kill()
            except psutil.Error:
                pass
        return leftovers

    def remove(self):
        self.stop()
        for p in self.user_processes():
            try:
                p.kill()
            except psutil.Error:
                pass
        for name in self.users:
            subprocess.run(["userdel", "--remove", name], capture_output=True, timeout=60)
            subprocess.run(["groupdel", name], capture_output=True, timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


_START_TIMES: dict[int, float] = {}


def _same(pid: int) -> bool:
    """Whether ``pid`` is still the process that was seen (not a reused pid)."""
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        return False
    return _START_TIMES.setdefault(pid, created) == created


# ---------------------------------------------------------------------------------------------
# kernels of a user's own server: code run as that user
# ---------------------------------------------------------------------------------------------
def run_in_kernel(hub: Hub, name: str, code: str, timeout: float = 60) -> str:
    """Start a kernel on ``name``'s server (REST), run ``code`` (websocket), return its stdout."""
    r = hub.user(name, "POST", "/api/kernels", json={"name": "python3"})
    assert r.status_code == 201, (r.status_code, r.text)
    kernel = r.json()["id"]
    try:
        return asyncio.run(asyncio.wait_for(_execute(hub, name, kernel, code), timeout))
    finally:
        hub.user(name, "DELETE", f"/api/kernels/{kernel}")


async def _execute(hub: Hub, name: str, kernel: str, code: str) -> str:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{hub.port}/user/{name}/api/kernels/{kernel}/channels"
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {hub.tokens[name]}"}))
    msg_id, out = uuid.uuid4().hex, []
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": name, "session": uuid.uuid4().hex, "msg_type": "execute_request",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    try:
        while True:
            raw = await ws.read_message()
            assert raw is not None, "the kernel's websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                raise AssertionError(f"kernel error: {msg['content']['ename']}: {msg['content']['evalue']}")
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()


INSTRUCTOR_COMMAND = '''
import json, os, resource, subprocess, time
cpu = lambda: (lambda r: r.ru_utime + r.ru_stime)(resource.getrusage(resource.RUSAGE_CHILDREN))
start, cpu_start = time.monotonic(), cpu()
p = subprocess.run(%r, cwd=%r, capture_output=True, text=True, timeout=%r)
print(json.dumps({"rc": p.returncode, "out": p.stdout[-4000:], "err": p.stderr[-4000:],
                  "seconds": time.monotonic() - start, "cpu_seconds": cpu() - cpu_start, "user": os.getuid()}))
'''

PROBE = '''
import json, os
result = {}
for label, (how, path) in json.loads(%r).items():
    try:
        if how == "list":
            os.listdir(path)
        else:
            with open(path, "rb") as f:
                f.read(1)
        result[label] = "allowed"
    except PermissionError:
        result[label] = "PermissionError"
    except Exception as error:
        result[label] = type(error).__name__
print(json.dumps(result))
'''


def probe(hub: Hub, name: str, attempts: dict[str, tuple[str, Path]]) -> dict[str, str]:
    for label, (_, path) in attempts.items():
        assert path.exists(), f"{label}: {path} does not exist (the probe would prove nothing)"
    out = run_in_kernel(hub, name, PROBE % json.dumps({k: (h, str(p)) for k, (h, p) in attempts.items()}))
    return json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# the test
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hub():
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    hub = Hub()
    try:
        hub.create_users()
        hub.start()
        hub.spawn_all()
        yield hub
    except BaseException:
        print(f"\n--- the hub's log (end) ---\n{hub.tail()}")
        raise
    finally:
        hub.remove()
        left = [name for name in hub.users if _account_exists(name)]
        assert not left, f"system accounts not removed: {left}"


def _lab_page_config(page: str) -> dict:
    """The page configuration that JupyterLab's HTML page hands to the browser."""
    import re

    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
    assert found, f"not JupyterLab's page: {page[:300]}"
    return json.loads(found.group(1))


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_class_on_jupyterhub_end_to_end(hub: Hub):
    alice, bob, carol = (hub.students[s] for s in ("alice", "bob", "carol"))
    teacher = hub.instructor
    timings = {}

    # -- who gets what: the formgrader is the instructor's; a student's token opens no other server
    assert hub.user(teacher, "GET", "/formgrader").status_code == 200
    assert hub.user(alice, "GET", "/formgrader").status_code == 404
    assert hub.user(bob, "GET", "/api/contents", token_of=alice).status_code == 403
    hidden = {name: _lab_page_config(hub.user(name, "GET", "/lab").text).get("disabledExtensions") for name in (teacher, alice)}
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"} <= set(hidden[alice]), hidden
    assert not {p for p in hidden[teacher] if p.startswith("@jupyter/nbgrader")}, hidden

    # -- 1. release, as the instructor
    released_by = hub.instructor_runs(str(BIN / "python"), "-m", "grading", "release", A)
    assert released_by["user"] == pwd.getpwnam(teacher).pw_uid
    hub.instructor_runs(str(BIN / "nbgrader"), "release_assignment", A, "--force")
    listed = hub.user(alice, "GET", "/assignments", params={"course_id": COURSE_ID}).json()
    assert listed["success"] and [a["status"] for a in listed["value"] if a["assignment_id"] == A] == ["released"], listed

    # -- 2. fetch, write, submit: each student on their own server
    notebook = f"/api/contents/{A}/{A}.ipynb"
    released = {}
    for student in (alice, bob, carol):
        body = hub.assignments(student, "fetch")
        assert any(a["assignment_id"] == A and a["status"] == "fetched" for a in body["value"]), body
        r = hub.user(student, "GET", notebook)
        assert r.status_code == 200, r.text
        released[student] = r.json()["content"]
        assert (hub.homes / student / A / f"{A}.ipynb").stat().st_uid == pwd.getpwnam(student).pw_uid

    def save(student, nb):
        r = hub.user(student, "PUT", notebook, json={"type": "notebook", "format": "json", "content": nb})
        assert r.status_code in (200, 201), r.text

    save(alice, _answered(released[alice]))
    save(bob, _answered(released[bob], **grading_harness.Variant.from_file(WRONG_VARIANT).cells))
    for student in (alice, bob, carol):   # carol hands in the untouched release first
        hub.assignments(student, "submit")
    time.sleep(1.1)
    save(carol, _answered(released[carol]))
    hub.assignments(carol, "submit")       # ... and resubmits the solution: the newest is collected
    inbound = hub.exchange / COURSE_ID / "inbound"
    submissions = sorted(p.name for p in inbound.iterdir())
    assert len(submissions) == 4 and sum(s.startswith(carol + "+") for s in submissions) == 2, submissions
    for path in inbound.iterdir():
        owner = path.name.split("+")[0]
        assert path.stat().st_uid == pwd.getpwnam(owner).pw_uid, (path, "was not written by its student")

    # -- a student reads nothing of the others' or the instructor's (checked from alice's own kernel)
    bob_submission = next(p for p in inbound.iterdir() if p.name.startswith(bob + "+"))
    bob_cache = next((hub.homes / bob / ".local/share/jupyter/nbgrader_cache" / COURSE_ID).iterdir())
    seen = probe(hub, alice, {
        "own notebook (control)": ("read", hub.homes / alice / A / f"{A}.ipynb"),
        "exchange inbound (list)": ("list", inbound),
        "bob's home (list)": ("list", hub.homes / bob),
        "bob's notebook": ("read", hub.homes / bob / A / f"{A}.ipynb"),
        "bob's copy of his submission": ("read", bob_cache / f"{A}.ipynb"),
        "instructor's home (list)": ("list", hub.homes / teacher),
        "instructor's solutions/ (nbgrader source)": ("read", hub.course / "solutions" / A / f"{A}.ipynb"),
        "instructor's gradebook": ("read", hub.course / ".nbgrader" / "gradebook.db"),
    })
    assert seen.pop("own notebook (control)") == "allowed", seen
    assert set(seen.values()) == {"PermissionError"}, seen
    assert bob_submission.is_dir()

    # -- 3. collect, autograde, feedback, as the instructor
    hub.instructor_runs(str(BIN / "nbgrader"), "collect", A)
    collected = {s: hub.course / "submitted" / s / A for s in (alice, bob, carol)}
    assert all((folder / f"{A}.ipynb").is_file() for folder in collected.values()), list(hub.course.rglob("submitted/*"))
    newest_carol = max(s for s in submissions if s.startswith(carol + "+")).split("+")[2]
    assert (collected[carol] / "timestamp.txt").read_text().strip() == newest_carol
    graded = hub.instructor_runs(str(BIN / "python"), "-m", "grading", "autograde", "--assignment", A,
                                 "--workers", "1", "--timeout", "300")
    timings["autograde_s"], timings["autograde_cpu_s"] = graded["seconds"], graded["cpu_seconds"]
    with open(hub.course / "autograded" / "outcomes.csv", newline="") as f:
        import csv

        outcomes = {row["student"]: row for row in csv.DictReader(f)}
    assert {s: o["outcome"] for s, o in outcomes.items()} == {alice: "graded", bob: "graded", carol: "graded"}, graded["out"]
    scores = {s: float(o["score"]) for s, o in outcomes.items()}
    full = float(outcomes[alice]["max_score"])
    assert full > 0 and scores[alice] == full and scores[carol] == full, scores
    assert 0 < scores[bob] < full, scores
    hub.instructor_runs(str(BIN / "python"), "-m", "grading", "feedback", "--assignment", A)
    hub.instructor_runs(str(BIN / "nbgrader"), "release_feedback", A)

    # -- 4. each student fetches their own feedback, and only it
    outbound_feedback = hub.exchange / COURSE_ID / "feedback"
    assert len(list(outbound_feedback.glob("*.html"))) == 3
    pages = {}
    for student in (alice, bob, carol):
        hub.assignments(student, "fetch_feedback")
        stamps = hub.user(student, "GET", f"/api/contents/{A}/feedback").json()["content"]
        own = sorted(p.name for p in inbound.iterdir() if p.name.startswith(student + "+"))
        newest = own[-1].split("+")[2]
        assert [s["name"] for s in stamps] == [newest], (student, stamps)  # carol: none for her first hand-in
        r = hub.user(student, "GET", f"/api/contents/{A}/feedback/{newest}/{A}.html", params={"content": 1})
        assert r.status_code == 200, r.text
        page = r.json()["content"]
        assert page == (hub.course / "feedback" / student / A / f"{A}.html").read_text(), student
        assert f"Student: <b>{student}</b>" in page
        assert not any(other in page for other in (alice, bob, carol) if other != student), student
        pages[student] = page
    assert f"Score: <b>{full:g} / {full:g}</b>" in pages[alice] and f"Score: <b>{full:g} / {full:g}</b>" in pages[carol]
    assert f"Score: <b>{scores[bob]:g} / {full:g}</b>" in pages[bob] and "not divided by sqrt(d)" in pages[bob]
    seen = probe(hub, bob, {"released feedback (list)": ("list", outbound_feedback),
                            "alice's fetched feedback (list)": ("list", hub.homes / alice / A / "feedback")})
    assert set(seen.values()) == {"PermissionError"}, seen

    n = len(outcomes)
    print(f"\nhub test: autograde of {n} submissions of {A} with 1 worker: {timings['autograde_s']:.1f} s wall "
          f"({timings['autograde_s'] / n:.1f} s per submission), {timings['autograde_cpu_s']:.1f} s CPU "
          f"({timings['autograde_cpu_s'] / n:.1f} s per submission)")


def test_every_process_of_the_hub_ends(hub: Hub):
    hub.watch()
    assert len(hub.seen) >= 1 + 1 + len(hub.users), f"expected the hub, its proxy and {len(hub.users)} servers: {hub.seen}"
    leftovers = hub.stop()
    assert hub.proc.returncode is not None, "jupyterhub did not exit on SIGTERM"
    assert not leftovers, f"still running after the hub stopped (killed now): {leftovers}"
    assert not hub.user_processes(), "processes of the throw-away accounts are left"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{hub.url}/hub/api/", timeout=5)
