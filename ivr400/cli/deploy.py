"""`ivr400 deploy`: render the database into Asterisk's include files, reload what changed, verify;
`ivr400 deploy --check`: say what the running Asterisk lacks, with the fix;
`ivr400 deploy --pbx freeswitch --out CONF_DIR [--dry-run]`: the FreeSWITCH XML dialplan files instead.

Where: the settings (asterisk.*, ami.*, controller.agi_url of ivr400.config; flags below win), or the
lab's Asterisk with `ivr400 --lab deploy`.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ivr400.cli.common import CommandError, app, emit_json, handle_errors
from ivr400.config import ConfigError, Settings
from ivr400.deploy.asterisk import DeployError, DeployReport, DeployTarget, render_for_deploy
from ivr400.deploy.asterisk import deploy as deploy_
from ivr400.deploy.check import CheckReport, check, summary
from ivr400.pbx.asterisk.ami import Ami, AmiError, AmiLike
from ivr400.render.asterisk import RenderedConfig

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@click.command()
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Asterisk's config directory: asterisk.config_dir (default <asterisk.root>/etc/asterisk).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Asterisk's file system root on this host (a chroot or a container volume): asterisk.root.")
@click.option("--templates", "template_dir", type=click.Path(path_type=Path), default=None,
              help="Operator template directory, searched before the shipped templates: asterisk.template_dir.")
@click.option("--agi-url", default=None, metavar="URL",
              help="FastAGI URL the dialplan calls: controller.agi_url (default agi://<controller.host>:<port>).")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing: check what the running Asterisk lacks (includes, modules, AMI permissions, "
                   "trunk endpoints, CDR backends) and print the fix; exit 1 if anything is missing.")
@click.option("--dry-run", is_flag=True, help="Render and check, show what would change; write nothing.")
@click.option("--no-reload", is_flag=True, help="Write the files but do not reload Asterisk (no AMI needed).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--pbx", type=click.Choice(["asterisk", "freeswitch"]), default="asterisk", show_default=True,
              help="Which PBX's dialplan to render and install.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="FreeSWITCH: its conf directory (files go to dialplan/ivr400.xml and dialplan/public/ivr400.xml).")
@click.option("--socket", "socket", default=None, metavar="HOST:PORT",
              help="FreeSWITCH: where the dialplan's socket hooks reach the ESL controller (default 127.0.0.1:8084).")
@click.option("--follow", is_flag=True,
              help="Deploy, then keep Asterisk's database (AstDB) in step with every edit until stopped (Ctrl-C, "
                   "SIGTERM): only the edited hotlines' data is written, within --interval of the edit.")
@click.option("--interval", type=click.FloatRange(min=0.05, max=60.0), default=0.2, show_default=True,
              help="--follow: seconds between two reads of the change log.")
@click.option("--allow-empty", is_flag=True,
              help="Deploy a database with no active hotline over an Asterisk that serves some (refused otherwise: "
                   "a mistyped database URL would take every hotline out of the static plan).")
@handle_errors
def deploy(config_dir: Path | None, root: Path | None, template_dir: Path | None, agi_url: str | None,
           check_only: bool, dry_run: bool, no_reload: bool, as_json: bool, pbx: str, out_dir: Path | None,
           socket: str | None, follow: bool, interval: float, allow_empty: bool) -> None:
    """Render the dialplan from the database and install it into Asterisk, atomically.

    Writes only below <config dir>/ivr400/ (extensions, musiconhold, pjsip, cdr_custom and cdr_manager
    include files), the sounds under <sounds dir>/ivr400/ and music on hold under
    /var/lib/asterisk/moh/ivr400/. Reloads only what changed over AMI and verifies it is loaded; on
    failure the previous files are restored and reloaded.
    """
    if pbx == "freeswitch":
        _deploy_freeswitch(template_dir, out_dir, socket, check_only, dry_run, no_reload, as_json)
        return
    if out_dir is not None or socket is not None:
        raise CommandError("pbx: --out and --socket are FreeSWITCH options (--pbx freeswitch)")
    a = app()
    settings = a.settings_with(asterisk_config_dir=config_dir, asterisk_root=root,
                               asterisk_template_dir=template_dir, controller_agi_url=agi_url)
    if check_only and (dry_run or no_reload):
        raise CommandError("check: --check writes nothing; it does not combine with --dry-run or --no-reload")
    if follow and (check_only or dry_run or no_reload or as_json):
        raise CommandError("follow: --follow writes AstDB through AMI; it does not combine with --check, "
                           "--dry-run, --no-reload or --json")
    if follow:
        _follow(settings, interval, allow_empty)
        return
    try:
        target = DeployTarget.from_settings(settings)
        template_dirs = [settings.asterisk_template_dir] if settings.asterisk_template_dir else []
        with a.session() as s:  # render inside the transaction, install outside it
            rendered = render_for_deploy(s, a.now(), template_dirs=template_dirs,
                                         agi_url=settings.controller_agi_url, data_root=a.data_dir)
        if check_only:
            with a.session() as s:
                clicktocall = clicktocall_hotlines(s)
            _check(settings, target, rendered, as_json, clicktocall)
            return
        if not (dry_run or no_reload):
            target = DeployTarget.from_settings(settings, ami=settings.require_ami())
        report = deploy_(rendered, target, dry_run=dry_run, reload=not no_reload, allow_empty=allow_empty)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    except DeployError as exc:
        if as_json and exc.report is not None:
            emit_json({**exc.report.to_dict(), "error": str(exc)})
        elif exc.report is not None and exc.report.rolled_back:
            _print(exc.report, err=True)
        raise CommandError(str(exc)) from exc
    except AmiError as exc:
        raise CommandError(str(exc)) from exc
    if as_json:
        emit_json(report.to_dict())
    else:
        _print(report)


def _follow(settings: Settings, interval: float, allow_empty: bool) -> None:
    """`deploy --follow`: a full deploy, then one line per applied edit until SIGINT/SIGTERM."""
    import signal

    from ivr400.deploy.follow import DataFollower, FollowStep

    a = app()
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    try:
        target = DeployTarget.from_settings(settings, ami=settings.require_ami())
        conn = Ami.connect(settings.ami)
    except (ConfigError, AmiError) as exc:
        raise CommandError(str(exc)) from exc
    try:
        follower = DataFollower(a.engine, target, conn, now=a.now,
                                template_dirs=[str(settings.asterisk_template_dir)] if settings.asterisk_template_dir
                                else [], agi_url=settings.controller_agi_url, data_root=a.data_dir,
                                allow_empty=allow_empty)
        try:
            report = follower.start()
        except DeployError as exc:
            raise CommandError(str(exc)) from exc
        _print(report)
        click.echo(f"following the change log every {interval:g} s: {len(follower.data)} AstDB keys "
                   f"(stop with Ctrl-C)")

        def say(step: FollowStep) -> None:
            click.echo(f"{step.kind}: {step.hotlines} hotline(s) re-read, {step.put} key(s) written, "
                       f"{step.deleted} removed; live after {step.live_s * 1000:.0f} ms "
                       f"({step.seconds * 1000:.0f} ms in all)")

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        follower.run(lambda: stopping, poll_interval=interval, on_step=say)
    finally:
        conn.close()
    click.echo("stopped")


def clicktocall_hotlines(session: Session) -> list[str]:
    """The hotlines with click-to-call (WEB呼叫) set up: their callbacks need the AMI user's `originate`."""
    from sqlalchemy import select

    from ivr400.db.models import ClickToCallSetting, Hotline

    return sorted(session.scalars(select(Hotline.number).join(ClickToCallSetting,
                                                              ClickToCallSetting.hotline_id == Hotline.id)))


