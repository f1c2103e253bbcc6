"""The pager: start a page with its policy frozen, fire escalation steps, deliver messages, take delivery
reports and answers, escalate at once on non-delivery or a decline, stand a page down.

Everything is a row with a due time and a token (ARCHITECTURE.md): a step fires once (token-guarded
UPDATE), an attempt is claimed once per try (a fresh claim token), a delivery report or an inbound reply
is recorded once (a dedupe key). The time is the runtime's clock, passed in as `now`.

The functions here run inside the caller's transaction, except `deliver`, which talks to the outside
world between two short transactions of its own (claim, then record), so no lock is held while a
provider answers.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consent.models import Party
from consent.service import DisclosureField, decide_disclosure
from notifications import links, texts
from notifications.channels.base import Attachment, OutboundMessage, Outcome, SendResult
from notifications.channels.sms import DeliveryReportIn, InboundSms, ReportStatus
from notifications.config import PagingConfig, paging_config
from notifications.hooks import PageEvent, PageEventKind, hooks
from notifications.models import (
    ATTEMPT_FINAL,
    ATTEMPT_REACHED,
    MELDING_AAD,
    Answer,
    AttemptState,
    DeliveryReport,
    InboundReply,
    Melding,
    Page,
    PageAttempt,
    PagePurpose,
    PageRecipient,
    PageState,
    PageStep,
    RosterChange,
    StepState,
    Urgency,
)
from notifications.roster import Absence, ChannelName, Override, Roster, local_instant
from store import audit
from store.db import Database, claim_rows
from store.outbox import enqueue, enqueue_many

log = logging.getLogger(__name__)

DELIVER = "notify.deliver"
FIRE_STEP = "notify.fire_step"
MAX_TRIES = 4  # per attempt; then the next channel
SENDING_STALE = timedelta(minutes=2)  # a claim older than this died with its worker: the auditor re-drives
MELDING_PERSON = "veilig-thuis-melding"  # the recipient of the melding e-mail (not a roster person)
ACTOR = "spoedplein-pager"


def _token() -> str:
    return secrets.token_hex(16)


def retry_delay(tries: int, urgency: str) -> timedelta:
    """Back-off between tries of one attempt: 2, 4, 8 s for an emergency, 30 s, 1, 2 min otherwise."""
    if urgency == Urgency.EMERGENCY:
        return timedelta(seconds=min(2**tries, 30))
    return timedelta(seconds=min(30 * 2 ** (tries - 1), 600))


# --- roster changes from the API ------------------------------------------------------------------------


def roster_changes(session: Session, *, now: datetime) -> tuple[list[Override], list[Absence]]:
    """The overrides and absences entered through the API that have not ended yet."""
    rows = session.execute(
        select(RosterChange).where(RosterChange.deleted_at.is_(None), RosterChange.ends_at > now)
    ).scalars()
    overrides, absences = [], []
    for row in rows:
        if row.kind == "override":
            overrides.append(
                Override(
                    role=row.role, person=row.person, start=row.starts_at, end=row.ends_at, reason=row.reason
                )
            )
        else:
            absences.append(
                Absence(person=row.person, start=row.starts_at, end=row.ends_at, reason=row.reason)
            )
    return overrides, absences


def who_is_on_call(session: Session, roster: Roster, role: str, at: datetime) -> list[str]:
    overrides, absences = roster_changes(session, now=at)
    return roster.on_call(role, at, overrides=overrides, absences=absences)


# --- starting a page ------------------------------------------------------------------------------------


def _event(page: Page, kind: PageEventKind, code: str, key: str, **detail: Any) -> PageEvent | None:
    """The timeline entry for a page event; None for a page without a case."""
    if page.case_id is None:
        return None
    return PageEvent(
        case_id=page.case_id,
        kind=kind,
        code=code[:64],
        detail=detail or None,
        dedupe_key=key,
        warning=kind
        in (PageEventKind.PAGE_FAILED, PageEventKind.PAGE_EXHAUSTED, PageEventKind.PAGE_DECLINED),
    )


def _events(
    session: Session, runtime: Any, page: Page, kind: PageEventKind, code: str, key: str, **detail: Any
) -> None:
    event = _event(page, kind, code, key, **detail)
    if event is not None:
        hooks().events(session, runtime.cipher, [event])


def frozen_policy(roster: Roster, role: str) -> dict[str, Any]:
    spec = roster.role(role)
    return {
        "role": role,
        "role_name": spec.name,
        "acknowledge": spec.acknowledge.value,
        "steps": [
            {
                "notify": list(step.notify),
                "channels": [c.value for c in step.channels],
                "wait_s": step.wait.total_seconds(),
                "repeat": step.repeat,
            }
            for step in spec.escalation
        ],
    }


@dataclass(frozen=True)
class PageRequest:
    """What `start_pages` needs to start one page (its `key` makes the start idempotent)."""

    key: str
    purpose: PagePurpose
    role: str
    case_id: int | None = None
    case_reference: str = ""
    party: str = ""
    reason: str = ""
    urgency: Urgency = Urgency.EMERGENCY
    policy: dict[str, Any] | None = None
    info: dict[str, Any] | None = None


def start_page(
    session: Session,
    runtime: Any,
    *,
    key: str,
    purpose: PagePurpose,
    role: str,
    now: datetime,
    case_id: int | None = None,
    case_reference: str = "",
    party: str = "",
    reason: str = "",
    urgency: Urgency = Urgency.EMERGENCY,
    policy: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
) -> Page:
    """Create the page (once per `key`) with the role's escalation policy frozen on it, and fire its
    first step at once. A later edit of the roster does not change a running page."""
    request = PageRequest(
        key=key,
        purpose=purpose,
        role=role,
        case_id=case_id,
        case_reference=case_reference,
        party=party,
        reason=reason,
        urgency=urgency,
        policy=policy,
        info=info,
    )
    (page,) = start_pages(session, runtime, [request], now=now)
    return page


def start_pages(
    session: Session,
    runtime: Any,
    requests: Sequence[PageRequest],
    *,
    now: datetime,
    disclosure_checked: bool = False,
) -> list[Page]:
    """`start_page` for many at once, set-based: the pages, their first steps, recipients, attempts and
    work items are each written with one statement for the whole batch (a burst of 200 cases pages 600
    parties; one round trip per row would take seconds). Returns the page of each request, in order; a
    key that exists already returns its page and starts nothing. `disclosure_checked`: the caller decided
    the disclosure of each intake page's case reference in this transaction (the first step need not
    decide it again)."""
    if not requests:
        return []
    found = {
        page.key: page
        for page in session.execute(select(Page).where(Page.key.in_([r.key for r in requests]))).scalars()
    }
    config = paging_config(runtime)
    new: list[Page] = []
    for request in requests:
        if request.key in found:
            continue
        page = Page(
            key=request.key,
            purpose=request.purpose.value,
            case_id=request.case_id,
            case_reference=request.case_reference,
            party=request.party,
            role=request.role,
            reason=request.reason,
            urgency=request.urgency.value,
            state=PageState.ACTIVE.value,
            policy=request.policy
            if request.policy is not None
            else frozen_policy(config.roster, request.role),
            info=request.info or {},
            created_at=now,
        )
        found[request.key] = page
        new.append(page)
    if new:
        session.add_all(new)
        session.flush()
        steps = [
            PageStep(page_id=page.id, step_index=0, round=0, due_at=now, token=_token(), why="start")
            for page in new
        ]
        session.add_all(steps)
        session.flush()
        fire_steps(
            session,
            runtime,
            [(step.id, step.token) for step in steps],
            now=now,
            config=config,
            disclosed={page.id for page in new} if disclosure_checked else None,
        )
    return [found[request.key] for request in requests]


def suppress(
    session: Session,
    runtime: Any,
    *,
    key: str,
    case_id: int,
    case_reference: str,
    party: str,
    reason: str,
    why: str,
    now: datetime,
) -> Page:
    """Record a page that was not sent because no disclosure ground existed when the work ran."""
    existing = session.execute(select(Page).where(Page.key == key)).scalar_one_or_none()
    if existing is not None:
        return existing
    page = Page(
        key=key,
        purpose=PagePurpose.INTAKE.value,
        case_id=case_id,
        case_reference=case_reference,
        party=party,
        role=party,
        reason=reason,
        state=PageState.SUPPRESSED.value,
        state_reason=why[:200],
        policy={},
        info={},
        created_at=now,
        closed_at=now,
    )
    session.add(page)
    session.flush()
    _events(session, runtime, page, PageEventKind.PAGE_SUPPRESSED, party, f"page:{page.id}:suppressed")
    return page


# --- firing escalation steps ----------------------------------------------------------------------------


def _next_step(page: Page, step: PageStep) -> tuple[int, int, timedelta] | None:
    """(step_index, round, wait) of what follows `step` in the frozen policy; None after an informational
    page's only step. After the last step comes one more row (index = len(steps)): when it fires, the
    policy is exhausted."""
    steps = page.policy.get("steps", [])
    if step.step_index >= len(steps) or page.purpose not in (PagePurpose.INTAKE, PagePurpose.ALERT):
        return None
    spec = steps[step.step_index]
    wait = timedelta(seconds=float(spec["wait_s"]))
    if step.round < int(spec.get("repeat", 0)):
        return step.step_index, step.round + 1, wait
    return step.step_index + 1, 0, wait


def _reply_codes(session: Session, people: set[str]) -> dict[str, set[str]]:
    """The reply codes each person holds on active pages (a new code must differ from all of them)."""
    taken: dict[str, set[str]] = {person: set() for person in people}
    if people:
        rows = session.execute(
            select(PageRecipient.person, PageRecipient.reply_code)
            .join(Page, Page.id == PageRecipient.page_id)
            .where(PageRecipient.person.in_(people), Page.state == PageState.ACTIVE)
        )
        for person, code in rows:
            taken[person].add(code)
    return taken


def _new_code(taken: set[str]) -> str:
    """Four digits not in `taken` (so `OK 4821` names one page); the code is added to `taken`."""
    while True:
        code = f"{secrets.randbelow(9000) + 1000}"
        if code not in taken:
            taken.add(code)
            return code


def _reply_code(session: Session, person: str) -> str:
    """Four digits, unique among the person's active pages."""
    return _new_code(_reply_codes(session, {person})[person])


