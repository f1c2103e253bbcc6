"""Test helpers for the FHIR and CDS Hooks tests: the gateway app on a real port, a recording EHR server.

`GatewayServer` runs `create_app(runtime)` under uvicorn in a thread on a free loopback port, so tests
talk real HTTP to it. `EhrFhirServer` stands in for the EHR's FHIR server: it serves the resources it
was given and records every request it got (method, path, headers, body).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn

from core.runtime import Runtime
from core.settings import Settings
from gateway.app import create_app
from tests.conftest import TEST_KEY
from tests.servers import free_port

API_TOKEN = "test-token-fhir"
# For requests to a GatewayServer: httpx gives up after 5 s by default, and a shared machine under a parallel
# run can take longer to answer (a ReadTimeout is then no finding about the gateway).
CLIENT_TIMEOUT_S = 30


def make_runtime(database_url: str, data_dir: Path, **settings: Any) -> Runtime:
    return Runtime.start(
        Settings(
            data_dir=data_dir,
            database_url=database_url,
            encryption_key=base64.b64encode(TEST_KEY).decode(),
            api_token=API_TOKEN,
            **settings,
        ),
        migrate=False,
    )


class GatewayServer:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(runtime), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> GatewayServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class EhrFhirServer:
    """A small real FHIR server: GET serves `resources["Type/id"]`, PUT/POST store and answer 201/200."""

    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    fail_next: int = 0  # answer this many requests with 503 first (to show retries)
    put_delay_s: float = 0.0  # a slow EHR: each PUT is answered this long after it arrived
    get_delay_s: float = 0.0  # a slow EHR: each GET is answered this long after it arrived
    puts_answered: list[float] = field(default_factory=list)  # time.monotonic() of each PUT's answer

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> Recorded:
                length = int(self.headers.get("Content-Length") or 0)
                rec = Recorded(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                owner.requests.append(rec)
                return rec

            def _send(self, status: int, body: dict[str, Any] | None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _failing(self) -> bool:
                if owner.fail_next > 0:
                    owner.fail_next -= 1
                    self._send(503, None)
                    return True
                return False

            def do_GET(self) -> None:
                rec = self._record()
                time.sleep(owner.get_delay_s)
                if self._failing():
                    return
                path = rec.path.split("?", 1)[0].strip("/").removeprefix("fhir/")
                resource = owner.resources.get(path)
                if resource is None and "?" in rec.path:
                    kind = path
                    found = [r for k, r in owner.resources.items() if k.startswith(kind + "/")]
                    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(found)}
                    if found:
                        bundle["entry"] = [{"resource": r} for r in found]
                    self._send(200, bundle)
                    return
                self._send(200 if resource else 404, resource)

            def do_PUT(self) -> None:
                rec = self._record()
                if self._failing():
                    return
                time.sleep(owner.put_delay_s)
                path = rec.path.strip("/").removeprefix("fhir/")
                existed = path in owner.resources
                owner.resources[path] = rec.json()
                self._send(200 if existed else 201, rec.json())
                owner.puts_answered.append(time.monotonic())

            def do_POST(self) -> None:
                rec = self._record()
                if self._failing():
                    return
                self._send(201, rec.json())

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"

    def __enter__(self) -> EhrFhirServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}"}
