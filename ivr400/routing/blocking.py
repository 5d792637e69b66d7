"""Call blocking (呼叫阻截) per hotline, and the caller-ID classification it rests on.

A caller ID is either a usable number, withheld (empty, ``anonymous``, ``unknown``, ...), or
unparseable. ``ivr400.numbers.normalize_caller`` is lenient: it strips quotes, brackets and whitespace
that a display form may carry. At call time we are stricter: a caller ID that holds anything but digits,
``+`` and the usual separators (quotes, newlines, ``${...}``, semicolons, letters other than a withheld
marker) is treated as unparseable, because such a value is either broken signalling or an attempt to
inject something into the dialplan, and must not be matched against a whitelist as if it were a number.

Withheld and unparseable callers match no list entry, so the hotline's ``anonymous`` setting decides
them explicitly, in every mode.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ivr400.numbers import normalize_caller
from ivr400.routing.model import (
    AnonymousPolicy,
    BlockEntry,
    BlockMode,
    BlockPolicy,
    CallerStatus,
)

__all__ = ["BlockVerdict", "Caller", "check_caller", "parse_caller"]

# What a caller ID may look like: digits, an optional +, spaces, dashes, dots and brackets.
_NUMBER_LIKE = re.compile(r"[0-9+\- ().]+")
_WITHHELD_WORDS = frozenset(
    {"anonymous", "unknown", "restricted", "private", "unavailable", "withheld", "anonymous.invalid"}
)
_MAX_RAW = 64  # longer caller IDs are garbage, and are not worth normalizing


@dataclass(frozen=True, slots=True)
class Caller:
    """A classified caller ID. ``number`` is the normalized number when ``status`` is NUMBER."""

    number: str | None
    status: CallerStatus

    @property
    def label(self) -> str:
        """Safe for logs: the normalized number, or the status (never the raw caller ID)."""
        return self.number if self.number is not None else self.status.value


def parse_caller(raw: object) -> Caller:
    """Classify a raw caller ID (``agi_callerid``); never raises."""
    if raw is None:
        return Caller(None, CallerStatus.WITHHELD)
    if not isinstance(raw, str):
        return Caller(None, CallerStatus.UNPARSEABLE)
    if len(raw) > _MAX_RAW:
        return Caller(None, CallerStatus.UNPARSEABLE)
    text = raw if raw.isascii() else unicodedata.normalize("NFKC", raw)
    stripped = text.strip(" ")
    if not stripped:
        return Caller(None, CallerStatus.WITHHELD)
    if stripped.lower() in _WITHHELD_WORDS:
        return Caller(None, CallerStatus.WITHHELD)
    if not _NUMBER_LIKE.fullmatch(stripped):
        return Caller(None, CallerStatus.UNPARSEABLE)
    number = normalize_caller(stripped)
    if number is None or not re.fullmatch(r"\+?[0-9]{1,20}", number):
        return Caller(None, CallerStatus.UNPARSEABLE)
    return Caller(number, CallerStatus.NUMBER)


@dataclass(frozen=True, slots=True)
class BlockVerdict:
    """Whether the caller gets in, and why (the reason is safe for logs and CDR)."""

    allowed: bool
    reason: str
    entry: BlockEntry | None = None


def _match(policy: BlockPolicy, number: str) -> BlockEntry | None:
    if number in policy.exact_numbers:
        return next(e for e in policy.entries if not e.prefix and e.number == number)
    return next((e for e in policy.prefixes if number.startswith(e.number)), None)


def check_caller(policy: BlockPolicy, caller: Caller) -> BlockVerdict:
    """Apply a hotline's blocking policy to a classified caller."""
    if caller.number is None:
        if policy.anonymous is AnonymousPolicy.REFUSE:
            return BlockVerdict(False, f"caller {caller.status.value}: refused by the anonymous policy")
        return BlockVerdict(True, f"caller {caller.status.value}: allowed by the anonymous policy")
    if policy.mode is BlockMode.OFF:
        return BlockVerdict(True, "blocking off")
    entry = _match(policy, caller.number)
    if policy.mode is BlockMode.BLACKLIST:
        if entry is not None:
            return BlockVerdict(False, f"caller {caller.number} on the blacklist ({entry})", entry)
        return BlockVerdict(True, "caller not on the blacklist")
    if entry is not None:
        return BlockVerdict(True, f"caller {caller.number} on the whitelist ({entry})", entry)
    return BlockVerdict(False, f"caller {caller.number} not on the whitelist (whitelist only)")
