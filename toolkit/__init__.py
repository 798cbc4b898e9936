"""news-toolkit: validate annotated news articles and export them as datasets ML people trust.

The public API: `validate`, `load_manifest`, and (see their modules) `export`, the importers in
`toolkit.ingest` and `ingest_text`. The CLI (`news-toolkit`) is a thin skin over these.

Names are loaded on first use (PEP 562): `import toolkit.cli` stays light, so the CLI is already
inside its own Ctrl-C handling when the heavy modules (pyarrow, DuckDB) load.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolkit.errors import ToolkitError
    from toolkit.manifest import Manifest, load_manifest
    from toolkit.problems import CODES, Problem
    from toolkit.validation import ValidationReport, validate

__all__ = ["CODES", "Manifest", "Problem", "ToolkitError", "ValidationReport", "load_manifest", "validate"]
__version__ = "0.1.0"

_HOMES = {
    "ToolkitError": "toolkit.errors", "Manifest": "toolkit.manifest", "load_manifest": "toolkit.manifest",
    "CODES": "toolkit.problems", "Problem": "toolkit.problems", "ValidationReport": "toolkit.validation",
    "validate": "toolkit.validation",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
