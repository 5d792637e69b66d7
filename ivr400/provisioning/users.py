"""Back-office accounts (后台账号): operators of one enterprise and platform admins.

Passwords are hashed with Argon2id (pwdlib). A login that fails ``MAX_FAILED_LOGINS`` times in a row locks
the account for ``LOCKOUT`` (a success resets the counter); a disabled account never logs in. Every
change is written to the audit trail (``ivr400.provisioning.audit``) in the caller's transaction.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pwdlib import PasswordHash
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Enterprise, WebSession, WebUser
from ivr400.provisioning import audit
from ivr400.provisioning.errors import ProvisioningError

ROLES = ("admin", "operator")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}")

_hasher = PasswordHash.recommended()
#: Verified against when the user does not exist, so an unknown name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("ivr400-no-such-user")


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ProvisioningError("password", f"at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ProvisioningError("password", f"at most {MAX_PASSWORD_LENGTH} characters")
    return password


def check_username(username: str) -> str:
    name = username.strip()
    if not _USERNAME.fullmatch(name):
        raise ProvisioningError("username",
                                "2-64 characters: letters, digits, _ . @ - (starting with a letter or digit)")
    return name


def add_user(session: Session, username: str, password: str, *, role: str, enterprise: Enterprise | None,
             now: datetime, actor: str) -> WebUser:
    """An operator needs an enterprise; an admin must have none."""
    name = check_username(username)
    if role not in ROLES:
        raise ProvisioningError("role", f"{role!r} is not admin or operator")
    if role == "operator" and enterprise is None:
        raise ProvisioningError("enterprise", "an operator belongs to one enterprise (--enterprise)")
    if role == "admin" and enterprise is not None:
        raise ProvisioningError("enterprise", "an admin sees every enterprise; give no --enterprise")
    check_password(password)
    if session.scalar(select(WebUser.id).where(WebUser.username == name)) is not None:
        raise ProvisioningError("username", f"{name} already exists")
    user = WebUser(username=name, password_hash=_hasher.hash(password), role=role,
                   enterprise_id=enterprise.id if enterprise else None, disabled=False, failed_logins=0,
                   created_at=now, password_changed_at=now)
    session.add(user)
    session.flush()
    audit.record(session, "user_add", now=now, actor=actor, enterprise_id=user.enterprise_id,
                 detail={"username": name, "role": role})
    return user


def find_user(session: Session, username: str, field: str = "username") -> WebUser:
    user = session.scalar(select(WebUser).where(WebUser.username == username.strip()))
    if user is None:
        raise ProvisioningError(field, f"no user {username.strip()!r}")
    return user


def revoke_sessions(session: Session, user: WebUser, now: datetime) -> int:
    rows = list(session.scalars(select(WebSession).where(WebSession.user_id == user.id,
                                                         WebSession.revoked_at.is_(None))))
    for row in rows:
        row.revoked_at = now
    return len(rows)


def set_disabled(session: Session, user: WebUser, disabled: bool, *, now: datetime, actor: str) -> WebUser:
    """Disabling also ends every open session of the account at once."""
    before = user.disabled
    user.disabled = disabled
    if disabled:
        revoke_sessions(session, user, now)
    else:
        user.failed_logins = 0
        user.locked_until = None
    audit.record(session, "user_disable" if disabled else "user_enable", now=now, actor=actor,
                 enterprise_id=user.enterprise_id,
                 detail={"username": user.username, "before": {"disabled": before}, "after": {"disabled": disabled}})
    session.flush()
    return user


def set_password(session: Session, user: WebUser, password: str, *, now: datetime, actor: str) -> WebUser:
    """New hash, lockout cleared, every open session ended (the new password is needed again)."""
    check_password(password)
    user.password_hash = _hasher.hash(password)
    user.password_changed_at = now
    user.failed_logins = 0
    user.locked_until = None
    revoke_sessions(session, user, now)
    audit.record(session, "user_password", now=now, actor=actor, enterprise_id=user.enterprise_id,
                 detail={"username": user.username})
    session.flush()
    return user


def verify_password(user: WebUser, password: str) -> bool:
    """Whether ``password`` is the account's (no counter, no lockout: for an already signed-in account)."""
    return _hasher.verify(password, user.password_hash)


@dataclass(frozen=True)
class LoginResult:
    """``user`` on success; otherwise ``reason``: ``bad_credentials``, ``locked`` or ``disabled``."""

    user: WebUser | None
    reason: str | None = None
    locked_until: datetime | None = None


def authenticate(session: Session, username: str, password: str, *, now: datetime) -> LoginResult:
    """Check a login and keep the failure counter; the caller commits (failures count even when refused)."""
    user = session.scalar(select(WebUser).where(WebUser.username == username.strip()))
    if user is None:
        _hasher.verify(password, _DUMMY_HASH)
        return LoginResult(None, "bad_credentials")
    if user.locked_until is not None and now < user.locked_until:
        return LoginResult(None, "locked", user.locked_until)
    valid, new_hash = _hasher.verify_and_update(password, user.password_hash)
    if not valid:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            audit.record(session, "user_locked", now=now, actor=user.username, enterprise_id=user.enterprise_id,
                         detail={"username": user.username, "until": user.locked_until.isoformat()})
            return LoginResult(None, "locked", user.locked_until)
        return LoginResult(None, "bad_credentials")
    if user.disabled:
        return LoginResult(None, "disabled")
    user.failed_logins = 0
    user.locked_until = None
    if new_hash is not None:
        user.password_hash = new_hash
    return LoginResult(user)


def list_users(session: Session, enterprise: Enterprise | None = None) -> list[WebUser]:
    stmt = select(WebUser).order_by(WebUser.id)
    if enterprise is not None:
        stmt = stmt.where(WebUser.enterprise_id == enterprise.id)
    return list(session.scalars(stmt))


DEMO_OPERATOR = "demo"


def ensure_demo_operator(session: Session, enterprise: Enterprise, *, now: datetime, actor: str) -> str | None:
    """The demo's operator account of ``enterprise``: created with a generated password, returned once.

    None when the account already exists (its password was printed when it was made; never a fixed default).
    """
    if session.scalar(select(WebUser.id).where(WebUser.username == DEMO_OPERATOR)) is not None:
        return None
    password = secrets.token_urlsafe(12)
    add_user(session, DEMO_OPERATOR, password, role="operator", enterprise=enterprise, now=now, actor=actor)
    return password
