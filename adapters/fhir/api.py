"""The FHIR endpoints under `/fhir`, in one router so the specific paths are matched before `{type}`."""

from __future__ import annotations

from fastapi import APIRouter

from adapters.fhir import ingest, subscriptions, views

router = APIRouter()
for part in (subscriptions.router, ingest.router, views.router):
    router.include_router(part)
