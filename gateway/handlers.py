"""Imports every module that registers an outbox handler, so worker and tests see the same topics."""

from __future__ import annotations

import adapters.fhir.cds.auth  # CDS jti purge (periodic)
import adapters.fhir.subscriptions  # subscription gap recovery (periodic)
import adapters.fhir.writeback
import adapters.processing  # noqa: F401
import notifications.handlers
import notifications.pager  # noqa: F401  (the pager's tick and auditor, a periodic job)
import store.audit  # the audit chain anchor (periodic)
import store.checkpoint
import store.encrypted
import store.journal  # noqa: F401  (the beat moves the MLLP journal into the database, a periodic job)
from workflows import retention, timers  # noqa: F401  (periodic jobs: daily retention, the timer tick)
