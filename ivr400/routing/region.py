"""Caller region (来电地区) and region rules (智能呼转 by province/city).

The region of a normalized caller number comes from, in order:

1. the override table (:class:`~ivr400.routing.model.RegionOverride`), longest matching prefix first;
2. the ``phonenumbers`` geocoder in ``zh`` (offline): landlines by area code, mobiles by their 7-digit
   prefix (号段), shortened by ``ivr400.numbers.region_name`` to 北京 / 广东+深圳;
3. nothing: foreign numbers, service numbers (95588, 10086), 400/800 numbers and local numbers sent
   without an area code have no region.

Names are the short Chinese forms (北京, 上海, 广东/深圳), the same forms the rules are written in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import phonenumbers
from phonenumbers import PhoneNumberType

from ivr400.numbers import describe_region, region_name
from ivr400.routing.model import RegionOverride, RegionRule

__all__ = ["CallerRegion", "caller_region", "geocode", "match_region_rule"]

RegionSource = Literal["override", "geocoder", "none"]

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_LANDLINE = re.compile(r"0[1-9][0-9]{8,10}")
_GEOGRAPHIC = frozenset(
    {PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


@dataclass(frozen=True, slots=True)
class CallerRegion:
    province: str | None
    city: str | None
    source: RegionSource

    def describe(self) -> str:
        if self.province is None:
            return "caller region unknown"
        where = self.province if self.city in (None, self.province) else f"{self.province}/{self.city}"
        return f"caller region {where} ({self.source})"


NO_REGION = CallerRegion(None, None, "none")


@lru_cache(maxsize=65536)
def geocode(number: str) -> tuple[str | None, str | None]:
    """(province, city) of a normalized Chinese landline (``0`` + area code + number) or mobile.

    Only numbers phonenumbers holds valid and geographic get a region; anything else gives (None, None).
    Cached: the geocoder's answer for a number never changes within a process.
    """
    if _MOBILE.fullmatch(number):
        nsn = number
    elif _LANDLINE.fullmatch(number):
        nsn = number[1:]
    else:
        return None, None
    try:
        parsed = phonenumbers.parse("+86" + nsn)
        if phonenumbers.number_type(parsed) not in _GEOGRAPHIC:
            return None, None
        return region_name(describe_region(parsed))
    except phonenumbers.NumberParseException:
        return None, None


def _override(number: str, overrides: Mapping[str, RegionOverride]) -> RegionOverride | None:
    if not overrides:
        return None
    for length in range(len(number), 0, -1):
        hit = overrides.get(number[:length])
        if hit is not None:
            return hit
    return None


def caller_region(number: str | None,
                  overrides: Mapping[str, RegionOverride] | Iterable[RegionOverride] = ()) -> CallerRegion:
    """Region of a normalized caller number (as ``normalize_caller``/``parse_caller`` produce it).

    ``overrides`` is a prefix → override mapping (``HotlineRouting.region_override_index``) or an
    iterable of overrides. Never raises.
    """
    if not number:
        return NO_REGION
    index = overrides if isinstance(overrides, Mapping) else {o.prefix: o for o in overrides}
    hit = _override(number, index)
    if hit is not None:
        return CallerRegion(hit.province, hit.city, "override")
    province, city = geocode(number)
    if province is None:
        return NO_REGION
    return CallerRegion(province, city, "geocoder")


def match_region_rule(rules: Iterable[RegionRule], region: CallerRegion) -> RegionRule | None:
    """First rule matching the region, tried by ``(priority, city rules first, id)``."""
    if region.province is None:
        return None
    for rule in sorted(rules, key=lambda r: r.sort_key):
        if rule.matches(region.province, region.city):
            return rule
    return None
