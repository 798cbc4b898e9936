"""The local engine: a pool of worker processes on this machine, results consumed in batch order.

Workers are forked where the OS allows it (Linux): `spawn` re-imports the caller's main module in
every worker, which breaks any user script that calls `toolkit.validate()` without an
`if __name__ == "__main__":` guard, and notebooks and `python -` scripts outright. The workers
only run the pure batch functions: they never touch the driver's DuckDB connection (they only
write new files into the staging folder) nor its progress-bar thread's objects, which is what
makes forking safe here. Elsewhere (macOS, Windows) `spawn` is the only safe choice. A bounded window of batches is
in flight at a time, so memory does not grow with the input however fast the driver reads it.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from toolkit.errors import ToolkitError

IN_FLIGHT_PER_WORKER = 2


class ProcessPool:
    shares_files = True  # the workers are processes of this machine
    reads_inputs = True
    nodes = 1

    def __init__(self, pool: ProcessPoolExecutor, workers: int) -> None:
        self._pool = pool
        self._window = workers * IN_FLIGHT_PER_WORKER

    def map(self, fn: Callable[[Any, Any], Any], context: Any, batches: Iterable[Any],
            in_flight: int | None = None) -> Iterator[Any]:
        window = min(self._window, in_flight) if in_flight else self._window
        pending: deque[Future[Any]] = deque()
        try:
            for batch in batches:
                pending.append(self._pool.submit(fn, context, batch))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool as exc:
            raise ToolkitError(f"a worker process died ({exc}); try again with --workers 1 to see why") from None
        finally:
            for future in pending:
                future.cancel()


def _leave_ctrl_c_to_driver() -> None:
    # Ctrl-C reaches the whole process group: the driver stops the run and says so in one line;
    # workers that also raised would each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def open(workers: int) -> Iterator[ProcessPool]:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() and sys.platform == "linux" else "spawn"
    context = multiprocessing.get_context(method)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_leave_ctrl_c_to_driver)
    try:
        yield ProcessPool(pool, workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
