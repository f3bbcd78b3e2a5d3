"""Notebook runs (``pytest --nbval-lax solutions/``) fail on any output to standard error.

A student sees a cell's stderr as a red box: a warning, a log line or a progress bar that fell
back to text. nbgrader also scores a check cell with stderr output as failed. So a solution
notebook that writes to stderr anywhere, on any backend, fails its run here.
"""

import pytest


def _stderr_of(cell_item):
    return "".join(
        output.get("text", "")
        for output in getattr(cell_item, "test_outputs", None) or ()
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    stderr = _stderr_of(item)
    if stderr:
        pytest.fail(f"the cell wrote to standard error:\n{stderr.rstrip()}", pytrace=False)
    return result
