"""Whitelist rules R1–R7 (绑定电话白名单): the checklist computed before a destination is approved.

Pure: the caller loads facts from the database into these dataclasses and passes `today` (the
enterprise's local date). The same checklist is shown by `ivr400 whitelist check` and refuses an
approval that is incomplete, listing everything that is missing at once.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ivr400.compliance.names import same_owner
from ivr400.db.enums import REAL_NAME_KINDS, EvidenceKind, Issuer, OwnerKind

#: Media types accepted as "a photo or scan of the original" (R3).
SCAN_MEDIA_TYPES = ("image/", "application/pdf")


@dataclass(frozen=True)
class EnterpriseFacts:
    name: str
    area_code: str
    city: str | None


@dataclass(frozen=True)
class DestinationFacts:
    number: str
    kind: str  # landline | mobile
    area_code: str | None
    city: str | None
    owner_name: str
    owner_kind: str  # company | person


@dataclass(frozen=True)
class EvidenceFacts:
    kind: str
    media_type: str
    attributes: Mapping[str, Any]
    valid_from: date | None = None
    valid_until: date | None = None
    long_term: bool = False
    label: str = ""

    def flag(self, name: str) -> bool:
        return bool(self.attributes.get(name))


@dataclass(frozen=True)
class CheckItem:
    rule: str
    ok: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "ok": self.ok, "message": self.message}


@dataclass(frozen=True)
class Checklist:
    items: tuple[CheckItem, ...]
    valid_from: date | None
    valid_until: date | None
    long_term: bool

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def missing(self) -> list[CheckItem]:
        return [item for item in self.items if not item.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "items": [item.to_dict() for item in self.items],
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "long_term": self.long_term,
        }


def evaluate(
    enterprise: EnterpriseFacts,
    destination: DestinationFacts,
    carrier_allows_mobile: Mapping[str, bool],
    evidence: Sequence[EvidenceFacts],
    today: date,
) -> Checklist:
    """Evaluate R1–R7. `carrier_allows_mobile` maps the carriers of the enterprise's hotlines to R1 policy."""
    items: list[CheckItem] = []
    items.append(_r1(destination, carrier_allows_mobile))
    self_owned = destination.owner_kind == OwnerKind.COMPANY and same_owner(destination.owner_name, enterprise.name)
    authorizations: list[EvidenceFacts] = []
    authorization: CheckItem | None = None
    if not self_owned:
        authorization, used = _r5(evidence) if destination.owner_kind == OwnerKind.PERSON else _r4(evidence)
        authorizations.extend(used)
    items.append(_r2(destination, enterprise, authorization))
    items.append(_r3(destination, evidence))
    if authorization is not None:
        items.append(authorization)
    other_city = _other_city(enterprise, destination)
    if other_city:
        item, used = _r6(evidence)
        items.append(item)
        authorizations.extend(used)
    r7, window = _r7(authorizations, today)
    items.append(r7)
    return Checklist(tuple(items), *window)


def _r1(destination: DestinationFacts, carriers: Mapping[str, bool]) -> CheckItem:
    if destination.kind != "mobile":
        return CheckItem("R1", True, "landline destination")
    if not carriers:
        return CheckItem("R1", False,
                         "mobile destination but the enterprise has no hotline whose carrier could allow it")
    allowing = sorted(c for c, allowed in carriers.items() if allowed)
    if allowing:
        return CheckItem("R1", True, f"mobile destination allowed by carrier policy of {', '.join(allowing)}")
    return CheckItem("R1", False, f"mobile destination not allowed by carrier policy of {', '.join(sorted(carriers))}")


def _r2(destination: DestinationFacts, enterprise: EnterpriseFacts, authorization: CheckItem | None) -> CheckItem:
    """Same registered name as the enterprise, or a different owner covered by R4/R5."""
    if authorization is None:
        return CheckItem("R2", True, f"owner {destination.owner_name!r} is the enterprise itself")
    other = f"owner {destination.owner_name!r} is not {enterprise.name!r} (affiliates count as different owners)"
    if authorization.ok:
        return CheckItem("R2", True, f"{other}; authorized under {authorization.rule}")
    return CheckItem("R2", False, f"{other}: needs the authorization of {authorization.rule}")


def _r3(destination: DestinationFacts, evidence: Sequence[EvidenceFacts]) -> CheckItem:
    problems: list[str] = []
    for ev in evidence:
        if ev.kind not in REAL_NAME_KINDS:
            continue
        why = _real_name_problems(destination, ev)
        if not why:
            return CheckItem("R3", True, f"real-name evidence {ev.label or ev.kind} from {ev.attributes.get('issuer')}")
        problems.append(f"{ev.label or ev.kind}: {'; '.join(why)}")
    if not problems:
        return CheckItem(
            "R3", False,
            "missing real-name evidence: a bill, invoice, acceptance form or certificate issued by "
            "Telecom, Unicom or Mobile showing the full number and its owner",
        )
    return CheckItem("R3", False, "real-name evidence not acceptable: " + " | ".join(problems))


