"""FreeSWITCH delivery: the files (atomic, only what changed, reload seam, rollback) and the mod_xml_curl
endpoint over real HTTP on loopback."""
from __future__ import annotations

import asyncio
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from ivr400.db.models import Hotline
from ivr400.deploy.freeswitch import FreeswitchDeployError, XmlCurlSource, deploy_freeswitch, xml_curl_app
from ivr400.provisioning.sample import HOTLINE, provision_sample
from ivr400.render.freeswitch import NOT_FOUND, render_freeswitch
from tests.fsxml.evaluator import Dialplan, run_call

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path}/fs.db")
    upgrade(eng)
    with Session(eng) as s:
        provision_sample(s, store_root=tmp_path / "store", now=NOW, actor="test")
        s.commit()
    yield eng
    eng.dispose()


def test_files_written_atomically_only_when_changed_and_reloaded(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        rendered = render_freeswitch(s, NOW)
    conf = tmp_path / "conf"
    calls: list[str] = []

    def reloadxml() -> str:
        calls.append("reloadxml")
        return "+OK [Success]\n"

    dry = deploy_freeswitch(rendered, conf, dry_run=True, reloadxml=reloadxml)
    assert dry.written == ["dialplan/ivr400.xml", "dialplan/public/ivr400.xml"] and not conf.exists() and not calls
    first = deploy_freeswitch(rendered, conf, reloadxml=reloadxml)
    assert first.written == dry.written and first.reloaded and first.reload_output == "+OK [Success]"
    assert (conf / "dialplan/ivr400.xml").read_text() == rendered.files["dialplan/ivr400.xml"]
    assert not list(conf.rglob("*.ivr400-tmp"))
    again = deploy_freeswitch(rendered, conf, reloadxml=reloadxml)
    assert again.written == [] and again.unchanged == dry.written and calls == ["reloadxml"]  # no reload needed


def test_failed_reload_restores_the_previous_files(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        old = render_freeswitch(s, NOW)
        s.execute(update(Hotline).values(voicemail=False))
        s.commit()
        new = render_freeswitch(s, NOW)
    assert old.files != new.files
    conf = tmp_path / "conf"
    deploy_freeswitch(old, conf)
    answers = iter(["-ERR [dialplan/ivr400.xml:3 mismatched tag]", "+OK [Success]"])
    with pytest.raises(FreeswitchDeployError, match="reloadxml: -ERR.*previous files restored") as err:
        deploy_freeswitch(new, conf, reloadxml=lambda: next(answers))
    assert err.value.report.rolled_back
    assert (conf / "dialplan/ivr400.xml").read_text() == old.files["dialplan/ivr400.xml"]

    def broken() -> str:
        raise ConnectionRefusedError("ESL down")
    with pytest.raises(FreeswitchDeployError, match="ESL down"):
        deploy_freeswitch(new, tmp_path / "fresh", reloadxml=broken)
    assert not (tmp_path / "fresh/dialplan/ivr400.xml").exists()  # a file that did not exist is removed again


def _serve(app: object) -> tuple[uvicorn.Server, threading.Thread, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "xml_curl server did not start"
        time.sleep(0.02)
    return server, thread, port


def _lookup(port: int, **fields: str) -> httpx.Response:
    # The fields mod_xml_curl posts for a dialplan lookup (a subset; FreeSWITCH sends every channel variable too).
    base = {"hostname": "fs1", "section": "dialplan", "tag_name": "", "key_name": "", "key_value": "",
            "Event-Name": "REQUEST_PARAMS", "Core-UUID": "c0ffee", "Caller-Caller-ID-Number": "13800138000"}
    return httpx.post(f"http://127.0.0.1:{port}/dialplan", data={**base, **fields}, timeout=5)


def test_xml_curl_over_http_answers_from_the_database(engine: Engine) -> None:
    now = [NOW]
    source = XmlCurlSource(engine, now=lambda: now[0], max_age_s=3600)
    server, thread, port = _serve(xml_curl_app(source))
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).text == "ok"
        public = _lookup(port, **{"Hunt-Context": "public", "Hunt-Destination-Number": HOTLINE,
                                  "Caller-Destination-Number": HOTLINE})
        assert public.status_code == 200 and public.headers["content-type"].startswith("text/xml")
        doc = ET.fromstring(public.text)
        assert doc.get("type") == "freeswitch/xml"
        assert [e.get("name") for e in doc.iter("extension")] == [f"ivr400-{HOTLINE}", "ivr400-unknown-400"]
        ivr = _lookup(port, **{"Hunt-Context": "ivr400", "Hunt-Destination-Number": "ivr400-entry"})
        plan = Dialplan([ivr.text, public.text])
        assert run_call(plan, HOTLINE, keys=["1"]).dialled == [
            "sofia/gateway/ivr400-out/01062345678", "sofia/gateway/ivr400-out/02161234567"]
        # Not ours: the not-found result, so FreeSWITCH goes on with its own files.
        assert _lookup(port, **{"Hunt-Context": "default", "Hunt-Destination-Number": "1000"}).text == NOT_FOUND
        assert _lookup(port, section="directory").text == NOT_FOUND
        assert _lookup(port, **{"Hunt-Context": "public", "Hunt-Destination-Number": "95555"}).text == NOT_FOUND
        # An edit bumps the configuration generation: the next lookup reads the database again, no reload.
        loads = source.loads
        with Session(engine) as s:
            s.execute(update(Hotline).values(active=False))
            s.commit()
        gone = _lookup(port, **{"Hunt-Context": "public", "Hunt-Destination-Number": HOTLINE})
        assert [e.get("name") for e in ET.fromstring(gone.text).iter("extension")] == ["ivr400-unknown-400"]
        assert source.loads == loads + 1
        too_big = httpx.post(f"http://127.0.0.1:{port}/dialplan", content=b"x" * 300_000, timeout=5)
        assert too_big.status_code == 413
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_documented_xml_curl_binding_points_at_serve_xml() -> None:
    from ivr400.cli.serve_xml import DEFAULT_HOST, DEFAULT_PORT
    from tests.operations_doc import blocks

    conf = ET.fromstring(blocks()["autoload_configs/xml_curl.conf.xml"].text)
    param = conf.find("bindings/binding/param[@name='gateway-url']")
    assert param is not None and param.get("bindings") == "dialplan"
    assert param.get("value") == f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/dialplan"


def test_cli_deploy_reloads_over_esl_and_rolls_back_when_refused(tmp_path: Path) -> None:
    """`ivr400 deploy --pbx freeswitch --out DIR` with freeswitch.esl_password set: `api reloadxml` over the
    event socket (a fake FreeSWITCH on loopback); a refused login leaves the previous files in place."""
    import threading

    from click.testing import CliRunner

    from ivr400.cli import main
    from tests.fakes.fake_freeswitch import FakeEventSocket

    loop = asyncio.new_event_loop()
    fake = loop.run_until_complete(FakeEventSocket(password="s3cret-esl").start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        conf = tmp_path / "conf"
        (conf / "dialplan").mkdir(parents=True)
        env = {"IVR400_DATA_DIR": str(tmp_path / "data"), "IVR400_DATABASE_URL": "",
               "IVR400_FREESWITCH_ESL_HOST": "127.0.0.1", "IVR400_FREESWITCH_ESL_PORT": str(fake.port),
               "IVR400_FREESWITCH_ESL_PASSWORD": "s3cret-esl"}
        runner = CliRunner()
        assert runner.invoke(main, ["demo"], env=env).exit_code == 0
        out = runner.invoke(main, ["deploy", "--pbx", "freeswitch", "--out", str(conf)], env=env)
        assert out.exit_code == 0, out.output
        assert "reloaded: reloadxml over ESL (+OK [Success])" in out.output
        assert [c.line for c in fake.commands] == ["auth s3cret-esl", "api reloadxml"]
        first = (conf / "dialplan/public/ivr400.xml").read_text()

        assert runner.invoke(main, ["hotline", "add", "4008765432", "--enterprise", "北京示例科技有限公司"],
                             env=env).exit_code == 0
        bad = runner.invoke(main, ["deploy", "--pbx", "freeswitch", "--out", str(conf)],
                            env={**env, "IVR400_FREESWITCH_ESL_PASSWORD": "wrong"})
        assert bad.exit_code != 0
        assert "wrong" not in bad.output and "s3cret-esl" not in bad.output
        assert (conf / "dialplan/public/ivr400.xml").read_text() == first, "refused reload: previous files back"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(fake.close())
        loop.close()


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "{missing}"], "has no dialplan/ directory"),
    (["--dry-run", "--socket", "127.0.0.1:99999"], "socket: port '99999' is not a TCP port (1-65535)"),
    (["--dry-run", "--socket", "[::1]:8084"], "socket: host '[::1]': letters, digits"),
    (["--dry-run", "--socket", "nohostport"], "socket: 'nohostport' is not host:port"),
])
def test_cli_deploy_refuses_bad_out_and_socket_naming_the_field(tmp_path: Path, args: list[str],
                                                                message: str) -> None:
    from click.testing import CliRunner

    from ivr400.cli import main

    env = {"IVR400_DATA_DIR": str(tmp_path / "data"), "IVR400_DATABASE_URL": ""}
    runner = CliRunner()
    assert runner.invoke(main, ["demo"], env=env).exit_code == 0
    missing = tmp_path / "etc" / "freeswitc"
    out = runner.invoke(main, ["deploy", "--pbx", "freeswitch", *[a.format(missing=missing) for a in args]], env=env)
    assert out.exit_code != 0 and message in out.output, out.output
    assert "templates:" not in out.output
    assert not missing.exists() and not (tmp_path / "etc").exists(), "nothing written"


def test_serve_xml_refuses_a_bad_socket_at_start(tmp_path: Path) -> None:
    """A socket the dialplan can never carry must stop serve-xml at start-up, not answer "not found" forever."""
    from click.testing import CliRunner

    from ivr400.cli import main

    env = {"IVR400_DATA_DIR": str(tmp_path / "data"), "IVR400_DATABASE_URL": ""}
    runner = CliRunner()
    assert runner.invoke(main, ["demo"], env=env).exit_code == 0
    out = runner.invoke(main, ["serve-xml", "--port", "1", "--socket", "x y:1"], env=env)
    assert out.exit_code != 0 and "socket: host 'x y'" in out.output, out.output
    bad = tmp_path / "tpl"
    bad.mkdir()
    (bad / "xml_curl_ivr400.xml.j2").write_text("<document>{{ broken(</document>")  # not even Jinja2
    out = runner.invoke(main, ["serve-xml", "--port", "1", "--templates", str(bad)], env=env)
    assert out.exit_code != 0 and "templates:" in out.output, out.output
