"""Identity providers for the login tests, each a real process on a free loopback port.

`OidcProvider`: the hospital's OpenID Connect provider, PyPI's `oidc-provider-mock` (authorization code
flow, RS256 ID tokens, JWKS, discovery; nonce required). Users and their claims are set with
`put_user`; in the browser the test types the subject on the provider's form and clicks Authorize.

`SmartEhr`: the EHR of a SMART App Launch (`tests/smart_ehr.py`): FHIR base, SMART configuration and an
authorization server that answers with the launch context.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def _wait_until(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class OidcProvider:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        # `localhost`, not the gateway's 127.0.0.1: the provider is another site, as in a hospital, so the
        # browser applies its cross-site cookie rules on the way back.
        self.url = f"http://localhost:{self.port}"
        self.log = log_dir / "oidc-provider.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "oidc_provider_mock",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--require-nonce",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_until(f"{self.url}/.well-known/openid-configuration", self.proc, self.log)

    def put_user(self, sub: str, claims: dict[str, Any]) -> None:
        response = httpx.put(f"{self.url}/users/{quote(sub, safe='')}", json=claims, timeout=5)
        assert response.status_code == 204, response.text

    def stop(self) -> None:
        _stop(self.proc)


class SmartEhr:
    def __init__(
        self, log_dir: Path, *, client_id: str, redirect_uri: str, client_secret: str | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"  # another site than the gateway (see OidcProvider)
        self.iss = f"{self.url}/fhir"
        self.log = log_dir / "smart-ehr.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.smart_ehr",
                    "--port",
                    str(self.port),
                    "--client-id",
                    client_id,
                    "--redirect-uri",
                    redirect_uri,
                    "--public-host",
                    "localhost",
                    *(["--client-secret", client_secret] if client_secret else []),
                ],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_until(f"{self.iss}/.well-known/smart-configuration", self.proc, self.log)

    def put(self, resource: dict[str, Any]) -> None:
        assert httpx.put(f"{self.url}/_test/resource", json=resource, timeout=5).status_code == 204

    def register_launch(self, **context: Any) -> str:
        """A launch the EHR knows (patient, encounter, user, …); returns its opaque id."""
        response = httpx.post(f"{self.url}/_test/launch", json=context, timeout=5)
        response.raise_for_status()
        return str(response.json()["launch"])

    def stats(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.url}/_test/stats", timeout=5).json())

    def page_with_link(self, href: str) -> str:
        return f"{self.url}/ehr?href={quote(href, safe='')}"

    def stop(self) -> None:
        _stop(self.proc)
