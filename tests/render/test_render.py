"""Asterisk renderer: golden files, the whitelist in the render, overrides, errors, determinism.

Golden files live in tests/render/golden/; regenerate them after an intended change with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render

and review the diff like code.
"""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from ivr400.cdr.cdr_model import PACKED_COLUMNS, leg_from_event
from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from ivr400.db.models import Destination, Enterprise, Hotline, Tone, Trunk
from ivr400.db.routable import routable_seats, routable_seats_query
from ivr400.provisioning import destinations, seats
from ivr400.provisioning.enterprises import add_enterprise
from ivr400.provisioning.fax import set_fax
from ivr400.provisioning.hotlines import add_hotline
from ivr400.provisioning.sample import HOTLINE, provision_sample
from ivr400.provisioning.trunks import add_trunk
from ivr400.render import RenderError, RenderValueError, render_asterisk
from ivr400.render.asterisk import ASTDB_FILE, FILES, RenderedConfig
from ivr400.render.load import load_model
from ivr400.render.model import MAX_DATA_CHARS
from tests.factories import destination_row, tone_row

GOLDEN = Path(__file__).with_name("golden")
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
RICH = "4001234567"


@pytest.fixture
def engine(tmp_path: Path):  # noqa: ANN201
    eng = make_engine(f"sqlite:///{tmp_path}/render.db")
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sample(engine, tmp_path: Path) -> Session:  # noqa: ANN001
    with Session(engine) as session:
        provision_sample(session, store_root=tmp_path / "store", now=NOW, actor="test")
        session.commit()
        yield session


def _dest(session: Session, ent: Enterprise, number: str, *, valid_until: datetime | None = None,
          trunk: Trunk | None = None) -> Destination:
    return destination_row(session, ent, number, NOW, valid_until=valid_until, trunk=trunk)


def _tone(session: Session, tone_id: int, name: str, kind: str, ent: Enterprise | None) -> Tone:
    return tone_row(session, tone_id, name, kind, ent, NOW)


@pytest.fixture
def rich(engine) -> Session:  # noqa: ANN001
    """A hotline with tones, a trunk, round robin, a transfer cap, a three-level menu and a fax key (8)."""
    with Session(engine) as session:
        ent = add_enterprise(session, "上海示例贸易有限公司", "021", now=NOW)
        lab = add_trunk(session, "lab", "PJSIP/pstn/sip:{number}@127.0.0.1:5071")
        other = add_trunk(session, "backup", "PJSIP/{number}@carrier-b")
        h = add_hotline(session, RICH, ent, name="贸易热线", hunt="round_robin", max_attempts=2, now=NOW)
        h.trunk_id = lab.id
        h.welcome_tone = _tone(session, 11, "welcome", "welcome", ent)
        h.ringback_tone = _tone(session, 12, "ringback", "ringback", ent)
        h.menu_timeout_s, h.menu_retries = 7, 2
        h.voicemail = False
        h.record_calls = True
        sales = seats.add_department(session, h, "1", "销售部", hunt="round_robin", max_attempts=2)
        sales.ringback_tone = _tone(session, 13, "sales-ringback", "ringback", None)
        service = seats.add_department(session, h, "2", "售后服务部")
        service.prompt_tone = _tone(session, 14, "service-menu", "prompt", ent)
        appliances = seats.add_department(session, h, "1", "家电", parent=service, hunt="simultaneous")
        phones = seats.add_department(session, h, "2", "手机", parent=service)
        huawei = seats.add_department(session, h, "1", "华为", parent=phones)
        seats.add_department(session, h, "2", "小米", parent=phones)  # no seats: hunts hit the controller only
        odd = seats.add_department(session, h, "9", "人工;--服务")
        odd.name = "人工;服务\n[evil]\nexten => 666,1,Dial(PJSIP/666)"
        set_fax(session, h, "key:8")
        d = [_dest(session, ent, f"0215555{i:04d}") for i in range(1, 9)]
        d.append(_dest(session, ent, "02155559999", trunk=other))
        for dest in d[:3]:
            seats.add_seat(session, h, dest, now=NOW)
        seats.add_seat(session, h, d[3], department=sales, ring_timeout=20, now=NOW)
        seats.add_seat(session, h, d[4], department=sales, ring_timeout=25, now=NOW)
        seats.add_seat(session, h, d[5], department=sales, now=NOW)
        seats.add_seat(session, h, d[6], department=appliances, ring_timeout=30, now=NOW)
        seats.add_seat(session, h, d[8], department=appliances, ring_timeout=10, now=NOW)
        seats.add_seat(session, h, d[7], department=huawei, now=NOW)
        seats.add_seat(session, h, d[0], department=service, now=NOW)
        seats.add_seat(session, h, d[1], department=odd, now=NOW)
        session.commit()
        yield session


def _check_golden(prefix: str, files: dict[str, str]) -> None:
    for _, output in FILES:
        path = GOLDEN / f"{prefix}.{Path(output).name}"
        if UPDATE:
            GOLDEN.mkdir(exist_ok=True)
            path.write_bytes(files[output].encode("utf-8"))
        assert path.is_file(), f"{path} missing: run with UPDATE_GOLDEN=1"
        assert files[output].encode("utf-8") == path.read_bytes(), f"{output} differs from {path.name}"


# --------------------------------------------------------------------------- golden files


def test_sample_matches_golden_files(sample: Session) -> None:
    cfg = render_asterisk(sample, NOW)
    _check_golden("sample", cfg.files)
    assert cfg.warnings == []


def test_rich_hotline_matches_golden_files(rich: Session, tmp_path: Path) -> None:
    cfg = render_asterisk(rich, NOW, data_root=tmp_path)
    _check_golden("rich", cfg.files)


# --------------------------------------------------------------------------- structure


def _exten_lines(text_: str) -> list[str]:
    return [line for line in text_.splitlines() if line and not line.startswith(";")]


GENERIC = ["ivr400-inbound", "ivr400-unknown", "ivr400-call", "ivr400-menu", "ivr400-department", "ivr400-hunt",
           "ivr400-cdr", "ivr400-survey", "ivr400-clicktocall", "ivr400-record", "ivr400-answered", "ivr400-voicemail",
           "ivr400-voicemail-saved", "ivr400-goodbye",
           "ivr400-announce", "ivr400-refuse", "ivr400-fax", "ivr400-fax-done"]


def test_sample_structure(sample: Session) -> None:
    cfg = render_asterisk(sample, NOW)
    ext, db = cfg.files["ivr400/extensions.conf"], cfg.astdb
    assert set(cfg.files) == {"ivr400/extensions.conf", ASTDB_FILE, "ivr400/musiconhold.conf", "ivr400/pjsip.conf"}
    assert cfg.contexts == GENERIC  # no per-hotline context: the hotline's data is in AstDB
    assert {key.rsplit("/", 1)[0] for key in db} == {f"h/{HOTLINE}", f"m/{HOTLINE}"}
    # the carrier's context runs the call engine in place (no step to get there): a 400 number matches
    # ivr400-call's _400XXXXXXX (included first), any other number ivr400-unknown's _X.
    assert _steps(_context(ext, "ivr400-inbound")) == ["include => ivr400-call", "include => ivr400-unknown"]
    assert "exten => _400XXXXXXX,1," in _context(ext, "ivr400-call")
    assert "AGI(agi://127.0.0.1:4573/route?hotline=${IVR400_HOTLINE})" in ext
    assert "AGI(agi://127.0.0.1:4573/department?hotline=${IVR400_HOTLINE}&dept=${IVR400_DEPT_PATH})" in ext
    assert "Record(${IVR400_VM_FILE},3,120,k)" in ext
    assert "UserEvent(IVR400Voicemail,Hotline: ${IVR400_HOTLINE}," in ext
    # the unknown-number path: polite prompt as early media, cause 1
    unknown = _context(ext, "ivr400-unknown")
    assert _steps(unknown) == [
        "exten => _X.,1,Set(CHANNEL(hangup_handler_push)=ivr400-cdr,s,1)",
        "same => n(pushed),MSet(IVR400_DISPOSITION=unknown_number,IVR400_DIALLED=${FILTER(0-9,${EXTEN})})",
        "same => n,Log(NOTICE,ivr400 call to unknown number ${FILTER(0-9,${EXTEN})} from "
        "${FILTER(0-9+,${CALLERID(num)})})",
        "same => n,Progress()",
        "same => n,Playback(ivr400/ivr400-unknown-number,noanswer)",
        "same => n,Hangup(1)",
    ]
    # simultaneous department 2 (全通达): group timeout, both seats, in one data value
    d2 = _data(db, f"h/{HOTLINE}/d2")
    assert d2["IVR400_HUNT"] == "simultaneous" and d2["IVR400_RING_TIMEOUT"] == "15"
    assert d2["IVR400_TARGET_1"] == "PJSIP/01062345679@ivr400-out"
    assert d2["IVR400_TARGET_2"] == "PJSIP/01062345680@ivr400-out" and d2["IVR400_TARGET_COUNT"] == "2"
    # no seat was ever written for the pending mobile
    assert "13800138000" not in ext and "13800138000" not in cfg.files[ASTDB_FILE]
    # sounds: every shipped prompt, the default ringback class
    assert cfg.sounds["sounds/ivr400/ivr400-welcome.wav"].is_file()
    assert cfg.sounds["moh/ivr400/ivr400-default/ivr400-ringback.wav"].name == "ivr400-ringback.wav"
    assert "[ivr400-default]" in cfg.files["ivr400/musiconhold.conf"]


def _first(key: str) -> str:
    """The variable the generic contexts read an AstDB value's first field into (see _shared.j2's `data` and
    test_no_call_ever_waits_or_returns_where_the_steps_depend_on_data, which checks these reads)."""
    kind, _, item = key.split("/")
    if kind == "h":
        assert item == "s" or item.startswith("d"), key  # b<dept id>: marks, not NAME=value pairs
        return "IVR400_HOTLINE" if item == "s" else "IVR400_PLAN"
    return "IVR400_MENU_PROMPT" if item == "s" else "IVR400_NEXT"


