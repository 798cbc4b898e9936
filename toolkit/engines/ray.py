"""The Ray engine (`--engine ray`, extra `news-toolkit[ray]`): the same per-batch functions as a Ray Data pipeline.

Batches are fed to Ray Data in windows (`from_items` → `map_batches`), so the driver's memory stays
bounded however large the corpus; the results are put back in batch order (each carries its index)
before the driver sees them. The driver keeps the sequential parts — cross-record checks and the
Parquet writer — which is what makes a Ray build byte-identical to a local one.

Ray is started here with `ray.init()` (a local Ray on this machine) unless `--ray-address` or
`RAY_ADDRESS` names a cluster. On a cluster every node needs news-toolkit installed (or a
`runtime_env` that installs it): the workers import `toolkit` to run the batch functions.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

from toolkit.engines import EngineOptions
from toolkit.errors import ToolkitError

# Each window is one Ray Data execution (~0.3 s of set-up); the driver holds a window's batches (at
# most 1 MiB of input each), hence the cap. 4, 8 and 16 per CPU timed the same on one 2-core machine
# (12.7-15.1 s for 20k articles): there Ray's fixed costs dominate; on a cluster larger windows keep
# more workers busy.
BATCHES_PER_WINDOW_PER_CPU = 8
MAX_WINDOW = 256


def _run(table: Any) -> Any:
    """Ray Data UDF: unpickle (index, fn, context, batch) rows, run them, pickle the results."""
    import pyarrow as pa

    indexes, results = [], []
    for index, task in zip(table.column("index").to_pylist(), table.column("task").to_pylist(), strict=True):
        fn, context, batch = pickle.loads(task)
        indexes.append(index)
        results.append(pickle.dumps(fn(context, batch), protocol=pickle.HIGHEST_PROTOCOL))
    return pa.table({"index": pa.array(indexes, pa.int64()), "result": pa.array(results, pa.large_binary())})


class RayData:
    shares_files = False  # workers may be on other nodes, without the driver's temporary folder

    def __init__(self, window: int) -> None:
        self._window = window

    def map(self, fn: Callable[[Any, Any], Any], context: Any, batches: Iterable[Any]) -> Iterator[Any]:
        import ray.data

        iterator = iter(batches)
        index = 0
        while True:
            window = list(islice(iterator, self._window))
            if not window:
                return
            items = [
                {"index": index + i, "task": pickle.dumps((fn, context, b), protocol=pickle.HIGHEST_PROTOCOL)}
                for i, b in enumerate(window)
            ]
            index += len(window)
            del window
            dataset = ray.data.from_items(items, override_num_blocks=len(items))
            done = dataset.map_batches(_run, batch_size=1, batch_format="pyarrow", zero_copy_batch=True)
            results = sorted((row["index"], row["result"]) for row in done.iter_rows())
            if len(results) != len(items):
                raise ToolkitError(f"Ray returned {len(results)} results for {len(items)} batches")
            for _, result in results:
                yield pickle.loads(result)


@contextmanager
def open(options: EngineOptions) -> Iterator[RayData]:
    try:
        import ray
        import ray.data
    except ImportError:
        raise ToolkitError("the Ray engine needs Ray: pip install 'news-toolkit[ray]'") from None
    # Ray Data logs every execution plan at INFO on stderr; the toolkit's own output is the report.
    logging.getLogger("ray").setLevel(logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    address = options.ray_address or os.environ.get("RAY_ADDRESS")
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        if address:
            kwargs["address"] = address
        elif options.workers:
            kwargs["num_cpus"] = options.workers
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ToolkitError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}") from None
        started = True
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = True
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    try:
        yield RayData(window=min(MAX_WINDOW, cpus * BATCHES_PER_WINDOW_PER_CPU))
    finally:
        if started:
            ray.shutdown()
