"""Publishing outputs without losing data: build folders, dataset folders, single files, scratch folders.

The contract every writer of the toolkit relies on:

- **Nothing we did not make is deleted.** A folder is replaced only when it is absent, empty, or
  carries the build marker `.news-toolkit-build` (JSON `{tool, version, kind}`), which is written
  into every folder the toolkit publishes; never when it is, holds or sits inside an input. A file
  is replaced only when it is a regular file (a device node, FIFO, folder or `/dev/stdout` is
  refused). Every refusal and every `OSError` is a `ToolkitError` (exit 2) naming the path.
- **One writer per target.** A run holds an `flock` on `.<name>.lock` beside the target for as long
  as it writes there; a second run stops at once with "another news-toolkit run is writing …".
  Being the lock holder also proves that every `.<name>.tmp-*` / `.<name>.old-*` beside the target
  was left by a run that died (an flock dies with its process, so PID reuse cannot fake an owner).
- **The swap is recoverable at every instant.** The build is staged in `.<name>.tmp-<pid>-<rand>`;
  then the old target is renamed to `.<name>.old-<pid>-<rand>`, the staging folder to the target,
  and only then is the old build removed. A run killed between the two renames leaves the target
  missing and the old build aside; the next run restores it before doing anything else.
- **Scratch folders** (`owned_directory`, e.g. the staging database in TMPDIR) hold an flock while in
  use, so the next run can tell a killed run's leftovers from a live run's folder and remove them.

Without `fcntl` (Windows) locks are not taken: concurrent runs are not detected, and leftovers are
judged by their creator's PID and age only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

from toolkit.errors import ToolkitError
from toolkit.readers import file_kind

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MARKER = ".news-toolkit-build"
LOCK_NAME = ".lock"
# A leftover whose lock is free may still be a folder whose creator has not taken its lock yet
# (mkdir and flock are two steps); it is abandoned once its creator is gone or it is this old.
STALE_AFTER_SECONDS = 60.0
_SPECIAL_ROOTS = ("/proc/",)  # the rest (/dev/stdout, /dev/null, a FIFO) is told by what stat says it is


def _run_suffix() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextmanager
def _errors_name(path: Path, doing: str) -> Iterator[None]:
    """Turn an OSError (disk full, permission, read-only) into a ToolkitError naming the path."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or path
        raise ToolkitError(f"cannot {doing} {where}: {_reason(exc)}") from exc


