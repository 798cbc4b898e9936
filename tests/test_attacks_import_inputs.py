"""`import TOOL` given a device or a FIFO: refused at once by name, never read without end or waited on.

`/dev/zero` read whole grew one importer to 8.7 GB in 8 s and a FIFO hung it until a writer came.
Every command runs in its own process under a timeout (a hang fails the test instead of stalling
the suite) and, where the OS allows, an address-space limit (reading without end fails it too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.ingest import importer_names

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(),
                                reason="needs FIFOs and /dev/zero")

TIMEOUT = 30  # seconds: a refusal takes well under one; a read of /dev/zero or a FIFO never ends
MEMORY_LIMIT = 4 * 2**30  # bytes of address space: imports, DuckDB and Arrow fit; /dev/zero read whole does not
# A file of each importer's kind, so a folder's FIFO is picked up as an input, not passed over.
INPUT_NAMES = {
    "labelstudio": "export.json", "doccano": "export.jsonl", "brat": "doc.txt", "webanno": "doc.tsv",
    "semeval": "article111.txt", "conll": "train.conll", "spacy": "docs.jsonl",
}


def _limit_memory() -> None:
    """Runs in the child before exec: a read without end ends in MemoryError, not in a swapping host."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run(args: list[str]) -> subprocess.CompletedProcess:
    limit = _limit_memory if sys.platform.startswith("linux") else None
    env = dict(os.environ, COLUMNS="200")
    # TimeoutExpired (a hang) fails the test; the child is killed by subprocess.run.
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, env=env, preexec_fn=limit)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "toolkit", *args])


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_every_registered_importer_is_covered():
    assert set(importer_names()) == set(INPUT_NAMES)


@pytest.mark.parametrize("tool", importer_names())
@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_import_of_a_device_or_fifo_is_refused_at_once(tool: str, kind: str, fifo: Path, tmp_path: Path):
    source = Path("/dev/zero") if kind == "device" else fifo
    out = tmp_path / "out"
    result = _cli("import", tool, str(source), "--out", str(out))
    shown = result.stdout + result.stderr
    assert result.returncode in (1, 2), shown
    assert str(source) in shown and "not a regular file" in shown, shown
    assert "Traceback" not in shown and "MemoryError" not in shown and "internal error" not in shown, shown


@pytest.mark.parametrize("tool", importer_names())
def test_a_fifo_inside_a_folder_does_not_hang_the_import(tool: str, tmp_path: Path):
    folder = tmp_path / "exports"
    folder.mkdir()
    pipe = folder / INPUT_NAMES[tool]
    os.mkfifo(pipe)
    result = _cli("import", tool, str(folder), "--out", str(tmp_path / "out"))
    shown = result.stdout + result.stderr
    assert result.returncode in (0, 1, 2), shown
    assert "Traceback" not in shown and "internal error" not in shown, shown
    if str(pipe) in shown:  # importers that list folders by name read it; the others pass it over
        assert "not a regular file (FIFO)" in shown, shown


# Each importer called directly (as a library user would, or as `import` would after the FIFO or
# device took the place of a file checked a moment before): the files it reads are opened only if
# regular, so the bad path becomes one of its problems.
DIRECT = """
import json, sys
from pathlib import Path
from toolkit.ingest import ImportOptions, get_importer

imported = get_importer(sys.argv[1])([Path(sys.argv[2])], ImportOptions())
print(json.dumps([[p.file, p.message] for p in imported.problems]))
"""


@pytest.mark.parametrize("tool", importer_names())
@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_importers_called_directly_report_a_device_or_fifo_as_a_problem(tool: str, kind: str, fifo: Path):
    source = Path("/dev/zero") if kind == "device" else fifo
    result = _run([sys.executable, "-c", DIRECT, tool, str(source)])
    assert result.returncode == 0, result.stdout + result.stderr
    problems = json.loads(result.stdout)
    assert [file for file, _ in problems] == [str(source)], problems
    # Importers that read the path say why; the others' file lists turn it away before any read.
    message = problems[0][1]
    if message.startswith("cannot read file"):
        assert "not a regular file" in message, message