def _check(settings: Settings, target: DeployTarget, rendered: RenderedConfig, as_json: bool,
           clicktocall: list[str] | None = None) -> None:
    ami = settings.ami
    conn: AmiLike | None = None
    error = None
    if not ami.secret:
        error = "ami.secret is not set ([ami] secret in the configuration file, or IVR400_AMI_SECRET)"
    else:
        try:
            conn = Ami.connect(ami)
        except AmiError as exc:
            error = f"{ami.host}:{ami.port} as {ami.username}: {exc.reason}"
    try:
        report = check(target, rendered, ami=conn, ami_error=error, ami_user=ami.username,
                       controller=(settings.controller_host, settings.controller_port), config_file=settings.file,
                       cdr_csv=settings.cdr_csv, clicktocall=clicktocall or ())
    finally:
        if isinstance(conn, Ami):
            conn.close()
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_check(report)
    if not report.ok:
        raise click.exceptions.Exit(1)


def _print_check(report: CheckReport) -> None:
    click.echo(f"config dir: {report.config_dir}")
    for f in report.findings:
        click.echo(f"{f.status:<8} {f.item}: {f.detail}")
        if f.fix:
            click.echo(f"         fix: {f.fix}")
    counts = summary(report.findings)
    click.echo(f"{counts['ok']} ok, {counts['missing']} missing, {counts['warning']} warning(s)")


