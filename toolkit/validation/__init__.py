"""Validation: JSON Schema per record, then the checks JSON Schema cannot express.

- `records`: checks of one record alone (a fast batch spelling for the engines, a careful one that explains);
- `cross`: checks across records (set operations in the staging store, a sequential resolver for conflicts);
- `report`: the report and its JSON form;
- `driver`: `validate()` and `run_validation()`, which tie them together.
"""

from toolkit.validation.driver import run_validation, validate
from toolkit.validation.report import KindCounts, ValidationReport, iter_problem_lines

__all__ = ["KindCounts", "ValidationReport", "iter_problem_lines", "run_validation", "validate"]
