"""Screenshots of a student notebook running in JupyterLab, for the student guide.

Copies a student notebook into a temporary folder, starts JupyterLab there in fast mode, opens
the notebook in headless Chromium and runs, as a student would, its first code cells, the first
graded cell as handed out (its stub unanswered) and the check below it, which therefore fails.
Each cell starts when the one before has finished and the kernel is idle. Three screenshots
(1280x800) go to the output folder:

    01_environment.png     the environment cell and what it prints
    02_first_cells.png     the imports and the first data cell with their outputs
    03_failing_check.png   the unanswered graded cell and its check's short failure message

The script stops with a one-line error and a non-zero exit status if Chromium or JupyterLab is
missing, if one of the first cells fails or writes to stderr (JupyterLab shows stderr in a red
box: the screenshots are there to show that a notebook runs clean), or if the check does not
fail with its short message.

It needs the Debian (or Ubuntu) Chromium package, the browser Playwright drives here instead of
downloading its own, and the project with the ``screenshots`` extra:

    apt-get install chromium
    pip install -e ".[jax,screenshots]"
    python scripts/screenshots.py             # writes docs/images/jupyterlab/

The kernel uses ``KERAS_BACKEND`` from the environment (``jax`` when unset). Options:
``--notebook`` (default ``notebooks/02_vanilla_rnn.ipynb``) and ``--out`` (default
``docs/images/jupyterlab``). A run takes under a minute.
"""

import argparse
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # require_tools says what to install
    sync_playwright = None

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
# Playwright adds --headless itself (headless=True below).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps contacting Google's services (updates, sync, field trials),
    # connections that a machine without internet refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
STARTUP_SECONDS = 120
CELL_SECONDS = 600
STDERR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'
# The status bar names the kernel once it is connected ("Python 3 (ipykernel) | Idle"); the
# toolbar's indicator reads idle before there is a kernel at all, so it cannot say when to start.
KERNEL_IDLE = ("#jp-main-statusbar .jp-StatusBar-TextItem",
               re.compile(r"^(?!No Kernel ).+ \| Idle$"))
# A cell's prompt reads [ ] before it runs, [*] while it waits or runs, [n] once it has finished.
FINISHED_PROMPT = re.compile(r"\[\d+\]")
# JupyterLab settings for a quiet, predictable page: no news or update prompts, and every cell
# kept in the page (by default cells far off screen are left out of it, so they cannot be found).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
# Menus and buttons that a student's `pip install jupyterlab` does not bring: the instructor's
# nbgrader and Notebook 7's "open in Notebook" button.
DISABLED_LAB_EXTENSIONS = {"@jupyter/nbgrader": True, "@jupyter-notebook/lab-extension": True}


class ScreenshotError(Exception):
    """Why the screenshots could not be taken, in one line."""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=ROOT / "notebooks/02_vanilla_rnn.ipynb",
                        help="student notebook to open (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images/jupyterlab",
                        help="folder for the PNG files (default: %(default)s)")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        written = take_screenshots(args.notebook, args.out)
    except ScreenshotError as error:
        sys.exit(f"screenshots: {error}")
    for path in written:
        print(f"{path} ({path.stat().st_size // 1024} kB)")
    print(f"done in {time.monotonic() - started:.0f} s")


def take_screenshots(notebook, out):
    """Run the notebook's first cells in JupyterLab and write the screenshots to ``out``."""
    require_tools()
    plan = CellPlan(notebook)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="course-kit-screenshots-") as scratch:
        scratch = Path(scratch)
        workdir = scratch / "work"
        workdir.mkdir()
        shutil.copy(notebook, workdir / notebook.name)
        with jupyterlab(workdir, scratch) as lab, chromium(scratch) as page:
            page.goto(f"{lab.url}/lab/tree/{notebook.name}?token={lab.token}")
            notebook_page = NotebookPage(page)
            notebook_page.wait_until_ready()
            notebook_page.close_left_sidebar()

            notebook_page.run(plan.environment)
            notebook_page.require_clean(plan.environment)
            written = [notebook_page.screenshot(out / "01_environment.png",
                                                plan.environment - 1, plan.environment)]

            for index in plan.first_cells:
                notebook_page.run(index)
                notebook_page.require_clean(index)
            written.append(notebook_page.screenshot(out / "02_first_cells.png",
                                                    plan.first_cells[0], plan.first_cells[-1]))

            notebook_page.run(plan.graded)
            notebook_page.require_clean(plan.graded)
            notebook_page.run(plan.check)
            notebook_page.require_short_failure(plan.check)
            written.append(notebook_page.screenshot(out / "03_failing_check.png",
                                                    plan.graded, plan.check))
    return written


