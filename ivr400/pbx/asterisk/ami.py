"""A small AMI client on top of panoramisk: connect, log in, run CLI commands, reload, close.

    with Ami.connect(settings) as ami:                   # an AmiSettings (ivr400.config builds it)
        ami.command("dialplan show ivr400-inbound")      # -> the CLI output (str)
        ami.reload("dialplan reload")                    # -> "Dialplan reloaded."
        ami.db_write("ivr400", [("h/4008123456/s", "...")])  # AstDB writes (DBPut/DBDel), pipelined

Every wait has a timeout (connect, login, each action): a PBX that stops answering gives an
`AmiError` after `timeout` seconds, never a hang. panoramisk's own reconnect loop, keep-alive pinger
and "re-send pending actions after a reconnect" are switched off: a lost connection fails the pending
actions at once (one deploy = one short-lived connection; nothing is replayed behind the caller's
back). `AsyncAmi` is the asyncio client; `Ami` runs it on a private event loop for synchronous
callers (the CLI, deploy).
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol

from ivr400.pbx.asterisk.ami_settings import DEFAULT_TIMEOUT_S, AmiSettings

__all__ = ["Ami", "AmiError", "AmiLike", "AmiSettings", "AsyncAmi", "CommandFailed", "command_output"]



class AmiError(RuntimeError):
    """AMI unreachable, login refused, an action failed or timed out. `field` says what."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class CommandFailed(AmiError):
    """Asterisk answered `Response: Error` to a CLI command; `output` is what the CLI printed."""

    def __init__(self, command: str, output: str) -> None:
        first = next((line.strip() for line in output.splitlines() if line.strip()), "failed")
        super().__init__("ami", f"{command!r}: {first}")
        self.command = command
        self.output = output


class AmiLike(Protocol):
    """What deploy needs from an AMI connection (the real one or a test double)."""

    def command(self, cmd: str, timeout: float | None = None) -> str: ...

    def reload(self, what: str, timeout: float | None = None) -> str: ...

    def db_write(self, family: str, puts: Sequence[tuple[str, str]], deletes: Sequence[str] = (), *,
                 clear: bool = False, window: int = 256, timeout: float | None = None) -> int: ...


def command_output(message: Mapping[str, Any]) -> str:
    """The CLI output of a `Command` action response (Asterisk ≥ 14: one `Output:` header per line)."""
    output = message.get("Output", message.get("output"))
    if output is None:
        lines: list[str] = []
    elif isinstance(output, list):
        lines = [str(x) for x in output]
    else:
        lines = [str(output)]
    content = getattr(message, "content", "") or ""
    if content:  # pre-14 style `Response: Follows` body
        lines.extend(content.replace("--END COMMAND--", "").splitlines())
    return "\n".join(lines)


class _Manager(Manager):
    """panoramisk's Manager without automatic reconnects: pending actions fail when the link drops."""

    def connection_lost(self, exc: Exception | None) -> None:  # called by AMIProtocol
        self._connected = False
        self.authenticated = False
        reason = f"connection to Asterisk lost ({exc})" if isinstance(exc, BaseException) else \
            "connection to Asterisk lost"
        while self.awaiting_actions:
            action = self.awaiting_actions.popleft()
            if not action.future.done():
                action.future.set_exception(AmiError("ami", reason))


