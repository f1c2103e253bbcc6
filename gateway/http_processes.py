"""More than one process answering HTTP on the gateway's one port (SPOEDPLEIN_HTTP_PROCESSES > 1).

A Python process answers HTTP on one core at a time (the GIL). With N processes, the gateway process and
N-1 HTTP-only children each bind their own listening socket on the same host:port with SO_REUSEPORT, and
the Linux kernel spreads new connections across them. The MLLP listener and its group-commit writer stay
in the gateway process only, so HL7 v2 handling does not change. Children read their settings from the
same environment as the gateway (as every other part does), never migrate (the gateway already has), are
restarted with back-off when they exit, and are stopped (SIGTERM, then SIGKILL) when the gateway stops.
`gateway.http_child` is what a child runs.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from core.settings import Settings

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 2048
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0  # a child that ran this long starts its back-off afresh when it exits
READY = b"R"


def uvicorn_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """The one uvicorn configuration for every process that answers HTTP."""
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,  # paths can carry ids; keep access logs out of the patient-data question
        lifespan="on",
        backlog=LISTEN_BACKLOG,
    )


def shared_listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port that other processes of this user may bind as well.

    Binds the first address `host` resolves to. Raises OSError when the address cannot be bound.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def claim_http_port(host: str, port: int) -> socket.socket:
    """The gateway's own shared listening socket, refusing a port that something else already listens on.

    SO_REUSEPORT would let a second gateway started on the same port by mistake bind it too and
    silently take half of the connections. A plain bind first (no SO_REUSEPORT) fails on any existing
    listener, so a taken port is an error here, as it is with one HTTP process.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(exc.errno, f"HTTP port {host}:{port} is already in use") from None
            raise
        if port == 0:
            port = probe.getsockname()[1]
    return shared_listening_socket(host, port)


@dataclass
class _Slot:
    """One child's place in the pool: the running process, its readiness pipe, its restart schedule."""

    number: int
    process: subprocess.Popen[bytes] | None = None
    ready_pipe: int | None = None
    ready: bool = False
    started_at: float = 0.0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class HttpProcessPool:
    """The gateway's HTTP-only children: started, kept running, stopped.

    Call from the event loop's (main) thread: a child's parent-death signal fires when the *thread* that
    started it ends, so children must not be started from a worker thread.
    """

    def __init__(
        self, children: int, *, host: str, port: int, gateway_stopping: Callable[[], bool] = lambda: False
    ) -> None:
        self._slots = [_Slot(number) for number in range(1, children + 1)]
        self._host = host
        self._port = port
        # Ctrl-C or a process-group SIGTERM reaches the children too, before the gateway gets round to
        # stop(): a child that exits then is not restarted.
        self._gateway_stopping = gateway_stopping
        self._stopping = False
        self._watch_task: asyncio.Task[None] | None = None

    async def start(self, *, timeout_s: float = 60.0) -> None:
        """Start every child and return once each is accepting; RuntimeError if one fails to start.

        Readiness comes from a pipe per child rather than from polling /healthz: with SO_REUSEPORT the
        kernel picks the process for each connection, so a health answer cannot say which process gave
        it, while a child's own pipe says exactly that it is accepting (one byte) or died first (EOF).
        """
        if not self._slots:
            return
        for slot in self._slots:
            self._spawn(slot)
        deadline = time.monotonic() + timeout_s
        while not all(slot.ready for slot in self._slots):
            for slot in self._slots:
                if not slot.ready and self._check_ready(slot) is False:
                    await self.stop()
                    raise RuntimeError(f"HTTP process {slot.number} exited before it was accepting")
            if time.monotonic() > deadline:
                await self.stop()
                raise RuntimeError("HTTP processes did not start accepting in time")
            await asyncio.sleep(0.02)
        self._watch_task = asyncio.create_task(self._watch())

    async def stop(self, *, grace_s: float = 10.0) -> None:
        """SIGTERM every child (they finish the requests in hand), SIGKILL what is left after grace_s."""
        self._stopping = True
        if self._watch_task is not None:
            self._watch_task.cancel()
        for slot in self._slots:
            if slot.running:
                assert slot.process is not None
                slot.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while any(slot.running for slot in self._slots) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for slot in self._slots:
            if slot.process is not None:
                if slot.running:
                    log.warning(
                        "HTTP process %d (pid %d) did not stop; killing it", slot.number, slot.process.pid
                    )
                    slot.process.kill()
                slot.process.wait()
            self._close_pipe(slot)

    def _spawn(self, slot: _Slot) -> None:
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        env = dict(os.environ)
        # The port actually bound (SPOEDPLEIN_HTTP_PORT may be 0); a child never starts children itself.
        env.update(
            SPOEDPLEIN_HTTP_HOST=self._host,
            SPOEDPLEIN_HTTP_PORT=str(self._port),
            SPOEDPLEIN_HTTP_PROCESSES="1",
        )
        try:
            slot.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway.http_child",
                    str(write_end),
                    str(os.getpid()),
                    str(slot.number),
                    str(len(self._slots) + 1),
                ],
                env=env,
                pass_fds=(write_end,),
            )
        finally:
            os.close(write_end)
        slot.ready_pipe = read_end
        slot.ready = False
        slot.started_at = time.monotonic()
        log.info("HTTP process %d started (pid %d)", slot.number, slot.process.pid)

    def _check_ready(self, slot: _Slot) -> bool | None:
        """True once the child said it accepts, False if it closed its pipe without saying so, else None."""
        if slot.ready:
            return True
        if slot.ready_pipe is None:
            return False
        try:
            said = os.read(slot.ready_pipe, 1)
        except BlockingIOError:
            return None
        self._close_pipe(slot)
        slot.ready = said == READY
        if slot.ready and slot.process is not None:
            log.debug("HTTP process %d (pid %d) accepting", slot.number, slot.process.pid)
        return slot.ready

    @staticmethod
    def _close_pipe(slot: _Slot) -> None:
        if slot.ready_pipe is not None:
            os.close(slot.ready_pipe)
            slot.ready_pipe = None

    async def _watch(self) -> None:
        """Restart children that exit, with doubling back-off, until the pool is stopped."""
        while not self._stopping:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for slot in self._slots:
                if self._stopping or self._gateway_stopping():
                    return
                self._check_ready(slot)
                if slot.running:
                    if now - slot.started_at > STABLE_AFTER_S:
                        slot.backoff_s = FIRST_BACKOFF_S
                    continue
                if slot.restart_at is None:
                    assert slot.process is not None
                    self._close_pipe(slot)
                    log.warning(
                        "HTTP process %d (pid %d) exited with %s; restarting in %.1fs",
                        slot.number,
                        slot.process.pid,
                        slot.process.returncode,
                        slot.backoff_s,
                    )
                    slot.restart_at = now + slot.backoff_s
                    slot.backoff_s = min(slot.backoff_s * 2, MAX_BACKOFF_S)
                elif now >= slot.restart_at:
                    slot.restart_at = None
                    self._spawn(slot)
