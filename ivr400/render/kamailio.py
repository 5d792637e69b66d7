"""Render Kamailio's config (the SIP proxy in front of the Asterisk nodes) from the cluster's node list.

    proxy = ProxySettings(listen_host="127.0.0.1", listen_port=5060, list_file=..., ctl_socket=...)
    files = render_kamailio(proxy, nodes_from_db(session))   # {"kamailio.cfg": text, "dispatcher.list": text}

Pure: templates `dialplans/kamailio/*.j2` (an operator directory first, like the Asterisk templates), the
settings and the nodes in, text out. ValueError names the setting that cannot be rendered.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2
from sqlalchemy.orm import Session

from ivr400.db.enums import NodeState
from ivr400.db.models import ClusterNode
from ivr400.paths import resource_dir

__all__ = ["ALGORITHMS", "DispatcherNode", "ProxySettings", "nodes_from_db", "render_kamailio", "template_dir"]

#: The dispatcher algorithms ivr400 offers (ds_select_dst's second argument) and what they do.
ALGORITHMS = {
    0: "hash of the Call-ID",
    3: "hash of the called number (a hotline stays on one node)",
    4: "round robin",
    8: "priority (the highest node takes every call)",
}
#: The file names rendered, in order.
FILES = ("kamailio.cfg", "dispatcher.list")


def template_dir() -> Path:
    """The shipped Kamailio templates (package data in a wheel, repo root in a checkout)."""
    return resource_dir("dialplans") / "kamailio"


@dataclass(frozen=True)
class DispatcherNode:
    """One node as the dispatcher sees it: name, SIP address, state (active | draining), priority."""

    name: str
    sip_host: str
    sip_port: int
    state: str = NodeState.ACTIVE.value
    priority: int = 0


@dataclass(frozen=True)
class ProxySettings:
    """Kamailio's settings. Times in seconds (`_s`) or milliseconds (`_ms`); rates per second.

    `listen_host` must be one specific IPv4 address (never 0.0.0.0); `list_file` and `ctl_socket` are
    paths on the proxy's host.
    """

    listen_host: str
    listen_port: int
    list_file: str
    ctl_socket: str
    set_id: int = 1
    algorithm: int = 3
    ping_interval_s: int = 10
    probing_threshold: int = 1
    inactive_threshold: int = 1
    branch_timeout_ms: int = 2000
    invite_timeout_ms: int = 120000
    pike_unit_s: int = 2
    pike_density: int = 200
    invite_rate: int = 200
    children: int = 4
    debug: int = 1

    def check(self) -> None:
        """ValueError('SETTING: reason') for a value Kamailio would refuse or that breaks the cluster."""
        try:
            addr = ipaddress.IPv4Address(self.listen_host)
        except ValueError:
            raise ValueError(f"listen_host: {self.listen_host!r} is not an IPv4 address") from None
        if addr.is_unspecified:
            raise ValueError("listen_host: 0.0.0.0 is the wildcard; give one specific address")
        if not 1 <= self.listen_port <= 65535:
            raise ValueError(f"listen_port: {self.listen_port} is not between 1 and 65535")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm: {self.algorithm} is not one of {sorted(ALGORITHMS)}")
        for name in ("set_id", "ping_interval_s", "probing_threshold", "inactive_threshold", "branch_timeout_ms",
                     "invite_timeout_ms", "pike_unit_s", "pike_density", "invite_rate", "children"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be 1 or more")
        for name in ("list_file", "ctl_socket"):
            value = getattr(self, name)
            if not value.startswith("/") or any(c in value for c in '"\n\r'):
                raise ValueError(f"{name}: {value!r} is not an absolute path without quotes")


def nodes_from_db(s: Session) -> list[DispatcherNode]:
    """The cluster_node rows as DispatcherNodes, by priority (higher first) then name."""
    from sqlalchemy import select

    rows = s.scalars(select(ClusterNode).order_by(ClusterNode.priority.desc(), ClusterNode.name))
    return [DispatcherNode(r.name, r.sip_host, r.sip_port, r.state, r.priority) for r in rows]


def _environment(template_dirs: Sequence[Path]) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in (*template_dirs, template_dir())]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render_kamailio(proxy: ProxySettings, nodes: Iterable[DispatcherNode],
                    template_dirs: Sequence[Path] = ()) -> dict[str, str]:
    """{"kamailio.cfg": text, "dispatcher.list": text}; ValueError('SETTING: reason') on a bad setting."""
    proxy.check()
    ctx: dict[str, object] = asdict(proxy)
    ctx["algorithm_name"] = ALGORITHMS[proxy.algorithm]
    ctx["nodes"] = list(nodes)
    env = _environment(template_dirs)
    return {name: env.get_template(f"{name}.j2").render(ctx) for name in FILES}
