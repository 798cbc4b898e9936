"""The staging folder: where it goes, its limits, and what a user sees when it fails (exit 2, nothing left)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

import pytest
from conftest import REPO

from toolkit import ToolkitError, validate
from toolkit.store import StagingStore

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("news-toolkit-"))


def test_the_store_lives_in_the_folder_given_and_is_removed(tmp_path):
    with StagingStore(tmp_path) as store:
        assert _leftovers(tmp_path) == [store.folder.name]
    assert _leftovers(tmp_path) == []


def test_the_store_is_removed_when_the_work_fails(tmp_path):
    with pytest.raises(RuntimeError), StagingStore(tmp_path):
        raise RuntimeError("boom")
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("limit", ["lots", "12", "2 parsecs", "-1GB"])
def test_a_memory_limit_that_is_not_a_size_is_a_usage_error(tmp_path, limit):
    with pytest.raises(ToolkitError, match="is not a size such as"):
        StagingStore(tmp_path, memory_limit=limit)
    assert _leftovers(tmp_path) == []


def test_a_memory_limit_is_applied(tmp_path):
    with StagingStore(tmp_path, memory_limit="64MB") as store:
        assert store.scalar("SELECT current_setting('memory_limit')").replace(" ", "") in ("64.0MB", "61.0MiB")


def test_an_unwritable_staging_folder_is_a_usage_error(tmp_path, make_dataset):
    root = make_dataset([{"id": "a1", "title": "T", "text": "x", "language": "en"}])
    with pytest.raises(ToolkitError, match="cannot create the staging folder"):
        validate(root, temp_dir=tmp_path / "missing" / "folder")


def _cli(args: list[str], env: dict[str, str], file_limit: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        if file_limit is not None:
            # A file may grow only so far: writes past it fail with EFBIG, as on a full disk.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, preexec_fn=limit, timeout=600)


def test_cli_with_a_tmpdir_that_does_not_exist(tmp_path, make_dataset):
    root = make_dataset([{"id": "a1", "title": "T", "text": "x", "language": "en"}])
    run = _cli(["validate", str(root)], {"TMPDIR": str(tmp_path / "nope")})
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "nope") in run.stderr and "TMPDIR" in run.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_when_the_staging_folder_fills_up(tmp_path, workers):
    root = generate(tmp_path / "corpus", 600, seed=3)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out"
    run = _cli(["export", str(root), "--out", str(out), "--workers", workers], {"TMPDIR": str(tmp)},
               file_limit=256 * 1024)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert str(tmp) in run.stderr
    assert _leftovers(tmp) == []  # the staging folder is gone
    assert not (out / "synthetic-news").exists()  # no partial build
    assert not [p for p in out.iterdir() if p.name.startswith(".")] if out.exists() else True


def test_a_killed_runs_store_is_removed_by_the_next_run(tmp_path, make_dataset):
    root = make_dataset([{"id": "a1", "title": "T", "text": "x", "language": "en"}])
    code = ("import sys, os; from toolkit.store import StagingStore\n"
            "s = StagingStore(sys.argv[1]); print(s.folder, flush=True); os.kill(os.getpid(), 9)")
    killed = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    left = _leftovers(tmp_path)
    assert len(left) == 1 and killed.stdout.strip().endswith(left[0])
    assert validate(root, temp_dir=tmp_path).ok
    assert _leftovers(tmp_path) == []


def test_a_live_runs_store_is_not_touched(tmp_path, make_dataset):
    root = make_dataset([{"id": "a1", "title": "T", "text": "x", "language": "en"}])
    with StagingStore(tmp_path) as live:
        assert validate(root, temp_dir=tmp_path).ok
        assert _leftovers(tmp_path) == [live.folder.name]
