"""Every real JSON Lines file in ../shared/realdata is read without a crash, as articles and as annotations.

They are tool exports, not our format, so they are mostly invalid records: what matters is that
each line ends up valid or in the rejects with a located problem, and that nothing raises.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import SHARED

from toolkit import validate

REALDATA = SHARED / "realdata"
FILES = sorted(p for p in REALDATA.rglob("*") if p.suffix in (".jsonl", ".json") and p.is_file()) if REALDATA.exists() else []


@pytest.mark.skipif(not FILES, reason="../shared/realdata not present")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("as_kind", ["articles", "annotations"])
def test_real_file_is_read_without_crash(tmp_path: Path, path: Path, as_kind: str):
    root = tmp_path / "ds"
    root.mkdir()
    (root / "articles.jsonl").write_text("")
    spec = {"name": "real", "articles": ["articles.jsonl"], "layers": {"x": {"kind": "span", "labels": ["A"]}}}
    spec[as_kind] = [str(path)]
    (root / "dataset.yaml").write_text(yaml.safe_dump(spec))
    # The real file stays where it is: read by its absolute path, which needs the opt-in.
    report = validate(root, rejects_dir=tmp_path / "rej", allow_outside=True)
    counts = report.counts[as_kind]
    nonblank = sum(1 for line in path.read_bytes().splitlines() if line.strip())
    assert counts.read == nonblank
    assert counts.read == counts.valid + counts.invalid
    assert {p.line for p in report.problems} <= set(range(1, len(path.read_bytes().splitlines()) + 2))
    if counts.invalid:
        assert any((tmp_path / "rej").iterdir())