class AsyncAmi:
    """One authenticated AMI connection (asyncio)."""

    def __init__(self, settings: AmiSettings) -> None:
        self.settings = settings
        self.manager: _Manager | None = None
        self.version: str | None = None

    @property
    def timeout(self) -> float:
        return self.settings.timeout

    async def connect(self) -> AsyncAmi:
        s = self.settings
        loop = asyncio.get_running_loop()
        manager = _Manager(host=s.host, port=s.port, username=s.username, secret=s.secret, events="off",
                           loop=loop, ping_delay=0)
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(AMIProtocol, s.host, s.port), s.timeout)
        except TimeoutError as exc:
            raise AmiError("ami", f"no answer from {s.host}:{s.port} within {s.timeout:g} s") from exc
        except OSError as exc:
            raise AmiError("ami", f"cannot connect to {s.host}:{s.port} ({exc.strerror or exc})") from exc
        # What Manager.connection_made does, minus the pinger and the reconnect loop.
        protocol.queue = deque()
        protocol.factory = manager
        protocol.log = manager.log
        protocol.config = manager.config
        protocol.encoding = manager.encoding = manager.config["encoding"]
        manager.responses = protocol.responses = {}
        manager.protocol = protocol
        manager._connected = True
        self.manager = manager
        try:
            resp = await self._send({"Action": "Login", "Username": s.username, "Secret": s.secret,
                                     "Events": "off"}, what="login")
        except BaseException:
            self.close()
            raise
        if not resp.success:
            self.close()
            raise AmiError("ami", f"login as {s.username!r} refused: {resp.get('Message') or resp}")
        manager.authenticated = True
        self.version = getattr(protocol, "version", None)
        return self

    async def _send(self, fields: Mapping[str, str], *, what: str, timeout: float | None = None,
                    as_list: bool | None = None) -> Any:  # noqa: ANN401
        if self.manager is None or self.manager.protocol is None or not self.manager._connected:
            raise AmiError("ami", "not connected")
        action = Action(dict(fields), as_list=as_list)
        future = self.manager.send_action(action, as_list=as_list)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout or self.timeout)
        except TimeoutError as exc:
            self.manager.protocol.responses.pop(action.id, None)
            raise AmiError("ami", f"{what}: no response within {timeout or self.timeout:g} s") from exc

    async def action(self, name: str, timeout: float | None = None, **fields: str) -> Any:  # noqa: ANN401
        """Any AMI action; returns panoramisk's Message (or list of them for event lists). An ``Originate`` with
        ``Async: true`` returns at its ``Response: Success`` ("successfully queued"), not when the call ends
        (panoramisk would wait for the OriginateResponse event); a ``Response: Error`` raises AmiError."""
        if name == "Originate" and fields.get("Async", "").lower() == "true":
            message = await self._send({"Action": name, **fields}, what=f"action {name}", timeout=timeout,
                                       as_list=False)
            if str(message.get("Response", "")).lower() != "success":
                raise AmiError("ami", f"Originate: {message.get('Message', 'refused')}")
            return message
        return await self._send({"Action": name, **fields}, what=f"action {name}", timeout=timeout)

    async def command(self, cmd: str, timeout: float | None = None) -> str:
        """Run a CLI command (Action: Command); its output, or CommandFailed on `Response: Error`."""
        resp = await self._send({"Action": "Command", "Command": cmd}, what=repr(cmd), timeout=timeout)
        output = command_output(resp)
        if not resp.success:
            raise CommandFailed(cmd, output or str(resp.get("Message", "")))
        return output

    async def commands(self, cmds: Iterable[str], *, window: int = 32,
                       timeout: float | None = None) -> list[str | AmiError]:
        """Several CLI commands, up to `window` in flight; each result is its output or its AmiError."""
        cmds = list(cmds)
        out: list[str | AmiError] = [""] * len(cmds)
        sem = asyncio.Semaphore(window)

        async def one(i: int, cmd: str) -> None:
            async with sem:
                try:
                    out[i] = await self.command(cmd, timeout)
                except AmiError as exc:
                    out[i] = exc

        await asyncio.gather(*(one(i, c) for i, c in enumerate(cmds)))
        return out

    async def db_write(self, family: str, puts: Sequence[tuple[str, str]], deletes: Sequence[str] = (), *,
                       clear: bool = False, window: int = 256, timeout: float | None = None) -> int:
        """Write Asterisk's database (AstDB) under `family`: with `clear`, DBDelTree of the whole family first;
        then every key of `deletes` (DBDel; one already gone is fine), then every ``(key, value)`` of `puts`
        (DBPut), up to `window` actions in flight on this one connection. Asterisk handles one connection's
        actions one at a time, in the order sent, so the writes land in the order given. Returns the number of
        actions sent; raises AmiError naming the first key refused (the writes before it stay written)."""
        actions: list[dict[str, str]] = []
        if clear:
            actions.append({"Action": "DBDelTree", "Family": family})
        actions += ({"Action": "DBDel", "Family": family, "Key": k} for k in deletes)
        actions += ({"Action": "DBPut", "Family": family, "Key": k, "Val": v} for k, v in puts)
        sem = asyncio.Semaphore(window)
        failures: list[tuple[int, str]] = []

        async def one(i: int, fields: dict[str, str]) -> None:
            async with sem:
                resp = await self._send(fields, what=f"{fields['Action']} {family}/{fields.get('Key', '')}",
                                        timeout=timeout, as_list=False)
            if not resp.success:
                message = str(resp.get("Message", "refused"))
                # Asterisk answers a DBDel of a key that is not there "Database entry could not be deleted"
                # (main/db.c manager_dbdel: ast_db_del2 found no row), a DBDelTree of an empty family
                # "Database entry not found": either way the key is not there, which is what was asked.
                gone = fields["Action"] in ("DBDel", "DBDelTree") and (
                    "not found" in message.lower() or "could not be deleted" in message.lower())
                if not gone:
                    failures.append((i, f"{fields['Action']} {family}/{fields.get('Key', '')}: {message}"))

        await asyncio.gather(*(one(i, a) for i, a in enumerate(actions)))
        if failures:
            raise AmiError("astdb", min(failures)[1] + (f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""))
        return len(actions)

    async def reload(self, what: str, timeout: float | None = None) -> str:
        """Run one module-scoped CLI reload (`dialplan reload`, `moh reload`, `module reload X.so`; see
        ivr400.pbx.asterisk.config_files.RELOAD); CommandFailed when Asterisk says it failed."""
        cmd = what
        if not cmd.startswith(("dialplan reload", "moh reload", "module reload ")):
            raise AmiError("reload", f"{what!r} is not a module-scoped reload")
        output = await self.command(cmd, timeout)
        low = output.lower()
        if any(bad in low for bad in ("fail", "unable", "not found", "no such", "error")):
            raise CommandFailed(cmd, output)
        return output

    async def logoff(self) -> None:
        if self.manager is not None and self.manager._connected:
            try:
                await self._send({"Action": "Logoff"}, what="logoff", timeout=min(self.timeout, 1.0))
            except AmiError:
                pass

    def close(self) -> None:
        manager, self.manager = self.manager, None
        if manager is None:
            return
        manager._connected = False
        protocol = manager.protocol
        if protocol is None:
            return
        pending = list(protocol.responses.values())
        protocol.responses.clear()  # nothing for panoramisk to queue for a "reconnect"
        for action in pending:
            if not action.future.done():
                action.future.set_exception(AmiError("ami", "connection closed"))
        try:
            protocol.close()  # marks it closed first, so connection_lost does not call back into us
        except Exception:  # noqa: BLE001 - closing a dead transport
            pass

    async def __aenter__(self) -> AsyncAmi:
        if self.manager is None:
            await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.logoff()
        self.close()


