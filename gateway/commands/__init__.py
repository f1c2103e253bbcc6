"""CLI sub-commands that belong to one domain each; `gateway.cli` mounts them."""

from __future__ import annotations


class CliError(Exception):
    """A failure the user can act on: `gateway.cli.main` prints it as one line and exits with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


GATEWAY_DOWN = 3  # exit code: the gateway could not be reached
TOKEN_PROBLEM = 4  # exit code: no API token, or the gateway refused it
