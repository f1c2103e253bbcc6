"""Imports every module that registers an outbox handler, so worker and tests see the same topics."""

from __future__ import annotations

import gateway.processing  # noqa: F401
