"""ivr400 installed on an operator's Asterisk by the book (docs/operations.md), and a call through it.

A second Asterisk runs on its own configuration tree, laid out as an operator's /etc/asterisk: an
overlay over the lab's chroot (Debian's Asterisk 22 and its stock configuration files; the lab's
files, spool, logs and sockets hidden), with the operator's own extensions.conf, pjsip.conf (a carrier
endpoint identified by address, which is also the outbound trunk), modules.conf, musiconhold.conf and
manager.conf, to which the test adds exactly the snippets of docs/operations.md. It listens on
127.0.0.2 (SIP 5060, AMI 5038), runs as the `asterisk` user, and never touches the lab's Asterisk.

Every ivr400 step is a command taken from the page's blocks ("first deploy", "check and deploy",
"smoke test", "call records"), run as a subprocess with IVR400_CONFIG pointing at the page's example
configuration with the test's values; the services are started with the ExecStart lines of
packaging/systemd/*.service. Replicated rather than run: the install block's `useradd`/`install -d`
lines run inside the chroot (apt-get, pip and ln are not needed: the chroot has Asterisk, the checkout
has ivr400), `systemctl` is replaced by starting the units' ExecStart, and "reload Asterisk" by starting
it after the include files exist. The call: sipp as the carrier (127.0.0.3:5070) calls 400-800-0001,
ivr400's controller decides, the seat (sipp at 127.0.0.3:5080, the carrier endpoint's contact)
answers, and `ivr400 cdr list` shows the call record written by `cdr listen`.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ivr400.cdr.cdr_model import parse_csv_text
from ivr400.lab import Lab, process
from ivr400.lab.chroot import host_path, mount_proc, unmount_all
from ivr400.lab.config import NOLOAD, TIMING_NOLOAD
from ivr400.lab.sipp import SeatUas, call
from tests.conftest import _pg_schema_engine
from tests.operations_doc import blocks, ivr400_commands, lines

pytestmark = pytest.mark.pbx

IVR400 = Path(sys.executable).with_name("ivr400")
UNITS = Path(__file__).resolve().parents[2] / "packaging" / "systemd"
PBX, CARRIER = "127.0.0.2", "127.0.0.3"
CARRIER_PORT, SEAT_PORT = 5070, 5080
HOTLINE, SEAT_NUMBER = "4008000001", "01062345678"

# The operator's own files, before ivr400 (the docs' snippets are appended to them).
OPERATOR = {
    # (without the timerfd line: the page's modules.conf snippet adds it)
    "modules.conf": "[modules]\nautoload = yes\n" + "".join(f"noload => {m}\n" for m in NOLOAD if m != TIMING_NOLOAD),
    "logger.conf": "[general]\ndateformat = %F %T.%3q\n\n[logfiles]\nmessages.log => notice,warning,error\n",
    "rtp.conf": "[general]\nrtpstart = 40000\nrtpend = 40999\n",
    "extensions.conf": "[general]\nstatic = yes\nwriteprotect = yes\nautofallthrough = yes\n\n[globals]\n\n"
                       "; the operator's own extensions\n[internal]\nexten => 100,1,Answer()\n"
                       " same => n,Playback(beep)\n same => n,Hangup()\n\n",
    "pjsip.conf": f"""[global]
type = global
user_agent = operator-pbx

[transport-udp]
type = transport
protocol = udp
bind = {PBX}:5060

; the carrier: calls in from {CARRIER}, calls out to its SBC at {CARRIER}:{SEAT_PORT}
[carrier]
type = endpoint
transport = transport-udp
context = from-carrier
disallow = all
allow = alaw,ulaw
aors = carrier
direct_media = no
rtp_symmetric = yes
timers = no
100rel = no
dtmf_mode = rfc4733

[carrier]
type = aor
contact = sip:{CARRIER}:{SEAT_PORT}

[carrier]
type = identify
endpoint = carrier
match = {CARRIER}

