"""The pager's HTTP surface: who is on call, roster overrides and absences, pages (bearer token), and the
SMS provider's webhooks (delivery reports, replies; a shared secret in the URL).

Webhooks answer 200 as soon as the report is recorded (one short transaction), and a repeated report
changes nothing, so a provider that retries does no harm. A webhook call without the right secret gets
403 and changes nothing.
"""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from core.deps import ReadSession, RuntimeDep, WriteSession
from identity.deps import CurrentPrincipalDep
from notifications import service
from notifications.config import paging_config
from notifications.models import Page, RosterChange

router = APIRouter(tags=["paging"])


def _problem(status_code: int, field: str, message: str) -> HTTPException:
    return HTTPException(status_code, detail=[{"loc": ["body", field], "msg": message, "type": "roster"}])


class OnCall(BaseModel):
    role: str
    name: str
    on_call: list[str]
    backup: list[str]
    team_lead: list[str]


@router.get("/api/oncall", response_model=list[OnCall], summary="Who is on call (now, or at `at`)")
def get_oncall(
    session: ReadSession,
    runtime: RuntimeDep,
    _caller: CurrentPrincipalDep,
    at: datetime | None = None,
    role: str | None = None,
) -> list[OnCall]:
    config = paging_config(runtime)
    when = at or runtime.clock.now()
    if when.tzinfo is None:
        when = when.replace(tzinfo=config.roster.zone)
    roles = config.roster.document.roles
    if role is not None and role not in roles:
        raise HTTPException(
            404, detail=[{"loc": ["query", "role"], "msg": f"no role {role!r}", "type": "roster"}]
        )
    overrides, absences = service.roster_changes(session, now=when)
    return [
        OnCall(
            role=name,
            name=spec.name,
            on_call=config.roster.on_call(name, when, overrides=overrides, absences=absences),
            backup=config.roster.backups(name, when, absences=absences),
            team_lead=config.roster.team_lead(name, when, absences=absences),
        )
        for name, spec in roles.items()
        if role is None or name == role
    ]


class ChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person: str = Field(min_length=1, max_length=200, description="a person id of the roster")
    start: datetime
    end: datetime
    reason: str = Field(default="", max_length=200)

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the time with its offset (2026-12-24T08:00:00+01:00)")
        return value


class OverrideBody(ChangeBody):
    role: str = Field(min_length=1, max_length=64)


class ChangeRead(BaseModel):
    id: int
    kind: Literal["override", "absence"]
    role: str
    person: str
    start: datetime
    end: datetime
    reason: str
    created_by: str


def _read(row: RosterChange) -> ChangeRead:
    return ChangeRead(
        id=row.id,
        kind="override" if row.kind == "override" else "absence",
        role=row.role,
        person=row.person,
        start=row.starts_at,
        end=row.ends_at,
        reason=row.reason,
        created_by=row.created_by,
    )


def _add(session: Any, runtime: Any, caller: Any, body: ChangeBody, kind: str, role: str = "") -> ChangeRead:
    """The same checks as the roster file's: a known person (and role), the end after the start."""
    roster = paging_config(runtime).roster
    if roster.person(body.person) is None:
        raise _problem(422, "person", f"{body.person!r} is not one of the roster's people")
    if kind == "override" and role not in roster.document.roles:
        raise _problem(422, "role", f"no role {role!r}")
    if body.end <= body.start:
        raise _problem(422, "end", "must be after start")
    row = RosterChange(
        kind=kind,
        role=role,
        person=body.person,
        starts_at=body.start,
        ends_at=body.end,
        reason=body.reason,
        created_by=caller.actor,
        created_at=runtime.clock.now(),
    )
    session.add(row)
    session.flush()
    return _read(row)


@router.get("/api/roster/changes", response_model=list[ChangeRead], summary="Overrides and absences in force")
def list_changes(session: ReadSession, runtime: RuntimeDep, _caller: CurrentPrincipalDep) -> list[ChangeRead]:
    rows = session.execute(
        select(RosterChange)
        .where(RosterChange.deleted_at.is_(None), RosterChange.ends_at > runtime.clock.now())
        .order_by(RosterChange.starts_at)
    ).scalars()
    return [_read(row) for row in rows]


@router.post("/api/roster/overrides", response_model=ChangeRead, status_code=201, summary="Add an override")
def add_override(
    body: OverrideBody, session: WriteSession, runtime: RuntimeDep, caller: CurrentPrincipalDep
) -> ChangeRead:
    return _add(session, runtime, caller, body, "override", body.role)