class Ami:
    """Synchronous facade: `AsyncAmi` driven on a private event loop (one connection)."""

    def __init__(self, settings: AmiSettings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._client = AsyncAmi(settings)

    @classmethod
    def connect(cls, settings: AmiSettings | None = None, **creds: Any) -> Ami:  # noqa: ANN401
        """`Ami.connect(settings)` or `Ami.connect(host=..., port=..., username=..., secret=...)`."""
        if settings is None:
            timeout = float(creds.pop("timeout", DEFAULT_TIMEOUT_S))
            settings = AmiSettings.from_mapping(creds, timeout=timeout)
        ami = cls(settings)
        try:
            ami._run(ami._client.connect())
        except BaseException:
            ami.close()
            raise
        return ami

    def _run(self, coro: Any) -> Any:  # noqa: ANN401
        if self._loop.is_closed():
            coro.close()
            raise AmiError("ami", "connection closed")
        return self._loop.run_until_complete(coro)

    @property
    def version(self) -> str | None:
        return self._client.version

    def command(self, cmd: str, timeout: float | None = None) -> str:
        return self._run(self._client.command(cmd, timeout))

    def commands(self, cmds: Iterable[str], *, window: int = 32, timeout: float | None = None) -> list[str | AmiError]:
        return self._run(self._client.commands(cmds, window=window, timeout=timeout))

    def reload(self, what: str, timeout: float | None = None) -> str:
        return self._run(self._client.reload(what, timeout))

    def db_write(self, family: str, puts: Sequence[tuple[str, str]], deletes: Sequence[str] = (), *,
                 clear: bool = False, window: int = 256, timeout: float | None = None) -> int:
        return self._run(self._client.db_write(family, puts, deletes, clear=clear, window=window, timeout=timeout))

    def action(self, name: str, timeout: float | None = None, **fields: str) -> Any:  # noqa: ANN401
        return self._run(self._client.action(name, timeout, **fields))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self._client.logoff())
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        self._client.close()
        # Let the transport finish closing before the loop goes away.
        self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    def __enter__(self) -> Ami:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
