"""FreeSWITCH renderer: golden files, XML well-formedness, escaping, overrides, errors, the xml_curl answers.

Golden files live in tests/render/golden/freeswitch/; regenerate them after an intended change with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render

and review the diff like code.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr400.render import RenderError
from ivr400.render.freeswitch import (
    FILES,
    NOT_FOUND,
    at_least_regex,
    render_freeswitch,
    render_freeswitch_model,
    ringback_for_class,
    xml_curl_document,
)
from ivr400.render.load import load_model
from tests.fsxml.evaluator import Dialplan, run_call
from tests.render.test_render import NOW, RICH, UPDATE, engine, rich, sample  # noqa: F401 - fixtures

GOLDEN = Path(__file__).with_name("golden") / "freeswitch"


def _check_golden(prefix: str, files: dict[str, str]) -> None:
    for _, output in FILES:
        path = GOLDEN / f"{prefix}.{output.replace('/', '_')}"
        if UPDATE:
            GOLDEN.mkdir(parents=True, exist_ok=True)
            path.write_bytes(files[output].encode("utf-8"))
        assert path.is_file(), f"{path} missing: run with UPDATE_GOLDEN=1"
        assert files[output].encode("utf-8") == path.read_bytes(), f"{output} differs from {path.name}"


def plan_of(files: dict[str, str]) -> Dialplan:
    return Dialplan([files["dialplan/ivr400.xml"], files["dialplan/public/ivr400.xml"]],
                    contexts_of_includes={1: "public"})


def test_sample_matches_golden_files(sample: Session) -> None:  # noqa: F811
    cfg = render_freeswitch(sample, NOW)
    _check_golden("sample", cfg.files)
    assert cfg.warnings == []


def test_rich_hotline_matches_golden_files(rich: Session) -> None:  # noqa: F811
    _check_golden("rich", render_freeswitch(rich, NOW).files)


def test_render_is_deterministic(rich: Session) -> None:  # noqa: F811
    model = load_model(rich, NOW)
    assert render_freeswitch_model(model).files == render_freeswitch_model(load_model(rich, NOW)).files


def test_every_file_parses_and_names_are_only_in_comments(rich: Session) -> None:  # noqa: F811
    cfg = render_freeswitch(rich, NOW)
    for text in cfg.files.values():
        root = ET.fromstring(text)
        assert root.tag == "include"
        for element in root.iter():
            for value in element.attrib.values():
                assert "evil" not in value and "Dial(" not in value
    ivr = cfg.files["dialplan/ivr400.xml"]
    # The hostile department name is in a comment, on one line, with no "--" to end the comment early.
    assert "人工;服务 [evil] exten =&gt; 666,1,Dial(PJSIP/666)" in ivr  # escaped, harmless in a comment
    comments = re.findall(r"<!--(.*?)-->", ivr, re.S)
    assert all("--" not in c for c in comments)


def test_rich_plan_routes_round_robin_cap_and_trunks(rich: Session) -> None:  # noqa: F811
    cfg = render_freeswitch(rich, NOW)
    plan = plan_of(cfg.files)
    shared: dict[str, str] = {"sounds_dir": "/snd"}
    # The switchboard is round robin with a cap of 2: each call starts one seat further, two seats tried.
    firsts = []
    for _ in range(4):
        r = run_call(plan, RICH, keys=[None, None, None], globals_=shared)
        assert len(r.dialled) == 2
        firsts.append(r.dialled[0])
    assert firsts[0] != firsts[1] and firsts[0] == firsts[3] and len(set(firsts)) == 3
    # Key 2 (a menu) then 1: simultaneous, both seats; the one on trunk "backup" goes through gateway carrier-b.
    r = run_call(plan, RICH, keys=["2", "1"], globals_=shared)
    assert r.bridges[0].mode == "simultaneous"
    assert r.dialled == ["sofia/gateway/ivr400-out/02155550007", "sofia/gateway/carrier-b/02155559999"]
    assert {leg.timeout for leg in r.bridges[0].legs} == {30}  # the group rings for its longest seat
    assert r.bridges[0].ringback == "/snd/ivr400/tone-12.wav"  # the hotline's ringback, inherited
    # Recorded hotline: the seat's leg records once it answers.
    assert "record_session /var/lib/freeswitch/recordings/ivr400/recordings/4001234567/" in \
        r.bridges[0].variables["execute_on_answer"]
    # No voicemail on this hotline: goodbye.
    assert r.variables["IVR400_DISPOSITION"] == "noanswer" and r.recorded is None


def test_template_override_and_errors(sample: Session, tmp_path: Path) -> None:  # noqa: F811
    model = load_model(sample, NOW)
    override = tmp_path / "tpl"
    override.mkdir()
    (override / "public.xml.j2").write_text("<include><!-- operator's own --></include>\n")
    cfg = render_freeswitch_model(model, template_dirs=[override])
    assert cfg.files["dialplan/public/ivr400.xml"] == "<include><!-- operator's own --></include>\n"
    assert "ivr400-entry" in cfg.files["dialplan/ivr400.xml"]  # the shipped one still renders the rest

    (override / "public.xml.j2").write_text("<include>\n{{ nonsense }}\n</include>\n")
    with pytest.raises(RenderError, match=r"public.xml.j2:2: undefined variable"):
        render_freeswitch_model(model, template_dirs=[override])
    (override / "public.xml.j2").write_text("<include><unclosed></include>\n")
    with pytest.raises(RenderError, match="does not parse"):
        render_freeswitch_model(model, template_dirs=[override])
    with pytest.raises(RenderError, match="does not exist"):
        render_freeswitch_model(model, template_dirs=[tmp_path / "missing"])
    with pytest.raises(RenderError, match="socket"):
        render_freeswitch_model(model, socket="127.0.0.1:8084 async full\n<evil/>")


def test_socket_address_goes_into_every_hook(sample: Session) -> None:  # noqa: F811
    cfg = render_freeswitch(sample, NOW, socket="10.0.0.5:9000")
    text = cfg.files["dialplan/ivr400.xml"]
    assert text.count('application="socket" data="10.0.0.5:9000 async full"') == 3  # route, department, voicemail
    assert "8084" not in text


def test_xml_curl_documents(sample: Session) -> None:  # noqa: F811
    model = load_model(sample, NOW)
    public = xml_curl_document(model, hunt_context="public", destination="4008123456")
    root = ET.fromstring(public)
    assert root.get("type") == "freeswitch/xml"
    names = [e.get("name") for e in root.iter("extension")]
    assert names == ["ivr400-4008123456", "ivr400-unknown-400"]
    other = ET.fromstring(xml_curl_document(model, hunt_context="public", destination="4000000001"))
    assert [e.get("name") for e in other.iter("extension")] == ["ivr400-unknown-400"]
    assert xml_curl_document(model, hunt_context="public", destination="1000") == NOT_FOUND
    assert xml_curl_document(model, hunt_context="default", destination="4008123456") == NOT_FOUND
    whole = xml_curl_document(model, hunt_context="ivr400", destination="ivr400-hunt")
    plan = Dialplan([whole, public])
    r = run_call(plan, "4008123456", keys=["2"])
    assert r.dialled == ["sofia/gateway/ivr400-out/01062345679", "sofia/gateway/ivr400-out/01062345680"]
    assert ET.fromstring(NOT_FOUND).find("section/result").get("status") == "not found"


@pytest.mark.parametrize("k", [1, 2, 9, 10, 12, 19, 20, 99, 100, 109, 199, 200])
def test_at_least_regex(k: int) -> None:
    pattern = re.compile(at_least_regex(k))
    for n in range(1200):
        assert bool(pattern.search(str(n))) == (n >= k), (k, n)
    assert not pattern.search("") and not pattern.search("x") and not pattern.search("012")


def test_ringback_for_class() -> None:
    assert ringback_for_class("") == ""
    assert ringback_for_class("ivr400-default") == "ivr400/ivr400-ringback.wav"
    assert ringback_for_class("ivr400-tone-7") == "ivr400/tone-7.wav"
    with pytest.raises(ValueError, match="no FreeSWITCH sound"):
        ringback_for_class("default")


def test_frslint_passes_on_every_rendered_file_and_xml_curl_document(rich: Session, tmp_path: Path) -> None:  # noqa: F811
    """frslint as a lint (tests/fsxml/frslint.py): the rich hotline's files, and each xml_curl document alone."""
    from tests.conftest import in_ci
    from tests.fsxml.frslint import FrslintUnavailable, analyze, analyze_document

    model = load_model(rich, NOW)
    try:
        assert analyze(render_freeswitch_model(model).files, tmp_path / "conf") == []
    except FrslintUnavailable as exc:
        if in_ci():
            raise
        pytest.skip(f"frslint could not be installed: {exc}")
    for context, destination in (("public", RICH), ("public", "4000000001"), ("ivr400", "ivr400-hunt")):
        doc = tmp_path / f"{context}-{destination}.xml"
        doc.write_text(xml_curl_document(model, hunt_context=context, destination=destination))
        assert analyze_document(doc) == [], doc.name
