"""The one exception type for failures a user must fix; the CLI turns it into a line on stderr."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3  # a bug, not the user's input: reported in one line, traceback with NEWS_TOOLKIT_DEBUG=1


class ToolkitError(Exception):
    """A failure caused by the user's input or options, not by a bug.

    Carries the exit code the CLI should end with (2 unless said otherwise) and a message that
    names what is wrong and where, so a curator can act on it without a traceback.
    """

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
