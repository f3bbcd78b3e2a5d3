"""Running one student's code in a jailed child process (the grader's side).

Enforcement, in layers:

- **An operating-system jail** (:mod:`grader.jail`): bubblewrap namespaces, or a dedicated
  uid where only that is possible. The student process cannot see the grader, its references,
  the repository, other submissions or the results, has no network, and everything it
  starts dies with it.
- **Resource limits**: the child sets CPU time, data segment, file size, no core dumps and
  (with a uid of its own) the number of processes, soft = hard, before student code runs. The
  grader sums the resident memory of the whole jail and kills it above the limit, and
  enforces the wall-clock limit per question.
- **The grader drives, the child answers**: the grader writes ``{"run": i}`` on a control
  pipe and expects exactly ``start`` then one ``result`` for question i. Every frame is
  validated (:mod:`grader.protocol`); a frame out of turn (a second result, anything sent
  between questions) voids the question it came from.
- **An audit hook** in the child, as defence in depth.

A failure before any student code ran (the jail did not start, the backend did not import)
is the grader's own: those questions come back as ``grader-error``, never as a grade.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader import jail
from grader.jail import SetupError, choose_isolation
from grader.protocol import FrameError, FrameReader, decode_arrays

__all__ = ["Limits", "Outcome", "SetupError", "Task", "choose_isolation", "preflight",
           "remove_stale_folders", "run_tasks"]

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
# Seconds a fresh child may take to import Keras and its backend before it is ready.
STARTUP_SECONDS = 180.0
# Seconds between the grader's "run" and the child's "start" (no student code runs then).
START_SECONDS = 30.0
LOG_TAIL_CHARS = 1500


@dataclass(frozen=True)
class Limits:
    timeout: float = 60.0
    memory_mb: int = 4096
    file_mb: int = 64
    processes: int = 256
    threads: int = 1


@dataclass
class Task:
    """One question for the child: the cells to run, the probe, its inputs."""

    qid: str
    probe: str
    cells: list[dict]
    inputs: dict[str, np.ndarray]
    forbidden: tuple[str, ...] = ()
    timeout: float = 60.0


@dataclass
class Outcome:
    """What happened to one task: ``status`` is ok, error, timeout, crashed, protocol or
    grader-error (the grader's own failure: not a grade)."""

    qid: str
    status: str
    arrays: dict = field(default_factory=dict)
    header: dict = field(default_factory=dict)
    message: str = ""
    seconds: float = 0.0


def _environment(inside: dict, backend: str, device: str, threads: int) -> dict[str, str]:
    scratch = inside["scratch"]
    if backend == "torch":
        # Keras runs a recurrent cell once per time step in Python, on blocks of a few hundred
        # numbers: PyTorch's OpenMP threads then wait on each other longer than they compute
        # (q1_8's training: 8 s on one thread, 128 s on two, with the 2 cores under load). On a
        # GPU the threads only feed it.
        threads = 1
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": f"{scratch}/home",
        "USER": "student",
        "LOGNAME": "student",
        "TMPDIR": inside["tmp"],
        "KERAS_HOME": f"{scratch}/keras",
        "MPLCONFIGDIR": f"{scratch}/mpl",
        "MPLBACKEND": "Agg",
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_USE_LEGACY_KERAS": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        # Students graded in parallel share the cores: more threads than cores per process
        # only adds contention.
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": str(threads),
        "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}",
    }
    for name in ("LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH",
                 "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["JAX_PLATFORMS"] = "cpu"
    return env


def _folder(kind: str) -> Path:
    """A fresh temporary folder named after this process, so a later run can tell it is stale."""
    return Path(tempfile.mkdtemp(prefix=f"grader-{kind}-{os.getpid()}-"))


def remove_stale_folders() -> int:
    """Remove job folders left by grader processes that no longer exist (a run killed with
    SIGKILL cannot clean up after itself). Returns how many were removed."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob("grader-*-*-*"):
        kind, pid = folder.name.split("-")[1:3]
        if kind not in ("scratch", "job") or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        except PermissionError:  # alive, another user's
            pass
    return removed


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (the whole jail)."""
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    frontier += [int(child) for child in children.read().split()]
        except OSError:
            pass
    return found


def _resident_mb(pid: int) -> float:
    total = 0
    for member in _descendants(pid):
        try:
            with open(f"/proc/{member}/statm") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            pass
    return total / 2**20


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - LOG_TAIL_CHARS))
            return log.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass
class _Setup:
    """Everything one student's children share: folders, isolation, uid, environment."""

    isolation: str
    backend: str
    device: str
    limits: Limits
    uid: int
    jobdir: Path
    runtime: Path
    submission: Path
    scratch: Path
    also_hide: tuple = ()

    @property
    def paths(self) -> jail.JailPaths:
        return jail.JailPaths(str(self.runtime), str(self.jobdir), str(self.submission),
                              str(self.scratch))


class _Child:
    """One running child process, the pipe its frames come through, the pipe it obeys."""

    def __init__(self, setup: _Setup, serial: int):
        self.setup = setup
        result_read, result_write = os.pipe()
        control_read, control_write = os.pipe()
        inside = setup.paths.inside(setup.isolation)
        env = _environment(inside, setup.backend, setup.device, setup.limits.threads)
        command = [sys.executable, "-I", f"{inside['child']}/_child.py", inside["job"],
                   str(result_write), str(control_read), setup.isolation, inside["kit"],
                   str(os.getpid())]
        keep = [result_write, control_read]
        as_user = {}
        if setup.isolation == "namespaces":
            data = jail.jail_files(setup.uid, env["HOME"])
            data_fds = {}
            for name, content in data.items():
                read_end, write_end = os.pipe()
                os.write(write_end, content)
                os.close(write_end)
                data_fds[name] = read_end
                keep.append(read_end)
            command = jail.jail_command(command, setup.paths, setup.uid, env,
                                        use_gpu=setup.device != "cpu", data_fds=data_fds,
                                        also_hide=setup.also_hide)
            env = {"PATH": "/usr/bin:/bin"}
        else:
            for folder in ("home", "tmp", "keras", "mpl"):
                (setup.scratch / folder).mkdir(exist_ok=True)
            if setup.isolation == "user":
                for path in [setup.scratch, *setup.scratch.rglob("*")]:
                    os.chown(path, setup.uid, setup.uid)
                as_user = {"user": setup.uid, "group": setup.uid, "extra_groups": []}
        self.log_path = setup.jobdir / f"log-{serial}.txt"
        cwd = None if setup.isolation == "namespaces" else setup.scratch
        try:
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, pass_fds=keep, start_new_session=True, **as_user,
                )
        finally:
            for fd in keep:
                os.close(fd)
        self.fd = result_read
        self.control = control_write
        self.reader = FrameReader()
        self.pending = []

    def command(self, message: dict) -> bool:
        """Send one command; False if the child no longer listens."""
        try:
            os.write(self.control, json.dumps(message).encode() + b"\n")
            return True
        except OSError:
            return False

    def next_frame(self, deadline, memory_mb):
        """The next frame, or ``("timeout"|"eof"|"memory", None)`` / raises FrameError."""
        while not self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout", None
            ready, _, _ = select.select([self.fd], [], [], min(remaining, 0.25))
            if _resident_mb(self.process.pid) > memory_mb:
                return "memory", None
            if not ready:
                continue
            data = os.read(self.fd, 1 << 20)
            if not data:
                return "eof", None
            self.pending += self.reader.feed(data)
        return "frame", self.pending.pop(0)

    def close(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        if self.setup.isolation == "user":
            jail.kill_uid(self.setup.uid)
        for fd in (self.fd, self.control):
            os.close(fd)

    def describe_exit(self, what: str) -> str:
        code = self.process.wait()
        if code < 0:
            reason = f"killed by {_signal_name(-code)}"
            if -code == signal.SIGXCPU:
                reason += " (CPU-time limit)"
        elif code > 128 and self.setup.isolation == "namespaces":
            # bwrap reports the child's death by signal N as exit status 128 + N.
            reason = f"killed by {_signal_name(code - 128)}"
        else:
            reason = f"exited with code {code}"
        tail = _tail(self.log_path)
        return f"the student process {reason} {what}" + (f"; last output:\n{tail}" if tail else "")


def _write_job(setup: _Setup, tasks, files) -> None:
    for relative, data in files.items():
        target = setup.submission / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    job_tasks = []
    for index, task in enumerate(tasks):
        np.savez(setup.jobdir / f"inputs-{index}.npz", **task.inputs)
        job_tasks.append({"qid": task.qid, "probe": task.probe, "cells": task.cells,
                          "inputs": f"inputs-{index}.npz", "forbidden": list(task.forbidden)})
    inside = setup.paths.inside(setup.isolation)
    processes = setup.limits.processes
    if setup.isolation == "none" or (setup.isolation == "namespaces" and os.geteuid() != 0):
        processes = None  # the child shares the grader's own uid: its count is not ours to cap
    cpu_seconds = int(STARTUP_SECONDS + 2 * sum(t.timeout for t in tasks))
    job = {
        "tasks": job_tasks,
        "device": setup.device,
        "submission": inside["submission"],
        "deny": [str(PACKAGE), str(REPO / "tests"), str(REPO / "solutions"), str(REPO / ".git"),
                 inside["job"], inside["submission"], *map(str, setup.also_hide)],
        "writable": [inside["scratch"], inside["tmp"]],
        "limits": {"cpu_seconds": cpu_seconds, "memory_mb": setup.limits.memory_mb,
                   "file_mb": setup.limits.file_mb, "processes": processes},
    }
    (setup.jobdir / "job.json").write_text(json.dumps(job))
    for path in [setup.jobdir, setup.submission, *setup.jobdir.rglob("*"),
                 *setup.submission.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _run_child(child: _Child, tasks, first: int, outcomes: list, meta: dict) -> int:
    """Run ``tasks[first:]`` in ``child`` until done or it fails; return the next index.

    Appends one Outcome per finished question. The question a failure happened in gets its
    Outcome here too; a failure before ``ready`` (no student code ran yet) is a grader-error
    for every remaining question.
    """
    limits = child.setup.limits
    memory = limits.memory_mb * 1.25  # the rlimit is the first line; this catches the rest
    index, started, kind, problem = first, None, None, ""
    try:
        kind, frame = child.next_frame(time.monotonic() + STARTUP_SECONDS, memory)
        if kind != "frame" or frame[0]["kind"] != "ready":
            detail = ("did not start within {:.0f} s".format(STARTUP_SECONDS)
                      if kind == "timeout" else child.describe_exit("before any student code ran")
                      if kind == "eof" else f"sent {kind} before it was ready")
            message = f"the grader could not start the student process: {detail}"
            outcomes += [Outcome(t.qid, "grader-error", message=message) for t in tasks[first:]]
            return len(tasks)
        meta.update(device=frame[0]["device"][:200], backend=frame[0]["backend"][:32])
        while index < len(tasks):
            task, started = tasks[index], None
            if not child.command({"run": index}):
                kind = "eof"
            else:
                kind, frame = child.next_frame(time.monotonic() + START_SECONDS, memory)
            if kind == "eof" and index > first:
                # The child ended after the previous question's result (it exits when that
                # question left threads behind): a fresh child takes this question.
                return index
            if kind != "frame":
                break
            if frame[0]["kind"] != "start" or frame[0]["qid"] != task.qid:
                raise FrameError(f"expected the start of {task.qid}, got a {frame[0]['kind']} frame")
            started = time.monotonic()
            kind, frame = child.next_frame(started + task.timeout, memory)
            if kind != "frame":
                break
            header, payload = frame
            if header["kind"] != "result" or header["qid"] != task.qid:
                raise FrameError(f"a {header['kind']} frame arrived while {task.qid} ran")
            arrays = decode_arrays(payload) if header["status"] == "ok" else {}
            outcomes.append(Outcome(task.qid, header["status"], arrays, header,
                                    seconds=time.monotonic() - started))
            index, started = index + 1, None
            # Anything that arrives before the next "start" was sent by code of this question
            # (a thread or process it left behind): the question loses its result.
            child.pending += child.reader.feed(_drain(child.fd))
            if child.pending:
                raise FrameError("data arrived after the result")
        if index >= len(tasks):
            _expect_silence(child, outcomes)
            return index
    except FrameError as error:
        kind, problem = "protocol", str(error)
        if started is None and index > first:
            forged = outcomes[-1]
            forged.status, forged.arrays = "crashed", {}
            forged.message = ("the student process sent forged or extra data after this "
                              f"question's result ({problem}); the result was discarded")
            return index
    task = tasks[index]
    seconds = time.monotonic() - started if started else 0.0
    if kind == "timeout" and started is not None:
        status, message = "timeout", f"timed out after {task.timeout:.0f} s (wall clock)"
    elif kind == "timeout":
        status, message = "crashed", "the student process stopped answering between questions"
    elif kind == "memory":
        status, message = "crashed", f"killed: used more than {memory:.0f} MB of memory"
    elif kind == "protocol":
        status = "crashed"
        message = f"the student process sent malformed data ({problem}); it was stopped"
    elif started is None:  # a fresh child died between "run" and "start": no student code
        status = "grader-error"
        message = child.describe_exit("before the question started")
    else:
        status, message = "crashed", child.describe_exit("while running this question")
    outcomes.append(Outcome(task.qid, status, message=message, seconds=seconds))
    return index + 1


def _expect_silence(child: _Child, outcomes: list) -> None:
    """Tell the child to exit and listen until it has: a frame now voids the last question."""
    child.command({"exit": True})
    try:
        kind, _ = child.next_frame(time.monotonic() + START_SECONDS, float("inf"))
    except FrameError:
        kind = "frame"
    if kind == "frame":
        last = outcomes[-1]
        last.status, last.arrays = "crashed", {}
        last.message = ("the student process sent data after the last question's result; "
                        "the result was discarded")


def _drain(fd: int) -> bytes:
    """Whatever is already waiting on ``fd``, without blocking."""
    data = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        data += chunk
    return data


def _setup(isolation, backend, device, limits, uid, also_hide) -> _Setup:
    root = _folder("job")
    folders = {name: root / name for name in ("job", "runtime", "submission", "scratch")}
    for folder in folders.values():
        folder.mkdir()
    root.chmod(0o755)
    jail.stage_runtime(folders["runtime"])
    if isolation == "user":
        jail.protect_for_user_level([PACKAGE, REPO / "tests", REPO / "solutions", REPO / ".git",
                                     *also_hide])
    return _Setup(isolation, backend, device, limits, uid, folders["job"], folders["runtime"],
                  folders["submission"], folders["scratch"], tuple(also_hide))


def run_tasks(tasks, files, *, backend, device="auto", limits=Limits(), isolation="namespaces",
              meta=None, also_hide=()):
    """Run ``tasks`` for one student in jailed child processes; return their outcomes.

    ``files`` (relative path -> bytes) are the student's files, copied into the scratch
    folder. A crash, timeout or memory kill costs the question it happened in; a fresh child
    then runs the remaining tasks. ``meta`` (a dict) receives the device, backend and
    isolation. ``also_hide`` names folders (submissions, results) to hide should they lie
    inside something the jail shows.
    """
    meta = {} if meta is None else meta
    meta["isolation"] = isolation
    outcomes = []
    if not tasks:
        return outcomes
    with jail.lease_uid() as uid:
        setup = None
        try:
            setup = _setup(isolation, backend, device, limits, uid, also_hide)
            _write_job(setup, tasks, files)
        except OSError as error:
            if setup is not None:
                shutil.rmtree(setup.jobdir.parent, ignore_errors=True)
            message = f"the grader could not prepare the student's files ({error})"
            return [Outcome(t.qid, "grader-error", message=message) for t in tasks]
        try:
            first, serial = 0, 0
            while first < len(tasks):
                child = _Child(setup, serial)
                try:
                    first = _run_child(child, tasks, first, outcomes, meta)
                finally:
                    child.close()
                serial += 1
            return outcomes
        finally:
            shutil.rmtree(setup.jobdir.parent, ignore_errors=True)


def preflight(*, backend, device="auto", isolation="namespaces", limits=Limits()) -> dict:
    """Start one child in the jail and wait until it is ready (no student code involved).

    Raises:
        SetupError: naming why the jail or the backend could not start.
    """
    if backend not in ("tensorflow", "jax", "torch"):
        raise SetupError(f"unknown Keras backend {backend!r}: set KERAS_BACKEND to tensorflow, "
                         "jax or torch")
    smoke = Task("smoke", "none", [], {})
    meta = {}
    with jail.lease_uid() as uid:
        setup = _setup(isolation, backend, device, limits, uid, ())
        try:
            _write_job(setup, [smoke], {})
            child = _Child(setup, 0)
            try:
                kind, frame = child.next_frame(time.monotonic() + STARTUP_SECONDS,
                                               limits.memory_mb * 1.25)
                if kind != "frame" or frame[0]["kind"] != "ready":
                    detail = (child.describe_exit("before it was ready") if kind == "eof"
                              else f"no answer ({kind}) within {STARTUP_SECONDS:.0f} s")
                    raise SetupError(f"the {backend} backend did not start in the "
                                     f"{isolation} jail: {detail}")
                meta.update(device=frame[0]["device"], backend=frame[0]["backend"])
            except FrameError as error:
                raise SetupError(f"the smoke child sent malformed data: {error}") from None
            finally:
                child.close()
        except PermissionError as error:
            raise SetupError(f"the {isolation} jail cannot run Python: {error} (the jail's uid "
                             "must be able to read the Python environment)") from None
        except OSError as error:
            raise SetupError(f"the jail could not be started: {error}") from None
        finally:
            shutil.rmtree(setup.jobdir.parent, ignore_errors=True)
    return {**meta, "isolation": isolation}