def _data(db: dict[str, str], key: str) -> dict[str, str]:
    """The variables one AstDB value (family ivr400) sets when its step reads it: the first field is the value of
    the variable the step names (_first), then `NAME=value` pairs."""
    first, *pairs = db[key].split(",")
    return {_first(key): first, **dict(pair.split("=", 1) for pair in pairs)}


#: The fields of the hotline's settings (IVR400_SETTINGS, one variable read at call entry from h/<n>/s) and of a
#: menu level's (IVR400_MENU_SETTINGS, from m/<n>[-<digits>]/s), `|`-joined: the dialplan takes field i where it
#: uses it, with ${CUT(<variable>,|,i)}.
SETTINGS_FIELDS = ("welcome", "static", "after", "rec_dir", "survey", "fax_mode")
MENU_SETTINGS_FIELDS = ("timeout", "retries", "final")


def _settings(db: dict[str, str], key: str) -> dict[str, str]:
    """The settings one AstDB value (h/<n>/s or m/<n>[-<digits>]/s) packs into one variable, by field name, each
    as the dialplan's CUT reads it from the channel that value's read leaves; the value holds these fields and no
    more (a `|` inside a field would shift every field after it)."""
    var, names = ("IVR400_SETTINGS", SETTINGS_FIELDS) if key.startswith("h/") else (
        "IVR400_MENU_SETTINGS", MENU_SETTINGS_FIELDS)
    chan = _data(db, key)
    fields = {name: _substitute(f"${{CUT({var},|,{i})}}", chan) for i, name in enumerate(names, 1)}
    assert "|".join(fields.values()) == chan[var], (key, chan[var])
    return fields


def _settings_value(**fields: str) -> str:
    """An IVR400_SETTINGS value (the hotline's settings on a modelled channel): the fields named, the others empty."""
    assert set(fields) <= set(SETTINGS_FIELDS), fields
    return "|".join(fields.get(name, "") for name in SETTINGS_FIELDS)


def _plans(sample: Session, rich: Session) -> list[RenderedConfig]:
    """Very different renders: the sample, the rich hotline, both after changes, and no hotline at all."""
    cfgs = [render_asterisk(sample, NOW)]
    dest = sample.scalar(select(Destination).where(Destination.number == "01062345678"))
    destinations.revoke(sample, dest, reason="moved", now=NOW, actor="test")
    sample.execute(update(Hotline).where(Hotline.number == RICH).values(voicemail=True, record_calls=False))
    sample.commit()
    cfgs.append(render_asterisk(sample, NOW))
    sample.execute(update(Hotline).values(active=False))
    sample.commit()
    cfgs.append(render_asterisk(sample, NOW))
    return cfgs


#: The AstDB key of the menu level a call is at (m/<hotline>[-<level digits>]), inlined where it is read.
MENU_KEY = 'm/${IVR400_HOTLINE}${IF($["${IVR400_MENU_PATH}" = ""]?:-${FILTER(0-9,${IVR400_MENU_PATH})})}'
#: The department's marks (h/<hotline>/b<department id>): a single value without commas (see below), so its read
#: may be any pair of its MSet step.
MARKS_KEY = "h/${IVR400_HOTLINE}/b${FILTER(0-9,${IVR400_DEPT_ID})}"
#: Every data read of the generic contexts: (the variable the value's first field goes to, the key read).
DATA_READS = [
    ("IVR400_HOTLINE", "h/${EXTEN}/s"),
    ("IVR400_MENU_PROMPT", f"{MENU_KEY}/s"),
    ("IVR400_NEXT", f"{MENU_KEY}/${{FILTER(0-9,${{IVR400_KEY}})}}"),
    ("IVR400_PLAN", "h/${IVR400_HOTLINE}/d${FILTER(0-9,${IVR400_DEPT_PATH})}"),
    ("IVR400_HUNT_MARKS", MARKS_KEY),  # sequential: the first target
    ("IVR400_HUNT_MARKS", MARKS_KEY),  # sequential: each next target
    ("IVR400_HUNT_MARKS", MARKS_KEY),  # simultaneous: each target
]


def test_no_call_ever_waits_or_returns_where_the_steps_depend_on_data(sample: Session, rich: Session) -> None:
    """The live-deploy invariant (docs/live-deploys.md): a deploy changes the hotlines' data between two steps of
    a call in progress, so the dialplan a call runs in is the same text whatever the data and names no hotline;
    the data lives in AstDB (ivr400/astdb.txt), and each value is read and applied in one MSet step."""
    cfgs = _plans(sample, rich)
    texts = [cfg.files["ivr400/extensions.conf"] for cfg in cfgs]
    assert len(set(texts)) == 1, "extensions.conf depends on the data"
    assert not re.search(r"400[0-9]{7}", texts[0]), "extensions.conf names a hotline"
    assert all(cfg.contexts == GENERIC for cfg in cfgs)
    for cfg in cfgs[:2]:
        db = cfg.astdb
        assert {key.split("/", 2)[1] for key in db} >= {RICH, f"{RICH}-2", f"{RICH}-22", HOTLINE}
        for key, value in db.items():
            assert re.fullmatch(r"h/400[0-9]{7}/(s|d[0-9]*|b[0-9]+)|m/400[0-9]{7}(-[0-9]+)?/[s0-9]", key), key
            assert len(value) <= MAX_DATA_CHARS, key
            if key.split("/")[2].startswith("b"):  # marks: the plan version, then each bound dial string
                assert re.fullmatch(r"v[0-9a-f]{20}(&[^&,=]+)*", value), (key, value)
            else:
                assert all("=" in pair for pair in value.split(",")[1:]), (key, value)
            if key.endswith("/s"):  # settings: one variable of `|`-joined fields, each read with CUT
                _settings(db, key)
            else:
                assert "|" not in value, (key, value)
    assert cfgs[2].astdb == {}  # no hotline, no data; the same dialplan
    # Every data read of the generic contexts is one MSet step; a value of NAME=value pairs is its step's last
    # pair (so the value's pairs override the ones set before it), a marks value (one field, no comma) sets only
    # its variable. No data is read any other way.
    generic = texts[0]
    for gone in ("GosubIf", "DIALPLAN_EXISTS", "GOSUB_RETVAL", "Return(IVR400_"):
        assert gone not in generic, gone
    reads = []
    for line in generic.splitlines():
        if "${DB(" not in line or line.startswith(";"):
            continue
        assert line.count("${DB(") == 1, line
        assert re.match(r"(exten => [^,]+,1|same => n(\([a-z]+\))?),MSet\(", line.strip()), line
        at = line.index("${DB(")
        read = line[at:_close(line, at)]
        name = re.search(r"[(,]([A-Za-z0-9_]+)=$", line[:at])
        assert name is not None and read.startswith("${DB(ivr400/") and read.endswith(")}"), line
        key = read[len("${DB(ivr400/"):-2]
        assert line[at + len(read):] == ")" or key == MARKS_KEY, line  # the last pair, or marks
        reads.append((name.group(1), key))
    assert reads == DATA_READS
    # the only other AstDB look-up: whether the menu level still exists (once the key pressed, or none, led nowhere)
    lookups = [generic[at:_close(generic, at)] for at in (m.start() for m in re.finditer(r"\$\{DB_", generic))]
    assert lookups == [f"${{DB_EXISTS(ivr400/{MENU_KEY}/s)}}"]


def test_every_line_is_asterisk_config_syntax(sample: Session, rich: Session) -> None:
    for session in (sample, rich):
        cfg = render_asterisk(session, NOW)
        for name, body in cfg.files.items():
            context = ""
            for line in body.splitlines():
                assert "\r" not in line
                if not line or line.startswith(";"):
                    continue
                if name == ASTDB_FILE and not line.startswith("#"):
                    # one key and its value; the value is substituted into an MSet step's arguments once (no
                    # ${...} is expanded in it) and split there on commas outside quotes and parentheses
                    key, value = line.split("\t")
                    assert re.fullmatch(r"[hm]/[0-9-]+/[a-z0-9]+", key), line
                    assert not re.search(r'[$"\\()\[\]{};\s]', value), line
                if name.endswith("extensions.conf"):
                    if line.startswith("["):
                        context = line.strip("[]")
                    if line.startswith("include => "):  # only the carrier's context includes, a rendered context
                        assert context == "ivr400-inbound" and line[len("include => "):] in cfg.contexts, line
                        continue
                    assert re.fullmatch(r"\[[a-z0-9-]+\]|exten => [^,]+,1,\S.*|same => n(\([a-z]+\))?,\S.*",
                                        line.strip()), line
                    code = line.split(" ; ", 1)[0]
                    assert ";" not in code, line  # a `;` would cut the line short
                    assert code.count("(") == code.count(")"), line


