"""Access to the data files shipped inside the package, verified against ``SHA256SUMS``."""

import functools
import hashlib
from importlib import resources
from pathlib import Path

__all__ = ["CorruptDataError", "bundled_file", "bundled_files"]


class CorruptDataError(OSError):
    """A bundled data file does not match its recorded sha256."""


def _folder() -> Path:
    return Path(str(resources.files("course_kit.data") / "files"))


@functools.cache
def bundled_files() -> dict:
    """Map of bundled file name to its expected sha256, read from ``SHA256SUMS``."""
    sums = _folder() / "SHA256SUMS"
    if not sums.is_file():
        raise FileNotFoundError(
            f"the checksum list {sums} is missing: the course_kit installation is incomplete; "
            "reinstall the package"
        )
    entries = (line.split() for line in sums.read_text().splitlines() if line.strip())
    return {name: digest for digest, name in entries}


def bundled_file(name: str) -> Path:
    """Path of the bundled file ``name`` after checking that it exists and is intact.

    Raises:
        FileNotFoundError: the file is not part of the bundle, or is missing on disk.
        CorruptDataError: its content does not match the recorded sha256.
    """
    expected = bundled_files().get(name)
    if expected is None:
        raise FileNotFoundError(f"{name!r} is not a bundled data file; bundled: {sorted(bundled_files())}")
    path = _folder() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"bundled data file {path} is missing: the course_kit installation is incomplete; "
            "reinstall the package"
        )
    _verify(path, expected, path.stat().st_mtime_ns, path.stat().st_size)
    return path


@functools.cache
def _verify(path: Path, expected: str, mtime_ns: int, size: int) -> None:
    # Cached per (path, mtime, size): a file changed on disk is checked again.
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise CorruptDataError(
            f"bundled data file {path} is corrupt: sha256 {actual}, expected {expected}; "
            "reinstall the package (or rebuild it with scripts/build_bundled_data.py)"
        )