def require_tools():
    """Stop early, with the command that installs it, if a tool is missing."""
    if not CHROMIUM.exists():
        raise ScreenshotError(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    for name, missing in (("Playwright", sync_playwright is None),
                          ("JupyterLab", importlib.util.find_spec("jupyterlab") is None)):
        if missing:
            raise ScreenshotError(f"{name} is not installed: pip install -e \".[screenshots]\"")


class CellPlan:
    """Which cells to run, as indices into the notebook's cells (Markdown cells included, as
    JupyterLab shows them): the environment cell, the code cells after it up to the first graded
    cell, that graded cell, and its check (the next code cell)."""

    def __init__(self, notebook):
        try:
            cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError) as error:
            raise ScreenshotError(f"cannot read the notebook {notebook}: {error}") from error
        code = [index for index, cell in enumerate(cells) if cell["cell_type"] == "code"]
        graded = [index for index in code if "".join(cells[index]["source"]).startswith("# graded:")]
        if not graded:
            raise ScreenshotError(f"{notebook} has no graded cell (a cell starting '# graded:')")
        self.graded = graded[0]
        before = [index for index in code if index < self.graded]
        after = [index for index in code if index > self.graded]
        if len(before) < 2 or not after:
            raise ScreenshotError(f"{notebook} needs an environment cell, at least one more code "
                                  "cell before its first graded cell and a check after it")
        self.environment, self.first_cells, self.check = before[0], before[1:], after[0]


class NotebookPage:
    """The notebook open in JupyterLab's page, driven through its own buttons and keys."""

    def __init__(self, page):
        self.page = page

    def cell(self, index):
        return self.page.locator(".jp-NotebookPanel-notebook .jp-Cell").nth(index)

    def kernel_idle(self):
        selector, text = KERNEL_IDLE
        return self.page.locator(selector, has_text=text)

    def wait_until_ready(self):
        """Wait until the notebook is shown and its kernel has started."""
        try:
            self.page.locator(".jp-NotebookPanel-notebook .jp-Cell").first.wait_for(
                timeout=STARTUP_SECONDS * 1000)
            self.kernel_idle().wait_for(timeout=STARTUP_SECONDS * 1000)
        except PlaywrightTimeout as error:
            raise ScreenshotError(f"the notebook or its kernel did not start within "
                                  f"{STARTUP_SECONDS} s") from error

    def close_left_sidebar(self):
        """Fold the file browser away, as it takes a fifth of the width from the notebook."""
        self.page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()

    def run(self, index):
        """Select cell ``index``, run it with Ctrl+Enter, and wait until it has finished and
        the kernel is idle. Ctrl+Enter, unlike Shift+Enter, leaves the cell selected, so the
        screenshots highlight the cell that ran rather than the next one."""
        cell = self.cell(index)
        cell.locator(".jp-InputArea-prompt").click()
        self.page.keyboard.press("Control+Enter")
        try:
            cell.locator(".jp-InputArea-prompt", has_text=FINISHED_PROMPT).wait_for(
                timeout=CELL_SECONDS * 1000)
            self.kernel_idle().wait_for(timeout=CELL_SECONDS * 1000)
        except PlaywrightTimeout as error:
            raise ScreenshotError(f"{self.describe(index)} did not finish within "
                                  f"{CELL_SECONDS} s") from error

    def stderr_text(self, index):
        """What cell ``index`` shows in red boxes (stderr and errors), or ``""``."""
        return "\n".join(self.cell(index).locator(STDERR).all_inner_texts()).strip()

    def require_clean(self, index):
        """Stop if cell ``index`` failed or wrote to stderr."""
        shown = self.stderr_text(index)
        if shown:
            first_line = shown.splitlines()[0]
            raise ScreenshotError(f"{self.describe(index)} shows stderr or an error: {first_line}")

    def require_short_failure(self, index):
        """Stop unless cell ``index`` (a check) failed with the checks' short message rather
        than a traceback."""
        shown = self.stderr_text(index)
        if not shown.startswith("FAIL"):
            raise ScreenshotError(f"{self.describe(index)} should fail with a short FAIL message, "
                                  f"shows: {shown.splitlines()[0] if shown else 'no error'}")
        if "Traceback" in shown or "---------" in shown:
            raise ScreenshotError(f"{self.describe(index)} shows a traceback, not the short "
                                  "FAIL message")

    def describe(self, index):
        """``cell 3 (from course_kit...)``: a cell's place in the notebook and its first line."""
        source = self.cell(index).locator(".jp-InputArea-editor").inner_text()
        first_line = source.strip().splitlines()[0] if source.strip() else ""
        return f"cell {index + 1} ({first_line})"

    def screenshot(self, path, first, last):
        """Scroll cells ``first`` to ``last`` into view, the end of ``last`` first when they do
        not all fit, and save the page as ``path``."""
        self.cell(first).evaluate("cell => cell.scrollIntoView({block: 'start'})")
        self.cell(last).evaluate("cell => cell.scrollIntoView({block: 'nearest'})")
        # The hover highlight and a blinking cursor would make each run's pictures differ.
        self.page.mouse.move(VIEWPORT["width"] - 1, VIEWPORT["height"] - 1)
        self.page.screenshot(path=path, animations="disabled", caret="hide")
        return path


