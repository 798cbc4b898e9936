"""Issue 12: publishing an output never loses data — the reviewer's attacks, one test each."""

from __future__ import annotations

import errno
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import SHARED, DatasetMaker, article, span

from toolkit.errors import ToolkitError
from toolkit.export import export
from toolkit.publish import MARKER, atomic_file, held_target, is_build, owned_directory

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

REPO = Path(__file__).resolve().parents[1]
TEXT_FIXTURE = REPO / "tests" / "fixtures" / "text" / "seedlike_article.txt"
DOCCANO_FIXTURE = REPO / "tests" / "fixtures" / "doccano" / "flair_fixture_doccano_data_label_style.jsonl"

needs_flock = pytest.mark.skipif(fcntl is None, reason="no fcntl.flock on this OS: runs are not locked")
needs_sigkill = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL on this OS")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True, text=True, cwd=cwd, env=env)


def assert_refused(result: subprocess.CompletedProcess, *names: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for name in names:
        assert name in result.stderr, result.stderr


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name or p.name.endswith(".lock"))


def assert_complete_build(build: Path) -> None:
    """Every file the build's SHA256SUMS lists is there with its checksum, and nothing else is."""
    sums = dict(reversed(row.split("  ")) for row in (build / "SHA256SUMS").read_text().splitlines())
    present = {p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file()}
    assert set(sums) == present - {"SHA256SUMS"}
    check = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=build, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def wait_for(run: subprocess.Popen, path: Path) -> subprocess.Popen:
    """Return `run` once `path` exists (or `run` ended), polling every millisecond for up to 30 s."""
    deadline = time.monotonic() + 30
    while not path.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    return run


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def small(make_dataset: DatasetMaker) -> Path:
    return make_dataset([article()], [span("e1", "PERSON", "Alice")])


@pytest.fixture
def big(make_dataset: DatasetMaker) -> Path:
    """Big enough that an export takes a second or two: time to be killed mid-way."""
    articles = [article(id=f"a{i:05d}") for i in range(3000)]
    annotations = [span(f"e{i:05d}", "PERSON", "Alice", article_id=f"a{i:05d}") for i in range(3000)]
    return make_dataset(articles, annotations)


# --- export onto or around its own input -------------------------------------------------------


def test_export_into_the_parent_of_the_dataset_keeps_the_dataset(make_dataset: DatasetMaker, tmp_path: Path):
    root = make_dataset([article()], [span("e1", "PERSON", "Alice")], name="ds")  # build folder == dataset folder
    before = snapshot(root)
    assert_refused(run("export", "ds", "--out", ".", cwd=tmp_path), "ds", "input")
    assert snapshot(root) == before
    assert leftovers(tmp_path) == []


def test_export_inside_the_dataset_is_refused(small: Path):
    with pytest.raises(ToolkitError, match="inside the input"):
        export(small, out_dir=small / "dist")
    assert not (small / "dist").exists()


def test_a_folder_the_toolkit_did_not_write_is_refused_and_untouched(small: Path, tmp_path: Path):
    mine = tmp_path / "dist" / "test-ds"
    mine.mkdir(parents=True)
    (mine / "thesis.tex").write_text("years of work")
    assert_refused(run("export", str(small), "--out", str(tmp_path / "dist")), str(mine), "remove it or choose another --out")
    assert snapshot(mine) == {"thesis.tex": b"years of work"}


def test_a_file_at_the_target_is_refused(small: Path, tmp_path: Path):
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "test-ds").write_text("keep me")
    with pytest.raises(ToolkitError, match="not a folder"):
        export(small, out_dir=tmp_path / "dist")
    assert (tmp_path / "dist" / "test-ds").read_text() == "keep me"


def test_a_marked_previous_build_is_replaced(small: Path, tmp_path: Path):
    out = tmp_path / "dist"
    first = export(small, format="parquet", out_dir=out).output
    assert is_build(first)
    (first / "stale.txt").write_text("from an older build")
    second = export(small, format="parquet", out_dir=out).output
    assert second == first and not (second / "stale.txt").exists()
    assert_complete_build(second)
    assert leftovers(out) == []


def test_an_empty_folder_at_the_target_is_used(small: Path, tmp_path: Path):
    (tmp_path / "dist" / "test-ds").mkdir(parents=True)
    assert_complete_build(export(small, out_dir=tmp_path / "dist").output)


# --- a run that dies half-way ------------------------------------------------------------------


