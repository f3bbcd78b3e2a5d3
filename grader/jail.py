"""The operating-system jail every student process runs in.

Three levels, chosen by :func:`choose_isolation` and recorded in each ``result.json``:

``namespaces``
    bubblewrap (``bwrap``) gives the student process its own mount, PID, network, IPC and UTS
    namespaces. Its file system is a fresh tmpfs holding only read-only binds of the system
    libraries and the Python environment, the staged kit and the child runtime (see
    :func:`stage_runtime`), its job (read-only), a size-capped scratch tmpfs that is its cwd
    and ``HOME``, and a private ``/tmp``. The repository, the grader package and its
    references, ``solutions/``, ``tests/``, ``.git``, other submissions and the results do not
    exist in there; a copy of the grader or of the kit installed in ``site-packages`` is
    covered by an empty tmpfs. Run as root, bwrap makes the mounts and ``setpriv`` then drops
    to an unprivileged uid with no capabilities and ``no_new_privs``; run as an ordinary user,
    bwrap maps the student into a user namespace of its own. When the grader kills bwrap, the
    PID namespace's init dies and the kernel kills everything the student started.
``user``
    No namespaces, but the grader runs as root (as in a Gradescope container): the child runs
    as an unused uid with no capabilities, the grader's own folders are made unreadable to
    other users, and every process of that uid is killed when the student is done.
``none``
    The child runs as the grader's own user, confined only by resource limits and the audit
    hook. Only for trusted code, and only when asked for with ``--isolation none``.
"""

from __future__ import annotations

import ast
import os
import shutil
import site
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ISOLATION_LEVELS", "JailPaths", "SetupError", "child_source", "choose_isolation",
           "jail_command", "kill_uid", "lease_uid", "protect_for_user_level", "stage_runtime"]

ISOLATION_LEVELS = ("namespaces", "user", "none")
PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
# Files of the grader that run inside the jail; nothing else of the package goes in, except
# the question modules (grader/questions/), each reduced to its probe (see child_source).
CHILD_FILES = ("_child.py", "probes.py", "protocol.py")
QUESTIONS = "questions"
# Unused uids, one per student graded at the same time, so that killing "every process of
# this uid" and RLIMIT_NPROC never reach another student's processes.
JAIL_UIDS = range(61000, 61064)
SCRATCH_MB = 512
TMP_MB = 256
GPU_DEVICES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")


class SetupError(RuntimeError):
    """The grader cannot confine or start a student process here (not the student's fault)."""


@dataclass(frozen=True)
class JailPaths:
    """Where things are, as the student process sees them."""

    root: str  # the staged runtime on the host: kit/ and child/
    job: str  # the job folder on the host (cells, inputs)
    submission: str  # the student's files on the host
    scratch: str  # the host folder used as scratch where there is no tmpfs (user, none)

    def inside(self, isolation: str) -> dict[str, str]:
        if isolation == "namespaces":
            return {"kit": "/opt/course-kit/kit", "child": "/opt/course-kit/child",
                    "job": "/job", "submission": "/submission", "scratch": "/scratch",
                    "tmp": "/tmp"}
        return {"kit": f"{self.root}/kit", "child": f"{self.root}/child", "job": self.job,
                "submission": self.submission, "scratch": self.scratch,
                "tmp": f"{self.scratch}/tmp"}


