"""Chinese telephone numbers as ivr400 sees them.

Three kinds of number cross the system and each gets its own entry point:

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

import phonenumbers
from phonenumbers import PhoneNumberType


def describe_region(parsed: phonenumbers.PhoneNumber, *, valid: bool = False) -> str:
    """The ``zh`` geocoder description. Imported on first use: loading its data takes seconds, which
    every CLI command would otherwise pay even when it parses no number."""
    from phonenumbers import geocoder

    if valid:
        return geocoder.description_for_valid_number(parsed, "zh")
    return geocoder.description_for_number(parsed, "zh")


__all__ = [
    "Carrier",
    "DestinationNumber",
    "HotlineNumber",
    "NumberError",
    "NumberKind",
    "normalize_caller",
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


def _strip_country(text: str, compact: str) -> tuple[str, bool]:
    """Return (national digits, had_country_code). Raises NumberError for other countries."""
    if compact.startswith("+"):
        rest = compact[1:]
        if not rest.startswith("86"):
            raise _refuse(text, "only Chinese (+86) numbers are accepted")
        return rest[2:], True
    if compact.startswith("00"):
        if not compact.startswith("0086"):
            raise _refuse(text, "only Chinese (0086) numbers are accepted")
        return compact[4:], True
    return compact, False


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
    if not isinstance(text, str) or not text.strip():
        raise _refuse(text, "empty 400 number")
    compact = _clean(text)
    digits, _ = _strip_country(text, compact)
    if not digits.isdecimal() or not digits.isascii():
        raise _refuse(text, "a 400 number may contain only digits, spaces and dashes")
    if not digits.startswith("400"):
        raise _refuse(text, "400 numbers start with 400")
    if len(digits) != 10:
        raise _refuse(text, f"400 numbers have 10 digits (got {len(digits)})")
    prefix = digits[:4]
    if prefix not in _HOTLINE_RANGES:
        allowed = ", ".join(sorted(_HOTLINE_RANGES)[:-1]) + " or " + sorted(_HOTLINE_RANGES)[-1]
        raise _refuse(text, f"400 numbers start with {allowed} (got prefix {prefix})")
    carrier, note = _HOTLINE_RANGES[prefix]
    return HotlineNumber(number=digits, carrier=carrier, range_note=note)


# --------------------------------------------------------------------------- destinations


class NumberKind(StrEnum):
    LANDLINE = "landline"
    MOBILE = "mobile"


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


_LENGTH_RULE = "a landline is 0 + area code + 7 or 8 digits, a mobile 11 digits"
_MOBILE_NSN = re.compile(r"1[3-9]\d{9}")
_TWO_DIGIT_AREA = re.compile(r"(10|2\d)")


def _guess_area_code(nsn: str) -> str:
    """Chinese area codes are 010 and 02x (two digits after 0), all others three."""
    return "0" + (nsn[:2] if _TWO_DIGIT_AREA.match(nsn) else nsn[:3])


def parse_destination(text: str) -> DestinationNumber:
    """Parse and validate a destination number as an operator types it; refuse with a reason.

    Accepted: ``010-62345678``, ``(010) 6234 5678``, ``+86 10 6234 5678``, ``0086-10-62345678``,
    ``13800138000``, ``013800138000`` (mobile as 0 + number, the back-office form), ``+86 138 0013
    8000``, full-width digits and dashes. A domestic landline must carry its area code with the 0.
    """
    if not isinstance(text, str) or not text.strip():
        raise _refuse(text, "empty destination number")
    compact = _clean(text)
    national, international = _strip_country(text, compact)
    if not national:
        raise _refuse(text, "no digits after the country code")
    if not national.isdecimal() or not national.isascii():
        raise _refuse(text, "a phone number may contain only digits, spaces, dashes and brackets")

    had_trunk_zero = national.startswith("0")
    nsn = national[1:] if had_trunk_zero else national
    if nsn.startswith(("400", "800")):
        raise _refuse(text, "a 400 or 800 number cannot be a destination")
    if nsn.startswith("0"):
        raise _refuse(text, "too many leading zeros")
    if len(nsn) < 10:
        raise _refuse(text, f"too short ({len(national)} digits); {_LENGTH_RULE}")
    if len(nsn) > 11:
        raise _refuse(text, f"too long ({len(national)} digits); {_LENGTH_RULE}")

    parsed = phonenumbers.parse("+86" + nsn)
    looks_mobile = len(nsn) == 11 and nsn.startswith("1") and not nsn.startswith("10")
    if not phonenumbers.is_valid_number(parsed):
        if looks_mobile:
            raise _refuse(text, f"{nsn[:3]} is not a Chinese mobile prefix")
        area = _guess_area_code(nsn)
        if describe_region(parsed, valid=True) in ("", "中国"):
            raise _refuse(text, f"{area} is not a Chinese area code")
        raise _refuse(text, f"the local number does not fit area code {area} (wrong length?)")

    kind_type = phonenumbers.number_type(parsed)
    if kind_type in (PhoneNumberType.TOLL_FREE, PhoneNumberType.SHARED_COST):
        raise _refuse(text, "a 400 or 800 number cannot be a destination")
    if kind_type == PhoneNumberType.MOBILE or (
        kind_type == PhoneNumberType.FIXED_LINE_OR_MOBILE and _MOBILE_NSN.fullmatch(nsn)
    ):
        if had_trunk_zero and international:
            raise _refuse(text, "a mobile number has no 0 after +86")
        province, city = region_name(describe_region(parsed))
        return DestinationNumber(nsn, NumberKind.MOBILE, None, province, city)
    if kind_type in (PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        if not had_trunk_zero and not international:
            raise _refuse(
                text, f"write a landline with its area code including the 0 (0{nsn})"
            )
        area_len = phonenumbers.length_of_geographical_area_code(parsed)
        area = "0" + nsn[:area_len] if area_len else _guess_area_code(nsn)
        province, city = region_name(describe_region(parsed))
        return DestinationNumber("0" + nsn, NumberKind.LANDLINE, area, province, city)
    raise _refuse(text, f"not a landline or mobile number (phonenumbers type {kind_type})")


# --------------------------------------------------------------------------- caller IDs

_WITHHELD = frozenset({"anonymous", "unknown", "restricted", "private", "unavailable", "withheld"})
_CALLER_JUNK = re.compile(r"[\s\-.()'\"<>]+")
_CALLER_MAX_DIGITS = 15  # E.164 maximum; anything longer is not a phone number


def normalize_caller(text: str | None) -> str | None:
    """Normalize a caller ID for matching and region lookup at call time; never raises.

    Returns a mobile as 11 digits, a Chinese landline with its leading 0, a foreign number as
    ``+`` and digits, a short/local number (95588, 62345678) as its digits, and None for
    anonymous, withheld, empty or garbage caller IDs. String operations only: it runs per call.
    """
    if not isinstance(text, str):
        return None
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    s = _CALLER_JUNK.sub("", text)
    if not s or s.lower() in _WITHHELD:
        return None
    plus = s.startswith("+")
    digits = s[1:] if plus else s
    if not digits.isdecimal() or not digits.isascii() or len(digits) > _CALLER_MAX_DIGITS:
        return None
    if plus or digits.startswith("00"):
        if not plus:
            digits = digits[2:]
        if not digits.startswith("86"):
            return "+" + digits if digits else None
        national = digits[2:]
    elif digits.startswith("86") and len(digits) >= 11:
        national = digits[2:]  # trunks that send the country code without '+'
    else:
        # Domestic form: 0 + area code + number, 0 + mobile, mobile, or a short number.
        if len(digits) == 12 and digits.startswith("0") and _MOBILE_NSN.fullmatch(digits[1:]):
            return digits[1:]
        return digits
    national = national[1:] if national.startswith("0") else national
    if not national:
        return None
    if (
        _MOBILE_NSN.fullmatch(national)
        or national.startswith(("400", "800", "95", "96"))
        or (national.startswith("1") and len(national) <= 6)  # 10086, 12345: service numbers
    ):
        return national
    return "0" + national


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
    for local in ("62345678", "6234567", "82345678", "2345678"):
        parsed = phonenumbers.parse("+86" + digits[1:] + local)
        if not phonenumbers.is_valid_number(parsed):
            continue
        if phonenumbers.length_of_geographical_area_code(parsed) != len(digits) - 1:
            continue
        province, city = region_name(describe_region(parsed))
        if province or city:
            return AreaCode(digits, province, city)
    raise _refuse(text, f"{digits} is not a Chinese area code")
