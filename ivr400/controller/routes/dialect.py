"""The two PBX dialects of a decision (see :class:`~ivr400.controller.routes.context.Dialect`).

* :data:`ASTERISK`: ``PJSIP/<number>@<endpoint>`` dial strings (the hotline's own, from the loader), the
  ringback as a music-on-hold class, voicemail under ``dialplan_variables.VOICEMAIL_SPOOL``, ``UNIQUEID``
  call ids (``1700000000.7``).
* :data:`FREESWITCH`: ``sofia/gateway/<gateway>/<number>`` (``contract.dial_string`` of the seat's trunk
  template), the ringback as a sound file (``esl_contract.ringback_for_class``), voicemail under
  ``esl_contract.VOICEMAIL_SPOOL``, UUID call ids.
"""
from __future__ import annotations

import re

from ivr400.controller.loader import HotlineEntry
from ivr400.controller.routes.context import Dialect
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.pbx.freeswitch import contract, esl_contract
from ivr400.routing.model import Target
from ivr400.tree import DEFAULT_DIAL_TEMPLATE

__all__ = ["ASTERISK", "DIALECTS", "FREESWITCH"]


def _asterisk_dial(entry: HotlineEntry, target: Target) -> str:
    return entry.dial_for(target)


def _freeswitch_dial(entry: HotlineEntry, target: Target) -> str:
    template = entry.templates.get(target.seat_id) if target.seat_id is not None else None
    return contract.dial_string(template or DEFAULT_DIAL_TEMPLATE, target.dial)


def _same(moh_class: str) -> str:
    return moh_class


ASTERISK = Dialect("asterisk", _asterisk_dial, _same, v.VOICEMAIL_SPOOL, re.compile(r"[0-9]{1,20}\.[0-9]{1,10}"))
FREESWITCH = Dialect("freeswitch", _freeswitch_dial, esl_contract.ringback_for_class, esl_contract.VOICEMAIL_SPOOL,
                     esl_contract.UNIQUEID)
DIALECTS = {d.name: d for d in (ASTERISK, FREESWITCH)}
