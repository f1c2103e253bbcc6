"""The one way the gateway opens an outbound HTTP client (SMS provider, webhooks, the EHR's FHIR server).

Short timeouts: every caller is a retried job or on a request path, and a hung peer must become a retry,
not a stuck worker. Failure modes are httpx's (`httpx.HTTPError` and its subclasses).
"""

from __future__ import annotations

import httpx

DEFAULT_TIMEOUT_S = 10.0


def http_client(
    *, headers: dict[str, str] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, pool: int = 32
) -> httpx.Client:
    """A client with a bounded connection pool (kept per process and reused: keep-alive matters)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        headers=headers or {},
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
    )
