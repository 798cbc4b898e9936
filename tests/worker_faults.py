"""A batch function that kills the worker process running it, once per marker file (tests/test_worker_faults.py).

A module of its own (not the test script) so that Ray's workers, which do not share the driver's
`__main__`, can import it by name; the test puts this folder on PYTHONPATH.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from toolkit.validation import records


def stage_range_killing_once(context: Any, file_range: Any) -> Any:
    """`records.stage_range`, except that the first call anywhere SIGKILLs its own process."""
    try:
        fd = os.open(os.environ["NEWS_TOOLKIT_TEST_KILL_MARKER"], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return records.stage_range(context, file_range)
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: the process was killed")


def stage_range_failing(context: Any, file_range: Any) -> Any:
    """`records.stage_range`, except that it fails as NEWS_TOOLKIT_TEST_FAILURE says: a `ToolkitError`
    (bad input met on the worker) or a `PermissionError` (a staging folder it cannot write)."""
    from toolkit.errors import ToolkitError

    if os.environ["NEWS_TOOLKIT_TEST_FAILURE"] == "input":
        raise ToolkitError(f"{file_range.path}: cannot read past line {file_range.first - 1}: "
                           "it changed while it was read")
    raise PermissionError(13, "Permission denied", f"{context.spool}/ann/x.parquet")
