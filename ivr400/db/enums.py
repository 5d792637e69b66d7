"""Enumerations stored as strings (portable across SQLite and PostgreSQL)."""
from __future__ import annotations

from enum import StrEnum


class OwnerKind(StrEnum):
    COMPANY = "company"
    PERSON = "person"


class WhitelistStatus(StrEnum):
    """白名单状态 — only APPROVED (within validity) is routable."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


class EvidenceKind(StrEnum):
    """实名材料 and the further documents of R3–R6."""

    CARRIER_BILL = "carrier_bill"
    INVOICE = "invoice"
    ACCEPTANCE_FORM = "acceptance_form"
    CARRIER_CERTIFICATE = "carrier_certificate"
    AUTHORIZATION_LETTER = "authorization_letter"
    ID_DOCUMENT = "id_document"
    BRANCH_LICENCE = "branch_licence"
    OFFICE_LEASE = "office_lease"


REAL_NAME_KINDS = frozenset(
    {EvidenceKind.CARRIER_BILL, EvidenceKind.INVOICE, EvidenceKind.ACCEPTANCE_FORM, EvidenceKind.CARRIER_CERTIFICATE}
)


class HuntStrategy(StrEnum):
    SEQUENTIAL = "sequential"
    SIMULTANEOUS = "simultaneous"  # 全通达
    ROUND_ROBIN = "round_robin"
    #: 按比例分配: the first seat drawn by seat weight, the rest in hunt order. Stored as ``hunt_strategy =
    #: 'sequential'`` plus ``hunt_weighted`` (migration 0012); the static plan hunts it sequentially.
    WEIGHTED = "weighted"


class ToneKind(StrEnum):
    WELCOME = "welcome"
    RINGBACK = "ringback"  # 彩铃
    PROMPT = "prompt"


class ToneStatus(StrEnum):
    """彩铃审核 — carriers require a ringback tone to name the registered company: only APPROVED is deployed."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Issuer(StrEnum):
    """Carriers whose bills count as real-name evidence (R3); Tietong is now China Mobile."""

    TELECOM = "telecom"
    UNICOM = "unicom"
    MOBILE = "mobile"
    TIETONG = "tietong"


class NodeState(StrEnum):
    """集群节点状态 — ACTIVE takes new calls; DRAINING finishes the calls it has and gets no new ones."""

    ACTIVE = "active"
    DRAINING = "draining"


class FaxMode(StrEnum):
    """传真: how a hotline takes faxes. OFF: never; DETECT: the call is answered and res_fax listens for a fax
    machine's CNG tone or T.38 re-INVITE while the welcome and the menu play; KEY: a top-menu key (``fax_key``)."""

    OFF = "off"
    DETECT = "detect"
    KEY = "key"
