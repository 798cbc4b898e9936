"""Curator-written card sections: `CARD.md` beside the manifest, merged into the generated card at every build.

The merge is by `## ` heading (compared with runs of whitespace folded): a curator section
replaces the generated section with the same heading, in the generated section's place; curator
sections with other headings follow the generated ones, in the curator's order. Text before the
curator's first `## ` heading (an introduction) goes right under the card's title. Headings inside
fenced code blocks are not headings. The YAML front matter is always generated — it must match the
data files, and `dataset.yaml` is where metadata is set — so a front matter block in `CARD.md` is
ignored, with a warning. The merge depends on the two texts only: the same inputs give the same card.
"""

from __future__ import annotations

import re
import warnings

from toolkit.errors import ToolkitError
from toolkit.manifest import Manifest
from toolkit.readers import read_small_text

CARD_FILE = "CARD.md"
MAX_CARD_BYTES = 1024 * 1024  # prose, not data: a card of more than 1 MiB is a mistake
Section = tuple[str, str]  # (heading, the section's text from its heading line on)

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n.*?^---[ \t]*(\r?\n|\Z)", re.DOTALL | re.MULTILINE)


def read_curated(manifest: Manifest) -> str | None:
    """The text of `CARD.md` beside the manifest, or None when there is none.

    Raises `ToolkitError` (exit 2) when it is not a regular file inside the dataset folder, is
    larger than 1 MiB or is not UTF-8: a card that silently lost the curator's prose would mislead.
    """
    path = manifest.root / CARD_FILE
    if not path.is_symlink() and not path.exists():
        return None
    try:
        real = path.resolve(strict=True)
    except OSError as exc:
        raise ToolkitError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not real.is_relative_to(manifest.root.resolve()) or not real.is_file():
        raise ToolkitError(f"{path}: must be a regular file inside the dataset folder")
    text = read_small_text(real, MAX_CARD_BYTES).removeprefix("\ufeff")
    match = _FRONT_MATTER.match(text)
    if match:
        warnings.warn(f"{path}: the YAML front matter is ignored; the card's metadata is generated from "
                      "dataset.yaml and the data", UserWarning, stacklevel=2)
        text = text[match.end():]
    return text.replace("\r\n", "\n")


def split_sections(markdown: str) -> tuple[str, list[Section]]:
    """(text before the first `## ` heading, [(heading, section text)]); fenced code is never split."""
    preamble: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None and line.strip().startswith(fence[0] * len(fence)) and \
                set(line.strip()) == {fence[0]}:
            fence = None
        elif fence is None and line.startswith("## "):
            sections.append((_heading(line), [line]))
            continue
        (sections[-1][1] if sections else preamble).append(line)
    return "\n".join(preamble).strip(), [(heading, "\n".join(lines).strip()) for heading, lines in sections]


def _heading(line: str) -> str:
    return " ".join(line.removeprefix("## ").strip().rstrip("#").split())


def merge_sections(generated: str, curated: str) -> str:
    """The generated card body with the curator's sections merged in (see the module docstring)."""
    title, mine = split_sections(generated)
    intro, theirs = split_sections(curated)
    replacing: dict[str, str] = {}
    for heading, text in theirs:
        replacing.setdefault(heading, text)  # a heading written twice: the first one stands, the second is added
    used: set[int] = set()
    parts = [title, intro] if intro else [title]
    for heading, text in mine:
        if heading in replacing:
            index = next(i for i, (h, _) in enumerate(theirs) if h == heading)
            used.add(index)
            parts.append(theirs[index][1])
        else:
            parts.append(text)
    parts += [text for i, (_, text) in enumerate(theirs) if i not in used]
    return "\n\n".join(part for part in parts if part)