RosterChanges = tuple[list[Override], list[Absence]]


def _recipients(
    config: PagingConfig, page: Page, spec: dict[str, Any], now: datetime, changes: RosterChanges
) -> list[tuple[str, str]]:
    """(role, person) the step reaches now: the roster (with API overrides and absences) for intake and
    alert pages, the people named on the page for informational ones."""
    if page.purpose in (PagePurpose.INTAKE_TIME, PagePurpose.WATCHDOG):
        return [(str(r), str(p)) for r, p in page.info.get("people", [])]
    if page.purpose == PagePurpose.MELDING:
        return [("veilig_thuis", MELDING_PERSON)]
    overrides, absences = changes
    found: list[tuple[str, str]] = []
    for target in spec["notify"]:
        role, people = config.roster.targets(page.role, target, now, overrides=overrides, absences=absences)
        found.extend((role, person) for person in people)
    return list(dict.fromkeys(found))


def _address(config: PagingConfig, page: Page, person: str, channel: ChannelName) -> str | None:
    if page.purpose == PagePurpose.MELDING:
        return config.settings.melding_email if channel is ChannelName.EMAIL else None
    found = config.roster.person(person)
    return found.address(channel) if found is not None else None


def _make_attempt(
    config: PagingConfig,
    page: Page,
    step: PageStep,
    person: str,
    channels: Sequence[str],
    start_index: int,
    used: set[str],
    now: datetime,
) -> PageAttempt | None:
    """A message to `person` on the first usable channel from `start_index` on that is not in `used`
    (the channels this step has used for them); None if there is none. Not added to the session."""
    for index in range(start_index, len(channels)):
        channel = ChannelName(channels[index])
        address = _address(config, page, person, channel)
        if not address or channel not in config.channels or channel.value in used:
            continue
        return PageAttempt(
            page_id=page.id,
            step_id=step.id,
            person=person,
            channel=channel.value,
            channel_index=index,
            address=address,
            reference=f"sp{page.id}s{step.id}{secrets.token_hex(6)}",
            state=AttemptState.QUEUED.value,
            created_at=now,
        )
    return None


def _queue(session: Session, attempts: Sequence[PageAttempt]) -> None:
    """Write the attempts and the work that sends them (run at once by the worker that wrote them)."""
    if not attempts:
        return
    session.add_all(attempts)
    session.flush()
    enqueue_many(
        session,
        topic=DELIVER,
        items=[(f"deliver:{a.id}:try1", {"attempt_id": a.id}) for a in attempts],
        eager=True,
    )


