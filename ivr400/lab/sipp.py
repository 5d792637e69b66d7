"""sipp harness: the carrier (UAC) and the seats (UAS) on loopback, for the e2e tests and `ivr400 demo --call`.

    result = call("4008001234", "13800138000", dtmf="2")       # blocks until the call ends
    result.final_status, result.early_media, result.responses, result.duration_s

    with SeatUas(5071, behaviour="answer", answer_after_s=1) as seat:
        ...
        seat.wait_for_invites(1); seat.invite_count; seat.invites()[0].time

Scenarios live in ivr400/lab/scenarios/ (package data: they ship in the wheel) and are rendered
(markers @@NAME@@) into a work dir per run.
Every sipp run writes its SIP message log (`-trace_msg -message_file`), which is parsed into
`SipMessage`s; sipp processes are stopped by PID.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

__all__ = [
    "DTMF_PCAP", "ERROR_CODES", "PBX_HOST", "PBX_PORT", "PCAP_DIR", "SCENARIOS", "CallResult", "SeatUas",
    "SipMessage", "SippError", "call", "media_port_for", "parse_message_log", "sipp_binary",
]

SCENARIOS = Path(__file__).with_name("scenarios")
PCAP_DIR = Path("/usr/share/sip-tester")
PBX_HOST = "127.0.0.1"
PBX_PORT = 5060
#: Final responses the carrier scenario handles explicitly (anything else aborts the sipp call).
ERROR_CODES = (
    400, 401, 403, 404, 405, 407, 408, 410, 415, 420, 480, 481, 482, 483, 484, 485, 486, 487, 488, 491,
    500, 501, 502, 503, 504, 580, 600, 603, 604, 606,
)
#: Debian's sip-tester ships one RFC 4733 (payload type 101) pcap per key.
DTMF_PCAP = {
    **{d: f"dtmf_2833_{d}.pcap" for d in "0123456789"},
    "*": "dtmf_2833_star.pcap",
    "#": "dtmf_2833_pound.pcap",
}


class SippError(RuntimeError):
    pass


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise SippError("sipp is not installed (apt-get install -y sip-tester)")
    return path


def media_port_for(sip_port: int) -> int:
    """A per-instance RTP port above Asterisk's range (rtp.conf: 10000-19999); sipp uses port and port+2."""
    return 20000 + 4 * (sip_port % 5000)


