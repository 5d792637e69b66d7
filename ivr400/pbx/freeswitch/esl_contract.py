"""What the ESL controller and the FreeSWITCH side agree on beyond :mod:`.contract`: the ringback file of a
ringback class, where voicemail is recorded, the shape of a call id, the voicemail event, and the channel
variables a call record is read from. (Kept apart from ``contract.py`` so the renderer's side and the
controller's side can grow without editing one file; the renderer must use these names.)

* **Ringback** (彩铃): the Asterisk plan plays a music-on-hold class (``ivr400-default``, ``ivr400-tone-<id>``);
  FreeSWITCH plays a file: ``ivr400/ivr400-ringback.wav`` (the shipped tone) or ``ivr400/tone-<id>.wav``
  (an uploaded tone), relative to FreeSWITCH's sounds directory (:func:`ringback_for_class`).
* **Voicemail**: recorded to ``<VOICEMAIL_SPOOL>/<hotline>/<Unique-ID>.wav``; the dialplan then runs the
  ``voicemail_saved`` hook (``IVR400_VM_FILE`` set, as on Asterisk) and fires a ``CUSTOM``
  :data:`VOICEMAIL_EVENT` (headers ``IVR400-Hotline``, ``IVR400-Dept``, ``IVR400-File``) for the inbound
  client.
* **Call records**: the dialplan sets the channel variables named like Asterisk's CDR variables
  (``ivr400_hotline``, ``ivr400_keys``, ``ivr400_dept``, ``ivr400_seat``, ``ivr400_disp``, ``ivr400_rec``,
  ``ivr400_decided_by``); ``CHANNEL_HANGUP_COMPLETE`` carries them as ``variable_<name>``.
"""
from __future__ import annotations

import re

from ivr400.pbx.asterisk.prompts import DEFAULT_MOH_CLASS, RINGBACK_FILE, SOUND_DIR
from ivr400.pbx.freeswitch.contract import ringback_sound

__all__ = ["UNIQUEID", "VOICEMAIL_EVENT", "VOICEMAIL_SPOOL", "ringback_for_class"]

#: Where the FreeSWITCH dialplan records voicemail: <VOICEMAIL_SPOOL>/<hotline>/<Unique-ID>.wav
VOICEMAIL_SPOOL = "/var/lib/freeswitch/recordings/ivr400/voicemail"
#: A FreeSWITCH channel Unique-ID (a lower-case UUID).
UNIQUEID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: Subclass of the CUSTOM event the dialplan fires once a voicemail file exists.
VOICEMAIL_EVENT = "ivr400::voicemail"

_TONE_CLASS = re.compile(r"ivr400-tone-([0-9]{1,12})")


def ringback_for_class(moh_class: str) -> str:
    """``IVR400_MOH`` on FreeSWITCH for an Asterisk ringback class: ``ivr400-default`` →
    ``ivr400/ivr400-ringback.wav``, ``ivr400-tone-<id>`` → ``ivr400/tone-<id>.wav``, "" → "" (ring tone).
    Raises ValueError for any other class (it names no file FreeSWITCH has)."""
    if not moh_class:
        return ""
    if moh_class == DEFAULT_MOH_CLASS:
        return ringback_sound(f"{SOUND_DIR}/{RINGBACK_FILE}.wav")
    m = _TONE_CLASS.fullmatch(moh_class)
    if m is None:
        raise ValueError(f"ringback class {moh_class[:40]!r} has no FreeSWITCH sound")
    return ringback_sound(f"{SOUND_DIR}/tone-{int(m.group(1))}.wav")