def _new_attempt(
    session: Session,
    config: PagingConfig,
    page: Page,
    step: PageStep,
    person: str,
    channels: Sequence[str],
    start_index: int,
    now: datetime,
) -> PageAttempt | None:
    """Queue a message to `person` on the first usable channel from `start_index` on that this step has
    not used for them yet; None if there is none."""
    used = set(
        session.execute(
            select(PageAttempt.channel).where(PageAttempt.step_id == step.id, PageAttempt.person == person)
        ).scalars()
    )
    attempt = _make_attempt(config, page, step, person, channels, start_index, used, now)
    if attempt is not None:
        _queue(session, [attempt])
    return attempt


def _disclosure_allowed(session: Session, page: Page, field: DisclosureField) -> tuple[bool, str]:
    if page.case_id is None or not page.party:
        return True, ""
    decision = decide_disclosure(session, case_id=page.case_id, party=Party(page.party), field=field)
    return decision.allowed, decision.reason


def fire_step(
    session: Session,
    runtime: Any,
    step_id: int,
    token: str,
    *,
    now: datetime,
    config: PagingConfig | None = None,
) -> bool:
    """Fire one escalation step if its token still holds; True if this call acted (see `fire_steps`)."""
    return fire_steps(session, runtime, [(step_id, token)], now=now, config=config) == 1


def fire_steps(
    session: Session,
    runtime: Any,
    claims: Sequence[tuple[int, str]],
    *,
    now: datetime,
    config: PagingConfig | None = None,
    disclosed: set[int] | None = None,
) -> int:
    """Fire the escalation steps whose (id, token) still hold; returns how many acted. An intake page
    may still show its case reference (a revoked consent suppresses it), unless its id is in `disclosed`
    (decided in this transaction already).

    Each step reaches the people it names (who is on call *now*), queues one message each on the first
    channel they can be reached by, and schedules the step after it. A step that reaches nobody moves on
    at once; the row after the last step marks the page exhausted and alerts the coordinator. The whole
    batch takes a fixed number of statements (the rows of all steps are written together).
    """
    if not claims:
        return 0
    tokens = dict(claims)
    pending = session.execute(
        select(PageStep.id, PageStep.token).where(
            PageStep.id.in_(list(tokens)), PageStep.state == StepState.PENDING
        )
    )
    matching = [step_id for step_id, token in pending if tokens[step_id] == token]
    if not matching:
        return 0
    # The state guard makes the claim once-only even against a concurrent tick (RETURNING: only the rows
    # this statement moved from pending to fired are ours).
    fired = list(
        session.execute(
            update(PageStep)
            .where(PageStep.id.in_(matching), PageStep.state == StepState.PENDING)
            .values(state=StepState.FIRED.value, fired_at=now)
            .returning(PageStep.id)
        ).scalars()
    )
    if not fired:
        return 0
    steps = list(
        session.execute(select(PageStep).where(PageStep.id.in_(fired)).order_by(PageStep.id)).scalars()
    )
    pages = {
        page.id: page
        for page in session.execute(select(Page).where(Page.id.in_({s.page_id for s in steps}))).scalars()
    }
    config = config or paging_config(runtime)
    acted = 0
    work: list[tuple[PageStep, Page, dict[str, Any]]] = []
    for step in steps:
        page = pages.get(step.page_id)
        if page is None or page.state != PageState.ACTIVE:
            continue
        acted += 1
        policy_steps = page.policy.get("steps") or [
            {"notify": [], "channels": page.policy.get("channels", ["sms"]), "wait_s": 0}
        ]
        if step.step_index >= len(policy_steps):
            _exhaust(session, runtime, page, now)
            continue
        if page.purpose == PagePurpose.INTAKE and page.id not in (disclosed or ()):
            allowed, why = _disclosure_allowed(session, page, DisclosureField.CASE_REFERENCE)
            if not allowed:
                page.state, page.state_reason, page.closed_at = PageState.SUPPRESSED.value, why[:200], now
                _events(
                    session,
                    runtime,
                    page,
                    PageEventKind.PAGE_SUPPRESSED,
                    page.party,
                    f"page:{page.id}:suppressed",
                )
                continue
        work.append((step, page, policy_steps[step.step_index]))
    if not work:
        return acted
    changes = roster_changes(session, now=now)
    targets = {step.id: _recipients(config, page, spec, now, changes) for step, page, spec in work}
    known = {
        (r.page_id, r.person): r
        for r in session.execute(
            select(PageRecipient).where(PageRecipient.page_id.in_({page.id for _, page, _ in work}))
        ).scalars()
    }
    used: dict[tuple[int, str], set[str]] = {}
    for step_id, person, channel in session.execute(
        select(PageAttempt.step_id, PageAttempt.person, PageAttempt.channel).where(
            PageAttempt.step_id.in_(list(targets))
        )
    ):
        used.setdefault((step_id, person), set()).add(channel)
    codes = _reply_codes(
        session,
        {
            person
            for step, page, _ in work
            for _, person in targets[step.id]
            if (page.id, person) not in known
        },
    )
    recipients: list[PageRecipient] = []
    attempts: list[PageAttempt] = []
    events: list[PageEvent] = []
    following: list[PageStep] = []
    stuck: list[Page] = []
    for step, page, spec in work:
        reached = 0
        for role, person in targets[step.id]:
            recipient = known.get((page.id, person))
            if recipient is None:
                recipient = PageRecipient(
                    page_id=page.id,
                    person=person,
                    role=role,
                    reply_code=_new_code(codes[person]),
                    first_step_id=step.id,
                )
                known[(page.id, person)] = recipient
                recipients.append(recipient)
            elif recipient.answer == Answer.DECLINED:
                continue  # said no already: a repeat does not ask again
            taken = used.setdefault((step.id, person), set())
            attempt = _make_attempt(config, page, step, person, spec["channels"], 0, taken, now)
            if attempt is not None:
                taken.add(attempt.channel)
                attempts.append(attempt)
                reached += 1
        if step.step_index > 0 or step.round > 0:
            event = _event(
                page,
                PageEventKind.PAGE_ESCALATED,
                f"{page.party or page.role}:{step.step_index + 1}",
                f"step:{step.id}:escalated",
                step=step.step_index + 1,
                round=step.round,
                why=step.why,
                people=reached,
            )
            if event is not None:
                events.append(event)
        after = _next_step(page, step)
        if after is None:
            page.state, page.closed_at = PageState.DONE.value, now
            continue
        index, round_, wait = after
        following.append(
            PageStep(
                page_id=page.id,
                step_index=index,
                round=round_,
                due_at=now if reached == 0 else now + wait,
                token=_token(),
                why="nobody_reachable" if reached == 0 else "wait",
            )
        )
        if reached == 0:
            log.warning("page %s step %s reached nobody; escalating at once", page.id, step.step_index + 1)
            stuck.append(page)
    session.add_all(recipients)
    session.add_all(following)
    _queue(session, attempts)
    if events:
        hooks().events(session, runtime.cipher, events)
    for page in stuck:
        _fire_soon(session, page.id)
    return acted


