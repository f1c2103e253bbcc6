"""When the store cannot commit, the sender gets AR with error 207 and no positive ACK; later, it recovers."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import AsyncMLLPClient
from adapters.hl7.receiver import HL7Receiver
from adapters.hl7.server import MLLPServer
from store.crypto import FieldCipher
from store.db import Database, make_engine
from store.group_commit import GroupCommitWriter
from tests.conftest import TEST_KEY, new_postgres_database
from tests.servers import PostgresServer

MESSAGE = "MSH|^~\\&|HIX|ETZ|SP|ETZ|20261123||ADT^A04|{cid}|P|2.5\rPID|1||1^^^ETZ^PI\r"


def test_store_outage_gives_ar_207_and_a_resend_after_recovery_is_accepted(
    postgres_server: PostgresServer,
) -> None:
    url = new_postgres_database(postgres_server)
    name = url.rsplit("/", 1)[1]
    db = Database(make_engine(url))
    writer = GroupCommitWriter(db, FieldCipher(TEST_KEY))
    receiver = HL7Receiver(
        writer, default_charset="UTF-8", timezone="Europe/Amsterdam", max_message_bytes=1 << 20
    )

    async def scenario() -> tuple[str, str, str]:
        async with MLLPServer(receiver.handle, port=0) as server:
            async with AsyncMLLPClient("127.0.0.1", server.port) as client:
                before = parse_ack(await client.send(MESSAGE.format(cid="UP-1").encode()))
                postgres_server.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
                postgres_server.execute(
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                )
                during = parse_ack(await client.send(MESSAGE.format(cid="DOWN-1").encode()))
                assert during.errors[0].code == "207"
                postgres_server.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
                after = parse_ack(await client.send(MESSAGE.format(cid="DOWN-1").encode()))
                return before.code, during.code, after.code

    try:
        assert asyncio.run(scenario()) == ("AA", "AR", "AA")
        with db.read() as session:
            ids = [
                row[0] for row in session.execute(text("SELECT control_id FROM inbox_message ORDER BY id"))
            ]
        assert ids == ["UP-1", "DOWN-1"]
    finally:
        writer.close()
        db.dispose()
