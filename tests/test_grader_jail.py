"""The jail, checked from inside it: what a student process can see, reach and leave behind.

These tests run plain Python in the jail (no Keras, no audit hook), so what they observe is
the operating system's doing alone.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader import jail
from grader.jail import SetupError, choose_isolation

pytestmark = [
    pytest.mark.backend_independent,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the jail needs Linux"),
]

ROOT = Path(__file__).resolve().parents[1]
SECRET = "grader-secret-value"


@pytest.fixture(scope="module")
def namespaces():
    """bubblewrap must work here: CI installs it, so a failure is an error, never a skip."""
    assert choose_isolation("namespaces") == "namespaces"


def run_in_jail(code, tmp_path, *, scratch_mb=jail.SCRATCH_MB, wait=True):
    """Run ``python -c code`` in the namespaces jail; return the process (and its output)."""
    folders = {name: tmp_path / name for name in ("runtime", "job", "submission", "scratch")}
    for folder in folders.values():
        folder.mkdir()
    jail.stage_runtime(folders["runtime"])
    paths = jail.JailPaths(*(str(folders[n]) for n in ("runtime", "job", "submission", "scratch")))
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    fds = {}
    for name, content in jail.jail_files(61063, "/scratch/home").items():
        read_end, write_end = os.pipe()
        os.write(write_end, content)
        os.close(write_end)
        fds[name] = read_end
    command = jail.jail_command([sys.executable, "-I", "-c", code], paths, 61063,
                                {"PATH": "/usr/bin:/bin", "HOME": "/scratch"}, use_gpu=False,
                                data_fds=fds, scratch_mb=scratch_mb)
    env = {**os.environ, "GRADER_SECRET": SECRET}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               pass_fds=list(fds.values()), start_new_session=True)
    for fd in fds.values():
        os.close(fd)
    if not wait:
        return process
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    return json.loads(out)


LOOK_AROUND = r"""
import json, os, socket
facts = {"uid": os.getuid(), "cwd": os.getcwd()}
facts["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
facts["root"] = sorted(os.listdir("/"))
for name, path in {"repo": REPO, "package": PACKAGE, "tmp": "/tmp"}.items():
    facts[name] = sorted(os.listdir(path)) if os.path.isdir(path) else None
facts["env"] = dict(os.environ)
try:
    facts["init_environ"] = open("/proc/1/environ", "rb").read().decode(errors="replace")
except OSError as error:
    facts["init_environ"] = type(error).__name__
facts["status"] = {k: v.strip() for k, v in (l.split(":", 1) for l in open("/proc/self/status"))
                   if k in ("CapEff", "CapPrm", "NoNewPrivs")}
facts["interfaces"] = sorted(name for _, name in socket.if_nameindex())
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=3).close()
    facts["connect"] = "connected"
except OSError as error:
    facts["connect"] = type(error).__name__
writes = {}
for path in ("/usr/evil", "/evil", "/opt/course-kit/kit/evil", "/submission/evil",
             "/scratch/fine", "/tmp/fine"):
    try:
        open(path, "w").write("x")
        writes[path] = "written"
    except OSError:
        writes[path] = "refused"
facts["writes"] = writes
print(json.dumps(facts))
"""


def test_from_inside_the_jail_the_grader_does_not_exist(namespaces, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = (LOOK_AROUND.replace("REPO", repr(str(ROOT))).replace("PACKAGE", repr(str(ROOT / "grader")))
            .replace("PORT", str(port)))
    facts = run_in_jail(code, tmp_path)
    with pytest.raises(socket.timeout):
        listener.accept()  # nothing reached the grader's loopback
    listener.close()

    venv = Path(sys.prefix).resolve()
    inside_repo = [venv.relative_to(ROOT).parts[0]] if ROOT in venv.parents else []
    assert facts["repo"] in (None, inside_repo), "the repository is visible in the jail"
    assert facts["package"] is None, "the grader package is visible in the jail"
    assert facts["uid"] == 61063 and facts["uid"] != os.getuid()
    assert facts["pids"] == [1, 2], "processes outside the jail are visible"
    assert SECRET not in json.dumps(facts["env"]) and SECRET not in facts["init_environ"]
    assert facts["status"]["CapEff"] == "0000000000000000"
    assert facts["status"]["CapPrm"] == "0000000000000000"
    assert facts["interfaces"] == ["lo"]
    assert facts["connect"] != "connected"
    # /tmp is private: empty, but for the way to the Python environment if it lives there
    environment = [venv.parts[2]] if venv.parts[1:2] == ("tmp",) else []
    assert facts["tmp"] == environment, "the jail's /tmp is not private"
    assert facts["writes"] == {"/usr/evil": "refused", "/evil": "refused",
                               "/opt/course-kit/kit/evil": "refused",
                               "/submission/evil": "refused",
                               "/scratch/fine": "written", "/tmp/fine": "written"}
    assert facts["cwd"] == "/scratch"
    assert not (ROOT / "evil").exists()


def test_scratch_folder_has_a_size_cap(namespaces, tmp_path):
    code = r"""
import json
try:
    with open("/scratch/big", "wb") as f:
        for _ in range(64):
            f.write(b"x" * 2**20)
    print(json.dumps("written"))
except OSError as error:
    print(json.dumps(error.strerror))
"""
    assert run_in_jail(code, tmp_path, scratch_mb=8) == "No space left on device"


def test_everything_started_in_the_jail_dies_with_it(namespaces, tmp_path):
    marker = f"jail-leftover-{os.getpid()}"
    code = f"""