def _fire_soon(session: Session, page_id: int) -> None:
    """Have the page's pending step fired by a worker now rather than at the next tick."""
    step = session.execute(
        select(PageStep).where(PageStep.page_id == page_id, PageStep.state == StepState.PENDING)
    ).scalar_one_or_none()
    if step is not None:
        enqueue(
            session,
            topic=FIRE_STEP,
            key=f"fire:{step.id}",
            payload={"step_id": step.id, "token": step.token},
            eager=True,
        )


def escalate_now(session: Session, page: Page, *, why: str, now: datetime) -> bool:
    """Bring the page's next step forward to now (undelivered everywhere, or everyone declined)."""
    if page.state != PageState.ACTIVE:
        return False
    step = session.execute(
        select(PageStep).where(PageStep.page_id == page.id, PageStep.state == StepState.PENDING)
    ).scalar_one_or_none()
    if step is None:
        return False
    if step.due_at > now:
        step.due_at, step.why = now, why
    _fire_soon(session, page.id)
    return True


def _cancel_pending(session: Session, page: Page, now: datetime) -> None:
    session.execute(
        update(PageStep)
        .where(PageStep.page_id == page.id, PageStep.state == StepState.PENDING)
        .values(state=StepState.CANCELLED.value)
    )
    session.execute(
        update(PageAttempt)
        .where(
            PageAttempt.page_id == page.id,
            PageAttempt.state.in_([AttemptState.QUEUED.value, AttemptState.RETRY.value]),
        )
        .values(state=AttemptState.CANCELLED.value, final_at=now)
    )


def _exhaust(session: Session, runtime: Any, page: Page, now: datetime) -> None:
    declined = session.execute(
        select(PageRecipient.id).where(
            PageRecipient.page_id == page.id, PageRecipient.answer == Answer.DECLINED
        )
    ).first()
    page.state = (PageState.DECLINED if declined else PageState.EXHAUSTED).value
    page.closed_at = now
    _cancel_pending(session, page, now)
    _events(
        session,
        runtime,
        page,
        PageEventKind.PAGE_EXHAUSTED,
        page.party or page.role,
        f"page:{page.id}:exhausted",
    )
    if page.purpose == PagePurpose.INTAKE and page.case_id is not None:
        start_page(
            session,
            runtime,
            key=f"alert:unanswered:{page.id}",
            purpose=PagePurpose.ALERT,
            role="coordinator",
            now=now,
            case_id=page.case_id,
            case_reference=page.case_reference,
            reason="page_unanswered",
        )


# --- delivering -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    attempt_id: int
    claim_token: str
    channel: ChannelName
    message: OutboundMessage


def _attachments(session: Session, runtime: Any, page: Page) -> tuple[Attachment, ...]:
    if page.purpose != PagePurpose.MELDING:
        return ()
    from notifications.melding import MeldingContent, render_pdf

    melding = session.get(Melding, int(page.info["melding_id"]))
    if melding is None:
        return ()
    content = MeldingContent.model_validate_json(runtime.cipher.decrypt(melding.content, MELDING_AAD))
    meta = {
        "case_reference": page.case_reference,
        "status": melding.status,
        "revision": melding.revision,
        "approved_by": melding.approved_by,
        "approved_at": melding.approved_at,
    }
    return (Attachment(f"melding-{page.case_reference}.pdf", "application/pdf", render_pdf(content, meta)),)


def _message(
    session: Session,
    runtime: Any,
    config: PagingConfig,
    attempt: PageAttempt,
    page: Page,
    recipient: PageRecipient,
    now: datetime,
) -> OutboundMessage:
    link = ""
    if page.purpose != PagePurpose.MELDING:
        token = links.new_link(
            session,
            links.derive_key(runtime, "page-link"),
            page_id=page.id,
            person=attempt.person,
            now=now,
            ttl=timedelta(seconds=config.settings.page_link_ttl_s),
        )
        link = f"{public_base_url(config.settings)}/p/{token}"
    role_display = page.policy.get("role_name", "") if recipient.role == page.role else ""
    text = texts.page_text(
        page,
        role_display=texts.role_nl(recipient.role, role_display),
        reply_code=recipient.reply_code,
        link=link,
        zone=config.roster.zone,
    )
    return OutboundMessage(
        reference=attempt.reference,
        address=attempt.address,
        subject=texts.subject(page),
        text=text,
        data={
            "page_id": page.id,
            "purpose": page.purpose,
            "case_reference": page.case_reference,
            "urgency": page.urgency,
            "role": recipient.role,
            "reply_code": recipient.reply_code,
            "link": link,
        },
        attachments=_attachments(session, runtime, page),
    )


def public_base_url(settings: Any) -> str:
    return (settings.public_base_url or f"http://{settings.http_host}:{settings.http_port}").rstrip("/")


def _claim(runtime: Any, config: PagingConfig, attempt_ids: list[int], now: datetime) -> list[_Claimed]:
    db: Database = runtime.db
    claimed: list[_Claimed] = []
    with db.write() as session:
        query: Select[Any] = select(PageAttempt).where(
            PageAttempt.id.in_(attempt_ids),
            PageAttempt.state.in_([AttemptState.QUEUED.value, AttemptState.RETRY.value]),
        )
        attempts = list(session.execute(claim_rows(query, db)).scalars())
        page_ids = {a.page_id for a in attempts}
        pages = {p.id: p for p in session.execute(select(Page).where(Page.id.in_(page_ids))).scalars()}
        recipients = {
            (r.page_id, r.person): r
            for r in session.execute(
                select(PageRecipient).where(PageRecipient.page_id.in_(page_ids))
            ).scalars()
        }
        for attempt in attempts:
            if attempt.next_try_at is not None and attempt.next_try_at > now:
                continue
            page = pages.get(attempt.page_id)
            if page is None or (
                page.state != PageState.ACTIVE and page.purpose in (PagePurpose.INTAKE, PagePurpose.ALERT)
            ):
                attempt.state, attempt.final_at = AttemptState.CANCELLED.value, now
                continue
            attempt.state = AttemptState.SENDING.value
            attempt.claim_token = _token()
            attempt.claimed_at = now
            attempt.tries += 1
            recipient = recipients[(page.id, attempt.person)]
            message = _message(session, runtime, config, attempt, page, recipient, now)
            claimed.append(_Claimed(attempt.id, attempt.claim_token, ChannelName(attempt.channel), message))
    return claimed


_pool: ThreadPoolExecutor | None = None