# -- message log --------------------------------------------------------------------------------
@dataclass
class SipMessage:
    """One SIP message from a sipp message log."""

    direction: str  # "sent" | "received"
    time: float  # epoch seconds
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def is_response(self) -> bool:
        return self.first_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int | None:
        return int(self.first_line.split()[1]) if self.is_response else None

    @property
    def reason(self) -> str:
        return self.first_line.split(" ", 2)[2] if self.is_response else ""

    @property
    def method(self) -> str:
        """Request method, or the CSeq method for a response."""
        if not self.is_response:
            return self.first_line.split()[0]
        return (self.header("CSeq") or " ").split()[-1]

    @property
    def request_uri(self) -> str | None:
        return None if self.is_response else self.first_line.split()[1]

    def header(self, name: str) -> str | None:
        head = self.text.split("\n\n", 1)[0]
        for line in head.split("\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    @property
    def body(self) -> str:
        parts = self.text.split("\n\n", 1)
        return parts[1] if len(parts) > 1 else ""

    @property
    def has_sdp(self) -> bool:
        return (self.header("Content-Type") or "").lower().startswith("application/sdp") and "m=audio" in self.body

    @property
    def call_id(self) -> str | None:
        return self.header("Call-ID") or self.header("i")


_SEPARATOR = re.compile(r"^-{20,} (?P<stamp>.+)$")
_DIRECTION = re.compile(r"^\S+ message (?P<dir>sent|received)")


def _parse_stamp(stamp: str) -> float:
    stamp = stamp.strip()
    m = re.match(r"(\d{4}-\d{2}-\d{2})\s+(\d{2}:\d{2}:\d{2})(?:[.:](\d+))?", stamp)
    if m:
        frac = m.group(3) or "0"
        base = datetime.strptime(f"{m.group(1)} {m.group(2)}", "%Y-%m-%d %H:%M:%S").timestamp()
        return base + int(frac) / 10 ** len(frac)
    try:
        return float(stamp.split()[0])
    except (ValueError, IndexError):
        return 0.0


def parse_message_log(path: Path) -> list[SipMessage]:
    """Parse a sipp `-trace_msg` message file into SipMessages (in file order)."""
    try:
        raw = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    messages: list[SipMessage] = []
    lines = raw.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        sep = _SEPARATOR.match(lines[i])
        if not sep:
            i += 1
            continue
        stamp = _parse_stamp(sep.group("stamp"))
        i += 1
        direction = None
        if i < len(lines):
            d = _DIRECTION.match(lines[i])
            direction = d.group("dir") if d else None
            i += 1
        body_lines = []
        while i < len(lines) and not _SEPARATOR.match(lines[i]):
            body_lines.append(lines[i])
            i += 1
        text = "\n".join(body_lines).strip("\n")
        if direction and text:
            messages.append(SipMessage(direction=direction, time=stamp, text=text + "\n"))
    return messages


# -- rendering ------------------------------------------------------------------------------------
def _render(name: str, replacements: dict[str, str], workdir: Path, scenarios: Path = SCENARIOS) -> Path:
    text = (scenarios / name).read_text()
    for key, value in replacements.items():
        text = text.replace(f"<!--@@{key}@@-->", value).replace(f"@@{key}@@", value)
    leftover = re.findall(r"@@[A-Z_]+@@", text)
    if leftover:
        raise SippError(f"{name}: unrendered markers {sorted(set(leftover))}")
    target = workdir / name
    target.write_text(text)
    return target


def _error_recvs() -> str:
    return "\n  ".join(f'<recv response="{c}" optional="true" next="failed"/>' for c in ERROR_CODES)


def _info_dtmf(digit: str, cseq: int, duration_ms: int) -> str:
    return f"""<send retrans="500">
    <![CDATA[
      INFO sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:@@FROM@@@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: <sip:@@FROM@@@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration={duration_ms}
    ]]>
  </send>
  <recv response="200"/>"""


#: Link-layer header length by pcap link type (Ethernet, raw IP, Linux cooked capture).
_LINK_HEADER = {1: 14, 101: 0, 113: 16}


def renumber_rtp_pcap(src: Path, dst: Path, *, first_seq: int, timestamp: int) -> Path:
    """Copy an RTP pcap with its sequence numbers moved to start at `first_seq` and every RTP
    timestamp set to `timestamp`.

    Debian's dtmf_2833_<digit>.pcap files share one SSRC, and their sequence numbers and event
    timestamps grow with the digit (1 < 2 < ... < 9). Asterisk drops an RFC 4733 event whose
    timestamp is older than the last event it ended ("duplicated or older DTMF"), so "9" then "2"
    played as they are loses the "2". Each digit of a call gets a copy numbered after the previous
    one. sipp recomputes the UDP checksum over the patched payload when it plays the file.
    """
    data = bytearray(src.read_bytes())
    magic = bytes(data[:4])
    if magic == b"\xd4\xc3\xb2\xa1":
        endian = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian = ">"
    else:
        raise SippError(f"{src}: not a classic pcap file")
    link = _LINK_HEADER.get(struct.unpack_from(endian + "I", data, 20)[0])
    if link is None:
        raise SippError(f"{src}: unsupported pcap link type")
    offset, base = 24, None
    while offset + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, offset + 8)[0]
        packet = offset + 16
        ip = packet + link
        rtp = ip + (data[ip] & 0x0F) * 4 + 8
        if rtp + 12 > packet + incl:
            raise SippError(f"{src}: a packet too short for RTP")
        seq = struct.unpack_from("!H", data, rtp + 2)[0]
        base = seq if base is None else base
        struct.pack_into("!H", data, rtp + 2, (first_seq + (seq - base)) & 0xFFFF)
        struct.pack_into("!I", data, rtp + 4, timestamp & 0xFFFFFFFF)
        offset = packet + incl
    dst.write_bytes(bytes(data))
    return dst


