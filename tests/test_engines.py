"""Engines: a pool of processes and Ray give the same reports, rejects and byte-identical builds as one process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

import toolkit.export.rows as rows_module
import toolkit.export.shards as shards_module
from toolkit import ToolkitError, validate
from toolkit.engines import SMALL_INPUT_BYTES, EngineOptions, available_cores
from toolkit.export import export

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402

readers_module = sys.modules["toolkit.readers"]
ONE = EngineOptions(workers=1)
TWO = EngineOptions(workers=2)


@pytest.fixture
def small_batches(monkeypatch):
    """Many small ranges and batches, so that a small corpus still spreads over every worker, out of step."""
    monkeypatch.setattr(readers_module, "RANGE_BYTES", 20_000)
    monkeypatch.setattr(readers_module, "BATCH_LINES", 97)
    monkeypatch.setattr(rows_module, "BATCH_ARTICLES", 13)
    monkeypatch.setattr(shards_module, "SHARD_SOURCE_BYTES", 30_000)  # several shards per split, shared out  # the views' batches go to the workers too


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("engines") / "c", 300, seed=5, broken=0.05).parent


def _summary(report) -> tuple:
    return report.problems, {k: vars(v) for k, v in report.counts.items()}, report.problem_counts


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _build(root: Path, out: Path, engine: EngineOptions, fmt: str = "hf") -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(files of the build, files of the rejects) of an export with --skip-invalid."""
    result = export(root, format=fmt, out_dir=out, skip_invalid=True, engine=engine)
    assert result.output is not None and result.rejects is not None
    return _files(result.output), _files(result.rejects)


def test_process_pool_report_and_rejects_equal_one_process(corpus, tmp_path, small_batches):
    one = validate(corpus, engine=ONE, rejects_dir=tmp_path / "r1")
    two = validate(corpus, engine=TWO, rejects_dir=tmp_path / "r2")
    assert not one.ok and one.problems  # the corpus has faults, so the comparison means something
    assert _summary(one) == _summary(two)
    assert _files(tmp_path / "r1") == _files(tmp_path / "r2")


@pytest.mark.parametrize("fmt", ["hf", "parquet", "jsonl"])
def test_process_pool_build_is_byte_identical(corpus, tmp_path, small_batches, fmt):
    # Same output folder both times: the card names the folder in its loading snippet.
    first = _build(corpus, tmp_path / "dist", ONE, fmt)
    second = _build(corpus, tmp_path / "dist", TWO, fmt)
    assert first == second
    assert len([name for name in first[0] if name.startswith("data/")]) >= 4


def test_default_runs_small_inputs_in_process_and_large_on_every_core():
    assert EngineOptions().worker_count(input_bytes=SMALL_INPUT_BYTES - 1) == 1
    assert EngineOptions().worker_count(input_bytes=SMALL_INPUT_BYTES) == available_cores()
    assert EngineOptions(workers=3).worker_count(input_bytes=10) == 3
    with pytest.raises(ToolkitError):
        EngineOptions(workers=-1).worker_count()


def test_a_script_without_main_guard_can_use_workers(corpus):
    # Workers must not re-run the caller's script (what `spawn` does): a plain script works.
    code = (f"import toolkit\nfrom toolkit.engines import EngineOptions\n"
            f"r = toolkit.validate({str(corpus)!r}, engine=EngineOptions(workers=2))\n"
            f"print(r.counts['annotations'].read)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == validate(corpus, engine=ONE).counts["annotations"].read


def test_workers_forked_after_an_in_process_run_do_not_hang(corpus):
    # An in-process run starts rensa's thread pool in this process; workers forked afterwards used
    # to wait forever for the pool's threads (a notebook validating a sample, then the corpus).
    code = (f"import toolkit\nfrom toolkit.engines import EngineOptions\n"
            f"a = toolkit.validate({str(corpus)!r}, engine=EngineOptions(workers=1))\n"
            f"b = toolkit.validate({str(corpus)!r}, engine=EngineOptions(workers=2))\n"
            f"print(a.problem_counts == b.problem_counts)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_unknown_engine_is_a_usage_error(corpus):
    with pytest.raises(ToolkitError, match="engine"):
        validate(corpus, engine=EngineOptions(engine="spark"))  # type: ignore[arg-type]
    result = subprocess.run([sys.executable, "-m", "toolkit", "validate", str(corpus), "--engine", "spark"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "engine" in result.stderr


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_gives_the_same_report_and_build_as_local(local_ray, corpus, tmp_path, small_batches):
    ray_engine = EngineOptions(engine="ray")
    assert _summary(validate(corpus, engine=ray_engine)) == _summary(validate(corpus, engine=ONE))
    local = _build(corpus, tmp_path / "dist", ONE)
    on_ray = _build(corpus, tmp_path / "dist", ray_engine)
    assert local == on_ray


def test_cli_engine_ray_starts_its_own_local_ray(corpus, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "dist"
    result = subprocess.run([sys.executable, "-m", "toolkit", "export", str(corpus), "--engine", "ray", "--skip-invalid",
                             "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    expected = _build(corpus, tmp_path / "local", ONE)[0]
    got = _files(out / "synthetic-news")
    assert {k: v for k, v in got.items() if k.startswith("data/")} == {k: v for k, v in expected.items()
                                                                        if k.startswith("data/")}


def _ctrl_c_handler(context, batch):
    import signal

    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_workers_leave_ctrl_c_to_the_driver():
    # Ctrl-C reaches every process of the group; only the driver may answer it (one line, exit 130).
    from toolkit.engines import local

    with local.open(2) as pool:
        assert list(pool.map(_ctrl_c_handler, None, range(4))) == [True] * 4


def test_workers_read_their_own_byte_ranges(corpus, monkeypatch):
    """No line of an uncompressed input passes through the driver (issue 9): it only plans byte ranges."""
    driver = sys.modules["toolkit.validation.driver"]

    def driver_reads_lines(*args, **kwargs):
        raise AssertionError("the driver read the lines of an uncompressed file")

    expected = _summary(validate(corpus, engine=ONE))
    monkeypatch.setattr(readers_module, "RANGE_BYTES", 20_000)
    monkeypatch.setattr(driver, "iter_blocks", driver_reads_lines)
    assert _summary(validate(corpus, engine=TWO)) == expected


def _twice(context: int, batch: int) -> int:
    return context * batch


def test_a_pool_hands_out_at_most_in_flight_batches_ahead_of_the_results():
    from toolkit.engines import local

    pulled: list[int] = []

    def batches():
        for i in range(20):
            pulled.append(i)
            yield i

    with local.open(2) as pool:
        results = pool.map(_twice, 2, batches(), in_flight=3)
        assert next(results) == 0
        assert len(pulled) == 3  # the driver held three batches, not the pool's usual four
        assert list(results) == [2 * i for i in range(1, 20)]
