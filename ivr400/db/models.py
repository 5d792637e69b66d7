"""Typed ORM models: enterprises, 400 hotlines, whitelisted destinations and what routes to them.

The migrations in `alembic/versions` are the source of truth for the schema (including the triggers that
enforce the whitelist); these models mirror them for the application.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ivr400.db.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class Enterprise(Base):
    """企业 — the registered holder of one or more 400 numbers."""

    __tablename__ = "enterprise"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    area_code: Mapped[str] = mapped_column(String(5))
    province: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    hotlines: Mapped[list[Hotline]] = relationship(back_populates="enterprise")
    destinations: Mapped[list[Destination]] = relationship(back_populates="enterprise")


class CarrierPolicy(Base):
    """Per-carrier rule R1: whether a mobile may be bound as a destination."""

    __tablename__ = "carrier_policy"

    carrier: Mapped[str] = mapped_column(String(16), primary_key=True)
    allow_mobile: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)


class Trunk(Base):
    """Outbound trunk: how a destination number becomes an Asterisk dial string."""

    __tablename__ = "trunk"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    dial_template: Mapped[str] = mapped_column(String(255))


class Tone(Base):
    """Audio file: welcome greeting, ringback tone (彩铃) or prompt, stored 8 kHz mono by content hash."""

    __tablename__ = "tone"
    __table_args__ = (UniqueConstraint("enterprise_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    original_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str] = mapped_column(String(255))
    duration_s: Mapped[float] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # 审核 (migration 0010): pending | approved | rejected; only approved tones are deployed (ivr400.tree).
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enterprise: Mapped[Enterprise | None] = relationship()


class Hotline(Base):
    """400电话 — a nationwide shared-cost number forwarding to the enterprise's bound destinations."""

    __tablename__ = "hotline"
    __table_args__ = (CheckConstraint("max_bound BETWEEN 1 AND 200", name="ck_hotline_max_bound"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(10), unique=True)
    carrier: Mapped[str] = mapped_column(String(16))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    name: Mapped[str | None] = mapped_column(String(100))
    max_bound: Mapped[int] = mapped_column(Integer, default=20)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    hunt_strategy: Mapped[str] = mapped_column(String(16), default="sequential")
    max_attempts: Mapped[int] = mapped_column(Integer, default=0)
    welcome_tone_id: Mapped[int | None] = mapped_column(ForeignKey("tone.id"))
    ringback_tone_id: Mapped[int | None] = mapped_column(ForeignKey("tone.id"))
    trunk_id: Mapped[int | None] = mapped_column(ForeignKey("trunk.id"))
    menu_timeout_s: Mapped[int] = mapped_column(Integer, default=5)
    menu_retries: Mapped[int] = mapped_column(Integer, default=3)
    voicemail: Mapped[bool] = mapped_column(Boolean, default=True)
    record_calls: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Call blocking (呼叫阻截) and the action outside every time rule (0003).
    block_mode: Mapped[str] = mapped_column(String(16), default="off")
    anonymous_policy: Mapped[str] = mapped_column(String(8), default="allow")
    refuse_with: Mapped[str] = mapped_column(String(8), default="busy")
    refuse_prompt: Mapped[str | None] = mapped_column(String(120))
    after_hours_kind: Mapped[str] = mapped_column(String(16), default="voicemail")
    after_hours_department_id: Mapped[int | None] = mapped_column(Integer)
    after_hours_prompt: Mapped[str | None] = mapped_column(String(120))
    # Call-path features (0012): survey (满意度评价), caller cap (呼叫限制), weighted split (按比例分配).
    survey_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    survey_prompt: Mapped[str | None] = mapped_column(String(120))
    caller_cap_per_month: Mapped[int] = mapped_column(Integer, default=0)
    hunt_weighted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Fax (传真, 0015): off | detect (CNG / T.38 detection) | key (top-menu key fax_key goes to ReceiveFAX).
    fax_mode: Mapped[str] = mapped_column(String(8), default="off", server_default="off")
    fax_key: Mapped[str | None] = mapped_column(String(1))

    enterprise: Mapped[Enterprise] = relationship(back_populates="hotlines")
    departments: Mapped[list[Department]] = relationship(back_populates="hotline", order_by="Department.id")
    seats: Mapped[list[Seat]] = relationship(back_populates="hotline", order_by="Seat.position")
    welcome_tone: Mapped[Tone | None] = relationship(foreign_keys=[welcome_tone_id])
    ringback_tone: Mapped[Tone | None] = relationship(foreign_keys=[ringback_tone_id])
    trunk: Mapped[Trunk | None] = relationship()


class Destination(Base):
    """目的码 — a number a hotline may forward to once it is on the whitelist (绑定电话白名单)."""

    __tablename__ = "destination"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "number"),
        CheckConstraint(
            "status <> 'approved' OR (approved_at IS NOT NULL AND approved_by IS NOT NULL)",
            name="ck_destination_approval_recorded",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    number: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    area_code: Mapped[str | None] = mapped_column(String(5))
    province: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(20))
    owner_name: Mapped[str] = mapped_column(String(200))
    owner_kind: Mapped[str] = mapped_column(String(16))
    relationship_note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    long_term: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    trunk_id: Mapped[int | None] = mapped_column(ForeignKey("trunk.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    enterprise: Mapped[Enterprise] = relationship(back_populates="destinations")
    evidence: Mapped[list[Evidence]] = relationship(back_populates="destination", order_by="Evidence.id")
    seats: Mapped[list[Seat]] = relationship(back_populates="destination")
    trunk: Mapped[Trunk | None] = relationship()

    def routable_at(self, now: datetime) -> bool:
        """Approved and inside its validity window (R7) at `now`."""
        return (
            self.status == "approved"
            and (self.valid_from is None or self.valid_from <= now)
            and (self.valid_until is None or now < self.valid_until)
        )


class Evidence(Base):
    """A document proving a destination's real-name ownership or authorization (R3–R6)."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    destination_id: Mapped[int] = mapped_column(ForeignKey("destination.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    original_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str] = mapped_column(String(255))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    long_term: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    destination: Mapped[Destination] = relationship(back_populates="evidence")


class WhitelistEvent(Base):
    """Audit trail of every whitelist decision: who, what, when, why.

    Every destination insert and status change gets its row from a database trigger (actor
    ``database``), which the application completes with its actor, reason and detail; see migration 0004.
    """

    __tablename__ = "whitelist_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    destination_id: Mapped[int | None] = mapped_column(ForeignKey("destination.id", ondelete="SET NULL"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A status change, written by the database's own trigger (0004); None for other decisions.
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))


class Department(Base):
    """部门 — an IVR menu key with its own seats, hunt order and ringback tone; may hold sub-menus."""

    __tablename__ = "department"
    __table_args__ = (
        UniqueConstraint("hotline_id", "parent_id", "key"),
        CheckConstraint("key IN ('0','1','2','3','4','5','6','7','8','9')", name="ck_department_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline_id: Mapped[int] = mapped_column(ForeignKey("hotline.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(1))
    name: Mapped[str] = mapped_column(String(100))
    hunt_strategy: Mapped[str] = mapped_column(String(16), default="sequential")
    max_attempts: Mapped[int] = mapped_column(Integer, default=0)
    ringback_tone_id: Mapped[int | None] = mapped_column(ForeignKey("tone.id"))
    prompt_tone_id: Mapped[int | None] = mapped_column(ForeignKey("tone.id"))
    #: 按比例分配 (0012): a sequential hunt whose first seat the controller draws by seat weight.
    hunt_weighted: Mapped[bool] = mapped_column(Boolean, default=False)

    hotline: Mapped[Hotline] = relationship(back_populates="departments")
    parent: Mapped[Department | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Department]] = relationship(back_populates="parent", order_by="Department.key")
    seats: Mapped[list[Seat]] = relationship(back_populates="department", order_by="Seat.position")
    ringback_tone: Mapped[Tone | None] = relationship(foreign_keys=[ringback_tone_id])
    prompt_tone: Mapped[Tone | None] = relationship(foreign_keys=[prompt_tone_id])


class Seat(Base):
    """坐席 — a destination bound to a hotline (switchboard when department is empty) at a hunt position."""

    __tablename__ = "seat"
    __table_args__ = (
        UniqueConstraint("hotline_id", "department_id", "destination_id"),
        CheckConstraint("ring_timeout_s BETWEEN 5 AND 120", name="ck_seat_ring_timeout"),
        CheckConstraint("position >= 1", name="ck_seat_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline_id: Mapped[int] = mapped_column(ForeignKey("hotline.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(ForeignKey("destination.id"))
    position: Mapped[int] = mapped_column(Integer)
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=15)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: 按比例分配 (0012): relative share of first rings in a weighted hunt (0 = never first), 0-1000.
    weight: Mapped[int] = mapped_column(Integer, default=1)

    hotline: Mapped[Hotline] = relationship(back_populates="seats")
    department: Mapped[Department | None] = relationship(back_populates="seats")
    destination: Mapped[Destination] = relationship(back_populates="seats")


class Voicemail(Base):
    """语音留言 — a caller's message recorded when every seat failed; the file lives in Asterisk's spool."""

    __tablename__ = "voicemail"

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline_id: Mapped[int | None] = mapped_column(ForeignKey("hotline.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="SET NULL"))
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    caller: Mapped[str | None] = mapped_column(String(32))
    file_path: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heard: Mapped[bool] = mapped_column(Boolean, default=False)

    hotline: Mapped[Hotline | None] = relationship()


class TimeRule(Base):
    """智能呼转 by time: day kinds / weekdays and hour segments choosing an action (first by priority)."""

    __tablename__ = "time_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline_id: Mapped[int] = mapped_column(ForeignKey("hotline.id", ondelete="CASCADE"))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    name: Mapped[str | None] = mapped_column(String(100))
    days: Mapped[list[str]] = mapped_column(JSON, default=list)
    weekdays: Mapped[list[int]] = mapped_column(JSON, default=list)
    segments: Mapped[list[str]] = mapped_column(JSON, default=list)
    action_kind: Mapped[str] = mapped_column(String(16))
    action_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    action_prompt: Mapped[str | None] = mapped_column(String(120))


class RegionRule(Base):
    """来电地区路由: callers from a province (or city) go straight to a department."""

    __tablename__ = "region_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline_id: Mapped[int] = mapped_column(ForeignKey("hotline.id", ondelete="CASCADE"))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    province: Mapped[str] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(20))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))


class RegionOverride(Base):
    """Corrects or completes the geocoder: a number prefix belongs to this province/city."""

    __tablename__ = "region_override"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(20), unique=True)
    province: Mapped[str] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(20))


class BlockEntry(Base):
    """呼叫阻截 list entry of a hotline: an exact caller number or a prefix."""

    __tablename__ = "block_entry"
    __table_args__ = (UniqueConstraint("hotline_id", "number", "prefix", name="uq_block_entry"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline_id: Mapped[int] = mapped_column(ForeignKey("hotline.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(String(200))


class CalendarDay(Base):
    """法定节假日 / 调休: a national day (enterprise empty, seeded from chinesecalendar) or an enterprise override."""

    __tablename__ = "calendar_day"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(64))


class CalendarSeed(Base):
    """A year of the national calendar seeded from chinesecalendar (source auto, command or existing); years
    listed here are never seeded automatically again (ivr400.provisioning.calendar.seed_known_years)."""

    __tablename__ = "calendar_seed"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(16))
    days: Mapped[int] = mapped_column(Integer)
    seeded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HuntRotation(Base):
    """Round-robin position per hotline department, kept in the database so controllers stay stateless."""

    __tablename__ = "hunt_rotation"

    hotline_id: Mapped[int] = mapped_column(ForeignKey("hotline.id", ondelete="CASCADE"), primary_key=True)
    department_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class CallRecord(Base):
    """通话详单 — one row per call, from Asterisk's own CDR (AMI Cdr events, backfilled from Master.csv)."""

    __tablename__ = "call_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    linkedid: Mapped[str | None] = mapped_column(String(64))
    hotline: Mapped[str | None] = mapped_column(String(10))
    caller: Mapped[str | None] = mapped_column(String(32))
    caller_province: Mapped[str | None] = mapped_column(String(20))
    caller_city: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[int | None] = mapped_column(Integer)
    billsec: Mapped[int | None] = mapped_column(Integer)
    key_path: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(32))
    seat: Mapped[str | None] = mapped_column(String(255))
    disposition: Mapped[str] = mapped_column(String(16))
    recording_path: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(8))
    #: controller | static | mixed (ivr400.cdr.cdr_model.DECIDED_BY); None: unknown or nobody had to decide.
    decided_by: Mapped[str | None] = mapped_column(String(16))
    #: The cluster node (集群节点) whose call-record listener stored the call (`cdr listen --node`); None on a
    #: single PBX.
    node: Mapped[str | None] = mapped_column(String(64))
    #: 话费余额: the controller routed the call at a zero balance with the choice ``keep`` (its balance_flag row).
    balance_flagged: Mapped[bool] = mapped_column(Boolean, default=False)


