"""Health checks for the parts that serve no port: worker and beat write a heartbeat file, and
`spoedplein health worker|beat` (a container's health check) reads its age. HTTP and MLLP are checked on
their ports (`/healthz`, a TCP connect).

The file (`<data dir>/heartbeat/<part>`) is local to the machine or container the part runs in, which is
where its health check runs. The beat writes it from its relay loop (a stuck loop stops writing); the
worker from a thread that first checks the broker answers (a worker that cannot reach its broker is not
healthy). A heartbeat older than `STALE_AFTER_S` is unhealthy.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

log = logging.getLogger(__name__)
INTERVAL_S = 5.0
STALE_AFTER_S = 60.0


def heartbeat_file(data_dir: Path, part: str) -> Path:
    return data_dir / "heartbeat" / part


def beat(path: Path) -> None:
    """Write the heartbeat (its mtime is what counts); atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(f"{os.getpid()} {time.time():.0f}\n")
    os.replace(temporary, path)


class Heartbeat:
    """Writes `path` at most every INTERVAL_S when `tick()` is called (cheap to call every loop round)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last >= INTERVAL_S:
            self._last = now
            try:
                beat(self.path)
            except OSError as exc:
                log.warning("heartbeat %s not written (%s)", self.path.name, type(exc).__name__)


def start_thread(path: Path, healthy: Callable[[], bool]) -> threading.Event:
    """A daemon thread writing `path` every INTERVAL_S while `healthy()` holds; set the event to stop."""
    stop = threading.Event()
    heartbeat = Heartbeat(path)

    def run() -> None:
        while not stop.is_set():
            try:
                ok = healthy()
            except Exception:
                ok = False
            if ok:
                heartbeat.tick()
            stop.wait(INTERVAL_S)

    threading.Thread(target=run, name=f"heartbeat-{path.name}", daemon=True).start()
    return stop


def heartbeat_age_s(path: Path) -> float | None:
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return None


def check_file(path: Path, part: str) -> tuple[bool, str]:
    age = heartbeat_age_s(path)
    if age is None:
        return False, f"{part}: no heartbeat yet ({path})"
    if age > STALE_AFTER_S:
        return False, f"{part}: last heartbeat {age:.0f} s ago"
    return True, f"{part}: ok (heartbeat {age:.0f} s ago)"


def check_http(host: str, port: int) -> tuple[bool, str]:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    try:
        reply = httpx.get(f"http://{target}:{port}/healthz", timeout=5)
    except httpx.HTTPError as exc:
        return False, f"http: {type(exc).__name__} on port {port}"
    return reply.is_success, f"http: {reply.status_code}"


def check_mllp(host: str, port: int) -> tuple[bool, str]:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    try:
        with socket.create_connection((target, port), timeout=5):
            return True, "mllp: accepting connections"
    except OSError as exc:
        return False, f"mllp: {type(exc).__name__} on port {port}"
