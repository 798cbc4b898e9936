"""The Ray engine (`--engine ray`, extra `news-toolkit[ray]`): the same per-batch functions as a Ray Data pipeline.

Batches are fed to Ray Data in windows (`from_items` → `map_batches`), so the driver's memory stays
bounded however large the corpus; the results are put back in batch order (each carries its index)
before the driver sees them. When every node runs on this machine, or `--shared-storage` says the
nodes see the inputs and the staging folder at the same paths, workers read their byte ranges of
the inputs and write their staged rows themselves (the driver receives only counts); otherwise the
driver sends lines and receives rows. The driver keeps the sequential parts — cross-record checks
and the numbering of the shards the workers write — which is what makes a Ray build byte-identical
to a local one.

Ray is started here with `ray.init()` (a local Ray on this machine) unless `--ray-address` or
`RAY_ADDRESS` names a cluster. On a cluster every node needs news-toolkit installed (or a
`runtime_env` that installs it): the workers import `toolkit` to run the batch functions.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, NamedTuple

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
    import ray

    indexes, results = [], []
    for index, task in zip(table.column("index").to_pylist(), table.column("task").to_pylist(), strict=True):
        fn, context, batch = pickle.loads(task)
        indexes.append(index)
        try:
            result = fn(context, batch)
        except ToolkitError as exc:
            result = _Failed(exc.message, exc.exit_code, None)
        except OSError as exc:
            result = _Failed("", 0, exc)
        results.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    node = ray.get_runtime_context().get_node_id()
    return pa.table({"index": pa.array(indexes, pa.int64()), "result": pa.array(results, pa.large_binary()),
                     "node": pa.array([node] * len(indexes), pa.string())})


class _Failed(NamedTuple):
    """What a batch function raised that a user can act on — bad input (`ToolkitError`) or a folder it
    cannot write (`OSError`) — handed back as the batch's result. Raised in a worker, Ray Data would
    wrap it and drop the original (`UserCodeException`), and the driver would call it a bug."""

    message: str
    exit_code: int
    os_error: OSError | None

    def error(self) -> Exception:
        return self.os_error if self.os_error is not None else ToolkitError(self.message, self.exit_code)


class RayData:
    def __init__(self, window: int, local: bool, nodes: int = 1) -> None:
        self._window = window
        self.nodes = nodes
        # Nodes all on this machine: workers open the inputs by path and write staged rows into
        # the driver's staging folder, so no record passes through the driver. Nodes elsewhere
        # may not see those folders: the driver sends the lines and receives the rows.
        self.reads_inputs = local
        self.shares_files = local
        self.received_bytes = 0  # what the workers' results weighed, pickled (the driver's intake)
        self.batches_by_node: Counter[str] = Counter()  # where the work ran (the benchmark's per-node share)

    def map(self, fn: Callable[[Any, Any], Any], context: Any, batches: Iterable[Any],
            in_flight: int | None = None) -> Iterator[Any]:
        import ray.data

        iterator = iter(batches)
        size = min(self._window, in_flight) if in_flight else self._window
        index = 0
        while True:
            window = list(islice(iterator, size))
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
            rows = list(done.iter_rows())
            self.batches_by_node.update(row["node"] for row in rows)
            results = sorted((row["index"], row["result"]) for row in rows)
            if len(results) != len(items):
                raise ToolkitError(f"Ray returned {len(results)} results for {len(items)} batches")
            for _, result in results:
                self.received_bytes += len(result)
                value = pickle.loads(result)
                if isinstance(value, _Failed):  # at its batch's place in the order, as the local engines raise it
                    raise value.error()
                yield value


def _on_this_machine() -> bool:
    """Whether every node of the Ray cluster runs on this machine (a local Ray, or several raylets
    started here as `ray.cluster_utils.Cluster` does): then they all see this machine's files."""
    import ray

    here = ray.util.get_node_ip_address()
    return all(node["NodeManagerAddress"] == here for node in ray.nodes() if node.get("Alive"))


@contextmanager
def open(options: EngineOptions) -> Iterator[RayData]:
    try:
        import ray
        import ray.data
    except ImportError:
        raise ToolkitError("the Ray engine needs Ray: pip install 'news-toolkit[ray]'") from None
    # Ray Data logs every execution plan at INFO on stderr; the toolkit's own output is the report.
    logging.getLogger("ray").setLevel(logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # its failures reach the user as our one line
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
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        yield RayData(window=min(MAX_WINDOW, cpus * BATCHES_PER_WINDOW_PER_CPU),
                      local=options.shared_storage or _on_this_machine(), nodes=max(1, nodes))
    finally:
        if started:
            ray.shutdown()
