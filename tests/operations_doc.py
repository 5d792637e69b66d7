"""docs/operations.md as data: its titled code blocks (```LANG title="NAME"), the `ivr400` commands of a
block, the settings table. The unit and e2e tests use it so the page and the code cannot drift apart."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
_FENCE = re.compile(r'^```(\w+)(?:[ \t]+title="([^"]+)")?[ \t]*\n(.*?)^```[ \t]*$', re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    lang: str
    title: str
    text: str


def blocks(text: str | None = None) -> dict[str, Block]:
    """Titled code blocks by title (titles are unique on the page)."""
    text = DOC.read_text() if text is None else text
    out: dict[str, Block] = {}
    for m in _FENCE.finditer(text):
        lang, title, body = m.group(1), m.group(2), m.group(3)
        if title:
            assert title not in out, f"two blocks titled {title!r} in {DOC}"
            out[title] = Block(lang, title, body)
    return out


def lines(block: Block) -> list[list[str]]:
    """Each command line of a shell block as argv (comments dropped)."""
    out = []
    for line in block.text.splitlines():
        argv = shlex.split(line, comments=True)
        if argv:
            out.append(argv)
    return out


def ivr400_args(argv: list[str]) -> list[str] | None:
    """The arguments of an `ivr400 ...` or `sudo -u ivr400 ivr400 ...` line; None for other programs."""
    if argv[:1] == ["ivr400"]:
        return argv[1:]
    if argv[:4] == ["sudo", "-u", "ivr400", "ivr400"]:
        return argv[4:]
    return None


def ivr400_commands(block: Block) -> list[list[str]]:
    """The `ivr400 ...` command lines of a shell block, as argv without the program name."""
    return [args for args in map(ivr400_args, lines(block)) if args is not None]


def settings_table(text: str | None = None) -> list[tuple[str, str, str]]:
    """(setting, environment variable, default) rows of the settings table."""
    text = DOC.read_text() if text is None else text
    rows = []
    for line in text.splitlines():
        m = re.match(r"\| `([a-z_]+\.[a-z_]+)` \| `(IVR400_[A-Z_]+)` \| (.*?) \| .* \|$", line)
        if m:
            rows.append((m.group(1), m.group(2), m.group(3)))
    return rows
