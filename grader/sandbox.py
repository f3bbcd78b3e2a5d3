"""Running one student's code in a confined child process (the grader's side).

Enforcement, in layers:

- **A separate process** (``python -I grader/_child.py``) in its own session, started in a
  fresh scratch folder that holds a copy of that student's files only, with a minimal
  environment (no proxies, ``HOME``/``TMPDIR``/``KERAS_HOME`` inside the scratch folder).
- **Resource limits** set by the child on itself before student code runs, soft = hard:
  CPU time, data segment (memory), size of files written, no core dumps, and (for non-root
  users) the number of processes. The grader also watches the child's resident memory and
  kills it above the limit, and enforces the wall-clock limit per question with SIGKILL to
  the whole process group.
- **An audit hook** (PEP 578; it cannot be removed once installed) in the child refuses
  reading the grader's package (references included), the tests, the submissions folder and
  the results folder; writing anywhere but the scratch folder; sockets; new processes;
  signals to other processes; changing resource limits; loading native libraries.
- **No trust in what comes back**: the child sends only JSON headers and ``.npz`` arrays
  (decoded without pickle); the references, the comparison and the scores exist only in the
  grader's process.

Audit hooks see Python-level operations only: native code (for instance a framework's own C++
file reader) can open files without raising an audit event. Against a determined attacker,
run each submission in its own container (``gradescope-bundle``) as well.
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

from grader.protocol import FrameError, FrameReader, decode_arrays

__all__ = ["Limits", "Outcome", "Task", "remove_stale_folders", "run_tasks"]

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
CHILD = PACKAGE / "_child.py"
# Seconds a fresh child may take to import Keras and its backend before its first question.
STARTUP_SECONDS = 180.0
# Seconds between one question's result and the next question's start frame.
BETWEEN_QUESTIONS_SECONDS = 30.0
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
    """What happened to one task: ``status`` is ok, error, timeout, crashed or protocol."""

    qid: str
    status: str
    arrays: dict = field(default_factory=dict)
    header: dict = field(default_factory=dict)
    message: str = ""
    seconds: float = 0.0


def _environment(scratch: Path, backend: str, device: str, threads: int) -> dict[str, str]:
    home = scratch / "home"
    for folder in ("home", "tmp", "keras", "mpl"):
        (scratch / folder).mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(scratch / "tmp"),
        "KERAS_HOME": str(scratch / "keras"),
        "MPLCONFIGDIR": str(scratch / "mpl"),
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
    for name in ("LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
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
    """Remove scratch and job folders left by grader processes that no longer exist (a run
    killed with SIGKILL cannot clean up after itself). Returns how many were removed."""
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


def _resident_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - LOG_TAIL_CHARS))
            return log.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


class _Child:
    """One running child process and the pipe its frames come through."""

    def __init__(self, jobdir, scratch, first, env):
        read_end, write_end = os.pipe()
        self.log_path = jobdir / f"log-{first}.txt"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(CHILD), str(jobdir), str(write_end), str(first),
                 str(os.getpid())],
                cwd=scratch / "work", env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, pass_fds=(write_end,), start_new_session=True,
            )
        os.close(write_end)
        self.fd = read_end
        self.reader = FrameReader()
        self.pending = []

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
        _kill(self.process)
        os.close(self.fd)


def _describe_exit(child: _Child, what: str) -> str:
    code = child.process.wait()
    if code < 0:
        reason = f"killed by signal {signal.Signals(-code).name}"
        if -code == signal.SIGXCPU:
            reason += " (CPU-time limit)"
    else:
        reason = f"exited with code {code}"
    tail = _tail(child.log_path)
    return f"the student process {reason} {what}" + (f"; last output:\n{tail}" if tail else "")


def run_tasks(tasks, files, *, backend, device="auto", limits=Limits(), deny=(), meta=None):
    """Run ``tasks`` for one student in confined child processes; return their outcomes.

    ``files`` (relative path -> bytes) are the student's files, copied into the scratch
    folder. A crash, timeout or memory kill costs the question it happened in; a fresh child
    then runs the remaining tasks. ``meta`` (a dict) receives the child's device and backend.
    """
    meta = {} if meta is None else meta
    outcomes = []
    if not tasks:
        return outcomes
    scratch, jobdir = _folder("scratch"), _folder("job")
    try:
        work = scratch / "work"
        work.mkdir()
        for relative, data in files.items():
            target = work / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        job_tasks = []
        for index, task in enumerate(tasks):
            np.savez(jobdir / f"inputs-{index}.npz", **task.inputs)
            job_tasks.append({"qid": task.qid, "probe": task.probe, "cells": task.cells,
                              "inputs": f"inputs-{index}.npz", "forbidden": list(task.forbidden)})
        cpu_seconds = int(STARTUP_SECONDS + 2 * sum(t.timeout for t in tasks))
        job = {
            "tasks": job_tasks,
            "device": device,
            "scratch": str(scratch),
            "deny": [str(PACKAGE), str(REPO / "tests"), str(jobdir), *map(str, deny)],
            "limits": {"cpu_seconds": cpu_seconds, "memory_mb": limits.memory_mb,
                       "file_mb": limits.file_mb, "processes": limits.processes},
        }
        (jobdir / "job.json").write_text(json.dumps(job))
        env = _environment(scratch, backend, device, limits.threads)

        first = 0
        while first < len(tasks):
            child = _Child(jobdir, scratch, first, env)
            current, started, completed = None, None, 0
            memory = limits.memory_mb * 1.25  # the rlimit is the first line; this catches the rest
            try:
                deadline = time.monotonic() + STARTUP_SECONDS
                while True:
                    kind, frame = child.next_frame(deadline, memory)
                    if kind != "frame":
                        break
                    header, payload = frame
                    if header.get("kind") == "ready":
                        meta.update(device=str(header.get("device")),
                                    backend=str(header.get("backend")))
                    elif header.get("kind") == "start" and header.get("qid") == tasks[first].qid:
                        current, started = tasks[first], time.monotonic()
                        deadline = started + current.timeout
                    elif (header.get("kind") == "result" and current
                          and header.get("qid") == current.qid):
                        arrays = decode_arrays(payload)
                        status = "ok" if header.get("status") == "ok" else "error"
                        outcomes.append(Outcome(current.qid, status, arrays, header,
                                                seconds=time.monotonic() - started))
                        first += 1
                        completed += 1
                        current = None
                        deadline = time.monotonic() + BETWEEN_QUESTIONS_SECONDS
                    elif header.get("kind") == "done" and first >= len(tasks):
                        break
                    else:
                        raise FrameError(f"unexpected frame {header.get('kind')!r}")
            except FrameError as error:
                kind, frame = "protocol", str(error)
            finally:
                child.close()
            if kind == "protocol" and current is None and completed:
                # Student code runs only inside a question, so data arriving between two
                # questions was forged during the one before: that question loses its result.
                forged = outcomes[-1]
                forged.status, forged.arrays = "crashed", {}
                forged.message = f"the student process sent forged or malformed data ({frame})"
                continue
            if first >= len(tasks):
                break
            task = tasks[first]
            seconds = time.monotonic() - started if started else 0.0
            if current is None and kind != "protocol":
                if completed:
                    continue  # died between questions: a fresh child takes the rest
                # The child never started a question: it died or hung while starting up.
                message = _describe_exit(child, "before the question started")
                if kind == "timeout":
                    message = f"the student process did not start within {STARTUP_SECONDS:.0f} s"
                outcomes += [Outcome(rest.qid, "crashed", message=message)
                             for rest in tasks[first:]]
                break
            if kind == "timeout":
                message = f"timed out after {task.timeout:.0f} s (wall clock)"
                status = "timeout"
            elif kind == "memory":
                message = f"killed: used more than {memory:.0f} MB of memory"
                status = "crashed"
            elif kind == "protocol":
                message = f"the student process sent malformed data ({frame}); it was stopped"
                status = "crashed"
            else:
                message = _describe_exit(child, "while running this question")
                status = "crashed"
            outcomes.append(Outcome(task.qid, status, message=message, seconds=seconds))
            first += 1
        return outcomes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(jobdir, ignore_errors=True)

