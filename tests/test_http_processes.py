"""SPOEDPLEIN_HTTP_PROCESSES: several real processes answer HTTP on the gateway's one port.

The processes and their sockets are found the way an operator would: in /proc (the listening socket inodes
of the port in /proc/net/tcp, matched against /proc/<pid>/fd of the gateway and its children).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from core.settings import Settings
from tests import cds_helpers as cds
from tests.gateway_process import API_TOKEN, GatewayProcesses

TCP_LISTEN = "0A"
TCP_ESTABLISHED = "01"
REQUESTS = 50
SIGNALS_PATIENT_VIEW = "spoedplein-signals-patient-view"


def socket_inodes(port: int, state: str) -> set[int]:
    """Inodes of the sockets whose local port is `port` and whose TCP state is `state`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state and fields[9] != "0":
                inodes.add(int(fields[9]))
    return inodes


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}


def process_tree(root: int) -> list[int]:
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    tree = [root]
    for pid in tree:
        tree.extend(child for child in pids if parent_of(child) == pid and child not in tree)
    return tree


def held_inodes(pid: int, inodes: set[int]) -> set[int]:
    """Which of `inodes` process `pid` holds open."""
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        link = os.readlink(f"/proc/{pid}/fd/{fd}")
        if link.startswith("socket:[") and int(link[8:-1]) in inodes:
            held.add(int(link[8:-1]))
    return held


def holders(root: int, inodes: set[int]) -> dict[int, int]:
    """pid (the gateway or one of its descendants) -> how many of `inodes` it holds open."""
    links = {f"socket:[{inode}]" for inode in inodes}
    held: dict[int, int] = {}
    for pid in process_tree(root):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in links:
                    held[pid] = held.get(pid, 0) + 1
            except OSError:
                continue
    return held


def http_listeners(gateway: GatewayProcesses) -> set[int]:
    return set(holders(gateway.procs["serve"].pid, socket_inodes(gateway.http_port, TCP_LISTEN)))


def wait_for_listeners(gateway: GatewayProcesses, count: int, *, without: int | None = None) -> set[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = http_listeners(gateway)
        if len(pids) == count and without not in pids:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"expected {count} HTTP listeners, found {http_listeners(gateway)}")


def concurrent_api_calls(gateway: GatewayProcesses, clients: list[httpx.Client]) -> list[int]:
    """One authenticated /api call per client, all at once; each client is its own TCP connection."""
    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        return list(pool.map(lambda client: client.get("/api/cases").status_code, clients))


