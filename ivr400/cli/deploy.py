"""`ivr400 deploy`: render the database into Asterisk's include files, reload what changed, verify."""
from __future__ import annotations

from pathlib import Path

import click

from ivr400.cli.common import CommandError, app, emit_json, handle_errors
from ivr400.pbx.asterisk.ami import AmiError
from ivr400.pbx.asterisk.deploy import DeployError, DeployReport, render_for_deploy, resolve_target
from ivr400.pbx.asterisk.deploy import deploy as deploy_


@click.command()
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Asterisk's config directory (default: the lab's etc/asterisk when the lab exists, "
                   "else /etc/asterisk).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Asterisk's file system root on this host, for sounds and spool (default: the lab's chroot, "
                   "else DIR/../.. when the config dir ends in etc/asterisk, else /).")
@click.option("--templates", "template_dir", type=click.Path(path_type=Path), default=None,
              help="Operator template directory, searched before the shipped templates.")
@click.option("--agi-url", default=None, metavar="URL", help="FastAGI base URL (default agi://127.0.0.1:4573).")
@click.option("--dry-run", is_flag=True, help="Render and check, show what would change; write nothing.")
@click.option("--no-reload", is_flag=True, help="Write the files but do not reload Asterisk (no AMI needed).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handle_errors
def deploy(config_dir: Path | None, root: Path | None, template_dir: Path | None, agi_url: str | None,
           dry_run: bool, no_reload: bool, as_json: bool) -> None:
    """Render the dialplan from the database and install it into Asterisk, atomically.

    Reloads only what changed (dialplan / moh / res_pjsip) over AMI and verifies the contexts are
    loaded; on failure the previous files are restored and reloaded. AMI credentials: the lab's, or
    IVR400_AMI_SECRET with IVR400_AMI_HOST, IVR400_AMI_PORT, IVR400_AMI_USERNAME.
    """
    a = app()
    try:
        target = resolve_target(config_dir, root)
        with a.session() as s:  # render inside the transaction, install outside it
            rendered = render_for_deploy(s, a.now(), template_dirs=[template_dir] if template_dir else (),
                                         agi_url=agi_url)
        report = deploy_(rendered, target, dry_run=dry_run, reload=not no_reload)
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
    else:
        for r in report.reloads:
            say(f"reloaded: {r['command']} ({r['output'] or 'ok'})")
        if not report.reloads:
            say("reloaded: nothing (no include file changed)")
        if report.contexts_verified or report.extensions_verified:
            say(f"verified: {report.contexts_verified} contexts, {report.extensions_verified} extensions, "
                f"{report.moh_classes_verified} moh classes, {report.pjsip_objects_verified} pjsip objects loaded")
    if report.backup_dir:
        say(f"previous versions: {report.backup_dir}")
    if report.rolled_back:
        say("rolled back: previous files restored" + (f" ({'; '.join(report.rollback_problems)})"
                                                       if report.rollback_problems else ""))
    for w in report.warnings:
        say(f"warning: {w}")
    say(f"took {report.seconds:.2f} s")
