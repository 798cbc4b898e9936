"""Atomic builds: write into a temporary folder beside the target, then swap it into place.

An export that fails or is interrupted leaves the previous build untouched: the new build only
becomes visible by renames once it is complete.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from toolkit.errors import ToolkitError


@contextmanager
def staging_directory(target: Path) -> Iterator[Path]:
    """Yield an empty folder beside `target`; it is removed on exit unless `publish` moved it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, target: Path) -> None:
    """Replace `target` (if any) by the complete folder `staging`, by renames."""
    if target.exists() and not target.is_dir():
        raise ToolkitError(f"{target}: exists and is not a folder; remove it or choose another --out")
    previous = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, previous)
    os.replace(staging, target)
    shutil.rmtree(previous, ignore_errors=True)


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder that replaces `target` when the block succeeds."""
    with staging_directory(target) as staging:
        yield staging
        publish(staging, target)
