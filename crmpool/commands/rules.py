"""`crmpool rules show|check|set|versions`: the reclaim rules, kept in the database."""

# Deferred annotations: Typer evaluates only the invoked command's (crmpool.cli.only).
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmpool.cli import (
    AllOpt,
    ColumnsOpt,
    FormatOpt,
    QuietOpt,
    WideOpt,
    command,
    done,
    plural,
    read_text,
    rules_app,
    session,
    view,
)

# --- rules -------------------------------------------------------------------------------


@command("show", group=rules_app)
def rules_show(ctx: typer.Context, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Print the rules in force (the built-in defaults until `rules set`)."""
    from crmpool.ruleset import active_rules

    with session(ctx, fmt, quiet) as s:
        rules = active_rules(s.conn)
        if s.out.for_people:
            if not quiet:
                print(rules.text, end="" if rules.text.endswith("\n") else "\n")
            s.out.say(f"# fingerprint {rules.fingerprint}")
        else:
            s.out.record(rules.as_dict())


@command("check", group=rules_app)
def rules_check(ctx: typer.Context,
                file: Annotated[str, typer.Argument(help="A rules file (TOML), or -.")],
                fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Check a rules file without storing it; exit 3 naming every bad key."""
    from crmpool.errors import InputError
    from crmpool.output import Output
    from crmpool.pools import pool_names
    from crmpool.rules import check_rules

    text, source = read_text(file)
    known = None
    # A database to check pool names against: a file that exists, or any URL.
    if not isinstance(ctx.obj.db, Path) or ctx.obj.db.exists():
        with session(ctx, None, quiet) as s:
            known = pool_names(s.conn)
    rules, problems = check_rules(text, known)
    if rules is None:
        raise InputError(f"{source}: " + "\n  ".join(["invalid rules file:", *problems]))
    done(Output(fmt.value if fmt else None, quiet), rules.as_dict(),
         f"{source}: ok, {plural(len(rules.reclaim), 'reclaim rule')}, fingerprint"
         f" {rules.fingerprint}")


@command("set", group=rules_app)
def rules_set(ctx: typer.Context,
              file: Annotated[str, typer.Argument(help="A rules file (TOML), or -.")],
              fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Store a new version of the rules (admin only); older versions are kept."""
    from crmpool.ruleset import set_rules
    from crmpool.store import transaction

    text, source = read_text(file)
    with session(ctx, fmt, quiet) as s, transaction(s.conn):
        rules, changed = set_rules(s.conn, s.actor, text, source, s.now)
    done(s.out, {"fingerprint": rules.fingerprint, "changed": changed},
         f"rules {rules.fingerprint} now in force" if changed
         else f"rules {rules.fingerprint} already in force; nothing changed")


@command("versions", group=rules_app)
def rules_versions(ctx: typer.Context, columns: ColumnsOpt = None, wide: WideOpt = False,
                   all_: AllOpt = False, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Every stored version of the rules, newest first."""
    from crmpool.ruleset import rule_versions

    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        s.out.rows(rule_versions(s.conn), ["version", "fingerprint", "set_at", "set_by"])
