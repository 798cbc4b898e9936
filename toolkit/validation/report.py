"""The validation report: counts per record kind, every problem located, and its JSON form."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from toolkit.problems import Problem

if TYPE_CHECKING:
    from toolkit.hygiene.agreement import AgreementRow
    from toolkit.hygiene.duplicates import Cluster

MAX_PROBLEMS_KEPT = 100_000


@dataclass
class KindCounts:
    read: int = 0
    valid: int = 0
    invalid: int = 0


@dataclass
class ValidationReport:
    """What `validate` found. `problems` keeps the first `MAX_PROBLEMS_KEPT`; `problem_counts` counts all."""

    counts: dict[str, KindCounts] = field(
        default_factory=lambda: {"articles": KindCounts(), "annotations": KindCounts()}
    )
    problems: list[Problem] = field(default_factory=list)
    problem_counts: dict[str, int] = field(default_factory=dict)
    problems_dropped: int = 0
    files: list[str] = field(default_factory=list)
    # Duplicate clusters (the first `MAX_CLUSTERS_LISTED`), counts per kind (clusters, articles), and the
    # copies left out of the build under `duplicates: {policy: drop}` as {id, kept, file, line}.
    duplicates: list[Cluster] = field(default_factory=list)
    duplicate_counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    dropped: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_PROBLEMS_KEPT; dropped_count counts all
    dropped_count: int = 0
    # Annotator agreement per layer (and label) where two or more people annotated the same article.
    agreement: list[AgreementRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.invalid == 0 for c in self.counts.values())

    def add(self, problem: Problem) -> None:
        self.problem_counts[problem.code] = self.problem_counts.get(problem.code, 0) + 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(problem)
        else:
            self.problems_dropped += 1

    def drop(self, article_id: str, kept: str, file: str, line: int) -> None:
        """Note an article left out of the build as a later copy of `kept` (duplicates: drop)."""
        self.dropped_count += 1
        if len(self.dropped) < MAX_PROBLEMS_KEPT:
            self.dropped.append({"id": article_id, "kept": kept, "file": file, "line": line})

    def to_dict(self) -> dict[str, Any]:
        """The JSON report of DESIGN.md §2 (plus per-code counts and the files read)."""
        return {
            "ok": self.ok,
            "counts": {k: vars(v) for k, v in self.counts.items()},
            "problem_counts": dict(sorted(self.problem_counts.items())),
            "problems": [p.to_dict() for p in self.problems],
            "problems_dropped": self.problems_dropped,
            "files": self.files,
            "duplicate_counts": {kind: {"clusters": clusters, "articles": articles}
                                 for kind, (clusters, articles) in self.duplicate_counts.items()},
            "duplicates": [cluster.to_dict() for cluster in self.duplicates],
            "dropped": self.dropped,
            "dropped_count": self.dropped_count,
            "agreement": [row.to_dict() for row in self.agreement],
        }

    def write_json(self, path: Path, inputs: Sequence[Path] = ()) -> None:
        """Write the report atomically (a full disk leaves no half report); never over one of `inputs`."""
        from toolkit.publish import atomic_file

        with atomic_file(Path(path), inputs) as f:
            f.write(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2))


def iter_problem_lines(problems: Iterable[Problem]) -> Iterable[str]:
    """`file:line: [record] code: message` lines, the form compilers and editors understand (`Problem.__str__`)."""
    return map(str, problems)
