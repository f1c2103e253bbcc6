"""The error a consent call raises for bad input: it names the field to fix."""

from __future__ import annotations


class ConsentError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
