"""JupyterHub configuration of the course: one instructor with the formgrader, students with the
Assignments tab, and nbgrader's exchange between them.

    make hub                                   # try it on this machine: http://127.0.0.1:8000
    jupyterhub -f hub/jupyterhub_config.py     # the same, by hand (the environment below)

NOT FOR PRODUCTION: users log in with JupyterHub's ``SharedPasswordAuthenticator`` (the
successor of its ``DummyAuthenticator``: any listed name, one shared password) and the hub
listens on 127.0.0.1 only. A real class uses The Littlest JupyterHub or Zero to JupyterHub with a
real authenticator (README: "Teaching a class on
JupyterHub"); the nbgrader part below (exchange, course id, who gets the formgrader) carries over.

Environment (every variable is optional except the password):

- ``COURSE_HUB_PASSWORD``      the password of every account (``make hub`` sets ``HUB_PASSWORD``).
- ``COURSE_HUB_INSTRUCTOR``    the instructor's user name (default ``instructor``).
- ``COURSE_HUB_STUDENTS``      the students' user names, comma-separated (default ``student1,student2,student3``).
- ``COURSE_HUB_USERS``         ``shared`` (default): every user's server runs as the account that started
                               the hub, with a home in ``STATE/home/<name>`` -- for trying, no privacy
                               between users; ``system``: each user is the system account of the same
                               name (JupyterHub's ``LocalProcessSpawner``; the hub runs as root and the
                               accounts exist), so Unix permissions keep students apart as in a real
                               class (``tests/test_hub.py`` runs this way).
- ``COURSE_HUB_STATE``         the hub's folder: its database, cookie secret, the exchange and the
                               users' shared Jupyter configuration (default ``hub/state``, git-ignored).
- ``COURSE_EXCHANGE``          nbgrader's exchange root, shared by all users (default ``STATE/exchange``).
- ``COURSE_HUB_COURSE_DIR``    the instructor's course folder, with ``nbgrader_config.py`` and
                               ``solutions/`` (default: this repository).
- ``COURSE_HUB_PORT``, ``COURSE_HUB_API_PORT``, ``COURSE_HUB_PROXY_API_PORT``   loopback ports (8000, 8081, 8001).
- ``COURSE_HUB_ADMIN_TOKEN``   if set, a service ``course-admin`` with this API token may manage the
                               users, their servers and tokens (the hub test drives the hub with it).
"""
import json
import os
import re
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (injected by traitlets)

HUB = Path(__file__).resolve().parent
REPO = HUB.parent
COURSE_ID = "transformers-from-scratch"
NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _fail(message: str):
    sys.exit(f"hub/jupyterhub_config.py: {message}")


PASSWORD = os.environ.get("COURSE_HUB_PASSWORD", "")
if len(PASSWORD) < 8:
    _fail("set COURSE_HUB_PASSWORD to 8 characters or more (the one password of every account; "
          "`make hub` sets it from HUB_PASSWORD)")
INSTRUCTOR = _env("COURSE_HUB_INSTRUCTOR", "instructor")
STUDENTS = [s.strip() for s in _env("COURSE_HUB_STUDENTS", "student1,student2,student3").split(",") if s.strip()]
for _name in [INSTRUCTOR, *STUDENTS]:
    if not NAME.match(_name):
        _fail(f"bad user name {_name!r}: lower-case letters, digits, _ . - (a Unix account name)")
if INSTRUCTOR in STUDENTS or len(set(STUDENTS)) != len(STUDENTS):
    _fail("the instructor and the students must be different, each named once")
USERS = _env("COURSE_HUB_USERS", "shared")
if USERS not in ("shared", "system"):
    _fail(f"COURSE_HUB_USERS must be `shared` or `system`, not {USERS!r}")
STATE = Path(_env("COURSE_HUB_STATE", str(HUB / "state"))).resolve()
EXCHANGE = Path(_env("COURSE_EXCHANGE", str(STATE / "exchange"))).resolve()
COURSE_DIR = Path(_env("COURSE_HUB_COURSE_DIR", str(REPO))).resolve()
if not (COURSE_DIR / "nbgrader_config.py").is_file():
    _fail(f"COURSE_HUB_COURSE_DIR={COURSE_DIR} has no nbgrader_config.py")
