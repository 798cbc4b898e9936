"""Engines: where the per-batch functions run — this process, a pool of local processes, or Ray Data.

Validation and export are written as a sequential driver (reading, cross-record checks, writing)
around stateless per-batch functions (`fn(context, batch) -> result`). An engine's only job is
`map`: run `fn` over the batches and give the results back **in the order of the batches**. So
whatever runs them, the driver sees the same results in the same order, and builds are
byte-identical across engines and worker counts.

An engine is one module whose `open(...)` context manager yields an object with that `map`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from toolkit.errors import ToolkitError

EngineName = Literal["local", "ray"]
SMALL_INPUT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class EngineOptions:
    """How to run: `engine` 'local' (processes on this machine) or 'ray'; `workers` 0 means every core."""

    engine: EngineName = "local"
    workers: int = 0
    ray_address: str | None = None
    # Ray nodes elsewhere see the inputs and the staging folder (--temp-dir) at the same paths (a
    # shared filesystem): they then read byte ranges and write staged rows themselves, as local ones do.
    shared_storage: bool = False

    def worker_count(self, input_bytes: int | None = None) -> int:
        """Workers to start; with `workers=0`, one per core, or none for inputs too small to share out."""
        if self.workers < 0:
            raise ToolkitError(f"--workers must be 0 (every core) or more, not {self.workers}")
        if self.workers:
            return self.workers
        if input_bytes is not None and input_bytes < SMALL_INPUT_BYTES:
            return 1  # starting processes costs more than the whole job
        return available_cores()


class Engine(Protocol):
    # Whether the batch functions run where the driver's files are (this machine): they may then
    # write their results to the driver's staging folder instead of sending them back.
    shares_files: bool
    # Whether the batch functions can open the input files by their paths (this machine, or a
    # cluster whose nodes see the same files): the driver then hands out byte ranges, not lines.
    reads_inputs: bool
    # How many machines the batch functions run on: work cut into partitions for them (the
    # cross-record checks) is cut only when there are several.
    nodes: int

    def map(self, fn: Callable[[Any, Any], Any], context: Any, batches: Iterable[Any],
            in_flight: int | None = None) -> Iterator[Any]:
        """`fn(context, batch)` for every batch, results in batch order; at most a few batches in flight
        (at most `in_flight` when given: big batches, such as a shard's records, bound the driver's memory)."""
        ...


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity where the OS has one (taskset, cpusets), else all."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class InProcess:
    """Runs every batch here, one after the other: the reference the other engines must equal."""

    shares_files = True
    reads_inputs = True
    nodes = 1

    def map(self, fn: Callable[[Any, Any], Any], context: Any, batches: Iterable[Any],
            in_flight: int | None = None) -> Iterator[Any]:
        for batch in batches:  # one at a time: never more than `in_flight`
            yield fn(context, batch)


def open_engine(options: EngineOptions | None = None, input_bytes: int | None = None) -> AbstractContextManager[Engine]:
    """The engine `options` ask for, as a context manager that releases its workers on exit.

    `input_bytes` (the size of the input) lets the default local engine skip starting processes
    for small inputs.

    Raises `ToolkitError` (exit 2) for an unknown engine, a bad worker count, or Ray asked for but
    not installed.
    """
    from contextlib import nullcontext

    from toolkit.engines import local, ray

    options = options or EngineOptions()
    if options.engine not in ("local", "ray"):
        raise ToolkitError(f"unknown engine '{options.engine}' (choose local or ray)")
    if options.engine == "local":
        workers = options.worker_count(input_bytes)
        return nullcontext(InProcess()) if workers == 1 else local.open(workers)
    return ray.open(options)
