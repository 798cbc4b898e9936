"""news-toolkit: validate annotated news articles and export them as datasets ML people trust.

The public API: `validate`, `load_manifest`, and (see their modules) `export`, the importers in
`toolkit.ingest` and `ingest_text`. The CLI (`news-toolkit`) is a thin skin over these.
"""

from toolkit.errors import ToolkitError
from toolkit.manifest import Manifest, load_manifest
from toolkit.problems import CODES, Problem
from toolkit.validation import ValidationReport, validate

__all__ = ["CODES", "Manifest", "Problem", "ToolkitError", "ValidationReport", "load_manifest", "validate"]
__version__ = "0.1.0"