# --- the build marker ---------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """The file's sha256, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_marker(folder: Path, kind: str, name: str) -> Path:
    """Write the marker saying `folder` is a `kind` output of news-toolkit for dataset `name`; return its path.

    Its content depends only on the toolkit version, `kind` and `name`, so rebuilds stay byte-identical.
    """
    from toolkit import __version__

    path = folder / MARKER
    body = {"tool": "news-toolkit", "version": __version__, "kind": kind, "name": name}
    with _errors_name(path, "write"):
        path.write_text(json.dumps(body, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of `folder` ({tool, version, kind, name}), or None when it has none."""
    try:
        body = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and body.get("tool") == "news-toolkit" else None


def is_build(folder: Path) -> bool:
    """True when `folder` carries a news-toolkit marker (any version, any kind), or is an older export build."""
    return read_marker(folder) is not None or _unmarked_build(folder)


EXPORT_KINDS = ("hf", "parquet", "jsonl")
# What an export wrote before builds carried the marker: these files and nothing else.
_OLD_BUILD_FILE = re.compile(
    r"(README\.md|croissant\.json|SHA256SUMS|data/[A-Za-z0-9_.-]+/\w+(\.\w+)*-\d{5}-of-\d{5}\.(parquet|jsonl(\.gz|\.zst)?))")


def _unmarked_build(folder: Path) -> bool:
    """An export build from before the marker: SHA256SUMS lists exactly its files, and they are an export's.

    Only the export layout counts (data shards under `data/<config>/`, the card, Croissant): a folder
    a person made does not hold exactly that, so it is never taken for a build and deleted.
    """
    try:
        lines = (folder / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
        listed = {line.split("  ", 1)[1] for line in lines if "  " in line}
        held = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir() or p.is_symlink()}
    except (OSError, ValueError, IndexError):
        return False
    return (bool(listed) and len(listed) == len(lines) and held == listed | {"SHA256SUMS"}
            and all(_OLD_BUILD_FILE.fullmatch(name) for name in held) and any(n.startswith("data/") for n in held))


# --- locks --------------------------------------------------------------------------------------


def _try_lock(fd: int) -> bool:
    """Take an exclusive flock on `fd` without waiting; False when another process holds it."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder_pid(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip() or "unknown"
    except (OSError, UnicodeDecodeError):
        return "unknown"


@contextmanager
def _target_lock(lock: Path, target: Path) -> Iterator[None]:
    """Hold `lock` (created if need be) exclusively; removed again on release."""
    while True:
        with _errors_name(lock, "create"):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            raise ToolkitError(
                f"another news-toolkit run is writing {target} (pid {_holder_pid(lock)}); "
                "wait for it to finish or choose another --out"
            )
        # A releasing holder unlinks the file before it unlocks: a lock won on that unlinked inode
        # excludes nobody, so only a lock on the file the path names now counts.
        try:
            mine = os.stat(lock)
            same = (mine.st_ino, mine.st_dev) == (os.fstat(fd).st_ino, os.fstat(fd).st_dev)
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        with _errors_name(lock, "write"):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        with suppress(OSError):
            lock.unlink()
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists and belongs to someone else
        return True
    return True


@contextmanager
def _claim_if_abandoned(leftover: Path, lock: Path, pid: int) -> Iterator[bool]:
    """Yield True, holding `lock`, when the run that made `leftover` is gone; else False."""
    fd: int | None
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        fd = None
    except OSError:
        yield False
        return
    try:
        if fd is not None and not _try_lock(fd):
            yield False
            return
        try:
            age = time.time() - leftover.lstat().st_mtime
        except OSError:
            yield False
            return
        yield not _pid_alive(pid) or age > STALE_AFTER_SECONDS
    finally:
        if fd is not None:
            os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(OSError):
            path.unlink()


# --- folders replaced by renames ----------------------------------------------------------------


def _leftover_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(name)}\.(tmp|old)-(\d+)-[0-9a-f]+")


def _recover(target: Path) -> None:
    """Undo what killed runs left beside `target`; only call while holding its lock.

    A missing target with an `.old-*` aside means a run died between its two renames: the old
    build goes back. Every other `.tmp-*`/`.old-*` is a dead run's staging or old build.
    """
    pattern = _leftover_pattern(target.name)
    with _errors_name(target.parent, "read"):
        found = {p: pattern.fullmatch(p.name) for p in target.parent.iterdir()}
    leftovers = [p for p, match in found.items() if match]
    old = [p for p, match in found.items() if match and match.group(1) == "old"]
    if old and not target.exists() and not target.is_symlink():
        newest = max(old, key=lambda p: p.lstat().st_ctime)  # a rename sets ctime: the last one aside
        with _errors_name(newest, "restore"):
            os.replace(newest, target)
        leftovers.remove(newest)
    for path in leftovers:
        _remove(path)


def _refuse_overlap(target: Path, inputs: Sequence[Path]) -> None:
    where = target.resolve()
    for given in inputs:
        source = Path(given).resolve()
        if where == source or source.is_relative_to(where) or where.is_relative_to(source):
            raise ToolkitError(
                f"{target}: is, contains or is inside the input {given}; choose an --out outside the dataset"
            )


def check_replaceable(target: Path, inputs: Sequence[Path] = (), *, kind: str | None = None,
                      name: str | None = None) -> None:
    """Raise `ToolkitError` unless publishing a `kind` output of dataset `name` may replace `target`.

    Allowed: absent, an empty folder, or a folder whose marker says it is the same kind of output of
    the same dataset (an export build from before the marker counts for export kinds); and never
    one that is, holds or sits inside one of `inputs`.
    """
    _refuse_overlap(target, inputs)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ToolkitError(f"{target}: exists and is not a folder; remove it or choose another --out")
    if not target.exists():
        return
    marker = read_marker(target)
    if marker is not None:
        same_kind = kind is None or marker.get("kind") == kind
        same_name = name is None or marker.get("name") in (None, name)
        if same_kind and same_name:
            return
        raise ToolkitError(
            f"{target}: holds another news-toolkit output ({marker.get('kind')} of "
            f"'{marker.get('name', '?')}'), not a {kind} output of '{name}'; remove it or choose another --out")
    if (kind is None or kind in EXPORT_KINDS) and _unmarked_build(target):
        return
    with _errors_name(target, "read"):
        empty = next(target.iterdir(), None) is None
    if not empty:
        raise ToolkitError(
            f"{target}: exists and was not written by news-toolkit (no {MARKER} in it); "
            "remove it or choose another --out"
        )


@contextmanager
def held_target(target: Path, *, inputs: Sequence[Path] = (), kind: str | None = None,
                name: str | None = None) -> Iterator[Path]:
    """Hold `target` for this run; yield it. Take this before staging anything for it.

    Checks it does not overlap `inputs`, creates its parent, takes `.<name>.lock` beside it (or
    raises `ToolkitError` naming the pid of the run that holds it), restores and removes what
    killed runs left, and checks the target may be replaced (`check_replaceable`).
    """
    target = Path(target)
    _refuse_overlap(target, inputs)  # before anything is touched, not even the lock file
    with _errors_name(target.parent, "create"):
        target.parent.mkdir(parents=True, exist_ok=True)
    with _target_lock(target.parent / f".{target.name}.lock", target):
        _recover(target)
        check_replaceable(target, inputs, kind=kind, name=name)
        yield target


@contextmanager
def staging_directory(target: Path) -> Iterator[Path]:
    """Yield an empty `.<name>.tmp-<pid>-<rand>` beside `target`; removed on exit unless published.

    Call inside `held_target(target)`: the lock is what lets the next run remove it if this one is killed.
    """
    staging = target.parent / f".{target.name}.tmp-{_run_suffix()}"
    with _errors_name(staging, "create"):
        staging.mkdir()
    try:
        yield staging
    except OSError as exc:
        where = _public_path(exc, staging, target)
        if where is None:
            raise  # about another file (an input, TMPDIR): its own name says more
        # Name the build the user asked for, not the staging folder that is about to vanish.
        raise ToolkitError(f"cannot write {where}: {_reason(exc)}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _public_path(exc: OSError, staging: Path, target: Path) -> Path | None:
    """Where an error while staging happened, as the user will see it; None when it is outside staging.

    Errors without a file name (a write that hit a full disk, pyarrow's) are counted as the build's.
    """
    if exc.filename is None:
        return target
    try:
        return target / Path(os.fsdecode(exc.filename)).relative_to(staging)
    except (TypeError, ValueError):
        return None


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Block SIGINT in the block (main thread, POSIX); a Ctrl-C pressed meanwhile arrives right after."""
    can = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    if not can:
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _fsync_dir(folder: Path) -> None:
    with suppress(OSError):  # not every file system lets a folder be opened for fsync
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish(staging: Path, target: Path, *, kind: str, name: str) -> None:
    """Swap the complete folder `staging` into `target`; call inside `held_target(target)`.

    Writes the marker into `staging` unless it is there already. The old target (checked again
    here: it must still be replaceable) stays aside as `.<name>.old-*` until the new one is in place.
    Ctrl-C is held back during the two renames (and delivered after them): an interrupted run
    leaves the old output or the new one, never neither.
    """
    check_replaceable(target, kind=kind, name=name)
    if not (staging / MARKER).exists():
        write_marker(staging, kind, name)
    previous = target.parent / f".{target.name}.old-{_run_suffix()}"
    with _errors_name(target, "publish"), _sigint_held():
        had_previous = target.exists()
        if had_previous:
            os.replace(target, previous)
        try:
            os.replace(staging, target)
        except BaseException:
            if had_previous and not target.exists():
                os.replace(previous, target)
            raise
        # The new build must be durable before the only other complete copy goes.
        _fsync_dir(target.parent)
    if had_previous:
        shutil.rmtree(previous, ignore_errors=True)


def remove_output(target: Path, *, kind: str, name: str) -> None:
    """Remove an output this toolkit wrote (`check_replaceable` says so); call inside `held_target(target)`."""
    check_replaceable(target, kind=kind, name=name)
    aside = target.parent / f".{target.name}.old-{_run_suffix()}"
    with _errors_name(target, "remove"):
        os.replace(target, aside)  # one rename: the next run sweeps it if this one dies while deleting
    shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def atomic_directory(target: Path, *, kind: str, name: str, inputs: Sequence[Path] = ()) -> Iterator[Path]:
    """Yield an empty staging folder that replaces `target` (with the marker) when the block succeeds.

    `held_target` + `staging_directory` + `publish` in one: a failure or an interrupt anywhere
    leaves `target` as it was. Raises `ToolkitError` naming the path for every refusal or OSError.
    """
    with held_target(target, inputs=inputs, kind=kind, name=name), staging_directory(target) as staging:
        yield staging
        publish(staging, target, kind=kind, name=name)


# --- scratch folders ----------------------------------------------------------------------------


def _sweep_owned(parent: Path, prefix: str) -> None:
    pattern = re.compile(rf"{re.escape(prefix)}(\d+)-[0-9a-f]+")
    try:
        siblings = list(parent.iterdir())
    except OSError:
        return  # the mkdir that follows names the problem
    for sibling in siblings:
        match = pattern.fullmatch(sibling.name)
        if match is None or not sibling.is_dir() or sibling.is_symlink():
            continue
        with _claim_if_abandoned(sibling, sibling / LOCK_NAME, int(match.group(1))) as abandoned:
            if abandoned:
                shutil.rmtree(sibling, ignore_errors=True)


@contextmanager
def owned_directory(parent: Path, prefix: str) -> Iterator[Path]:
    """A fresh folder `<parent>/<prefix><pid>-<random>` that only this run uses; removed on every exit.

    While in use it holds an flock on `<folder>/.lock`. Before creating it, siblings named
    `<prefix><pid>-<hex>` whose lock is free (and whose creator has exited or that are more than a
    minute old) are removed: they are what a killed run left. `parent` is not created: a missing
    or unwritable `parent` is a `ToolkitError` naming the folder. Use a prefix no one else uses
    (e.g. `news-toolkit-store-`).
    """
    parent = Path(parent)
    _sweep_owned(parent, prefix)
    folder = parent / f"{prefix}{_run_suffix()}"
    with _errors_name(folder, "create"):
        folder.mkdir()
    try:
        with _errors_name(folder / LOCK_NAME, "create"):
            fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _try_lock(fd)  # a fresh inode: nobody else can hold it
            yield folder
        finally:
            os.close(fd)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- single files -------------------------------------------------------------------------------


def refuse_input(target: Path, inputs: Sequence[Path]) -> None:
    """`ToolkitError` when the file `target` is one of `inputs` (or a file inside an input folder is it)."""
    if not target.exists():
        return
    for given in inputs:
        with suppress(OSError):
            if os.path.samefile(target, given):
                raise ToolkitError(f"{target}: is an input of this run ({given}); writing it would lose it — "
                                   "choose another output path")


def _refuse_unless_regular(target: Path) -> None:
    where = os.path.abspath(target)
    if where.startswith(_SPECIAL_ROOTS):
        raise ToolkitError(f"{target}: is a device or process file, not a regular file; give a file path for --out")
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ToolkitError(f"cannot write {target}: {_reason(exc)}") from exc
    if not stat.S_ISREG(mode):
        raise ToolkitError(f"{target}: exists and is a {file_kind(mode)}, not a regular file; it was left as is")


def _sweep_temp_files(final: Path) -> None:
    pattern = re.compile(rf"\.{re.escape(final.name)}\.tmp-(\d+)-[0-9a-f]+")
    try:
        siblings = list(final.parent.iterdir())
    except OSError:
        return
    for sibling in siblings:
        match = pattern.fullmatch(sibling.name)
        if match is None or not sibling.is_file() or sibling.is_symlink():
            continue
        with _claim_if_abandoned(sibling, sibling, int(match.group(1))) as abandoned:
            if abandoned:
                with suppress(OSError):
                    sibling.unlink()


@contextmanager
def atomic_file(target: Path, inputs: Sequence[Path] = ()) -> Iterator[BinaryIO]:
    """Yield a binary file whose content becomes `target` when the block succeeds, whole or not at all.

    Written as `.<name>.tmp-<pid>-<rand>` beside the target (flock'ed, so the next run removes it
    if this one is killed), fsynced, then renamed over it. A symbolic link to a regular file
    stays a link; the file it names is replaced. Raises `ToolkitError` naming `target` when it
    exists and is not a regular file (device node, FIFO, folder, `/dev/stdout`) or on any OSError
    (disk full...), or when it is one of the `inputs` of the run (writing it would lose that input);
    the temporary file is removed on every failure.
    """
    target = Path(target)
    _refuse_unless_regular(target)
    refuse_input(target, inputs)
    final = target.resolve() if target.is_symlink() else target
    with _errors_name(final.parent, "create"):
        final.parent.mkdir(parents=True, exist_ok=True)
    _sweep_temp_files(final)
    tmp = final.parent / f".{final.name}.tmp-{_run_suffix()}"
    try:
        with open(tmp, "xb") as f:
            _try_lock(f.fileno())
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except OSError as exc:
        raise ToolkitError(f"cannot write {target}: {_reason(exc)}") from exc
    finally:
        with suppress(OSError):
            tmp.unlink()
