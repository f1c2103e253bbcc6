"""CLI sub-commands that belong to one domain each; `gateway.cli` mounts them."""
