"""CLI sub-commands that belong to one domain each; `gateway.cli` mounts them."""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from store.audit import AuditAction, record

if TYPE_CHECKING:
    from core.runtime import Runtime
    from core.settings import Settings


class CliError(Exception):
    """A failure the user can act on: `gateway.cli.main` prints it as one line and exits with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


GATEWAY_DOWN = 3  # exit code: the gateway could not be reached
TOKEN_PROBLEM = 4  # exit code: no API token, or the gateway refused it


def settings_for(data_dir: Path | None) -> Settings:
    """The settings, with `--data-dir` (when given) in place of SPOEDPLEIN_DATA_DIR."""
    from core.settings import get_settings

    if data_dir is not None:
        os.environ["SPOEDPLEIN_DATA_DIR"] = str(data_dir.resolve())
    return get_settings()


def existing_runtime(settings: Settings) -> Runtime:
    """The runtime of an existing installation, or exit 2: an operator's command must not make a new key
    or an empty database (a fresh key turns every audit entry into a 'changed' one, an empty database
    verifies clean and has nothing to prune or back up)."""
    from core.runtime import Runtime

    key_file = settings.data_dir / "secrets" / "field-encryption.key"
    if not settings.encryption_key and not key_file.exists():
        raise CliError(
            f"no encryption key: {key_file} does not exist (and SPOEDPLEIN_ENCRYPTION_KEY is not set)", 2
        )
    url = settings.resolved_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise CliError(f"no database at {url.removeprefix('sqlite:///')}", 2)
    return Runtime.start(settings, migrate=False)


def os_user() -> str:
    """The operating-system account running the command (the person behind a shell on the server):
    the actor of an operator's command in the audit log, until the command can ask for a user's login."""
    try:
        return getpass.getuser()
    except OSError:  # no name for this uid (a container)
        return str(os.getuid())


def record_operator_action(
    session: Session,
    action: AuditAction,
    resource_type: str,
    resource_id: str,
    purpose: str,
    *,
    patient_ref: str = "",
) -> None:
    """The audit entry of an operator's command: the operating-system account (`os_user`) on this host,
    role admin, source cli."""
    user = os_user()
    record(
        session,
        actor=f"os:{user}",
        actor_role="admin",
        actor_name=user,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        patient_ref=patient_ref,
        client=socket.gethostname(),
        source="cli",
        purpose=purpose,
    )