def test_three_level_menu(rich: Session) -> None:
    cfg = render_asterisk(rich, NOW)
    ext, db = cfg.files["ivr400/extensions.conf"], cfg.astdb
    for key in (f"h/{RICH}/s", f"m/{RICH}/s", f"m/{RICH}-2/s", f"m/{RICH}-22/s"):
        assert key in db
    top = f"m/{RICH}"
    assert _data(db, f"{top}/s") == {"IVR400_MENU_PROMPT": "ivr400/tone-11", "IVR400_MENU_SETTINGS": "7|2|"}
    assert _settings(db, f"{top}/s") == {"timeout": "7", "retries": "2", "final": ""}
    assert _data(db, f"{top}/2") == {"IVR400_NEXT": "menu", "IVR400_NEXT_PATH": "2", "IVR400_KEYS": "2"}
    second = f"m/{RICH}-2"
    assert _data(db, f"{second}/s")["IVR400_MENU_PROMPT"] == "ivr400/tone-14"  # the department's own prompt
    assert _settings(db, f"{second}/s")["final"] == "2"  # after the retries: its own seats
    assert _data(db, f"{second}/2") == {"IVR400_NEXT": "menu", "IVR400_NEXT_PATH": "2.2", "IVR400_KEYS": "2-2"}
    third = f"m/{RICH}-22"
    # a department key sets what the department's first steps would (its path) and the key path: the menu jumps
    # past them, to the hook (whose status is checked together with a list only a hook sets: see below)
    assert _data(db, f"{third}/1") == {"IVR400_NEXT": "department", "IVR400_KEYS": "2-2-1",
                                       "IVR400_DEPT_PATH": "2.2.1"}
    assert _data(db, f"{third}/s")["IVR400_MENU_PROMPT"] == "ivr400/tone-11"  # the hotline's welcome
    assert _settings(db, f"{third}/s")["final"] == ""  # 手机 has no seats: the switchboard
    assert sorted(k for k in db if k.startswith(f"{third}/")) == [f"{third}/1", f"{third}/2", f"{third}/s"]
    assert _data(db, f"h/{RICH}/d221")["IVR400_TARGET_1"] == "PJSIP/pstn/sip:02155550008@127.0.0.1:5071"
    # 小米 has no routable seat: still a hunt list (the controller may know seats), zero static targets
    d222 = _data(db, f"h/{RICH}/d222")
    assert d222["IVR400_TARGET_COUNT"] == "0" and "IVR400_TARGET_1" not in d222
    entry = _data(db, f"h/{RICH}/s")
    assert entry.keys() == {"IVR400_HOTLINE", "IVR400_PLAN", "IVR400_SETTINGS"}  # all call entry sets from it
    assert entry["IVR400_HOTLINE"] == RICH
    settings = _settings(db, f"h/{RICH}/s")
    assert settings["after"] == "goodbye"  # voicemail off
    assert settings["static"] == "menu" and settings["welcome"] == "ivr400/tone-11"
    assert settings["rec_dir"] == "/var/spool/asterisk/ivr400/recordings/4001234567"
    assert settings["survey"] == "" and settings["fax_mode"] == "key"
    # the menu engine: the level read each round, the key looked up when pressed ('#' and '*' are read as keys
    # too, Read's t() has no terminator: they name no key, so they are invalid)
    menu = _steps(_context(ext, "ivr400-menu"))
    key = f"{MENU_KEY}/${{FILTER(0-9,${{IVR400_KEY}})}}"
    assert menu[1:12] == [
        "exten => s,1,Answer()",
        f"same => n(prompt),MSet(IVR400_MENU_TRIES=$[0${{IVR400_MENU_TRIES}} + 1],"
        f"IVR400_MENU_PROMPT=${{DB(ivr400/{MENU_KEY}/s)}})",
        # the top level plays the controller's prompt when it set one, else the level's own; a level read as
        # nothing (a deploy removed it) plays nothing and waits 10 ms
        'same => n,Read(IVR400_KEY,${IF($["${IVR400_MENU_PROMPT}" != "" & "${IVR400_MENU_PATH}" = "" & '
        '"${IVR400_PROMPT}" != ""]?${IVR400_PROMPT}:${IVR400_MENU_PROMPT})},1,t(),1,'
        '${IF($["${IVR400_MENU_PROMPT}" = ""]?0.01:${CUT(IVR400_MENU_SETTINGS,|,1)})})',
        f"same => n,MSet(IVR400_NEXT=${{DB(ivr400/{key})}})",
        'same => n,GotoIf($["${IVR400_NEXT}" = "department"]?ivr400-department,s,hook)',
        'same => n,GotoIf($["${IVR400_NEXT}" = "menu"]?submenu)',
        'same => n,GotoIf($["${IVR400_NEXT}" = "fax"]?ivr400-fax,s,1)',
        # the key led nowhere: a level a deploy removed sends the call to the switchboard (its keys are gone too)
        f"same => n,GotoIf($[${{DB_EXISTS(ivr400/{MENU_KEY}/s)}} = 0]?gone)",
        'same => n,GotoIf($["${IVR400_KEY}" = ""]?timeout:invalid)',  # no key, or one that names nothing
        "same => n(submenu),MSet(IVR400_MENU_PATH=${IVR400_NEXT_PATH},IVR400_MENU_TRIES=0)",
        "same => n,Goto(prompt)",
    ]
    # what Read plays and how long it waits, each level as its data leaves the channel
    read = _args(_app(menu[3])[1])

    def prompt_and_timeout(chan: dict[str, str]) -> tuple[str, str]:
        return _substitute(read[1], chan), _substitute(read[5], chan)

    controller = {"IVR400_PROMPT": "ivr400/tone-99"}  # a time rule's prompt instead of the welcome
    assert prompt_and_timeout(_data(db, f"{top}/s")) == ("ivr400/tone-11", "7")
    assert prompt_and_timeout({**_data(db, f"{top}/s"), **controller}) == ("ivr400/tone-99", "7")
    assert prompt_and_timeout({**_data(db, f"{second}/s"), **controller, "IVR400_MENU_PATH": "2"}) == (
        "ivr400/tone-14", "7")  # below the top, the level's own
    gone = {**_data(db, f"{second}/s"), **controller, "IVR400_MENU_PROMPT": ""}  # settings: the last level read
    assert prompt_and_timeout(gone) == ("", "0.01")
    assert prompt_and_timeout({**gone, "IVR400_MENU_PATH": "2"}) == ("", "0.01")
    # no key or an invalid one: a prompt, then again until the level's retries, then its final department
    again = menu.index(next(x for x in menu if x.startswith("same => n(again),")))
    assert menu[again - 3:again] == ["same => n(invalid),Playback(ivr400/ivr400-invalid)", "same => n,Goto(again)",
                                     "same => n(timeout),Playback(ivr400/ivr400-no-input)"]
    condition = _app(menu[again])[1].split("?", 1)[0]
    tries = [_true(_substitute(condition, {**_data(db, f"{second}/s"), "IVR400_MENU_TRIES": str(n)})) for n in (1, 2)]
    assert tries == [True, False]  # 2 rounds
    assert menu[again + 2] == "same => n,Goto(ivr400-department,s,1)"
    assert _mset(menu[again + 1], _data(db, f"{second}/s")) == {"IVR400_ACTION_DEPT": "2", "IVR400_TARGET_COUNT": ""}
    assert _mset(menu[again + 1], _data(db, f"{top}/s")) == {"IVR400_ACTION_DEPT": "", "IVR400_TARGET_COUNT": ""}
    # the department key's data replaces the department's own first steps, which the menu skips: they set the
    # path (the key's), and clear the hunt's start (a call hunts once) and the status the hook then sets. A menu
    # call may still carry the route hook's OK; but a hook's list is hunted only with its target count, which
    # nothing sets before the hook in a menu call (the static plan clears it, a controller's menu decision sends
    # none: tests/unit/test_routes.py), so a hook that leaves nothing behind leaves the static list
    dept = _steps(_context(ext, "ivr400-department"))
    assert dept[2] == ("same => n,MSet(IVR400_DEPT_PATH=${FILTER(0-9.,${IVR400_ACTION_DEPT})},IVR400_HUNT_START=,"
                       "IVR400_AGI_STATUS=)")
    assert dept[3].startswith("same => n(hook),")
    hook_list = _app(dept[4])[1].split("?", 1)[0]
    pressed = {"AGISTATUS": "SUCCESS", "IVR400_AGI_STATUS": "OK", "IVR400_ACTION": "menu", **_data(db, f"{third}/1")}
    assert not _true(_substitute(hook_list, pressed))
    assert _true(_substitute(hook_list, {**pressed, "IVR400_TARGET_COUNT": "0"}))  # the hook's: nobody rings


