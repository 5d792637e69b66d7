"""传真 in the rendered plan: a hotline's fax mode reaches its settings (AstDB ivr400/h/<number>/s), `detect` turns
res_fax's detection on after the refuse check, every context of the detected stretch has the `fax` extension, the
fax key is a data key of the top menu (ivr400/m/<number>/<key>); bad rows (raw SQL past the service) take no fax,
with a warning, or raise with strict."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from ivr400.db.models import Hotline
from ivr400.provisioning.fax import set_fax
from ivr400.provisioning.sample import HOTLINE, provision_sample
from ivr400.render import RenderValueError, render_asterisk
from ivr400.render.asterisk import RenderedConfig
from ivr400.render.model import FAX_DETECT_S
from ivr400.tree import read_tree
from tests.conftest import NOW
from tests.render.test_render import _mset, _steps

#: Contexts a call may be in while detection listens (ivr400-call answers, then menu, hunt, the fallbacks).
DETECTED_STRETCH = ("ivr400-call", "ivr400-menu", "ivr400-department", "ivr400-hunt", "ivr400-voicemail",
                    "ivr400-goodbye", "ivr400-announce")


@pytest.fixture
def sample(tmp_path: Path):  # noqa: ANN201
    engine = make_engine(f"sqlite:///{tmp_path}/fax.db")
    upgrade(engine)
    with Session(engine) as s:
        provision_sample(s, store_root=tmp_path / "store", now=NOW, actor="test")  # departments 1 and 2
        s.commit()
        yield s
    engine.dispose()


def _context(ext: str, name: str) -> str:
    return ext.split(f"\n[{name}]\n", 1)[1].split("\n[", 1)[0]


def _settings(cfg: RenderedConfig) -> dict[str, str]:
    """The hotline's settings as call entry sets them: the first field is IVR400_HOTLINE, then NAME=value pairs."""
    first, *pairs = cfg.astdb[f"h/{HOTLINE}/s"].split(",")
    return {"IVR400_HOTLINE": first, **dict(p.split("=", 1) for p in pairs)}


def _fax_mode(cfg: RenderedConfig) -> str:
    """The hotline's fax mode as the static plan sets it (IVR400_FAX_MODE of its MSet step, from the settings call
    entry read; the route hook sends its own): what the steps after it test."""
    [plan] = [x for x in _steps(_context(cfg.files["ivr400/extensions.conf"], "ivr400-call"))
              if "IVR400_DECIDED_BY=static" in x]
    return _mset(plan, {**_settings(cfg), "AGISTATUS": "FAILURE"})["IVR400_FAX_MODE"]


def _render(s: Session, **kw: object) -> RenderedConfig:
    return render_asterisk(s, NOW, **kw)  # type: ignore[arg-type]


def _fax_keys(cfg: RenderedConfig) -> list[str]:
    """Menu keys whose data leads to the fax (first field: the value of IVR400_NEXT)."""
    return [key for key, value in cfg.astdb.items() if key.startswith("m/") and value.split(",", 1)[0] == "fax"]


