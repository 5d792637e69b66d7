"""The contract between the rendered FreeSWITCH dialplan and the ESL controller ("ESL decides, dialplan
bridges"), the FreeSWITCH twin of :mod:`ivr400.pbx.asterisk.dialplan_variables`.

* **Same variable names, same meanings.** The FreeSWITCH dialplan sets and reads the channel variables
  named in :mod:`ivr400.pbx.asterisk.dialplan_variables` (``IVR400_HOTLINE``, ``IVR400_DEPT_PATH``,
  ``IVR400_KEYS`` before a hook; ``IVR400_ACTION``, ``IVR400_ACTION_DEPT``, ``IVR400_PROMPT``,
  ``IVR400_REFUSE_WITH``, ``IVR400_TARGET_COUNT``, ``IVR400_TARGET_<i>``, ``IVR400_TIMEOUT_<i>``,
  ``IVR400_HUNT``, ``IVR400_RING_TIMEOUT``, ``IVR400_DEPT_ID``, ``IVR400_MAX_ATTEMPTS`` set by the
  controller), so one set of routes decides for both PBXs. Two values differ by PBX:
  ``IVR400_TARGET_<i>`` holds a FreeSWITCH dial string (:func:`dial_string`) and ``IVR400_MOH`` holds the
  ringback as a FreeSWITCH sound path (:func:`ringback_sound`; "" = the ``%(...)`` ring tone).
* **Which hook.** FreeSWITCH's outbound socket carries no URL path, so before each ``socket`` application
  the dialplan sets :data:`HOOK` to the same request the Asterisk plan puts in its ``AGI(agi://.../<route>?
  <query>)`` URL, e.g. ``department?hotline=4008123456&dept=2`` (:func:`hook_request`); the controller reads
  it from the ``connect`` reply (``variable_IVR400_HOOK``) and parses it with :func:`parse_hook`.
* **How the hook runs.** ``<action application="socket" data="<host>:<port> async full"/>``
  (:func:`socket_data`). The controller sets every variable with ``sendmsg`` / ``execute`` ``set``
  (``IVR400_TARGET_COUNT`` last, as on Asterisk), then sets :data:`HOOK_STATUS` to ``OK`` and closes the
  socket; the dialplan continues with the next action. A controller that is down or fails leaves
  :data:`HOOK_STATUS` unset and the dialplan takes its static plan, built from routable destinations only.

Source for the socket application and its ``async full`` arguments: FreeSWITCH's
``src/mod/applications/mod_dptools`` (``socket`` is in ``mod_event_socket.c``), and the wiki page
"Event Socket Outbound".
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

__all__ = [
    "DEFAULT_GATEWAY",
    "HOOK",
    "HOOK_STATUS",
    "dial_string",
    "hook_request",
    "parse_hook",
    "ringback_sound",
    "socket_data",
]

#: Channel variable naming the hook and its parameters (``<route>?<query>``).
HOOK = "IVR400_HOOK"
#: Set to ``OK`` by the controller once every variable of its decision is set (the AGISTATUS twin).
HOOK_STATUS = "IVR400_HOOK_STATUS"
#: Sofia gateway used for a seat whose trunk is not a ``PJSIP/{number}@<endpoint>`` template.
DEFAULT_GATEWAY = "ivr400-out"

_ROUTE = re.compile(r"[a-z_]{1,32}")
_PJSIP_TEMPLATE = re.compile(r"PJSIP/\{number\}@([A-Za-z0-9_.-]{1,64})")
_NUMBER = re.compile(r"[0-9+*#]{1,32}")
_SOUND = re.compile(r"[A-Za-z0-9_./-]{1,200}")


def hook_request(route: str, **params: str) -> str:
    """``route?k=v&...`` in the given order, URL-encoded. Raises ValueError for a route name that is not
    1-32 characters ``a-z`` / ``_``."""
    if not _ROUTE.fullmatch(route):
        raise ValueError(f"route {route!r} is not a hook name")
    return f"{route}?{urlencode(list(params.items()))}" if params else route


def parse_hook(value: str) -> tuple[str, dict[str, str]]:
    """The route name and parameters of a :data:`HOOK` value. Raises ValueError when the route is not a
    hook name (the controller then sets nothing and the static plan runs)."""
    route, _, query = value.partition("?")
    if not _ROUTE.fullmatch(route):
        raise ValueError(f"{HOOK}: {route[:40]!r} is not a hook name")
    return route, dict(parse_qsl(query, keep_blank_values=True))


def socket_data(host: str, port: int) -> str:
    """The ``socket`` application's data: ``<host>:<port> async full``."""
    return f"{host}:{port} async full"


def dial_string(asterisk_template: str, number: str) -> str:
    """The FreeSWITCH dial string of destination ``number`` reached through a trunk whose Asterisk dial
    template is ``asterisk_template``: ``PJSIP/{number}@<name>`` → ``sofia/gateway/<name>/<number>``, any
    other template → ``sofia/gateway/`` :data:`DEFAULT_GATEWAY` ``/<number>``. Raises ValueError for a
    number that is not 1-32 of ``0-9 + * #``."""
    if not _NUMBER.fullmatch(number):
        raise ValueError(f"number {number[:40]!r} is not dialable")
    match = _PJSIP_TEMPLATE.fullmatch(asterisk_template)
    gateway = match.group(1) if match else DEFAULT_GATEWAY
    return f"sofia/gateway/{gateway}/{number}"


def ringback_sound(sound: str) -> str:
    """``IVR400_MOH`` on FreeSWITCH: the ringback tone's sound path as the dialplan passes it to
    ``ringback`` / ``transfer_ringback`` (relative to the sounds directory, e.g. ``ivr400/tone-<sha>.wav``);
    "" stays "" (ring tone). Raises ValueError for anything else than ``A-Z a-z 0-9 _ . / -``."""
    if sound and (not _SOUND.fullmatch(sound) or ".." in sound):
        raise ValueError(f"sound {sound[:40]!r} is not a safe sound path")
    return sound
