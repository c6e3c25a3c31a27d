"""nbgrader configuration of the course.

Instructors edit notebooks in ``solutions/`` (nbgrader's *source*); ``make release`` writes the
student version to ``course/`` (nbgrader's *release*). Everything nbgrader writes while grading --
the SQLite gradebook, the exchange, submissions, autograded copies, feedback -- stays inside the
project and is git-ignored.
"""
import os

c = get_config()  # noqa: F821 (injected by traitlets)

HERE = os.path.dirname(os.path.abspath(__file__))
STATE = os.path.join(HERE, ".nbgrader")
# On a JupyterHub the exchange is one folder shared by every user: hub/jupyterhub_config.py
# passes it as COURSE_EXCHANGE to every server (README: "Teaching a class on JupyterHub").
EXCHANGE = os.environ.get("COURSE_EXCHANGE") or os.path.join(STATE, "exchange")
# nbgrader's assignment list fails if the exchange folder does not exist; the gradebook's folder
# must exist too.
os.makedirs(EXCHANGE, exist_ok=True)
os.makedirs(STATE, exist_ok=True)

c.CourseDirectory.course_id = "transformers-from-scratch"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(STATE, "gradebook.db")
c.Exchange.root = EXCHANGE

# Training cells run on a CPU: give every cell up to 30 minutes before nbgrader gives up.
c.Execute.timeout = 1800
# A student who deleted a graded cell gets it back (re-run as the instructor wrote it) instead of an error.
c.OverwriteCells.add_missing_cells = True
