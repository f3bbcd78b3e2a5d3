"""What the grader accepts from a student process: every frame checked, every size capped."""

import io
import json
import resource
import struct
import zipfile

import numpy as np
import pytest

from grader.protocol import (
    MAGIC,
    MAX_ARRAY_BYTES,
    MAX_HEADER_BYTES,
    PREFIX,
    FrameError,
    FrameReader,
    decode_arrays,
    encode_arrays,
    encode_frame,
    validate_header,
)

pytestmark = pytest.mark.backend_independent

RESULT = {"kind": "result", "qid": "q1_2", "status": "ok", "notes": [], "kit_classes": [],
          "seconds": 1.5}


def test_plain_real_arrays_round_trip():
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([True, False]),
              "c": np.asfortranarray(np.ones((3, 2))), "d": np.float16(2.5), "e": np.uint8([7])}
    decoded = decode_arrays(encode_arrays(arrays))
    assert sorted(decoded) == sorted(arrays)
    for name, array in arrays.items():
        assert decoded[name].dtype == np.asarray(array).dtype
        np.testing.assert_array_equal(decoded[name], array)


@pytest.mark.parametrize("value", [np.array([1 + 2j]), np.array(["text"]),
                                   np.zeros(2, dtype=[("x", "f8"), ("y", "f8")]),
                                   np.zeros(2, dtype="V8"), np.array(["2020-01-01"], "M8[D]")])
def test_non_real_arrays_are_refused(value):
    with pytest.raises(FrameError, match="expected real numbers"):
        decode_arrays(encode_arrays({"outputs": value}))


def test_object_arrays_are_refused_without_unpickling():
    buffer = io.BytesIO()
    np.savez(buffer, outputs=np.array([{"x": 1}], dtype=object))
    with pytest.raises(FrameError, match="expected real numbers"):
        decode_arrays(buffer.getvalue())


def _npz_with_header(shape, data: bytes) -> bytes:
    """An .npz whose .npy header claims ``shape`` but carries only ``data``."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                  "shape": shape})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("outputs.npy", member.getvalue() + data)
    return buffer.getvalue()


def test_a_header_claiming_a_huge_shape_allocates_nothing():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(FrameError, match="larger than"):
        decode_arrays(_npz_with_header((10**6, 10**6), b"\0" * 64))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB


def test_a_header_that_disagrees_with_its_data_is_refused():
    with pytest.raises(FrameError, match="header says"):
        decode_arrays(_npz_with_header((4,), b"\0" * 8))


def test_a_deflated_member_cannot_inflate_past_the_cap():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        member = io.BytesIO()
        np.save(member, np.zeros(MAX_ARRAY_BYTES // 8 + 1024))
        archive.writestr("outputs.npy", member.getvalue())
    payload = buffer.getvalue()
    assert len(payload) < MAX_ARRAY_BYTES // 100
    with pytest.raises(FrameError, match="larger than"):
        decode_arrays(payload)


def test_too_many_arrays_and_bad_names_are_refused():
    with pytest.raises(FrameError, match="arrays in one result"):
        decode_arrays(encode_arrays({f"a{i}": np.zeros(1) for i in range(65)}))
    with pytest.raises(FrameError, match="bad or repeated array name"):
        decode_arrays(encode_arrays({"../../escape": np.zeros(1)}))
    with pytest.raises(FrameError, match="unreadable array payload"):
        decode_arrays(b"not a zip at all")


def test_headers_are_checked_field_by_field():
    assert validate_header(dict(RESULT)) == "result"
    assert validate_header({**RESULT, "status": "error", "error_type": "ValueError",
                            "error_message": "bad", "where": None}) == "result"
    bad = [
        {**RESULT, "kind": "grade"},
        {**RESULT, "score": 100},
        {k: v for k, v in RESULT.items() if k != "qid"},
        {**RESULT, "qid": ["q1_2"]},
        {**RESULT, "status": "passed"},
        {**RESULT, "notes": "not a list"},
        {**RESULT, "notes": [{"nested": 1}]},
        {**RESULT, "notes": ["x"] * 51},
        {**RESULT, "seconds": float("nan")},
        {**RESULT, "seconds": True},
        {**RESULT, "error_message": "x" * 2001},
        {"kind": "ready", "device": "cpu"},
        {"kind": "start", "qid": 12},
    ]
    for header in bad:
        with pytest.raises(FrameError):
            validate_header(header)


def test_reader_refuses_oversized_frames_before_buffering_them():
    reader = FrameReader()
    with pytest.raises(FrameError, match="too large"):
        reader.feed(PREFIX.pack(MAGIC, MAX_HEADER_BYTES + 1, 0))
    with pytest.raises(FrameError, match="too large"):
        FrameReader().feed(PREFIX.pack(MAGIC, 10, 2**40))


def test_reader_refuses_garbage_and_non_object_headers():
    with pytest.raises(FrameError, match="frame marker"):
        FrameReader().feed(b"XXXX" + b"\0" * 20)
    text = json.dumps([1, 2]).encode()
    with pytest.raises(FrameError, match="JSON object"):
        FrameReader().feed(PREFIX.pack(MAGIC, len(text), 0) + text)
    deep = b"[" * 100_000
    with pytest.raises(FrameError):
        FrameReader().feed(struct.pack(">4sIQ", MAGIC, len(deep), 0) + deep)


def test_reader_splits_a_stream_into_validated_frames():
    stream = encode_frame({"kind": "start", "qid": "q1_2"}) + encode_frame(RESULT, b"payload")
    reader = FrameReader()
    frames = reader.feed(stream[:7]) + reader.feed(stream[7:])
    assert [header["kind"] for header, _ in frames] == ["start", "result"]
    assert frames[1][1] == b"payload"
