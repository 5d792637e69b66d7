"""Routes (FastAGI and FreeSWITCH ESL hooks), one module each, the function named after the route (wazo-agid style).

Every route is ``async def <route>(session: CallSession, ctx: RouteContext, dialect: Dialect) -> object``
(decision routes return ``Decided`` or ``StaticPlan`` for the metrics, see ``ivr400.controller.metrics``) and
is registered here explicitly; :func:`bind` gives a server its ``{route name: handler(session)}`` mapping
with the context (the controller) and the PBX's dialect bound: the FastAGI server's sessions and the ESL
server's sessions go through the same functions. Route names are the constants of ``dialplan_variables``
the templates use.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from ivr400.controller.routes.context import CallSession, Dialect, RouteContext
from ivr400.controller.routes.department import department
from ivr400.controller.routes.dialect import ASTERISK, FREESWITCH
from ivr400.controller.routes.fax_received import fax_received
from ivr400.controller.routes.route import route
from ivr400.controller.routes.survey_saved import survey_saved
from ivr400.controller.routes.voicemail_saved import voicemail_saved
from ivr400.pbx.asterisk import dialplan_variables as v

__all__ = ["ASTERISK", "FREESWITCH", "ROUTES", "CallSession", "Dialect", "Route", "RouteContext", "bind",
           "department", "fax_received", "route", "survey_saved", "voicemail_saved"]

#: A route function: the session, the context it may use and the PBX's dialect; what it returns goes to the
#: server's observer.
Route = Callable[[CallSession, RouteContext, Dialect], Awaitable[object]]
#: A bound route: what a server calls with its session.
Handler = Callable[[CallSession], Awaitable[object]]

#: Route name → route function (explicit registration).
ROUTES: Mapping[str, Route] = MappingProxyType({
    v.ROUTE_CALL: route,
    v.ROUTE_DEPARTMENT: department,
    v.ROUTE_VOICEMAIL: voicemail_saved,
    v.ROUTE_FAX: fax_received,
    v.ROUTE_SURVEY: survey_saved,
})


def _bound(func: Route, ctx: RouteContext, dialect: Dialect) -> Handler:
    async def handler(session: CallSession) -> object:
        return await func(session, ctx, dialect)

    handler.__name__ = handler.__qualname__ = func.__name__
    return handler


def bind(ctx: RouteContext, dialect: Dialect = ASTERISK) -> dict[str, Handler]:
    """The handlers for :class:`~ivr400.pbx.asterisk.fastagi.FastAGIServer` (``dialect`` ASTERISK) or
    :class:`~ivr400.pbx.freeswitch.esl.OutboundServer` (FREESWITCH), with ``ctx`` and ``dialect`` bound."""
    return {name: _bound(func, ctx, dialect) for name, func in ROUTES.items()}
