"""`spoedplein run`: one supervisor that keeps HTTP, MLLP, worker and beat running, each its own process.

The supervisor binds the HTTP and MLLP listening sockets itself, before any child starts, and hands them
to the `http` and `mllp` children by file descriptor. So:
- a port that is already taken is found at once and told as such (`PortInUse`), instead of a child that
  fails to bind and is restarted forever;
- a child that dies is restarted on the same socket: connections that arrive meanwhile wait in the
  kernel's accept queue instead of being refused.

A child that exits is restarted with back-off (1 s, doubling up to 60 s; back to 1 s once it ran for a
minute). Each child runs in its own process group, and a child's whole group is killed when the child
dies (uvicorn's worker processes, if any, do not outlive their parent). Children get SIGTERM when the
supervisor dies (Linux parent-death signal), so a killed supervisor leaves nothing running.

The worker and beat run at a lower CPU priority (`nice`) than HTTP and MLLP: on a small machine the
hospital's feed comes first; processing may lag behind a burst, the ACK may not.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
LISTEN_BACKLOG = 2048
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
STABLE_AFTER_S = 60.0  # a child that ran this long starts its back-off afresh when it exits
STOP_GRACE_S = 30.0
# A child exiting with one of these did not fail by chance: its configuration is wrong (a setting, a
# certificate file), and restarting it would fail the same way forever. The supervisor stops instead.
CONFIGURATION_ERROR_EXITS = frozenset({2, 78})


class PortInUse(Exception):
    """A listening address that something else already holds; the message names it."""


@dataclass(frozen=True)
class Part:
    """One supervised process: its `spoedplein` subcommand, the sockets it is handed, its niceness."""

    name: str
    args: tuple[str, ...]
    niceness: int = 0
    sockets: tuple[socket.socket, ...] = ()


@dataclass
class _Child:
    part: Part
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None

    def start(self, env: dict[str, str]) -> None:
        fds = tuple(sock.fileno() for sock in self.part.sockets)
        niceness = self.part.niceness

        def in_child() -> None:
            _die_with_parent()
            os.setpgid(0, 0)  # its own group: the supervisor can end it with everything it started
            if niceness:
                os.nice(niceness)

        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", *self.part.args],
            env=env,
            pass_fds=fds,
            preexec_fn=in_child,
        )
        self.started_at = time.monotonic()
        log.info("%s started (pid %d)", self.part.name, self.process.pid)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_group(self, sig: signal.Signals) -> None:
        """Signal the child's process group (itself and whatever it started)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the supervisor's own SIGTERM handler still stops the children


def listen(host: str, port: int, *, what: str) -> socket.socket:
    """A listening TCP socket on host:port, inheritable by children; `PortInUse` names a taken port.

    SO_REUSEADDR as every server sets it (a restart binds again while old connections linger in
    TIME_WAIT); never SO_REUSEPORT, so a port another program listens on is refused, not shared."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"{what} port {host}:{port} is already in use by another program") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise PortInUse(f"{what} address {host} is not an address of this machine") from None
            raise
        sock.listen(LISTEN_BACKLOG)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class Supervisor:
    """Starts the parts, restarts the ones that exit, stops them all on SIGTERM/SIGINT or `stop()`."""

    parts: Sequence[Part]
    env: dict[str, str]
    poll_s: float = 0.2
    _children: list[_Child] = field(default_factory=list)
    _stopping: bool = False
    exit_status: int = 0

    def stop(self, *_: object) -> None:
        self._stopping = True

    def run(self, *, on_started: Callable[[], None] = lambda: None) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self._children = [_Child(part) for part in self.parts]
        try:
            for child in self._children:
                child.start(self.env)
            on_started()
            while not self._stopping:
                time.sleep(self.poll_s)
                self._tend(time.monotonic())
        finally:
            self._stop_all()
        return self.exit_status

    def _tend(self, now: float) -> None:
        for child in self._children:
            if child.running:
                if now - child.started_at > STABLE_AFTER_S:
                    child.backoff_s = FIRST_BACKOFF_S
                continue
            if child.restart_at is None:
                assert child.process is not None
                status = child.process.returncode
                child.kill_group(signal.SIGKILL)  # whatever it started must not outlive it
                if status in CONFIGURATION_ERROR_EXITS:
                    log.error(
                        "%s cannot start (exit status %s): stopping everything", child.part.name, status
                    )
                    self.exit_status = 1
                    self._stopping = True
                    return
                log.warning(
                    "%s exited with %s; restarting in %.0f s", child.part.name, status, child.backoff_s
                )
                child.restart_at = now + child.backoff_s
                child.backoff_s = min(child.backoff_s * 2, MAX_BACKOFF_S)
            elif now >= child.restart_at:
                child.restart_at = None
                child.restarts += 1
                child.start(self.env)

    def _stop_all(self) -> None:
        for child in self._children:
            if child.running:
                child.kill_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self._children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", child.part.name, STOP_GRACE_S)
            child.kill_group(signal.SIGKILL)  # also anything of its group still there
            child.process.wait()


def child_environment(overrides: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
