"""Keep TensorFlow's start-up log lines out of notebooks and command lines.

On the TensorFlow backend, importing TensorFlow writes oneDNN and CUDA-probing lines to the
process's standard error from C++, before abseil's logging is initialised, so neither
``TF_CPP_MIN_LOG_LEVEL`` nor Python's logging can stop them; a notebook shows them as a red
box. The kit therefore sets the log level for later messages (such as ``failed call to cuInit``
on a machine without a GPU), and runs TensorFlow's first import, whenever something asks for it,
with file descriptor 2 pointed at a temporary file; every line that is not one of those
start-up messages is then passed on.
"""

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

# abseil's notice, and its INFO and WARNING lines ("I0000 00:00:17... port.cc:153] ...").
_START_UP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\] .*"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate "
    r"compiler flags\.)$"
)


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run with file descriptor 2 pointed at a temporary file."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        sys.stderr.flush()
        saved_stderr = os.dup(2)
        with tempfile.TemporaryFile(mode="w+b") as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self._loader.exec_module(module)
            finally:
                os.dup2(saved_stderr, 2)
                os.close(saved_stderr)
                captured.seek(0)
                lines = captured.read().decode(errors="replace").splitlines()
        kept = [line for line in lines if line.strip() and not _START_UP_NOISE.match(line)]
        if kept:
            print("\n".join(kept), file=sys.stderr)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Gives ``tensorflow``'s spec :class:`_QuietLoader`. It stays on ``sys.meta_path``: a
    spec can be looked up without an import (``importlib.util.find_spec``, as Keras and
    PyTorch's compiler do to see what is installed), and once TensorFlow is imported, Python
    finds it in ``sys.modules`` without asking any finder."""

    def __init__(self):
        self._searching = False

    def find_spec(self, name, path, target=None):
        if name != "tensorflow" or self._searching:
            return None
        self._searching = True  # the lookup below asks every finder again, this one included
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._searching = False
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow():
    """Set TensorFlow's log level, and make its first import swallow its start-up lines.

    Costs nothing until something (Keras on the TensorFlow backend, Spektral) imports
    TensorFlow, and does nothing if it is already imported.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