def stage_runtime(folder: Path) -> None:
    """Stage the student edition of the kit and the child-side grader files into ``folder``
    (``kit/``, ``child/``).

    The jail mounts this copy, never the repository: what is not staged here is not there.
    The kit is its student edition (:mod:`grader.edition`): every answer raises
    NotImplementedError, so a submission that calls the kit's answer earns nothing.
    """
    import course_kit
    from grader.edition import stage_student_kit

    stage_student_kit(folder / "kit", Path(course_kit.__file__).resolve().parent)
    (folder / "child").mkdir()
    for name in CHILD_FILES:
        shutil.copy2(PACKAGE / name, folder / "child" / name)
    (folder / "child" / QUESTIONS).mkdir()
    for path in sorted((PACKAGE / QUESTIONS).glob("*.py")):
        if path.name.startswith("_") and path.name != "__init__.py":
            continue  # the grader's own helpers
        roots = ("helpers",) if path.name == "__init__.py" else ("probe",)
        text = child_source(path.read_text(encoding="utf-8"), roots, f"{QUESTIONS}/{path.name}")
        (folder / "child" / QUESTIONS / path.name).write_text(text, encoding="utf-8")
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _defined(node) -> set[str]:
    """The module-level names a top-level statement binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    targets = (node.targets if isinstance(node, ast.Assign)
               else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _used(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and
            not isinstance(n.ctx, ast.Store)}


def child_source(source: str, roots=("probe",), label="<module>") -> str:
    """The part of a question module the student process gets: the functions ``roots``
    (``probe``) and the top-level statements they use, transitively, with only the imported
    names they use. Everything else is left out: the ``QUESTION`` (and with it every import
    from the grader's package), ``record``, the ``MUTANTS`` and the ``ALTERNATIVES``, which
    are right answers.

    Raises:
        ValueError: when what is kept needs a name only the grader's package provides.
    """
    tree = ast.parse(source)
    body = list(tree.body)
    docstring = (body.pop(0) if body and isinstance(body[0], ast.Expr)
                 and isinstance(body[0].value, ast.Constant)
                 and isinstance(body[0].value.value, str) else None)
    needed, frontier = set(), list(roots)
    while frontier:
        name = frontier.pop()
        if name in needed:
            continue
        needed.add(name)
        for node in body:
            if name in _defined(node) and not isinstance(node, (ast.Import, ast.ImportFrom)):
                frontier += sorted(_used(node) - needed)
    kept = []
    for node in body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            kept.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            aliases = [a for a in node.names if (a.asname or a.name).split(".")[0] in needed]
            if not aliases:
                continue
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""] if node.level == 0 else []
            else:
                modules = [a.name for a in aliases]
            grader = [m for m in modules if m.split(".")[0] == "grader"]
            if grader:
                raise ValueError(f"{label}: the student process has no grader package, but "
                                 f"its probe needs {[a.name for a in aliases]} from {grader[0]}")
            node.names = aliases
            kept.append(node)
        elif _defined(node) & needed:
            kept.append(node)
    header = (f"# {label}, staged for the student process: only what its probe uses "
              "(grader.jail.child_source).\n")
    module = ast.Module(body=([docstring] if docstring else []) + kept, type_ignores=[])
    return header + ast.unparse(module) + "\n"


def _bwrap() -> str | None:
    return shutil.which("bwrap")


def _probe_namespaces() -> str | None:
    """None if bubblewrap can make a jail here, else why not."""
    import subprocess

    bwrap = _bwrap()
    if not bwrap:
        return "bubblewrap (bwrap) is not installed"
    command = [bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--unshare-ipc",
               "--die-with-parent"]
    if os.geteuid() != 0:
        command.append("--unshare-user")
    try:
        run = subprocess.run([*command, "--", "true"], capture_output=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap did not run ({error})"
    if run.returncode != 0:
        return "bwrap cannot create namespaces here: " + run.stderr.decode(errors="replace").strip()
    return None


def choose_isolation(requested: str = "auto") -> str:
    """The isolation level to grade with: the best available for ``auto``.

    Raises:
        SetupError: when the requested level cannot be had, or ``auto`` finds none (not
            Linux, not root and no namespaces); ``none`` must then be asked for on purpose.
    """
    if requested not in ("auto", *ISOLATION_LEVELS):
        raise SetupError(f"--isolation must be auto, {', '.join(ISOLATION_LEVELS)}; "
                         f"got {requested!r}")
    if requested == "none":
        return "none"
    if not sys.platform.startswith("linux"):
        raise SetupError(f"no jail on {sys.platform}: grading untrusted code needs Linux; "
                         "pass --isolation none only for code you trust")
    if requested in ("auto", "namespaces"):
        why_not = _probe_namespaces()
        if why_not is None:
            return "namespaces"
        if requested == "namespaces":
            raise SetupError(f"--isolation namespaces: {why_not}")
    if os.geteuid() == 0:
        return "user"
    raise SetupError("no jail available: bubblewrap cannot create namespaces here and the "
                     "grader is not root (needed for --isolation user); install bubblewrap, or "
                     "pass --isolation none only for code you trust")


def _uid_lock_folder() -> Path:
    """Where uid leases are held: a folder only the grader's user can enter, so that no
    student process can open (and flock) a lease file."""
    import tempfile

    base = Path("/run") if os.geteuid() == 0 and os.path.isdir("/run") else \
        Path(tempfile.gettempdir())
    folder = base / f"course-kit-jail-uids-{os.geteuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


class lease_uid:  # noqa: N801 (used as a context manager, like a function)
    """``with lease_uid() as uid``: an unused uid for one student, returned afterwards.

    Leases are flocks on one file per uid, so two graders on one machine (each with its own
    results folder) never hand the same uid to two students.
    """

    def __enter__(self) -> int:
        import fcntl

        folder = _uid_lock_folder()
        for uid in JAIL_UIDS:
            handle = open(folder / f"{uid}.lock", "a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self.uid, self.handle = uid, handle
            return uid
        raise SetupError(f"more than {len(JAIL_UIDS)} students are being graded on this "
                         "machine at once")

    def __exit__(self, *exc):
        self.handle.close()


def _system_binds() -> list[str]:
    """Read-only binds of the system's programs and libraries (merged-/usr or not)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
                 "/etc/nsswitch.conf", "/etc/fonts", "/etc/alternatives"):
        args += ["--ro-bind-try", name, name]
    return args