def test_a_crash_between_the_renames_is_undone_by_the_next_run(make_dataset: DatasetMaker, tmp_path: Path):
    root = make_dataset([article()], [span("e1", "PERSON", "Alice")])
    out = tmp_path / "dist"
    build = export(root, format="parquet", out_dir=out).output
    before = snapshot(build)
    # What a run killed right after its first rename leaves: the old build aside, a staged one, a lock.
    os.replace(build, out / f".{build.name}.old-{dead_pid()}-0badc0de")
    (out / f".{build.name}.tmp-{dead_pid()}-0badc0de").mkdir()
    (out / f".{build.name}.lock").write_text("123\n")
    # The next run finds invalid records, so it publishes nothing: what is there is what it restored.
    make_dataset([article(), "{broken"], [span("e1", "PERSON", "Alice")])
    assert export(root, format="parquet", out_dir=out).output is None
    assert snapshot(build) == before
    assert leftovers(out) == []


@pytest.mark.parametrize(("failure", "raised"), [
    (OSError(errno.EIO, "Input/output error"), ToolkitError),  # a failed second rename
    (KeyboardInterrupt(), KeyboardInterrupt),  # Ctrl-C between the renames
])
def test_a_failure_between_the_renames_puts_the_old_build_back(small: Path, tmp_path: Path, monkeypatch,
                                                               failure: BaseException, raised: type):
    out = tmp_path / "dist"
    build = export(small, format="parquet", out_dir=out).output
    before = snapshot(build)
    import toolkit.publish as publish

    real_replace = os.replace

    def replace(src, dst):
        if ".tmp-" in Path(src).name:
            raise failure
        return real_replace(src, dst)

    monkeypatch.setattr(publish.os, "replace", replace)
    with pytest.raises(raised, match=str(build) if raised is ToolkitError else None):
        export(small, format="parquet", out_dir=out)
    assert snapshot(build) == before
    assert leftovers(out) == []


@needs_flock
@needs_sigkill
def test_sigkill_at_random_moments_leaves_the_old_or_the_new_build(big: Path, tmp_path: Path):
    out = tmp_path / "dist"
    command = [sys.executable, "-m", "toolkit", "export", str(big), "--format", "parquet", "--out", str(out)]
    build = out / "test-ds-parquet"
    lock = out / ".test-ds-parquet.lock"
    # Python's start-up takes most of a run; the moments worth killing at come once the lock is taken.
    writing = wait_for(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), lock)
    started = time.monotonic()
    assert writing.wait() == 0
    window = time.monotonic() - started
    rng = random.Random(12)
    for _ in range(5):
        victim = wait_for(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), lock)
        time.sleep(rng.uniform(0, window))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        with held_target(build):  # what every next run does first
            pass
        assert_complete_build(build)
        assert pq.read_table(build / "data" / "articles").num_rows == 3000
        assert leftovers(out) == []


KILLED_BETWEEN_THE_RENAMES = """
import os, signal, sys
from pathlib import Path
import toolkit.publish
from toolkit.export import export

real_replace = os.replace

def replace(src, dst):
    if ".tmp-" in Path(src).name:  # the old build is aside; the new one is about to go in
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst)

toolkit.publish.os.replace = replace
export(sys.argv[1], format="parquet", out_dir=sys.argv[2])
"""


@needs_sigkill
def test_sigkill_between_the_renames_is_undone_by_the_next_run(small: Path, tmp_path: Path):
    out = tmp_path / "dist"
    build = export(small, format="parquet", out_dir=out).output
    before = snapshot(build)
    killed = subprocess.run([sys.executable, "-c", KILLED_BETWEEN_THE_RENAMES, str(small), str(out)])
    assert killed.returncode == -signal.SIGKILL
    assert not build.exists() and any(".old-" in name for name in leftovers(out))
    result = run("validate", str(small))  # a run that does not write there changes nothing
    assert result.returncode == 0 and not build.exists()
    with held_target(build):  # what every export to it does first
        assert snapshot(build) == before
    assert leftovers(out) == []


def test_leftovers_of_a_killed_run_are_removed_by_the_next(small: Path, tmp_path: Path):
    out = tmp_path / "dist"
    export(small, out_dir=out)
    pid = dead_pid()
    (out / f".test-ds.tmp-{pid}-12ab34cd").mkdir()
    (out / f".test-ds.tmp-{pid}-12ab34cd" / "data.parquet").write_bytes(b"half")
    (out / f".test-ds.old-{pid}-12ab34cd").mkdir()
    (out / ".test-ds.tmp-notours").mkdir()  # not a name the toolkit makes: left alone
    export(small, out_dir=out)
    assert sorted(p.name for p in out.iterdir()) == [".test-ds.tmp-notours", "test-ds"]


