"""The lab's base Asterisk config renders with the settings the lab relies on (no PBX needed)."""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import jinja2
import pytest

from ivr400.lab import Lab
from ivr400.lab.chroot import host_path
from ivr400.lab.config import (
    INCLUDE_FILES,
    USERS_CONF_ASIDE,
    LabConfig,
    new_secret,
    render_base_config,
    template_dir,
    write_base_config,
)

BASE_FILES = {
    "asterisk.conf",
    "cdr.conf",
    "cdr_custom.conf",
    "cdr_manager.conf",
    "extensions.conf",
    "http.conf",
    "logger.conf",
    "manager.conf",
    "modules.conf",
    "musiconhold.conf",
    "pjsip.conf",
    "rtp.conf",
    "udptl.conf",
}


def sections(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """Asterisk config as [(section header, {key: [values]})], in order (names may repeat)."""
    out: list[tuple[str, dict[str, list[str]]]] = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            out.append((line, {}))
            continue
        key, sep, value = re.split(r"\s*(=>|=)\s*", line, maxsplit=1)
        assert sep, raw
        out[-1][1].setdefault(key, []).append(value)
    return out


def section(text: str, header_prefix: str, type_: str | None = None) -> dict[str, list[str]]:
    for header, values in sections(text):
        if header.startswith(header_prefix) and (type_ is None or values.get("type") == [type_]):
            return values
    raise AssertionError(f"no section {header_prefix} (type {type_}) in:\n{text}")


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_base_config(LabConfig(ami_secret="0123abcd"))


def test_every_base_file_renders(rendered: dict[str, str]) -> None:
    assert set(rendered) == BASE_FILES


def test_pjsip_transport_carrier_and_pstn(rendered: dict[str, str]) -> None:
    pjsip = rendered["pjsip.conf"]
    transport = section(pjsip, "[transport-udp]")
    assert transport["protocol"] == ["udp"] and transport["bind"] == ["127.0.0.1:5060"]
    trunk = section(pjsip, "[ivr400-trunk](!)")
    for key, value in {"direct_media": "no", "timers": "no", "100rel": "no", "dtmf_mode": "rfc4733"}.items():
        assert trunk[key] == [value], key
    carrier = section(pjsip, "[carrier](ivr400-trunk)")
    assert carrier["context"] == ["ivr400-inbound"]
    identify = section(pjsip, "[carrier]", "identify")
    assert identify["endpoint"] == ["carrier"] and identify["match"] == ["127.0.0.1"]
    pstn = section(pjsip, "[pstn](ivr400-trunk)")
    assert pstn["context"] == ["ivr400-from-pstn"]
    assert not any(v.get("endpoint") == ["pstn"] for _, v in sections(pjsip)), "pstn must have no identify"
    assert pjsip.rstrip().endswith("#include ivr400/pjsip.conf")


def test_ami_on_loopback_with_the_secret(rendered: dict[str, str]) -> None:
    manager = rendered["manager.conf"]
    general = section(manager, "[general]")
    assert general["enabled"] == ["yes"] and general["bindaddr"] == ["127.0.0.1"] and general["port"] == ["5038"]
    user = section(manager, "[ivr400]")
    assert user["secret"] == ["0123abcd"]
    assert user["permit"] == ["127.0.0.0/255.0.0.0"]


def test_extensions_include_lab_test_before_deploys_file(rendered: dict[str, str]) -> None:
    ext = rendered["extensions.conf"]
    includes = re.findall(r"^#include (\S+)$", ext, re.M)
    assert includes == ["ivr400/lab-test.conf", "ivr400/extensions.conf"]
    assert section(ext, "[ivr400-from-pstn]")["exten"] == ["_X.,1,Hangup(21)"]


def test_moh_modules_logger_rtp_asterisk(rendered: dict[str, str]) -> None:
    moh = rendered["musiconhold.conf"]
    assert section(moh, "[default]")["directory"] == ["/var/lib/asterisk/moh/lab-default"]
    assert moh.rstrip().endswith("#include ivr400/musiconhold.conf")
    noload = section(rendered["modules.conf"], "[modules]")["noload"]
    for module in ("pbx_ael.so", "pbx_lua.so", "chan_iax2.so", "pbx_dundi.so", "res_hep.so", "chan_console.so"):
        assert module in noload
    assert "chan_pjsip.so" not in noload and "res_agi.so" not in noload
    # timerfd timing wedges menu calls under load on Asterisk 22.10.1 (docs/asterisk-timerfd-wedge.md)
    assert "res_timing_timerfd.so" in noload and "res_timing_pthread.so" not in noload
    rtp = section(rendered["rtp.conf"], "[general]")
    assert (rtp["rtpstart"], rtp["rtpend"]) == (["10000"], ["19999"])
    options = section(rendered["asterisk.conf"], "[options]")
    assert options["maxfiles"] == ["20000"] and options["verbose"] == ["0"]
    assert section(rendered["http.conf"], "[general]")["enabled"] == ["no"]
    assert section(rendered["cdr.conf"], "[general]")["enable"] == ["yes"]


def test_logger_quiet_by_default_verbose_on_request(rendered: dict[str, str]) -> None:
    quiet = section(rendered["logger.conf"], "[logfiles]")
    assert quiet == {"console": ["notice,warning,error"], "messages.log": ["notice,warning,error"]}
    loud = section(render_base_config(LabConfig(ami_secret="x", verbose=True))["logger.conf"], "[logfiles]")
    assert loud["console"] == ["notice,warning,error,verbose,dtmf"]
    assert loud["full.log"] == ["notice,warning,error,verbose,dtmf,debug"]


def test_templates_use_strict_undefined(tmp_path: Path) -> None:
    (tmp_path / "broken.conf.j2").write_text("x = {{ not_a_setting }}\n")
    with pytest.raises(jinja2.UndefinedError):
        render_base_config(LabConfig(ami_secret="x"), templates=tmp_path)


def test_no_mirror_host_anywhere() -> None:
    import ivr400.lab

    files = list(template_dir().glob("*.j2")) + list(Path(ivr400.lab.__file__).parent.glob("*.py"))
    for path in files:
        text = path.read_text()
        assert not re.search(r"https?://|ftp\.|deb\.debian|mirror\.", text), path


def test_write_base_config_atomic_modes_and_includes(tmp_path: Path) -> None:
    config_dir = tmp_path / "etc" / "asterisk"
    (config_dir / "ivr400").mkdir(parents=True)
    deployed = config_dir / "ivr400" / "extensions.conf"
    deployed.write_text("[ivr400-inbound]\n")
    written = write_base_config(LabConfig(ami_secret=new_secret()), config_dir)
    assert {p.name for p in written} == BASE_FILES
    assert stat.S_IMODE(os.stat(config_dir / "manager.conf").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(config_dir / "pjsip.conf").st_mode) == 0o644
    for rel in INCLUDE_FILES:
        assert (config_dir / rel).is_file(), rel
    assert deployed.read_text() == "[ivr400-inbound]\n", "deploy's include must never be overwritten"
    assert (config_dir / "ivr400" / "pjsip.conf").read_text() == ""
    assert not list(config_dir.rglob(".*")), "no temp files left behind"


def test_write_base_config_moves_users_conf_aside(tmp_path: Path) -> None:
    """Debian's sample users.conf makes every `dialplan reload` leak a manager:core subscriber
    (docs/asterisk-reload-leak.md): the lab keeps it, renamed, out of Asterisk's way."""
    config_dir = tmp_path / "etc" / "asterisk"
    config_dir.mkdir(parents=True)
    (config_dir / "users.conf").write_text("[general]\nfullname = New User\n")
    write_base_config(LabConfig(ami_secret=new_secret()), config_dir)
    assert not (config_dir / "users.conf").exists()
    assert (config_dir / USERS_CONF_ASIDE).read_text() == "[general]\nfullname = New User\n"
    write_base_config(LabConfig(ami_secret=new_secret()), config_dir)  # again: nothing to move, no error
    assert (config_dir / USERS_CONF_ASIDE).is_file()


def test_fresh_secret_each_time() -> None:
    first, second = new_secret(), new_secret()
    assert first != second and re.fullmatch(r"[0-9a-f]{32}", first)


def test_host_path_resolves_chroot_symlinks_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    (root / "var").mkdir()
    (root / "var" / "run").symlink_to("/run")  # absolute, as debootstrap makes it
    (root / "var" / "lock").symlink_to("../run/lock")
    assert host_path(root, "/var/run/asterisk") == root / "run" / "asterisk"
    assert host_path(root, "/var/lock/x") == root / "run" / "lock" / "x"
    assert host_path(root, "/var/spool/asterisk/ivr400") == root / "var" / "spool" / "asterisk" / "ivr400"
    assert host_path(root, "/../../etc/passwd") == root / "etc" / "passwd"
    lab = Lab(root=root)
    assert lab.config_dir == root / "etc" / "asterisk"


def test_lab_state_round_trip_is_private(tmp_path: Path) -> None:
    state = tmp_path / "lab-state.json"
    lab = Lab(root=tmp_path / "root", pid=1234, ami_secret="s", started_at="2025-01-01T00:00:00+00:00")
    lab.save(state)
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    loaded = Lab.load(state)
    assert loaded == lab
    assert loaded.ami_credentials == {"host": "127.0.0.1", "port": 5038, "username": "ivr400", "secret": "s"}


def test_find_daemons_never_takes_another_config_tree_for_the_lab(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    """A cluster node or the operator-install tree runs in the same chroot with `-C <asterisk.conf>`:
    `lab up` must not adopt it (it would talk to the wrong console and AMI)."""
    from ivr400.lab import process

    me = os.getpid()
    argv = {me: ["asterisk", "-f", "-g", "-n", "-C", "/var/lib/node2/asterisk.conf"]}
    monkeypatch.setattr(process, "pid_alive", lambda pid: pid == me)
    monkeypatch.setattr(process, "_proc_root", lambda pid: os.path.realpath(tmp_path))
    monkeypatch.setattr(process, "_cmdline", lambda pid: argv.get(pid, []))
    assert process.find_daemons(tmp_path) == []
    assert process.find_daemons(tmp_path, "/var/lib/node2/asterisk.conf") == [me]
    argv[me] = ["asterisk", "-f", "-g", "-n"]
    assert process.find_daemons(tmp_path) == [me]


def test_a_cluster_node_names_itself_in_every_uniqueid() -> None:
    """systemname only on a cluster node (uniqueids `node2-EPOCH.SEQ`), which every uniqueid check accepts."""
    from ivr400.lab.config import LabConfig, render_base_config
    from ivr400.validators import ASTERISK_UNIQUEID

    single = render_base_config(LabConfig(ami_secret="x"))["asterisk.conf"]
    node = render_base_config(LabConfig(ami_secret="x", system_name="node2"))["asterisk.conf"]
    assert "systemname" not in single
    assert "\nsystemname = node2\n" in node
    for good in ("1764540000.12", "node2-1764540000.12"):
        assert ASTERISK_UNIQUEID.fullmatch(good)
    for bad in ("node2-", "../1.2", "node 2-1.2", "a-b-1.2", "node2-1764540000"):
        assert not ASTERISK_UNIQUEID.fullmatch(bad), bad