def test_call_entry_hook_and_fallback(sample: Session) -> None:
    cfg = render_asterisk(sample, NOW)
    ext, db = cfg.files["ivr400/extensions.conf"], cfg.astdb
    entry_data = _data(db, f"h/{HOTLINE}/s")
    assert entry_data.keys() == {"IVR400_HOTLINE", "IVR400_PLAN", "IVR400_SETTINGS"}  # no fax mode: see plan
    settings = _settings(db, f"h/{HOTLINE}/s")
    assert settings["rec_dir"] == ""  # record_calls off
    entry = _context(ext, "ivr400-call")
    steps = _steps(entry)
    # the hook runs only for a hotline; it must say it completed, or the static plan runs (a number whose hotline
    # is gone: ivr400-unknown, past the step that would push a second call-record handler); an unreachable
    # controller is remembered in the static plan's step
    first = steps.index(next(x for x in steps if x.startswith("exten => _400XXXXXXX,1,")))
    hook, menu, decided, static, plan = steps[first + 1:first + 6]
    assert hook == 'same => n,ExecIf($["${IVR400_HOTLINE}" != ""]?AGI(agi://127.0.0.1:4573/route?hotline=${IVR400_HOTLINE}))'
    ok = '"${AGISTATUS}" = "SUCCESS" & "${IVR400_AGI_STATUS}" = "OK"'
    assert menu == f'same => n,GotoIf($[{ok} & "${{IVR400_ACTION}}" = "menu" & "${{IVR400_FAX_MODE}}" != "detect"]' \
                   "?ivr400-menu,s,1)"
    assert decided == f'same => n,GotoIf($[{ok} & "${{IVR400_ACTION}}" != ""]?decided)'
    assert static == 'same => n(static),GotoIf($["${IVR400_HOTLINE}" = ""]?ivr400-unknown,${EXTEN},pushed)'
    assert plan == ("same => n,MSet(IVR400_ACTION=${CUT(IVR400_SETTINGS,|,2)},"
                    "IVR400_FAX_MODE=${CUT(IVR400_SETTINGS,|,6)},IVR400_ACTION_DEPT=,IVR400_TARGET_COUNT=,IVR400_PROMPT=,IVR400_DISPOSITION=,"
                    'IVR400_DECIDED_BY=static,IVR400_AGI=${IF($["${AGISTATUS}" = "SUCCESS"]?${IVR400_AGI}:down)})')
    # the static plan's action and fax mode are the hotline's settings (the controller's decision sends its own)
    static = _mset(plan, {**entry_data, "AGISTATUS": "FAILURE", "IVR400_FAX_MODE": "detect"})
    assert (static["IVR400_ACTION"], static["IVR400_FAX_MODE"]) == (settings["static"], settings["fax_mode"])
    assert (static["IVR400_ACTION"], static["IVR400_FAX_MODE"], static["IVR400_AGI"]) == ("menu", "off", "down")
    assert steps[first + 6].startswith("same => n(decided),")
    # who decided, for the call record: nobody says controller at entry (the controller's decision leaves it
    # empty), the static plan says static (test_who_decided_reaches_the_call_record follows it to the record)
    assert "IVR400_DECIDED_BY=controller" not in entry and "(controller)" not in entry
    # early media only where the call plays something unanswered: the welcome tone, a refusal, an unknown number
    assert entry.count("Progress()") == 1 and _steps(_context(ext, "ivr400-refuse"))[0] == "exten => s,1,Progress()"
    welcome = "Playback(${CUT(IVR400_SETTINGS,|,1)},noanswer)"
    assert _substitute(welcome, entry_data) == "Playback(ivr400/ivr400-welcome,noanswer)" == \
        f"Playback({settings['welcome']},noanswer)"
    assert entry.index("n(welcome),Progress()") < entry.index(welcome)
    # the welcome tone before every accepted path but the menu (which plays it as its prompt) and a refusal
    assert max(m.start() for m in re.finditer(r"\?ivr400-(menu|refuse),s,1\)", entry)) < entry.index(
        welcome) < entry.index("?ivr400-department,s,1)")
    dept = _steps(_context(ext, "ivr400-department"))
    assert dept[1] == 'exten => s,1,GotoIf($["${IVR400_TARGET_COUNT}" != ""]?targets)'  # a hook's list: hunted as is
    # the hook is skipped (in its own step) once the controller was unreachable; its list is hunted right away
    assert dept[3] == ('same => n(hook),ExecIf($["${IVR400_AGI}" != "down"]?AGI(agi://127.0.0.1:4573/department'
                       "?hotline=${IVR400_HOTLINE}&dept=${IVR400_DEPT_PATH}))")
    assert dept[4] == f'same => n,GotoIf($[{ok} & "${{IVR400_TARGET_COUNT}}" != ""]?ivr400-hunt,s,{HUNT_ENTRY})'
    # else the static list is read after the hook, in one step (a half-done hook leaves nothing behind: the list
    # sets everything, and a department the plan no longer has leaves zero targets); a failed hook marks the
    # controller unreachable; a hunt decided by the other plan than the entry makes the call mixed
    assert dept[5] == ('same => n(static),MSet(IVR400_AGI=${IF($["${AGISTATUS}" = "SUCCESS"]?${IVR400_AGI}:down)},'
                       'IVR400_DECIDED_BY=${IF($["${IVR400_DECIDED_BY}" = "static"]?static:mixed)},'
                       "IVR400_AGI_STATUS=,IVR400_TARGET_COUNT=0,IVR400_RR=,"
                       "IVR400_PLAN=${DB(ivr400/h/${IVR400_HOTLINE}/d${FILTER(0-9,${IVR400_DEPT_PATH})})})")
    assert _data(db, f"h/{HOTLINE}/d1").keys() >= {"IVR400_HUNT", "IVR400_MOH", "IVR400_MAX_ATTEMPTS", "IVR400_RR",
                                                "IVR400_RING_TIMEOUT", "IVR400_PLAN", "IVR400_DEPT_ID",
                                                "IVR400_TARGET_COUNT"}
    # the hunt is jumped to (no Gosub: nothing comes back), and its end goes on to the fallback read at entry
    assert dept[-2:] == ["same => n(targets),Set(IVR400_DEPT_PATH=${FILTER(0-9.,${IVR400_ACTION_DEPT})})",
                         f"same => n(hunt),Goto(ivr400-hunt,s,{HUNT_ENTRY})"]
    hunt = _steps(_context(ext, "ivr400-hunt"))
    assert "Gosub(" not in ext and not [x for x in hunt if "Return(" in x]
    assert hunt[-2:] == [
        'same => n(exhausted),Set(IVR400_DISPOSITION=${IF($["${DIALSTATUS}" = "BUSY"]?busy:noanswer)})',
        "same => n,Goto(ivr400-${CUT(IVR400_SETTINGS,|,3)},s,1)"]
    assert settings["after"] == "voicemail" and _substitute(hunt[-1], entry_data).endswith("Goto(ivr400-voicemail,s,1)")
    # where the hunt starts: nobody to ring (none), all at once (together), one after the other (1)
    labels = {m.group(1) for x in hunt if (m := re.match(r"same => n\((\w+)\),", x))}
    assert {"together", "none"} <= labels and hunt[1].startswith("exten => s,1,")
    for count, how, label in (("", "sequential", "none"), ("0", "simultaneous", "none"),
                              ("2", "sequential", "1"), ("2", "simultaneous", "together"), ("x3", "", "1")):
        assert _substitute(HUNT_ENTRY, {"IVR400_TARGET_COUNT": count, "IVR400_HUNT": how}) == label


def _context(ext: str, name: str) -> str:
    return ext.split(f"\n[{name}]\n", 1)[1].split("\n[", 1)[0]


def _steps(context: str) -> list[str]:
    """The lines of a context that are not comments (steps and includes), without their indent."""
    return [line.strip() for line in context.splitlines() if line.strip() and not line.startswith(";")]


#: Where ivr400-department sends a call into ivr400-hunt (`s,<label>`): nobody to ring, all at once, one by one.
HUNT_ENTRY = ('${IF($[0${FILTER(0-9,${IVR400_TARGET_COUNT})} < 1]?none:'
              '${IF($["${IVR400_HUNT}" = "simultaneous"]?together:1)})}')


# --------------------------------------------------------------------------- a model of Asterisk's substitution
# Enough of pbx_substitute_variables (${VAR}, ${VAR:offset}, ${FUNC(args)}, $[expression], innermost first) and of
# the functions and expression operators the rendered steps use, to follow what a step computes. Channel variables
# are a dict; an unset one reads "".


def _close(text_: str, start: int) -> int:
    """The index past the `}` or `]` that closes the `${` or `$[` at `start` (Asterisk counts only that kind)."""
    opening = text_[start + 1]
    closing = "}" if opening == "{" else "]"
    depth = 0
    for i in range(start + 1, len(text_)):
        if text_[i] == opening:
            depth += 1
        elif text_[i] == closing:
            depth -= 1
            if depth == 0:
                return i + 1
    raise AssertionError(f"unbalanced: {text_[start:]}")


def _args(text_: str) -> list[str]:
    """An application's arguments: split on commas outside quotes, parentheses, ${...} and $[...] (as
    ast_app_separate_args splits a step's text once substituted: our values hold no comma)."""
    out, depth, quoted, current = [], 0, False, ""
    for char in text_:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            out.append(current)
            current = ""
        else:
            current += char
    return [*out, current]


def _app(step: str) -> tuple[str, str]:
    """A step's application and its argument text: `same => n(label),MSet(a=1,b=2)` -> ("MSet", "a=1,b=2")."""
    match = re.fullmatch(r"(?:exten => [^,]+,\w+|same => n)(?:\([a-z]+\))?,([A-Za-z]+)\((.*)\)", step)
    assert match is not None, step
    return match.group(1), match.group(2)


def _true(value: str) -> bool:
    """pbx_checkcondition: empty is false, a leading integer is its value, any other text is true."""
    number = re.match(r"\s*[-+]?[0-9]+", value)
    return bool(int(number.group())) if number else bool(value.strip())


def _function(name: str, args: str, chan: dict[str, str], files: frozenset[str]) -> str:
    if name == "IF":
        condition, _, branches = args.partition("?")
        yes, _, no = branches.partition(":")
        return yes.strip() if _true(condition) else no.strip()
    if name == "CSV_QUOTE":
        return '"' + args.replace('"', '""') + '"'
    if name == "FILTER":
        allowed, _, value = args.partition(",")
        chars = set(re.sub(r"(.)-(.)", lambda m: "".join(map(chr, range(ord(m[1]), ord(m[2]) + 1))), allowed))
        return "".join(c for c in value if c in chars)
    if name == "CUT":  # func_cut.c: the field-th (1-based) of the variable's `delimiter`-separated fields, or ""
        var, delimiter, field = _args(args)
        assert len(delimiter) == 1 and re.fullmatch(r"[1-9][0-9]*", field), args  # one field, no range
        fields = chan.get(var, "").split(delimiter) if chan.get(var, "") else []  # an empty variable: no field
        return fields[int(field) - 1] if int(field) <= len(fields) else ""  # past the last field: ""
    if name == "STAT":
        flag, _, path = args.partition(",")
        assert flag == "e"
        return "1" if path in files else "0"
    raise AssertionError(f"no model of {name}()")


_TOKEN = re.compile(r'\s*(?:"([^"]*)"|(!=|<=|>=|[=<>&|+*/%()-])|([^\s"=<>&|+*/%()!-]+))')
_LEVELS = [{"|"}, {"&"}, {"=", "!=", "<", ">", "<=", ">="}, {"+", "-"}, {"*", "/", "%"}]


def _number(value: str) -> Decimal | None:
    try:
        return Decimal(value) if re.fullmatch(r"[-+]?[0-9]+(\.[0-9]*)?", value.strip()) else None
    except InvalidOperation:
        return None


