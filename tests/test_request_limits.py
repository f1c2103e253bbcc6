"""Request bodies cost bounded memory: without the API token the body is not read at all (401), with
it a body over the limit is answered 413 while it is read — declared or streamed. Before this, eight
unauthenticated 200 MB POSTs took the HTTP process to 5.4 GB. Against the real `serve` process, with
raw sockets (so the test controls how much it sends) and the process's peak RSS from /proc."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_process import API_TOKEN, GatewayProcesses

LIMIT = 2 * 1024 * 1024
CHUNK = b"[" + b"1," * (128 * 1024) + b"1]"  # ~256 KB of valid JSON array text, over and over
HUGE = 200 * 1024 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcesses]:
    processes = GatewayProcesses(
        tmp_path_factory.mktemp("gw"), env={"SPOEDPLEIN_HTTP_MAX_BODY_BYTES": str(LIMIT)}
    )
    processes.start("serve")
    yield processes
    processes.stop_all()


def peak_rss_mb(gateway: GatewayProcesses) -> float:
    status = Path(f"/proc/{gateway.procs['serve'].pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def post(
    gateway: GatewayProcesses, path: str, *, total: int, token: bool, chunked: bool = False
) -> tuple[int | None, int]:
    """Stream a POST of up to `total` bytes; stop as soon as the server answers. (status, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", gateway.http_port), timeout=30)
    head = [f"POST {path} HTTP/1.1", "Host: gateway", "Content-Type: application/json"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    if token:
        head.append(f"Authorization: Bearer {API_TOKEN}")
    sent = 0
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered: stop sending
            piece = CHUNK[: total - sent]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        return _status(sock), sent
    except (BrokenPipeError, ConnectionResetError):
        return _status(sock), sent
    finally:
        sock.close()


def _status(sock: socket.socket) -> int | None:
    try:
        sock.settimeout(30)
        first = sock.recv(64)
    except OSError:
        return None
    return int(first.split(b" ", 2)[1]) if first.startswith(b"HTTP/1.1 ") else None


@pytest.mark.parametrize("path", ["/api/cases/1/confirm", "/fhir", "/fhir/Patient", "/api/cases/1/consents"])
def test_without_the_token_a_huge_body_is_refused_401_before_it_is_read(
    gateway: GatewayProcesses, path: str
) -> None:
    status, sent = post(gateway, path, total=HUGE, token=False)
    assert status == 401
    assert sent < 64 * 1024 * 1024  # answered long before the body was all sent


def test_with_the_token_a_declared_body_over_the_limit_is_413_at_once(gateway: GatewayProcesses) -> None:
    status, sent = post(gateway, "/fhir", total=HUGE, token=True)
    assert status == 413 and sent < 64 * 1024 * 1024


@pytest.mark.parametrize("path", ["/fhir", "/api/cases/1/confirm", "/cds-services/spoedplein-safe-discharge"])
def test_a_streamed_body_that_grows_past_the_limit_is_cut_off_with_413(
    gateway: GatewayProcesses, path: str
) -> None:
    status, sent = post(gateway, path, total=HUGE, token=True, chunked=True)
    assert status == 413 and sent < 64 * 1024 * 1024


def test_a_body_under_the_limit_still_reaches_the_route(gateway: GatewayProcesses) -> None:
    status, _ = post(gateway, "/api/cases/1/confirm", total=len(CHUNK), token=True)
    assert status == 404  # the route ran (no such case), the body was not refused


def test_sixteen_huge_posts_at_once_leave_the_process_memory_flat(gateway: GatewayProcesses) -> None:
    before = peak_rss_mb(gateway)
    results: list[tuple[int | None, int]] = []

    def attack(path: str, token: bool, chunked: bool) -> None:
        results.append(post(gateway, path, total=HUGE, token=token, chunked=chunked))

    threads = [
        threading.Thread(target=attack, args=(path, token, token))
        for path in ("/api/cases/1/confirm", "/fhir")
        for token in (False, True)
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(status or 0 for status, _ in results) == [401] * 8 + [413] * 8
    assert peak_rss_mb(gateway) - before < 100, (before, peak_rss_mb(gateway))
