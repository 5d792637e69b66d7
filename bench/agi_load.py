"""A lean FastAGI load generator: plays Asterisk's side of many sessions at a fixed concurrency.

Each virtual channel connects, sends an `agi_*` header, answers every command as Asterisk's res_agi
does for a successful one (`200 result=0` for `EXEC` of an application returning 0, such as MSet;
`200 result=1` for the rest, such as `SET VARIABLE`) and measures the session from connect to the
server closing the socket — what a call waits for before its dialplan goes on. Kept minimal so the
generator is not the bottleneck.
"""
from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field


def header(route: str, caller: str, uniqueid: str, port: int) -> bytes:
    lines = {
        "agi_network": "yes",
        "agi_network_script": route,
        "agi_request": f"agi://127.0.0.1:{port}/{route}",
        "agi_channel": f"PJSIP/carrier-{uniqueid}",
        "agi_language": "en",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.10.1",
        "agi_callerid": caller,
        "agi_calleridname": "unknown",
        "agi_dnid": "4008123456",
        "agi_context": "ivr400-call",
        "agi_extension": "s",
        "agi_priority": "3",
        "agi_threadid": "1",
    }
    return ("".join(f"{k}: {v}\n" for k, v in lines.items()) + "\n").encode()


@dataclass
class LoadResult:
    concurrency: int
    duration_s: float
    sessions: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sessions / self.duration_s if self.duration_s else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


async def one_session(port: int, route: str, caller: str, uniqueid: str, record: list[str] | None) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(header(route, caller, uniqueid, port))
        while True:
            line = await reader.readline()
            if not line:
                return
            if record is not None:
                record.append(line.decode().rstrip("\n"))
            writer.write(b"200 result=0\n" if line[:5].upper() == b"EXEC " else b"200 result=1\n")
    finally:
        writer.close()


async def run_load(port: int, route: str, *, concurrency: int, duration_s: float, caller: str = "01062345678",
                   record_first: bool = False) -> LoadResult:
    result = LoadResult(concurrency=concurrency, duration_s=duration_s)
    deadline = time.perf_counter() + duration_s
    counter = 0

    async def worker(n: int) -> None:
        nonlocal counter
        while time.perf_counter() < deadline:
            counter += 1
            uid = f"{n}.{counter}"
            record = result.commands if record_first and not result.commands and n == 0 else None
            start = time.perf_counter()
            try:
                await asyncio.wait_for(one_session(port, route, caller, uid, record), 10)
            except (TimeoutError, OSError):
                result.errors += 1
                continue
            result.latencies_ms.append((time.perf_counter() - start) * 1000)
            result.sessions += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.duration_s = time.perf_counter() - started
    return result


async def run_paced(port: int, route: str, *, rate: float, duration_s: float,
                    caller: str = "01062345678") -> LoadResult:
    """Open loop: start a session every 1/rate s whatever the server does, like calls arriving."""
    result = LoadResult(concurrency=0, duration_s=duration_s)
    in_flight = 0

    async def session(uid: str) -> None:
        nonlocal in_flight
        in_flight += 1
        result.concurrency = max(result.concurrency, in_flight)
        start = time.perf_counter()
        try:
            await asyncio.wait_for(one_session(port, route, caller, uid, None), 10)
        except (TimeoutError, OSError):
            result.errors += 1
        else:
            result.latencies_ms.append((time.perf_counter() - start) * 1000)
            result.sessions += 1
        finally:
            in_flight -= 1

    tasks = []
    begin = time.perf_counter()
    n = 0
    while (elapsed := time.perf_counter() - begin) < duration_s:
        due = n / rate
        if due > elapsed:
            await asyncio.sleep(due - elapsed)
        tasks.append(asyncio.create_task(session(f"p.{n}")))
        n += 1
    await asyncio.gather(*tasks)
    return result
