"""The red-team corpus in one run with --jobs 2, and a run killed with SIGKILL that resumes.

``tests/submissions/`` holds the corpus (written by ``tests/submissions/build.py``; its
``expected.json`` says what each case must score and why). The corpus test copies it into a
temporary folder, adds the cases that must not live in the repository (a zip bomb, a 60 MB
notebook, links into the checkout), plants canaries (a folder in /tmp, a file in the
repository root, one in the submissions folder and one in the results folder), listens on
loopback, and runs ``python -m grader grade`` once, as a subprocess, with the test as the
child subreaper (so a daemon that escapes the grader's process tree becomes our child and
cannot hide). Then it checks that:

- no case got false credit: q1_2 is 0 for every case but the reference, q1_5 is 3 unless the
  submission could not be read, and the stable messages (timeouts, policy) are there;
- the grader did not crash: it exited, grades.csv has one row per student, every student has
  a result, and the grader's peak resident memory (``run.json``) stayed under 600 MB;
- nothing was written outside the students' scratch folders: the canaries are unchanged, no
  file carrying the corpus' mark (``redteam-pwned``) exists in /tmp, /dev/shm, /var/tmp, the
  homes, the results or the repository, nothing new in /tmp belongs to another uid, the
  grader's temporary folders are gone, and the repository tree (and byte for byte grader/,
  its references, solutions/ and tests/) is unchanged;
- no process is left: none reparented to the test, none of a jail uid, none whose command
  line names the corpus, the results or the corpus' marks;
- nothing connected to the loopback listener.

``REDTEAM_ONLY=case,case`` grades only those cases (while working on the sandbox); the
corpus-wide checks still run.

The sandbox does not depend on the Keras backend (the per-backend probes are covered by
test_grader_sandbox.py), so these tests run once, on the JAX backend, whose student
processes start fastest.
"""

import contextlib
import csv
import ctypes
import functools
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from grader.notebooks import graded_cell
from grader.report import load_results

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("KERAS_BACKEND", "tensorflow") != "jax",
        reason="sandbox behaviour is backend-independent; the red-team run happens once, on jax",
    ),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the jail is Linux-only"),
]

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "submissions"
# What the corpus' files and processes carry in their names and command lines.
MARKS = ("redteam-pwned", "redteam-daemon")
# What a cell that read the grader's reference says in its error (the note the grader shows).
LEAK = "redteam-leaked"
# Uids a jailed student runs as: nobody, and the grader's range of unused uids.
try:
    from grader.jail import JAIL_UIDS
except ImportError:  # an older grader
    JAIL_UIDS = ()
STUDENT_UIDS = {65534, *JAIL_UIDS}
PEAK_RSS_LIMIT_MB = 600
# How long the whole corpus may take (a hung grader fails the test instead of hanging it).
RUN_LIMIT_SECONDS = 3600


def tree_digest(folder):
    """A digest of the names and contents of every file under ``folder`` (a link: its target)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if "__pycache__" in path.parts:
            continue
        if path.is_symlink():
            digest.update(str(path.relative_to(folder)).encode() + os.readlink(path).encode())
        elif path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


@functools.cache
def builder():
    spec = importlib.util.spec_from_file_location("build_corpus", CORPUS / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_corpus_notebooks_are_what_the_builder_writes():
    written = builder().outputs()
    for path, content in written.items():
        data = content.encode() if isinstance(content, str) else content
        assert path.read_bytes() == data, f"{path} is stale: run python tests/submissions/build.py"
    stale = builder().stale(written)
    assert not stale, f"not written by build.py any more (run it to remove them): {stale}"


def test_corpus_covers_every_category_and_expects_no_credit():
    expected = json.loads((CORPUS / "expected.json").read_text())
    cases = expected["cases"]
    assert len(cases) >= 60
    categories = {case["category"] for case in cases.values()}
    assert len(categories) >= 10, categories
    for name, case in cases.items():
        assert case["reason"], name
        if name != "reference":
            assert case["q1_2"] == 0, f"{name}: a red-team case may never earn q1_2 points"
        on_disk = [CORPUS / name, CORPUS / f"{name}.zip"]
        assert (case.get("made_by") == "test") != any(p.exists() for p in on_disk), name


def test_policy_verdicts_the_corpus_relies_on():
    """A case marked ``clean`` must pass the grader's static policy, so that its 0 comes from
    the jail or the probe's inspection (a stricter policy would hide a leak); a case marked
    ``flagged`` relies on the policy, which must refuse it."""
    violations = pytest.importorskip("grader.policy").violations
    from grader.notebooks import find_cells
    from grader.registry import QUESTIONS

    forbidden = QUESTIONS["q1_2"].forbidden
    wrong = []
    for name, case in builder().CASES.items():
        notebook = case.files.get("submission.ipynb")
        if case.policy is None or notebook is None:
            continue
        source = find_cells({"submission.ipynb": notebook})["q1_2"]["source"]
        found = violations([source], forbidden, ["q1_2"])
        if bool(found) != (case.policy == "flagged"):
            wrong.append(f"{name} is meant to be {case.policy}: {found or 'no violation'}")
    assert not wrong, "\n".join(wrong)


# ----------------------------------------------------------------- helpers of the corpus run


def _score_ok(actual, expected):
    low, high = expected if isinstance(expected, list) else (expected, expected)
    return actual is not None and low <= actual <= high


def _processes():
    """``(pid, ppid, state, start_ticks, uid, cmdline)`` of every process in /proc."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/status") as handle:
                uid = int(re.search(r"^Uid:\s+(\d+)", handle.read(), re.M).group(1))
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, AttributeError, IndexError):
            continue
        yield int(entry), int(fields[1]), fields[0], int(fields[19]), uid, cmdline