def _checkout() -> Path | None:
    """The grader's source checkout, or None when the grader is an installed package (then
    the folder above it is ``site-packages``, which the student process needs, and only the
    installed ``grader`` and ``course_kit`` are hidden)."""
    return REPO if (REPO / "pyproject.toml").is_file() else None


def _python_binds(also_hide=()) -> tuple[list[str], list[str]]:
    """Read-only binds of the Python installation and environment, and the tmpfs masks that
    hide what lies inside them but must not be seen: an installed copy of the grader or the
    kit, the repository, and ``also_hide`` (the submissions and results folders)."""
    folders = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
               Path(os.path.realpath(sys.executable)).parent,
               *(Path(p) for p in site.getsitepackages())}
    folders = {p.resolve() for p in folders if p.is_dir()}
    checkout = _checkout()
    folders = {p for p in folders if p != checkout and not str(p).startswith("/usr/")}
    top = sorted(p for p in folders if not any(o in p.parents for o in folders))
    binds, masks = [], []
    for folder in top:
        binds += ["--ro-bind", str(folder), str(folder)]
    hidden = [Path(packages) / name for packages in site.getsitepackages()
              for name in ("grader", "course_kit", "solutions", "tests")]
    hidden += [*filter(None, [checkout]), PACKAGE, *(Path(p).resolve() for p in also_hide)]
    for path in hidden:
        if path.is_dir() and any(path == folder or folder in path.parents for folder in top):
            masks += ["--tmpfs", str(path)]
    return binds, masks


def _gpu_binds() -> list[str]:
    args = []
    devices = [f"/dev/{name}" for name in sorted(os.listdir("/dev")) if name[6:].isdigit()
               and name.startswith("nvidia")] + list(GPU_DEVICES)
    for device in devices:
        if os.path.exists(device):
            args += ["--dev-bind", device, device]
    if args:
        args += ["--ro-bind-try", "/sys", "/sys", "--ro-bind-try", "/usr/local/nvidia",
                 "/usr/local/nvidia", "--ro-bind-try", "/usr/local/cuda", "/usr/local/cuda"]
    return args


def _parent_folders(mounts: list[str]) -> list[str]:
    """``--dir`` operations, mode 0755, for every parent of a bind's destination: bwrap would
    create them itself, but as root with mode 0700, which the jail's uid cannot enter."""
    parents = set()
    for option, *operands in _operations(mounts):
        if option not in ("--perms", "--size") and not operands[-1].startswith(("/dev/", "/proc")):
            parents.update(str(p) for p in Path(operands[-1]).parents if str(p) != "/")
    args = []
    for parent in sorted(parents, key=lambda p: p.count("/")):
        args += ["--perms", "0755", "--dir", parent]
    return args


