"""FastAGI routes, one module each, the function named after the route (wazo-agid style).

Every route is ``async def <route>(session: AGISession, ctx: RouteContext) -> object`` (decision routes
return ``Decided`` or ``StaticPlan`` for the metrics, see ``ivr400.controller.metrics``) and is registered
here explicitly; :func:`bind` gives the server its ``{route name: handler(session)}`` mapping with the
context (the controller) bound. Route names are the constants of ``dialplan_variables`` the templates use.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from ivr400.controller.routes.context import RouteContext
from ivr400.controller.routes.department import department
from ivr400.controller.routes.route import route
from ivr400.controller.routes.survey_saved import survey_saved
from ivr400.controller.routes.voicemail_saved import voicemail_saved
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.pbx.asterisk.fastagi import AGISession, Handler

__all__ = ["ROUTES", "Route", "RouteContext", "bind", "department", "route", "survey_saved", "voicemail_saved"]

#: A route function: the session and the context it may use; what it returns goes to the server's observer.
Route = Callable[[AGISession, RouteContext], Awaitable[object]]

#: Route name → route function (explicit registration).
ROUTES: Mapping[str, Route] = MappingProxyType({
    v.ROUTE_CALL: route,
    v.ROUTE_DEPARTMENT: department,
    v.ROUTE_VOICEMAIL: voicemail_saved,
    v.ROUTE_SURVEY: survey_saved,
})


def _bound(func: Route, ctx: RouteContext) -> Handler:
    async def handler(session: AGISession) -> object:
        return await func(session, ctx)

    handler.__name__ = handler.__qualname__ = func.__name__
    return handler


def bind(ctx: RouteContext) -> dict[str, Handler]:
    """The handlers for :class:`~ivr400.pbx.asterisk.fastagi.FastAGIServer`, with ``ctx`` bound."""
    return {name: _bound(func, ctx) for name, func in ROUTES.items()}