def _send_all(config: PagingConfig, claimed: list[_Claimed]) -> list[SendResult]:
    """Send concurrently (the providers are remote; one slow answer must not hold up the others)."""
    global _pool
    if len(claimed) == 1:
        return [config.channel(claimed[0].channel).send(claimed[0].message)]
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="pager-send")

    def one(item: _Claimed) -> SendResult:
        try:
            return config.channel(item.channel).send(item.message)
        except Exception as exc:  # a channel bug must not lose the others' results
            return SendResult(Outcome.RETRY, f"channel error ({type(exc).__name__})")

    return list(_pool.map(one, claimed))


def deliver(runtime: Any, attempt_ids: list[int]) -> int:
    """Claim, send and record the given attempts; returns how many were sent (any outcome)."""
    config = paging_config(runtime)
    claimed = _claim(runtime, config, attempt_ids, runtime.clock.now())
    if not claimed:
        return 0
    results = _send_all(config, claimed)
    now = runtime.clock.now()
    with runtime.db.write() as session:
        record_sends(
            session,
            runtime,
            [
                (item.attempt_id, item.claim_token, result)
                for item, result in zip(claimed, results, strict=True)
            ],
            now=now,
            config=config,
        )
    return len(claimed)


def record_sends(
    session: Session,
    runtime: Any,
    results: Sequence[tuple[int, str, SendResult]],
    *,
    now: datetime,
    config: PagingConfig | None = None,
) -> None:
    """What the sends of (attempt id, claim token, result) came to. Only the claim that sent an attempt
    may record it; a delivery report that arrived in between (the provider can be faster than our commit)
    is kept, not overwritten. The timeline entries and audit entries of the accepted sends are written
    together, in a few statements for the whole batch."""
    ids = [attempt_id for attempt_id, _, _ in results]
    attempts = {
        a.id: a for a in session.execute(select(PageAttempt).where(PageAttempt.id.in_(ids))).scalars()
    }
    pages = {
        p.id: p
        for p in session.execute(
            select(Page).where(Page.id.in_({a.page_id for a in attempts.values()}))
        ).scalars()
    }
    events: list[PageEvent] = []
    entries: list[audit.Entry] = []
    sent: list[PageAttempt] = []
    for attempt_id, claim_token, result in results:
        attempt = attempts.get(attempt_id)
        if attempt is None or attempt.claim_token != claim_token:
            continue
        page = pages[attempt.page_id]
        outcome = result.outcome
        still_sending = attempt.state == AttemptState.SENDING
        if outcome in (Outcome.ACCEPTED, Outcome.SENT):
            if still_sending:
                attempt.state = (
                    AttemptState.ACCEPTED if outcome is Outcome.ACCEPTED else AttemptState.SENT
                ).value
                if outcome is Outcome.SENT:
                    attempt.final_at = now
            attempt.sent_at = attempt.sent_at or now
            attempt.detail = result.detail[:200]
            sent.append(attempt)
            _sent(page, attempt, events, entries)
            if outcome is Outcome.SENT and page.purpose == PagePurpose.MELDING and page.case_id is not None:
                hooks().melding_delivered(
                    session, runtime.cipher, case_id=page.case_id, reference=attempt.reference
                )
            continue
        if not still_sending:
            continue
        attempt.detail = result.detail[:200]
        if outcome is Outcome.RETRY and attempt.tries < MAX_TRIES:
            attempt.state = AttemptState.RETRY.value
            attempt.next_try_at = now + retry_delay(attempt.tries, page.urgency)
            log.info(
                "attempt %s: %s; try %d in %s",
                attempt.id,
                result.detail,
                attempt.tries + 1,
                attempt.next_try_at - now,
            )
            enqueue(
                session,
                topic=DELIVER,
                key=f"deliver:{attempt.id}:try{attempt.tries + 1}",
                payload={"attempt_id": attempt.id},
                available_at=attempt.next_try_at,
            )
            continue
        attempt.state, attempt.final_at = AttemptState.FAILED.value, now
        _failed(session, runtime, page, attempt, result.detail, now=now, config=config)
    _wait_from_handover(session, pages, sent, now)
    if events:
        hooks().events(session, runtime.cipher, events)
    audit.record_many(session, entries)


def _wait_from_handover(
    session: Session, pages: dict[int, Page], sent: Sequence[PageAttempt], now: datetime
) -> None:
    """A step's wait counts from when its messages were handed to the provider, not from when the step
    fired: under load the send can lag the step by more than the wait, and the next step (or the
    exhaustion, which cancels what is still queued) must not come before the person was even paged."""
    by_step: dict[int, PageAttempt] = {}
    for attempt in sent:
        page = pages[attempt.page_id]
        if page.state == PageState.ACTIVE and page.purpose in (PagePurpose.INTAKE, PagePurpose.ALERT):
            by_step.setdefault(attempt.step_id, attempt)
    if not by_step:
        return
    fired = {
        s.id: s for s in session.execute(select(PageStep).where(PageStep.id.in_(list(by_step)))).scalars()
    }
    waiting = {
        s.page_id: s
        for s in session.execute(
            select(PageStep).where(
                PageStep.page_id.in_({a.page_id for a in by_step.values()}),
                PageStep.state == StepState.PENDING,
                PageStep.why == "wait",
            )
        ).scalars()
    }
    for step_id, attempt in by_step.items():
        step, after = fired.get(step_id), waiting.get(attempt.page_id)
        if step is None or after is None:
            continue
        following = _next_step(pages[attempt.page_id], step)
        if following is None or following[:2] != (after.step_index, after.round):
            continue  # the pending step was not scheduled by this one
        # From the claim just before the send (the provider had it from then on), not from the later
        # recording: the clock may have moved on meanwhile.
        due = (attempt.claimed_at or now) + following[2]
        if after.due_at < due:
            after.due_at = due


def _sent(page: Page, attempt: PageAttempt, events: list[PageEvent], entries: list[audit.Entry]) -> None:
    who = page.party or page.role
    event = _event(
        page,
        PageEventKind.PAGE_SENT,
        f"{page.party or page.role}:{attempt.channel}",
        f"attempt:{attempt.id}:sent",
        person=attempt.person,
        channel=attempt.channel,
        purpose=page.purpose,
    )
    if event is not None:
        events.append(event)
    entries.append(
        audit.Entry(
            actor=ACTOR,
            action=audit.AuditAction.DISCLOSE,
            resource_type="Page",
            resource_id=page.id,
            client=attempt.channel,
            purpose=f"{page.purpose} page of case {page.case_id} to {attempt.person} ({who})"[:200],
        )
    )


