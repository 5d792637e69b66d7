"""FastAGI routes, one module each, the function named after the route (wazo-agid style).

Every route is ``async def <route>(session: AGISession, ctx: Controller) -> object`` (decision routes
return ``Decided`` or ``StaticPlan`` for the metrics, see ``ivr400.controller.metrics``) and is registered
here explicitly; :func:`bind` gives the server its ``{route name: handler(session)}`` mapping with the
controller bound. Route names are the constants of ``dialplan_variables`` the templates use.
"""
from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ivr400.controller.routes.department import department
from ivr400.controller.routes.route import route
from ivr400.controller.routes.voicemail_saved import voicemail_saved
from ivr400.pbx.asterisk import dialplan_variables as v

if TYPE_CHECKING:
    from ivr400.pbx.asterisk.fastagi import AGISession

__all__ = ["ROUTES", "bind", "department", "route", "voicemail_saved"]

RouteFunction = Callable[["AGISession", Any], Awaitable[object]]

#: Route name → route function (explicit registration).
ROUTES: Mapping[str, RouteFunction] = MappingProxyType({
    v.ROUTE_CALL: route,
    v.ROUTE_DEPARTMENT: department,
    v.ROUTE_VOICEMAIL: voicemail_saved,
})


def bind(ctx: Any) -> dict[str, Callable[[AGISession], Awaitable[object]]]:  # noqa: ANN401
    """The handlers for :class:`~ivr400.pbx.asterisk.fastagi.FastAGIServer`, with ``ctx`` bound."""
    return {name: functools.partial(func, ctx=ctx) for name, func in ROUTES.items()}