class ConfigGeneration(Base):
    """Bumped by triggers on every routing-relevant table: controllers poll it to drop their cache."""

    __tablename__ = "config_generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
    txid: Mapped[int | None] = mapped_column(BigInteger)


class ConfigChange(Base):
    """One changed row of a routing-relevant table, naming the hotline it may reroute (NULL: any), written by
    triggers (migration 0014); controllers reload only the hotlines named since the last id they applied."""

    __tablename__ = "config_change"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    hotline_id: Mapped[int | None] = mapped_column(Integer)


class WebUser(Base):
    """后台账号 — a back-office login: an enterprise operator, or the platform admin (enterprise empty)."""

    __tablename__ = "web_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id", ondelete="CASCADE"))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    enterprise: Mapped[Enterprise | None] = relationship()


class WebSession(Base):
    """A server-side login session; the cookie carries a random token, the row only its SHA-256."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    client: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[WebUser] = relationship()


class ClusterNode(Base):
    """集群节点 — an Asterisk node behind Kamailio's dispatcher: where it listens, and whether it takes new calls."""

    __tablename__ = "cluster_node"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    sip_host: Mapped[str] = mapped_column(String(64))
    sip_port: Mapped[int] = mapped_column(Integer)
    #: active | draining (see ivr400.db.enums.NodeState)
    state: Mapped[str] = mapped_column(String(16), default="active")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Fax(Base):
    """传真 — a fax a hotline received: res_fax's outcome and the TIFF in Asterisk's spool."""

    __tablename__ = "fax"

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline_id: Mapped[int | None] = mapped_column(ForeignKey("hotline.id", ondelete="SET NULL"))
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    caller: Mapped[str | None] = mapped_column(String(32))
    #: FAXOPT(status): SUCCESS | FAILED | ...
    status: Mapped[str] = mapped_column(String(16))
    pages: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(120))
    remote_station: Mapped[str | None] = mapped_column(String(40))
    file_path: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)

    hotline: Mapped[Hotline | None] = relationship()