PROXY = HUB / "node_modules" / ".bin" / "configurable-http-proxy"
if not PROXY.is_file():
    _fail(f"{PROXY} is missing: install it with `npm ci --prefix hub` (`make venv` does when npm is present)")
BIN = Path(sys.executable).parent  # the course's .venv: jupyterhub-singleuser, nbgrader, python

# -- the hub's own state, the exchange and the users' shared Jupyter configuration ---------------
STATE.mkdir(parents=True, exist_ok=True)
os.chmod(STATE, 0o755)  # the users' servers read their configuration below it
EXCHANGE.mkdir(parents=True, exist_ok=True)
os.chmod(EXCHANGE, 0o1777)  # nbgrader's exchange: everyone writes, nobody removes another's files
CONFIG = STATE / "jupyter-config"
#: The formgrader, the course list and the assignment creator are the instructor's: for students
#: they are off on the server and hidden in JupyterLab; students keep the Assignments tab
#: (assignment_list) and the Validate button.
INSTRUCTOR_ONLY = {
    "server": {"nbgrader.server_extensions.formgrader": False, "nbgrader.server_extensions.course_list": False},
    "lab": {"@jupyter/nbgrader:formgrader": True, "@jupyter/nbgrader:course-list": True,
            "@jupyter/nbgrader:create-assignment": True},
}
for role in ("student", "instructor"):
    extensions = INSTRUCTOR_ONLY["server"] if role == "student" else {}
    folder = CONFIG / role
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    (folder / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": INSTRUCTOR_ONLY["lab"] if role == "student" else {}}, indent=1) + "\n")
    (folder / "nbgrader_config.py").write_text(
        "# written by hub/jupyterhub_config.py: the exchange and the course of every user's Assignments tab\n"
        "c = get_config()\n"
        f"c.Exchange.root = {str(EXCHANGE)!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n")
    (folder / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": extensions}}, indent=1) + "\n")
    for path in (CONFIG, folder, *folder.rglob("*")):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)

# -- the hub ----------------------------------------------------------------------------------------
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(_env("COURSE_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(_env("COURSE_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{int(_env('COURSE_HUB_PROXY_API_PORT', '8001'))}"
c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")

# NOT FOR PRODUCTION: one password shared by every account (JupyterHub's successor of the
# DummyAuthenticator's password). The instructor is an ordinary hub user: the formgrader comes
# with their own server, not with hub admin rights.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = PASSWORD
c.Authenticator.allowed_users = {INSTRUCTOR, *STUDENTS}

if USERS == "system":
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
else:
    c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
    c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "home" / "{username}")
    if os.geteuid() == 0:  # a container: Jupyter refuses to run as root unless told it may
        c.Spawner.args = ["--allow-root"]
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {
    "PATH": os.pathsep.join([str(BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
    "COURSE_EXCHANGE": str(EXCHANGE),
}

if os.environ.get("COURSE_HUB_ADMIN_TOKEN"):
    c.JupyterHub.services = [{"name": "course-admin", "api_token": os.environ["COURSE_HUB_ADMIN_TOKEN"]}]
    c.JupyterHub.load_roles = [{
        "name": "course-admin",
        "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users", "access:servers"],
        "services": ["course-admin"],
    }]


def pre_spawn_hook(spawner):
    """The instructor's server opens the course folder with the formgrader; a student's opens their home."""
    name = spawner.user.name
    role = "instructor" if name == INSTRUCTOR else "student"
    spawner.environment = {**spawner.environment, "JUPYTER_CONFIG_PATH": str(CONFIG / role)}
    if role == "instructor":
        spawner.notebook_dir = str(COURSE_DIR)
    elif USERS == "shared":
        Path(spawner.home_dir).mkdir(parents=True, exist_ok=True)


c.Spawner.pre_spawn_hook = pre_spawn_hook
