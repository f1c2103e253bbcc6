"""CORS for the CDS Hooks endpoints only: browser-based CDS clients (e.g. a sandbox) may call them from the
origins in `SPOEDPLEIN_CDS_CORS_ORIGINS`; every other path of the gateway stays same-origin."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/cds-services"


class CdsCors:
    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