def _expression(text_: str) -> str:
    """$[...] once substituted (ast_expr2.y's precedence; numbers exact, as decimals)."""
    tokens = []
    for match in _TOKEN.finditer(text_):
        quoted, op, word = match.groups()
        tokens.append(("v", quoted) if quoted is not None else ("op", op) if op else ("v", word))
    assert "".join(re.sub(r"\s", "", m.group()) for m in _TOKEN.finditer(text_)) == re.sub(r"\s", "", text_)

    def zero(value: str) -> bool:
        number = _number(value)
        return value == "" or (number is not None and number == 0)

    def apply(op: str, a: str, b: str) -> str:
        x, y = _number(a), _number(b)
        if op == "|":
            return b if zero(a) else a
        if op == "&":
            return "0" if zero(a) or zero(b) else a
        if op in _LEVELS[2]:
            order = (x > y) - (x < y) if x is not None and y is not None else (a > b) - (a < b)  # numbers or text
            return "1" if {"=": order == 0, "!=": order != 0, "<": order < 0, ">": order > 0, "<=": order <= 0,
                           ">=": order >= 0}[op] else "0"
        assert x is not None and y is not None, (a, op, b)
        result = {"+": x + y, "-": x - y, "*": x * y, "/": x / y, "%": x % y}[op]
        return format(result.normalize(), "f")

    def parse(level: int, at: int) -> tuple[str, int]:
        if level == len(_LEVELS):
            kind, value = tokens[at]
            if (kind, value) == ("op", "("):
                value, at = parse(0, at + 1)
                assert tokens[at] == ("op", ")")
            return value, at + 1
        value, at = parse(level + 1, at)
        while at < len(tokens) and tokens[at][0] == "op" and tokens[at][1] in _LEVELS[level]:
            right, after = parse(level + 1, at + 1)
            value, at = apply(tokens[at][1], value, right), after
        return value, at

    value, at = parse(0, 0)
    assert at == len(tokens), text_
    return value


def _substitute(text_: str, chan: dict[str, str], files: frozenset[str] = frozenset()) -> str:
    """`text_` as Asterisk substitutes it on a channel with variables `chan` (files: those STAT(e,...) finds)."""
    out, i = [], 0
    while i < len(text_):
        if text_.startswith(("${", "$["), i):
            end = _close(text_, i)
            inner = _substitute(text_[i + 2:end - 1], chan, files)
            if text_[i + 1] == "[":
                out.append(_expression(inner))
            elif call := re.fullmatch(r"([A-Z_]+)\((.*)\)", inner, re.S):
                out.append(_function(call.group(1), call.group(2), chan, files))
            else:
                name, _, offset = inner.partition(":")
                out.append(chan.get(name, "")[int(offset or 0):])
            i = end
        else:
            out.append(text_[i])
            i += 1
    return "".join(out)


def _mset(step: str, chan: dict[str, str]) -> dict[str, str]:
    """The variables an MSet step sets (every value substituted before any is set), but its data read (AstDB is not
    modelled)."""
    app, args = _app(step)
    assert app == "MSet", step
    pairs = [pair.strip('"').split("=", 1) for pair in _args(args)]
    return {name: _substitute(value, chan) for name, value in pairs if not value.startswith("${DB(")}


def test_round_robin_cap_ringback_and_trunks(rich: Session) -> None:
    cfg = render_asterisk(rich, NOW)
    ext, db = cfg.files["ivr400/extensions.conf"], cfg.astdb
    d1 = _data(db, f"h/{RICH}/d1")
    assert d1["IVR400_HUNT"] == "sequential"  # round robin = sequential from a rotating start
    assert d1["IVR400_MAX_ATTEMPTS"] == "2"
    assert d1["IVR400_MOH"] == "ivr400-tone-13"  # the department's own ringback tone
    assert d1["IVR400_RR"] == f"IVR400_RR_{RICH}_1"
    assert d1["IVR400_TARGET_1"] == "PJSIP/pstn/sip:02155550004@127.0.0.1:5071"  # the hotline's trunk
    assert (d1["IVR400_TIMEOUT_1"], d1["IVR400_TIMEOUT_2"], d1["IVR400_TIMEOUT_3"]) == ("20", "25", "15")
    dept = _context(ext, "ivr400-department")
    assert "Set(GLOBAL(${IVR400_RR})=$[0${GLOBAL(${IVR400_RR})} % ${IVR400_TARGET_COUNT} + 1])" in dept
    assert "Set(IVR400_HUNT_START=${GLOBAL(${IVR400_RR})})" in dept
    switchboard = _data(db, f"h/{RICH}/d")
    assert switchboard["IVR400_RR"] == f"IVR400_RR_{RICH}_SB" and switchboard["IVR400_MOH"] == "ivr400-tone-12"
    assert switchboard["IVR400_DEPT_ID"] == "0"
    d21 = _data(db, f"h/{RICH}/d21")
    assert d21["IVR400_HUNT"] == "simultaneous" and d21["IVR400_RING_TIMEOUT"] == "30" and d21["IVR400_RR"] == ""
    assert d21["IVR400_TARGET_2"] == "PJSIP/02155559999@carrier-b"  # the destination's own trunk wins
    assert d21["IVR400_MOH"] == "ivr400-tone-12"  # inherited from the hotline
    moh = cfg.files["ivr400/musiconhold.conf"]
    assert "[ivr400-tone-12]\nmode = files\ndirectory = /var/lib/asterisk/moh/ivr400/ivr400-tone-12\n" in moh
    assert "[ivr400-tone-13]" in moh and "[ivr400-default]" in moh
    pjsip = cfg.files["ivr400/pjsip.conf"]
    assert "(endpoint carrier-b)" in pjsip and "PJSIP/pstn/sip:{number}@127.0.0.1:5071" in pjsip


def test_bound_seat_marks_and_plan_version(rich: Session) -> None:
    """A hunt skips a seat a later deploy unbound: each department's marks (key b<department id> of the hotline's
    data) hold the hotline's plan version and the dial string of every seat bound to it now, read again in the step
    that takes each target, and the next step dials it only if they still bind it; a hotline's version changes with
    anything rendered for it."""
    cfg = render_asterisk(rich, NOW)
    ext, db = cfg.files["ivr400/extensions.conf"], cfg.astdb
    version = _data(db, f"h/{RICH}/s")["IVR400_PLAN"]
    assert re.fullmatch(r"v[0-9a-f]{20}", version)
    d1 = _data(db, f"h/{RICH}/d1")
    assert db[f"h/{RICH}/b{d1['IVR400_DEPT_ID']}"].split("&") == [
        version, *(d1[f"IVR400_TARGET_{i}"] for i in (1, 2, 3))]
    assert db[f"h/{RICH}/b0"].split("&")[1] == "PJSIP/pstn/sip:02155550001@127.0.0.1:5071"  # the switchboard: id 0
    # one marks key per hunt list, keyed by the department id the list carries, with exactly its targets
    hunts = [k for k in db if re.fullmatch(rf"h/{RICH}/d[0-9]*", k)]
    assert len(hunts) == 8  # d, d1, d2, d21, d22, d221, d222, d9
    assert sorted(f"h/{RICH}/b{_data(db, k)['IVR400_DEPT_ID']}" for k in hunts) == sorted(
        k for k in db if k.startswith(f"h/{RICH}/b"))
    for key in hunts:
        d = _data(db, key)
        targets = [d[f"IVR400_TARGET_{i}"] for i in range(1, int(d["IVR400_TARGET_COUNT"]) + 1)]
        assert d["IVR400_PLAN"] == version, key
        assert db[f"h/{RICH}/b{d['IVR400_DEPT_ID']}"] == "&".join([version, *targets]), key
    assert db[f"h/{RICH}/b4"] == version  # 手机: no seat bound, the version alone
    # the hunt engine: each target taken in the same step as its department's marks, then checked against them in
    # the next step, which goes on to the Dial (sequential) or adds it to those that ring (simultaneous); no step
    # between reading the marks and the Dial waits. The Dial is a step of its own: AMI listeners (and the e2e
    # tests) see it as a Newexten, which an app run inside ExecIf is not.
    hunt = _steps(_context(ext, "ivr400-hunt"))
    marks = f"IVR400_HUNT_MARKS=${{DB(ivr400/{MARKS_KEY})}}"
    bound = "${FIELDNUM(IVR400_HUNT_MARKS,&,${IVR400_PLAN})} | ${FIELDNUM(IVR400_HUNT_MARKS,&,${IVR400_HUNT_T})}"
    takes = [i for i, step in enumerate(hunt) if "IVR400_HUNT_T=" in step]
    assert len(takes) == 3 and all(_app(hunt[i])[0] == "MSet" and marks in _args(_app(hunt[i])[1]) for i in takes)
    assert "LOCAL(" not in "\n".join(hunt)  # jumped to, not Gosub'd: no local variables
    check = hunt.index(next(x for x in hunt if x.startswith("same => n(try),")))
    assert hunt[check] == f'same => n(try),GotoIf($["${{IVR400_HUNT_T}}" != "" & ({bound})]?bound)'
    assert hunt[check + 1] == ("same => n,Log(NOTICE,ivr400 ${IVR400_HOTLINE}: ${IVR400_HUNT_T} is no longer a seat of "
                               "department ${IVR400_DEPT_ID} since a deploy - not dialled)")
    dial = hunt.index(next(x for x in hunt if x.startswith("same => n(bound),")))
    assert hunt[dial].startswith("same => n(bound),Dial(${IVR400_HUNT_T},")
    first, following, joining = takes
    assert first == check - 1 and hunt[first].startswith("exten => s,1,MSet(")  # sequential: the first target
    assert hunt[following + 1] == "same => n,Goto(try)"  # sequential: the next target
    assert hunt[joining + 1:joining + 3] == ['same => n,GotoIf($["${IVR400_HUNT_T}" = ""]?join)',
                                             f"same => n,GotoIf($[{bound}]?add)"]
    waits = {_app(step)[0] for step in hunt[:hunt.index(next(x for x in hunt if x.startswith("same => n(answered),")))]}
    assert waits == {"MSet", "GotoIf", "Goto", "Set", "Log", "Dial"}  # only Dial waits
    rich.execute(update(Hotline).where(Hotline.number == RICH).values(menu_timeout_s=8))
    rich.commit()
    again = render_asterisk(rich, NOW)
    assert _data(again.astdb, f"h/{RICH}/s")["IVR400_PLAN"] != version
    assert all(value.split("&")[0] != version for key, value in again.astdb.items() if "/b" in key)
    assert again.files["ivr400/extensions.conf"] == ext


