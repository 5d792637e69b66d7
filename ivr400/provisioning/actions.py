"""Rule actions, and the small parsers the rule services share (time and region rules, blocking, calendar).

Actions are written ``menu[:PROMPT]`` (the top menu, with PROMPT instead of the welcome tone),
``department[:PATH]`` (no path: the switchboard), ``voicemail[:PATH]``
(a department's mailbox), ``announcement[:PROMPT]``. A PROMPT is the name of a tone of the enterprise
(played as ``ivr400/tone-<id>``) or an Asterisk sound name such as ``ivr400/ivr400-closed`` (a bare
``ivr400-closed`` names a shipped prompt and is stored in that full form). Each is validated with the
very dataclasses the controller builds at load time (``ivr400.routing.model``); a refusal is a
:class:`ProvisioningError` naming the field.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Department, Hotline, Tone
from ivr400.pbx.asterisk.prompts import tone_sound
from ivr400.provisioning import lookup
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.status import key_path
from ivr400.provisioning.views import describe_action
from ivr400.routing.model import SWITCHBOARD_KEY, Action, ActionKind
from ivr400.validators import has_unsafe_text

__all__ = [
    "ActionSpec",
    "check_priority",
    "model_action",
    "optional_text",
    "parse_action",
    "resolve_prompt",
    "split_values",
]



def split_values(text: str | Iterable[str] | None) -> list[str]:
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    return [i.strip() for i in items if i and i.strip()]


def check_priority(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value <= 2**31 - 1:
        raise ProvisioningError("priority", f"{value!r} is not a 32-bit integer")
    return value


def optional_text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if has_unsafe_text(text):
        raise ProvisioningError(field, "no quotes, backslashes, $ ; ` { } or control characters")
    if len(text) > limit:
        raise ProvisioningError(field, f"at most {limit} characters")
    return text


@dataclass(frozen=True)
class ActionSpec:
    """A parsed action: what the rows store (``department`` None = the switchboard)."""

    kind: ActionKind
    department: Department | None = None
    prompt: str | None = None

    def describe(self) -> str:
        return describe_action(self.kind.value, key_path(self.department) if self.department else None,
                               self.prompt)


def resolve_prompt(session: Session, hotline: Hotline, text: str, field: str) -> str:
    """A tone of the enterprise (or a shared one) by name → its sound; else a validated sound name."""
    name = text.strip()
    for owner in (Tone.enterprise_id == hotline.enterprise_id, Tone.enterprise_id.is_(None)):
        tone_id = session.scalar(select(Tone.id).where(Tone.name == name, owner))
        if tone_id is not None:
            return tone_sound(tone_id)
    try:
        action = Action(ActionKind.ANNOUNCEMENT, prompt=name)
    except ValueError:
        raise ProvisioningError(field, f"{name!r} is neither a tone of this enterprise nor a sound name "
                                "(letters, digits, _ . / -)") from None
    assert action.prompt is not None
    return action.prompt  # the one form: ivr400-closed is stored as ivr400/ivr400-closed


def parse_action(session: Session, hotline: Hotline, text: str, field: str = "action", *,
                 allow_menu: bool = True) -> ActionSpec:
    """``menu[:PROMPT] | department[:PATH] | voicemail[:PATH] | announcement[:PROMPT]`` for ``hotline``."""
    if not isinstance(text, str) or not text.strip():
        raise ProvisioningError(field, "empty action")
    kind_text, _, arg = text.strip().partition(":")
    kinds = [ActionKind.MENU, ActionKind.DEPARTMENT, ActionKind.VOICEMAIL, ActionKind.ANNOUNCEMENT]
    if not allow_menu:
        kinds.remove(ActionKind.MENU)
    try:
        kind = ActionKind(kind_text.strip().lower())
    except ValueError:
        kind = None
    if kind not in kinds:
        allowed = " | ".join(k.value + (":PATH" if k in (ActionKind.DEPARTMENT, ActionKind.VOICEMAIL) else "")
                             + ("[:PROMPT]" if k in (ActionKind.ANNOUNCEMENT, ActionKind.MENU) else "")
                             for k in kinds)
        raise ProvisioningError(field, f"{text!r} is not {allowed}")
    assert kind is not None
    arg = arg.strip()
    if kind in (ActionKind.DEPARTMENT, ActionKind.VOICEMAIL):
        if not arg or arg == SWITCHBOARD_KEY:
            return ActionSpec(kind)
        return ActionSpec(kind, department=lookup.department(session, hotline, arg, field))
    if not arg:
        return ActionSpec(kind)
    return ActionSpec(kind, prompt=resolve_prompt(session, hotline, arg, field))


def model_action(spec: ActionSpec) -> Action:
    department = None
    if spec.kind is ActionKind.DEPARTMENT:
        department = key_path(spec.department) if spec.department else SWITCHBOARD_KEY
    elif spec.kind is ActionKind.VOICEMAIL and spec.department is not None:
        department = key_path(spec.department)
    return Action(spec.kind, department, spec.prompt)