@router.post("/api/roster/absences", response_model=ChangeRead, status_code=201, summary="Add an absence")
def add_absence(
    body: ChangeBody, session: WriteSession, runtime: RuntimeDep, caller: CurrentPrincipalDep
) -> ChangeRead:
    return _add(session, runtime, caller, body, "absence")


@router.delete("/api/roster/changes/{change_id}", status_code=204, summary="Remove an override or absence")
def delete_change(
    change_id: int, session: WriteSession, runtime: RuntimeDep, _caller: CurrentPrincipalDep
) -> Response:
    row = session.get(RosterChange, change_id) if 1 <= change_id < 2**63 else None
    if row is None or row.deleted_at is not None:
        raise HTTPException(
            404, detail=[{"loc": ["path", "change_id"], "msg": "no such change", "type": "roster"}]
        )
    row.deleted_at = runtime.clock.now()
    return Response(status_code=204)


@router.get("/api/pages", summary="Pages (of a case), newest first")
def list_pages(
    session: ReadSession,
    _caller: CurrentPrincipalDep,
    case_id: int | None = None,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    query = select(Page).order_by(Page.id.desc()).limit(limit)
    if case_id is not None:
        query = query.where(Page.case_id == case_id)
    if state is not None:
        query = query.where(Page.state == state)
    return [service.page_summary(session, page) for page in session.execute(query).scalars()]


@router.get("/api/pages/{page_id}", summary="One page: policy, steps, recipients and answers, attempts")
def get_page(page_id: int, session: ReadSession, _caller: CurrentPrincipalDep) -> dict[str, Any]:
    page = session.get(Page, page_id) if 1 <= page_id < 2**63 else None
    if page is None:
        raise HTTPException(
            404, detail=[{"loc": ["path", "page_id"], "msg": f"no page {page_id}", "type": "paging"}]
        )
    return service.page_summary(session, page)


# --- the SMS provider's webhooks ------------------------------------------------------------------------


async def _webhook_input(request: Request, runtime: Any, secret: str) -> tuple[dict[str, str], Any]:
    expected = runtime.settings.sms_webhook_secret
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise HTTPException(403, detail="unknown webhook")
    params = {k: v for k, v in request.query_params.items() if k.lower() != "secret"}
    body: Any = None
    raw = await request.body()
    if raw:
        content_type = request.headers.get("content-type", "")
        if "json" in content_type:
            try:
                body = json.loads(raw)
            except ValueError:
                raise HTTPException(400, detail="the body is not JSON") from None
        elif "form" in content_type:
            form = await request.form()
            params.update({k: str(v) for k, v in form.items()})
    return params, body


# Providers call a webhook with GET or POST; one operation id per method keeps the OpenAPI schema valid
# (clients and schemathesis key operations by it).
@router.get("/webhooks/sms/reports", summary="SMS delivery reports", operation_id="sms_reports_get")
@router.post("/webhooks/sms/reports", summary="SMS delivery reports", operation_id="sms_reports_post")
async def sms_reports(request: Request, runtime: RuntimeDep, secret: str = "") -> Response:
    params, body = await _webhook_input(request, runtime, secret)
    config = paging_config(runtime)
    if config.sms is None:
        raise HTTPException(404, detail="no SMS provider configured")
    reports = config.sms.delivery_reports(params, body)
    provider = config.sms.name

    def record() -> None:
        now = runtime.clock.now()
        with runtime.db.write() as session:
            for report in reports:
                service.record_report(session, runtime, provider, report, now=now)

    await run_in_threadpool(record)  # the database is synchronous: keep it off the event loop
    return Response("OK", media_type="text/plain")


@router.get(
    "/webhooks/sms/inbound", summary="SMS replies (OK 4821, NEE 4821)", operation_id="sms_inbound_get"
)
@router.post(
    "/webhooks/sms/inbound", summary="SMS replies (OK 4821, NEE 4821)", operation_id="sms_inbound_post"
)
async def sms_inbound(request: Request, runtime: RuntimeDep, secret: str = "") -> Response:
    params, body = await _webhook_input(request, runtime, secret)
    config = paging_config(runtime)
    if config.sms is None:
        raise HTTPException(404, detail="no SMS provider configured")
    messages = config.sms.inbound_messages(params, body)
    provider = config.sms.name

    def record() -> None:
        now = runtime.clock.now()
        with runtime.db.write() as session:
            for message in messages:
                service.record_inbound(session, runtime, provider, message, now=now)

    await run_in_threadpool(record)
    return Response("OK", media_type="text/plain")
