"""Run the real gateway processes for end-to-end tests: the parts one by one (`python -m gateway
serve|http|mllp|worker|beat`), or all of them under one supervisor as a user runs them (`run`).

Each `GatewayProcesses` has its own data directory, free ports and API token, and can SIGKILL and
restart any part (or, under `run`, SIGKILL one of the supervised processes and let the supervisor restart
it), which is how the durability tests prove that nothing is lost or doubled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
API_TOKEN = "test-token-0123456789"


class GatewayProcesses:
    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.http_port = free_port()
        self.mllp_port = free_port()
        self.env = dict(os.environ)
        self.env.update(
            {
                "SPOEDPLEIN_DATA_DIR": str(data_dir),
                "SPOEDPLEIN_HTTP_PORT": str(self.http_port),
                "SPOEDPLEIN_MLLP_PORT": str(self.mllp_port),
                "SPOEDPLEIN_API_TOKEN": API_TOKEN,
                "SPOEDPLEIN_RELAY_INTERVAL_S": "0.05",
                "SPOEDPLEIN_RELAY_REDELIVER_AFTER_S": "3",
                "SPOEDPLEIN_LOG_LEVEL": "DEBUG",
                "PYTHONPATH": str(ROOT),
            }
        )
        self.env.update(env or {})
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def start(self, part: str, *args: str, name: str | None = None) -> subprocess.Popen[bytes]:
        """Start `part`; `name` (default: the part) keys the process and its log, so one data directory
        can hold several of a part (three workers: worker-1, worker-2, worker-3)."""
        name = name or part
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", part, *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        if part == "serve":
            self.wait_until_serving(proc)
        if part == "run":
            self.wait_until_running(proc)
        return proc

    def run(self, *args: str) -> subprocess.Popen[bytes]:
        """`spoedplein run` (HTTP, MLLP, worker and beat under one supervisor), once it answers both ports."""
        return self.start("run", *args)

    def wait_until_running(self, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"run exited with {proc.returncode}: {self.log('run')[-3000:]}")
            try:
                # The supervisor holds the listening sockets, so a connection succeeds before the child
                # accepts it: an answer proves the child serves. An empty frame is refused, nothing stored.
                if mllp_probe(self.mllp_port) and httpx.get(f"{self.http_url}/healthz", timeout=2).is_success:
                    return
            except (OSError, httpx.HTTPError):
                time.sleep(0.1)
        raise RuntimeError("run did not start serving")

    def supervised(self) -> dict[str, int]:
        """Under `run`: the pid of each supervised part (http, mllp, worker, beat) now running."""
        run = self.procs["run"]
        found: dict[str, int] = {}
        for pid in children_of(run.pid):
            args = command_line(pid)
            if len(args) >= 4 and args[1:3] == ["-m", "gateway"]:
                found[args[3]] = pid
        return found

    def kill_supervised(self, part: str) -> int:
        """SIGKILL one supervised part (the process alone, as the kernel's OOM killer would)."""
        pid = self.supervised()[part]
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_run_and_every_part(self) -> None:
        """SIGKILL `run` and every part it supervises, each part's process group too (uvicorn's workers),
        at once, as a power cut or a killed container would: nobody gets to stop gracefully (SIGKILLing
        only the supervisor would let the parts stop on the parent-death signal)."""
        parts = list(self.supervised().values())
        run = self.procs.pop("run")
        for pid in parts:
            with contextlib.suppress(ProcessLookupError):  # a part that died just now
                os.killpg(os.getpgid(pid), signal.SIGKILL)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=10)

    def wait_restarted(self, part: str, old_pid: int, timeout_s: float = 60) -> int:
        self.wait_for(
            lambda: self.supervised().get(part, old_pid) != old_pid,
            timeout_s=timeout_s,
            what=f"{part} restart",
        )
        return self.supervised()[part]

    def wait_until_serving(self, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {proc.returncode}: {self.log('serve')[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.mllp_port), timeout=0.2):
                    pass
                if httpx.get(f"{self.http_url}/healthz", timeout=1).status_code == 200:
                    return
            except (OSError, httpx.HTTPError):
                time.sleep(0.05)
        raise RuntimeError("gateway did not start listening")

    def answers(self) -> bool:
        """True when this data directory's MLLP and HTTP ports both answer; a part that exited is told."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: {self.log(name)[-3000:]}")
        try:
            return (
                mllp_probe(self.mllp_port, timeout_s=2)
                and httpx.get(f"{self.http_url}/healthz", timeout=2).is_success
            )
        except (OSError, httpx.HTTPError):
            return False

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def api(self, path: str, **params: object) -> Any:
        response = httpx.get(
            f"{self.http_url}{path}",
            params=params,  # type: ignore[arg-type]
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def kill(self, part: str) -> None:
        proc = self.procs.pop(part)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self, part: str) -> None:
        proc = self.procs.pop(part, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for part in list(self.procs):
            self.stop(part)

    def log(self, part: str) -> str:
        path = self.logs / f"{part}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for(self, predicate: object, timeout_s: float = 60, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():  # type: ignore[operator]
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")


def mllp_probe(port: int, timeout_s: float = 5) -> bool:
    """True when the MLLP listener answers an empty frame (it refuses it with a reject ACK)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(b"\x0b\x1c\x0d")
        answer = b""
        while not answer.endswith(b"\x1c\x0d"):
            chunk = sock.recv(4096)
            if not chunk:
                return False
            answer += chunk
    return b"MSA|AR" in answer or b"MSA|CR" in answer


def children_of(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


class ScaledOut:
    """Production scaled out on one machine: `replicas` gateway replicas, each `spoedplein http` and
    `spoedplein mllp` as separate processes with their own ports and data directory (as two machines
    would have), and `workers` workers plus one beat, all against one PostgreSQL + Redis given in `env`
    (SPOEDPLEIN_DATABASE_URL, already migrated, and SPOEDPLEIN_BROKER_URL)."""

    def __init__(self, root: Path, env: dict[str, str], *, replicas: int = 2) -> None:
        self.replicas = [GatewayProcesses(root / f"replica-{n + 1}", env=env) for n in range(replicas)]

    def start(self, workers: int) -> None:
        for replica in self.replicas:
            replica.start("http")
            replica.start("mllp")
        for replica in self.replicas:
            replica.wait_for(lambda r=replica: r.answers(), timeout_s=120, what="a replica serving")
        # Spread over the replicas' machines, as a deployment would; beat once, on the first.
        for n in range(workers):
            self.replicas[n % len(self.replicas)].start("worker", name=f"worker-{n + 1}")
        self.replicas[0].start("beat")

    @property
    def mllp_ports(self) -> list[int]:
        return [replica.mllp_port for replica in self.replicas]

    def running(self) -> dict[str, int]:
        """Every process by replica and name (`replica-1/worker-1`), its pid: all must still be alive."""
        return {
            f"{replica.data_dir.name}/{name}": proc.pid
            for replica in self.replicas
            for name, proc in replica.procs.items()
            if proc.poll() is None
        }

    def stop_all(self) -> None:
        for replica in self.replicas:
            replica.stop_all()