def test_sounds_map_tones_from_the_data_dir(rich: Session, tmp_path: Path) -> None:
    cfg = render_asterisk(rich, NOW, data_root=tmp_path)
    assert cfg.sounds["sounds/ivr400/tone-11.wav"] == tmp_path / f"tones/{11:064x}.wav"
    assert cfg.sounds["sounds/ivr400/tone-14.wav"] == tmp_path / f"tones/{14:064x}.wav"
    assert cfg.sounds["moh/ivr400/ivr400-tone-12/tone-12.wav"] == tmp_path / f"tones/{12:064x}.wav"
    assert "sounds/ivr400/tone-12.wav" not in cfg.sounds  # a ringback tone is music on hold, not a prompt
    assert any("tone-11.wav" in w and "missing" in w for w in cfg.warnings)  # no such file in tmp_path
    (tmp_path / "tones").mkdir()
    for i in (11, 12, 13, 14):
        (tmp_path / "tones" / f"{i:064x}.wav").write_bytes(b"RIFF")
    assert render_asterisk(rich, NOW, data_root=tmp_path).warnings == []


def test_names_cannot_escape_comments(rich: Session) -> None:
    """A department's name reaches no Asterisk file (the data holds keys and paths, not names): no line break,
    `[` or `;` in it can start a context, a step or a key."""
    cfg = render_asterisk(rich, NOW)
    assert "evil" not in cfg.contexts
    for name, body in cfg.files.items():
        assert "evil" not in body and "666" not in body and "人工" not in body, name
    assert cfg.astdb[f"m/{RICH}/9"] == "department,IVR400_KEYS=9,IVR400_DEPT_PATH=9"
    assert _data(cfg.astdb, f"h/{RICH}/d9")["IVR400_TARGET_1"] == "PJSIP/pstn/sip:02155550002@127.0.0.1:5071"


# --------------------------------------------------------------------------- the whitelist in the render


def test_column_read_matches_the_routable_query_as_entities(sample: Session, rich: Session) -> None:
    for session in (sample, rich):
        for now in (NOW, datetime(2028, 6, 1, tzinfo=timezone.utc)):
            entities = [(seat.id, seat.position, dest.number) for seat, dest, _ in
                        session.execute(routable_seats_query(now)).all()]
            assert [(r.seat_id, r.position, r.number) for r in routable_seats(session, now)] == entities


def test_revoked_destination_disappears(sample: Session) -> None:
    before = render_asterisk(sample, NOW).files[ASTDB_FILE]
    assert before.count("PJSIP/01062345678@ivr400-out") == 4  # switchboard and 销售部: hunt lists and marks
    dest = sample.scalar(select(Destination).where(Destination.number == "01062345678"))
    destinations.revoke(sample, dest, reason="contract ended", now=NOW, actor="test")
    sample.commit()
    cfg = render_asterisk(sample, NOW)
    assert not [name for name, body in cfg.files.items() if "01062345678" in body]
    assert cfg.astdb[f"h/{HOTLINE}/b0"].split("&")[1:] == ["PJSIP/01062345679@ivr400-out"]  # unbound now
    sb = _data(cfg.astdb, f"h/{HOTLINE}/d")
    assert sb["IVR400_TARGET_1"] == "PJSIP/01062345679@ivr400-out" and sb["IVR400_TARGET_COUNT"] == "1"


def test_expired_destination_disappears(sample: Session) -> None:
    # The Shanghai branch (R4 letter + R6) is authorized until the end of next year (Asia/Shanghai).
    branch = "PJSIP/02161234567@ivr400-out"
    assert branch in render_asterisk(sample, datetime(2027, 12, 31, 15, 59, tzinfo=timezone.utc)).files[ASTDB_FILE]
    cfg = render_asterisk(sample, datetime(2027, 12, 31, 16, 0, tzinfo=timezone.utc))
    later = cfg.files[ASTDB_FILE]
    assert not [name for name, body in cfg.files.items() if "02161234567" in body]
    assert "PJSIP/01062345678@ivr400-out" in later


def test_inactive_hotline_renders_only_the_unknown_number_path(sample: Session) -> None:
    sample.execute(update(Hotline).values(active=False))
    sample.commit()
    cfg = render_asterisk(sample, NOW)
    ext = cfg.files["ivr400/extensions.conf"]
    assert not [name for name, body in cfg.files.items() if HOTLINE in body]
    assert cfg.contexts == GENERIC and cfg.astdb == {}
    assert "exten => _X.,1," in ext


def test_invalid_dial_template_is_left_out_or_refused(sample: Session) -> None:
    # Past the services (raw SQL): a template that would smuggle a second Dial argument in.
    sample.execute(text("INSERT INTO trunk (id, name, dial_template) VALUES (9, 'bad', 'PJSIP/{number}@x,60,A(x)')"))
    sample.execute(update(Destination).where(Destination.number == "01062345678").values(trunk_id=9))
    sample.commit()
    cfg = render_asterisk(sample, NOW)
    assert not [name for name, body in cfg.files.items() if "01062345678" in body]
    assert "A(x)" not in cfg.files["ivr400/pjsip.conf"]
    assert any("dial template" in w for w in cfg.warnings)
    with pytest.raises(RenderValueError, match="dial template"):
        render_asterisk(sample, NOW, strict=True)


def test_tone_of_another_enterprise_is_not_used(sample: Session, rich: Session) -> None:
    # Both fixtures share one database: give the sample hotline the other enterprise's welcome tone.
    sample.execute(update(Hotline).where(Hotline.number == HOTLINE).values(welcome_tone_id=11))
    sample.commit()
    cfg = render_asterisk(sample, NOW)
    db = cfg.astdb
    assert _data(db, f"m/{HOTLINE}/s")["IVR400_MENU_PROMPT"] == "ivr400/ivr400-welcome"
    assert _settings(db, f"h/{HOTLINE}/s")["welcome"] == "ivr400/ivr400-welcome"
    assert not [k for k, value in db.items() if HOTLINE in k and "tone-11" in value]  # the rich hotline's own
    assert any("tone 11 belongs to another enterprise" in w for w in cfg.warnings)


# --------------------------------------------------------------------------- templates


def test_operator_template_directory_wins(sample: Session, tmp_path: Path) -> None:
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / "pjsip.conf.j2").write_text("; operator pjsip for {{ hotlines|length }} hotline(s)\n")
    cfg = render_asterisk(sample, NOW, template_dirs=[ops])
    assert cfg.files["ivr400/pjsip.conf"] == "; operator pjsip for 1 hotline(s)\n"
    assert cfg.files["ivr400/extensions.conf"] == render_asterisk(sample, NOW).files["ivr400/extensions.conf"]
    # a partial alone can be overridden too, and several directories are searched in order
    second = tmp_path / "second"
    second.mkdir()
    (second / "_shared.j2").write_text("\n[ivr400-operator-extra]\nexten => s,1,Hangup()\n")
    (second / "pjsip.conf.j2").write_text("; second\n")
    cfg = render_asterisk(sample, NOW, template_dirs=[ops, second])
    assert "ivr400-operator-extra" in cfg.contexts and "ivr400-hunt" not in cfg.contexts
    assert cfg.files["ivr400/pjsip.conf"].startswith("; operator pjsip")  # the first directory wins


def test_missing_template_directory_is_an_error(sample: Session, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="does not exist"):
        render_asterisk(sample, NOW, template_dirs=[tmp_path / "nope"])


def test_syntax_error_names_template_and_line(sample: Session, tmp_path: Path) -> None:
    (tmp_path / "extensions.conf.j2").write_text("; line 1\n; line 2\n{% if %}\n")
    with pytest.raises(RenderError) as info:
        render_asterisk(sample, NOW, template_dirs=[tmp_path])
    assert info.value.line == 3
    assert info.value.template is not None and info.value.template.endswith("extensions.conf.j2")
    assert "extensions.conf.j2:3" in str(info.value) and "syntax error" in str(info.value)


def test_undefined_variable_names_template_and_line(sample: Session, tmp_path: Path) -> None:
    (tmp_path / "musiconhold.conf.j2").write_text("; ok\n{{ hotlines|length }}\n{{ no_such_thing }}\n")
    with pytest.raises(RenderError) as info:
        render_asterisk(sample, NOW, template_dirs=[tmp_path])
    assert info.value.line == 3 and info.value.template.endswith("musiconhold.conf.j2")
    assert "no_such_thing" in str(info.value) and "undefined" in str(info.value)


def test_undefined_attribute_in_a_partial_names_the_partial(sample: Session, tmp_path: Path) -> None:
    package = Path(__file__).resolve().parents[2] / "dialplans" / "asterisk" / "_hotline.j2"
    body = package.read_text().replace("{{ h.number }},{{ v.PLAN }}", "{{ h.numbr }},{{ v.PLAN }}", 1)
    assert body != package.read_text()
    (tmp_path / "_hotline.j2").write_text(body)
    line = next(i for i, text_ in enumerate(body.splitlines(), 1) if "h.numbr" in text_)
    with pytest.raises(RenderError) as info:
        render_asterisk(sample, NOW, template_dirs=[tmp_path])
    assert info.value.template.endswith("_hotline.j2") and info.value.line == line
    assert "numbr" in str(info.value)


def test_bad_agi_url_is_refused(sample: Session) -> None:
    with pytest.raises(RenderError, match="agi url"):
        render_asterisk(sample, NOW, agi_url="agi://127.0.0.1:4573/x,1")
    cfg = render_asterisk(sample, NOW, agi_url="agi://10.0.0.5:4573/")
    assert "AGI(agi://10.0.0.5:4573/route?hotline=${IVR400_HOTLINE})" in cfg.files["ivr400/extensions.conf"]


# --------------------------------------------------------------------------- determinism, fingerprints


def test_render_is_deterministic(sample: Session, rich: Session) -> None:
    first = render_asterisk(sample, NOW)
    second = render_asterisk(sample, NOW)
    assert first.files == second.files and first.fingerprints == second.fingerprints
    assert first.contexts == second.contexts and first.sounds == second.sounds


