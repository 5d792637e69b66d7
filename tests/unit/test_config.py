"""Settings: one TOML file, IVR400_<SECTION>_<KEY>, flags; precedence, derived defaults, clear errors,
the secret never shown; and the `--config` / `config show` / `--lab` command line."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr400.cli import main
from ivr400.config import DEFAULT_CONFIG_PATH, SETTINGS, ConfigError, Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("IVR400_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_every_setting_follows_the_naming_rule() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    for s in SETTINGS:
        assert s.env == "IVR400_" + s.name.replace(".", "_").upper()
    assert DEFAULT_CONFIG_PATH == Path("/etc/ivr400/ivr400.toml")


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    cfg = write(tmp_path / "ivr400.toml", '[ami]\nhost = "10.0.0.5"\nport = 5039\nuser = "from-file"\n'
                                          '[controller]\nport = 4600\n')
    env = {"IVR400_AMI_PORT": "5040", "IVR400_AMI_USER": "from-env"}
    s = Settings.load(cfg, environ=env, flags={"ami.user": "from-flag"})
    assert s.ami.host == "10.0.0.5" and s.source("ami.host") == f"file {cfg}"
    assert s.ami.port == 5040 and s.source("ami.port") == "env IVR400_AMI_PORT"
    assert s.ami.username == "from-flag" and s.source("ami.user") == "command line"
    assert s.ami.timeout == 5.0 and s.source("ami.timeout") == "default"
    assert s.controller_port == 4600 and s.controller_agi_url == "agi://127.0.0.1:4600"
    # a command's own flags on top of everything, the rest kept
    t = s.with_values({"ami.port": 6000, "ami.host": None})
    assert (t.ami.port, t.ami.host, t.ami.username) == (6000, "10.0.0.5", "from-flag")


def test_config_file_from_the_environment_and_the_default_path(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path / "x.toml", '[log]\nlevel = "debug"\n')
    assert Settings.load(environ={"IVR400_CONFIG": str(cfg)}).log_level == "debug"
    assert Settings.load(environ={}).file in (None, DEFAULT_CONFIG_PATH)  # the default only when it exists
    with pytest.raises(ConfigError, match=r"config: .*nope.toml: no such file"):
        Settings.load(environ={"IVR400_CONFIG": str(tmp_path / "nope.toml")})
    with pytest.raises(ConfigError, match="config: .*no such file"):
        Settings.load(tmp_path / "missing.toml", environ={})


def test_defaults_and_what_derives_from_other_settings(tmp_path: Path) -> None:
    s = Settings.load(environ={})
    assert s.data_dir == tmp_path / "xdg" / "ivr400"
    assert s.database_url == f"sqlite:///{tmp_path / 'xdg' / 'ivr400' / 'ivr400.db'}"
    assert s.cdr_state == s.data_dir / "cdr-import-state.json"
    assert s.asterisk_root == Path("/") and s.ami.secret == ""
    # a root with its own asterisk.conf: paths as Asterisk sees them, mapped under the root
    root = tmp_path / "root"
    etc = root / "etc" / "asterisk"
    etc.mkdir(parents=True)
    write(etc / "asterisk.conf", "[directories](!)\nastdatadir => /usr/share/asterisk ; Debian\n"
                                 "astlogdir => /var/log/asterisk-b\n")
    (root / "var").mkdir()
    (root / "var" / "run").symlink_to("/run")  # an absolute link inside the root stays inside it
    s = Settings.load(environ={"IVR400_ASTERISK_ROOT": str(root)})
    assert s.asterisk_config_dir == etc
    assert s.asterisk_sounds_dir == root / "usr/share/asterisk/sounds"
    assert s.asterisk_spool_dir == root / "var/spool/asterisk/ivr400"
    assert s.cdr_csv == root / "var/log/asterisk-b/cdr-custom/ivr400.csv"
    assert s.asterisk_path("/var/run/asterisk/x.ctl") == root / "run/asterisk/x.ctl"
    # the controller URL follows its listen address, except wildcard addresses
    assert Settings.load(environ={"IVR400_CONTROLLER_HOST": "0.0.0.0"}).controller_agi_url == "agi://127.0.0.1:4573"
    assert Settings.load(environ={"IVR400_CONTROLLER_HOST": "::1"}).controller_agi_url == "agi://[::1]:4573"
    assert Settings.load(environ={"IVR400_CONTROLLER_AGI_URL": "agi://ivr400:4573/"}).controller_agi_url == \
        "agi://ivr400:4573"


@pytest.mark.parametrize("text, field, reason", [
    ('[ami]\nport = "http"\n', "ami.port", "'http' is not a TCP port"),
    ("[ami]\nport = 70000\n", "ami.port", "70000 is not a TCP port (1-65535)"),
    ("[ami]\nport = true\n", "ami.port", "True is not a TCP port"),
    ("[ami]\ntimeout = 0\n", "ami.timeout", "must be more than 0"),
    ("[ami]\nsecret = 42\n", "ami.secret", "must be a string, not int"),
    ('[ami]\nsecret = ""\n', "ami.secret", "must not be empty"),
    ('[data]\ndir = "relative/dir"\n', "data.dir", "'relative/dir' is not an absolute path"),
    ('[database]\nurl = "ivr400.db"\n', "database.url", "is not a database URL"),
    ('[controller]\nagi_url = "http://x"\n', "controller.agi_url", "is not a FastAGI URL"),
    ('[controller]\nhost = "a b"\n', "controller.host", "is not a host name"),
    ('[log]\nlevel = "loud"\n', "log.level", "is not one of debug, info, warning, error"),
    ('[ami]\nsecrett = "x"\n', "ami.secrett", "unknown setting"),
    ('[webb]\nport = 8080\n', "webb", "unknown section [webb]"),
    ('[web]\nport = 99999\n', "web.port", "99999 is not a TCP port (0-65535)"),
    ('[web]\nsecure_cookies = "maybe"\n', "web.secure_cookies", "'maybe' is not true or false"),
    ('[web]\nidle_timeout = 5\n', "web.idle_timeout", "must be between 60 and 604800 seconds"),
    ('[web]\nabsolute_timeout = "soon"\n', "web.absolute_timeout", "'soon' is not a number of seconds"),
    ('[web]\nsecret = "x"\n', "web.secret", "unknown setting"),
    ('ami = "x"\n', "ami", "expected a [ami] table"),
    ("[ami\n", "config", "not valid TOML"),
])
def test_bad_file_values_name_the_setting_and_the_file(tmp_path: Path, text: str, field: str, reason: str) -> None:
    cfg = write(tmp_path / "ivr400.toml", text)
    with pytest.raises(ConfigError) as info:
        Settings.load(cfg, environ={})
    assert info.value.field == field and reason in info.value.reason, info.value
    assert str(cfg) in info.value.reason


def test_bad_environment_values_name_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(environ={"IVR400_CONTROLLER_PORT": "99999"})
    assert info.value.field == "controller.port" and "(from $IVR400_CONTROLLER_PORT)" in info.value.reason
    # an empty variable counts as unset (systemd's Environment=X= clears it)
    assert Settings.load(environ={"IVR400_AMI_HOST": ""}).ami.host == "127.0.0.1"


def test_the_secret_is_never_shown(tmp_path: Path) -> None:
    cfg = write(tmp_path / "ivr400.toml", '[ami]\nsecret = "s3cret-value"\n')
    s = Settings.load(cfg, environ={})
    assert s.require_ami().secret == "s3cret-value"
    assert "s3cret-value" not in repr(s.ami)
    assert "s3cret-value" not in json.dumps(s.describe())
    assert {r["name"]: r["value"] for r in s.describe()}["ami.secret"] == "(set)"
    with pytest.raises(ConfigError, match=r"ami.secret: not set: set \[ami\] secret in .* or \$IVR400_AMI_SECRET"):
        Settings.load(environ={}).require_ami()


# ------------------------------------------------------------------------------------------------ CLI
def run(*args: str, env: dict[str, str] | None = None):  # noqa: ANN201
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_cli_config_show_uses_the_file_the_environment_and_the_flags(tmp_path: Path) -> None:
    cfg = write(tmp_path / "ivr400.toml", f'[data]\ndir = "{tmp_path / "data"}"\n[ami]\nsecret = "zz-top"\n')
    result = run("--config", str(cfg), "--db", "sqlite:////tmp/flag.db", "config", "show", "--json",
                 env={"IVR400_CONTROLLER_PORT": "4999"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {r["name"]: r for r in data["settings"]}
    assert data["file"] == str(cfg)
    assert rows["data.dir"]["value"] == str(tmp_path / "data") and rows["data.dir"]["source"] == f"file {cfg}"
    assert rows["controller.port"]["value"] == "4999" and rows["controller.port"]["source"] == \
        "env IVR400_CONTROLLER_PORT"
    assert rows["database.url"] == {"name": "database.url", "env": "IVR400_DATABASE_URL",
                                    "value": "sqlite:////tmp/flag.db", "source": "command line"}
    assert "zz-top" not in result.output
    text = run("--config", str(cfg), "config", "show").output
    assert "ami.secret" in text and "(set)" in text and "zz-top" not in text


def test_cli_bad_config_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = write(tmp_path / "ivr400.toml", f'[data]\ndir = "{data}"\n[ami]\nport = "x"\n')
    result = run("--config", str(cfg), "hotline", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ami.port: 'x' is not a TCP port (from "), result.stderr
    assert not data.exists()
    result = run("hotline", "list", env={"IVR400_CONFIG": str(tmp_path / "gone.toml")})
    assert result.exit_code == 1 and "error: config: " in result.stderr and "no such file" in result.stderr


def test_cli_settings_reach_the_database(tmp_path: Path) -> None:
    cfg = write(tmp_path / "ivr400.toml", f'[database]\nurl = "sqlite:///{tmp_path / "from-file.db"}"\n')
    assert run("--config", str(cfg), "db", "upgrade").exit_code == 0
    assert (tmp_path / "from-file.db").is_file()
    env = {"IVR400_DATABASE_URL": f"sqlite:///{tmp_path / 'from-env.db'}"}
    assert run("--config", str(cfg), "db", "upgrade", env=env).exit_code == 0
    assert (tmp_path / "from-env.db").is_file()


def test_cli_lab_flag_without_a_lab_is_an_error(tmp_path: Path) -> None:
    result = run("--lab", "config", "show", env={"IVR400_LAB_STATE": str(tmp_path / "none.json")})
    assert result.exit_code == 1 and result.stderr.startswith("error: lab: no lab state"), result.stderr


def test_cli_lab_flag_takes_asterisk_and_ami_from_the_lab(tmp_path: Path) -> None:
    from ivr400.lab import Lab

    root = tmp_path / "chroot"
    (root / "etc" / "asterisk").mkdir(parents=True)
    state = tmp_path / "lab-state.json"
    Lab(root=root, ami_host="127.0.0.1", ami_port=5038, ami_username="ivr400", ami_secret="lab-secret").save(state)
    cfg = write(tmp_path / "ivr400.toml", '[asterisk]\nconfig_dir = "/etc/elsewhere"\n[ami]\nport = 6000\n')
    result = run("--config", str(cfg), "--lab", "config", "show", "--json", env={"IVR400_LAB_STATE": str(state)})
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)["settings"]}
    assert rows["asterisk.config_dir"]["value"] == str(root / "etc" / "asterisk")
    assert rows["asterisk.config_dir"]["source"] == f"lab {state}"
    assert rows["ami.port"]["value"] == "5038" and rows["ami.secret"]["value"] == "(set)"
    assert rows["cdr.csv"]["value"] == str(root / "var/log/asterisk/cdr-custom/ivr400.csv")
    assert "lab-secret" not in result.output


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_bytes(b"\xff\xfe[ami]\n")
    with pytest.raises(ConfigError) as info:
        Settings.load(cfg, environ={})
    assert info.value.field == "config" and "not UTF-8" in info.value.reason and str(cfg) in info.value.reason


def test_no_agi_url_is_derived_from_port_0_which_only_serve_may_use() -> None:
    s = Settings.load(environ={"IVR400_CONTROLLER_PORT": "0"})
    assert s.controller_port == 0  # serve --port 0: an ephemeral port
    with pytest.raises(ConfigError) as info:
        s.controller_agi_url  # noqa: B018
    assert info.value.field == "controller.agi_url"
    assert "port 0 is only for serve; set controller.agi_url" in info.value.reason
    assert "IVR400_CONTROLLER_PORT" in info.value.reason
    shown = {r["name"]: r["value"] for r in s.describe()}["controller.agi_url"]
    assert shown.startswith("(error: ")
    both = Settings.load(environ={"IVR400_CONTROLLER_PORT": "0", "IVR400_CONTROLLER_AGI_URL": "agi://pbx-ctl:4573"})
    assert both.controller_agi_url == "agi://pbx-ctl:4573"
    with pytest.raises(ConfigError, match=r"controller.agi_url: 'agi://127.0.0.1:0' has port 0"):
        Settings.load(environ={"IVR400_CONTROLLER_AGI_URL": "agi://127.0.0.1:0"})


@pytest.mark.parametrize("name", ["IVR400_AMI_USERNAME", "IVR400_AMI_PROT", "IVR400_CONTROLLER_PORTT",
                                  "IVR400_DATABASE_URI", "IVR400_ASTERISK_CONFDIR", "IVR400_CDR_CVS",
                                  "IVR400_LOG_LEVELS", "IVR400_DATA_DIRECTORY"])
def test_an_unknown_variable_of_a_settings_section_is_an_error(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(environ={name: "x"})
    assert info.value.field == name and "unknown setting in the environment" in info.value.reason
    section = name.split("_")[1].lower()
    assert all(s.env in info.value.reason for s in SETTINGS if s.section == section)


def test_variables_that_are_not_settings_are_left_alone() -> None:
    others = {"IVR400_CONFIG": "", "IVR400_ACTOR": "ops", "IVR400_LAB_ROOT": "/x", "IVR400_LAB_STATE": "/y",
              "IVR400_CALLS_LOCK": "/z", "IVR400_TEST_PG_URL": "postgresql://x/y", "IVR400_AMI_TYPO": ""}
    assert Settings.load(environ=others).ami.host == "127.0.0.1"  # an empty variable counts as unset


def test_an_unsupported_database_backend_names_its_source() -> None:
    with pytest.raises(ConfigError,
                       match=r"^database.url: unsupported backend 'bogus' .*\(from \$IVR400_DATABASE_URL\)"):
        Settings.load(environ={"IVR400_DATABASE_URL": "bogus://"})
    assert Settings.load(environ={"IVR400_DATABASE_URL": "postgresql+psycopg://u@h/d"}).database_url.startswith("postg")


def test_the_web_section_from_the_file_the_environment_and_flags(tmp_path: Path) -> None:
    cfg = write(tmp_path / "ivr400.toml", '[web]\nhost = "0.0.0.0"\nport = 8080\nsecure_cookies = true\n'
                                          'idle_timeout = 600\nabsolute_timeout = 3600\n')
    s = Settings.load(cfg, environ={"IVR400_WEB_PORT": "9090", "IVR400_WEB_SECURE_COOKIES": "no"})
    assert (s.web_host, s.web_port, s.web_secure_cookies) == ("0.0.0.0", 9090, False)
    assert (s.web_idle_timeout_s, s.web_absolute_timeout_s) == (600.0, 3600.0)
    assert s.source("web.port") == "env IVR400_WEB_PORT" and s.source("web.host") == f"file {cfg}"
    flagged = s.with_values({"web.port": 0, "web.secure_cookies": True})
    assert (flagged.web_port, flagged.web_secure_cookies) == (0, True)
    defaults = Settings.load(environ={})
    assert (defaults.web_host, defaults.web_port, defaults.web_secure_cookies) == ("127.0.0.1", 8400, False)
    assert (defaults.web_idle_timeout_s, defaults.web_absolute_timeout_s) == (1800.0, 43200.0)
    shown = {r["name"]: r["value"] for r in s.describe()}
    assert shown["web.port"] == "9090" and shown["web.secure_cookies"] == "false"
    with pytest.raises(ConfigError) as info:
        Settings.load(environ={"IVR400_WEB_SECRET": "x"})
    assert info.value.field == "IVR400_WEB_SECRET" and "unknown setting in the environment" in info.value.reason


def test_cli_web_takes_its_settings_from_the_configuration_file(tmp_path: Path) -> None:
    """`ivr400 --config FILE web`: the [web] section reaches the server (a flag still wins), shown by config show."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = write(tmp_path / "ivr400.toml", f'[data]\ndir = "{tmp_path / "data"}"\n[web]\nport = {port}\n'
                                          'idle_timeout = 120\n')
    shown = run("--config", str(cfg), "config", "show", "--json", env={"IVR400_WEB_PORT": ""})
    rows = {r["name"]: r for r in json.loads(shown.output)["settings"]}
    assert rows["web.port"]["value"] == str(port) and rows["web.port"]["source"] == f"file {cfg}"
    assert rows["web.idle_timeout"]["value"] == "120" and rows["web.port"]["env"] == "IVR400_WEB_PORT"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("IVR400_")}
    proc = subprocess.Popen([sys.executable, "-c", "from ivr400.cli import main; main()", "--config", str(cfg), "web"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith(f"ready: pid {proc.pid}, http://127.0.0.1:{port}/"), (ready, proc.stderr)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    bad = run("--config", str(cfg), "web", "--port", "70000", env={"IVR400_WEB_PORT": ""})
    assert bad.exit_code == 1 and "web.port: 70000 is not a TCP port" in bad.output
