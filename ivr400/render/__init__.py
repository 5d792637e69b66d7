"""Render the database into PBX configuration (Asterisk include files) with Jinja2 templates.

    from ivr400.render import render_asterisk
    cfg = render_asterisk(session, now)            # RenderedConfig
    cfg.files["ivr400/extensions.conf"], cfg.sounds, cfg.contexts, cfg.fingerprints

Only destinations routable at `now` (ivr400.db.routable) are ever written into a dial string.
"""
from __future__ import annotations

from ivr400.render.asterisk import RenderedConfig, RenderError, render_asterisk, render_model
from ivr400.render.load import load_model
from ivr400.render.model import RenderModel, RenderValueError

__all__ = [
    "RenderError",
    "RenderModel",
    "RenderValueError",
    "RenderedConfig",
    "load_model",
    "render_asterisk",
    "render_model",
]
