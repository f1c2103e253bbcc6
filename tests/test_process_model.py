"""`spoedplein run` as a user starts it: one supervisor, HTTP, MLLP, worker and beat each its own process.

The processes are found the way an operator would: in /proc (children of the supervisor, their command
lines, niceness and open sockets).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from core.runtime import key_source
from core.settings import Settings
from store.audit import chain_key, key_fits
from store.db import Database, make_engine
from tests import cds_helpers as cds
from tests.gateway_process import ROOT, GatewayProcesses, children_of, mllp_probe, niceness
from tests.servers import free_port

pytestmark = pytest.mark.serial
TCP_LISTEN = "0A"


def listening_inodes(port: int) -> set[int]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == TCP_LISTEN:
                inodes.add(int(fields[9]))
    return inodes


def holds(pid: int, inodes: set[int]) -> bool:
    links = {f"socket:[{inode}]" for inode in inodes}
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") in links for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


@pytest.fixture
def running(tmp_path: Path) -> Iterator[GatewayProcesses]:
    gateway = GatewayProcesses(tmp_path / "gw")
    gateway.run()
    try:
        yield gateway
    finally:
        gateway.stop_all()


def test_run_supervises_http_mllp_worker_and_beat_as_separate_processes(running: GatewayProcesses) -> None:
    parts = running.supervised()
    assert set(parts) == {"http", "mllp", "worker", "beat"}
    assert len(set(parts.values())) == 4
    # The feed comes first: processing runs at a lower CPU priority than the two listeners.
    assert niceness(parts["http"]) == niceness(parts["mllp"]) == 0
    assert niceness(parts["worker"]) > 0 and niceness(parts["beat"]) > 0
    # Each listener holds only its own port: HTTP load cannot delay an ACK in the same process.
    http_port, mllp_port = listening_inodes(running.http_port), listening_inodes(running.mllp_port)
    assert holds(parts["http"], http_port) and not holds(parts["http"], mllp_port)
    assert holds(parts["mllp"], mllp_port) and not holds(parts["mllp"], http_port)
    assert not any(holds(parts[p], http_port | mllp_port) for p in ("worker", "beat"))


@pytest.mark.parametrize("part", ["http", "mllp", "worker", "beat"])
def test_a_killed_part_is_restarted_by_the_supervisor(running: GatewayProcesses, part: str) -> None:
    old = running.kill_supervised(part)
    new = running.wait_restarted(part, old)
    assert new != old
    # The restarted part may still be starting: a connection waits in the supervisor's socket meanwhile.
    assert mllp_probe(running.mllp_port, timeout_s=90)
    assert httpx.get(f"{running.http_url}/readyz", timeout=90).status_code == 200
    assert f"{part} exited with -9; restarting" in running.log("run")


def test_requests_sent_while_http_restarts_wait_for_it_instead_of_being_refused(
    running: GatewayProcesses,
) -> None:
    old = running.kill_supervised("http")
    # The supervisor keeps the listening socket: a connection made now waits in its queue.
    answered = httpx.get(f"{running.http_url}/healthz", timeout=90)
    assert answered.status_code == 200
    assert running.supervised()["http"] != old


def test_sigterm_stops_every_part_and_frees_both_ports(running: GatewayProcesses) -> None:
    supervisor = running.procs["run"]
    parts = running.supervised()
    os.kill(supervisor.pid, signal.SIGTERM)
    assert supervisor.wait(timeout=60) == 0
    assert children_of(supervisor.pid) == []
    assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in parts.values())
    assert listening_inodes(running.http_port) == listening_inodes(running.mllp_port) == set()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in {"Z", "X"}
    except OSError:
        return True


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("SPOEDPLEIN_")}, **env},
        timeout=timeout,
    )


@pytest.mark.parametrize("taken", ["HTTP", "MLLP"])
def test_a_busy_port_makes_run_say_which_and_exit_non_zero(tmp_path: Path, taken: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        ports = {"HTTP": free_port(), "MLLP": free_port(), taken: busy}
        started = time.monotonic()
        result = run_cli(
            "run",
            "--data-dir",
            str(tmp_path / "var"),
            "--http-port",
            str(ports["HTTP"]),
            "--mllp-port",
            str(ports["MLLP"]),
            env={},
        )
    assert result.returncode == 1
    assert f"{taken} port 127.0.0.1:{busy} is already in use" in result.stderr
    assert "Traceback" not in result.stderr and "is running" not in result.stdout
    assert time.monotonic() - started < 30  # no restarting


@pytest.mark.parametrize("command", ["http", "mllp", "serve"])
def test_each_listening_command_names_a_taken_port(tmp_path: Path, command: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = str(squatter.getsockname()[1])
        env = {
            "SPOEDPLEIN_DATA_DIR": str(tmp_path),
            "SPOEDPLEIN_HTTP_PORT": busy,
            "SPOEDPLEIN_MLLP_PORT": busy,
        }
        result = run_cli(command, env=env)
    assert result.returncode == 1
    assert f"port 127.0.0.1:{busy} is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_http_workers_share_the_port_and_a_replayed_cds_token_is_accepted_once(tmp_path: Path) -> None:
    key = cds.SigningKey("ehr-workers")
    trusted = json.dumps({cds.ISSUER: str(key.write_jwks(tmp_path / "jwks.json"))})
    gateway = GatewayProcesses(tmp_path / "gw", env={"SPOEDPLEIN_CDS_TRUSTED_ISSUERS": trusted})
    gateway.run("--http-workers", "2")
    try:
        http = gateway.supervised()["http"]
        # uvicorn's own worker model: two worker processes under the http part, on its one socket.
        gateway.wait_for(lambda: len(children_of(http)) >= 2, what="two uvicorn workers")
        workers = [pid for pid in children_of(http) if holds(pid, listening_inodes(gateway.http_port))]
        assert len(workers) == 2
        url = f"{gateway.http_url}/cds-services/spoedplein-signals-patient-view"
        token = key.token(url, jti="one-chart-opening")
        body = cds.hook_request("patient-view", cds.prefetch())
        clients = [httpx.Client(timeout=60) for _ in range(12)]
        try:
            with ThreadPoolExecutor(max_workers=len(clients)) as pool:
                answers = list(
                    pool.map(
                        lambda c: c.post(url, json=body, headers={"Authorization": f"Bearer {token}"}),
                        clients,
                    )
                )
        finally:
            for client in clients:
                client.close()
        said = [(a.status_code, "" if a.is_success else a.json()["issue"][0]["diagnostics"]) for a in answers]
        assert sorted(status for status, _ in said) == [200] + [401] * 11, said
        assert all("replay" in why for status, why in said if status == 401), said
        # A worker that dies is uvicorn's to replace; the part itself keeps running.
        os.kill(workers[0], signal.SIGKILL)
        gateway.wait_for(
            lambda: workers[0] not in children_of(http) and len(children_of(http)) >= 2,
            timeout_s=60,
            what="uvicorn to replace its worker",
        )
        assert httpx.get(f"{gateway.http_url}/readyz", timeout=30).status_code == 200
        assert gateway.supervised()["http"] == http
    finally:
        gateway.stop_all()


@pytest.mark.parametrize("value", ["0", "33", "-1"])
def test_http_workers_outside_1_to_32_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SPOEDPLEIN_HTTP_WORKERS", value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    [error] = refused.value.errors()
    assert error["loc"] == ("http_workers",)


def test_production_parts_run_one_by_one_after_a_migrate_job(tmp_path: Path) -> None:
    gateway = GatewayProcesses(tmp_path / "gw")
    assert run_cli("migrate", env={"SPOEDPLEIN_DATA_DIR": str(gateway.data_dir)}).returncode == 0
    try:
        gateway.start("http")
        gateway.start("mllp")
        gateway.wait_for(
            lambda: _answers(gateway), timeout_s=60, what="http and mllp started one by one to answer"
        )
    finally:
        gateway.stop_all()


def _answers(gateway: GatewayProcesses) -> bool:
    try:
        return mllp_probe(gateway.mllp_port) and httpx.get(f"{gateway.http_url}/readyz").status_code == 200
    except (OSError, httpx.HTTPError):
        return False


def test_a_missing_mllp_certificate_stops_run_with_one_line_instead_of_restarting_mllp(
    tmp_path: Path,
) -> None:
    result = run_cli(
        "run",
        "--data-dir",
        str(tmp_path / "var"),
        "--http-port",
        str(free_port()),
        "--mllp-port",
        str(free_port()),
        "--mllp-tls-cert",
        str(tmp_path / "missing.pem"),
        "--mllp-tls-key",
        str(tmp_path / "missing.key"),
        env={},
    )
    assert result.returncode == 2
    assert f"SPOEDPLEIN_MLLP_TLS_CERT {tmp_path / 'missing.pem'} is not a readable file" in result.stderr
    assert "Traceback" not in result.stderr and "is running" not in result.stdout


def test_a_part_with_another_encryption_key_than_the_data_was_written_with_refuses_to_start(
    tmp_path: Path,
) -> None:
    # A second machine set up without the installation's key makes a key of its own; it must not start
    # writing values that no other part can read.
    env = {"SPOEDPLEIN_DATA_DIR": str(tmp_path / "data")}
    assert run_cli("migrate", env=env).returncode == 0
    assert run_cli("audit", "verify", env=env).returncode == 0  # reading the log is audited: one entry
    own_key = {**env, "SPOEDPLEIN_HTTP_PORT": "0"}
    other_key = {**own_key, "SPOEDPLEIN_ENCRYPTION_KEY": base64.b64encode(b"k" * 32).decode()}

    refused = run_cli("http", env=other_key)

    assert refused.returncode == 78
    assert "encryption key does not fit this database" in refused.stderr
    assert "Traceback" not in refused.stderr
    # With the installation's own key the same database verifies, and the check lets it through.
    settings = Settings(data_dir=tmp_path / "data")
    db = Database(
        make_engine(settings.resolved_database_url), audit_key=chain_key(key_source(settings).load().root)
    )
    try:
        with db.read() as session:
            assert key_fits(session) is True
    finally:
        db.dispose()
