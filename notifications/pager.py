"""The pager's periodic work (run by the beat) and its watchdog (run by the HTTP process).

`pager_tick`, every second: write the heartbeat, fire the escalation steps that are due, and audit —
re-drive attempts whose worker died mid-send. The watchdog runs somewhere else on purpose: if the beat
stalls (no heartbeat for `SPOEDPLEIN_PAGER_STALL_S`), it alerts whoever is on call as coordinator itself,
synchronously, on every channel they have — not through the outbox, the relay or the worker, which may
be what stalled. One alert per stall (the page's key is the last heartbeat), however many HTTP processes
watch.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from notifications import service
from notifications.config import paging_config
from notifications.models import (
    Page,
    PageAttempt,
    PagePurpose,
    PageRecipient,
    PagerHeartbeat,
    PageStep,
    Urgency,
)
from notifications.roster import COORDINATOR, ChannelName
from store.periodic import every

log = logging.getLogger(__name__)
TICK = "notifications.pager"
TICK_SECONDS = 1.0


def beat(runtime: Any, *, now: datetime, name: str = TICK) -> None:
    with runtime.db.write() as session:
        row = session.get(PagerHeartbeat, name)
        if row is None:
            session.add(PagerHeartbeat(name=name, last_tick_at=now))
        else:
            row.last_tick_at = now


def tick(runtime: Any) -> tuple[int, int]:
    """One round: heartbeat, due steps, auditor. Returns (steps fired, attempts re-driven)."""
    now = runtime.clock.now()
    beat(runtime, now=now)
    fired = service.fire_due_steps(runtime, now=now)
    redriven = service.redrive(runtime, now=now)
    if fired or redriven:
        log.info("pager: %d steps fired, %d attempts re-driven", fired, redriven)
    return fired, redriven


@every(TICK_SECONDS, name=TICK)
def pager_tick(runtime: Any) -> None:
    tick(runtime)


def last_tick(runtime: Any) -> datetime | None:
    with runtime.db.read() as session:
        row = session.get(PagerHeartbeat, TICK)
        return row.last_tick_at if row is not None else None


def watchdog_check(runtime: Any, *, now: datetime | None = None) -> int | None:
    """If the pager stalled, alert the coordinator directly; returns the watchdog page id when this call
    sent it (None: no stall, no heartbeat yet, or another process already alerted for this stall)."""
    now = now or runtime.clock.now()
    last = last_tick(runtime)
    if last is None or now - last < timedelta(seconds=runtime.settings.pager_stall_s):
        return None
    config = paging_config(runtime)
    # The coordinator on call as the API sees it: overrides and absences entered since the roster file
    # was written count here too (a coordinator who called in sick must not be the watchdog's only target).
    with runtime.db.read() as session:
        overrides, absences = service.roster_changes(session, now=now)
    on_call = config.roster.on_call(COORDINATOR, now, overrides=overrides, absences=absences)
    people = [[COORDINATOR, person] for person in on_call]
    people += [
        [COORDINATOR, p]
        for p in config.roster.backups(COORDINATOR, now, absences=absences)
        if [COORDINATOR, p] not in people
    ]
    channels = [c.value for c in (ChannelName.SMS, ChannelName.EMAIL) if c in config.channels]
    key = f"watchdog:{last.isoformat()}"
    try:
        with runtime.db.write() as session:
            if session.execute(select(Page.id).where(Page.key == key)).first() is not None:
                return None
            page = Page(
                key=key,
                purpose=PagePurpose.WATCHDOG.value,
                role=COORDINATOR,
                reason="pager_stalled",
                urgency=Urgency.EMERGENCY.value,
                policy={"steps": [{"notify": [], "channels": channels, "wait_s": 0, "repeat": 0}]},
                info={"people": people, "last_tick_at": service.texts.local_time(last, config.roster.zone)},
                created_at=now,
                closed_at=now,
                state="done",
            )
            session.add(page)
            session.flush()
            step = PageStep(
                page_id=page.id,
                step_index=0,
                round=0,
                due_at=now,
                token=service._token(),
                state="fired",
                fired_at=now,
                why="watchdog",
            )
            session.add(step)
            session.flush()
            attempt_ids = []
            for role, person in people:
                session.add(
                    PageRecipient(
                        page_id=page.id,
                        person=person,
                        role=role,
                        reply_code=service._reply_code(session, person),
                        first_step_id=step.id,
                    )
                )
                for index, channel in enumerate(channels):  # every channel: the second one is the point
                    found = config.roster.person(person)
                    address = found.address(ChannelName(channel)) if found else None
                    if not address:
                        continue
                    attempt = PageAttempt(
                        page_id=page.id,
                        step_id=step.id,
                        person=person,
                        channel=channel,
                        channel_index=index,
                        address=address,
                        reference=f"sp{page.id}w{service.secrets.token_hex(6)}",
                        state="queued",
                        created_at=now,
                    )
                    session.add(attempt)
                    session.flush()
                    attempt_ids.append(attempt.id)
            page_id = page.id
    except IntegrityError:
        return None  # another process took this stall
    log.error("the pager has not ticked since %s: alerting the coordinator directly", last.isoformat())
    service.deliver(runtime, attempt_ids)
    return page_id


def run_watchdog(runtime: Any, stop: threading.Event, *, interval_s: float | None = None) -> None:
    """Check every few seconds until `stop` is set; an error is logged and the next check goes on."""
    interval = interval_s or max(1.0, min(10.0, runtime.settings.pager_stall_s / 4))
    while not stop.wait(interval):
        try:
            watchdog_check(runtime)
        except Exception:
            log.exception("watchdog check failed; checking again in %.0f s", interval)


def start_watchdog(runtime: Any) -> threading.Event:
    """Start the watchdog thread; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run_watchdog, args=(runtime, stop), name="pager-watchdog", daemon=True).start()
    return stop
