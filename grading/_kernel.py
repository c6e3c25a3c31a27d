"""Start a Jupyter kernel under limits: ``python _kernel.py [options] -- KERNEL COMMAND...``.

The command of the grading kernel (a standalone script: it imports nothing of the course). It sets
limits on itself, optionally isolates itself, then replaces itself (``execv``) with the real
kernel command, which inherits all of it:

- ``--memory-mb N``: address-space limit (RLIMIT_AS): an allocation past it raises MemoryError
  (Python) or "can't allocate memory" (PyTorch) in the student's cell instead of exhausting the
  machine; ``--fsize-mb N``: largest file the kernel may write; never a core dump;
- ``--isolate`` (Linux, root): new mount and PID namespaces. The kernel sees the whole file system
  read-only except its own ``--home`` folder (and each ``--writable`` folder); ``/tmp`` and
  ``/dev/shm`` are new and empty (other jobs and sandboxes are not there); every ``--hide`` path
  (the gradebook, ``submitted/``, ``autograded/``...) is replaced by an empty folder;
  it sees no other process (it is PID 1 of its namespace, and every process it starts ends with
  it); it has no capabilities left (it cannot undo any of this) and cannot regain privileges;
- ``--user NAME --home DIR`` (root): run the kernel as NAME instead (``DIR`` must belong to NAME);
- ``--check``: do all of this, then run the command given after ``--`` instead of a kernel (the
  grader's pre-flight test).

Jupyter's connection file (in a folder the kernel no longer sees, or cannot read) is copied into
``--home/.runtime``.
"""
import ctypes
import os
import resource
import signal
import sys

MB = 1024 * 1024
CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return _libc


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(libc().mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _limit(which, value):
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _copy_connection_file(command, home, uid=None, gid=None):
    if "-f" not in command:
        return
    index = command.index("-f") + 1
    with open(command[index], "rb") as f:
        data = f.read()
    folder = os.path.join(home, ".runtime")
    os.makedirs(folder, exist_ok=True)
    copy = os.path.join(folder, os.path.basename(command[index]))
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if uid is not None:
        os.chown(folder, uid, gid)
        os.chown(copy, uid, gid)
    command[index] = copy


def isolate(home, hide, writable):
    """Mount namespace: read-only file system, private /tmp and /dev/shm, hidden paths; then a PID
    namespace (the process forked next is its PID 1)."""
    cwd = os.getcwd()
    _check(libc().unshare(CLONE_NEWNS | CLONE_NEWPID), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    keep = [(path, os.open(path, os.O_RDONLY | os.O_DIRECTORY)) for path in [home, *writable] if os.path.isdir(path)]
    _mount("/", "/", None, MS_BIND | MS_REC)
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    os.chdir("/")  # the old working folder belongs to the old, writable mount
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=1g")
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=1g")
    for path in hide:
        if os.path.isdir(path) and not os.path.islink(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0711,size=4k")
        elif os.path.isfile(path) and not os.path.islink(path):
            _mount("/dev/null", path, None, MS_BIND)
    for path, fd in keep:
        os.makedirs(path, exist_ok=True)  # in the new /tmp; elsewhere it exists (read-only)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND)
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
        os.close(fd)
    os.chdir(cwd)


def _drop_privileges():
    for cap in range(64):
        libc().prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last capability: ignored
    libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


PRIVATE_FOLDERS = ("/tmp", "/dev/shm")  # new and empty in an isolated kernel


def _start_error(error, program, real_program):
    """Why the isolated kernel could not start; for a program under /tmp, why that is and what to do."""
    reason = str(error)
    if isinstance(error, FileNotFoundError):
        reason += f": {program}" + (f" (-> {real_program})" if real_program != program else "")
        under = [f for f in PRIVATE_FOLDERS for path in (program, real_program) if path.startswith(f + "/")]
        if under:
            reason += (f". It lies under {under[0]}, which an isolated kernel sees as a new, empty folder: move the "
                       "course and its Python (.venv) out of /tmp, or grade with --isolation none")
    return f"could not start the isolated kernel: {reason}"


def _run_as_init(command, real_program=None):
    """Fork: the child (PID 1 of the new PID namespace) becomes the kernel; this process waits and
    exits like it (same code, same signal), so that Jupyter sees the kernel's own fate."""
    child = os.fork()
    if child == 0:
        try:
            libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            _drop_privileges()
            os.execv(command[0], command)
        except BaseException as error:  # pragma: no cover - reported by the kernel manager
            sys.stderr.write(_start_error(error, command[0], real_program or command[0]) + "\n")
        os._exit(127)
    for sig in (signal.SIGINT, signal.SIGQUIT):  # the process group's SIGINT reaches the kernel itself
        signal.signal(sig, signal.SIG_IGN)

    def forward(signum, frame):
        try:
            os.kill(child, signal.SIGKILL)  # PID 1 ignores signals it has no handler for
        except OSError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, forward)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            return 1
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def main(argv):
    if "--" not in argv:
        sys.stderr.write("usage: _kernel.py [--memory-mb N] [--fsize-mb N] [--isolate --home DIR [--hide PATH]... "
                         "[--writable DIR]...] [--user NAME --home DIR] [--check] -- COMMAND...\n")
        return 2
    options, command = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    opts, hide, writable = {}, [], []
    i = 0
    while i < len(options):
        name = options[i].lstrip("-")
        if name in ("check", "isolate"):
            opts[name] = True
            i += 1
            continue
        value = options[i + 1]
        if name == "hide":
            hide.append(value)
        elif name == "writable":
            writable.append(value)
        else:
            opts[name] = value
        i += 2
    memory, fsize = int(opts.get("memory-mb", 0)), int(opts.get("fsize-mb", 0))
    if memory > 0:
        _limit(resource.RLIMIT_AS, memory * MB)
    if fsize > 0:
        _limit(resource.RLIMIT_FSIZE, fsize * MB)
    _limit(resource.RLIMIT_CORE, 0)
    home = opts.get("home")
    if opts.get("isolate"):
        if not opts.get("check"):
            _copy_connection_file(command, home)
        real_program = os.path.realpath(command[0])  # before /tmp is replaced
        isolate(home, hide, writable)
        return _run_as_init(command, real_program)
    if opts.get("user"):
        import pwd

        entry = pwd.getpwnam(opts["user"])
        if not opts.get("check"):
            _copy_connection_file(command, home, entry.pw_uid, entry.pw_gid)
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
        if os.getuid() == 0 or os.geteuid() == 0:
            sys.stderr.write("could not drop root privileges\n")
            return 3
        os.environ["HOME"] = home
        os.environ["USER"] = os.environ["LOGNAME"] = opts["user"]
    libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.execv(command[0], command)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