def new_clients(gateway: GatewayProcesses, count: int = REQUESTS) -> list[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    return [httpx.Client(base_url=gateway.http_url, headers=headers, timeout=20) for _ in range(count)]


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[GatewayProcesses]:
    gateway = GatewayProcesses(tmp_path, env={"SPOEDPLEIN_HTTP_PROCESSES": "2"})
    gateway.start("serve")
    try:
        yield gateway
    finally:
        gateway.stop_all()


def test_two_processes_listen_on_the_http_port_and_share_the_connections(
    two_processes: GatewayProcesses,
) -> None:
    gateway_pid = two_processes.procs["serve"].pid
    listeners = wait_for_listeners(two_processes, 2)
    assert gateway_pid in listeners
    [child] = listeners - {gateway_pid}
    assert parent_of(child) == gateway_pid

    clients = new_clients(two_processes)
    try:
        assert concurrent_api_calls(two_processes, clients) == [200] * REQUESTS
        # While the connections are open, each process holds the server side of some of them.
        serving = holders(gateway_pid, socket_inodes(two_processes.http_port, TCP_ESTABLISHED))
    finally:
        for client in clients:
            client.close()
    assert set(serving) == listeners
    # A process holding more than its share lets a connection go after an answer (Connection: close).
    assert REQUESTS - 5 <= sum(serving.values()) <= REQUESTS


def test_keep_alive_connections_end_up_evenly_shared_by_the_processes(
    two_processes: GatewayProcesses,
) -> None:
    gateway_pid = two_processes.procs["serve"].pid
    wait_for_listeners(two_processes, 2)
    clients = new_clients(two_processes, 20)  # like an EHR's pool: long-lived keep-alive connections
    shares: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # httpx opens a new connection for a client whose last answer said Connection: close
            assert concurrent_api_calls(two_processes, clients) == [200] * 20
            serving = holders(gateway_pid, socket_inodes(two_processes.http_port, TCP_ESTABLISHED))
            shares = sorted(serving.values())
            if len(shares) == 2 and sum(shares) == 20 and shares[1] - shares[0] <= 2:
                break
            time.sleep(0.1)
    finally:
        for client in clients:
            client.close()
    assert len(shares) == 2 and shares[1] - shares[0] <= 2, f"connections per process: {shares}"


def test_a_killed_http_process_is_restarted_and_requests_keep_succeeding(
    two_processes: GatewayProcesses,
) -> None:
    gateway_pid = two_processes.procs["serve"].pid
    [child] = wait_for_listeners(two_processes, 2) - {gateway_pid}

    child_socket = held_inodes(child, socket_inodes(two_processes.http_port, TCP_LISTEN))

    os.kill(child, signal.SIGKILL)
    # Its socket is gone once the last of its threads has exited (the process can show as a zombie
    # before that); connections the kernel handed it until then are dropped, and are not the point here.
    two_processes.wait_for(
        lambda: not child_socket & socket_inodes(two_processes.http_port, TCP_LISTEN),
        timeout_s=10,
        what="the killed child's socket to close",
    )
    answered_meanwhile = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answered_meanwhile.append(httpx.get(f"{two_processes.http_url}/healthz", timeout=20).status_code)
        if len(http_listeners(two_processes)) == 2:
            break
    listeners = wait_for_listeners(two_processes, 2, without=child)
    assert answered_meanwhile and set(answered_meanwhile) == {200}

    [replacement] = listeners - {gateway_pid}
    assert replacement != child and parent_of(replacement) == gateway_pid
    clients = new_clients(two_processes)
    try:
        assert concurrent_api_calls(two_processes, clients) == [200] * REQUESTS
    finally:
        for client in clients:
            client.close()
    assert "HTTP process 1" in two_processes.log("serve") and "restarting" in two_processes.log("serve")


def test_sigterm_to_the_gateway_stops_its_http_processes_too(two_processes: GatewayProcesses) -> None:
    listeners = wait_for_listeners(two_processes, 2)
    gateway = two_processes.procs["serve"]

    os.kill(gateway.pid, signal.SIGTERM)  # the gateway alone, not its process group
    assert gateway.wait(timeout=30) == 0

    # The gateway stopped and reaped its children before it exited (their parent-death signal is only
    # the fallback for a gateway that is killed outright), so nothing is left holding the port.
    assert not any(is_alive(pid) for pid in listeners)
    assert socket_inodes(two_processes.http_port, TCP_LISTEN) == set()


def test_a_second_gateway_on_the_same_http_port_is_refused_rather_than_sharing_it(
    two_processes: GatewayProcesses, tmp_path: Path
) -> None:
    wait_for_listeners(two_processes, 2)
    second = GatewayProcesses(tmp_path / "second", env={"SPOEDPLEIN_HTTP_PROCESSES": "2"})
    second.http_port = two_processes.http_port
    second.env["SPOEDPLEIN_HTTP_PORT"] = str(two_processes.http_port)
    try:
        with pytest.raises(RuntimeError, match="already in use"):
            second.start("serve")
    finally:
        second.stop_all()
    # Only the first gateway's two processes listen on the port.
    listening = socket_inodes(two_processes.http_port, TCP_LISTEN)
    assert len(listening) == 2
    assert sum(holders(two_processes.procs["serve"].pid, listening).values()) == 2


def test_a_replayed_cds_token_is_accepted_once_whichever_process_receives_it(tmp_path: Path) -> None:
    key = cds.SigningKey("ehr-processes")
    trusted = json.dumps({cds.ISSUER: str(key.write_jwks(tmp_path / "jwks.json"))})
    gateway = GatewayProcesses(
        tmp_path / "gw", env={"SPOEDPLEIN_HTTP_PROCESSES": "2", "SPOEDPLEIN_CDS_TRUSTED_ISSUERS": trusted}
    )
    gateway.start("serve")
    try:
        listeners = wait_for_listeners(gateway, 2)
        url = f"{gateway.http_url}/cds-services/{SIGNALS_PATIENT_VIEW}"
        token = key.token(url, jti="one-chart-opening")
        body = cds.hook_request("patient-view", cds.prefetch())
        clients = [httpx.Client(timeout=30) for _ in range(20)]
        try:
            with ThreadPoolExecutor(max_workers=len(clients)) as pool:
                answers = list(
                    pool.map(
                        lambda client: client.post(
                            url, json=body, headers={"Authorization": f"Bearer {token}"}
                        ),
                        clients,
                    )
                )
            serving = holders(gateway.procs["serve"].pid, socket_inodes(gateway.http_port, TCP_ESTABLISHED))
        finally:
            for client in clients:
                client.close()
    finally:
        gateway.stop_all()
    assert set(serving) == listeners  # both processes got some of the calls
    assert sorted(answer.status_code for answer in answers) == [200] + [401] * 19
    refused = [answer.json() for answer in answers if answer.status_code == 401]
    assert all("replay" in outcome["issue"][0]["diagnostics"] for outcome in refused)


def test_one_http_process_is_the_default_and_starts_no_children(tmp_path: Path) -> None:
    gateway = GatewayProcesses(tmp_path)
    gateway.start("serve")
    try:
        assert http_listeners(gateway) == {gateway.procs["serve"].pid}
        assert process_tree(gateway.procs["serve"].pid) == [gateway.procs["serve"].pid]
    finally:
        gateway.stop_all()


@pytest.mark.parametrize("value", ["0", "33", "-1"])
def test_http_processes_outside_1_to_32_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SPOEDPLEIN_HTTP_PROCESSES", value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    [error] = refused.value.errors()
    assert error["loc"] == ("http_processes",)
    assert error["type"] in {"greater_than_equal", "less_than_equal"}
