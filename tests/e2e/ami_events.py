"""What the lab's Asterisk did, call by call, from its manager interface (AMI) events.

    with AmiEvents(lab) as ami:                  # logs in with the lab's credentials, collects in a thread
        ...place calls...
        ami.wait_for(lambda e: e.app == "Dial" and e.caller == "13800000001", timeout=10)
        steps = ami.steps("13800000001")       # the caller's dialplan steps, in order

Only the carrier's side of a call is kept (channels ``PJSIP/carrier-...``): every ``Newexten`` (one per
dialplan step the caller's channel executes, with the application and its arguments as executed) and
``MusicOnHoldStart`` (the class the caller actually hears while seats ring). Calls are told apart by the
caller number (``CallerIDNum``): tests give every call its own. Each event carries the time this process
received it (epoch seconds), comparable with the sipp message logs' times.

A plain socket client on purpose: the tests watch Asterisk, they do not need ivr400's AMI code to do it.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr400.lab import Lab

__all__ = ["AmiEvents", "Step"]

_KEEP = {"Newexten", "MusicOnHoldStart"}


@dataclass(frozen=True)
class Step:
    """One event of a caller's channel: a dialplan step (``Newexten``) or the start of music on hold."""

    time: float
    event: str
    caller: str
    channel: str
    context: str = ""
    exten: str = ""
    priority: int = 0
    app: str = ""
    data: str = ""
    moh_class: str = ""
    fields: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def sound(self) -> str | None:
        """What the caller hears at this step, normalized: a sound file, ``ringback:<class>``, ``record``,
        ``busy``, ``dial:<targets>`` (ringing indication unless music on hold follows), or None."""
        if self.event == "MusicOnHoldStart":
            return f"ringback:{self.moh_class}"
        args = self.data.split(",")
        app = self.app.lower()  # Asterisk reports its own spelling ("BackGround")
        if app in ("playback", "background"):
            return args[0]
        if app == "read":
            return args[1] if len(args) > 1 else None
        if app == "record":
            return "record"
        if app == "busy":
            return "busy"
        if app == "dial":
            return f"dial:{args[0]}"
        return None


class AmiEvents:
    """Collects the carrier-side ``Newexten``/``MusicOnHoldStart`` events of the lab in a background thread."""

    def __init__(self, lab: Lab, *, channel_prefix: str = "PJSIP/carrier-") -> None:
        creds = lab.ami_credentials
        self.host = str(creds.get("host", "127.0.0.1"))
        self.port = int(creds.get("port", 5038))  # type: ignore[arg-type]
        self.username = str(creds.get("username"))
        self.secret = str(creds.get("secret"))
        self.prefix = channel_prefix
        self.events: list[Step] = []
        self._lock = threading.Condition()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> AmiEvents:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.settimeout(timeout)
        buf = b""
        while b"\r\n" not in buf:
            buf += sock.recv(4096)  # the banner
        buf = buf.split(b"\r\n", 1)[1]
        sock.sendall((f"Action: Login\r\nUsername: {self.username}\r\nSecret: {self.secret}\r\n"
                      "Events: call,dialplan\r\n\r\n").encode())
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("AMI closed the connection during login")
                buf += chunk
            raw, buf = buf.split(b"\r\n\r\n", 1)
            msg = _parse(raw)
            if "Response" in msg:
                if msg["Response"] != "Success":
                    raise ConnectionError(f"AMI login refused: {msg.get('Message')}")
                break
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._run, args=(buf,), name="ami-events", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            try:
                self._sock.sendall(b"Action: Logoff\r\n\r\n")
            except OSError:
                pass
            self._sock.close()

    def __enter__(self) -> AmiEvents:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, buf: bytes) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            now = time.time()
            while b"\r\n\r\n" in buf:
                raw, buf = buf.split(b"\r\n\r\n", 1)
                msg = _parse(raw)
                step = self._step(msg, now)
                if step is not None:
                    with self._lock:
                        self.events.append(step)
                        self._lock.notify_all()

    def _step(self, msg: dict[str, str], now: float) -> Step | None:
        name = msg.get("Event")
        channel = msg.get("Channel", "")
        if name not in _KEEP or not channel.startswith(self.prefix):
            return None
        try:
            priority = int(msg.get("Priority", "0"))
        except ValueError:
            priority = 0
        return Step(time=now, event=name, caller=msg.get("CallerIDNum", ""), channel=channel,
                    context=msg.get("Context", ""), exten=msg.get("Exten", ""), priority=priority,
                    app=msg.get("Application", ""), data=msg.get("AppData", ""), moh_class=msg.get("Class", ""),
                    fields=msg)

    # -- queries ------------------------------------------------------------------------------------
    def steps(self, caller: str) -> list[Step]:
        with self._lock:
            return [e for e in self.events if e.caller == caller]

    def sounds(self, caller: str) -> list[str]:
        """What the caller heard, step by step, in order (see `Step.sound`)."""
        return [s for s in (step.sound for step in self.steps(caller)) if s is not None]

    def wait_for(self, predicate: Callable[[Step], bool], timeout: float = 10.0) -> Step | None:
        """The first collected event matching `predicate` (waiting up to `timeout` s for it), or None."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for e in self.events:
                    if predicate(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._lock.wait(left)


def _parse(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out
