"""A batch function that kills the worker process running it, once per marker file (tests/test_worker_faults.py).

A module of its own (not the test script) so that Ray's workers, which do not share the driver's
`__main__`, can import it by name; the test puts this folder on PYTHONPATH.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from toolkit.export import shards
from toolkit.validation import records


def _kill_once() -> None:
    """SIGKILL this process the first time any process gets here (a marker file says it happened)."""
    try:
        fd = os.open(os.environ["NEWS_TOOLKIT_TEST_KILL_MARKER"], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: the process was killed")


def stage_range_killing_once(context: Any, file_range: Any) -> Any:
    """`records.stage_range`, except that the first call anywhere SIGKILLs its own process."""
    _kill_once()
    return records.stage_range(context, file_range)


def write_shard_killing_once(job: Any, shard: Any) -> Any:
    """`shards.write_shard`, except that the first call anywhere SIGKILLs its own process, half-way:
    after the shard's files are started, so a re-run meets what the killed one left."""
    if shard.index == 1:
        folder = shard.out and os.path.join(shard.out, "articles")
        if folder:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{shard.split}-00000.parquet.partial"), "wb") as partial:
                partial.write(b"PAR1 cut short")
        _kill_once()
    return shards.write_shard(job, shard)


def stage_range_failing(context: Any, file_range: Any) -> Any:
    """`records.stage_range`, except that it fails as NEWS_TOOLKIT_TEST_FAILURE says: a `ToolkitError`
    (bad input met on the worker) or a `PermissionError` (a staging folder it cannot write)."""
    from toolkit.errors import ToolkitError

    if os.environ["NEWS_TOOLKIT_TEST_FAILURE"] == "input":
        raise ToolkitError(f"{file_range.path}: cannot read past line {file_range.first - 1}: "
                           "it changed while it was read")
    raise PermissionError(13, "Permission denied", f"{context.spool}/ann/x.parquet")
