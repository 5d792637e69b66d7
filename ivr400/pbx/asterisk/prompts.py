"""Sound and music-on-hold names as Asterisk plays them: the one form the dialplan, the controller and the
database share.

A prompt is always an Asterisk sound name relative to Asterisk's sounds directory, without extension:
``ivr400/ivr400-closed`` (a shipped prompt, file ``sounds/ivr400/ivr400-closed.wav``), ``ivr400/tone-7``
(an uploaded tone), ``custom/announce`` (an operator's own sound). A bare shipped name typed by an
operator (``ivr400-closed``) is written in that form by :func:`sound_name` before it is stored or sent, so
the dialplan plays ``IVR400_PROMPT`` as it is.

Ringback tones (彩铃) are music-on-hold classes: ``ivr400-default`` (the shipped ringback) and
``ivr400-tone-<id>`` (files under ``/var/lib/asterisk/moh/ivr400/<class>/``).
"""
from __future__ import annotations

__all__ = [
    "BALANCE_LOW",
    "BLOCKED",
    "CLICKTOCALL_CONSENT",
    "CLOSED",
    "DEFAULT_MOH_CLASS",
    "GOODBYE",
    "INVALID",
    "LEAVE_MESSAGE",
    "MOH_ROOT",
    "NO_INPUT",
    "RINGBACK_FILE",
    "SOUND_DIR",
    "SURVEY",
    "SURVEY_THANKS",
    "UNKNOWN_NUMBER",
    "WELCOME",
    "sound_name",
    "tone_moh_class",
    "tone_sound",
]

#: The directory of ivr400's sounds under Asterisk's sounds directory (files sounds/ivr400-*.wav ship there).
SOUND_DIR = "ivr400"
WELCOME = f"{SOUND_DIR}/ivr400-welcome"
INVALID = f"{SOUND_DIR}/ivr400-invalid"
NO_INPUT = f"{SOUND_DIR}/ivr400-no-input"
LEAVE_MESSAGE = f"{SOUND_DIR}/ivr400-leave-message"
GOODBYE = f"{SOUND_DIR}/ivr400-goodbye"
#: The default announcement ("we are closed"), also for voicemail outcomes of a hotline without voicemail.
CLOSED = f"{SOUND_DIR}/ivr400-closed"
#: 余额不足: the hotline's balance ran out (zero-balance choice ``prompt``); the call ends after it.
BALANCE_LOW = f"{SOUND_DIR}/ivr400-balance-low"
#: The default refusal prompt of call blocking (呼叫阻截).
BLOCKED = f"{SOUND_DIR}/ivr400-blocked"
#: 满意度评价: asks the caller to score the seat 1-5 after the seat hung up (``IVR400_SURVEY`` default).
SURVEY = f"{SOUND_DIR}/ivr400-survey"
#: Thanks the caller for a score.
SURVEY_THANKS = f"{SOUND_DIR}/ivr400-survey-thanks"
#: WEB呼叫: played to the visitor the platform called: "press 1 to be connected".
CLICKTOCALL_CONSENT = f"{SOUND_DIR}/ivr400-clicktocall-consent"
#: Played to a call for a 400 number the controller does not know.
UNKNOWN_NUMBER = f"{SOUND_DIR}/ivr400-unknown-number"
#: The shipped ringback file (sounds/ivr400-ringback.wav), played by the default class.
RINGBACK_FILE = "ivr400-ringback"
#: The default ringback class (the shipped ringback tone).
DEFAULT_MOH_CLASS = "ivr400-default"
#: Where music-on-hold class directories live on the PBX.
MOH_ROOT = "/var/lib/asterisk/moh/ivr400"


def sound_name(name: str) -> str:
    """The one form of a prompt: a name without ``/`` is one of ours (``ivr400-closed`` →
    ``ivr400/ivr400-closed``); a name with a directory is kept as it is. Validation is the caller's."""
    return name if "/" in name else f"{SOUND_DIR}/{name}"


def tone_sound(tone_id: int) -> str:
    """Asterisk sound name of a welcome/prompt tone (file sounds/ivr400/tone-<id>.wav)."""
    return f"{SOUND_DIR}/tone-{int(tone_id)}"


def tone_moh_class(tone_id: int) -> str:
    """Music-on-hold class playing a ringback tone (彩铃)."""
    return f"ivr400-tone-{int(tone_id)}"
