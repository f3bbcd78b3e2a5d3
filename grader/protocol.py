"""The wire format between the grader and a student process, and its validation.

A frame is ``MAGIC``, the header length and the payload length (big-endian), a JSON header
and an optional ``.npz`` payload. Everything a student process sends is hostile until proven
otherwise: :class:`FrameReader` caps sizes before buffering, :func:`validate_header` checks
every field of every header against the schema of its kind, and :func:`decode_arrays` reads
``.npz`` payloads itself, member by member, refusing anything that would inflate past a cap,
that is not a plain real-valued array (complex, object, structured, string and void dtypes
are errors) or that pickle would be needed for.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zipfile

import numpy as np

__all__ = ["FrameError", "FrameReader", "MAX_ARRAY_BYTES", "MAX_HEADER_BYTES",
           "MAX_PAYLOAD_BYTES", "decode_arrays", "encode_arrays", "encode_frame",
           "validate_header"]

MAGIC = b"CKG1"
PREFIX = struct.Struct(">4sIQ")
MAX_HEADER_BYTES = 64_000
# The largest legitimate payload (a question's outputs) is a few kilobytes.
MAX_PAYLOAD_BYTES = 16_000_000
MAX_ARRAY_BYTES = 16_000_000
MAX_ARRAYS = 64
MAX_DIMENSIONS = 8
ARRAY_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# Booleans, signed and unsigned integers, real floats; never complex, object, str or void.
REAL_KINDS = frozenset("biuf")

# Each header kind, its fields and their types; a field not listed is an error.
_TEXT = (str, 2000)
_SCHEMAS = {
    "ready": {"kind": (str, 16), "device": (str, 200), "backend": (str, 32)},
    "start": {"kind": (str, 16), "qid": (str, 32)},
    "result": {"kind": (str, 16), "qid": (str, 32), "status": (str, 16), "seconds": (float, 0),
               "notes": (list, 50), "kit_classes": (list, 100), "error_type": (str, 200),
               "error_message": _TEXT, "where": (str, 1000)},
}
_REQUIRED = {"ready": {"kind", "device", "backend"}, "start": {"kind", "qid"},
             "result": {"kind", "qid", "status"}}
RESULT_STATUSES = ("ok", "error")


class FrameError(ValueError):
    """The student process sent something that is not a well-formed frame."""


def encode_arrays(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    return buffer.getvalue()


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> np.ndarray:
    """One ``.npy`` member, read with every size checked before it is allocated."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise FrameError(f"array {info.filename!r}: unsupported .npy version {version}")
        if dtype.hasobject or dtype.fields is not None or dtype.kind not in REAL_KINDS:
            raise FrameError(f"array {info.filename[:-4]!r} has dtype {dtype}: expected real "
                             "numbers (complex, object, structured and text arrays are refused)")
        if len(shape) > MAX_DIMENSIONS:
            raise FrameError(f"array {info.filename!r} has {len(shape)} dimensions")
        size = dtype.itemsize * math.prod(shape)
        if size > budget:
            raise FrameError(f"arrays larger than {MAX_ARRAY_BYTES} bytes in all")
        data = member.read(size + 1)
    if len(data) != size:
        raise FrameError(f"array {info.filename!r}: {len(data)} bytes of data, header says {size}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array.copy()


def decode_arrays(payload: bytes) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` payload, never unpickling and never inflating past the caps.

    Raises:
        FrameError: naming what is wrong (unreadable archive, too many or too large arrays,
            a bad name, a non-real dtype, a size that does not match the header).
    """
    if not payload:
        return {}
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except (zipfile.BadZipFile, ValueError) as error:
        raise FrameError(f"unreadable array payload ({error})") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ARRAYS:
            raise FrameError(f"{len(members)} arrays in one result (at most {MAX_ARRAYS})")
        arrays, budget = {}, MAX_ARRAY_BYTES
        for info in members:
            name = info.filename[:-4] if info.filename.endswith(".npy") else ""
            if not ARRAY_NAME.match(name) or name in arrays:
                raise FrameError(f"bad or repeated array name {info.filename[:80]!r}")
            if info.file_size > budget + 4096:
                raise FrameError(f"arrays larger than {MAX_ARRAY_BYTES} bytes in all")
            try:
                arrays[name] = _read_member(archive, info, budget)
            except FrameError:
                raise
            except Exception as error:  # any malformed member is reported, never trusted
                raise FrameError(f"unreadable array {name!r} ({type(error).__name__}: "
                                 f"{str(error)[:200]})") from None
            budget -= arrays[name].nbytes
    return arrays


def encode_frame(header: dict, payload: bytes = b"") -> bytes:
    encoded = json.dumps(header).encode("utf-8")
    return PREFIX.pack(MAGIC, len(encoded), len(payload)) + encoded + payload


def _check_field(kind: str, name: str, value) -> None:
    expected, limit = _SCHEMAS[kind][name]
    if expected is float:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise FrameError(f"{kind} frame: field {name!r} is not a finite number")
        return
    if name == "where" and value is None:
        return
    if type(value) is not expected:
        raise FrameError(f"{kind} frame: field {name!r} is a {type(value).__name__}, "
                         f"expected {expected.__name__}")
    if len(value) > limit:
        raise FrameError(f"{kind} frame: field {name!r} is longer than {limit}")
    if expected is list and not all(type(item) is str and len(item) <= 2000 for item in value):
        raise FrameError(f"{kind} frame: field {name!r} must be a list of short strings")


def validate_header(header: dict) -> str:
    """Check ``header`` against the schema of its kind; return the kind.

    Raises:
        FrameError: on an unknown kind, a missing, unknown or mistyped field, or a bad value.
    """
    kind = header.get("kind")
    if kind not in _SCHEMAS:
        raise FrameError(f"unknown frame kind {str(kind)[:40]!r}")
    unknown = set(header) - set(_SCHEMAS[kind])
    missing = _REQUIRED[kind] - set(header)
    if unknown or missing:
        raise FrameError(f"{kind} frame: unknown fields {sorted(unknown)[:5]}, "
                         f"missing fields {sorted(missing)}")
    for name, value in header.items():
        _check_field(kind, name, value)
    if kind == "result" and header["status"] not in RESULT_STATUSES:
        raise FrameError(f"result frame: status {header['status'][:20]!r}")
    return kind


class FrameReader:
    """Incrementally splits a byte stream into ``(header, payload)`` frames.

    Sizes are checked from the fixed-size prefix, before any of the frame is buffered, so a
    hostile stream can make the grader hold at most one capped frame.
    """

    def __init__(self):
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[dict, bytes]]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= PREFIX.size:
            magic, header_length, payload_length = PREFIX.unpack_from(self.buffer)
            if magic != MAGIC:
                raise FrameError("stream does not start with a frame marker")
            if header_length > MAX_HEADER_BYTES or payload_length > MAX_PAYLOAD_BYTES:
                raise FrameError(f"frame too large ({header_length} + {payload_length} bytes)")
            end = PREFIX.size + header_length + payload_length
            if len(self.buffer) < end:
                break
            try:
                header = json.loads(bytes(self.buffer[PREFIX.size : PREFIX.size + header_length]))
            except (ValueError, RecursionError):
                raise FrameError("frame header is not JSON") from None
            if not isinstance(header, dict):
                raise FrameError("frame header is not a JSON object")
            validate_header(header)
            frames.append((header, bytes(self.buffer[PREFIX.size + header_length : end])))
            del self.buffer[:end]
        return frames
