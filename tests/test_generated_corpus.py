"""A generated corpus with every kind of injected fault: exactly the right codes on the right lines.

benchmarks/generate.py --broken writes expected-problems.jsonl, one line per fault it injected.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

from toolkit import validate

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402


@pytest.mark.parametrize("compress", ["none", "gz", "zst"])
def test_every_injected_fault_is_found_on_its_line_and_nothing_else(tmp_path, compress):
    root = tmp_path / "corpus"
    generate(root, 300, seed=7, compress=compress, broken=0.06)
    expected = {(e["file"], e["line"]): e["code"]
                for e in map(json.loads, (root / "expected-problems.jsonl").read_text().splitlines())}
    report = validate(root, rejects_dir=tmp_path / "rejects")
    found: dict[tuple[str, int], set[str]] = {}
    for p in report.problems:
        found.setdefault((p.file, p.line), set()).add(p.code)
    assert set(found) == set(expected)
    assert all(code in found[key] for key, code in expected.items())
    assert len({c for c in expected.values()}) >= 10  # the generator injected many kinds of fault
    invalid = sum(c.invalid for c in report.counts.values())
    assert invalid == len(expected)
    assert all(c.read == c.valid + c.invalid for c in report.counts.values())
    rejected = sum(len(p.read_bytes().splitlines()) for p in (tmp_path / "rejects").glob("*.rejects"))
    assert rejected == invalid


def test_clean_generated_corpus_validates_and_cli_exit_codes(tmp_path):
    clean = generate(tmp_path / "clean", 200, seed=1).parent
    assert validate(clean).ok
    broken = generate(tmp_path / "broken", 200, seed=1, broken=0.05).parent
    run = [sys.executable, "-m", "toolkit", "validate"]
    assert subprocess.run([*run, str(clean)], capture_output=True).returncode == 0
    result = subprocess.run([*run, str(broken)], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_distinct_titles_leave_no_title_cluster_and_keep_the_title_spans_valid(tmp_path):
    """The benchmarks' `--distinct-titles` corpora (the driver's memory without chance title
    clusters): same articles, each title ended by its id, every annotation still valid."""
    shared = validate(generate(tmp_path / "templates", 300, seed=2).parent)
    distinct = validate(generate(tmp_path / "distinct", 300, seed=2, distinct_titles=True).parent)
    assert shared.duplicate_counts["title"][0] > 0  # the templates repeat titles within a source
    assert distinct.ok and distinct.duplicate_counts["title"] == (0, 0)
    assert distinct.counts["annotations"].valid == shared.counts["annotations"].valid
