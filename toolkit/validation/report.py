"""The validation report: counts per record kind, every problem located, and its JSON form."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from toolkit.problems import Problem

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

    @property
    def ok(self) -> bool:
        return all(c.invalid == 0 for c in self.counts.values())

    def add(self, problem: Problem) -> None:
        self.problem_counts[problem.code] = self.problem_counts.get(problem.code, 0) + 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(problem)
        else:
            self.problems_dropped += 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON report of DESIGN.md §2 (plus per-code counts and the files read)."""
        return {
            "ok": self.ok,
            "counts": {k: vars(v) for k, v in self.counts.items()},
            "problem_counts": dict(sorted(self.problem_counts.items())),
            "problems": [p.to_dict() for p in self.problems],
            "problems_dropped": self.problems_dropped,
            "files": self.files,
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2))


def iter_problem_lines(problems: Iterable[Problem]) -> Iterable[str]:
    """`file:line: code: message` lines, the form compilers and editors understand."""
    for p in problems:
        rid = f" [{p.record_id}]" if p.record_id else ""
        yield f"{p.file}:{p.line}:{rid} {p.code}: {p.message}"
