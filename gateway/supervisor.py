"""`spoedplein run`: one command that keeps the gateway, worker and beat processes running.

Each part runs as its own child process (as in production), so a crash of one is contained and
restarted with back-off. Children get SIGTERM if the supervisor dies (Linux parent-death signal), so
a killed supervisor leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
PARTS = ("serve", "worker", "beat")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the supervisor's own SIGTERM handler still stops the children


@dataclass
class Child:
    part: str
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff_s: float = 1.0
    next_start_at: float = field(default=0.0)

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", self.part], env=env, preexec_fn=_die_with_parent
        )
        self.started_at = time.monotonic()


def supervise(env: dict[str, str], *, parts: tuple[str, ...] = PARTS, on_started: Callable[[], None]) -> int:
    """Start every part, restart the ones that exit, stop them all on SIGTERM/SIGINT."""
    children = [Child(part) for part in parts]
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    for child in children:
        child.start(env)
    on_started()
    while not stopping:
        time.sleep(0.2)
        now = time.monotonic()
        for child in children:
            assert child.process is not None
            if child.process.poll() is None:
                if now - child.started_at > 60:
                    child.backoff_s = 1.0
                continue
            if child.next_start_at == 0.0:
                log.warning(
                    "%s exited with %s; restarting in %.0fs",
                    child.part,
                    child.process.returncode,
                    child.backoff_s,
                )
                child.next_start_at = now + child.backoff_s
                child.backoff_s = min(child.backoff_s * 2, 60.0)
            elif now >= child.next_start_at:
                child.next_start_at = 0.0
                child.restarts += 1
                child.start(env)
    for child in children:
        if child.process and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
    return 0


def child_environment(overrides: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
