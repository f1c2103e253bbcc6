"""Run the real gateway processes (`python -m gateway serve|worker|beat`) for end-to-end tests.

Each `GatewayProcesses` has its own data directory, free ports and API token, and can SIGKILL and
restart any part, which is how the durability tests prove that nothing is lost or doubled.
"""

from __future__ import annotations

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

    def start(self, part: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{part}.log", "ab")  # noqa: SIM115 - the process owns it
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", part, *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[part] = proc
        if part == "serve":
            self.wait_until_serving(proc)
        return proc

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
