"""What AMI does on Asterisk, over FreeSWITCH's inbound event socket: call records and voicemail rows from events.

:class:`FreeSwitchEvents` reads the events of an authenticated ``ivr400.pbx.freeswitch.esl.InboundClient``
subscribed with :meth:`FreeSwitchEvents.subscribe` (``event plain CHANNEL_HANGUP_COMPLETE CUSTOM
ivr400::voicemail``):

* ``CHANNEL_HANGUP_COMPLETE`` of a caller's channel → one ``call_record`` row (source ``esl``) with the fields
  the Asterisk CDR path fills (``ivr400.cdr.fs_events``), upserted in a worker thread;
* ``CUSTOM ivr400::voicemail`` (headers ``IVR400-Hotline``, ``IVR400-Dept``, ``IVR400-File``, ``Unique-ID``,
  ``Caller-Caller-ID-Number``) → a ``voicemail`` row through the controller's ``save_voicemail``, after the
  same checks as the ``voicemail_saved`` hook (a ``.wav`` directly in the hotline's FreeSWITCH voicemail
  spool, a FreeSWITCH Unique-ID). Idempotent: the hook and the event may both arrive.

Anything else is ignored; a bad event is logged and skipped (it never stops the loop).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from sqlalchemy import Engine

from ivr400.cdr.cdr_model import CdrParseError
from ivr400.cdr.cdr_store import store_calls
from ivr400.cdr.fs_events import HANGUP_EVENT, call_from_hangup
from ivr400.controller.routes.context import RouteContext
from ivr400.controller.routes.voicemail_saved import voicemail_file_ok
from ivr400.pbx.freeswitch import esl_contract
from ivr400.pbx.freeswitch.esl import InboundClient
from ivr400.provisioning.errors import ProvisioningError
from ivr400.routing.blocking import parse_caller
from ivr400.validators import DEPT_PATH, HOTLINE_NUMBER

__all__ = ["FreeSwitchEvents"]


class FreeSwitchEvents:
    """Turns FreeSWITCH events into rows. ``ctx``: the controller (for ``save_voicemail``)."""

    def __init__(self, engine: Engine, ctx: RouteContext, logger: logging.Logger | None = None) -> None:
        self.engine = engine
        self.ctx = ctx
        self.log = logger or logging.getLogger("ivr400.esl.events")
        self.counts: dict[str, int] = {}

    @staticmethod
    async def subscribe(client: InboundClient) -> None:
        await client.subscribe([HANGUP_EVENT], custom=[esl_contract.VOICEMAIL_EVENT])

    async def handle(self, event: Mapping[str, str]) -> str:
        """Handle one event; returns what it was: ``call``, ``voicemail``, ``ignored`` or ``bad``."""
        name = event.get("Event-Name", "")
        if name == HANGUP_EVENT:
            outcome = await self._hangup(event)
        elif name == "CUSTOM" and event.get("Event-Subclass") == esl_contract.VOICEMAIL_EVENT:
            outcome = await self._voicemail(event)
        else:
            outcome = "ignored"
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        return outcome

    async def _hangup(self, event: Mapping[str, str]) -> str:
        try:
            call = call_from_hangup(event)
        except CdrParseError as exc:
            self.log.warning("CHANNEL_HANGUP_COMPLETE %s: not a call record: %s", event.get("Unique-ID", "?")[:40], exc)
            return "bad"
        if call is None:
            return "ignored"
        await asyncio.get_running_loop().run_in_executor(None, lambda: store_calls(self.engine, [call], "esl"))
        return "call"

    async def _voicemail(self, event: Mapping[str, str]) -> str:
        hotline = event.get("IVR400-Hotline", "")
        dept = event.get("IVR400-Dept", "")
        path = event.get("IVR400-File", "")
        uniqueid = event.get("Unique-ID", "")
        if (not HOTLINE_NUMBER.fullmatch(hotline) or not DEPT_PATH.fullmatch(dept)
                or not esl_contract.UNIQUEID.fullmatch(uniqueid)
                or not voicemail_file_ok(path, hotline, esl_contract.VOICEMAIL_SPOOL)):
            self.log.warning("voicemail event: malformed (hotline=%r dept=%r uniqueid=%r file=%r); not recorded",
                             hotline[:40], dept[:40], uniqueid[:40], path[:120])
            return "bad"
        caller = parse_caller(event.get("Caller-Caller-ID-Number", "")).number
        try:
            await self.ctx.save_voicemail(hotline=hotline, dept=dept, uniqueid=uniqueid, caller=caller, file_path=path)
        except ProvisioningError as exc:
            self.log.warning("voicemail event: %s: not recorded: %s", hotline, exc)
            return "bad"
        return "voicemail"

    async def run(self, client: InboundClient) -> None:
        """Subscribe and handle events until the connection closes."""
        await self.subscribe(client)
        async for headers, _body in client.iter_events():
            try:
                await self.handle(headers)
            except Exception:  # noqa: BLE001 - one bad event (or a database hiccup) never stops the stream
                self.log.exception("event %s not handled", headers.get("Event-Name", "?"))
