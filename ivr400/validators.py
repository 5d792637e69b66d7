"""The value checks shared by every layer: one pattern per rule, nothing else of ours imported.

What reaches the PBX (a dial string, a menu key, a 400 number in a context name or an AGI request) or a
log line, CDR field or channel variable (a name typed by an operator) is checked here, so the renderer,
the controller, the provisioning services and the CDR code accept exactly the same values:

* :data:`HOTLINE_NUMBER` — a 400 number as stored and as it travels: ``400`` + 7 digits, nothing else
  (the lenient parsing of typed numbers is :func:`ivr400.numbers.parse_hotline_number`);
* :data:`UNSAFE_TEXT` — characters a name must never carry (control characters, quotes, backslash,
  ``$ ; ` { }``); :data:`UNSAFE_ARGUMENT` adds the comma, which separates Asterisk application arguments;
* :func:`check_key` — a menu key (one DTMF digit); :data:`DEPT_PATH` — a key path such as ``2.1``;
* :func:`check_dial_template` / :func:`dial_string` — trunk templates ``TECH/...{number}...`` and the dial
  strings made from them;
* :func:`clamp` — an integer setting forced into its range;
* :func:`is_row_id` — an integer that can be a row id (``MAX_ROW_ID``: the tables' 32-bit keys);
* :data:`ASTERISK_UNIQUEID` — an Asterisk channel uniqueid, ``1764540000.12``, or with the node's
  ``systemname`` in front (``node2-1764540000.12``: two nodes of a cluster never give two calls one id).

Refusals raise :class:`UnsafeValueError` (a ``ValueError``) with the value and the reason in the message.
"""
from __future__ import annotations

import functools
import re

#: An Asterisk uniqueid: ``EPOCH.SEQ``, prefixed by ``SYSTEMNAME-`` when asterisk.conf sets ``systemname``
#: (letters, digits, ``_``; the cluster lab's nodes are ``node2``, ``node3``).
ASTERISK_UNIQUEID = re.compile(r"(?:[A-Za-z0-9_]{1,32}-)?[0-9]{1,20}\.[0-9]{1,10}")

__all__ = [
    "ASTERISK_UNIQUEID",
    "DEPT_PATH",
    "DEST_NUMBER",
    "HOTLINE_NUMBER",
    "UNSAFE_ARGUMENT",
    "UNSAFE_TEXT",
    "UnsafeValueError",
    "check_dial_template",
    "check_hotline_number",
    "check_key",
    "clamp",
    "dial_string",
    "has_unsafe_text",
    "pjsip_endpoint",
    "strip_unsafe_text",
]

#: A 400 hotline number in its stored form: 10 digits starting with 400.
HOTLINE_NUMBER = re.compile(r"400[0-9]{7}")
#: A destination number as dialled: 3 to 20 digits, an optional leading +.
DEST_NUMBER = re.compile(r"\+?[0-9]{3,20}")
#: A department key path as the dialplan and the AGI requests spell it: "" (switchboard), "2", "2.1".
DEPT_PATH = re.compile(r"(?:[0-9](?:\.[0-9]){0,15})?")
#: Characters that must never reach a log line, CDR field, channel variable or config comment through a name.
UNSAFE_TEXT = re.compile(r"[\x00-\x1f\x7f\"'\\$;`{}]")
#: :data:`UNSAFE_TEXT` plus the comma, which separates the arguments of an Asterisk application.
UNSAFE_ARGUMENT = re.compile(r"[\x00-\x1f\x7f\"'\\$;,`{}]")

_KEY = re.compile(r"[0-9]")
_DIAL_TEMPLATE = re.compile(r"(?:PJSIP|SIP|IAX2|DAHDI|Local)/[A-Za-z0-9_.:@/+=\-{}]+")
_PJSIP_ENDPOINT = re.compile(r"PJSIP/\{number\}@([A-Za-z0-9_.\-]+)")
#: Asterisk's PJSIP dial forms: `PJSIP/endpoint`, `PJSIP/user@endpoint`, each optionally followed by `/<SIP URI>`.
_PJSIP_DIALED = re.compile(r"PJSIP/(?:[^/@]*@)?([A-Za-z0-9_.\-]+)(?:/.*)?")


