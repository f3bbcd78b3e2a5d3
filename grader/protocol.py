"""The wire format between the grader and a student process: JSON headers and plain arrays.

A frame is ``MAGIC``, the header length and the payload length (big-endian), a JSON header
and an optional ``.npz`` payload. The grader decodes payloads with ``allow_pickle=False``, so
nothing a student process sends can run code in the grader.
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np

__all__ = ["FrameError", "FrameReader", "MAX_HEADER_BYTES", "MAX_PAYLOAD_BYTES", "decode_arrays",
           "encode_arrays", "encode_frame"]

MAGIC = b"CKG1"
PREFIX = struct.Struct(">4sIQ")
MAX_HEADER_BYTES = 1_000_000
MAX_PAYLOAD_BYTES = 256_000_000


class FrameError(ValueError):
    """The student process sent something that is not a well-formed frame."""


def encode_arrays(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    return buffer.getvalue()


def decode_arrays(payload: bytes) -> dict[str, np.ndarray]:
    if not payload:
        return {}
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except Exception as error:  # a malformed payload is reported, never trusted
        raise FrameError(f"unreadable array payload ({type(error).__name__}: {error})") from None


def encode_frame(header: dict, payload: bytes = b"") -> bytes:
    encoded = json.dumps(header).encode("utf-8")
    return PREFIX.pack(MAGIC, len(encoded), len(payload)) + encoded + payload


class FrameReader:
    """Incrementally splits a byte stream into ``(header, payload)`` frames."""

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
            except ValueError:
                raise FrameError("frame header is not JSON") from None
            if not isinstance(header, dict):
                raise FrameError("frame header is not a JSON object")
            frames.append((header, bytes(self.buffer[PREFIX.size + header_length : end])))
            del self.buffer[:end]
        return frames