def _print(report: DeployReport, err: bool = False) -> None:
    def say(text: str) -> None:
        click.echo(text, err=err)

    prefix = "would change" if report.dry_run else "changed"
    say(f"config dir: {report.config_dir}")
    say(f"{prefix}: {', '.join(report.files_changed) or '(nothing)'}")
    if report.comment_only:
        say(f"comments only (no reload needed): {', '.join(report.comment_only)}")
    if report.files_unchanged:
        say(f"unchanged: {', '.join(report.files_unchanged)}")
    sounds = f"{len(report.sounds_installed)} {'to install' if report.dry_run else 'installed'}"
    say(f"sounds: {sounds}, {report.sounds_unchanged} unchanged (sounds dir {report.sounds_dir})")
    for name in report.sounds_installed[:20]:
        say(f"  + {name}")
    if report.dry_run:
        say(f"would reload: {', '.join(report.reloaded) or '(nothing)'}")
        say(f"AstDB: about {report.astdb_changes} key(s) to write or remove (from the installed astdb.txt)")
    else:
        if report.astdb is not None:
            say(f"AstDB: {report.astdb['put']} key(s) written, {report.astdb['deleted']} removed in "
                f"{report.astdb['seconds']:.2f} s" + (" (AstDB did not hold the last deploy: read back and put right)"
                                                      if report.astdb["full"] else ""))
        elif report.reloads_skipped:
            say(f"AstDB: not written (--no-reload): about {report.astdb_changes} key(s) left to the next deploy")
        for r in report.reloads:
            say(f"reloaded: {r['command']} ({r['output'] or 'ok'})")
        if report.reloads_skipped:
            say(f"not reloaded (--no-reload): {', '.join(report.reloads_skipped)}; "
                "Asterisk reads the new files at its next reload or start")
        elif not report.reloads:
            say("reloaded: nothing (no include file changed)")
        if report.contexts_verified or report.extensions_verified:
            say(f"verified: {report.contexts_verified} contexts, {report.extensions_verified} extensions, "
                f"{report.moh_classes_verified} moh classes, {report.pjsip_objects_verified} pjsip objects, "
                f"{report.cdr_backends_verified} cdr backends loaded")
    if report.backup_dir:
        say(f"previous versions: {report.backup_dir}")
    if report.rolled_back:
        say("rolled back: previous files restored" + (f" ({'; '.join(report.rollback_problems)})"
                                                       if report.rollback_problems else ""))
    for w in report.warnings:
        say(f"warning: {w}")
    say(f"took {report.seconds:.2f} s")


