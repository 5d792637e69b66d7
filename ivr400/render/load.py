"""Database → render model: the hotline tree (:mod:`ivr400.tree`) formatted for the Asterisk templates.

Which seats ring, in which order, for how long and with which ringback tone is decided by the tree
reader, the one the controller maps from too; this module only turns its nodes into the render model's
printable form (names through ``comment_text``, the welcome and sub-menu prompts, music-on-hold classes).

Bad values that slipped into the database past the services (raw SQL) are left out by the tree reader
with a warning (``RenderModel.warnings``), or raise ``RenderValueError`` when ``strict=True``. A dropped
seat can only make the static plan ring fewer numbers, never other ones.
"""
from __future__ import annotations

import gc
from collections.abc import Collection
from datetime import datetime

from sqlalchemy.orm import Session

from ivr400.render.model import (
    WELCOME,
    RenderDepartment,
    RenderHotline,
    RenderModel,
    RenderTarget,
    RenderTone,
    RenderTrunk,
    check_sha256,
    check_tone_name,
    comment_text,
    pjsip_endpoint,
)
from ivr400.tree import DepartmentNode, HotlineNode, HotlineTree, SeatNode, ToneRow, TrunkRow, read_tree

__all__ = ["load_model", "model_from_tree"]


def load_model(session: Session, now: datetime, *, strict: bool = False,
               hotline_ids: Collection[int] | None = None) -> RenderModel:
    """Read every active hotline with its menus, routable seats, tones and trunks at ``now`` (aware); with
    ``hotline_ids``, only those hotlines (the active ones among them: an inactive or deleted id reads as
    nothing), e.g. to re-render the data of the hotlines an edit changed."""
    if now.tzinfo is None:
        raise ValueError("now: must be timezone-aware")
    # Hundreds of thousands of small objects, none cyclic: keep the cyclic GC out of the mapping too.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return model_from_tree(read_tree(session, now, strict=strict, hotline_ids=hotline_ids))
    finally:
        if gc_was_enabled:
            gc.enable()


def model_from_tree(tree: HotlineTree) -> RenderModel:
    """The render model of a hotline tree (pure)."""
    tones = {t.id: _tone(t) for t in tree.tones}
    return RenderModel(
        hotlines=tuple(_hotline(h) for h in tree.hotlines),
        tones=tuple(tones.values()),
        trunks=tuple(sorted((_trunk(t) for t in tree.trunks), key=lambda t: (t.is_default, t.name))),
        warnings=tree.warnings,
    )


def _tone(tone: ToneRow) -> RenderTone:
    return RenderTone(tone.id, check_tone_name(tone.name), comment_text(tone.kind, 16), check_sha256(tone.sha256),
                      tone.source)


def _trunk(trunk: TrunkRow) -> RenderTrunk:
    if trunk.is_default:
        return RenderTrunk("(default)", trunk.template, pjsip_endpoint(trunk.template), is_default=True)
    return RenderTrunk(comment_text(trunk.name, 64), trunk.template, pjsip_endpoint(trunk.template))


def _targets(seats: tuple[SeatNode, ...]) -> tuple[RenderTarget, ...]:
    return tuple(RenderTarget(s.dial, s.ring_timeout_s, s.number, s.seat_id, s.position, s.trunk.template)
                 for s in seats)


def _hotline(h: HotlineNode) -> RenderHotline:
    welcome = h.welcome.sound if h.welcome else WELCOME

    def department(d: DepartmentNode) -> RenderDepartment:
        return RenderDepartment(
            hotline_number=h.number, id=d.id, path=d.path, key=d.key,
            name="switchboard" if d.is_switchboard else comment_text(d.name), hunt=d.hunt,
            max_attempts=d.max_attempts, moh_class=d.ringback.moh_class if d.ringback else "",
            prompt=d.prompt.sound if d.prompt else welcome, targets=_targets(d.seats),
            children=tuple(department(c) for c in d.children),
        )

    return RenderHotline(
        id=h.id, number=h.number, name=comment_text(h.name), enterprise=comment_text(h.enterprise_name),
        welcome=welcome, menu_timeout_s=h.menu_timeout_s, menu_retries=h.menu_retries, voicemail=h.voicemail,
        switchboard=department(h.switchboard), departments=tuple(department(d) for d in h.departments),
        record_calls=h.record_calls, survey=h.survey or "", fax_mode=h.fax_mode, fax_key=h.fax_key or "",
    )