def _failed(
    session: Session,
    runtime: Any,
    page: Page,
    attempt: PageAttempt,
    detail: str,
    *,
    now: datetime,
    config: PagingConfig | None = None,
) -> None:
    """This channel did not reach the person: the next channel at once; nobody left in the step reachable
    → the next step at once."""
    _events(
        session,
        runtime,
        page,
        PageEventKind.PAGE_FAILED,
        f"{page.party or page.role}:{attempt.channel}",
        f"attempt:{attempt.id}:{attempt.state}",
        person=attempt.person,
        channel=attempt.channel,
        state=attempt.state,
        detail=detail,
    )
    audit.record(
        session,
        actor=ACTOR,
        action=audit.AuditAction.UPDATE,
        resource_type="Page",
        resource_id=page.id,
        client=attempt.channel,
        purpose=f"{attempt.state}: {attempt.person} via {attempt.channel}"[:200],
    )
    if page.state != PageState.ACTIVE and page.purpose in (PagePurpose.INTAKE, PagePurpose.ALERT):
        return
    step = session.get(PageStep, attempt.step_id)
    assert step is not None
    steps = page.policy.get("steps") or []
    channels = (
        steps[step.step_index]["channels"] if step.step_index < len(steps) else [ChannelName.EMAIL.value]
    )
    config = config or paging_config(runtime)
    if _new_attempt(session, config, page, step, attempt.person, channels, attempt.channel_index + 1, now):
        return
    alive = session.execute(
        select(PageAttempt.id).where(
            PageAttempt.step_id == step.id,
            PageAttempt.state.notin_(
                [AttemptState.FAILED.value, AttemptState.UNDELIVERED.value, AttemptState.CANCELLED.value]
            ),
        )
    ).first()
    if alive is None and page.purpose in (PagePurpose.INTAKE, PagePurpose.ALERT):
        log.warning("page %s: nobody of step %s reachable; escalating at once", page.id, step.step_index + 1)
        escalate_now(session, page, why="undelivered", now=now)


# --- delivery reports and replies -----------------------------------------------------------------------