def _real_name_problems(destination: DestinationFacts, ev: EvidenceFacts) -> list[str]:
    why: list[str] = []
    if ev.attributes.get("issuer") not in {i.value for i in Issuer}:
        why.append("not issued by Telecom, Unicom or Mobile (set --issuer)")
    if not ev.flag("shows_number"):
        why.append("does not show the full number")
    if not ev.flag("shows_owner"):
        why.append("does not show the owner")
    shown_owner = ev.attributes.get("owner_name")
    if shown_owner and not same_owner(str(shown_owner), destination.owner_name):
        why.append(f"owner on the document {shown_owner!r} is not {destination.owner_name!r}")
    if not ev.media_type.startswith(SCAN_MEDIA_TYPES):
        why.append(f"not a photo or scan (media type {ev.media_type})")
    return why


def _r4(evidence: Sequence[EvidenceFacts]) -> tuple[CheckItem, list[EvidenceFacts]]:
    letters = [ev for ev in evidence if ev.kind == EvidenceKind.AUTHORIZATION_LETTER]
    problems: list[str] = []
    for ev in letters:
        why = []
        if not ev.flag("sealed_by_owner"):
            why.append("not sealed by the owner company")
        if not ev.flag("sealed_by_enterprise"):
            why.append("not sealed by the enterprise")
        if not str(ev.attributes.get("relationship") or "").strip():
            why.append("does not state the relationship between the companies")
        if not why:
            return CheckItem("R4", True, f"authorization letter {ev.label} sealed by both companies"), [ev]
        problems.append(f"{ev.label or ev.kind}: {'; '.join(why)}")
    if not letters:
        return CheckItem("R4", False, "missing authorization letter from the owner company, sealed by both"), []
    return CheckItem("R4", False, "authorization letter not acceptable: " + " | ".join(problems)), []


def _r5(evidence: Sequence[EvidenceFacts]) -> tuple[CheckItem, list[EvidenceFacts]]:
    missing: list[str] = []
    letter = None
    for ev in evidence:
        if ev.kind != EvidenceKind.AUTHORIZATION_LETTER:
            continue
        why = []
        if not ev.flag("signed_by_person"):
            why.append("not signed by the person")
        if not ev.flag("sealed_by_enterprise"):
            why.append("not sealed by the enterprise")
        if not str(ev.attributes.get("relationship") or "").strip():
            why.append("does not state the person's relation to the enterprise")
        if not why:
            letter = ev
            break
        missing.append(f"{ev.label or ev.kind}: {'; '.join(why)}")
    if letter is None and not missing:
        missing.append("missing authorization letter signed by the person and sealed by the enterprise")
    ids = [ev for ev in evidence if ev.kind == EvidenceKind.ID_DOCUMENT]
    if not ids:
        missing.append("missing the person's ID document")
    if missing:
        return CheckItem("R5", False, " | ".join(missing)), []
    assert letter is not None
    return CheckItem("R5", True, f"personal authorization letter {letter.label} and ID document"), [letter, ids[0]]


def _other_city(enterprise: EnterpriseFacts, destination: DestinationFacts) -> bool:
    """Landlines compare area codes; mobiles compare the prefix's city. Unknown region counts as other."""
    if destination.kind == "landline" and destination.area_code:
        return destination.area_code != enterprise.area_code
    if destination.city and enterprise.city:
        return destination.city != enterprise.city
    return True


def _r6(evidence: Sequence[EvidenceFacts]) -> tuple[CheckItem, list[EvidenceFacts]]:
    licences = [ev for ev in evidence if ev.kind == EvidenceKind.BRANCH_LICENCE]
    leases = [ev for ev in evidence if ev.kind == EvidenceKind.OFFICE_LEASE]
    missing = []
    if not licences:
        missing.append("branch business licence")
    if not leases:
        missing.append("office lease")
    if missing:
        return CheckItem("R6", False, "destination is in another city: missing " + " and ".join(missing)), []
    return CheckItem("R6", True, "local branch proven by business licence and office lease"), [licences[0], leases[0]]


def _r7(authorizations: Sequence[EvidenceFacts], today: date) -> tuple[CheckItem, tuple[date | None, date | None,
                                                                                        bool]]:
    """The destination is valid while every authorization it relies on is valid: the intersection."""
    if not authorizations:
        return CheckItem("R7", True, "no authorization needed: valid long-term"), (None, None, True)
    undated = [ev.label or ev.kind for ev in authorizations if ev.valid_until is None and not ev.long_term]
    if undated:
        missing = "validity period missing (give --valid-until or --long-term) on " + ", ".join(undated)
        return CheckItem("R7", False, missing), (None, None, False)
    starts = [ev.valid_from for ev in authorizations if ev.valid_from]
    ends = [ev.valid_until for ev in authorizations if ev.valid_until and not ev.long_term]
    start = max(starts) if starts else None
    end = min(ends) if ends else None
    if start and end and start > end:
        return CheckItem("R7", False, f"validity periods do not overlap ({start} > {end})"), (start, end, False)
    if end and end < today:
        return CheckItem("R7", False, f"authorization expired on {end}"), (start, end, False)
    if end is None:
        return CheckItem("R7", True,
                         "authorization valid long-term" + (f" from {start}" if start else "")), (start, None, True)
    return CheckItem("R7", True, f"authorization valid {start or 'now'} to {end}"), (start, end, False)
