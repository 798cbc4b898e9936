"""Reading an annotation tool's export file: one place for what every importer does first."""

from __future__ import annotations

from pathlib import Path

from toolkit.ingest import ImportProblem
from toolkit.readers import open_regular


def read_export_file(path: Path, problems: list[ImportProblem]) -> bytes | None:
    """The file's bytes, or None with a problem naming it when it cannot be read.

    A FIFO (which would hang the import) or a device such as /dev/zero (which never ends) is
    refused without being opened.
    """
    try:
        with open_regular(path) as stream:
            return stream.read()
    except OSError as exc:
        problems.append(ImportProblem(str(path), None, f"cannot read file: {exc.strerror or exc}"))
        return None