class SurveyResponse(Base):
    """满意度评价 — the caller's score (1-5) of the seat after the seat hung up first; one per call."""

    __tablename__ = "survey_response"

    id: Mapped[int] = mapped_column(primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    hotline: Mapped[str] = mapped_column(String(10))
    #: The seat as the call record names it (``PJSIP/<dialled number>``), None if unknown.
    seat: Mapped[str | None] = mapped_column(String(255))
    score: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ClickToCallSetting(Base):
    """WEB呼叫 settings of one hotline: the public token, allowed page origins, the caller ID the visitor sees."""

    __tablename__ = "clicktocall_setting"

    hotline_id: Mapped[int] = mapped_column(ForeignKey("hotline.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    #: Space-separated ``scheme://host[:port]`` origins allowed to post the form ("" = any origin).
    origins: Mapped[str] = mapped_column(Text, default="")
    caller_id: Mapped[str | None] = mapped_column(String(20))
    max_concurrent: Mapped[int] = mapped_column(Integer, default=2)

    hotline: Mapped[Hotline] = relationship()


class ClickToCallAttempt(Base):
    """One WEB呼叫 request (web visitor or operator callback) and what became of it (accepted or why refused)."""

    __tablename__ = "clicktocall_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(32))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    channel_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the originated channel ended (its CDR arrived), None while an accepted callback is in flight.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The originated channel's CDR disposition (answered, no answer, busy, failed, congestion), lowercase.
    final: Mapped[str | None] = mapped_column(String(16))


class HotlineAccount(Base):
    """Per-hotline report and billing settings (报表与话费设置): service-level threshold T and the short-abandon
    cut A (seconds), the tariff (fen per started minute of answered forwarded time), the balance reminder
    threshold (fen) and what happens at zero balance (`keep` routing and flag, or `prompt` 余额不足)."""

    __tablename__ = "hotline_account"

    hotline_id: Mapped[int] = mapped_column(ForeignKey("hotline.id", ondelete="CASCADE"), primary_key=True)
    service_level_s: Mapped[int] = mapped_column(Integer, default=20)
    abandon_ignore_s: Mapped[int] = mapped_column(Integer, default=5)
    tariff_fen_per_min: Mapped[int] = mapped_column(Integer, default=0)
    reminder_fen: Mapped[int] = mapped_column(Integer, default=0)
    zero_balance: Mapped[str] = mapped_column(String(8), default="keep")


class BalanceTopup(Base):
    """A top-up of a hotline's balance (充值), in fen."""

    __tablename__ = "balance_topup"

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline_id: Mapped[int] = mapped_column(ForeignKey("hotline.id", ondelete="CASCADE"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(200))


class CallFact(Base):
    """One row per inbound call (通话事实), derived from its call record; what the reports count."""

    __tablename__ = "call_fact"

    id: Mapped[int] = mapped_column(primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    hotline: Mapped[str | None] = mapped_column(String(10))
    caller: Mapped[str | None] = mapped_column(String(32))
    caller_province: Mapped[str | None] = mapped_column(String(20))
    caller_city: Mapped[str | None] = mapped_column(String(20))
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ivr_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_rung_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disposition: Mapped[str] = mapped_column(String(16))
    abandoned_in: Mapped[str | None] = mapped_column(String(8))
    seat: Mapped[str | None] = mapped_column(String(255))
    seats_rung: Mapped[str | None] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(String(32))
    key_path: Mapped[str | None] = mapped_column(String(64))
    wait_s: Mapped[float | None] = mapped_column()
    talk_s: Mapped[float | None] = mapped_column()
    billed_min: Mapped[int] = mapped_column(Integer, default=0)
    charge_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    survey_score: Mapped[int | None] = mapped_column(Integer)
    #: Arrival of the same caller's previous counted call to the same hotline (ties by uniqueid); None for a
    #: caller's first call and for uncounted facts (no hotline or caller, ``unknown_number``). Kept by
    #: ivr400.cdr.fact_store; the repeat-callers report reads the calls that have one (``ix_call_fact_repeat``).
    prev_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: 话费余额: routed at a zero balance with the choice ``keep`` (from the controller's balance_flag row).
    balance_flagged: Mapped[bool] = mapped_column(Boolean, default=False)


class BalanceFlag(Base):
    """A call the controller routed at a zero balance with the choice ``keep`` (欠费继续接通), written at call
    entry; the call record writer copies it onto the call's record and fact row."""

    __tablename__ = "balance_flag"

    uniqueid: Mapped[str] = mapped_column(String(64), primary_key=True)
    hotline: Mapped[str] = mapped_column(String(10))
    #: The balance the controller read (fen, at or below 0); None if unknown.
    balance_fen: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CallHour(Base):
    """Hourly roll-up (小时汇总) of call facts per hotline and dimension: dim 'hotline' (key ''), 'department'
    (key = department path, '' = switchboard), 'seat' (key = seat dial string), 'region' (key 'province|city'),
    'dept_region' (key 'department|province|city').
    `hour` is the UTC hour the calls arrived in."""

    __tablename__ = "call_hour"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    hotline: Mapped[str] = mapped_column(String(10), primary_key=True)
    dim: Mapped[str] = mapped_column(String(12), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    offered: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    answered_in_t: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    abandoned_short: Mapped[int] = mapped_column(Integer, default=0)
    abandoned_menu: Mapped[int] = mapped_column(Integer, default=0)
    missed: Mapped[int] = mapped_column(Integer, default=0)
    wait_sum_s: Mapped[float] = mapped_column(default=0.0)
    talk_sum_s: Mapped[float] = mapped_column(default=0.0)
    billed_min: Mapped[int] = mapped_column(Integer, default=0)
    charge_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    survey_sum: Mapped[int] = mapped_column(Integer, default=0)
    survey_count: Mapped[int] = mapped_column(Integer, default=0)


class CallCaller(Base):
    """Per-caller roll-up (来电号码汇总): how many calls a caller made to a hotline in all (dim 'hotline', key
    '') and to each department (dim 'department', key = department path, '' = switchboard), kept current as
    calls end. The repeat-callers report reads it to find its candidates (an upper bound of any range's count)."""

    __tablename__ = "call_caller"

    hotline: Mapped[str] = mapped_column(String(10), primary_key=True)
    dim: Mapped[str] = mapped_column(String(12), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    caller: Mapped[str] = mapped_column(String(32), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)


class CallbackEntry(Base):
    """A missed caller to call back (未接来电回拨): status pending (待回拨), called_back (已回拨) or not_needed
    (无需回拨), with who handled it and when."""

    __tablename__ = "callback_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline: Mapped[str] = mapped_column(String(10))
    caller: Mapped[str] = mapped_column(String(32))
    first_missed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_missed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    missed: Mapped[int] = mapped_column(Integer, default=1)
    last_uniqueid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    handled_by: Mapped[str | None] = mapped_column(String(100))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(200))
