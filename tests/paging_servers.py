"""Real servers for the paging tests, each recording everything it received:

- `SmsGateway`: a CM.com-compatible HTTP API (`POST /v1.0/message`, product token header). It takes each
  `reference` once (a repeated reference is answered as accepted and not sent again, as an idempotent
  provider does), can answer slowly, fail with 5xx *after* taking a message, and reject numbers.
- `SmtpServer`: aiosmtpd with STARTTLS required (a self-signed certificate made for the test), or
  without STARTTLS to prove we refuse to send in clear.
- `WebhookReceiver`: verifies Standard Webhooks signatures (the `standardwebhooks` library) and drops a
  repeated `webhook-id`.
- `FhirServer`: takes `POST /Communication` with `If-None-Exist` (a conditional create).
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class _Server:
    """A threaded HTTP server on a free loopback port; `handle(handler)` answers each request."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                owner.handle(self)

            do_PUT = do_POST
            do_GET = do_POST

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default 5 drops bursts of connections (1 s SYN retries)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @staticmethod
    def body(request: BaseHTTPRequestHandler) -> bytes:
        length = int(request.headers.get("Content-Length") or 0)
        return request.rfile.read(length) if length else b""

    @staticmethod
    def answer(
        request: BaseHTTPRequestHandler, status: int, body: Any, content_type: str = "application/json"
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Sms:
    reference: str
    to: str
    text: str
    at: float


@dataclass
class SmsGateway(_Server):
    token: str = "test-product-token"
    delay_s: float = 0.0
    slow_numbers: set[str] = field(default_factory=set)
    fail_after_accept: int = 0  # how many (new) messages get a 503 *after* being taken
    reject_numbers: set[str] = field(default_factory=set)
    down: bool = False  # answer 503 without taking anything

    def __post_init__(self) -> None:
        super().__init__()
        self.accepted: dict[str, Sms] = {}  # reference → the one message sent for it
        self.posts: list[dict[str, Any]] = []  # every request body as received (duplicates too)
        self.raw: list[bytes] = []

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        raw = self.body(request)
        with self.lock:
            self.raw.append(raw)
        if request.path != "/v1.0/message" or request.headers.get("X-CM-PRODUCTTOKEN") != self.token:
            self.answer(request, 401, {"errorCode": 101, "details": "unknown product token"})
            return
        if self.down:
            self.answer(request, 503, {"details": "down"})
            return
        body = json.loads(raw)
        with self.lock:
            self.posts.append(body)
        statuses = []
        failed_after = False
        for msg in body["messages"]["msg"]:
            number = msg["to"][0]["number"]
            if number in self.slow_numbers or self.delay_s:
                time.sleep(max(self.delay_s, 2.0 if number in self.slow_numbers else 0.0))
            if number in self.reject_numbers:
                statuses.append({"to": number, "status": "Rejected", "reference": msg["reference"]})
                continue
            with self.lock:
                new = msg["reference"] not in self.accepted
                if new:
                    self.accepted[msg["reference"]] = Sms(
                        msg["reference"], number, msg["body"]["content"], time.time()
                    )
                    if self.fail_after_accept > 0:
                        self.fail_after_accept -= 1
                        failed_after = True
            statuses.append({"to": number, "status": "Accepted", "reference": msg["reference"], "parts": 1})
        if failed_after:
            self.answer(request, 503, {"details": "internal error"})
            return
        self.answer(
            request,
            200,
            {"details": f"Created {len(statuses)} message(s)", "errorCode": 0, "messages": statuses},
        )

    def to(self, number: str) -> list[Sms]:
        with self.lock:
            return [m for m in self.accepted.values() if m.to == number]

    def texts(self) -> list[str]:
        with self.lock:
            return [m.text for m in self.accepted.values()]


def self_signed(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class SmtpServer:
    """aiosmtpd on loopback; STARTTLS required unless `starttls=False`. `messages` holds what it got."""

    def __init__(self, *, starttls: bool = True, user: str = "pager", password: str = "secret") -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.dir = Path(tempfile.mkdtemp(prefix="spoedplein-smtp-"))
        self.cert, key = self_signed(self.dir)
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.tls_used: list[bool] = []
        self.user, self.password = user, password
        owner = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                owner.messages.append(message_from_bytes(envelope.content))
                owner.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                owner.tls_used.append(session.ssl is not None)
                return "250 OK"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == user
                and data.password.decode() == password
            )
            return AuthResult(success=ok)

        context = None
        if starttls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.cert), str(key))
        from tests.servers import free_port

        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="localhost",
            tls_context=context,
            require_starttls=starttls,
            authenticator=authenticator,
            auth_require_tls=starttls,
            auth_exclude_mechanism=["CRAM-MD5"],
        )
        self.controller.start()

    def url(self) -> str:
        return f"smtp://{self.user}:{self.password}@localhost:{self.port}"

    def stop(self) -> None:
        if self.controller.server is not None:
            self.controller.stop()


class WebhookReceiver(_Server):
    """Verifies each call as a Standard Webhooks receiver would; keeps the valid ones, once per id."""

    def __init__(self, secret: str) -> None:
        from standardwebhooks.webhooks import Webhook

        super().__init__()
        self.webhook = Webhook(secret)
        self.received: dict[str, dict[str, Any]] = {}
        self.received_at: dict[str, float] = {}
        self.refused: list[str] = []
        self.calls = 0

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        from standardwebhooks.webhooks import WebhookVerificationError

        raw = self.body(request)
        headers = {k: v for k, v in request.headers.items()}
        with self.lock:
            self.calls += 1
        try:
            payload = self.webhook.verify(raw, headers)
        except WebhookVerificationError as exc:
            with self.lock:
                self.refused.append(str(exc))
            self.answer(request, 400, {"error": "signature"})
            return
        with self.lock:
            self.received.setdefault(headers["webhook-id"], payload)
            self.received_at.setdefault(headers["webhook-id"], time.time())
        self.answer(request, 204, b"")


class FhirServer(_Server):
    """`POST /Communication`: created once per identifier (If-None-Exist), 200 for a repeat."""

    def __init__(self) -> None:
        super().__init__()
        self.created: dict[str, dict[str, Any]] = {}
        self.posts = 0

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        raw = self.body(request)
        if request.path != "/fhir/Communication":
            self.answer(request, 404, {"resourceType": "OperationOutcome"})
            return
        condition = request.headers.get("If-None-Exist", "")
        resource = json.loads(raw)
        with self.lock:
            self.posts += 1
            if condition in self.created:
                existing = self.created[condition]
                self.answer(request, 200, existing, "application/fhir+json")
                return
            resource["id"] = str(len(self.created) + 1)
            self.created[condition] = resource
        self.answer(request, 201, resource, "application/fhir+json")