def _dedupe(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def record_report(
    session: Session, runtime: Any, provider: str, report: DeliveryReportIn, *, now: datetime
) -> str:
    """Apply one delivery report, once; returns its effect (applied, duplicate, late, unknown_reference).

    States only move forward: `accepted` after `delivered` changes nothing (reports come out of order),
    and the first final report wins. `undelivered` moves the person to their next channel at once."""
    key = _dedupe(provider, report.reference, report.provider_status, report.provider_time)
    if session.execute(select(DeliveryReport.id).where(DeliveryReport.dedupe_key == key)).first() is not None:
        return "duplicate"
    attempt = session.execute(
        select(PageAttempt).where(PageAttempt.reference == report.reference).with_for_update()
    ).scalar_one_or_none()
    row = DeliveryReport(
        dedupe_key=key,
        provider=provider,
        reference=report.reference[:64],
        attempt_id=attempt.id if attempt else None,
        status=report.status.value,
        provider_status=report.provider_status[:16],
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return "duplicate"  # the same report, recorded by a concurrent call
    if attempt is None:
        row.effect = "unknown_reference"
        return row.effect
    state = AttemptState(attempt.state)
    if state in ATTEMPT_FINAL or (report.status is ReportStatus.ACCEPTED and state is AttemptState.ACCEPTED):
        row.effect = "late"
        return row.effect
    page = session.get(Page, attempt.page_id)
    assert page is not None
    row.effect = "applied"
    if report.status is ReportStatus.ACCEPTED:
        attempt.state = AttemptState.ACCEPTED.value
        attempt.sent_at = attempt.sent_at or now
    elif report.status is ReportStatus.DELIVERED:
        attempt.state, attempt.final_at = AttemptState.DELIVERED.value, now
        attempt.sent_at = attempt.sent_at or now
        _events(
            session,
            runtime,
            page,
            PageEventKind.PAGE_DELIVERED,
            f"{page.party or page.role}:{attempt.channel}",
            f"attempt:{attempt.id}:delivered",
            person=attempt.person,
            channel=attempt.channel,
        )
    else:
        attempt.state, attempt.final_at = AttemptState.UNDELIVERED.value, now
        _failed(session, runtime, page, attempt, f"delivery report {report.provider_status}", now=now)
    return row.effect


_REPLY = re.compile(
    r"^\s*(?P<word>[A-Za-z]+)\s+(?P<code>\d{4})(?:\s+(?:(?P<hh>\d{1,2})[:.](?P<mm>\d{2})|(?P<minutes>\d{1,3})\s*(?:m|min)?))?\s*[.!]?\s*$"
)
_ACK_WORDS = {"ok", "ja", "yes", "ack", "akkoord"}
_DECLINE_WORDS = {"nee", "no", "nack", "niet"}


@dataclass(frozen=True)
class ParsedReply:
    acknowledged: bool
    code: str
    earliest_at: datetime | None


def parse_reply(text: str, *, now: datetime, roster: Roster) -> ParsedReply | None:
    """`OK 4821`, `OK 4821 45` (in 45 minutes), `OK 4821 14:30` (local time, the next one), `NEE 4821`."""
    match = _REPLY.match(text)
    if match is None:
        return None
    word = match["word"].lower()
    if word not in _ACK_WORDS | _DECLINE_WORDS:
        return None
    if word in _DECLINE_WORDS:
        return ParsedReply(False, match["code"], None)
    if match["hh"] is not None:
        hours, minutes = int(match["hh"]), int(match["mm"])
        if hours > 23 or minutes > 59:
            return None
        zone = roster.zone
        day = now.astimezone(zone).date()
        at = local_instant(day, time(hours, minutes), zone)
        if at < now - timedelta(minutes=30):  # "14:30" said at 23:00 means tomorrow
            at = local_instant(day + timedelta(days=1), time(hours, minutes), zone)
        return ParsedReply(True, match["code"], at)
    if match["minutes"] is not None:
        return ParsedReply(True, match["code"], now + timedelta(minutes=int(match["minutes"])))
    return ParsedReply(True, match["code"], now + roster.document.defaults.arrival)


def record_inbound(session: Session, runtime: Any, provider: str, sms: InboundSms, *, now: datetime) -> str:
    """Apply one SMS reply, once. A number the roster does not know, an unknown code or an unreadable
    reply only logs (without the number or the text) and changes nothing."""
    key = _dedupe(provider, sms.provider_id)
    if session.execute(select(InboundReply.id).where(InboundReply.dedupe_key == key)).first() is not None:
        return "duplicate"
    config = paging_config(runtime)
    person = config.roster.person_by_phone(sms.sender)
    row = InboundReply(dedupe_key=key, provider=provider, person=person.id if person else "", received_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return "duplicate"
    if person is None:
        row.effect = "unknown_number"
        log.info("SMS reply from a number not in the roster: ignored")
        return row.effect
    parsed = parse_reply(sms.text, now=now, roster=config.roster)
    if parsed is None:
        row.effect = "unreadable"
        log.info("SMS reply from %s could not be read: ignored", person.id)
        return row.effect
    row.keyword, row.reply_code = ("OK" if parsed.acknowledged else "NEE"), parsed.code
    recipient = session.execute(
        select(PageRecipient)
        .join(Page, Page.id == PageRecipient.page_id)
        .where(PageRecipient.person == person.id, PageRecipient.reply_code == parsed.code)
        .order_by(Page.state != PageState.ACTIVE, PageRecipient.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if recipient is None:
        row.effect = "unknown_code"
        log.info("SMS reply from %s names no page of theirs: ignored", person.id)
        return row.effect
    row.page_id = recipient.page_id
    row.effect = answer(
        session,
        runtime,
        recipient,
        acknowledged=parsed.acknowledged,
        earliest_at=parsed.earliest_at,
        via="sms",
        now=now,
    )
    return row.effect


# --- answers --------------------------------------------------------------------------------------------


def answer(
    session: Session,
    runtime: Any,
    recipient: PageRecipient,
    *,
    acknowledged: bool,
    earliest_at: datetime | None,
    via: str,
    now: datetime,
    reason: str = "",
) -> str:
    """A paged person's answer (a decline may say why: it goes, encrypted, onto the case timeline).
    An acknowledgement that completes the page stands it down and tells the
    case workflow (the party's acknowledgement with its earliest time); a decline by everyone the current
    step reached escalates at once."""
    page = session.execute(select(Page).where(Page.id == recipient.page_id).with_for_update()).scalar_one()
    if recipient.answer == Answer.ACKNOWLEDGED and acknowledged:
        if earliest_at is not None and recipient.earliest_at != earliest_at:
            recipient.earliest_at = earliest_at  # a corrected time: the intake re-proposes
            if page.state == PageState.ACKNOWLEDGED:
                _tell_workflow(session, runtime, page, now)
        return "repeated"
    recipient.answer = (Answer.ACKNOWLEDGED if acknowledged else Answer.DECLINED).value
    recipient.earliest_at = earliest_at if acknowledged else None
    recipient.answered_at, recipient.answered_via = now, via
    kind = PageEventKind.PAGE_ACKNOWLEDGED if acknowledged else PageEventKind.PAGE_DECLINED
    detail: dict[str, Any] = {"person": recipient.person, "via": via, "role": recipient.role}
    if earliest_at is not None and acknowledged:
        detail["earliest_at"] = earliest_at.isoformat()
    if reason and not acknowledged:
        detail["reason"] = reason[:1000]
    _events(
        session,
        runtime,
        page,
        kind,
        f"{page.party or page.role}:{recipient.role}",
        f"answer:{recipient.id}:{recipient.answer}",
        **detail,
    )
    audit.record(
        session,
        actor=recipient.person,
        action=audit.AuditAction.UPDATE,
        resource_type="Page",
        resource_id=page.id,
        client=via,
        purpose=f"{recipient.answer} page of case {page.case_id}"[:200],
    )
    if page.state != PageState.ACTIVE:
        return "late"
    if acknowledged:
        if _complete(session, page):
            page.state, page.closed_at = PageState.ACKNOWLEDGED.value, now
            _cancel_pending(session, page, now)
            _tell_workflow(session, runtime, page, now)
        return "acknowledged"
    if _everyone_declined(session, page):
        escalate_now(session, page, why="declined", now=now)
    return "declined"


def _answers(session: Session, page: Page) -> list[PageRecipient]:
    return list(session.execute(select(PageRecipient).where(PageRecipient.page_id == page.id)).scalars())


def _complete(session: Session, page: Page) -> bool:
    """`any`: one acknowledgement answers the page. `all`: someone of every role asked so far must."""
    recipients = _answers(session, page)
    acked_roles = {r.role for r in recipients if r.answer == Answer.ACKNOWLEDGED}
    if page.policy.get("acknowledge", "any") != "all":
        return bool(acked_roles)
    return {r.role for r in recipients} <= acked_roles


def _everyone_declined(session: Session, page: Page) -> bool:
    recipients = _answers(session, page)
    return bool(recipients) and all(r.answer == Answer.DECLINED for r in recipients)


def _tell_workflow(session: Session, runtime: Any, page: Page, now: datetime) -> None:
    if page.purpose != PagePurpose.INTAKE or page.case_id is None:
        return
    acks = [r for r in _answers(session, page) if r.answer == Answer.ACKNOWLEDGED]
    earliest = max((r.earliest_at for r in acks if r.earliest_at is not None), default=now)
    hooks().party_answered(
        session,
        runtime.cipher,
        case_id=page.case_id,
        party=page.party,
        acknowledged=True,
        earliest_at=earliest,
        actor=",".join(sorted(r.person for r in acks))[:200],
    )


def party_pages(session: Session, case_id: int, party: str) -> list[Page]:
    return list(
        session.execute(
            select(Page).where(
                Page.case_id == case_id, Page.party == party, Page.purpose == PagePurpose.INTAKE
            )
        ).scalars()
    )


def stand_down(
    session: Session,
    *,
    case_id: int,
    party: str,
    state: PageState,
    reason: str,
    now: datetime,
    page_key: str | None = None,
) -> int:
    """The workflow settled the party another way (acknowledged by phone through the API, or no longer
    required): its active pages stop escalating. Returns how many pages it stopped.

    With `page_key` (the page the workflow asked for), a page whose work has not run yet is settled in
    advance: a closed row takes its key, so the work finds it and pages nobody."""
    stopped = 0
    if page_key is not None and session.execute(select(Page.id).where(Page.key == page_key)).first() is None:
        session.add(
            Page(
                key=page_key,
                purpose=PagePurpose.INTAKE.value,
                case_id=case_id,
                party=party,
                role=party,
                state=state.value,
                state_reason=reason[:200],
                policy={},
                info={},
                created_at=now,
                closed_at=now,
            )
        )
        session.flush()
    for page in party_pages(session, case_id, party):
        if page.state != PageState.ACTIVE:
            continue
        page.state, page.state_reason, page.closed_at = state.value, reason[:200], now
        _cancel_pending(session, page, now)
        stopped += 1
    return stopped


def acknowledged_people(session: Session, case_id: int) -> list[tuple[str, str, str]]:
    """(party, role, person) of everyone who acknowledged an active-or-answered intake page of the case."""
    rows = session.execute(
        select(Page.party, PageRecipient.role, PageRecipient.person)
        .join(PageRecipient, PageRecipient.page_id == Page.id)
        .where(
            Page.case_id == case_id,
            Page.purpose == PagePurpose.INTAKE,
            Page.state.in_([PageState.ACTIVE.value, PageState.ACKNOWLEDGED.value]),
            PageRecipient.answer == Answer.ACKNOWLEDGED,
        )
        .order_by(PageRecipient.id)
    ).all()
    return [(r.party, r.role, r.person) for r in rows]


# --- the tick and the auditor ---------------------------------------------------------------------------


DEFER = timedelta(seconds=1)  # a waiting step whose previous messages are still queued looks again after this


def fire_due_steps(runtime: Any, *, now: datetime, limit: int = 200) -> int:
    """Claim due escalation steps and fire them; returns how many acted.

    A step that follows a wait does not fire while a message of its page has not reached the provider
    yet (queued, or being sent for the first time): the wait counts from the hand-over
    (`_wait_from_handover` sets the due time when it happens). Firing it early would page the next
    person, or exhaust the page and cancel the queued message, before the first person was paged at all.
    """
    db: Database = runtime.db
    with db.write() as session:
        due = session.execute(
            claim_rows(
                select(PageStep.id, PageStep.token, PageStep.page_id, PageStep.why)
                .where(PageStep.state == StepState.PENDING, PageStep.due_at <= now)
                .order_by(PageStep.due_at)
                .limit(limit),
                db,
            )
        ).all()
        after_wait = {row.page_id for row in due if row.why == "wait"}
        unsent = set(
            session.execute(
                select(PageAttempt.page_id).where(
                    PageAttempt.page_id.in_(after_wait),
                    PageAttempt.state.in_(
                        [AttemptState.QUEUED.value, AttemptState.SENDING.value, AttemptState.RETRY.value]
                    ),
                    PageAttempt.sent_at.is_(None),
                )
            ).scalars()
            if after_wait
            else []
        )
        deferred = [row.id for row in due if row.why == "wait" and row.page_id in unsent]
        if deferred:
            session.execute(update(PageStep).where(PageStep.id.in_(deferred)).values(due_at=now + DEFER))
        ready = [(row.id, row.token) for row in due if row.id not in set(deferred)]
        return fire_steps(session, runtime, ready, now=now)


def redrive(runtime: Any, *, now: datetime, limit: int = 500) -> int:
    """The auditor: attempts whose worker died mid-send (still `sending` after `SENDING_STALE`) are tried
    again with the same reference (the provider drops a duplicate); retries that are due, and messages
    still queued after `SENDING_STALE`, whose work items are gone are handed out again. Returns how many
    sends it re-drove."""
    db: Database = runtime.db
    with db.write() as session:
        stale = (
            session.execute(
                claim_rows(
                    select(PageAttempt)
                    .where(
                        PageAttempt.state == AttemptState.SENDING,
                        PageAttempt.claimed_at < now - SENDING_STALE,
                    )
                    .limit(limit),
                    db,
                )
            )
            .scalars()
            .all()
        )
        for attempt in stale:
            log.warning("attempt %s was left sending (worker died?); sending it again", attempt.id)
            attempt.state, attempt.next_try_at = AttemptState.RETRY.value, now
            enqueue(
                session,
                topic=DELIVER,
                key=f"deliver:{attempt.id}:try{attempt.tries + 1}",
                payload={"attempt_id": attempt.id},
            )
        # A message still queued long after it was written lost its work item (it is run once, by
        # whoever claims it first): a waiting step does not fire before it is sent, so it must go out.
        queued = (
            session.execute(
                claim_rows(
                    select(PageAttempt)
                    .where(
                        PageAttempt.state == AttemptState.QUEUED,
                        PageAttempt.created_at < now - SENDING_STALE,
                    )
                    .limit(limit),
                    db,
                )
            )
            .scalars()
            .all()
        )
        enqueue_many(
            session,
            topic=DELIVER,
            items=[(f"deliver:{a.id}:queued", {"attempt_id": a.id}) for a in queued],
        )
        # A retry whose time has come (by the pager's clock) is handed out by the tick itself: its
        # delayed work item may have run early and found it not yet due.
        due = (
            session.execute(
                claim_rows(
                    select(PageAttempt)
                    .where(PageAttempt.state == AttemptState.RETRY, PageAttempt.next_try_at <= now)
                    .limit(limit),
                    db,
                )
            )
            .scalars()
            .all()
        )
        for attempt in due:
            enqueue(
                session,
                topic=DELIVER,
                key=f"deliver:{attempt.id}:try{attempt.tries + 1}:due",
                payload={"attempt_id": attempt.id},
            )
        return len(stale)


def page_summary(session: Session, page: Page) -> dict[str, Any]:
    """A page with its steps, recipients and attempts, for the API (no patient data in any of it)."""
    steps = session.execute(
        select(PageStep).where(PageStep.page_id == page.id).order_by(PageStep.id)
    ).scalars()
    attempts = session.execute(
        select(PageAttempt).where(PageAttempt.page_id == page.id).order_by(PageAttempt.id)
    ).scalars()
    return {
        "id": page.id,
        "purpose": page.purpose,
        "case_id": page.case_id,
        "case_reference": page.case_reference,
        "party": page.party,
        "role": page.role,
        "reason": page.reason,
        "urgency": page.urgency,
        "state": page.state,
        "state_reason": page.state_reason,
        "policy": page.policy,
        "created_at": page.created_at,
        "closed_at": page.closed_at,
        "steps": [
            {
                "step": s.step_index + 1,
                "round": s.round,
                "due_at": s.due_at,
                "state": s.state,
                "fired_at": s.fired_at,
                "why": s.why,
            }
            for s in steps
        ],
        "recipients": [
            {
                "person": r.person,
                "role": r.role,
                "answer": r.answer or None,
                "earliest_at": r.earliest_at,
                "answered_at": r.answered_at,
                "via": r.answered_via or None,
            }
            for r in _answers(session, page)
        ],
        "attempts": [
            {
                "person": a.person,
                "channel": a.channel,
                "state": a.state,
                "tries": a.tries,
                "reference": a.reference,
                "sent_at": a.sent_at,
                "final_at": a.final_at,
                "detail": a.detail,
            }
            for a in attempts
        ],
    }


def reached(state: str) -> bool:
    return AttemptState(state) in ATTEMPT_REACHED
