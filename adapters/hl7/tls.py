"""TLS contexts for MLLP: a server context (optionally mutual TLS) and a matching client context.

Failure modes:
* unreadable/missing cert, key or CA file: `FileNotFoundError` / `ssl.SSLError` at build time,
  so a misconfigured gateway refuses to start instead of listening in the clear;
* key does not match cert: `ssl.SSLError` at build time;
* with `ca` on the server (mutual TLS), a client without a certificate or with one not issued by
  that CA fails the handshake; the server never sees a byte of its messages. With TLS 1.3 the
  client learns this on its first read, as an `ssl.SSLError` or a reset connection.
"""

from __future__ import annotations

import ssl
from pathlib import Path

PathLike = str | Path


def server_context(cert: PathLike, key: PathLike, ca: PathLike | None = None) -> ssl.SSLContext:
    """Server context with `cert`/`key` (PEM). With `ca`, clients must present a certificate
    issued by that CA (CERT_REQUIRED); without it, any client may connect. TLS 1.2 minimum."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    if ca is not None:
        context.load_verify_locations(cafile=str(ca))
        context.verify_mode = ssl.CERT_REQUIRED
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def client_context(
    ca: PathLike | None = None,
    cert: PathLike | None = None,
    key: PathLike | None = None,
    *,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """Client context that verifies the server against `ca` (system CAs when None), optionally
    presenting `cert`/`key` for mutual TLS. TLS 1.2 minimum; hostname checked unless disabled."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca is not None:
        context.load_verify_locations(cafile=str(ca))
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    if cert is not None:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key) if key is not None else None)
    elif key is not None:
        raise ValueError("a client key without a client certificate")
    return context