def test_fingerprints_and_changed(sample: Session, tmp_path: Path) -> None:
    import hashlib

    cfg = render_asterisk(sample, NOW)
    for name, body in cfg.files.items():
        assert cfg.fingerprints[name] == hashlib.sha256(body.encode()).hexdigest()
    assert cfg.changed(cfg.fingerprints) == []
    dest = sample.scalar(select(Destination).where(Destination.number == "01062345680"))
    destinations.revoke(sample, dest, reason="moved", now=NOW, actor="test")
    sample.commit()
    again = render_asterisk(sample, NOW)
    assert again.changed(cfg.fingerprints) == [ASTDB_FILE]  # only data: the dialplan, moh and pjsip are unchanged
    written = again.write(tmp_path / "etc")
    assert [p.relative_to(tmp_path / "etc").as_posix() for p in written] == list(again.files)
    for name in ("ivr400/extensions.conf", ASTDB_FILE):
        assert (tmp_path / "etc" / name).read_text(encoding="utf-8") == again.files[name]


def test_model_is_ordered_by_number(engine) -> None:  # noqa: ANN001
    with Session(engine) as session:
        ent = add_enterprise(session, "广州示例有限公司", "020", now=NOW)
        for number in ("4009000002", "4006000001", "4008000003"):
            add_hotline(session, number, ent, now=NOW)
        session.commit()
        model = load_model(session, NOW)
        assert [h.number for h in model.hotlines] == ["4006000001", "4008000003", "4009000002"]
        db = render_asterisk(session, NOW).astdb
        assert [k.split("/")[1] for k in db if k.endswith("/s")] == ["4006000001", "4008000003", "4009000002"]
        # no department, no seat: the switchboard (the welcome tone as early media first), then voicemail
        settings = _settings(db, "h/4006000001/s")
        assert settings["static"] == "department" and settings["after"] == "voicemail"
        assert _data(db, "h/4006000001/d")["IVR400_TARGET_COUNT"] == "0"
        assert not [k for k in db if k.startswith("m/")]  # no menu


#: What the lab's Asterisk 22 wrote into CDR(ivr400_call) for an answered menu call (tests/unit/test_cdr_model.py:
#: CSV_V4_MENU): key 1, department 1, the seat, decided by the controller, the hunt's start, the seat's answer.
LAB_PACKED = ('"1","1","PJSIP/pstn/sip:01062345009@127.0.0.1:5091","answered","","controller","1796132146",'
              '"1796132146.799"')
#: That call's channel when its hangup handler ran (the seat answered at 1796132146.799: Dial's U() noted it).
LAB_ANSWERED = {"DIALSTATUS": "ANSWER", "DIALEDPEERNAME": "PJSIP/pstn-000012c1",
                "DIALEDPEERNUMBER": "pstn/sip:01062345009@127.0.0.1:5091", "IVR400_KEYS": "1", "IVR400_DEPT_PATH": "1",
                "IVR400_ACTION": "menu", "IVR400_DECIDED_BY": "controller", "IVR400_HUNT_AT": "1796132146",
                "IVR400_SEAT_ANSWER_AT": "1796132146.799", "UNIQUEID": "1796132146.9600",
                "IVR400_SETTINGS": _settings_value(welcome="ivr400/ivr400-welcome", static="menu", after="voicemail",
                                                   fax_mode="off")}  # the sample hotline's: no recording


def _packed(ext: str, chan: dict[str, str], files: frozenset[str] = frozenset()) -> str:
    """What the call-record hangup handler writes into CDR(ivr400_call) on a channel with variables `chan`."""
    app, args = _app(_steps(_context(ext, "ivr400-cdr"))[1])
    name, value = args.split("=", 1)
    assert (app, name) == ("Set", "CDR(ivr400_call)")  # Set: the value is the rest, commas and all
    return _substitute(value, chan, files)


def _hotline_written(ext: str, chan: dict[str, str]) -> str:
    """What the call-record hangup handler writes into CDR(ivr400_hotline) on a channel with variables `chan`."""
    app, args = _app(_steps(_context(ext, "ivr400-cdr"))[0])
    name, value = args.split("=", 1)
    assert (app, name) == ("Set", "CDR(ivr400_hotline)")
    return _substitute(value, chan)