import os, subprocess, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sh", ["sh", "-c", "exec -a {marker} sleep 600"])
    os._exit(0)
print("[]", flush=True)
time.sleep(600)
"""
    process = run_in_jail(code, tmp_path, wait=False)
    assert process.stdout.readline().strip() == b"[]"
    deadline = time.monotonic() + 10
    while not _processes_named(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_named(marker), "the daemon never started"
    os.killpg(process.pid, 9)
    process.wait()
    deadline = time.monotonic() + 10
    while _processes_named(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes_named(marker), "a process started in the jail outlived it"


def _processes_named(marker):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def test_installed_copies_of_the_grader_are_covered(namespaces, tmp_path, monkeypatch):
    packages = tmp_path / "site-packages"
    (packages / "grader" / "references").mkdir(parents=True)
    (packages / "grader" / "references" / "q1_2.npz").write_bytes(b"secret")
    monkeypatch.setattr(jail.site, "getsitepackages", lambda: [str(packages)])
    binds, masks = jail._python_binds()
    assert str(packages) in binds
    assert ["--tmpfs", str(packages / "grader")] == masks[:2]


def test_a_grader_installed_in_site_packages_keeps_site_packages_visible(tmp_path, monkeypatch):
    """Installed (not a checkout), the folder above the grader is site-packages: the student
    process needs it (numpy, keras), so only the installed grader and kit are covered."""
    packages = tmp_path / "site-packages"
    for name in ("grader", "course_kit", "numpy"):
        (packages / name).mkdir(parents=True)
    monkeypatch.setattr(jail.site, "getsitepackages", lambda: [str(packages)])
    monkeypatch.setattr(jail, "REPO", packages)
    monkeypatch.setattr(jail, "PACKAGE", packages / "grader")
    assert jail._checkout() is None
    binds, masks = jail._python_binds()
    assert str(packages) in binds
    masked = {masks[i + 1] for i in range(0, len(masks), 2)}
    assert masked == {str(packages / "grader"), str(packages / "course_kit")}


def test_choose_isolation(namespaces):
    assert choose_isolation("auto") == "namespaces"
    assert choose_isolation("none") == "none"
    with pytest.raises(SetupError, match="--isolation must be"):
        choose_isolation("chroot")


def test_without_bubblewrap_auto_falls_back_or_refuses(monkeypatch):
    monkeypatch.setattr(jail, "_bwrap", lambda: None)
    if os.geteuid() == 0:
        assert choose_isolation("auto") == "user"
    else:
        with pytest.raises(SetupError, match="--isolation none"):
            choose_isolation("auto")
    with pytest.raises(SetupError, match="bubblewrap .* not installed"):
        choose_isolation("namespaces")


USER_LEVEL_VIEW = """
set -e
view=$(mktemp -d)
mount --bind /root "$view"
mount -t tmpfs -o mode=0755 tmpfs /root
for entry in "$view"/.* "$view"/*; do
    name=$(basename "$entry")
    [ "$name" = . ] || [ "$name" = .. ] || [ ! -e "$entry" ] && continue
    if [ -d "$entry" ]; then mkdir "/root/$name"; else touch "/root/$name"; fi
    mount --bind "$entry" "/root/$name"
done
exec "$@"
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the user level needs the grader to run as root")
def test_user_level_runs_the_student_as_its_own_uid(tmp_path):
    """The ``user`` level, as in a container without namespaces. This machine's Python may
    live under /root (mode 0700); a private mount namespace opens /root for reading, as a
    container's world-readable Python would be."""
    script = tmp_path / "user_level.py"
    script.write_text(f"""
import json, os, sys
sys.path.insert(0, {str(ROOT)!r})
from grader.sandbox import Limits, Task, preflight, run_tasks
backend = os.environ.get("KERAS_BACKEND", "jax")
preflight(backend=backend, device="cpu", isolation="user")
cell = '''
import os
facts = [os.getuid(), os.path.exists({str(ROOT / "grader" / "references")!r}),
         os.path.exists({str(ROOT / "solutions" / "02_vanilla_rnn.ipynb")!r})]
raise RuntimeError(repr(facts))
'''
(outcome,) = run_tasks([Task("q1_5", "parameter_count", [{{"id": "q1_5", "source": cell}}], {{}})],
                       {{}}, backend=backend, device="cpu", isolation="user",
                       limits=Limits(timeout=60))
print(json.dumps(outcome.header.get("error_message")))
""")
    protected = ("grader", "tests", "solutions", ".git")
    modes = {ROOT / name: (ROOT / name).stat().st_mode for name in protected}
    try:
        run = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                              USER_LEVEL_VIEW, "view", sys.executable, str(script)],
                             capture_output=True, text=True, timeout=300)
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert run.returncode == 0, run.stderr[-3000:]
    uid, sees_references, sees_solutions = eval(json.loads(run.stdout.splitlines()[-1]))
    assert uid in jail.JAIL_UIDS
    assert not sees_references and not sees_solutions


@pytest.mark.skipif(os.geteuid() != 0, reason="taking another uid needs root")
def test_user_level_clean_up_kills_the_uid_and_removes_its_files():
    uid = jail.JAIL_UIDS[-1]
    left = Path(tempfile.gettempdir()) / f"left-behind-{os.getpid()}"
    left.write_text("x")
    os.chown(left, uid, uid)
    sleeper = subprocess.Popen(["sleep", "600"], user=uid, group=uid, extra_groups=[],
                               start_new_session=True)
    jail.kill_uid(uid)
    assert sleeper.wait(timeout=10) == -9
    assert not left.exists()