# --- two runs at once --------------------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from toolkit.publish import held_target
with held_target(Path(sys.argv[1])):
    print("ready", flush=True)
    time.sleep(60)
"""


@needs_flock
def test_a_second_run_on_a_held_target_stops_at_once(small: Path, tmp_path: Path):
    build = tmp_path / "dist" / "test-ds"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(build)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = run("export", str(small), "--out", str(tmp_path / "dist"))
        assert_refused(result, f"another news-toolkit run is writing {build} (pid {holder.pid})")
        assert ".tmp-" not in result.stderr
    finally:
        holder.kill()
        holder.wait()
    assert not build.exists()


@needs_flock
def test_concurrent_exports_one_wins_the_other_is_told(big: Path, tmp_path: Path):
    out = tmp_path / "dist"
    first = subprocess.Popen([sys.executable, "-m", "toolkit", "export", str(big), "--format", "parquet",
                              "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(first, out / ".test-ds-parquet.lock")
    with pytest.raises(ToolkitError, match="another news-toolkit run is writing"):
        export(big, format="parquet", out_dir=out)
    assert first.wait() == 0, first.stderr.read() if first.stderr else ""
    assert_complete_build(out / "test-ds-parquet")
    assert leftovers(out) == []


# --- disk full ---------------------------------------------------------------------------------


def test_disk_full_during_an_export_names_the_build(small: Path, tmp_path: Path, monkeypatch):
    import toolkit.export.parquet as parquet

    def full(context):
        raise OSError(errno.ENOSPC, "No space left on device")  # as pyarrow raises it: no file name

    monkeypatch.setattr(parquet, "write", full)
    out = tmp_path / "dist"
    with pytest.raises(ToolkitError, match=f"{out / 'test-ds-parquet'}: No space left on device"):
        export(small, format="parquet", out_dir=out)
    assert sorted(p.name for p in out.iterdir()) == []


def test_disk_full_on_a_build_file_names_it_in_the_target(small: Path, tmp_path: Path, monkeypatch):
    import toolkit.export.parquet as parquet

    def full(context):
        raise OSError(errno.ENOSPC, "No space left on device", str(context.staging / "data" / "x.parquet"))

    monkeypatch.setattr(parquet, "write", full)
    out = tmp_path / "dist"
    with pytest.raises(ToolkitError, match=f"cannot write {out / 'test-ds-parquet' / 'data' / 'x.parquet'}: No space"):
        export(small, format="parquet", out_dir=out)


def test_disk_full_during_a_file_write_names_the_file(tmp_path: Path, monkeypatch):
    target = tmp_path / "articles.jsonl"
    target.write_text("previous\n")
    import toolkit.publish as publish

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(publish.os, "fsync", full)
    with pytest.raises(ToolkitError, match=f"cannot write {target}: No space left on device"), atomic_file(target) as f:
        f.write(b"new\n")
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["articles.jsonl"]


# --- ingest text --out / import --out ----------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null on this OS")
@pytest.mark.parametrize("node", ["/dev/null", "/dev/stdout"])
def test_ingest_never_replaces_a_device(node: str):
    before = os.stat(node).st_mode
    assert_refused(run("ingest", "text", str(TEXT_FIXTURE), "--out", node), node)
    assert os.stat(node).st_mode == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")
@pytest.mark.parametrize("command", [["ingest", "text", str(TEXT_FIXTURE)], ["import", "doccano", str(DOCCANO_FIXTURE)]])
def test_ingest_and_import_refuse_a_fifo(command: list[str], tmp_path: Path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert_refused(run(*command, "--out", str(fifo)), str(fifo))
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null on this OS")
def test_import_refuses_dev_null():
    assert_refused(run("import", "doccano", str(DOCCANO_FIXTURE), "--out", "/dev/null"), "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_ingest_writes_a_regular_file_and_sweeps_a_killed_runs_temp(tmp_path: Path):
    target = tmp_path / "articles.jsonl"
    stale = tmp_path / f".articles.jsonl.tmp-{dead_pid()}-0a1b2c3d"
    stale.write_text("half written")
    result = run("ingest", "text", str(TEXT_FIXTURE), "--out", str(target))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["articles.jsonl"]


def test_import_over_a_hand_made_dataset_is_refused(make_dataset: DatasetMaker):
    root = make_dataset([article()], [span("e1", "PERSON", "Alice")])
    before = snapshot(root)
    assert_refused(run("import", "doccano", str(DOCCANO_FIXTURE), "--out", str(root)), str(root), MARKER)
    assert snapshot(root) == before


def test_import_twice_to_the_same_folder_replaces_its_own_output(tmp_path: Path):
    out = tmp_path / "imported"
    for _ in range(2):
        result = run("import", "doccano", str(DOCCANO_FIXTURE), "--out", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
    assert is_build(out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "annotations.jsonl", "articles.jsonl", "dataset.yaml"]
    assert leftovers(tmp_path) == []


# --- scratch folders (the staging database in TMPDIR) ------------------------------------------


@needs_flock
def test_owned_directory_sweeps_dead_siblings_and_keeps_live_ones(tmp_path: Path):
    dead = tmp_path / f"ntk-store-{dead_pid()}-aa11bb22"
    dead.mkdir()
    (dead / ".lock").touch()
    reused = tmp_path / f"ntk-store-{os.getpid()}-cc33dd44"  # a live pid, but the lock is free and it is old
    reused.mkdir()
    (reused / ".lock").touch()
    os.utime(reused, (time.time() - 3600, time.time() - 3600))
    with owned_directory(tmp_path, "ntk-store-") as live:
        with owned_directory(tmp_path, "ntk-store-") as other:
            assert live.exists() and other != live  # the live one's lock is held: not swept
        assert not other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_owned_directory_is_removed_on_error(tmp_path: Path):
    with pytest.raises(RuntimeError), owned_directory(tmp_path, "ntk-") as folder:
        (folder / "x").write_text("data")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_owned_directory_names_a_missing_parent(tmp_path: Path):
    with pytest.raises(ToolkitError, match=str(tmp_path / "nope")), owned_directory(tmp_path / "nope", "ntk-"):
        pass


def test_a_build_from_before_the_marker_is_replaced_but_a_look_alike_is_not(make_dataset, tmp_path):
    from toolkit.export import export
    from toolkit.publish import MARKER, is_build

    root = make_dataset([article()])
    out = tmp_path / "out"
    first = export(root, format="parquet", out_dir=out).output
    # What an earlier version left: SHA256SUMS listing every file, no marker, no labels.parquet.
    (first / MARKER).unlink()
    (first / "labels.parquet").unlink()
    sums = (first / "SHA256SUMS").read_text().splitlines()
    (first / "SHA256SUMS").write_text(
        "".join(f"{line}\n" for line in sums if not line.endswith((MARKER, "labels.parquet"))))
    assert is_build(first)
    (first / "notes.txt").write_text("a file the sums do not list: not a build any more")
    assert not is_build(first)
    (first / "notes.txt").unlink()
    assert export(root, format="parquet", out_dir=out).output == first
    assert (first / MARKER).exists()


def test_nothing_in_a_build_depends_on_how_out_was_spelled(make_dataset, tmp_path, monkeypatch):
    from toolkit.export import export

    root = make_dataset([article(), article(id="a2")], [span("e1", "PERSON", "Alice")])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()
    plain = export(root, format="hf", out_dir="one").output
    winding = export(root, format="hf", out_dir=str(tmp_path / "x" / ".." / "two")).output
    files = sorted(p.relative_to(plain) for p in plain.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(winding) for p in winding.rglob("*") if p.is_file())
    for name in files:
        assert (plain / name).read_bytes() == (winding / name).read_bytes(), name


def test_a_folder_with_its_own_checksums_is_not_taken_for_a_build(make_dataset, tmp_path):
    import hashlib

    from toolkit.export import export
    from toolkit.manifest import load_manifest

    root = make_dataset([article()])
    mine = tmp_path / "out" / f"{load_manifest(root).name}-parquet"
    mine.mkdir(parents=True)
    (mine / "release.iso").write_bytes(b"precious")
    (mine / "SHA256SUMS").write_text(f"{hashlib.sha256(b'precious').hexdigest()}  release.iso\n")
    with pytest.raises(ToolkitError, match="not written by news-toolkit"):
        export(root, format="parquet", out_dir=tmp_path / "out")
    assert (mine / "release.iso").read_bytes() == b"precious"


def test_another_datasets_or_another_kinds_output_is_not_replaced(make_dataset, tmp_path):
    from toolkit.export import export

    other = make_dataset([article()], name="foo-parquet")
    export(other, format="hf", out_dir=tmp_path / "dist")  # dist/foo-parquet: an hf build of foo-parquet
    mine = make_dataset([article(id="a9")], name="foo")
    with pytest.raises(ToolkitError, match="holds another news-toolkit output"):
        export(mine, format="parquet", out_dir=tmp_path / "dist")  # would be dist/foo-parquet too
    assert (tmp_path / "dist" / "foo-parquet" / "croissant.json").exists()


def test_import_never_deletes_an_input_inside_its_out(tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli import app

    source = SHARED / "realdata" / "doccano_jsonl"
    files = sorted(source.glob("*.jsonl")) if source.exists() else []
    if not files:
        pytest.skip("../shared/realdata/doccano_jsonl not present")
    runner = CliRunner()
    assert runner.invoke(app, ["import", "doccano", str(files[0]), "--out", str(tmp_path / "imp")]).exit_code in (0, 1)
    inside = tmp_path / "imp" / "tasks.jsonl"
    inside.write_bytes(files[0].read_bytes())
    result = runner.invoke(app, ["import", "doccano", str(inside), "--out", str(tmp_path / "imp")])
    assert result.exit_code == 2 and "is, contains or is inside the input" in result.output
    assert inside.read_bytes() == files[0].read_bytes()


def test_outputs_never_overwrite_an_input(make_dataset, tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli import app

    runner = CliRunner()
    page = tmp_path / "page.txt"
    page.write_text("Title\n\nSome text of the page.\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", "text", str(page), "--out", str(page)])
    assert result.exit_code == 2 and "is an input of this run" in result.output
    assert page.read_text(encoding="utf-8").startswith("Title")

    root = make_dataset([article(), article(id="a2", title="")])
    before = (root / "articles.jsonl").read_bytes()
    for target in (root / "articles.jsonl", root / "dataset.yaml"):
        result = runner.invoke(app, ["validate", str(root), "--report", str(target)])
        assert result.exit_code == 2 and "is an input of this run" in result.output
    assert (root / "articles.jsonl").read_bytes() == before


def test_a_fed_back_rejects_file_is_not_overwritten(make_dataset, tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli import app

    root = make_dataset([article(), article(id="a2", title="")])
    runner = CliRunner()
    assert runner.invoke(app, ["validate", str(root), "--rejects", str(root / "rej")]).exit_code == 1
    fed_back = root / "rej" / "articles.jsonl.rejects"
    kept = fed_back.read_bytes()
    manifest = (root / "dataset.yaml").read_text().replace(
        "- articles.jsonl", "- articles.jsonl\n- rej/articles.jsonl.rejects")
    (root / "dataset.yaml").write_text(manifest)
    # The fed-back file is named `rej/articles.jsonl.rejects`: its own rejects go elsewhere; but
    # rejects written *into* rej/ for `articles.jsonl` would overwrite it.
    result = runner.invoke(app, ["validate", str(root), "--rejects", str(root / "rej")])
    assert result.exit_code == 2 and "is an input of this run" in result.output, result.output
    assert fed_back.read_bytes() == kept


def test_rejects_of_inputs_with_look_alike_names_do_not_collide(tmp_path):
    from toolkit.rejects import rejects_paths

    names = ["a/b.jsonl", "a__b.jsonl", "a%2Fb.jsonl", "a\\\\b.jsonl"]
    assert len({rejects_paths(tmp_path, name) for name in names}) == len(names)


def test_rejects_of_an_earlier_run_go_once_every_record_is_valid(make_dataset, tmp_path):
    from toolkit.export import export

    root = make_dataset([article(), article(id="a2", title="")])
    first = export(root, format="parquet", out_dir=tmp_path / "out", skip_invalid=True)
    assert first.rejects is not None and first.rejects.exists()
    make_dataset([article(), article(id="a2")])  # fixed
    second = export(root, format="parquet", out_dir=tmp_path / "out", skip_invalid=True)
    assert second.report.ok and second.rejects is None and not first.rejects.exists()


@pytest.mark.parametrize("command", ["html", "warc"])
def test_web_ingest_never_writes_over_its_input(tmp_path, command):
    from typer.testing import CliRunner

    from toolkit.cli import app

    page = tmp_path / ("page.html" if command == "html" else "crawl.warc")
    page.write_bytes(b"<html><head><title>T</title></head><body><p>Some text.</p></body></html>")
    before = page.read_bytes()
    result = CliRunner().invoke(app, ["ingest", command, str(page), "--out", str(page)])
    assert result.exit_code == 2 and "is an input of this run" in result.output, result.output
    assert page.read_bytes() == before
