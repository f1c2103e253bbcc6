"""A small EHR for the SMART App Launch tests, run as its own process: `python -m tests.smart_ehr --port N`.

It is what an EHR puts in front of a SMART app, no more: a FHIR base (`/fhir`) with
`.well-known/smart-configuration`, Patient/Encounter/Practitioner reads that need the launch's access
token, and an authorization server (`/auth/authorize`, `/auth/token`, `/auth/jwks`) that knows the
launches the test registered, checks the client id, redirect URI, `aud`, PKCE (S256 only) and a code's
single use, and answers with an RS256 ID token plus the launch context (`patient`, `encounter`). The EHR
user is already logged in to the EHR, so `authorize` approves at once, as EHRs do for a launch.

Test control (loopback only, no auth): `POST /_test/launch` registers a launch and returns its id;
`PUT /_test/resource` stores a FHIR resource; `GET /ehr?href=…` is a page with one link (the CDS card).
A launch registered with `"id_token_nonce"` gets an ID token carrying that nonce instead of the one the
app sent: the replay the app must refuse.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route


def build_app(*, base_url: str, client_id: str, redirect_uri: str, client_secret: str | None) -> Starlette:
    iss = f"{base_url}/fhir"
    key = RSAKey.generate_key(2048, parameters={"kid": "ehr-1", "alg": "RS256", "use": "sig"})
    launches: dict[str, dict[str, Any]] = {}
    codes: dict[str, dict[str, Any]] = {}
    tokens: dict[str, dict[str, Any]] = {}
    resources: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {"token_requests": 0, "fhir_reads": 0}

    def smart_configuration(request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": base_url,
                "jwks_uri": f"{base_url}/auth/jwks",
                "authorization_endpoint": f"{base_url}/auth/authorize",
                "token_endpoint": f"{base_url}/auth/token",
                "grant_types_supported": ["authorization_code"],
                "scopes_supported": ["openid", "fhirUser", "launch", "patient/*.read"],
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "capabilities": [
                    "launch-ehr",
                    "client-public",
                    "client-confidential-symmetric",
                    "sso-openid-connect",
                    "context-ehr-patient",
                    "context-ehr-encounter",
                    "permission-patient",
                ],
            }
        )

    def jwks(request: Request) -> Response:
        return JSONResponse({"keys": [key.as_dict(private=False)]})

    def refuse(message: str) -> Response:
        return HTMLResponse(f"<h1>EHR: launch refused</h1><p>{html.escape(message)}</p>", status_code=400)

    def authorize(request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != client_id:
            return refuse("unknown client")
        if q.get("redirect_uri") != redirect_uri:
            return refuse("redirect_uri not registered")
        if q.get("response_type") != "code":
            return refuse("response_type")
        if (q.get("aud") or "").rstrip("/") != iss:
            return refuse("aud is not this EHR's FHIR base")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return refuse("PKCE S256 required")
        launch = launches.get(q.get("launch") or "")
        if launch is None:
            return refuse("unknown launch")
        scopes = set((q.get("scope") or "").split())
        if not {"launch", "openid", "fhirUser"} <= scopes:
            return refuse("scope must hold launch openid fhirUser")
        code = secrets.token_urlsafe(24)
        codes[code] = {
            "launch": launch,
            "nonce": q.get("nonce"),
            "challenge": q.get("code_challenge"),
            "redirect_uri": q.get("redirect_uri"),
            "scope": q.get("scope"),
        }
        return RedirectResponse(
            f"{redirect_uri}?{urlencode({'code': code, 'state': q.get('state') or ''})}", status_code=302
        )

    def token_error(error: str) -> Response:
        return JSONResponse({"error": error}, status_code=400)

    async def token(request: Request) -> Response:
        seen["token_requests"] += 1
        form = await request.form()
        authorization = request.headers.get("authorization", "")
        if client_secret is not None:
            expected = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
            if authorization != f"Basic {expected}":
                return token_error("invalid_client")
        elif form.get("client_id") != client_id:
            return token_error("invalid_client")
        if form.get("grant_type") != "authorization_code":
            return token_error("unsupported_grant_type")
        grant = codes.pop(str(form.get("code") or ""), None)  # a code is used once
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return token_error("invalid_grant")
        verifier = str(form.get("code_verifier") or "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return token_error("invalid_grant")
        launch = grant["launch"]
        access_token = secrets.token_urlsafe(24)
        tokens[access_token] = {"patient": launch.get("patient"), "expires": time.time() + 300}
        user = launch["user"]
        now = int(time.time())
        claims = {
            "iss": base_url,
            "sub": user["sub"],
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": launch.get("id_token_nonce") or grant["nonce"],
            "fhirUser": user["fhirUser"],
            "name": user.get("name", ""),
        }
        id_token = jwt.encode({"alg": "RS256", "kid": "ehr-1"}, claims, key)
        answer: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": grant["scope"],
            "id_token": id_token,
            "need_patient_banner": False,
        }
        for name in ("patient", "encounter", "appContext"):
            if launch.get(name):
                answer[name] = launch[name]
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    def fhir_read(request: Request) -> Response:
        seen["fhir_reads"] += 1
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        grant = tokens.get(bearer)
        if grant is None or grant["expires"] < time.time():
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=401)
        found = resources.get(f"{request.path_params['type']}/{request.path_params['id']}")
        if found is None:
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=404)
        return JSONResponse(found, media_type="application/fhir+json")

    async def register_launch(request: Request) -> Response:
        body = await request.json()
        launch_id = secrets.token_urlsafe(12)
        launches[launch_id] = body
        return JSONResponse({"launch": launch_id, "iss": iss})

    async def put_resource(request: Request) -> Response:
        body = await request.json()
        resources[f"{body['resourceType']}/{body['id']}"] = body
        return Response(status_code=204)

    def stats(request: Request) -> Response:
        return JSONResponse(seen)

    def ehr_page(request: Request) -> Response:
        href = html.escape(request.query_params.get("href", ""), quote=True)
        return HTMLResponse(f'<!doctype html><title>EPD</title><a id="card" href="{href}">Open de casus</a>')

    return Starlette(
        routes=[
            Route("/fhir/.well-known/smart-configuration", smart_configuration),
            Route("/fhir/{type}/{id}", fhir_read),
            Route("/auth/authorize", authorize),
            Route("/auth/token", token, methods=["POST"]),
            Route("/auth/jwks", jwks),
            Route("/_test/launch", register_launch, methods=["POST"]),
            Route("/_test/resource", put_resource, methods=["PUT"]),
            Route("/_test/stats", stats),
            Route("/ehr", ehr_page),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--client-secret", default=None)
    parser.add_argument("--public-host", default="127.0.0.1", help="host in its URLs (it binds 127.0.0.1)")
    args = parser.parse_args()
    base_url = f"http://{args.public_host}:{args.port}"
    app = build_app(
        base_url=base_url,
        client_id=args.client_id,
        redirect_uri=args.redirect_uri,
        client_secret=args.client_secret,
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