def _recorded(ext: str, chan: dict[str, str], files: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The packed columns ivr400.cdr reads from that value (the Cdr event's IVR400Call header carries it)."""
    leg = leg_from_event({"Event": "Cdr", "UniqueID": "1796132146.9600", "StartEpoch": "1796132146.320256",
                          "AnswerEpoch": "0.000000", "EndEpoch": "1796132147.034540", "IVR400Hotline": HOTLINE,
                          "IVR400Call": _packed(ext, chan, files)})
    return leg.keys, leg.dept, leg.seat, leg.disp, leg.rec, leg.decided_by, leg.hunt, leg.seat_answer


def test_call_record_handler_runs_for_every_call(sample: Session) -> None:
    ext = render_asterisk(sample, NOW).files["ivr400/extensions.conf"]
    push = '"CHANNEL(hangup_handler_push)=ivr400-cdr,s,1"'  # quoted: MSet would split the location at its commas
    # the handler and the hotline's data in the call's first step, before anything can dial; a number whose
    # hotline is gone goes on in ivr400-unknown past the step pushing the handler (one handler), noting the
    # number dialled for the record
    first = next(x for x in _steps(_context(ext, "ivr400-call")) if x.startswith("exten => _400XXXXXXX,1,"))
    assert first == f"exten => _400XXXXXXX,1,MSet({push},IVR400_HOTLINE=${{DB(ivr400/h/${{EXTEN}}/s)}})"
    unknown = _steps(_context(ext, "ivr400-unknown"))
    assert unknown[0] == "exten => _X.,1,Set(CHANNEL(hangup_handler_push)=ivr400-cdr,s,1)"
    assert unknown[1].startswith("same => n(pushed),") and "IVR400_DIALLED=${FILTER(0-9,${EXTEN})}" in unknown[1]
    assert re.findall(r"\?ivr400-unknown,([^)]*)\)", ext) == ["${EXTEN},pushed"]
    assert "Goto(ivr400-call,${EXTEN},1)" in _context(ext, "ivr400-clicktocall")  # click-to-call: pushed too
    # no CDR() write on the way (each waits for Asterisk's CDR thread, whose queue grows with the load): the
    # handler's two, then Return
    steps = _steps(ext)
    assert sorted(m for x in steps for m in re.findall(r"CDR\((\w+)\)=", x)) == ["ivr400_call", "ivr400_hotline"]
    handler = _steps(_context(ext, "ivr400-cdr"))
    assert len(handler) == 3 and handler[2] == "same => n,Return()"
    assert handler[0].startswith("exten => s,1,Set(CDR(ivr400_hotline)=") and handler[1].startswith("same => n,Set(")
    assert _hotline_written(ext, {"IVR400_HOTLINE": HOTLINE}) == HOTLINE
    assert _hotline_written(ext, {"IVR400_DIALLED": "4009999999"}) == "4009999999"  # no hotline of ours
    assert _hotline_written(ext, {"IVR400_HOTLINE": HOTLINE, "IVR400_DIALLED": "4009999999"}) == HOTLINE
    fields = _args(_app(handler[1])[1].split("=", 1)[1])
    assert len(fields) == len(PACKED_COLUMNS) and all(re.fullmatch(r"\$\{CSV_QUOTE\(.*\)\}", f) for f in fields)
    # what it writes, read back by ivr400.cdr; the answered call is the lab's, to the character
    assert _packed(ext, LAB_ANSWERED) == LAB_PACKED
    assert _recorded(ext, LAB_ANSWERED) == ("1", "1", "PJSIP/pstn/sip:01062345009@127.0.0.1:5091", "answered", "",
                                            "controller", "1796132146", "1796132146.799")
    busy = {"DIALSTATUS": "BUSY", "DIALEDPEERNAME": "", "IVR400_DISPOSITION": "busy", "IVR400_KEYS": "2-1",
            "IVR400_DEPT_PATH": "2.1", "IVR400_ACTION": "menu", "IVR400_DECIDED_BY": "mixed",
            "IVR400_HUNT_AT": "1796132146", "IVR400_SEAT_ANSWER_AT": "1796132140.5",
            "IVR400_SETTINGS": _settings_value(static="menu", after="goodbye", rec_dir="/rec")}
    assert _recorded(ext, busy) == ("2-1", "2.1", "", "busy", "", "mixed", "1796132146", "")
    vm = "/var/spool/asterisk/ivr400/voicemail/4008123456/1.2.wav"
    voicemail = {**busy, "DIALSTATUS": "NOANSWER", "IVR400_DISPOSITION": "voicemail", "IVR400_VM_FILE": vm}
    assert _recorded(ext, voicemail, frozenset({vm}))[3:5] == ("voicemail", vm)
    assert _recorded(ext, voicemail)[3:5] == ("voicemail", "")  # nothing was kept
    menu = {"IVR400_ACTION": "menu", "IVR400_DECIDED_BY": "static", "IVR400_KEYS": ""}  # hung up in the menu
    assert _recorded(ext, menu) == ("", "", "", "abandoned", "", "static", "", "")
    unknown_number = {"IVR400_DISPOSITION": "unknown_number"}  # nobody decided anything
    assert _recorded(ext, unknown_number) == ("", "", "", "unknown_number", "", "", "", "")
    surveyed = {**LAB_ANSWERED, "IVR400_SEAT": "PJSIP/pstn/sip:01062345009@127.0.0.1:5091"}
    assert _recorded(ext, surveyed) == _recorded(ext, LAB_ANSWERED)


#: Who decided a call's entry (the route hook's outcome): the variables it leaves.
_ENTRY = {"controller": {"AGISTATUS": "SUCCESS", "IVR400_AGI_STATUS": "OK", "IVR400_ACTION": "department"},
          "unreachable": {"AGISTATUS": "FAILURE"},
          "no decision": {"AGISTATUS": "SUCCESS", "IVR400_AGI_STATUS": "OK"}}  # e.g. no configuration loaded
#: The department hook's outcome, when it runs (it does not once the controller was unreachable).
_HOOK = {"controller": {"AGISTATUS": "SUCCESS", "IVR400_AGI_STATUS": "OK", "IVR400_TARGET_COUNT": "2"},
         "unreachable": {"AGISTATUS": "FAILURE"},
         "no list": {"AGISTATUS": "SUCCESS", "IVR400_AGI_STATUS": "OK"}}  # department(): StaticPlan


@pytest.mark.parametrize(("entry", "hunt", "recorded"), [
    ("controller", None, "controller"),  # e.g. an announcement, a refusal, a caller who left the menu
    ("unreachable", None, "static"),
    ("no decision", None, "static"),
    ("controller", "entry list", "controller"),  # the route hook sent the list with its decision
    ("controller", "controller", "controller"),
    ("controller", "unreachable", "mixed"),
    ("controller", "no list", "mixed"),
    ("unreachable", "unreachable", "static"),  # the hook is not even asked
    ("no decision", "controller", "mixed"),
    ("no decision", "no list", "static"),
    ("no decision", "unreachable", "static"),
])
def test_who_decided_reaches_the_call_record(sample: Session, entry: str, hunt: str | None, recorded: str) -> None:
    """IVR400_DECIDED_BY through the steps that set it, as rendered: the entry's (empty when the controller
    decided, static for the static plan), the department's static list (static, or mixed after a controller's
    entry), the hunt's start (the controller decided the list: controller, or mixed after a static entry); the
    call-record handler writes what the call ended with, controller for an empty one once an action was set."""
    ext = render_asterisk(sample, NOW).files["ivr400/extensions.conf"]
    call, dept = _steps(_context(ext, "ivr400-call")), _steps(_context(ext, "ivr400-department"))
    hunts = [x for x in _steps(_context(ext, "ivr400-hunt")) if "IVR400_DECIDED_BY=" in x]
    starts = [x.split(",", 1)[0] for x in hunts]
    assert starts == ["exten => s", "same => n(together)", "same => n(none)"]  # every way into the hunt, alike
    assert len({_args(_app(x)[1])[0] for x in hunts}) == 1 and _args(_app(hunts[0])[1])[0].startswith(
        "IVR400_DECIDED_BY=")
    at = call.index(next(x for x in call if x.startswith("exten => _400XXXXXXX,1,")))
    route_hook, decided, plan = call[at + 1], call[at + 3], call[at + 5]

    def condition(step: str, chan: dict[str, str]) -> bool:
        app, args = _app(step)
        assert app in ("GotoIf", "ExecIf"), step
        return _true(_substitute(args.split("?", 1)[0], chan))

    chan = {"IVR400_HOTLINE": HOTLINE, "IVR400_SETTINGS": _settings_value(static="department", after="voicemail")}
    trail = []  # IVR400_DECIDED_BY after each step that may set it, for the failure message
    assert condition(route_hook, chan)
    chan |= _ENTRY[entry]
    if not condition(decided, chan):  # the static plan
        chan |= _mset(plan, chan)
        trail.append(("entry: static plan", chan["IVR400_DECIDED_BY"]))
    if hunt == "entry list":
        chan["IVR400_TARGET_COUNT"] = "2"
        assert condition(dept[1], chan)  # straight to the hunt
    elif hunt is not None:
        assert not condition(dept[1], chan)
        chan |= _mset(dept[2], chan)
        if condition(dept[3], chan):
            chan |= _HOOK[hunt]
        if not condition(dept[4], chan):
            chan |= _mset(dept[5], chan)
            trail.append(("department: static list", chan["IVR400_DECIDED_BY"]))
    if hunt is not None:
        chan |= _mset(hunts[0], chan)
        trail.append(("hunt start", chan["IVR400_DECIDED_BY"]))
    assert _recorded(ext, chan)[5] == recorded, f"IVR400_DECIDED_BY along the call: {trail}"


def _dial_options(step: str) -> str:
    """The options (third argument) of the Dial in a step (alone, or the branch of an ExecIf)."""
    at = step.index("Dial(") + len("Dial")
    depth = 0
    for end in range(at, len(step)):
        depth += {"(": 1, ")": -1}.get(step[end], 0)
        if depth == 0:
            break
    return _args(step[at + 1:end])[2]


def test_record_calls_records_the_answered_seat(rich: Session) -> None:
    cfg = render_asterisk(rich, NOW)
    ext = cfg.files["ivr400/extensions.conf"]
    spool = f"/var/spool/asterisk/ivr400/recordings/{RICH}"
    assert _settings(cfg.astdb, f"h/{RICH}/s")["rec_dir"] == spool
    # both Dials (one by one, all at once) pass the same options: U() runs a subroutine on the seat's channel once it
    # answered, which records both directions into <dir>/<UNIQUEID>.wav only when the hotline records calls (the
    # directory read at entry); the call record names the same file once a seat answered
    dials = [x for x in _steps(_context(ext, "ivr400-hunt")) if "Dial(" in x]
    assert len(dials) == 2 and len({_dial_options(x) for x in dials}) == 1
    options = _dial_options(dials[0])
    chan = {**LAB_ANSWERED, "IVR400_SETTINGS": _data(cfg.astdb, f"h/{RICH}/s")["IVR400_SETTINGS"]}  # the rich one's
    recording = f"{spool}/1796132146.9600.wav"
    assert _substitute(options, chan) == f"U(ivr400-record^{recording})"
    assert _recorded(ext, chan)[4] == recording
    assert _substitute(options, LAB_ANSWERED) == "U(ivr400-answered)" and _recorded(ext, LAB_ANSWERED)[4] == ""
    assert _recorded(ext, {**chan, "DIALSTATUS": "NOANSWER", "IVR400_DISPOSITION": "noanswer"})[4] == ""
    surveys = _settings_value(**{**_settings(cfg.astdb, f"h/{RICH}/s"), "survey": "ivr400/survey"})
    surveyed = {**chan, "IVR400_MOH": "ivr400-tone-12", "IVR400_SETTINGS": surveys}
    assert _substitute(options, surveyed) == f"m(ivr400-tone-12)U(ivr400-record^{recording})g"
    assert _substitute(options, {**surveyed, "IVR400_AGI": "down"}).endswith(".wav)")  # nobody to save a score
    assert "IVR400_REC_FILE" not in ext
    # either subroutine notes on the caller's channel when the seat answered, which the call record writes
    noted = "exten => s,1,Set(MASTER_CHANNEL(IVR400_SEAT_ANSWER_AT)=${STRFTIME(,UTC,%s.%3q)})"
    assert _steps(_context(ext, "ivr400-record")) == [noted, "same => n,MixMonitor(${ARG1},b,/bin/chmod 0640 ${ARG1})",
                                                      "same => n,Return()"]
    assert _steps(_context(ext, "ivr400-answered")) == [noted, "same => n,Return()"]
    assert _recorded(ext, {**chan, "IVR400_SEAT_ANSWER_AT": "1796132146.8"})[7] == "1796132146.8"
    assert _recorded(ext, {**chan, "DIALSTATUS": "BUSY", "IVR400_DISPOSITION": "busy"})[7] == ""  # a later Dial


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_a_tone_not_approved_is_not_deployed_and_an_approved_one_is(rich: Session, status: str) -> None:
    """彩铃审核: a pending or rejected tone is absent for the renderer (parent's ringback, no welcome)."""
    rich.execute(update(Tone).where(Tone.id.in_([11, 13])).values(status=status))
    rich.commit()
    cfg = render_asterisk(rich, NOW)
    data, moh, db = cfg.files[ASTDB_FILE], cfg.files["ivr400/musiconhold.conf"], cfg.astdb
    assert "tone-11" not in data and "tone-13" not in data and "[ivr400-tone-13]" not in moh
    assert _settings(db, f"h/{RICH}/s")["welcome"] == "ivr400/ivr400-welcome"  # the shipped default, not the tenant's
    d1 = _data(db, f"h/{RICH}/d1")
    assert d1["IVR400_MOH"] == "ivr400-tone-12"  # the hotline's (approved) ringback, not the department's own
    assert _data(db, f"m/{RICH}/s")["IVR400_MENU_PROMPT"] != "ivr400/tone-11"
    assert any(f"tone 11 is {status} (not approved)" in w for w in cfg.warnings)
    assert any(f"tone 13 is {status} (not approved)" in w for w in cfg.warnings)
    assert render_asterisk(rich, NOW, strict=True).files == cfg.files  # a normal state, not a bad row

    rich.execute(update(Tone).where(Tone.id.in_([11, 13])).values(status="approved"))
    rich.commit()
    approved = render_asterisk(rich, NOW)
    assert _settings(approved.astdb, f"h/{RICH}/s")["welcome"] == "ivr400/tone-11"
    assert _data(approved.astdb, f"h/{RICH}/d1")["IVR400_MOH"] == "ivr400-tone-13"
    assert not any("not approved" in w for w in approved.warnings)


_STEP = re.compile(r"^(?:exten => [^,\s]+,(?:\d+|n|hint)(?:\([a-z0-9-]+\))?| same => n(?:\([a-z0-9-]+\))?)"
                   r",[A-Za-z]+\(.*\)$")


@pytest.mark.parametrize("fixture", ["sample", "rich"])
def test_every_dialplan_line_is_one_step(fixture: str, request: pytest.FixtureRequest) -> None:
    """Each rendered dialplan line is a context, a comment, blank, an include of one context, or exactly one
    `exten =>`/`same =>` step running one application: a template's whitespace control must never join two steps
    on one line (Asterisk would hand the second step's text to the first application as arguments)."""
    ext = render_asterisk(request.getfixturevalue(fixture), NOW).files["ivr400/extensions.conf"]
    for number, line in enumerate(ext.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(";") or line.startswith("["):
            continue
        if line.startswith("include => "):
            assert re.fullmatch(r"include => ivr400-[a-z0-9-]+", line), f"line {number}: {line}"
            continue
        step = line.split(" ; ", 1)[0]  # a trailing comment may quote anything (a department's name)
        assert step.count("exten =>") + step.count("same =>") == 1 and _STEP.match(step), f"line {number}: {line}"
