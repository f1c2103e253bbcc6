"""The FHIR endpoints under `/fhir`, in one router so the specific paths (`/fhir/metadata`, the
subscription hook) are matched before `{type}`."""

from __future__ import annotations

from fastapi import APIRouter

from adapters.fhir import conventions, ingest, subscriptions, views

router = APIRouter()
for part in (conventions.router, subscriptions.router, ingest.router, views.router):
    router.include_router(part)