def _dtmf_block(digits: str, mode: str, delay_ms: int, gap_ms: int, first_cseq: int,
                workdir: Path | None = None) -> tuple[str, int]:
    """Scenario XML that sends `digits` after `delay_ms`; returns (xml, next CSeq)."""
    parts = [f'<pause milliseconds="{delay_ms}"/>'] if delay_ms else []
    cseq = first_cseq
    for index, digit in enumerate(digits):
        if digit in (",", " "):  # a comma is an extra gap
            parts.append(f'<pause milliseconds="{gap_ms}"/>')
            continue
        if mode == "rfc4733":
            if digit not in DTMF_PCAP:
                raise SippError(f"no RFC 4733 pcap for DTMF {digit!r}")
            pcap = PCAP_DIR / DTMF_PCAP[digit]
            if workdir is not None:  # strictly increasing seq/timestamp per digit (see renumber_rtp_pcap)
                pcap = renumber_rtp_pcap(pcap, workdir / f"dtmf-{index:02d}-{pcap.name}",
                                         first_seq=20000 + 50 * index, timestamp=160000 + 16000 * index)
            parts.append(f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
        elif mode == "info":
            parts.append(_info_dtmf(digit, cseq, 250))
            cseq += 1
        else:
            raise SippError(f"dtmf_mode must be 'rfc4733' or 'info', not {mode!r}")
        parts.append(f'<pause milliseconds="{gap_ms}"/>')
    return "\n  ".join(parts), cseq


# -- the carrier (UAC) ---------------------------------------------------------------------------
@dataclass
class CallResult:
    """What the carrier saw of one call."""

    to_number: str
    from_number: str
    returncode: int
    duration_s: float  # wall time of the sipp run
    messages: list[SipMessage]
    workdir: Path
    stderr: str = ""

    @property
    def invite_responses(self) -> list[SipMessage]:
        return [m for m in self.messages if m.direction == "received" and m.is_response and m.method == "INVITE"]

    @property
    def responses(self) -> list[int]:
        """Status codes of responses to the INVITE, in arrival order (retransmissions collapsed)."""
        codes: list[int] = []
        for m in self.invite_responses:
            if not codes or codes[-1] != m.status:
                codes.append(m.status)  # type: ignore[arg-type]
        return codes

    @property
    def final_status(self) -> int | None:
        finals = [m.status for m in self.invite_responses if (m.status or 0) >= 200]
        return finals[0] if finals else None

    @property
    def answered(self) -> bool:
        return self.final_status == 200

    @property
    def early_media(self) -> bool:
        """A 183 Session Progress with SDP arrived before the final response."""
        return any(m.status == 183 and m.has_sdp for m in self.invite_responses)

    def _first_time(self, pred: Callable[[SipMessage], bool]) -> float | None:
        for m in self.messages:
            if pred(m):
                return m.time
        return None

    @property
    def invite_time(self) -> float | None:
        return self._first_time(lambda m: m.direction == "sent" and m.method == "INVITE" and not m.is_response)

    @property
    def answer_delay_s(self) -> float | None:
        """Seconds from the INVITE to the 200 OK."""
        t0 = self.invite_time
        t1 = self._first_time(lambda m: m.direction == "received" and m.status == 200 and m.method == "INVITE")
        return None if t0 is None or t1 is None else t1 - t0

    @property
    def call_duration_s(self) -> float | None:
        """Seconds from the INVITE to the last message of the call."""
        t0 = self.invite_time
        return None if t0 is None or not self.messages else self.messages[-1].time - t0

    @property
    def hangup_by(self) -> str | None:
        """'pbx' if Asterisk sent the BYE, 'carrier' if we did, None if the call was never up."""
        for m in self.messages:
            if not m.is_response and m.method == "BYE":
                return "carrier" if m.direction == "sent" else "pbx"
        return None

    def __repr__(self) -> str:
        return (
            f"CallResult(to={self.to_number}, final={self.final_status}, responses={self.responses}, "
            f"early_media={self.early_media}, hangup_by={self.hangup_by}, rc={self.returncode}, "
            f"duration={self.duration_s:.2f}s, workdir={self.workdir})"
        )


def call(
    to_number: str,
    from_number: str = "13800138000",
    *,
    dtmf: str | None = None,
    dtmf_mode: str = "rfc4733",
    dtmf_delay_s: float = 1.0,
    dtmf_gap_s: float = 0.5,
    dtmf_early: bool = False,
    expect_early_media: bool = False,
    hold_s: float = 1.0,
    audio: str | Path | None = None,
    audio_delay_s: float = 0.0,
    local_port: int = 5070,
    local_host: str = "127.0.0.1",
    media_port: int | None = None,
    pbx_host: str = PBX_HOST,
    pbx_port: int = PBX_PORT,
    timeout_s: float = 60.0,
    workdir: Path | None = None,
) -> CallResult:
    """Place one call as the carrier from `local_host:local_port` (127.0.0.1 matches the lab's
    `carrier` identify) to `to_number` at the PBX; block until it ends.

    dtmf: digits to send once answered (after `dtmf_delay_s`, `dtmf_gap_s` apart; ',' adds a gap),
    by RFC 4733 (sipp plays Debian's dtmf_2833_*.pcap) or SIP INFO (application/dtmf-relay).
    dtmf_early: send them after the 183 instead (needs expect_early_media).
    expect_early_media: the scenario requires a 183 before the final response.
    audio: a pcap of RTP audio the caller plays once answered, before any DTMF (e.g. "g711a.pcap",
    7 s of speech shipped by Debian's sip-tester; a bare name is looked up in PCAP_DIR), after
    `audio_delay_s`: a message for the voicemail.
    hold_s: how long the carrier stays on an answered call, after the audio start and the DTMF,
    before sending BYE (unless the PBX hangs up first). The outcome (final status, responses, early media,
    who hung up) is parsed from the message log.
    """
    if dtmf_early and not expect_early_media:
        raise SippError("dtmf_early needs expect_early_media=True")
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"sipp-uac-{to_number}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    media_port = media_port or media_port_for(local_port)
    cseq = 2
    early = answered = ""
    if audio is not None:
        pcap = Path(audio) if Path(audio).is_absolute() else PCAP_DIR / str(audio)
        if not pcap.is_file():
            raise SippError(f"no audio pcap {pcap}")
        answered = f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>'
        if audio_delay_s > 0:
            answered = f'<pause milliseconds="{int(audio_delay_s * 1000)}"/>\n  ' + answered
    if dtmf:
        block, cseq = _dtmf_block(dtmf, dtmf_mode, int(dtmf_delay_s * 1000), int(dtmf_gap_s * 1000), cseq,
                                  workdir)
        if dtmf_early:
            early = block
        else:
            answered = "\n  ".join(x for x in (answered, block) if x)
    scenario_text = {
        "ERRORS_A": _error_recvs(),
        "ERRORS_B": _error_recvs(),
        "FIRST_183": '<recv response="183"/>' if expect_early_media else '<recv response="183" optional="true"/>',
        "EARLY": early,
        "ANSWERED": answered,
        "BYE_CSEQ": str(cseq),
        "FROM": from_number,  # last: the DTMF blocks carry @@FROM@@ too
    }
    scenario = _render("uac.xml", scenario_text, workdir)
    msg_file = workdir / "messages.log"
    err_file = workdir / "errors.log"
    cmd = [
        sipp_binary(), f"{pbx_host}:{pbx_port}",
        "-sf", str(scenario), "-s", to_number,
        "-i", local_host, "-p", str(local_port), "-mi", local_host, "-mp", str(media_port),
        "-m", "1", "-l", "1", "-d", str(int(hold_s * 1000)),
        "-nostdin", "-aa", "-default_behaviors", "all,-abortunexp",
        "-timeout", f"{int(timeout_s)}s", "-timeout_error",
        "-trace_msg", "-message_file", str(msg_file),
        "-trace_err", "-error_file", str(err_file),
    ]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=timeout_s + 10)
    except subprocess.TimeoutExpired:
        _kill(proc)
        _, stderr = proc.communicate()
    duration = time.monotonic() - started
    messages = parse_message_log(msg_file)
    # Only this call's messages: a reused port can still get retransmissions of an earlier call.
    call_ids = [m.call_id for m in messages if m.direction == "sent" and m.method == "INVITE"]
    if call_ids:
        messages = [m for m in messages if m.call_id == call_ids[0]]
    return CallResult(
        to_number=to_number,
        from_number=from_number,
        returncode=proc.returncode,
        duration_s=duration,
        messages=messages,
        workdir=workdir,
        stderr=(stderr or "") + _read(err_file),
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _kill(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Stop a sipp process by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=timeout)


def _udp_port_bound(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on host:port/udp (from /proc/net/udp)."""
    want_port = f"{port:04X}"
    want_hosts = {socket.inet_aton(host)[::-1].hex().upper(), "00000000"}  # /proc/net/udp: little-endian hex
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        local = line.split()[1]
        h, _, p = local.partition(":")
        if p == want_port and h in want_hosts:
            return True
    return False


# -- the seats (UAS) -----------------------------------------------------------------------------
@dataclass
class SeatUas:
    """A seat: sipp as UAS on 127.0.0.1:`port`, running in the background until stop().

    behaviour: 'answer' (180, then 200 after `answer_after_s`; waits for BYE, or sends BYE after
    `hangup_after_s`), 'busy' (486) or 'ring' (180, never answers; CANCEL gets 200 + 487).
    `dtmf`: digits an answering UAS sends (RFC 4733) `dtmf_after_s` after the ACK: a visitor the platform
    called back (WEB呼叫) pressing 1, for instance.
    Every INVITE it receives is in `invites()` with its arrival time (epoch seconds).
    """

    port: int
    behaviour: str = "answer"
    answer_after_s: float = 0.0
    hangup_after_s: float | None = None
    dtmf: str | None = None
    dtmf_after_s: float = 1.0
    host: str = "127.0.0.1"
    media_port: int | None = None
    workdir: Path | None = None
    proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    @property
    def message_file(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "messages.log"

    @property
    def uri_host(self) -> str:
        return f"{self.host}:{self.port}"

    def dial_string(self, user: str = "seat") -> str:
        """The Asterisk dial string reaching this seat through the lab's `pstn` endpoint."""
        return f"PJSIP/pstn/sip:{user}@{self.host}:{self.port}"

    def _scenario(self) -> Path:
        assert self.workdir is not None
        if self.behaviour == "answer":
            after = ack_actions = invite_actions = ""
            if self.hangup_after_s is not None:
                invite_actions = """<action>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="peer_contact"/>
    </action>"""
                # The seat's own BYE swaps the dialog's From/To, taken from the ACK.
                ack_actions = """<action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="peer_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="own_to"/>
    </action>"""
                after = f"""<pause milliseconds="{int(self.hangup_after_s * 1000)}"/>
  <send retrans="500">
    <![CDATA[
      BYE [$peer_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$own_to]
      To: [$peer_from]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <nop next="linger"/>"""
            if self.dtmf:
                block, _ = _dtmf_block(self.dtmf, "rfc4733", int(self.dtmf_after_s * 1000), 500, 2, self.workdir)
                after = block + "\n  " + after
            markers = {
                "ANSWER_AFTER_MS": str(int(self.answer_after_s * 1000)),
                "AFTER_ANSWER": after,
                "ACK_ACTIONS": ack_actions,
                "INVITE_ACTIONS": invite_actions,
            }
            return _render("seat_answer.xml", markers, self.workdir)
        if self.behaviour == "busy":
            return _render("seat_busy.xml", {}, self.workdir)
        if self.behaviour == "ring":
            return _render("seat_ring.xml", {}, self.workdir)
        raise SippError(f"behaviour must be 'answer', 'busy' or 'ring', not {self.behaviour!r}")

    def start(self, timeout: float = 5.0) -> SeatUas:
        if self.proc is not None:
            return self
        if _udp_port_bound(self.port, self.host):
            raise SippError(f"seat port {self.host}:{self.port}/udp is already in use")
        self.workdir = Path(self.workdir or tempfile.mkdtemp(prefix=f"sipp-seat-{self.port}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        scenario = self._scenario()
        cmd = [
            sipp_binary(), "-sf", str(scenario),
            "-i", self.host, "-p", str(self.port),
            "-mi", self.host, "-mp", str(self.media_port or media_port_for(self.port)),
            "-nostdin", "-aa", "-default_behaviors", "all,-abortunexp",
            "-trace_msg", "-message_file", str(self.message_file),
            "-trace_err", "-error_file", str(self.workdir / "errors.log"),
        ]
        with open(self.workdir / "stderr.log", "wb") as stderr:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                detail = _read(self.workdir / "stderr.log")[-2000:]
                raise SippError(f"seat sipp on {self.port} exited ({self.proc.returncode}): {detail}")
            if _udp_port_bound(self.port, self.host):
                return self
            time.sleep(0.05)
        self.stop()
        raise SippError(f"seat sipp on {self.port} did not bind within {timeout:g} s")

    def stop(self) -> None:
        if self.proc is not None:
            _kill(self.proc)

    def __enter__(self) -> SeatUas:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it saw ---------------------------------------------------------------------------
    def messages(self) -> list[SipMessage]:
        return parse_message_log(self.message_file) if self.workdir else []

    def invites(self) -> list[SipMessage]:
        """Initial INVITEs received (retransmissions, same Call-ID, counted once)."""
        seen: set[str | None] = set()
        out = []
        for m in self.messages():
            is_invite = m.direction == "received" and not m.is_response and m.method == "INVITE"
            if is_invite and m.call_id not in seen:
                seen.add(m.call_id)
                out.append(m)
        return out

    @property
    def invite_count(self) -> int:
        return len(self.invites())

    @property
    def invite_times(self) -> list[float]:
        return [m.time for m in self.invites()]

    def wait_for_invites(self, count: int, timeout: float = 10.0) -> list[SipMessage]:
        """Wait until at least `count` INVITEs arrived (returns them; fewer on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.invites()
            if len(got) >= count or time.monotonic() >= deadline:
                return got
            time.sleep(0.1)

    def requests(self, method: str) -> list[SipMessage]:
        return [
            m for m in self.messages() if m.direction == "received" and not m.is_response and m.method == method
        ]
