"""Chinese telephone numbers as ivr400 sees them.

One normalizer reads every number and number prefix that enters the system --
:func:`normalize_number` for what a person types (blacklist/whitelist entries and prefixes, region
overrides, destinations, CDR filters, any back office), :func:`normalize_caller` for caller IDs at
call time -- and gives each written form one canonical result (docs/numbers.md has the table):

* a landline is ``0`` + area code + local number (``01062345678``, ``075588888888``);
* a mobile is its 11 digits (``13800138000``);
* a service number (10086, 95588, 12345, 114) and a 400/800 number are their digits;
* a foreign number is ``+`` and its digits; a local number sent without area code stays as sent.

A prefix is the start of such a canonical number, so ``+86 10 8888``, ``0086-10-8888`` and
``010-8888`` all give ``0108888`` and match every 010-8888xxxx caller. Entry points built on it:

* the 400 hotline itself (400电话) -- :func:`parse_hotline_number`;
* destination numbers (目的码) an operator binds to a hotline -- :func:`parse_destination`,
  strict, because a wrong destination is a compliance problem (the destination whitelist, README.md);
* caller IDs arriving with each call -- :func:`normalize_caller`, lenient and never raising,
  because a malformed caller ID must not break call handling.

Validity, number type and region come from ``phonenumbers`` (region ``CN``, geocoder in ``zh``);
this module adds the Chinese conventions operators expect (area code with its leading 0, mobile
as ``0`` + number in carrier back offices, full-width digits) and error messages a person can act on.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where numbers are checked: a command that parses none does not load its metadata
    import phonenumbers


def describe_region(parsed: phonenumbers.PhoneNumber) -> str:
    """The ``zh`` geocoder description. Imported on first use: loading its data takes seconds, which
    every CLI command would otherwise pay even when it parses no number."""
    from phonenumbers import geocoder

    return geocoder.description_for_number(parsed, "zh")


__all__ = [
    "Carrier",
    "DestinationNumber",
    "HotlineNumber",
    "NormalizedNumber",
    "NumberError",
    "NumberKind",
    "normalize_caller",
    "normalize_number",
    "parse_destination",
    "parse_hotline_number",
    "region_name",
]


class NumberError(ValueError):
    """A number was refused; the message names the input and says what is wrong with it.

    Plain ``ValueError`` subclass so callers (CLI, web forms) can show ``str(exc)`` as is.
    """


def _refuse(text: str, reason: str) -> NumberError:
    return NumberError(f"{text!r}: {reason}")


# --------------------------------------------------------------------------- shared cleanup

# Separators operators type between digit groups; NFKC already folds full-width forms
# (－ → -, （ → (, ＋ → +, ４ → 4) but not the various dashes.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc.()/]+")


def _clean(text: str) -> str:
    """Fold full-width characters and drop separators; what is left is '+'? and digits, or junk."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))


# --------------------------------------------------------------------------- area codes (区号)

# Local numbers that fit every Chinese area code's numbering plan in phonenumbers' metadata.
_SAMPLE_LOCALS = ("62345678", "6234567", "82345678", "2345678")


def _sample_number(code: str) -> phonenumbers.PhoneNumber | None:
    """A valid landline behind area code ``code`` (without its 0), or None if it is not an area code."""
    import phonenumbers

    for local in _SAMPLE_LOCALS:
        parsed = phonenumbers.parse("+86" + code + local)
        if phonenumbers.is_valid_number(parsed) and phonenumbers.length_of_geographical_area_code(parsed) == len(code):
            return parsed
    return None


@cache
def _area_codes() -> frozenset[str]:
    """Every Chinese area code phonenumbers knows, without its 0: ``10``, ``2x`` and three-digit ``3xx``-``9xx``.

    Derived from the metadata once (about 0.2 s) so a new release's codes need no change here.
    """
    candidates = [str(c) for c in (*range(10, 30), *range(300, 1000))]
    return frozenset(c for c in candidates if _sample_number(c) is not None)


@cache
def _area_code_starts() -> frozenset[str]:
    """Every proper start of an area code (``1``, ``2``, ``3``, ``31``…), for validating short prefixes."""
    return frozenset(code[:i] for code in _area_codes() for i in range(1, len(code)))


def _area_code_length(nsn: str) -> int:
    """Chinese area codes are 010 and 020-029 (two digits after the 0), all others three."""
    return 2 if nsn.startswith(("10", "2")) else 3