def _esl_reloadxml(host: str, port: int, password: str) -> Callable[[], str]:
    """``api reloadxml`` over FreeSWITCH's event socket, as the callable deploy_freeswitch takes: FreeSWITCH's
    answer (``+OK [Success]``), or ``-ERR <why>`` when it cannot be reached (the deploy then rolls back)."""
    def reloadxml() -> str:
        import asyncio

        from ivr400.pbx.freeswitch.esl import ESLError, InboundClient

        async def run() -> str:
            client = await InboundClient.open(host, port, password, timeout=5.0)
            try:
                return await client.api("reloadxml")
            finally:
                await client.close()

        try:
            return asyncio.run(run())
        except (ESLError, ValueError, OSError) as exc:  # ValueError: ESL protocol / value errors
            return f"-ERR {host}:{port}: {exc}"
    return reloadxml


def _deploy_freeswitch(template_dir: Path | None, out_dir: Path | None, socket: str | None, check_only: bool,
                       dry_run: bool, no_reload: bool, as_json: bool) -> None:
    """Render the FreeSWITCH dialplan; write it below ``out_dir`` unless ``dry_run``."""
    from ivr400.deploy.freeswitch import FreeswitchDeployError, deploy_freeswitch
    from ivr400.render.asterisk import RenderError
    from ivr400.render.freeswitch import DEFAULT_SOCKET, render_freeswitch

    if check_only:
        raise CommandError("pbx: --check inspects a running Asterisk; it has no FreeSWITCH form")
    if out_dir is None and not dry_run:
        raise CommandError("out: --pbx freeswitch needs --out CONF_DIR (FreeSWITCH's conf directory) or --dry-run")
    if out_dir is not None and not (out_dir / "dialplan").is_dir():
        raise CommandError(f"out: {out_dir} has no dialplan/ directory: give FreeSWITCH's conf directory "
                           "(the one holding freeswitch.xml and dialplan/, e.g. /etc/freeswitch); nothing was written")
    if socket is not None:
        from ivr400.render.freeswitch import parse_socket
        try:
            parse_socket(socket)
        except ValueError as exc:
            raise CommandError(f"socket: {exc}") from exc
    a = app()
    try:
        with a.session() as s:
            rendered = render_freeswitch(s, a.now(), template_dirs=[template_dir] if template_dir else [],
                                         socket=socket or DEFAULT_SOCKET)
        settings = a.settings
        reload = None if no_reload or not settings.freeswitch_esl_password else _esl_reloadxml(
            settings.freeswitch_esl_host, settings.freeswitch_esl_port, settings.freeswitch_esl_password)
        report = deploy_freeswitch(rendered, out_dir, dry_run=dry_run, reloadxml=reload)
    except RenderError as exc:
        raise CommandError(f"templates: {exc}") from exc
    except FreeswitchDeployError as exc:
        if as_json:
            emit_json({**exc.report.to_dict(), "error": str(exc)})
        raise CommandError(str(exc)) from exc
    if as_json:
        emit_json({**report.to_dict(), "files": rendered.files if dry_run else {}, "sounds": list(rendered.sounds)})
        return
    prefix = "would write" if report.dry_run else "wrote"
    click.echo(f"conf dir: {report.conf_dir or '(none: --dry-run)'}")
    click.echo(f"{prefix}: {', '.join(report.written) or '(nothing)'}")
    if report.unchanged:
        click.echo(f"unchanged: {', '.join(report.unchanged)}")
    click.echo(f"sounds the dialplan plays (below FreeSWITCH's sounds directory): {len(rendered.sounds)}")
    if report.reload_output:
        click.echo(f"reloaded: reloadxml over ESL ({report.reload_output})")
    elif report.written and not report.dry_run:
        why = " (--no-reload)" if no_reload else " (freeswitch.esl_password is not set)"
        click.echo("not reloaded: run `fs_cli -x reloadxml` (or serve the dialplan with `ivr400 serve-xml`)" + why)
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