def _start_ticks(pid):
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[19])


@contextlib.contextmanager
def _child_subreaper():
    """Make this process the subreaper of everything it starts: orphans become its children."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    try:
        yield
    finally:
        libc.prctl(36, 0, 0, 0, 0)


def _leftover_processes(since, names):
    """Processes the run left behind, started after ``since``: reparented to this process (the
    subreaper) or orphaned to init as a student's uid, or naming the corpus, the results or the
    corpus' marks. (Jailed processes of another grader running on the machine are neither.)"""
    me, found = os.getpid(), []
    for pid, ppid, state, start, uid, cmdline in _processes():
        if pid == me or start < since:
            continue
        if state == "Z" and ppid == me:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            continue
        if ppid == me or (ppid == 1 and uid in STUDENT_UIDS) or any(
                name in cmdline for name in names):
            found.append((pid, uid, cmdline[:200]))
    return found


def _kill_and_reap(processes):
    for pid, _, _ in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for pid, _, _ in processes:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _walk(root, prune_top=()):
    """Every path under ``root`` (symlinks not followed, unreadable folders skipped)."""
    found = set()
    for folder, dirs, files in os.walk(root, onerror=lambda error: None):
        if folder == str(root):
            dirs[:] = [d for d in dirs if not d.startswith(prune_top)]
        found.update(os.path.join(folder, name) for name in dirs + files)
    return found


def _owner(path):
    try:
        return os.lstat(path).st_uid
    except OSError:
        return None


def _repository_snapshot():
    """``{path: (size, mtime)}`` of the checkout (environment included), without caches and
    git's own bookkeeping; .git's hooks, config and info are kept."""
    snapshot = {}
    skip = {"__pycache__", ".pytest_cache", ".ruff_cache"}
    for folder, dirs, files in os.walk(ROOT, onerror=lambda error: None):
        relative = os.path.relpath(folder, ROOT)
        dirs[:] = [d for d in dirs if d not in skip]
        if relative == ".git":
            dirs[:] = [d for d in dirs if d in ("hooks", "info")]
            files = [f for f in files if f == "config"]
        for name in files:
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                info = os.lstat(path)
                snapshot[os.path.relpath(path, ROOT)] = (info.st_size, info.st_mtime_ns)
    return snapshot


def _marked(paths):
    return sorted(p for p in paths if any(mark in os.path.basename(p) for mark in MARKS))


class _Listener:
    """A TCP and a UDP socket on loopback that count who reaches them."""

    def __init__(self):
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.contacts = []
        self.stop = False
        for sock in (self.tcp, self.udp):
            sock.settimeout(0.2)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        while not self.stop:
            try:
                if sock is self.tcp:
                    connection, peer = sock.accept()
                    connection.close()
                else:
                    _, peer = sock.recvfrom(4096)
                self.contacts.append(peer)
            except OSError:
                continue

    def close(self):
        self.stop = True
        time.sleep(0.3)
        self.tcp.close()
        self.udp.close()


def _homes():
    homes = {"/root", os.path.expanduser("~")}
    with contextlib.suppress(OSError):
        homes |= {str(p) for p in Path("/home").iterdir()}
    return [Path(h) / sub for h in sorted(homes) for sub in ("", ".keras", ".config", ".cache")]


def _outside_paths():
    """Folders outside /tmp and the repository where a student might leave a file."""
    paths = set()
    for folder in ("/dev/shm", "/var/tmp", "/run/shm", *map(str, _homes())):
        with contextlib.suppress(OSError):
            paths |= {os.path.join(folder, name) for name in os.listdir(folder)}
    return paths


