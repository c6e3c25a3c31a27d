"""Shared pytest set-up: keep Jupyter, IPython and matplotlib out of the user's home.

The environment variables are set when pytest imports this file, i.e. before any test starts a
kernel or runs nbgrader, and every child process inherits them.
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

_SANDBOX = Path(tempfile.mkdtemp(prefix="course-tests-"))
for _var, _sub in {
    "JUPYTER_CONFIG_DIR": "jupyter-config",
    "JUPYTER_DATA_DIR": "jupyter-data",
    "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
    "IPYTHONDIR": "ipython",
    "MPLCONFIGDIR": "matplotlib",
}.items():
    os.environ[_var] = str(_SANDBOX / _sub)
    (_SANDBOX / _sub).mkdir(parents=True, exist_ok=True)
os.environ.setdefault("MPLBACKEND", "Agg")
# Notebooks run by the tests write their data splits into a temp folder, not the project's data/.
# A corpus cached there by an earlier `make lab` session is still used (no second download).
os.environ["COURSE_DATA_DIR"] = str(_SANDBOX / "data")
_cached = ROOT / "data" / "fra-eng.zip"
if not os.environ.get("FRA_ENG_CORPUS") and _cached.is_file():
    os.environ["FRA_ENG_CORPUS"] = str(_cached)
# Later notebooks load the definitions of earlier ones (utils.notebooks): in the tests, the
# instructor's reference in solutions/, whichever folder the notebook runs from.
os.environ["COURSE_NOTEBOOKS"] = str(ROOT / "solutions")
# Notebooks executed by the tests run in their fast "smoke" mode (tiny data, few steps).
os.environ["COURSE_SMOKE"] = "1"


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SANDBOX, ignore_errors=True)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
