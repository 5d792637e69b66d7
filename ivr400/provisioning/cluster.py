"""Cluster nodes (集群节点): add, remove, drain, list the Asterisk nodes behind Kamailio's dispatcher.

    add_node(s, "node2", "127.0.0.2", 5060, now=now)     # ClusterNode, state active
    drain_node(s, "node2", now=now)                       # no new calls; calls in progress finish
    list_nodes(s)                                         # [ClusterNode], by priority then name

Every refusal is a ProvisioningError naming the field: a node binds one specific IPv4 address (never the
wildcard 0.0.0.0, which would block every other SIP process on the host), a port 1–65535, a unique name
and a unique address:port.
"""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.enums import NodeState
from ivr400.db.models import ClusterNode
from ivr400.provisioning.errors import ProvisioningError

__all__ = ["NODE_NAME", "add_node", "check_node_address", "drain_node", "find_node", "list_nodes",
           "remove_node", "undrain_node"]

#: A node name: letters, digits, `-` and `_`, 1–64 characters, starting with a letter.
NODE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def check_node_address(host: object, port: object) -> tuple[str, int]:
    """(host, port) normalized; ProvisioningError('sip_host' | 'sip_port', reason) when unusable."""
    try:
        addr = ipaddress.IPv4Address(str(host).strip())
    except ValueError:
        raise ProvisioningError("sip_host", f"{host!r} is not an IPv4 address") from None
    if addr.is_unspecified:
        raise ProvisioningError("sip_host", "0.0.0.0 is the wildcard: a node binds one specific address")
    if addr.is_multicast or addr == ipaddress.IPv4Address("255.255.255.255"):
        raise ProvisioningError("sip_host", f"{addr} is not a unicast address")
    try:
        number = int(str(port))
    except ValueError:
        raise ProvisioningError("sip_port", f"{port!r} is not a number") from None
    if not 1 <= number <= 65535:
        raise ProvisioningError("sip_port", f"{number} is not between 1 and 65535")
    return str(addr), number


def find_node(s: Session, name: str) -> ClusterNode:
    """The node called `name`; ProvisioningError('node', 'no node called ...') otherwise."""
    node = s.scalar(select(ClusterNode).where(ClusterNode.name == name))
    if node is None:
        raise ProvisioningError("node", f"no node called {name!r}")
    return node


def list_nodes(s: Session) -> list[ClusterNode]:
    """Every node, by priority (higher first) then name."""
    return list(s.scalars(select(ClusterNode).order_by(ClusterNode.priority.desc(), ClusterNode.name)))


def add_node(s: Session, name: str, sip_host: str, sip_port: int = 5060, *, priority: int = 0,
             now: datetime) -> ClusterNode:
    """Add an active node; ProvisioningError on a bad or duplicate name or address."""
    if not NODE_NAME.fullmatch(name or ""):
        raise ProvisioningError("name", f"{name!r}: letters, digits, - and _ (up to 64), starting with a letter")
    host, port = check_node_address(sip_host, sip_port)
    if not -1000 <= priority <= 1000:
        raise ProvisioningError("priority", f"{priority} is not between -1000 and 1000")
    if s.scalar(select(ClusterNode.id).where(ClusterNode.name == name)) is not None:
        raise ProvisioningError("name", f"a node called {name!r} already exists")
    taken = s.scalar(select(ClusterNode.name).where(ClusterNode.sip_host == host, ClusterNode.sip_port == port))
    if taken is not None:
        raise ProvisioningError("sip_host", f"{host}:{port} is already node {taken!r}")
    node = ClusterNode(name=name, sip_host=host, sip_port=port, state=NodeState.ACTIVE.value, priority=priority,
                       created_at=now, changed_at=now)
    s.add(node)
    s.flush()
    return node


def remove_node(s: Session, name: str) -> ClusterNode:
    """Delete the node (after a reload Kamailio sends it nothing, not even in-dialog requests it did not
    record-route); returns the deleted row."""
    node = find_node(s, name)
    s.delete(node)
    s.flush()
    return node


def _set_state(s: Session, name: str, state: NodeState, now: datetime) -> ClusterNode:
    node = find_node(s, name)
    if node.state != state.value:
        node.state = state.value
        node.changed_at = now
    s.flush()
    return node


def drain_node(s: Session, name: str, *, now: datetime) -> ClusterNode:
    """Mark the node draining: no new calls; its calls in progress finish (in-dialog requests still reach it)."""
    return _set_state(s, name, NodeState.DRAINING, now)


def undrain_node(s: Session, name: str, *, now: datetime) -> ClusterNode:
    """Mark the node active again: it takes new calls once Kamailio has the change."""
    return _set_state(s, name, NodeState.ACTIVE, now)