def _operations(mounts: list[str]):
    """Split a flat list of bwrap options into ``[option, operand, ...]`` groups."""
    arity = {"--symlink": 2, "--ro-bind": 2, "--ro-bind-try": 2, "--bind": 2, "--dev-bind": 2,
             "--ro-bind-data": 2, "--tmpfs": 1, "--proc": 1, "--dev": 1, "--perms": 1,
             "--size": 1, "--dir": 1}
    index = 0
    while index < len(mounts):
        count = arity[mounts[index]]
        yield mounts[index : index + 1 + count]
        index += 1 + count


def _passwd(uid: int, home: str) -> str:
    return f"root:x:0:0::/:/usr/sbin/nologin\nstudent:x:{uid}:{uid}::{home}:/usr/sbin/nologin\n"


def jail_command(command: list[str], paths: JailPaths, uid: int, env: dict[str, str],
                 *, use_gpu: bool, data_fds: dict[str, int], also_hide=(),
                 scratch_mb: int = SCRATCH_MB) -> list[str]:
    """The bwrap command line that runs ``command`` in the ``namespaces`` jail.

    ``data_fds`` maps ``passwd`` and ``group`` to readable file descriptors holding the
    jail's ``/etc/passwd`` and ``/etc/group`` (bwrap copies them in).
    """
    inside = paths.inside("namespaces")
    binds, masks = _python_binds(also_hide)
    args = [_bwrap(), "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--hostname", "jail", "--clearenv"]
    root = os.geteuid() == 0
    if not root:
        args += ["--unshare-user", "--uid", str(uid), "--gid", str(uid), "--disable-userns"]
    # The private /tmp first: a Python environment that lives under the host's /tmp is bound
    # on top of it, not hidden by it.
    private = ["--perms", "1777", "--size", str(TMP_MB << 20), "--tmpfs", inside["tmp"]]
    mounts = _system_binds() + binds + masks + [
        "--ro-bind", f"{paths.root}/kit", inside["kit"],
        "--ro-bind", f"{paths.root}/child", inside["child"],
        "--ro-bind", paths.job, inside["job"],
        "--ro-bind", paths.submission, inside["submission"],
        "--proc", "/proc", "--dev", "/dev",
        "--perms", "1777", "--size", str(scratch_mb << 20), "--tmpfs", inside["scratch"],
        "--perms", "1777", "--tmpfs", "/dev/shm",
        "--ro-bind-data", str(data_fds["passwd"]), "/etc/passwd",
        "--ro-bind-data", str(data_fds["group"]), "/etc/group"]
    if use_gpu:
        mounts += _gpu_binds()
    args += private + _parent_folders(mounts) + mounts
    for name, value in env.items():
        args += ["--setenv", name, value]
    args += ["--chdir", inside["scratch"]]
    if root:
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                 "--", "/usr/bin/setpriv", "--reuid", str(uid), "--regid", str(uid),
                 "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return [*args, "--", *command]


def jail_files(uid: int, home: str) -> dict[str, bytes]:
    """Contents of the jail's ``/etc/passwd`` and ``/etc/group``."""
    return {"passwd": _passwd(uid, home).encode(),
            "group": f"root:x:0:\nstudent:x:{uid}:\n".encode()}


def protect_for_user_level(paths) -> None:
    """Make the grader's folders, and any installed copy of the grader, unreadable to other
    users (the ``user`` level's only wall).

    Each folder loses its permissions for "group" and "other"; the files inside keep theirs,
    which no longer matter once the folder cannot be entered.
    """
    installed = [Path(packages) / "grader" for packages in site.getsitepackages()]
    for path in [*paths, *installed]:
        path = Path(path)
        if path.is_dir():
            mode = stat.S_IMODE(path.stat().st_mode)
            path.chmod(mode & 0o700)


def kill_uid(uid: int) -> None:
    """The ``user`` level's clean-up: SIGKILL every process of ``uid`` (``kill -9 -1`` run as
    that uid reaches exactly that uid's processes), then remove what it left in the shared
    temporary folders."""
    import subprocess
    import tempfile

    subprocess.run(["/usr/bin/setpriv", "--reuid", str(uid), "--regid", str(uid),
                    "--clear-groups", "/bin/kill", "-9", "-1"], capture_output=True, timeout=30)
    for shared in {tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"}:
        try:
            entries = list(os.scandir(shared))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass
