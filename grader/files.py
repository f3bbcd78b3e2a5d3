"""Atomic file writes (a reader, or a run killed half-way, sees the old file or the new one)
and the lock that keeps two writers out of one results folder."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["ResultsBusy", "atomic_write_bytes", "atomic_write_json", "atomic_write_text",
           "results_lock"]

LOCK = ".grader.lock"


class ResultsBusy(RuntimeError):
    """Another process holds the lock on the results folder."""


@contextmanager
def results_lock(out: Path):
    """Hold ``out/.grader.lock`` with ``flock`` while writing results.

    The kernel releases the lock when its holder dies, so a killed run never leaves a stale
    lock; the file itself stays and only tells who holds it.

    Raises:
        ResultsBusy: naming the process that holds it.
    """
    descriptor = os.open(Path(out) / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ResultsBusy(f"{out} is being graded by another grader (pid {holder}); "
                              "wait for it or use another --out") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The temporary file is flushed and fsynced before ``os.replace``, which is atomic on POSIX
    within one file system, so a SIGKILL at any moment leaves either the complete old file or
    the complete new one (plus, at worst, a ``.tmp`` file that the next write ignores).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=False) + "\n")