# ----------------------------------------------------------------- the corpus run


@pytest.mark.slow
def test_red_team_corpus(tmp_path):
    expected = json.loads((CORPUS / "expected.json").read_text())
    cases = expected["cases"]
    only = os.environ.get("REDTEAM_ONLY")
    if only:
        cases = {name: cases[name] for name in only.split(",")}

    # The corpus, in a temporary copy, with the cases the repository must not hold.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, case in cases.items():
        if case.get("made_by") == "test":
            builder().MADE_BY_TEST[name](corpus)
        elif (CORPUS / f"{name}.zip").exists():
            shutil.copy2(CORPUS / f"{name}.zip", corpus)
        else:
            shutil.copytree(CORPUS / name, corpus / name)
    out = tmp_path / "results"
    out.mkdir()

    # Canaries, and what things look like before the run.
    canary_text = "a canary: nothing may change it\n"
    canary_dir = Path(tempfile.mkdtemp(prefix="redteam-canary-", dir="/tmp"))
    canaries = [canary_dir / "canary.txt", corpus / "redteam-canary.txt",
                out / "redteam-canary.txt", ROOT / f".redteam-canary-{os.getpid()}"]
    for canary in canaries:
        canary.write_text(canary_text)
    (canary_dir / "folder").mkdir()
    digests = {name: tree_digest(ROOT / name)
               for name in ("grader", "grader/references", "solutions", "tests")}
    corpus_digest = tree_digest(corpus)
    repository = _repository_snapshot()
    repository.pop(str(canaries[3].relative_to(ROOT)))
    tmp_before = _walk("/tmp", prune_top=("pytest-of-",))
    canary_tree = _walk(canary_dir)
    outside_before = _outside_paths()
    listener = _Listener()

    command = [sys.executable, "-m", "grader", "grade", str(corpus), "--out", str(out),
               "--only", expected["questions"], "--jobs", "2", "--timeout", "12",
               "--memory-mb", "1024", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax"}
    failures, leftovers = [], []
    try:
        with _child_subreaper(), open(tmp_path / "grader.log", "wb") as log:
            run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
            since = _start_ticks(run.pid)
            try:
                returncode = run.wait(timeout=RUN_LIMIT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                returncode = run.wait()
                failures.append(f"the grader did not finish within {RUN_LIMIT_SECONDS} s")
            time.sleep(1)  # let a daemon the jail should have killed show itself
            names = (str(corpus), str(out), *MARKS)
            leftovers = _leftover_processes(since, names)
    finally:
        listener.close()
        _kill_and_reap(leftovers)
        changed_canaries = [c for c in canaries
                            if not c.is_file() or c.read_text() != canary_text]
        canaries[3].unlink(missing_ok=True)
    log_tail = (tmp_path / "grader.log").read_text(errors="replace")[-3000:]

    # The grader did not crash, and every student has a result.
    if returncode != 0:
        failures.append(f"the grader exited with {returncode}; its output ends with:\n{log_tail}")
    results = {r["student"]: r for r in load_results(out)}
    missing = sorted(set(cases) - set(results))
    extra = sorted(set(results) - set(cases))
    if missing or extra:
        failures.append(f"results missing for {missing}, unexpected results {extra}")
    grades = out / "grades.csv"
    if grades.is_file():
        with open(grades, newline="") as handle:
            rows = list(csv.reader(handle))
        if sorted(row[0] for row in rows[1:]) != sorted(results):
            failures.append(f"grades.csv has rows for {sorted(r[0] for r in rows[1:])}")
    else:
        failures.append("grades.csv was not written")
    try:
        peak = json.loads((out / "run.json").read_text())["peak_rss_mb"]
        if not peak < PEAK_RSS_LIMIT_MB:
            failures.append(f"the grader's peak resident memory was {peak} MB")
    except (OSError, ValueError, KeyError) as error:
        failures.append(f"run.json with peak_rss_mb is missing ({error!r})")

    # No false credit; the honest question scores; stable messages.
    table = []
    for name, case in cases.items():
        questions = results.get(name, {}).get("questions", {})
        q12, q15 = questions.get("q1_2", {}), questions.get("q1_5", {})
        actual = (q12.get("auto_score"), q15.get("auto_score"))
        wrong = [f"{qid} {score} not {case[qid]}" for qid, score in zip(("q1_2", "q1_5"), actual)
                 if not _score_ok(score, case[qid])]
        notes = " | ".join(str(n) for n in q12.get("notes", []))
        if case.get("status") and q12.get("status") != case["status"]:
            wrong.append(f"status {q12.get('status')!r} not {case['status']!r}")
        every_note = " | ".join(str(n) for q in (q12, q15) for n in q.get("notes", []))
        if case.get("note") and not any(w.lower() in every_note.lower() for w in case["note"]):
            wrong.append(f"no note mentions any of {case['note']}")
        everything = json.dumps(questions)
        if LEAK in everything:
            wrong.append("the cell read the grader's reference (see its notes)")
        table.append(f"{'FAIL' if wrong else 'ok  '} {name:32s} {str(actual):14s} "
                     f"{q12.get('status')!s:10s} {'; '.join(wrong)}  [{notes[:150]}]")
        if wrong:
            failures.append(f"{name} ({case['category']}): {'; '.join(wrong)}")
    print("\n" + "\n".join(table))

    # Nothing written outside the scratch folders.
    for canary in changed_canaries:
        failures.append(f"canary {canary} was changed or removed")
    if _walk(canary_dir) != canary_tree:
        failures.append(f"the canary folder changed: {sorted(_walk(canary_dir) ^ canary_tree)}")
    shutil.rmtree(canary_dir, ignore_errors=True)
    if tree_digest(corpus) != corpus_digest:
        failures.append("a submission changed the submissions folder")
    new_in_tmp = _walk("/tmp", prune_top=("pytest-of-",)) - tmp_before - {str(canary_dir)}
    ours = [p for p in new_in_tmp if re.match(rf"/tmp/grader-[a-z]+-{run.pid}-", p)]
    foreign = [p for p in new_in_tmp if _owner(p) not in (None, os.getuid())]
    for label, paths in (("the grader's temporary folders were left in /tmp", ours),
                         ("files of another uid (a student's?) appeared in /tmp", foreign),
                         ("marked files appeared in /tmp", _marked(new_in_tmp)),
                         ("marked files appeared outside /tmp",
                          _marked(_outside_paths() - outside_before)),
                         ("marked files appeared in the results", _marked(map(str, out.rglob("*")))),
                         ("marked files appeared in the repository", _marked(_walk(ROOT)))):
        if paths:
            failures.append(f"{label}: {sorted(paths)[:20]}")
    others = sorted(set(new_in_tmp) - set(ours) - set(foreign))
    if others:  # the machine may be shared: shown, not failed
        print("new in /tmp during the run (other users of the machine?):", others[:20])
    for result in results.values():
        if any(mark in result for mark in MARKS):
            failures.append(f"{result['student']}'s result.json was written by a student")
    for name, digest in digests.items():
        if tree_digest(ROOT / name) != digest:
            failures.append(f"{name}/ changed during the run")
    after = _repository_snapshot()
    changed = sorted(set(after) ^ set(repository)) + sorted(
        p for p in set(after) & set(repository) if after[p] != repository[p])
    if changed:
        failures.append(f"the repository changed during the run: {changed[:20]}")

    # No process left, no connection made.
    if leftovers:
        failures.append(f"processes left after the run (killed now): {leftovers}")
    if listener.contacts:
        failures.append(f"the loopback listener was reached from {listener.contacts}")

    assert not failures, "\n".join(failures)


def test_run_killed_with_sigkill_resumes_and_grades_everyone_once(tmp_path):
    submissions = tmp_path / "submissions"
    source = "def count_parameters(d, n, c):\n    return 4 * (d * n + n * n + n) + n * c + c"
    import nbformat

    for student in ("s1", "s2", "s3"):
        (submissions / student).mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(cells=[graded_cell(source, "q1_5")]),
                       submissions / student / "01.ipynb")
    out = tmp_path / "results"
    command = [sys.executable, "-m", "grader", "grade", str(submissions), "--out", str(out),
               "--only", "q1_5", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not load_results(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    finished = {r["student"]: r["graded_at"] for r in load_results(out)}
    assert 1 <= len(finished) < 3, "the run was meant to be killed half-way"
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    results = {r["student"]: r for r in load_results(out)}
    assert sorted(results) == ["s1", "s2", "s3"]
    for student, graded_at in finished.items():
        assert results[student]["graded_at"] == graded_at, f"{student} was graded twice"
    assert all(r["questions"]["q1_5"]["auto_score"] == 3 for r in results.values())
    assert len((out / "grades.csv").read_text().splitlines()) == 4
    assert not list(out.rglob("*.tmp"))
    leftovers = list(Path(tempfile.gettempdir()).glob(f"grader-*-{run.pid}-*"))
    assert not leftovers, f"the killed run's temporary folders were not removed: {leftovers}"
