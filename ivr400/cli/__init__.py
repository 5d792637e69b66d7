"""The `ivr400` command: one module per command group, registered here explicitly and imported lazily.

`ivr400 --help` and every command load only the group they run (click's lazy-group pattern): a list
command does not pay for the dependencies of `deploy`, `serve` or `letter`. The one-line help of each group
is repeated here so `--help` can list the groups without importing them; a test checks it against the
group's own docstring.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import click

#: Command group name → (module, attribute, its one-line help as the group states it).
COMMAND_GROUPS: dict[str, tuple[str, str, str]] = {
    "db": ("ivr400.cli.db", "db", "Database schema: upgrade, downgrade, current revision."),
    "enterprise": ("ivr400.cli.enterprise", "enterprise", "Enterprises: add, list, show."),
    "hotline": ("ivr400.cli.hotline", "hotline", "400 hotlines: add, list, show, set."),
    "destination": ("ivr400.cli.destination", "destination",
                    "Destinations: add, list, show, approve, reject, revoke."),
    "evidence": ("ivr400.cli.evidence", "evidence", "Evidence files: add, list."),
    "whitelist": ("ivr400.cli.whitelist", "whitelist", "Whitelist checks: check, expiring."),
    "seat": ("ivr400.cli.seat", "seat", "Seats: add, list, move, set, remove."),
    "department": ("ivr400.cli.department", "department", "Departments (menu keys): add, list, set."),
    "tone": ("ivr400.cli.tone", "tone", "Tones: add, list, approve, reject."),
    "letter": ("ivr400.cli.letter", "letter",
               "Print or write the company (R4) or personal (R5) authorization letter for DEST."),
    "carrier": ("ivr400.cli.carrier", "carrier", "Carrier policies: list, set."),
    "trunk": ("ivr400.cli.trunk", "trunk", "Outbound trunks: add, list, use."),
    "voicemail": ("ivr400.cli.voicemail", "voicemail", "Voicemail left in Asterisk's spool: import (sync) and list."),
    "demo": ("ivr400.cli.demo", "demo",
             "Provision a sample enterprise, hotline, whitelisted destinations and seats, then print them."),
    "lab": ("ivr400.cli.lab", "lab",
            "The PBX lab: Asterisk 22 (Debian sid) in a chroot on 127.0.0.1 (SIP 5060/udp, AMI 5038)."),
    "deploy": ("ivr400.cli.deploy", "deploy",
               "Render the dialplan from the database and install it into Asterisk, atomically."),
    "serve": ("ivr400.cli.serve", "serve", "Run the controller (FastAGI, or ESL with --pbx freeswitch) until SIGTERM."),
    "serve-xml": ("ivr400.cli.serve_xml", "serve_xml",
                  "Serve the FreeSWITCH dialplan to mod_xml_curl over HTTP, straight from the database."),
    "rule": ("ivr400.cli.rule", "rule",
             "Routing rules: by time (time add), by caller region (region add), after-hours; list, remove."),
    "block": ("ivr400.cli.block", "block", "Call blocking: mode, add, remove, list."),
    "call": ("ivr400.cli.call", "call",
             "WEB呼叫 click-to-call: configure a hotline's public form, call a visitor back, list the attempts."),
    "calendar": ("ivr400.cli.calendar", "calendar", "Holiday calendar: seed, add, remove, list."),
    "cdr": ("ivr400.cli.cdr", "cdr", "Call records: listen (AMI), import (CSV backfill), list, missed."),
    "config": ("ivr400.cli.config", "config",
               "Settings: show what is in effect (see docs/operations.md for the file and the variables)."),
    "import": ("ivr400.cli.import_csv", "import_",
               "Bulk import from CSV: destinations (with evidence), departments, seats."),
    "export": ("ivr400.cli.export_csv", "export",
               "Bulk export to CSV: destinations (with evidence files), departments, seats."),
    "user": ("ivr400.cli.user", "user", "Back-office accounts: add, list, disable, enable, passwd."),
    "web": ("ivr400.cli.web", "web", "Serve the back office (自助管理后台) over HTTP."),
    "fax": ("ivr400.cli.fax", "fax", "Faxes received by the hotlines (传真): list."),
    "cluster": ("ivr400.cli.cluster", "cluster",
                "Cluster nodes behind Kamailio: node add, remove, drain, undrain, list; render Kamailio's config."),
    "report": ("ivr400.cli.report", "report",
               "Reports: traffic, heatmap, regions, service, seats, departments, repeat, summary, rebuild."),
    "billing": ("ivr400.cli.billing", "billing", "Usage and balance: tariff, topup, balance, usage."),
    "callback": ("ivr400.cli.callback", "callback", "Missed-call callbacks (未接来电回拨): list, set."),
}


@dataclass(frozen=True)
class GlobalOptions:
    """The options given before the command group; `ivr400.cli.common.app()` opens the settings and the
    database from them."""

    config_file: str | None
    database_url: str | None
    lab: bool


class LazyGroup(click.Group):
    """A group whose subcommands are imported when run, and listed in `--help` from COMMAND_GROUPS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_GROUPS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMAND_GROUPS and cmd_name not in self.commands:
            module, attr, _ = COMMAND_GROUPS[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in COMMAND_GROUPS and name not in self.commands:
                # The same shortening click applies to a loaded group's help.
                rows.append((name, click.Command(name, help=COMMAND_GROUPS[name][2]).get_short_help_str(limit)))
            else:
                command = super().get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", metavar="PATH",
              help="Configuration file (default: $IVR400_CONFIG, else /etc/ivr400/ivr400.toml if it exists).")
@click.option("--db", "database_url", metavar="URL",
              help="SQLAlchemy database URL: database.url (default: an SQLite file in the data directory).")
@click.option("--lab", is_flag=True,
              help="Use the lab's Asterisk (`ivr400 lab up`): its chroot paths and AMI user instead of asterisk.* "
                   "and ami.* settings.")
@click.pass_context
def main(ctx: click.Context, config_file: str | None, database_url: str | None, lab: bool) -> None:
    """ivr400 — run 400 hotline numbers on a real PBX, whitelist enforced by the database.

    Settings: flag > environment (IVR400_<SECTION>_<KEY>) > configuration file > default;
    `ivr400 config show` lists them with where each value came from.
    """
    ctx.obj = GlobalOptions(config_file=config_file, database_url=database_url, lab=lab)
