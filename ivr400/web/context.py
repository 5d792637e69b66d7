"""What every request shares: the configuration, one database session, the signed-in principal.

A request gets one SQLAlchemy session (``db``); a handler that changes something calls ``commit()`` once,
after the audit rows are added, so a change and its audit entry land together or not at all. Anything that
escapes the handler rolls the session back.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import Depends, Request
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr400.db.models import WebSession, WebUser
from ivr400.provisioning.clicktocall import Originator
from ivr400.web.scope import NOBODY, Repository, Scope

SESSION_COOKIE = "ivr400_session"
LOGIN_CSRF_COOKIE = "ivr400_login_csrf"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebConfig:
    """``store_root``: the evidence store (content-addressed, see ``ivr400.provisioning.evidence``).
    ``idle_timeout``/``absolute_timeout``: a session ends after this long unused / after login.
    ``secure_cookies``: always mark cookies Secure (else only when the request came over https)."""

    engine: Engine
    store_root: Path
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=12)
    secure_cookies: bool = False
    max_upload_bytes: int = 20 * 1024 * 1024
    #: Where Asterisk's file system is seen from this host (the lab chroot): recordings are stored with
    #: Asterisk's own paths. None: paths are taken as they are.
    asterisk_root: Path | None = None
    login_attempts_per_ip: int = 30
    login_window: timedelta = timedelta(minutes=5)
    now: Callable[[], datetime] = field(default=_utcnow)
    #: WEB呼叫: opens an AMI connection for one callback (``ivr400.pbx.asterisk.ami.Ami.connect``); None:
    #: callbacks are recorded as failed.
    originator: Callable[[], Originator] | None = None


def config(request: Request) -> WebConfig:
    cfg: WebConfig = request.app.state.config
    return cfg


def db(request: Request) -> Iterator[Session]:
    with Session(config(request).engine, expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class Principal:
    """The signed-in account, its session row and the scope it sees.

    ``username``, ``is_admin`` and ``csrf_token`` are plain copies, usable after the request's database
    session has ended (error pages are rendered then)."""

    user: WebUser
    session_row: WebSession
    scope: Scope
    username: str = ""
    is_admin: bool = False
    csrf_token: str = ""

    @classmethod
    def of(cls, row: WebSession, scope: Scope) -> Principal:
        return cls(row.user, row, scope, row.user.username, row.user.role == "admin", row.csrf_token)

    @property
    def actor(self) -> str:
        """How the audit trail names this account: ``web:<username>``."""
        return f"web:{self.username}"


def scope_of(user: WebUser) -> Scope:
    if user.role == "admin" and user.enterprise_id is None:
        return Scope(everything=True)
    if user.role == "operator" and user.enterprise_id is not None:
        return Scope(frozenset({user.enterprise_id}))
    return NOBODY


def load_principal(request: Request, session: Session) -> Principal | None:
    """The principal of the session cookie, or None (no cookie, unknown, revoked, timed out, disabled)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 128:
        return None
    cfg = config(request)
    row = session.scalar(select(WebSession).where(WebSession.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = cfg.now()
    if now - row.created_at > cfg.absolute_timeout or now - row.last_seen_at > cfg.idle_timeout:
        row.revoked_at = now
        session.commit()
        return None
    user = row.user
    if user.disabled:
        return None
    if now - row.last_seen_at > timedelta(seconds=60):  # one write a minute, not one per request
        row.last_seen_at = now
        session.commit()
    return Principal.of(row, scope_of(user))


class LoginRequired(Exception):
    """No valid session: the page redirects to the login form (htmx: HX-Redirect)."""


class AdminRequired(Exception):
    """A platform-admin page asked by an operator: 403."""


def optional_principal(request: Request, session: Session = Depends(db)) -> Principal | None:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = load_principal(request, session)
    request.state.principal = principal
    return principal


def principal(found: Principal | None = Depends(optional_principal)) -> Principal:
    if found is None:
        raise LoginRequired()
    return found


def admin(who: Principal = Depends(principal)) -> Principal:
    if not who.is_admin:
        raise AdminRequired()
    return who


def repository(who: Principal = Depends(principal), session: Session = Depends(db)) -> Repository:
    return Repository(session, who.scope)