def _area_problem(nsn: str) -> str | None:
    """Why ``0`` + ``nsn`` cannot start a Chinese landline number, or None if it can."""
    area_len = _area_code_length(nsn)
    if len(nsn) >= area_len:
        if nsn[:area_len] not in _area_codes():
            return f"0{nsn[:area_len]} is not a Chinese area code"
        if nsn[area_len:area_len + 1] == "0":
            return f"a local number after area code 0{nsn[:area_len]} never starts with 0"
    elif nsn and nsn not in _area_code_starts():
        return f"no Chinese area code starts with 0{nsn}"
    return None


# --------------------------------------------------------------------------- the normalizer


class NumberKind(StrEnum):
    """What a canonical number is; decides where it may be used."""

    LANDLINE = "landline"  # 固定电话: 0 + area code + local number
    MOBILE = "mobile"  # 手机: 11 digits, 1[3-9]
    SERVICE = "service"  # 特服号码: 10086, 95588, 12345, 114, 1010xxxx, 950xxxxxxxx
    HOTLINE = "hotline"  # 400/800 numbers (400电话, 800免费电话), 10 digits
    LOCAL = "local"  # 7-8 digits without area code, as some trunks present local callers
    FOREIGN = "foreign"  # + country code + number


@dataclass(frozen=True)
class NormalizedNumber:
    """The canonical form of a typed number or number prefix (see docs/numbers.md).

    ``value`` is what is stored and compared: a caller matches a prefix entry when its
    :func:`normalize_caller` form starts with ``value``.
    """

    value: str
    kind: NumberKind
    prefix: bool = False

    @property
    def area_code(self) -> str | None:
        """A landline's area code with its 0 (``010``, ``0755``), or None (other kinds, or a prefix
        too short to name one)."""
        if self.kind is not NumberKind.LANDLINE:
            return None
        code = self.value[1:1 + _area_code_length(self.value[1:])]
        return "0" + code if code in _area_codes() else None


