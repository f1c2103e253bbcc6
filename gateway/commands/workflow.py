"""`spoedplein workflow --diagram`: the case state machine, drawn from its transition table (Mermaid)."""

from __future__ import annotations

from typing import Annotated

import typer


def workflow(
    diagram: Annotated[
        bool, typer.Option("--diagram", help="print the state machine as a Mermaid diagram")
    ] = False,
    table: Annotated[bool, typer.Option("--table", help="print the transition table as text")] = False,
) -> None:
    """Show the case workflow: its states and the transitions between them."""
    from workflows.transitions import TRANSITIONS, mermaid_diagram

    if not diagram and not table:
        raise typer.BadParameter("choose --diagram or --table")
    if diagram:
        typer.echo(mermaid_diagram(), nl=False)
    if table:
        for t in TRANSITIONS:
            needs = " (reason required)" if t.needs_reason else ""
            guard = f" [{t.guard}]" if t.guard else ""
            typer.echo(f"{t.source.value:>17} --{t.action.value}--> {t.target.value}{needs}{guard}")


def register(app: typer.Typer) -> None:
    app.command(name="workflow")(workflow)
