"""Real PostgreSQL and Redis servers for the test suite, started from Debian's packages on loopback.

PostgreSQL refuses to run as root, so when the suite runs as root the cluster is initialised and started
as the `postgres` system user that Debian's package creates. Each server lives in a temporary
directory and is stopped when the test session ends.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free loopback port for a server the suite starts, drawn below the kernel's ephemeral range.

    A port from bind(0) is free only until that socket closes: the kernel may then hand it to any outgoing
    connection (of this run, a parallel worker or another program) before the server binds it, and the
    server fails with "already in use". Ports below the range are never handed out that way. Each
    pytest-xdist worker draws from its own slice of 1,000, so two workers never pick the same port.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    slice_start = _ephemeral_ports_start() - 8000 + 1000 * (int(worker) % 8 if worker.isdigit() else 0)
    for _ in range(200):
        port = random.randrange(slice_start, slice_start + 1000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {slice_start}-{slice_start + 999}")


def _pg_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"PostgreSQL's {name} not found: run `make system-packages` (Debian postgresql)")
    return candidates[-1]


def _as_postgres_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


class PostgresServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="spoedplein-pg-"))
        self.port = free_port()
        self.data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            _as_postgres_user([_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._start()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            _as_postgres_user(
                [
                    _pg_bin("postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.dir}",
                    "-c",
                    "fsync=on",
                    "-c",
                    "max_connections=200",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                import psycopg

                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not start within 30 s")

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server as an operator restarting it would (`pg_ctl stop -m fast`: open transactions
        are rolled back, every connection is closed) and start it again on the same port and data."""
        subprocess.run(
            _as_postgres_user([_pg_bin("pg_ctl"), "-D", str(self.data), "stop", "-m", "fast", "-w"]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.proc.wait(timeout=30)
        time.sleep(down_s)
        self._start()

    def url(self, database: str, *, driver: str = "") -> str:
        scheme = "postgresql+psycopg" if driver else "postgresql"
        return f"{scheme}://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def stop(self) -> None:
        # The cluster is thrown away: an immediate shutdown (SIGQUIT to the postmaster) skips the shutdown
        # checkpoint, which with fsync on wrote every database the session created (14 MB each, hundreds
        # per worker) to disk first: 97 s against 0.2 s for 100 databases, measured on a busy machine.
        # The postmaster is signalled directly: under `runuser` (root) its parent only forwards SIGTERM.
        try:
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(postmaster, signal.SIGQUIT)
        except (OSError, ValueError, IndexError):
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: run `make system-packages` (Debian redis-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="spoedplein-redis-"))
        self.port = free_port()
        self.binary = binary
        self._start()

    def _start(self) -> None:
        binary = self.binary
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("Redis did not start within 15 s")

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server (its queues are lost: no persistence) and start it again on the same port."""
        self.proc.terminate()
        self.proc.wait(timeout=10)
        time.sleep(down_s)
        self._start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