""",
    "musiconhold.conf": "[general]\n\n[default]\nmode = files\ndirectory = moh\n\n",
    "manager.conf": f"[general]\nenabled = yes\nport = 5038\nbindaddr = {PBX}\ndisplayconnects = no\n\n",
    "cdr.conf": "",
    "cdr_custom.conf": "",
    "cdr_manager.conf": "",
}
#: What the overlay hides from the lab's chroot: its ivr400 files, logs, spool, sockets, astdb.
HIDDEN = ("/etc/asterisk/ivr400", "/var/log/asterisk", "/var/spool/asterisk/ivr400", "/var/run/asterisk",
          "/var/lib/asterisk/astdb.sqlite3", "/usr/share/asterisk/sounds/ivr400", "/var/lib/asterisk/moh/ivr400")


@dataclass
class Operator:
    root: Path
    config: Path
    work: Path
    log: Path
    pid: int | None = None
    services: dict[str, subprocess.Popen] = field(default_factory=dict)
    output: dict[str, Path] = field(default_factory=dict)

    def rx(self, command: str) -> str:
        return process.asterisk_rx(self.root, command)

    def ivr400(self, *args: str, ok: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**_clean_env(), "IVR400_CONFIG": str(self.config)}
        proc = subprocess.run([str(IVR400), *args], capture_output=True, text=True, env=env, cwd=self.work,
                              timeout=timeout)
        if ok:
            assert proc.returncode == 0, f"ivr400 {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("IVR400_")}


def _toml(data: dict[str, dict[str, object]]) -> str:
    out = ["# the page's example configuration with this test's values"]
    for section, table in data.items():
        out.append(f"\n[{section}]")
        for key, value in table.items():
            out.append(f"{key} = {json.dumps(value) if isinstance(value, (str, bool)) else value}")  # true, not True
    return "\n".join(out) + "\n"


def _ids(root: Path, name: str) -> tuple[int, int]:
    """uid and gid of `name` in the chroot's /etc/passwd."""
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise AssertionError(f"no user {name} in the chroot")


