"""The student process: runs one student's graded cells, question by question.

Started by :mod:`grader.sandbox`, inside the jail of :mod:`grader.jail`, as
``python -I _child.py JOBDIR RESULT_FD CONTROL_FD ISOLATION KIT PARENT_PID``. Before any
student code runs it reads its job (cells and inputs), copies the student's files into its
scratch folder, sets its own resource limits, loads Keras, the probe helpers and the module
of every question of the job (``questions/<id>.py`` beside this file, reduced to its probe by
``grader.jail.stage_runtime``), sends ``ready`` and installs a Python audit hook (defence in
depth only: the jail is the wall). Then, each time the grader writes ``{"run": i}`` on the
control pipe, it sends a ``start`` frame, executes question i's cells in a fresh namespace,
calls ``questions.<id>.probe`` on the inputs, sends one
``result`` frame and kills any process the student code left behind. It never sees a
reference and never scores anything; the grader trusts none of what it sends.
"""

import importlib
import json
import linecache
import os
import resource
import sys
import threading
import time
import traceback
from pathlib import Path

# Output a student process may print before the rest is dropped (100 MB of prints must not
# fill the grader's disk or memory).
MAX_PRINTED_CHARS = 200_000


class CappedStream:
    """A text stream that keeps the first ``MAX_PRINTED_CHARS`` characters and drops the rest."""

    def __init__(self, original):
        self.original = original
        self.written = 0

    def write(self, text):
        room = MAX_PRINTED_CHARS - self.written
        if room > 0:
            self.original.write(text[:room])
            if len(text) > room:
                self.original.write("\n[grader: further output dropped]\n")
        self.written += len(text)
        return len(text)

    def flush(self):
        self.original.flush()

    def isatty(self):
        return False


def set_limits(limits):
    """Apply CPU, memory, file-size and core limits (soft = hard, so they cannot be raised)."""
    pairs = {
        resource.RLIMIT_CPU: limits["cpu_seconds"],
        resource.RLIMIT_DATA: limits["memory_mb"] * 2**20,
        resource.RLIMIT_FSIZE: limits["file_mb"] * 2**20,
        resource.RLIMIT_CORE: 0,
    }
    # RLIMIT_NPROC counts every process of the (real) user, so the grader sets it only where
    # that user is the student's own; root ignores it anyway.
    if limits.get("processes") and os.geteuid() != 0:
        pairs[resource.RLIMIT_NPROC] = limits["processes"]
    for which, value in pairs.items():
        resource.setrlimit(which, (value, value))


