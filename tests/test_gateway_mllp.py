"""The running gateway over real MLLP sockets: ACK after the durable write, rejects, duplicates, sizes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hl7
import hl7.client
import pytest

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import MLLPClient
from tests.gateway_process import GatewayProcesses

ADT = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123120000+0100||ADT^A04^ADT_A01|{cid}|P|2.5|||AL|NE\r"
    "EVN|A04|20261123120000+0100\r"
    "PID|1||900000001^^^ETZ^PI||Testpersoon^Bench||20150101|F\r"
    "PV1|1|E|SEH^^^ETZ||||||||||||||||V{cid}\r"
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcesses]:
    processes = GatewayProcesses(
        tmp_path_factory.mktemp("gw"), env={"SPOEDPLEIN_MLLP_MAX_MESSAGE_BYTES": "20000"}
    )
    processes.start("serve")
    yield processes
    processes.stop_all()


def stored(gateway: GatewayProcesses) -> list[dict[str, Any]]:
    return gateway.api("/api/messages", limit=1000)


def test_external_hl7_client_gets_accept_ack_for_a_stored_message(gateway: GatewayProcesses) -> None:
    with hl7.client.MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        reply = client.send_message(ADT.format(cid="EXT-1"))
    ack = hl7.parse(reply)
    assert str(ack.segment("MSA")[1]) == "CA"  # MSH-15 = AL: enhanced mode, commit accept
    assert str(ack.segment("MSA")[2]) == "EXT-1"
    assert str(ack.segment("MSH")[3]) == "SPOEDPLEIN" and str(ack.segment("MSH")[5]) == "HIX"
    rows = [m for m in stored(gateway) if m["control_id"] == "EXT-1"]
    assert len(rows) == 1 and rows[0]["status"] in {"received", "processed"}


def test_original_mode_message_gets_aa_with_its_own_delimiters(gateway: GatewayProcesses) -> None:
    message = "MSH#^~\\&#HIX#ETZ#SPOED#ETZ#20261123120000##ADT^A01#ORIG-1#P#2.4\rPID#1##1^^^ETZ^PI\r"
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        raw_ack = client.send(message.encode())
    assert raw_ack.startswith(b"MSH#^~\\&#SPOED#ETZ#HIX#ETZ#")
    ack = parse_ack(raw_ack)
    assert (ack.code, ack.acked_control_id) == ("AA", "ORIG-1")


@pytest.mark.parametrize(
    ("payload", "code", "where"),
    [
        (b"PID|1||123\r", "100", "MSH"),
        (b"MSH|^~\\&|HIX|ETZ|SP|ETZ|2026||ADT^A01|V-1|P|3.0\r", "203", "MSH^1^12"),
        (b"MSH|^~|HIX|ETZ|SP|ETZ|2026||ADT^A01|ENC-1|P|2.5\r", "102", "MSH^1^2"),
        (b"MSH|^~\\&|HIX|ETZ|SP|ETZ|2026||ADT^A01||P|2.5\r", "101", "MSH^1^10"),
        (b"MSH|^~\\&|HIX|ETZ|SP|ETZ|2026||ADT^A01|CS-1|P|2.5|||||NLD|WINDOWS-9999\r", "103", "MSH^1^18"),
        (
            b"MSH|^~\\&|HIX|ETZ|SP|ETZ|2026||ADT^A01|U8-1|P|2.5|||||NLD|UNICODE UTF-8\rPID|1||\xff\xfe\r",
            "102",
            "",
        ),
    ],
    ids=[
        "no-msh",
        "unsupported-version",
        "bad-encoding-chars",
        "no-control-id",
        "unknown-charset",
        "bad-utf8",
    ],
)
def test_malformed_message_is_rejected_with_err_and_not_stored(
    gateway: GatewayProcesses, payload: bytes, code: str, where: str
) -> None:
    before = len(stored(gateway))
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        ack = parse_ack(client.send(payload))
    assert ack.code in {"AR", "AE"}
    assert ack.errors and ack.errors[0].code == code
    assert ack.errors[0].location.startswith(where)
    assert len(stored(gateway)) == before


def test_resend_gets_the_same_answer_and_is_stored_once(gateway: GatewayProcesses) -> None:
    payload = ADT.format(cid="DUP-1").encode()
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        first = client.send(payload)
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        second = client.send(payload)
        third = client.send(payload)
    assert first == second == third
    rows = [m for m in stored(gateway) if m["control_id"] == "DUP-1"]
    assert len(rows) == 1 and rows[0]["resend_count"] == 2


def test_reused_control_id_with_other_content_is_taken_in_as_its_own_message(
    gateway: GatewayProcesses,
) -> None:
    other_content = ADT.format(cid="REUSE-1").replace("Bench", "Ander")
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        first = parse_ack(client.send(ADT.format(cid="REUSE-1").encode()))
        restamped = ADT.format(cid="REUSE-1").replace("20261123120000+0100||", "20261123120500+0100||", 1)
        resend = parse_ack(client.send(restamped.encode()))  # same message, new MSH-7: a resend
        other = parse_ack(client.send(other_content.encode()))  # a reset counter: another message
        other_again = parse_ack(client.send(other_content.encode()))  # and that one resent
    assert first.code == resend.code == other.code == other_again.code == "CA"
    assert not other.errors
    rows = sorted((m for m in stored(gateway) if m["control_id"] == "REUSE-1"), key=lambda m: m["id"])
    assert len(rows) == 2
    assert [r["control_id_reused"] for r in rows] == [False, True]
    assert [r["resend_count"] for r in rows] == [1, 1]


def test_same_control_id_from_another_sender_is_a_different_message(gateway: GatewayProcesses) -> None:
    other = ADT.format(cid="SHARED-1").replace("|HIX|ETZ|", "|LAB|ETZ|", 1)
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        client.send(ADT.format(cid="SHARED-1").encode())
        client.send(other.encode())
    assert len([m for m in stored(gateway) if m["control_id"] == "SHARED-1"]) == 2


def test_oversized_message_gets_a_reject_and_the_connection_stays_usable(gateway: GatewayProcesses) -> None:
    huge = (ADT.format(cid="BIG-1") + "NTE|1||" + "x" * 30000 + "\r").encode()
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        ack = parse_ack(client.send(huge))
        after = parse_ack(client.send(ADT.format(cid="AFTER-BIG").encode()))
    assert ack.code == "CR" and ack.acked_control_id == "BIG-1" and ack.errors[0].code == "104"
    assert after.code == "CA"
    assert not [m for m in stored(gateway) if m["control_id"] == "BIG-1"]


def test_many_messages_on_many_connections_are_all_stored_in_order(gateway: GatewayProcesses) -> None:
    clients = [MLLPClient("127.0.0.1", gateway.mllp_port) for _ in range(5)]
    try:
        for n in range(20):
            for c, client in enumerate(clients):
                ack = parse_ack(client.send(ADT.format(cid=f"MANY-{c}-{n}").encode()))
                assert ack.acked_control_id == f"MANY-{c}-{n}"
    finally:
        for client in clients:
            client.close()
    ids: dict[str, int] = {
        m["control_id"]: m["id"] for m in stored(gateway) if str(m["control_id"]).startswith("MANY-")
    }
    assert len(ids) == 100
    for c in range(5):
        per_connection = [ids[f"MANY-{c}-{n}"] for n in range(20)]
        assert per_connection == sorted(per_connection)


def test_messages_are_encrypted_in_the_database_file(gateway: GatewayProcesses) -> None:
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        client.send(ADT.format(cid="ENC-CHECK").replace("Testpersoon", "Zeldzaamnaam").encode())
    data = b"".join(p.read_bytes() for p in Path(gateway.data_dir).glob("spoedplein.sqlite*"))
    assert b"ENC-CHECK" in data  # the control id is metadata, kept in clear
    assert b"Zeldzaamnaam" not in data


def test_a_sender_asking_no_accept_ack_still_gets_one_so_it_never_waits_forever(
    gateway: GatewayProcesses,
) -> None:
    """`NE|AL`: no accept ACK, an application ACK wanted. We send no application ACKs, so the accept
    ACK after the durable commit is the answer such a sender can act on."""
    message = ADT.format(cid="NEAL-1").replace("|AL|NE\r", "|NE|AL\r", 1)
    with MLLPClient("127.0.0.1", gateway.mllp_port, timeout_s=10) as client:
        ack = parse_ack(client.send(message.encode()))
    assert (ack.code, ack.acked_control_id) == ("CA", "NEAL-1")