class UnsafeValueError(ValueError):
    """A value that cannot be written safely into a PBX configuration, an AGI answer or a log line."""


def check_hotline_number(number: object) -> str:
    """``number`` if it is a stored-form 400 number (``4008123456``); else :class:`UnsafeValueError`."""
    if not isinstance(number, str) or not HOTLINE_NUMBER.fullmatch(number):
        raise UnsafeValueError(f"hotline number {number!r} is not 400 + 7 digits")
    return number


def has_unsafe_text(text: str) -> bool:
    """Whether ``text`` holds a character of :data:`UNSAFE_TEXT`."""
    return UNSAFE_TEXT.search(text) is not None


def strip_unsafe_text(text: str) -> str:
    """``text`` without the characters of :data:`UNSAFE_TEXT`, stripped of surrounding blanks."""
    return UNSAFE_TEXT.sub("", text).strip()


def check_key(key: object) -> str:
    """A menu key: one DTMF digit ``0``-``9``."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise UnsafeValueError(f"menu key {key!r} is not a single digit 0-9")
    return key


@functools.lru_cache(maxsize=1024)
def _valid_template(template: str) -> bool:
    rest = template.replace("{number}", "")
    return "{number}" in template and bool(_DIAL_TEMPLATE.fullmatch(template)) and "{" not in rest and "}" not in rest


def check_dial_template(template: object) -> str:
    """A trunk's dial template: ``TECH/...{number}...`` (PJSIP, SIP, IAX2, DAHDI or Local), no other braces,
    no ``, & ( ) $ ;`` or spaces."""
    if isinstance(template, str) and _valid_template(template):
        return template
    if not isinstance(template, str) or "{number}" not in template or not _DIAL_TEMPLATE.fullmatch(template):
        raise UnsafeValueError(
            f"dial template {template!r} must be TECH/...{{number}}... with no , & ( ) $ ; or spaces")
    raise UnsafeValueError(f"dial template {template!r} has braces other than {{number}}")


def dial_string(template: str, number: str) -> str:
    """The Asterisk dial string for ``number`` through ``template``, both validated."""
    check_dial_template(template)
    if not isinstance(number, str) or not DEST_NUMBER.fullmatch(number):
        raise UnsafeValueError(f"destination number {number!r} is not digits")
    return template.replace("{number}", number)  # a valid template with digits in: valid by construction


def pjsip_endpoint(template: str) -> str | None:
    """The endpoint a ``PJSIP/{number}@endpoint`` template dials through (None for other forms)."""
    m = _PJSIP_ENDPOINT.fullmatch(template)
    return m.group(1) if m else None


def dialed_pjsip_endpoint(template: str) -> str | None:
    """The PJSIP endpoint any PJSIP dial template goes through: ``PJSIP/{number}@carrier`` → ``carrier``,
    ``PJSIP/pstn/sip:{number}@127.0.0.1:5071`` → ``pstn`` (the endpoint whose settings the request uses
    towards that URI); None for other technologies or a `{number}` in the endpoint's place."""
    m = _PJSIP_DIALED.fullmatch(template)
    return m.group(1) if m else None


def clamp(value: object, lo: int, hi: int, default: int) -> int:
    """An int setting forced into ``[lo, hi]``; anything that is not an int (a bool included) is ``default``."""
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return max(lo, min(hi, value))


#: The largest row id: the tables' keys are INTEGER, 32 bits on PostgreSQL, which refuses even to compare a
#: larger value with them (SQLite's 64-bit keys never reach it: ids are handed out from 1).
MAX_ROW_ID = 2**31 - 1


def is_row_id(value: int) -> bool:
    """True when ``value`` can be the id of a row (1 to MAX_ROW_ID); a larger or negative one names nothing."""
    return 1 <= value <= MAX_ROW_ID
