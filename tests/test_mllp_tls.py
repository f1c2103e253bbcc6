"""MLLP over TLS and mutual TLS, with a CA and certificates made on the fly in a tmp dir."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable

import pytest

from adapters.hl7.client import AsyncMLLPClient, ConnectionClosedBeforeAck, MLLPClient
from adapters.hl7.server import MLLPServer, Peer
from adapters.hl7.tls import client_context, server_context
from tests.pki import CertificateAuthority

PAYLOAD = b"MSH|^~\\&|EHR|ETZ|SPOEDPLEIN|ETZ|20260101||ADT^A04|TLS1|P|2.5"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    directory = tmp_path_factory.mktemp("pki")
    hospital = CertificateAuthority(directory, "hospital")
    stranger = CertificateAuthority(directory, "stranger")
    return {
        "ca": hospital,
        "server": hospital.issue("spoedplein", server=True),
        "ehr": hospital.issue("ehr-sender", server=False),
        "rogue": stranger.issue("ehr-sender", server=False),
    }


class Recorder:
    def __init__(self) -> None:
        self.peers: list[Peer] = []

    async def __call__(self, payload: bytes, peer: Peer) -> bytes:
        self.peers.append(peer)
        return b"ACK:" + payload.split(b"|")[9]


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro_fn(), timeout=60))


def test_tls_server_answers_a_client_that_trusts_its_ca(pki):
    ca, server_cert = pki["ca"], pki["server"]

    async def scenario() -> None:
        recorder = Recorder()
        context = server_context(server_cert.cert, server_cert.key)
        server = MLLPServer(recorder, host="127.0.0.1", port=0, ssl_context=context)
        tls = client_context(ca.cert_path)
        async with server, AsyncMLLPClient("127.0.0.1", server.port, ssl_context=tls) as client:
            assert await client.send(PAYLOAD) == b"ACK:TLS1"
        assert recorder.peers[0].tls is True
        assert recorder.peers[0].client_cert_subject is None

    run(scenario)


def test_client_refuses_a_server_whose_certificate_it_does_not_trust(pki):
    server_cert, stranger_ca = pki["server"], pki["rogue"]
    other_ca = stranger_ca.cert.parent / "stranger-ca.pem"

    async def scenario() -> None:
        recorder = Recorder()
        context = server_context(server_cert.cert, server_cert.key)
        async with MLLPServer(recorder, host="127.0.0.1", port=0, ssl_context=context) as server:
            client = AsyncMLLPClient("127.0.0.1", server.port, ssl_context=client_context(other_ca))
            with pytest.raises(ssl.SSLCertVerificationError):
                await client.send(PAYLOAD)
        assert recorder.peers == []

    run(scenario)


def test_mutual_tls_accepts_a_client_certificate_from_the_hospital_ca_and_reports_its_subject(pki):
    ca, server_cert, ehr = pki["ca"], pki["server"], pki["ehr"]

    async def scenario() -> None:
        recorder = Recorder()
        context = server_context(server_cert.cert, server_cert.key, ca=ca.cert_path)
        async with MLLPServer(recorder, host="127.0.0.1", port=0, ssl_context=context) as server:
            port = server.port

            def blocking_send() -> bytes:
                tls = client_context(ca.cert_path, ehr.cert, ehr.key)
                with MLLPClient("127.0.0.1", port, ssl_context=tls, timeout_s=10) as client:
                    return client.send(PAYLOAD)

            assert await asyncio.to_thread(blocking_send) == b"ACK:TLS1"
        assert recorder.peers[0].client_cert_subject == "commonName=ehr-sender"

    run(scenario)


def _refused(error: BaseException) -> bool:
    # TLS 1.3: the client finishes its handshake first and then sees an alert, a reset or a close.
    return isinstance(error, ssl.SSLError | ConnectionError | OSError | ConnectionClosedBeforeAck)


def test_mutual_tls_refuses_a_client_without_a_certificate(pki):
    ca, server_cert = pki["ca"], pki["server"]

    async def scenario() -> None:
        recorder = Recorder()
        context = server_context(server_cert.cert, server_cert.key, ca=ca.cert_path)
        async with MLLPServer(recorder, host="127.0.0.1", port=0, ssl_context=context) as server:
            client = AsyncMLLPClient("127.0.0.1", server.port, ssl_context=client_context(ca.cert_path))
            with pytest.raises(Exception) as caught:
                await client.send(PAYLOAD)
            assert _refused(caught.value), repr(caught.value)
            # the server is still fine for a proper client
            good = client_context(ca.cert_path, pki["ehr"].cert, pki["ehr"].key)
            async with AsyncMLLPClient("127.0.0.1", server.port, ssl_context=good) as ok:
                assert await ok.send(PAYLOAD) == b"ACK:TLS1"
        assert len(recorder.peers) == 1

    run(scenario)


def test_mutual_tls_refuses_a_client_certificate_from_another_ca(pki):
    ca, server_cert, rogue = pki["ca"], pki["server"], pki["rogue"]

    async def scenario() -> None:
        recorder = Recorder()
        context = server_context(server_cert.cert, server_cert.key, ca=ca.cert_path)
        async with MLLPServer(recorder, host="127.0.0.1", port=0, ssl_context=context) as server:
            tls = client_context(ca.cert_path, rogue.cert, rogue.key)
            client = AsyncMLLPClient("127.0.0.1", server.port, ssl_context=tls)
            with pytest.raises(Exception) as caught:
                await client.send(PAYLOAD)
            assert _refused(caught.value), repr(caught.value)
        assert recorder.peers == []

    run(scenario)


def test_server_context_refuses_a_key_that_does_not_match_the_certificate(pki):
    with pytest.raises(ssl.SSLError):
        server_context(pki["server"].cert, pki["ehr"].key)


def test_client_key_without_certificate_is_a_configuration_error(pki):
    with pytest.raises(ValueError):
        client_context(pki["ca"].cert_path, key=pki["ehr"].key)
