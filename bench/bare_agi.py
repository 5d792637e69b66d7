"""The baseline: the same FastAGI server framework, replaying recorded variables with no lookup at all.

`python bench/bare_agi.py --port P --replay commands.json` answers every session by sending the
exact command lines ivr400 sent for one recorded call: what any FastAGI design must at least pay.
The file holds {"route": [lines...], "department": [lines...]}: each route replays its own decision.
"""
from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from ivr400.pbx.asterisk.agi_protocol import parse_args
from ivr400.pbx.asterisk.fastagi import AGISession, serve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--replay", required=True, help="JSON list of AGI command lines to send per session")
    args = parser.parse_args()
    with open(args.replay, encoding="utf-8") as fh:
        recorded = json.load(fh)
    by_route = {route: [parse_args(line) for line in lines] for route, lines in recorded.items()}

    def replay(commands: list[list[str]]) -> Callable[[AGISession], Awaitable[None]]:
        async def bare(session: AGISession) -> None:
            for argv in commands:
                verb = " ".join(argv[:2]) if argv[:2] == ["SET", "VARIABLE"] else argv[0]
                await session.command(verb, *argv[len(verb.split()):])
        return bare

    def ready(server: Any) -> None:  # noqa: ANN401
        print(f"ready: {server.port}", flush=True)

    asyncio.run(serve({route: replay(commands) for route, commands in by_route.items()}, "127.0.0.1", args.port,
                      on_started=ready,
                      max_sessions=2000))


if __name__ == "__main__":
    main()