class _Unreadable(Exception):  # noqa: N818 -- internal signal, never escapes this module
    """Raised by the reader; ``fallback`` is what a caller ID falls back to (its digits)."""

    def __init__(self, reason: str, fallback: str | None, *, too_long: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fallback = fallback
        self.too_long = too_long


_EXACT, _PREFIX, _CALLER = "exact", "prefix", "caller"
_LENGTH_RULE = "a landline is 0 + area code + 8 digits after 010 and 02x, 7 or 8 after others; a mobile 11 digits"
_MOBILE_START = re.compile(r"1[3-9]")


#: Kinds with one length: (digits, what the length rule says, name of a prefix of that kind).
_FIXED_LENGTH = {
    NumberKind.MOBILE: (11, "a mobile number has 11 digits", "mobile"),
    NumberKind.HOTLINE: (10, "400 and 800 numbers have 10 digits", "400/800"),
}


def _fixed_length(kind: NumberKind, digits: str, mode: str, fallback: str) -> NormalizedNumber:
    length, rule, name = _FIXED_LENGTH[kind]
    if mode == _PREFIX:
        if len(digits) > length:
            raise _Unreadable(f"too long for a {name} prefix ({len(digits)} digits; {rule})", fallback)
        return NormalizedNumber(digits, kind, True)
    if len(digits) != length:
        raise _Unreadable(f"{rule} (got {len(digits)})", fallback, too_long=len(digits) > length)
    return NormalizedNumber(digits, kind)


def _mobile(digits: str, mode: str, fallback: str) -> NormalizedNumber:
    return _fixed_length(NumberKind.MOBILE, digits, mode, fallback)


def _hotline(digits: str, mode: str, fallback: str) -> NormalizedNumber:
    return _fixed_length(NumberKind.HOTLINE, digits, mode, fallback)


def _landline(nsn: str, mode: str, fallback: str, written: int, *, bare: bool = False) -> NormalizedNumber:
    """``nsn``: the digits after the trunk 0 (area code + local number); ``written``: how many digits
    were written for the national number (for messages); ``bare``: written with neither 0 nor +86,
    so only a known area code makes it a landline."""
    area_len = _area_code_length(nsn)
    if mode != _CALLER or bare:  # a caller ID written 0… or +86… is a landline by its shape alone
        problem = _area_problem(nsn)
        if problem is not None:
            raise _Unreadable(problem, fallback)
    local = len(nsn) - area_len
    if mode == _PREFIX:
        if local > 8:
            raise _Unreadable(f"too long for a prefix ({written} digits); {_LENGTH_RULE}", fallback)
        return NormalizedNumber("0" + nsn, NumberKind.LANDLINE, True)
    if len(nsn) < 10 or local < 7:
        if local > 0 and nsn[:area_len] in _area_codes():  # the area code is there: say what follows it
            wanted = "8 digits" if area_len == 2 else "7 or 8 digits"
            raise _Unreadable(f"too short ({written} digits); after area code 0{nsn[:area_len]} a local number has "
                              f"{wanted}, here {local}", fallback)
        raise _Unreadable(f"too short ({written} digits); {_LENGTH_RULE}", fallback)
    if len(nsn) > 11 or local > 8:
        raise _Unreadable(f"too long ({written} digits); {_LENGTH_RULE}", fallback, too_long=True)
    return NormalizedNumber("0" + nsn, NumberKind.LANDLINE)


def _national(digits: str, mode: str, *, after_country_code: bool) -> NormalizedNumber:
    """A whole number without trunk 0 or country code: a mobile, a service or 400/800 number, a
    landline's area code + local number, or (domestic only) a local number. Exact and caller modes."""
    n = len(digits)
    if _MOBILE_START.match(digits):
        return _mobile(digits, mode, digits)
    if digits.startswith("1"):
        if digits.startswith("10") and (n == 2 or digits[2] not in "01"):  # Beijing locals start with 2-9
            if n == 10:
                return _landline(digits, mode, digits, n, bare=not after_country_code)  # 010 without its 0
            raise _Unreadable(f"a Beijing number is 10 + 8 digits (got {n - 2} after 10); service numbers "
                              "10xxx start 100 or 101 (10086)", digits, too_long=n > 10)
        if 3 <= n <= 8:
            return NormalizedNumber(digits, NumberKind.SERVICE)
        if n == 11:
            raise _Unreadable(f"{digits[:3]} is not a Chinese mobile prefix", digits)
        raise _Unreadable("not a Chinese number: a service number has 3 to 8 digits, a mobile 11, "
                          "a Beijing landline 010 + 8 digits", digits, too_long=n > 11)
    if digits.startswith(("400", "800")):
        return _hotline(digits, mode, digits)
    if digits.startswith("950") or (digits.startswith(("95", "96")) and n <= 8):
        if n < 5:
            raise _Unreadable(f"too short for a service number ({n} digits)", digits)
        if n > 11:
            raise _Unreadable(f"too long for a service number ({n} digits)", digits, too_long=True)
        return NormalizedNumber(digits, NumberKind.SERVICE)
    if n >= 10:
        return _landline(digits, mode, digits, n, bare=not after_country_code)  # the 0 left out
    if n in (7, 8) and not after_country_code:
        return NormalizedNumber(digits, NumberKind.LOCAL)
    if after_country_code:
        raise _Unreadable(f"too short ({n} digits after the country code); {_LENGTH_RULE}", digits)
    raise _Unreadable(f"too short ({n} digits); {_LENGTH_RULE}; a local number without area code "
                      "has 7 or 8", digits)


def _area_hint(digits: str) -> str:
    """How to write a prefix that was typed without its 0."""
    hints = []
    if _area_problem(digits) is None:
        hints.append(f"for callers from that area write 0{digits} (or +86 {digits})")
    if "400".startswith(digits) or "800".startswith(digits):
        hints.append("400 and 800 prefixes start with 400 or 800")
    return "; ".join(hints)


def _domestic_prefix(digits: str) -> NormalizedNumber:
    """A prefix written without trunk 0, +86 or 0086."""
    if _MOBILE_START.match(digits):
        return _mobile(digits, _PREFIX, digits)
    if digits == "1":
        raise _Unreadable("ambiguous prefix: write 13-19 for mobile prefixes, 010 for Beijing, or a service "
                          "number prefix such as 100 or 12", digits)
    if digits == "10" or (digits.startswith("10") and digits[2] not in "01"):
        raise _Unreadable(f"ambiguous prefix: for Beijing numbers write 0{digits} (or +86 {digits}); service "
                          "numbers 10xxx are written in full (10086)", digits)
    if digits.startswith(("1", "95", "96")):
        if len(digits) > 11:
            raise _Unreadable(f"too long for a service number prefix ({len(digits)} digits)", digits)
        return NormalizedNumber(digits, NumberKind.SERVICE, True)
    if digits.startswith(("400", "800")):
        return _hotline(digits, _PREFIX, digits)
    if "400".startswith(digits) or "800".startswith(digits) or _area_problem(digits) is None:
        raise _Unreadable(f"a prefix without its 0 is ambiguous: {_area_hint(digits)}", digits)
    if len(digits) > 8:
        raise _Unreadable(f"too long for a local-number prefix ({len(digits)} digits; local numbers have 7 or 8)",
                          digits)
    # Cannot be an area code without its 0 (no area code starts 062): the start of a local number
    # as some trunks present local callers, e.g. for a region override.
    return NormalizedNumber(digits, NumberKind.LOCAL, True)


def _after_country_code(national: str, mode: str, cc: str) -> NormalizedNumber:
    """What follows +86 / 0086 / 86: the national number, a trunk 0 tolerated ("+86 (0)10 …")."""
    if not national:
        raise _Unreadable("no digits after the country code", None)
    if national.startswith("0"):
        national = national[1:]
        if not national:
            raise _Unreadable("no digits after the country code", None)
        if national.startswith("0"):
            raise _Unreadable("too many leading zeros", national)
        if mode != _CALLER and _MOBILE_START.match(national):
            raise _Unreadable(f"a mobile number has no 0 after {cc}", national)
    if mode != _PREFIX:
        return _national(national, mode, after_country_code=True)
    if _MOBILE_START.match(national):
        return _mobile(national, mode, national)
    if national == "1":
        raise _Unreadable(f"ambiguous prefix: write {cc} 10 for Beijing, {cc} 13-19 for mobile prefixes", national)
    if national.startswith(("400", "800")):
        return _hotline(national, mode, national)
    try:
        return _landline(national, mode, national, len(national))
    except _Unreadable as exc:
        if national.startswith(("1", "95", "96")):
            raise _Unreadable(f"{exc.reason} (service numbers are written without {cc}: 10086, 95588, 12345)",
                              national) from None
        raise


def _read(compact: str, mode: str) -> NormalizedNumber:
    """Read ``compact`` ('+'? ASCII digits, separators removed) in ``mode``. Raises _Unreadable."""
    if compact.startswith(("+", "00")):
        rest = compact[1:] if compact.startswith("+") else compact[2:]
        lead = "+" if compact.startswith("+") else "00"
        if not rest:
            raise _Unreadable(f"no digits after {lead}", None)
        if rest.startswith("86"):
            return _after_country_code(rest[2:], mode, "+86" if lead == "+" else "0086")
        if rest.startswith("0"):
            raise _Unreadable(f"{lead} starts a country code ({lead}86 for China); none starts with 0", None)
        if len(rest) > 15:
            raise _Unreadable(f"too long for an international number ({len(rest)} digits; at most 15)", None)
        if len(rest) < 6 and mode != _PREFIX:
            raise _Unreadable(f"too short for an international number ({len(rest)} digits); for every number "
                              "of a country, make it a prefix", "+" + rest)
        return NormalizedNumber("+" + rest, NumberKind.FOREIGN, mode == _PREFIX)
    if compact.startswith("86") and (mode == _PREFIX or len(compact) >= 12):
        return _after_country_code(compact[2:], mode, "86")
    if compact.startswith("0"):
        rest = compact[1:]
        if _MOBILE_START.match(rest):
            return _mobile(rest, mode, compact)  # 0 + mobile: how carrier back offices write mobiles
        return _landline(rest, mode, compact, len(compact))
    if mode == _PREFIX:
        return _domestic_prefix(compact)
    return _national(compact, mode, after_country_code=False)


# Written extensions: 010-62345678转801, 分机801, ext. 801, x801, #801, ",801" / "p801" (dial pauses).
_EXTENSION = re.compile(r"^(?P<main>.*\d[\s)]*)(?:转|分机|ext\.?|x|#|,|;|p|w)\s*(?P<ext>\d{1,6})\s*$",
                        re.IGNORECASE)
_DASHES = re.compile(r"[\-\u2010-\u2015\u2212\u30fc]")
_ONLY_DIGITS = "a phone number may contain only digits, spaces, dashes and brackets"


def _compact(text: str) -> str:
    compact = _clean(text)
    if not compact or not re.fullmatch(r"\+?[0-9]*", compact):
        raise _Unreadable(_ONLY_DIGITS, None)
    return compact


def _extension_refusal(text: str, main: str, extension: str) -> NumberError:
    try:
        number = _read(_compact(main), _EXACT).value
    except _Unreadable:
        number = None
    hint = f"; write the number alone ({number})" if number else ""
    return _refuse(text, f"extension {extension}: a caller ID carries no extension and ivr400 does not dial "
                         f"one{hint}")


def normalize_number(text: str, *, prefix: bool = False, what: str = "number") -> NormalizedNumber:
    """The canonical form of a number or number prefix a person typed; raises NumberError with the reason.

    Exact mode (``prefix=False``) reads a whole number; prefix mode reads the start of one and refuses
    a prefix that could mean two different things (``10``: Beijing 010 or the service numbers 10xxx?)
    with the way to write each. Every written form and its result is in docs/numbers.md; in short:
    ``+86``, ``0086`` and ``86`` are country codes (``86`` without ``+`` only before a whole national
    number, or in prefix mode), the digits after them are read as area code + local number, mobile or
    400/800 number, so ``+86 10 8888`` → ``0108888``; spaces, dashes, dots and brackets are ignored,
    full-width digits folded; an extension (``-801``, ``转801``, ``ext 801``) is refused, since no caller
    ID carries one. ``what`` names the input in the empty-input message.
    """
    if not isinstance(text, str) or not text.strip():
        raise _refuse(text, f"empty {what}")
    folded = unicodedata.normalize("NFKC", text).strip()
    found = _EXTENSION.match(folded)
    if found:
        raise _extension_refusal(text, found["main"], found["ext"])
    try:
        return _read(_compact(folded), _PREFIX if prefix else _EXACT)
    except _Unreadable as exc:
        dashes = list(_DASHES.finditer(folded)) if exc.too_long and not prefix else []
        if dashes:  # 010-62345678-801: the last group may be an extension
            head, extension = folded[:dashes[-1].start()], folded[dashes[-1].end():].strip()
            if extension.isdigit() and len(extension) <= 5:
                try:
                    _read(_compact(head), _EXACT)
                except _Unreadable:
                    pass
                else:
                    raise _extension_refusal(text, head, extension) from None
        raise _refuse(text, exc.reason) from None


# --------------------------------------------------------------------------- 400 hotlines


class Carrier(StrEnum):
    """The carrier that operates a 400 range (Tietong was merged into China Mobile)."""

    TELECOM = "telecom"
    UNICOM = "unicom"
    MOBILE = "mobile"


# prefix -> (carrier, range note); the note keeps history that matters to operators.
_HOTLINE_RANGES: dict[str, tuple[Carrier, str]] = {
    "4000": (Carrier.UNICOM, "new range"),
    "4001": (Carrier.MOBILE, "new range"),
    "4006": (Carrier.UNICOM, ""),
    "4007": (Carrier.MOBILE, "ex-Tietong"),
    "4008": (Carrier.TELECOM, ""),
    "4009": (Carrier.TELECOM, "new range"),
}


@dataclass(frozen=True)
class HotlineNumber:
    """A 400 hotline number (400电话): 10 digits, and the carrier its range belongs to."""

    number: str
    carrier: Carrier
    range_note: str

    @property
    def display(self) -> str:
        """The way 400 numbers are printed on business cards: ``400-812-3456``."""
        n = self.number
        return f"{n[:3]}-{n[3:6]}-{n[6:]}"


def parse_hotline_number(text: str) -> HotlineNumber:
    """Parse a 400 number typed in any usual form (dashes, spaces, +86, full-width digits)."""
    number = normalize_number(text, what="400 number")
    if number.kind is NumberKind.FOREIGN:
        raise _refuse(text, _NOT_A_DESTINATION[NumberKind.FOREIGN])
    digits = number.value
    if not digits.startswith("400"):
        raise _refuse(text, "400 numbers start with 400")
    prefix = digits[:4]
    if prefix not in _HOTLINE_RANGES:
        allowed = ", ".join(sorted(_HOTLINE_RANGES)[:-1]) + " or " + sorted(_HOTLINE_RANGES)[-1]
        raise _refuse(text, f"400 numbers start with {allowed} (got prefix {prefix})")
    carrier, note = _HOTLINE_RANGES[prefix]
    return HotlineNumber(number=digits, carrier=carrier, range_note=note)


# --------------------------------------------------------------------------- destinations


@dataclass(frozen=True)
class DestinationNumber:
    """A destination number (目的码) a hotline forwards to, normalized the carriers' way.

    ``number`` is the landline's area code with its leading 0 plus the local number
    (``01062345678``), or the mobile's 11 digits (``13800138000``).
    """

    number: str
    kind: NumberKind
    area_code: str | None
    province: str | None
    city: str | None

    @property
    def display(self) -> str:
        """Human form: ``010-62345678`` or ``138 0013 8000``."""
        n = self.number
        if self.kind is NumberKind.MOBILE:
            return f"{n[:3]} {n[3:7]} {n[7:]}"
        assert self.area_code is not None
        return f"{self.area_code}-{n[len(self.area_code):]}"

    @property
    def dial(self) -> str:
        """Digits to send on a domestic carrier trunk.

        Landlines are always dialled with their area code (works from any area); mobiles as the
        bare 11 digits. Trunks that need a ``0`` before out-of-area mobiles, or a ``+86``, are a
        trunk setting, not a property of the number.
        """
        return self.number


_NOT_A_DESTINATION = {
    NumberKind.HOTLINE: "a 400 or 800 number cannot be a destination",
    NumberKind.SERVICE: "a service number cannot be a destination",
    NumberKind.FOREIGN: "only Chinese (+86) numbers are accepted",
}


def parse_destination(text: str) -> DestinationNumber:
    """Parse and validate a destination number as an operator types it; refuse with a reason.

    Read by :func:`normalize_number`, then checked against phonenumbers' numbering plan. Accepted:
    ``010-62345678``, ``(010) 6234 5678``, ``+86 10 6234 5678``, ``0086-10-62345678``, ``1062345678``
    (the national number without its 0), ``13800138000``, ``013800138000`` (mobile as 0 + number, the
    back-office form), ``+86 138 0013 8000``, full-width digits and dashes.
    """
    number = normalize_number(text, what="destination number")
    if number.kind in _NOT_A_DESTINATION:
        raise _refuse(text, _NOT_A_DESTINATION[number.kind])
    if number.kind is NumberKind.LOCAL:
        raise _refuse(text, f"write a landline with its area code including the 0 (0xx-{number.value})")
    nsn = number.value if number.kind is NumberKind.MOBILE else number.value[1:]
    import phonenumbers
    from phonenumbers import PhoneNumberType

    parsed = phonenumbers.parse("+86" + nsn)
    if not phonenumbers.is_valid_number(parsed):
        if number.kind is NumberKind.MOBILE:
            raise _refuse(text, f"{nsn[:3]} is not a Chinese mobile prefix")
        raise _refuse(text, f"the local number does not fit area code {number.area_code} (wrong length?)")
    kind_type = phonenumbers.number_type(parsed)
    province, city = region_name(describe_region(parsed))
    if number.kind is NumberKind.MOBILE and kind_type in (PhoneNumberType.MOBILE,
                                                           PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return DestinationNumber(nsn, NumberKind.MOBILE, None, province, city)
    if number.kind is NumberKind.LANDLINE and kind_type in (PhoneNumberType.FIXED_LINE,
                                                             PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return DestinationNumber(number.value, NumberKind.LANDLINE, number.area_code, province, city)
    raise _refuse(text, f"not a landline or mobile number (phonenumbers type {kind_type})")


# --------------------------------------------------------------------------- caller IDs

_WITHHELD = frozenset({"anonymous", "unknown", "restricted", "private", "unavailable", "withheld"})
_CALLER_JUNK = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc.()/'\"<>]+")
_CALLER_MAX_DIGITS = 15  # E.164 maximum; anything longer is not a phone number


def _trunk_zero_after_country_code(compact: str) -> str | None:
    """``+86 0…`` / ``0086 0…`` / ``86 0…`` (12+ digits, as :func:`_read`): the domestic ``0…``; else None.

    Some carriers present the trunk 0 after the country code; dropped for every kind of number, so
    ``0086013800138000`` is the mobile 13800138000 and ``+86 0755 123`` reads as ``0755 123``.
    """
    if compact.startswith("+86"):
        rest = compact[3:]
    elif compact.startswith("0086"):
        rest = compact[4:]
    elif compact.startswith("86") and len(compact) >= 12:
        rest = compact[2:]
    else:
        return None
    return rest if len(rest) > 1 and rest[0] == "0" and rest[1] != "0" else None


def normalize_caller(text: str | None) -> str | None:
    """Normalize a caller ID for matching and region lookup at call time; never raises.

    Same reading as :func:`normalize_number` in exact mode, so a caller matches the entries typed
    for it (``+8610…``, ``008610…``, ``8610…``, ``010…`` and ``10…`` all give ``010…``; ``+86138…``
    and ``0138…`` give ``138…``). Where a typed number would be refused, the caller ID keeps its
    digits (country code removed) instead; None for anonymous, withheld, empty or garbage caller IDs.
    A trunk 0 after the country code is dropped first, whatever the number: ``+86 0…`` reads as ``0…``.
    String operations and one set lookup: it runs per call.
    """
    if not isinstance(text, str):
        return None
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    s = _CALLER_JUNK.sub("", text)
    if not s or s.lower() in _WITHHELD:
        return None
    digits = s[1:] if s.startswith("+") else s
    if not digits.isdecimal() or not digits.isascii():
        return None
    domestic = _trunk_zero_after_country_code(s)
    if domestic is not None:  # "+86 0755 …", "0086 0138 …": read as written at home, "0755 …"
        s = digits = domestic
    if len(digits) > _CALLER_MAX_DIGITS:
        return None
    try:
        return _read(s, _CALLER).value
    except _Unreadable as exc:
        return exc.fallback or None


# --------------------------------------------------------------------------- regions

_PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州",
    "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港",
    "澳门",
)
# What follows a province's short name in its full name, e.g. 广西壮族自治区, 新疆维吾尔自治区.
_PROVINCE_SUFFIX = re.compile(r"^(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)")
# Minority names inside prefecture names: 延边朝鲜族自治州 -> 延边, 海西蒙古族藏族自治州 -> 海西.
_ETHNIC = (
    "壮族|回族|维吾尔|朝鲜族|白族|彝族|苗族|土家族|藏族|蒙古族|蒙古|布依族|哈萨克|柯尔克孜|"
    "傣族|侗族|羌族|傈僳族|哈尼族|景颇族"
)
_CITY_SUFFIX = re.compile(rf"(?:(?:{_ETHNIC})*自治州|地区|市|盟)$")


def region_name(description: str) -> tuple[str | None, str | None]:
    """Split a phonenumbers ``zh`` geocoder description into short (province, city) names.

    "广东省深圳市" → ("广东", "深圳"), "北京市" → ("北京", "北京"), "广西壮族自治区南宁市、崇左市"
    → ("广西", "南宁"): when one area code serves several cities, the first listed one is used.
    "中国" or an unknown text gives (None, None). Short names keep reports and routing rules
    independent of how the geocoder spells a region.
    """
    if not description:
        return None, None
    province = next((p for p in _PROVINCES if description.startswith(p)), None)
    if province is None:
        return None, None
    rest = _PROVINCE_SUFFIX.sub("", description[len(province):], count=1)
    first = rest.split("、", 1)[0].strip()
    city = _CITY_SUFFIX.sub("", first) if first else ""
    return province, city or province


# --------------------------------------------------------------------------- area codes


@dataclass(frozen=True)
class AreaCode:
    """An enterprise's home area (所在地): the area code with its 0 and the region it names."""

    code: str
    province: str | None
    city: str | None


def parse_area_code(text: str) -> AreaCode:
    """Validate a Chinese area code such as ``010``, ``021`` or ``0755`` (the leading 0 is required)."""
    if not isinstance(text, str) or not text.strip():
        raise _refuse(text, "empty area code")
    digits = _clean(text)
    if not digits.isdecimal() or not digits.isascii():
        raise _refuse(text, "an area code has only digits")
    if not digits.startswith("0") or digits.startswith("00") or len(digits) not in (3, 4):
        raise _refuse(text, "an area code is 0 + 2 or 3 digits, like 010 or 0755")
    parsed = _sample_number(digits[1:]) if digits[1:] in _area_codes() else None
    if parsed is not None:
        province, city = region_name(describe_region(parsed))
        if province or city:
            return AreaCode(digits, province, city)
    raise _refuse(text, f"{digits} is not a Chinese area code")
