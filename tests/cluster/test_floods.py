"""Floods against the cluster's Kamailio: pike drops one source that sends too much, ratelimit caps new calls.

The lab's limits (ivr400.lab.cluster): more than PIKE_DENSITY requests in 2 s from one address are dropped;
more than INVITE_RATE INVITEs a second in all get 503. Raw UDP from loopback addresses of their own
(127.0.0.9, 127.0.0.20-39); a normal call from the carrier's address still goes through afterwards.
"""
from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import pytest

from ivr400.lab.cluster import INVITE_RATE, PIKE_DENSITY, ClusterLab

from .conftest import ON_NODE2, PROXY
from .load import CarrierLoad

pytestmark = [pytest.mark.pbx, pytest.mark.postgres]


def _request(method: str, source: tuple[str, int], user: str = "") -> bytes:
    branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    target = f"sip:{user + '@' if user else ''}{PROXY[0]}:{PROXY[1]}"
    return (f"{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {source[0]}:{source[1]};branch={branch}\r\n"
            f"From: <sip:flood@{source[0]}>;tag={uuid.uuid4().hex[:8]}\r\nTo: <{target}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}@{source[0]}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def _collect(sock: socket.socket, seconds: float) -> list[str]:
    """First lines of the replies received within `seconds`."""
    sock.settimeout(0.2)
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65535)
        except TimeoutError:
            continue
        out.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
    return out


def test_pike_drops_a_flooding_source_and_spares_the_others(cluster: ClusterLab, tmp_path: Path) -> None:
    sent = PIKE_DENSITY * 3
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.9", 0))
        source = sock.getsockname()
        for _ in range(sent):
            sock.sendto(_request("OPTIONS", source), PROXY)
        replies = _collect(sock, 2.0)
    answered = sum(1 for r in replies if r.startswith("SIP/2.0 200"))
    print(f"\npike: {sent} OPTIONS from 127.0.0.9 in one burst, {answered} answered, {sent - answered} dropped "
          f"(limit {PIKE_DENSITY} per 2 s)")
    assert 0 < answered < sent
    with CarrierLoad(PROXY, [ON_NODE2], rate=5, calls=5, workdir=tmp_path / "after", hold_ms=200) as load:
        load.wait(30)
    report = load.report()
    assert report.placed == 5 and not report.failed, load.errors()


def test_ratelimit_caps_new_calls_from_many_sources(cluster: ClusterLab) -> None:
    socks = []
    try:
        for i in range(20):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((f"127.0.0.{20 + i}", 0))
            socks.append(sock)
        per_source = INVITE_RATE * 2 // len(socks)  # twice the limit in all, each source well under pike
        for _ in range(per_source):
            for sock in socks:
                sock.sendto(_request("INVITE", sock.getsockname(), "flood"), PROXY)
        replies = [line for sock in socks for line in _collect(sock, 0.15)]
        replies += [line for sock in socks for line in _collect(sock, 0.05)]
    finally:
        for sock in socks:
            sock.close()
    limited = sum(1 for r in replies if r.startswith("SIP/2.0 503 Over Capacity"))
    total = per_source * len(socks)
    print(f"\nratelimit: {total} INVITEs from 20 addresses in one burst, {limited} refused with 503 "
          f"(limit {INVITE_RATE}/s)")
    assert limited > 0
    assert limited < total