def test_off_by_default_and_detect(sample: Session) -> None:
    off = _render(sample)
    assert _fax_mode(off) == "off" and _fax_keys(off) == []
    set_fax(sample, sample.query(Hotline).one(), "detect")
    cfg = _render(sample)
    ext = cfg.files["ivr400/extensions.conf"]
    assert _fax_mode(cfg) == "detect"
    call = _context(ext, "ivr400-call")
    steps = [x for x in call.splitlines() if x.startswith(" same")]
    # no way into the menu skips the detection: a jump to it before the refuse check holds only without detect
    refuse = next(i for i, x in enumerate(steps) if "?ivr400-refuse,s,1" in x)
    early = [x for x in steps[:refuse] if "?ivr400-menu,s,1)" in x]
    assert len(early) == 2 and all(' & "${IVR400_FAX_MODE}" != "detect"]?' in x for x in early)
    assert steps[refuse + 1] == ' same => n,GotoIf($["${IVR400_FAX_MODE}" != "detect"]?route)'
    assert steps[refuse + 2] == " same => n,Answer()"
    assert steps[refuse + 3] == f" same => n,Set(FAXOPT(faxdetect)=yes,{FAX_DETECT_S})"
    assert steps[refuse + 4] == ' same => n(route),GotoIf($["${IVR400_ACTION}" = "menu"]?ivr400-menu,s,1)'
    # the carrier's context includes ivr400-call: a call dialled *to* `fax` has no hotline and is released
    assert 'exten => fax,1,ExecIf($["${IVR400_HOTLINE}" = ""]?Hangup(1))\n same => n,Goto(ivr400-fax,s,1)\n' in call
    for name in DETECTED_STRETCH[1:]:
        assert "exten => fax,1,Goto(ivr400-fax,s,1)" in _context(ext, name), name
    fax = _context(ext, "ivr400-fax")
    assert "ReceiveFAX(${IVR400_FAX_FILE},f)" in fax
    assert "exten => s,1,Set(IVR400_DISPOSITION=fax)" in fax  # the call record: fax, not missed
    assert "Set(IVR400_FAX_FILE=/var/spool/asterisk/ivr400/fax/${FILTER(0-9,${IVR400_HOTLINE})}/${UNIQUEID}.tif)" in fax
    assert fax.index("hangup_handler_push)=ivr400-fax-done") < fax.index("ReceiveFAX")
    assert "AGI(agi://127.0.0.1:4573/fax_received?hotline=${FILTER(0-9,${IVR400_HOTLINE})})" in \
        _context(ext, "ivr400-fax-done")
    assert _fax_keys(cfg) == []  # detect adds no menu key
    assert sorted(k for k in cfg.astdb if k.startswith(f"m/{HOTLINE}/")) == [f"m/{HOTLINE}/{k}" for k in "12s"]


def test_a_fax_key_is_a_data_key_of_the_top_menu(sample: Session) -> None:
    set_fax(sample, sample.query(Hotline).one(), "key:9")
    cfg = _render(sample)
    assert _fax_mode(cfg) == "key"
    assert cfg.astdb[f"m/{HOTLINE}/9"] == "fax,IVR400_NEXT_PATH=,IVR400_KEYS=9"
    assert _fax_keys(cfg) == [f"m/{HOTLINE}/9"]
    menu = _context(cfg.files["ivr400/extensions.conf"], "ivr400-menu")
    level = 'm/${IVR400_HOTLINE}${IF($["${IVR400_MENU_PATH}" = ""]?:-${FILTER(0-9,${IVR400_MENU_PATH})})}'
    key_read = f" same => n,MSet(IVR400_NEXT=${{DB(ivr400/{level}/${{FILTER(0-9,${{IVR400_KEY}})}})}})"
    fax = ' same => n,GotoIf($["${IVR400_NEXT}" = "fax"]?ivr400-fax,s,1)'
    assert menu.index(key_read) < menu.index(fax)


@pytest.mark.parametrize(("mode", "key", "warning"), [
    ("sometimes", None, "fax mode 'sometimes' unknown"),
    ("key", "x", "fax key left out"),
    ("key", "1", "fax key 1 opens a department of the top menu"),  # a department took it (raw SQL)
])
def test_bad_rows_take_no_fax(sample: Session, mode: str, key: str | None, warning: str) -> None:
    sample.execute(update(Hotline).values(fax_mode=mode, fax_key=key))
    tree = read_tree(sample, NOW)
    assert (tree.hotlines[0].fax_mode, tree.hotlines[0].fax_key) == ("off", None)
    assert any(warning in w for w in tree.warnings), tree.warnings
    off = _render(sample)
    assert _fax_mode(off) == "off" and _fax_keys(off) == []
    if "opens a department" not in warning:  # a bad value is a bad row; a taken key is a normal state
        with pytest.raises(RenderValueError):
            read_tree(sample, NOW, strict=True)


def test_a_fax_key_without_a_menu_takes_no_fax(sample: Session) -> None:
    from ivr400.db.models import Department, Seat
    h = sample.query(Hotline).one()
    set_fax(sample, h, "key:9")
    sample.query(Seat).filter(Seat.department_id.is_not(None)).update({Seat.department_id: None})
    sample.query(Department).delete()
    tree = read_tree(sample, NOW, strict=True)
    assert tree.hotlines[0].fax_mode == "off"
    assert any("fax key 9 but no menu" in w for w in tree.warnings)
