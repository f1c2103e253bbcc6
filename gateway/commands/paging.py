"""`spoedplein oncall [--at TIME] [--role R] [--check]`: who is on call, and whether the roster and its
channels can be used (every problem named with file, path and what is wrong; exit 2 if any)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer

from core.clock import clock_for
from core.settings import Settings, get_settings
from notifications.config import PagingConfig, build
from notifications.roster import RosterError


def load_paging(settings: Settings) -> PagingConfig:
    """The paging configuration, or exit 2 with every problem on stderr (no traceback)."""
    try:
        return build(settings, clock_for(settings.clock_offset_file))
    except RosterError as exc:
        print("the roster cannot be used:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def oncall(
    at: Annotated[
        str | None, typer.Option(help="a moment: 2026-12-24T03:00 (roster time zone) or with an offset")
    ] = None,
    role: Annotated[str | None, typer.Option(help="one role only (forensic, police, …)")] = None,
    check: Annotated[bool, typer.Option("--check", help="only check the roster and its channels")] = False,
) -> None:
    """Show who is on call (now or at --at), per role: on call, backup, team lead."""
    settings = get_settings()
    config = load_paging(settings)
    roster = config.roster
    if check:
        for note in config.notes:
            typer.echo(f"note: {note}")
        counts = f"{len(roster.document.people)} people, {len(roster.document.roles)} roles"
        typer.echo(f"roster OK: {counts} ({roster.source})")
        return
    if at is None:
        when = clock_for(settings.clock_offset_file).now()
    else:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise typer.BadParameter(
                f"{at!r} is not a moment (2026-12-24T03:00)", param_hint="--at"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=roster.zone)
    roles = roster.document.roles
    if role is not None and role not in roles:
        raise typer.BadParameter(f"no role {role!r}; roles: {', '.join(roles)}", param_hint="--role")
    local = when.astimezone(roster.zone).isoformat(timespec="minutes")
    typer.echo(f"on call at {local} ({roster.document.timezone})")
    people = roster.people

    def names(ids: list[str]) -> str:
        return ", ".join(f"{people[i].name or i} ({i})" if i in people else i for i in ids) or "-"

    for name in roles if role is None else [role]:
        typer.echo(f"{name}:")
        typer.echo(f"  on call   {names(roster.on_call(name, when))}")
        typer.echo(f"  backup    {names(roster.backups(name, when))}")
        typer.echo(f"  team lead {names(roster.team_lead(name, when))}")
    for note in config.notes:
        typer.echo(f"note: {note}")


def register(app: typer.Typer) -> None:
    app.command(name="oncall")(oncall)
