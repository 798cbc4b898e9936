"""A worker process killed in the middle of an export (issue 9).

- Local engine: the pool breaks; the export stops with exit 2 and one line saying a worker died,
  and nothing is published (no build, no rejects, no staging leftovers). A process pool cannot re-run
  a task whose process vanished without risking a second copy of its side effects, so it fails.
- Ray: Ray re-runs the task on another worker (task retries); the per-range function is pure and
  its staged file is named by its first key, and a shard's task writes the same names in its own
  folder (the driver moves only the files a finished task names), so a re-run rewrites the same
  bytes: the build is identical to an undisturbed one. Both places are killed, in turn.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL on this OS")

SCRIPT = """
import os, sys
import toolkit.export.shards as shards
import toolkit.readers as readers
import toolkit.validation.driver as driver
from toolkit.cli import main
from worker_faults import stage_range_failing, stage_range_killing_once, write_shard_killing_once

readers.RANGE_BYTES = 20_000  # many ranges: the kill lands in the middle of the run
shards.SHARD_SOURCE_BYTES = 30_000  # several shards per split, each its own task
kill = os.environ.get("NEWS_TOOLKIT_TEST_KILL_IN", "")
if "NEWS_TOOLKIT_TEST_FAILURE" in os.environ:
    driver.stage_range = stage_range_failing
elif kill == "staging":
    driver.stage_range = stage_range_killing_once
elif kill == "shard":
    shards.write_shard = write_shard_killing_once
sys.argv = ["news-toolkit", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("faults") / "c", 300, seed=3, broken=0.05).parent


def _export(corpus: Path, out: Path, marker: Path, *engine: str, failure: str = "", kill: str = "staging"
            ) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "NEWS_TOOLKIT_TEST_KILL_MARKER": str(marker), "NEWS_TOOLKIT_TEST_KILL_IN": kill}
    if failure:
        env["NEWS_TOOLKIT_TEST_FAILURE"] = failure
    return subprocess.run([sys.executable, "-c", SCRIPT, "export", str(corpus), "--out", str(out), "--skip-invalid",
                           *engine], capture_output=True, text=True, timeout=600, env=env)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kill", ["staging", "shard"])
def test_local_engine_fails_cleanly_when_a_worker_is_killed(corpus, tmp_path, kill):
    out = tmp_path / "dist"
    result = _export(corpus, out, tmp_path / "killed", "--workers", "2", kill=kill)
    assert (tmp_path / "killed").exists()  # a worker really was killed
    assert result.returncode == 2, result.stderr
    assert "a worker process died" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() or [p.name for p in out.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.parametrize("kill", ["staging", "shard"])
def test_ray_reruns_the_killed_task_and_builds_the_same_bytes(corpus, tmp_path, kill):
    pytest.importorskip("ray")
    result = _export(corpus, tmp_path / "ray", tmp_path / "killed", "--engine", "ray", kill=kill)
    assert (tmp_path / "killed").exists()
    calm = _export(corpus, tmp_path / "local", tmp_path / "unused", "--workers", "1", kill="")
    assert result.returncode == calm.returncode, result.stderr[-3000:]
    assert "invalid" in calm.stdout + calm.stderr  # the corpus holds invalid records: rejects are compared too
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")


@pytest.mark.parametrize("engine", [("--workers", "2"), ("--engine", "ray")], ids=["local", "ray"])
def test_a_workers_input_or_staging_failure_is_one_line_and_exit_2(corpus, tmp_path, engine):
    """What a worker meets (a file changed under it; a staging folder it cannot write, as on nodes
    that do not share it despite --shared-storage) is reported as the driver would report it: one
    line, exit 2, nothing published. Ray wraps a worker's exception; the engine unwraps it."""
    if engine[1] == "ray":
        pytest.importorskip("ray")
    for failure, said in (("input", "it changed while it was read"), ("staging", "cannot write the staging files")):
        out = tmp_path / failure
        result = _export(corpus, out, tmp_path / "unused", *engine, failure=failure)
        assert result.returncode == 2, result.stderr[-3000:]
        lines = [line for line in result.stderr.splitlines() if line.strip() and "WARNING" not in line]
        assert said in result.stderr and "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert len([line for line in lines if said in line]) == 1
        assert not out.exists() or [p.name for p in out.iterdir() if not p.name.startswith(".")] == []