@dataclass
class Lab:
    """A running JupyterLab: its address and the token that opens it."""

    url: str
    token: str


@contextmanager
def jupyterlab(workdir, scratch):
    """Run JupyterLab on a free local port, serving ``workdir``, with its settings, runtime files
    and IPython profile in ``scratch`` (the user's own do not change what the pictures show);
    yield its :class:`Lab`."""
    token = secrets.token_hex(16)
    port = free_port()
    for name, settings in LAB_SETTINGS.items():
        settings_file = scratch / "lab-settings" / name
        settings_file.parent.mkdir(parents=True, exist_ok=True)
        settings_file.write_text(json.dumps(settings), encoding="utf-8")
    page_config = scratch / "jupyter-config" / "labconfig" / "page_config.json"
    page_config.parent.mkdir(parents=True)
    page_config.write_text(json.dumps({"disabledExtensions": DISABLED_LAB_EXTENSIONS}),
                           encoding="utf-8")
    env = dict(
        os.environ,
        KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"),
        COURSE_KIT_FAST="1",
        JUPYTER_CONFIG_DIR=str(scratch / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(scratch / "jupyter-runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(scratch / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(scratch / "lab-workspaces"),
        IPYTHONDIR=str(scratch / "ipython"),
    )
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        f"--ServerApp.token={token}", "--ServerApp.ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--ServerApp.root_dir={workdir}",
        # Containers and CI runners often run as root, which Jupyter refuses without this.
        "--allow-root",
    ]
    log_path = scratch / "jupyterlab.log"
    with open(log_path, "w", encoding="utf-8") as log:
        server = subprocess.Popen(command, cwd=workdir, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        lab = Lab(f"http://127.0.0.1:{port}", token)
        wait_for_server(server, lab, log_path)
        yield lab
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(server, lab, log_path):
    """Wait until JupyterLab answers its status request; stop if it exits or takes too long."""
    deadline = time.monotonic() + STARTUP_SECONDS
    request = urllib.request.Request(f"{lab.url}/api/status",
                                     headers={"Authorization": f"token {lab.token}"})
    while time.monotonic() < deadline:
        if server.poll() is not None:
            lines = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise ScreenshotError(f"JupyterLab exited with status {server.returncode}: "
                                  f"{lines[-1] if lines else 'no output'}")
        try:
            with urllib.request.urlopen(request, timeout=5):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise ScreenshotError(f"JupyterLab did not answer within {STARTUP_SECONDS} s")


@contextmanager
def chromium(scratch):
    """Yield a page of headless Chromium, with a fresh profile in ``scratch``; a browser error
    becomes a :class:`ScreenshotError`."""
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch_persistent_context(
                user_data_dir=scratch / "chromium-profile", executable_path=CHROMIUM,
                headless=True, args=CHROMIUM_FLAGS, viewport=VIEWPORT, device_scale_factor=1)
        except PlaywrightError as error:
            raise ScreenshotError(f"Chromium did not start: {error.message.splitlines()[0]}") \
                from error
        try:
            yield browser.pages[0] if browser.pages else browser.new_page()
        except PlaywrightError as error:
            raise ScreenshotError(f"the browser failed: {error.message.splitlines()[0]}") \
                from error
        finally:
            browser.close()


if __name__ == "__main__":
    main()