def die_with_parent(parent):
    """Ask Linux to kill this process when the grader dies (a SIGKILLed run leaves no orphans);
    exit at once if the grader ``parent`` died before the request was made."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, 9)
    except (OSError, AttributeError):  # not Linux: the CPU limit still ends an orphan
        pass
    if os.getppid() != parent:
        os._exit(1)


def configure_device(device):
    """Pick the device for this backend, turn off reduced-precision matmuls, describe it."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
        gpus = tf.config.list_physical_devices("GPU")
        if device == "gpu" and not gpus:
            raise RuntimeError("--device gpu: TensorFlow sees no GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"gpu:{details.get('device_name', gpus[0].name)}"
        return "cpu"
    if backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
        kinds = [d for d in jax.devices() if d.platform == "gpu"]
        if device == "gpu" and not kinds:
            raise RuntimeError("--device gpu: JAX sees no GPU")
        return f"gpu:{kinds[0].device_kind}" if kinds else "cpu"
    if backend == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        if device == "gpu" and not torch.cuda.is_available():
            raise RuntimeError("--device gpu: PyTorch sees no GPU")
        return f"gpu:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    raise RuntimeError(f"unsupported Keras backend {backend!r}")


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
BLOCKED_EVENTS = frozenset(
    {
        "os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
        "subprocess.Popen", "pty.spawn", "os.startfile",
        "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo",
        "socket.gethostbyname", "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg",
        "resource.setrlimit", "resource.prlimit", "ctypes.dlopen", "ctypes.dlsym",
        "ctypes.dlsym/handle", "os.setuid", "os.setgid",
        "webbrowser.open", "urllib.Request", "ftplib.connect", "smtplib.connect",
    }
)
PATH_WRITE_EVENTS = frozenset(
    {
        "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link", "os.symlink",
        "os.truncate", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile",
        "shutil.copytree", "os.chflags", "os.lchflags", "os.mkfifo", "os.mknod",
    }
)
PATH_READ_EVENTS = frozenset({"os.listdir", "os.scandir", "glob.glob", "os.chdir",
                              "sqlite3.connect", "shelve.open"})


def install_audit_hook(deny_roots, write_roots):
    """Install the audit hook that confines the student code. It cannot be removed."""
    deny = tuple(str(Path(p).resolve()) for p in deny_roots)
    writable = tuple(str(Path(p).resolve()) for p in write_roots) + ("/dev/null",)
    me = os.getpid()
    realpath, fsdecode, isdir = os.path.realpath, os.fsdecode, os.path.isdir

    def inside(path, roots):
        return any(path == root or path.startswith(root + os.sep) for root in roots)

    def resolve(path):
        if isinstance(path, int):
            return None
        return realpath(fsdecode(path))

    def refuse(event, detail):
        raise PermissionError(f"not allowed while grading: {event} {detail}")

    def hook(event, args):
        if event in BLOCKED_EVENTS:
            refuse(event, "")
        elif event == "open":
            path = resolve(args[0])
            if path is None:
                return
            mode, flags = args[1] or "", args[2] or 0
            if inside(path, deny):
                refuse("reading", path)
            if any(c in mode for c in "wax+") or flags & WRITE_FLAGS:
                if not inside(path, writable):
                    refuse("writing", path)
            elif isdir(path) and not inside(path, writable):
                # An open directory fd lets os.open(..., dir_fd=fd) reach paths this hook
                # would see only as relative names.
                refuse("opening the directory", path)
        elif event in PATH_READ_EVENTS:
            path = resolve(args[0]) if args and args[0] is not None else None
            if path is not None and inside(path, deny):
                refuse(event, path)
        elif event in PATH_WRITE_EVENTS or event in ("os.rename", "os.replace"):
            for value in args[:2]:
                if isinstance(value, (str, bytes, os.PathLike)):
                    path = resolve(value)
                    if not inside(path, writable):
                        refuse(event, path)
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            if event != "signal.pthread_kill" and args[0] not in (0, me):
                refuse(event, args[0])

    sys.addaudithook(hook)


def load_job(jobdir):
    job = json.loads((jobdir / "job.json").read_text())
    import numpy as np

    for task in job["tasks"]:
        with np.load(jobdir / task["inputs"], allow_pickle=False) as archive:
            task["arrays"] = {name: archive[name] for name in archive.files}
    return job


def copy_submission(source, target):
    """The student's files, copied into the scratch folder that is the working directory."""
    for path in sorted(Path(source).rglob("*")):
        destination = Path(target) / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            destination.write_bytes(path.read_bytes())


def student_traceback_line(error, cell_files):
    """The last traceback entry inside the student's cells, as ``cell q1_2, line 7: code``."""
    entries = traceback.extract_tb(error.__traceback__)
    for entry in reversed(entries):
        if entry.filename in cell_files:
            code = (entry.line or "").strip()
            return f"{entry.filename.strip('<>')}, line {entry.lineno}: {code}"
    if isinstance(error, SyntaxError) and error.filename in cell_files:
        return f"{error.filename.strip('<>')}, line {error.lineno}: {(error.text or '').strip()}"
    return None


def _forbidden_class(cls, names):
    """The forbidden name (``keras.layers.LSTMCell``, ``course_kit.layers``) that ``cls`` or
    one of its bases is, or lies in; None if none."""
    for base in getattr(cls, "__mro__", ()):
        module = getattr(base, "__module__", "") or ""
        for name in names:
            owner, _, attribute = name.rpartition(".")
            target = getattr(sys.modules[owner], attribute, None) if owner in sys.modules \
                else None
            if isinstance(target, type) and base is target:
                return name
            if name in sys.modules and (module == name or module.startswith(name + ".")):
                return name
    return None


def guard_deserialization(forbidden):
    """Refuse to build, from a configuration (``Activation({"class_name": ...})``), an object
    of a class the running question forbids; ``forbidden`` holds that question's names.

    Defence in depth behind the grader's source policy, which refuses such configurations.
    """
    from keras.src.saving import serialization_lib

    original = serialization_lib.deserialize_keras_object

    def guarded(*args, **kwargs):
        result = original(*args, **kwargs)
        name = _forbidden_class(result if isinstance(result, type) else type(result), forbidden)
        if name:
            raise PermissionError(f"not allowed while grading: building {name} from a "
                                  "configuration")
        return result

    serialization_lib.deserialize_keras_object = guarded


def kill_strays(isolation):
    """Kill every other process this student started (kill(-1) spares the caller and, in a
    PID namespace, its init). Without a jail, -1 would reach the grader's own processes."""
    if isolation != "none":
        try:
            os.kill(-1, 9)
        except OSError:
            pass


def load_questions(tasks):
    """``{qid: module}`` of the questions of ``tasks`` that have a module here (the grader's
    smoke test has none)."""
    modules = {}
    for task in tasks:
        try:
            modules[task["qid"]] = importlib.import_module(f"questions.{task['qid']}")
        except ImportError:
            pass
    return modules


def run_question(task, probes, builtins, modules):
    """Execute one question's cells and probe; return ``(header, payload)`` for the grader."""
    started = time.perf_counter()
    header = {"kind": "result", "qid": task["qid"], "status": "ok"}
    payload = b""
    cell_files = set()
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    context = probes.Context(task["arrays"], task["forbidden"])
    try:
        for cell in task["cells"]:
            filename = f"<cell {cell['id']}>"
            cell_files.add(filename)
            source = probes.strip_magics(cell["source"])
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            exec(compile(source, filename, "exec"), namespace)
        module = modules.get(task["qid"])
        if module is None:
            raise RuntimeError(f"the grader has no probe for question {task['qid']}")
        outputs = module.probe(namespace, context)
        from protocol import encode_arrays

        payload = encode_arrays(outputs)
    except BaseException as error:  # SystemExit and KeyboardInterrupt are student errors too
        header.update(
            status="error",
            error_type=type(error).__name__[:200],
            error_message=str(error)[:2000],
            where=student_traceback_line(error, cell_files),
        )
    header["notes"] = [str(note)[:2000] for note in context.notes][:50]
    header["kit_classes"] = sorted(context.kit_classes)[:100]
    header["seconds"] = time.perf_counter() - started
    return header, payload


def main():
    jobdir, result_fd, control_fd = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    isolation, kit, parent = sys.argv[4], sys.argv[5], int(sys.argv[6])
    if isolation != "namespaces":  # in a jail, bwrap's --die-with-parent does this
        die_with_parent(parent)
    sys.path[:0] = [kit, str(Path(__file__).resolve().parent)]
    job = load_job(jobdir)
    for folder in ("home", "keras", "mpl", "tmp"):
        os.makedirs(folder, exist_ok=True)
    copy_submission(job["submission"], os.getcwd())
    set_limits(job["limits"])
    sys.stdout, sys.stderr = CappedStream(sys.stdout), CappedStream(sys.stderr)

    import probes
    from protocol import encode_frame

    modules = load_questions(job["tasks"])

    def send(header, payload=b""):
        data = encode_frame(header, payload)
        while data:
            data = data[os.write(result_fd, data):]

    device = configure_device(job["device"])
    import keras

    forbidden = []
    guard_deserialization(forbidden)
    threads_at_start = set(threading.enumerate())
    send({"kind": "ready", "device": device, "backend": keras.backend.backend()})
    install_audit_hook(job["deny"], job["writable"])
    import builtins as builtins_module

    builtins = dict(vars(builtins_module))
    commands = os.fdopen(control_fd, "rb")
    while True:
        try:
            command = json.loads(commands.readline() or b'{"exit": true}')
        except ValueError:
            break
        if "run" not in command:
            break
        task = job["tasks"][command["run"]]
        forbidden[:] = task["forbidden"]
        send({"kind": "start", "qid": task["qid"]})
        header, payload = run_question(task, probes, builtins, modules)
        send(header, payload)
        sys.stdout.flush()
        sys.stderr.flush()
        kill_strays(isolation)
        if set(threading.enumerate()) - threads_at_start:
            break  # threads cannot be killed: the next question gets a fresh process
    os._exit(0)


if __name__ == "__main__":
    main()