@pytest.fixture
def operator(lab: Lab, tmp_path: Path) -> Iterator[Operator]:
    docs = blocks()
    upper, workdir, root = tmp_path / "upper", tmp_path / "overlay-work", tmp_path / "root"
    for d in (upper, workdir, root):
        d.mkdir()
    mounted = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                              f"lowerdir={lab.root},upperdir={upper},workdir={workdir}", str(root)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount an overlay over the lab's chroot: {mounted.stderr.strip()}")
    op = Operator(root=root, config=tmp_path / "ivr400.toml", work=tmp_path / "work", log=tmp_path / "asterisk.log")
    op.work.mkdir()
    schemas = _pg_schema_engine()  # a private schema in the test database, dropped afterwards
    try:
        mount_proc(root)
        for path in HIDDEN:
            target = host_path(root, path)
            subprocess.run(["rm", "-rf", str(target)], check=True)
        uid, gid = _ids(root, "asterisk")
        for path in ("/var/log/asterisk", "/var/log/asterisk/cdr-csv", "/var/log/asterisk/cdr-custom",
                     "/var/run/asterisk"):  # empty, as Debian's package leaves them
            host_path(root, path).mkdir(parents=True)
            os.chown(host_path(root, path), uid, gid)
        etc = root / "etc" / "asterisk"
        # The install block: the user and the directories (inside the chroot, whose users Asterisk has).
        for argv in lines(docs["install"]):
            if argv[0] in ("useradd", "install"):
                subprocess.run(["chroot", str(root), *argv], check=True, capture_output=True)
        # The operator's files plus the page's snippets (AMI secret and this test's address filled in).
        secret = secrets.token_hex(16)
        for name, own in OPERATOR.items():
            snippet = docs.get(f"/etc/asterisk/{name}")
            body = own + (snippet.text if snippet else "")
            (etc / name).write_text(body.replace("CHANGE-ME-AMI-SECRET", secret))
            os.chown(etc / name, 0, gid)
            (etc / name).chmod(0o640)
        # The page's example configuration, pointed at this tree, a private PostgreSQL schema and 127.0.0.2.
        import tomllib

        cfg = tomllib.loads(docs["/etc/ivr400/ivr400.toml"].text)
        cfg["database"]["url"] = next(schemas).url.render_as_string(hide_password=False)
        cfg["data"]["dir"] = str(tmp_path / "data")
        cfg["asterisk"] = {"root": str(root), "config_dir": str(etc)}
        cfg["ami"].update(host=PBX, secret=secret)
        cfg["controller"]["host"] = PBX
        cfg["log"]["level"] = "debug"
        op.config.write_text(_toml(cfg))
        op.config.chmod(0o640)
        (op.work / "bill.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"carrier bill of 010-62345678" + b"\x00" * 64)
        yield op
    finally:
        for proc in op.services.values():
            _stop(proc)
        if op.pid is not None:
            process.stop_daemon(op.pid, timeout=10)
        unmount_all(root)
        schemas.close()  # drops the schema if it was created


def _stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _start_asterisk(op: Operator) -> None:
    op.pid = process.start_daemon(op.root, op.log, ("-U", "asterisk", "-G", "asterisk"))
    process.wait_booted(op.root, op.pid, op.log, (PBX, 5038), timeout=60)


def _exec_start(unit: Path, config: Path) -> tuple[list[str], dict[str, str]]:
    """argv and environment of a unit's ExecStart, with this checkout's ivr400 and the test's config."""
    values = dict(line.split("=", 1) for line in unit.read_text().splitlines()
                  if line.startswith(("ExecStart=", "Environment=")))
    argv = values["ExecStart"].split()
    assert argv[0] == "/opt/ivr400/bin/ivr400"
    key, _, value = values["Environment"].partition("=")
    assert (key, value) == ("IVR400_CONFIG", "/etc/ivr400/ivr400.toml")
    return [str(IVR400), *argv[1:]], {**_clean_env(), key: str(config)}


def _start_service(op: Operator, unit: str, ready: str, timeout: float = 30) -> None:
    argv, env = _exec_start(UNITS / unit, op.config)
    out = op.work / f"{unit}.out"
    err = op.work / f"{unit}.err"
    proc = subprocess.Popen(argv, env=env, cwd=op.work, stdout=open(out, "w"), stderr=open(err, "w"),
                            stdin=subprocess.DEVNULL, start_new_session=True)
    op.services[unit], op.output[unit] = proc, err
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready in out.read_text() + err.read_text():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{unit} not ready ({proc.poll()}):\n{out.read_text()}\n{err.read_text()}")


def _check(op: Operator) -> tuple[int, dict[str, dict[str, str]]]:
    proc = op.ivr400("deploy", "--check", "--json", ok=False)
    report = json.loads(proc.stdout)
    return proc.returncode, {f["item"]: f for f in report["findings"]}


def test_install_by_the_docs_then_a_call_routes_through_it(operator: Operator) -> None:
    op = operator
    docs = blocks()
    # 1. First deploy: the schema, and the include files before Asterisk reads its #include lines.
    for args in ivr400_commands(docs["first deploy"]):
        op.ivr400(*args)
    etc = op.root / "etc" / "asterisk"
    assert sorted(p.name for p in (etc / "ivr400").glob("*.conf")) == [
        "cdr_custom.conf", "cdr_manager.conf", "extensions.conf", "musiconhold.conf", "pjsip.conf"]
    _start_asterisk(op)
    assert "ivr400-inbound" in op.rx("dialplan show ivr400-inbound")

    # 2. Check and deploy. The check passes on this tree (the controller is not started yet: a warning).
    commands = ivr400_commands(docs["check and deploy"])
    assert commands == [["deploy", "--check"], ["deploy"]]
    status, found = _check(op)
    assert status == 0, {k: v for k, v in found.items() if v["status"] != "ok"}
    assert found["ami read cdr"]["status"] == found["ami write command"]["status"] == "ok"
    assert found["include ivr400/cdr_custom.conf"]["status"] == "ok"
    assert found["cdr csv"]["detail"].endswith("not written yet (no call since cdr_custom loaded)")
    assert found["controller"]["status"] == "warning"
    assert found["timing module"]["status"] == "ok"  # the page's modules.conf line keeps timerfd out
    for args in commands:
        op.ivr400(*args)
    # ... and it names what the running Asterisk lacks, with the fix, and exits 1.
    op.rx("module unload app_mixmonitor.so")
    try:
        status, found = _check(op)
        assert status == 1 and found["application MixMonitor"]["status"] == "missing"
        assert found["application MixMonitor"]["fix"].startswith("`module load app_mixmonitor.so`")
        text = op.ivr400("deploy", "--check", ok=False).stdout
        assert "missing  application MixMonitor: not registered" in text
    finally:
        op.rx("module load app_mixmonitor.so")

    # 3. The services, as the systemd units start them.
    _start_service(op, "ivr400-serve.service", "ready: pid")
    _start_service(op, "ivr400-cdr.service", "listening for CDRs")

    # 4. The smoke test: a hotline with one seat behind the operator's trunk `carrier`, deployed.
    smoke = ivr400_commands(docs["smoke test"])
    assert ["trunk", "add", "carrier", "PJSIP/{number}@carrier"] in smoke
    for args in smoke:
        op.ivr400(*args)
    status, found = _check(op)
    assert status == 0 and found["pjsip endpoint carrier"]["status"] == "ok"
    assert found["controller"]["status"] == "ok"
    assert f"/ivr400/h/{HOTLINE}/s" in op.rx(f"database show ivr400 h/{HOTLINE}")  # the hotline's data is loaded

    # 5. The call: carrier -> operator's from-carrier context -> ivr400 -> controller -> seat.
    with SeatUas(SEAT_PORT, host=CARRIER, behaviour="answer", workdir=op.work / "seat") as seat:
        result = call(HOTLINE, "13912345678", local_host=CARRIER, local_port=CARRIER_PORT, pbx_host=PBX,
                      pbx_port=5060, hold_s=2.0, timeout_s=40, workdir=op.work / "carrier")
        assert result.answered, result
        invites = seat.invites()
    assert len(invites) == 1 and invites[0].request_uri == f"sip:{SEAT_NUMBER}@{CARRIER}:{SEAT_PORT}"

    # 6. The call record, as the page reads it.
    (records,) = ivr400_commands(docs["call records"])
    deadline = time.monotonic() + 20
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline and not rows:
        rows = json.loads(op.ivr400(*records).stdout)
        time.sleep(0.3)
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["hotline"] == HOTLINE and row["caller"] == "13912345678" and row["disposition"] == "answered"
    assert SEAT_NUMBER in str(row["seat"]) and row["answered_at"] is not None and row["source"] == "ami"
    # cdr_custom's CSV (the backfill source) has it too, where the settings say
    csv = host_path(op.root, "/var/log/asterisk/cdr-custom/ivr400.csv")
    legs = [leg for leg in parse_csv_text(csv.read_text()).legs if leg.hotline == HOTLINE]
    assert legs and {leg.linkedid for leg in legs} == {row["linkedid"]}

    # 7. The controller decided the call (its debug log names the route decision), and stops cleanly.
    serve = op.services["ivr400-serve.service"]
    _stop(serve)
    log = op.output["ivr400-serve.service"].read_text()
    assert re.search(rf"route: {HOTLINE} -> \w+", log), log[-2000:]
    assert serve.returncode == 0 and "'sessions_completed': 0" not in log
