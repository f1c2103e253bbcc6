"""`spoedplein user add|disable|enable|password|totp|list` and `spoedplein token create|revoke|list`:
local accounts and API tokens, straight on the database (`--data-dir` / SPOEDPLEIN_DATABASE_URL, like `run`).

A password comes from standard input when that is not a terminal (first line), else it is asked twice
without echo. A token is printed once; only its hash is kept.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from core.runtime import Runtime
from core.settings import get_settings
from gateway.commands import CliError
from identity import service, sessions, tokens, totp
from identity.models import ROLE_LABELS_NL, Role
from identity.service import IdentityError

user_app = typer.Typer(help="Local user accounts (people and integrations).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens per person or integration.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option(help="the embedded default's data directory (as for `run`)")]


@contextmanager
def _database(data_dir: Path | None) -> Iterator[tuple[Runtime, Session]]:
    if data_dir is not None:
        os.environ["SPOEDPLEIN_DATA_DIR"] = str(data_dir.resolve())
    runtime = Runtime.start(get_settings())  # migrates: a fresh data directory works at once
    try:
        with runtime.db.write() as session:
            try:
                yield runtime, session
            except IdentityError as exc:
                raise CliError(str(exc), code=2) from None
    finally:
        runtime.close()


def _read_password() -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise CliError("no password on standard input", code=2)
        return password
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise CliError("the two passwords differ", code=2)
    return first


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="login name, one word")],
    role: Annotated[str, typer.Option(help=f"one of: {', '.join(r.value for r in Role)}")],
    organisation: Annotated[str, typer.Option(help="e.g. GGD Amsterdam, Politie Midden-Nederland")] = "",
    display_name: Annotated[str, typer.Option(help="the name shown and recorded (default: username)")] = "",
    no_password: Annotated[
        bool, typer.Option("--no-password", help="no local password (an integration: tokens only)")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Add a user with a role; the password is read from standard input or asked twice."""
    try:
        chosen = service.parse_role(role)
    except IdentityError as exc:
        raise typer.BadParameter(str(exc), param_hint="--role") from None
    password = None if no_password else _read_password()
    with _database(data_dir) as (_, session):
        user = service.create_user(
            session,
            username=username,
            role=chosen,
            display_name=display_name,
            organisation=organisation,
            password=password,
        )
        typer.echo(f"user {user.username} added (id {user.id}, role {user.role})")


@user_app.command("disable")
def user_disable(username: str, data_dir: DataDir = None) -> None:
    """Disable a user: logins, sessions and tokens stop working at once."""
    with _database(data_dir) as (_, session):
        service.set_disabled(session, username=username, disabled=True)
        typer.echo(f"user {username} disabled")


@user_app.command("enable")
def user_enable(username: str, data_dir: DataDir = None) -> None:
    """Enable a disabled user again."""
    with _database(data_dir) as (_, session):
        service.set_disabled(session, username=username, disabled=False)
        typer.echo(f"user {username} enabled")


@user_app.command("password")
def user_password(username: str, data_dir: DataDir = None) -> None:
    """Set a new password (and end the user's sessions)."""
    password = _read_password()
    with _database(data_dir) as (_, session):
        user = service.get_by_username(session, username)
        if user is None:
            raise CliError(f"no user {username!r}", code=2)
        service.set_password(session, user=user, password=password)
        sessions.revoke_all(session, user_id=user.id)
        typer.echo(f"password of {username} changed")


@user_app.command("totp")
def user_totp(
    username: str,
    remove: Annotated[bool, typer.Option("--remove", help="switch the second factor off")] = False,
    data_dir: DataDir = None,
) -> None:
    """Enrol a TOTP second factor (a new secret replaces any earlier one; ends the user's sessions).
    Prints the otpauth URI (for a QR code) and the secret once; only the encrypted secret is kept."""
    with _database(data_dir) as (_, session):
        if remove:
            totp.remove(session, username=username)
            typer.echo(f"second factor of {username} removed")
            return
        secret, uri = totp.enrol(session, username=username)
        user = service.get_by_username(session, username)
        if user is not None:
            sessions.revoke_all(session, user_id=user.id)
        typer.echo(uri)
        typer.echo(f"secret: {secret}")
        typer.echo(
            "Shown once: add it to the authenticator app now (scan the URI as a QR code or type the secret)."
        )


@user_app.command("list")
def user_list(data_dir: DataDir = None) -> None:
    """List users: id, username, role, organisation, state."""
    with _database(data_dir) as (_, session):
        for user in service.list_users(session):
            state = "disabled" if user.disabled else "active"
            label = ROLE_LABELS_NL.get(Role(user.role), user.role)
            organisation = f"  {user.organisation}" if user.organisation else ""
            role = f"{user.role} ({label})"
            typer.echo(f"{user.id}\t{user.username}\t{role}\t{state}\t{user.display_name}{organisation}")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="the user the token acts as")],
    name: Annotated[str, typer.Option(help="what the token is for, e.g. 'EPD koppeling'")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create an API token for a user and print it once (only its hash is kept)."""
    with _database(data_dir) as (_, session):
        row, plain = tokens.create(session, username=user, name=name)
        typer.echo(
            f"token {row.id} for {user} (send as 'Authorization: Bearer <token>'; shown only now):", err=True
        )
        typer.echo(plain)


@token_app.command("revoke")
def token_revoke(token_id: int, data_dir: DataDir = None) -> None:
    """Revoke a token by its id (see `token list`)."""
    with _database(data_dir) as (runtime, session):
        tokens.revoke(session, token_id=token_id, now=runtime.clock.now())
        typer.echo(f"token {token_id} revoked")


@token_app.command("list")
def token_list(data_dir: DataDir = None) -> None:
    """List tokens: id, user, name, created, last used, revoked (never the token)."""
    with _database(data_dir) as (_, session):
        for token, owner in tokens.list_tokens(session):
            revoked = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
            used = f"{token.last_used:%Y-%m-%d %H:%M}" if token.last_used else "never"
            created = f"{token.created:%Y-%m-%d}"
            typer.echo(f"{token.id}\t{owner.username}\t{token.name}\t{created}\tused {used}\t{revoked}")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
