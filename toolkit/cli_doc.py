"""The README's CLI synopsis, generated from the typer app so the documentation cannot drift from it.

`tests/test_readme.py` checks that README.md holds exactly `synopsis()`; run
`python -m toolkit.cli_doc` to print it after changing a command.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Iterator
from typing import Any

import typer

from toolkit.cli import app


def _commands(group: Any, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def _value(parameter: Any) -> str:
    """How a value is shown: the choices of an Enum (a|b|c), the option's metavar, N for a number, else its name."""
    annotation = parameter.type_descriptor.annotation
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return "|".join(str(member.value) for member in candidate)
    if parameter.metavar:
        return str(parameter.metavar)
    if int in (annotation, *typing.get_args(annotation)):
        return "N"
    return parameter.name.upper()


def _piece(parameter: Any) -> str:
    if parameter.param_type_name == "argument":
        value = _value(parameter)
        name = (value if "|" in value else parameter.name.upper()) + ("..." if parameter.nargs == -1 else "")
        return name if parameter.required else f"[{name}]"
    flag = max(parameter.opts, key=len)
    shown = flag if getattr(parameter, "is_flag", False) else f"{flag} {_value(parameter)}"
    return shown if parameter.required else f"[{shown}]"


def synopsis() -> str:
    """One line per command: `news-toolkit <command> ARGS [--option VALUE] …`, in the app's order."""
    lines = []
    for path, command in _commands(typer.main.get_command(app), ()):
        pieces = [_piece(p) for p in command.params if not p.hidden]
        required = [p for p in pieces if not p.startswith("[")]
        optional = [p for p in pieces if p.startswith("[")]
        lines.append(" ".join(["news-toolkit", *path, *required, *optional]))
    return "\n".join(lines)


if __name__ == "__main__":
    print(synopsis())
