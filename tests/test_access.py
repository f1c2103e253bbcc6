"""The access policy, table-driven: every role × every route of the app (read from the app itself, so a
new route without an entry in workflows/access.py fails here), over real HTTP, with the role's own token
and login session. Plus the refusals that matter most: police on a case whose victim refused police,
and a forensic doctor on a case forensic medicine was not paged for — each a 403 and an audit entry.
And break-the-glass: every role × (no reason, too short, a reason) on a case closed long ago, the page's
reason form, the grant for the session, and the coordinator's list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from consent.models import ConsentDecision, Consenter, Party
from consent.service import record_consent
from core.runtime import Runtime
from gateway.app import create_app
from identity import service, sessions, tokens
from identity.deps import lifetimes
from identity.models import ED_ROLES, AuthMethod, Role
from notifications.models import Page, PagePurpose
from store.audit import AuditEntry, chain_key
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database, make_engine
from tests.conftest import TEST_KEY, new_sqlite_database
from tests.fhir_helpers import GatewayServer
from tests.workflow_fixtures import finding, flagged_case, presentation, runtime_for, years_ago
from workflows.access import BREAK_GLASS_PURPOSE, PARTY_OF_ROLE, ROUTES, SCOPED_ROLES, Access
from workflows.models import BreakGlassGrant, Case

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, including routers included into routers."""
    found: list[tuple[str, str]] = []
    for route in app.router.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        entries = (
            [(c.original_route, c.path) for c in contexts()]
            if contexts
            else [(route, getattr(route, "path", ""))]
        )
        for original, path in entries:
            methods = getattr(original, "methods", None) or {"GET"}
            found.extend((m, path) for m in sorted(methods) if m != "HEAD")
    return found


@dataclass
class Person:
    role: Role
    token: str
    cookie: str
    user_id: int


@dataclass
class World:
    runtime: Runtime
    server: GatewayServer
    people: dict[Role, Person]
    paged_case: int  # forensic and police paged; forensic has consent, police was refused
    other_case: int  # nobody paged
    old_case: int  # closed ten days ago: outside a physician's and a coordinator's scope


def add_page(runtime: Runtime, case_id: int, party: Party) -> None:
    with runtime.db.write() as db:
        db.add(
            Page(
                key=f"test-{case_id}-{party.value}",
                purpose=PagePurpose.INTAKE.value,
                case_id=case_id,
                party=party.value,
                role=party.value,
                policy={"steps": []},
                created_at=NOW,
            )
        )


def consent(runtime: Runtime, case_id: int, party: Party, decision: ConsentDecision) -> None:
    with runtime.db.write() as db:
        record_consent(
            db,
            runtime.cipher,
            case_id=case_id,
            party=party,
            decision=decision,
            given_by=frozenset({Consenter.PATIENT}),
            subject_age_years=30,
            recorded_by="user:0 (test)",
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("access")
    url = new_sqlite_database(tmp)
    db = Database(make_engine(url), audit_key=chain_key(TEST_KEY))
    runtime = runtime_for(db, url, tmp)
    cipher, pseudonyms = FieldCipher(TEST_KEY), Pseudonymizer(TEST_KEY)
    strangled = finding("R-STR-1", "R-STR", "gewurgd")
    cases = [
        flagged_case(
            db, cipher, pseudonyms, presentation(visit=f"V-AC{n}", birth_date=years_ago(30)), [strangled]
        )
        for n in range(3)
    ]
    paged, other, old = cases
    with db.write() as session:
        ten_days_ago = datetime.now(UTC) - timedelta(days=10)
        session.execute(update(Case).where(Case.id == old).values(state="closed", updated_at=ten_days_ago))
    add_page(runtime, paged, Party.FORENSIC)
    add_page(runtime, paged, Party.POLICE)
    consent(runtime, paged, Party.FORENSIC, ConsentDecision.PERMIT)
    consent(runtime, paged, Party.POLICE, ConsentDecision.DENY)
    people: dict[Role, Person] = {}
    with db.write() as session:
        for role in Role:
            user = service.create_user(
                session, username=f"u-{role.value}", role=role, display_name=f"Test {role.value}"
            )
            _, token = tokens.create(session, username=user.username)
            cookie = sessions.start(
                session,
                user,
                auth_method=AuthMethod.PASSWORD,
                client="",
                now=runtime.clock.now(),
                lifetimes=lifetimes(runtime),
            )
            people[role] = Person(role, token, cookie, user.id)
    with GatewayServer(runtime) as server:
        yield World(runtime, server, people, paged, other, old)
    db.dispose()


def allowed(access: Access, role: Role) -> bool:
    """What the table promises for `paged_case`, where only forensic was paged with consent."""
    if access == Access.COORDINATION:
        return role in (Role.COORDINATOR, Role.ADMIN)
    if role in ED_ROLES:
        return True
    if access == Access.ED_OR_INTEGRATION:
        return role == Role.INTEGRATION
    if access == Access.CASE_PARTY:
        return role == Role.FORENSIC
    return False


def fill(path: str, world: World, role: Role) -> str:
    party = PARTY_OF_ROLE.get(role, Party.FORENSIC).value
    values = {
        "case_id": str(world.paged_case),
        "party": party,
        "resource_type": "Flag",
        "name": "pages.css",
        "token": "x",
    }
    for key, value in values.items():
        path = path.replace("{" + key + "}", value)
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + "1" + path[end + 1 :]
    return path


def status_of(client: httpx.Client, method: str, path: str, person: Person) -> int:
    kwargs: dict[str, Any] = {
        "headers": {"Authorization": f"Bearer {person.token}"},
        "cookies": {sessions.COOKIE_NAME: person.cookie},
    }
    if method in ("POST", "PUT", "PATCH"):
        if path.startswith(("/api/", "/fhir")):
            kwargs["json"] = {}
        else:
            kwargs["data"] = {"expected_version": "1"}  # with the bearer token: no CSRF check
    with client.stream(method, path, **kwargs) as response:  # a stream: the board's events never end
        return response.status_code


def test_every_route_has_an_access_entry(world: World) -> None:
    routes = app_routes(create_app(world.runtime))
    assert len(routes) > 50
    missing = [r for r in routes if r not in ROUTES]
    assert missing == [], f"routes without an entry in workflows/access.py ROUTES: {missing}"
    stale = [r for r in ROUTES if r not in set(routes)]
    assert stale == [], f"entries for routes that do not exist: {stale}"


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_exactly_the_routes_the_table_gives_it(world: World, role: Role) -> None:
    person = world.people[role]
    wrong: list[str] = []
    with httpx.Client(base_url=world.server.url, timeout=30, follow_redirects=False) as client:
        for (method, template), access in ROUTES.items():
            if access == Access.PUBLIC or template == "/static-offline-docs":
                continue
            status = status_of(client, method, fill(template, world, role), person)
            expected = allowed(access, role)
            if status == 401 or status >= 500 or (status == 403) == expected:
                wrong.append(f"{method} {template}: {status}, expected {'allowed' if expected else 403}")
    assert wrong == []


def denied_entries(world: World, case_id: int, role: Role) -> list[AuditEntry]:
    with world.runtime.db.read() as db:
        return list(
            db.execute(
                select(AuditEntry).where(
                    AuditEntry.outcome == "denied",
                    AuditEntry.resource_id == str(case_id),
                    AuditEntry.actor_role == role.value,
                )
            ).scalars()
        )


def test_police_reading_a_case_whose_victim_refused_police_gets_403_and_an_audit_entry(world: World) -> None:
    police = world.people[Role.POLICE]
    before = len(denied_entries(world, world.paged_case, Role.POLICE))
    headers = {"Authorization": f"Bearer {police.token}"}
    with httpx.Client(base_url=world.server.url, timeout=30, headers=headers) as client:
        view = client.get(f"/api/cases/{world.paged_case}/shared-view/police")
        assert view.status_code == 403 and "nothing of this case" in view.json()["detail"]
        assert "gewurgd" not in view.text
        assert client.get(f"/api/cases/{world.paged_case}").status_code == 403
        client.cookies.set(sessions.COOKIE_NAME, police.cookie)
        page = client.get(f"/cases/{world.paged_case}")
        assert page.status_code == 403 and "Geen toegang" in page.text and "gewurgd" not in page.text
    entries = denied_entries(world, world.paged_case, Role.POLICE)
    assert len(entries) == before + 3
    assert all(e.actor == f"user:{police.user_id} (Test police)" and e.patient_ref for e in entries)


def test_forensic_reading_a_case_it_was_not_paged_for_gets_403(world: World) -> None:
    forensic = world.people[Role.FORENSIC]
    headers = {"Authorization": f"Bearer {forensic.token}"}
    with httpx.Client(base_url=world.server.url, timeout=30, headers=headers) as client:
        assert client.get(f"/api/cases/{world.paged_case}/shared-view/forensic").status_code == 200
        refused = client.get(f"/api/cases/{world.other_case}/shared-view/forensic")
        assert refused.status_code == 403 and "not paged" in refused.json()["detail"]
        # Its own party only: forensic cannot ask for the police view of the case it was paged for.
        assert client.get(f"/api/cases/{world.paged_case}/shared-view/police").status_code == 403
    assert [e.reason for e in denied_entries(world, world.other_case, Role.FORENSIC)] == [
        "forensic was not paged for this case"
    ]


def test_anonymous_requests_to_non_public_routes_are_refused(world: World) -> None:
    with httpx.Client(base_url=world.server.url, timeout=30, follow_redirects=False) as client:
        for (method, template), access in ROUTES.items():
            if access == Access.PUBLIC or template == "/static-offline-docs":
                continue
            path = fill(template, world, Role.PHYSICIAN)
            with client.stream(method, path, json={} if method != "GET" else None) as response:
                assert response.status_code in (401, 303, 403), (method, template, response.status_code)


# --- break-the-glass ---------------------------------------------------------------------------------

GOOD_REASON = "Patiënt opnieuw op SEH, eerdere casus nodig voor beleid"


def audit_rows(world: World, **where: str) -> list[AuditEntry]:
    with world.runtime.db.read() as db:
        query = select(AuditEntry)
        for name, value in where.items():
            query = query.where(getattr(AuditEntry, name) == value)
        return list(db.execute(query.order_by(AuditEntry.seq)).scalars())


def case_reads(world: World, actor: str) -> list[AuditEntry]:
    """The audited reads of the old case by `actor` that were let through."""
    return audit_rows(
        world,
        action="read",
        actor=actor,
        resource_id=str(world.old_case),
        resource_type="Case",
        outcome="success",
    )


def glass_expected(role: Role, reason: str) -> int:
    """The table: who reads the old case through the API, with which reason."""
    if role == Role.ADMIN:
        return 200  # not narrowed (the shared bootstrap token acts as one)
    if role in SCOPED_ROLES:
        return 200 if len(reason) >= 10 else 403
    return 403  # outside parties and machines: a reason opens nothing


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("reason", ["", "kort", GOOD_REASON])
def test_break_the_glass_over_the_api_for_each_role(world: World, role: Role, reason: str) -> None:
    person = world.people[role]
    headers = {"Authorization": f"Bearer {person.token}"}
    if reason:
        headers["X-Break-Glass-Reason"] = quote(reason)
    actor = f"user:{person.user_id} (Test {role.value})"
    glass_before = len(audit_rows(world, action="break_glass", actor=actor))
    with httpx.Client(base_url=world.server.url, timeout=30, headers=headers) as client:
        answer = client.get(f"/api/cases/{world.old_case}")
    assert answer.status_code == glass_expected(role, reason), answer.text
    glass = audit_rows(world, action="break_glass", actor=actor)
    if role in SCOPED_ROLES:
        if answer.status_code == 403:
            assert "break-the-glass" in answer.json()["detail"] and "gewurgd" not in answer.text
            assert len(glass) == glass_before  # refused: no grant, no break-the-glass entry
        else:
            # The reason is recorded, and the read itself carries the purpose and the reason.
            assert glass[-1].reason == reason and glass[-1].purpose == BREAK_GLASS_PURPOSE
            reads = case_reads(world, actor)
            assert reads[-1].purpose == BREAK_GLASS_PURPOSE and reads[-1].reason == reason
    else:
        assert len(glass) == glass_before


def page_client(world: World, role: Role) -> httpx.Client:
    client = httpx.Client(base_url=world.server.url, timeout=30, follow_redirects=False)
    client.cookies.set(sessions.COOKIE_NAME, world.people[role].cookie)
    return client


def form_token(html: str) -> str:
    """The CSRF token a page's form posts back (the cookie that goes with it is in the client)."""
    found = re.search(r'name="csrftoken" value="([^"]+)"', html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def test_a_physician_breaks_the_glass_on_the_case_page_and_the_coordinator_sees_it(world: World) -> None:
    physician = world.people[Role.PHYSICIAN]
    case = f"/cases/{world.old_case}"
    with page_client(world, Role.PHYSICIAN) as client:
        asked = client.get(case)
        assert asked.status_code == 403 and "Noodtoegang" in asked.text and 'name="reason"' in asked.text
        assert "gewurgd" not in asked.text
        token = form_token(asked.text)
        # Empty, then too short: the form again, saying what to fix; nothing granted.
        empty = client.post(f"{case}/break-glass", data={"csrftoken": token, "reason": " "})
        assert empty.status_code == 403 and "Geef de reden op" in empty.text
        short = client.post(f"{case}/break-glass", data={"csrftoken": token, "reason": "even kijken"[:8]})
        assert short.status_code == 403 and "te kort" in short.text
        forged = client.post(f"{case}/break-glass", data={"csrftoken": "wrong", "reason": GOOD_REASON})
        assert forged.status_code == 403 and "Formulier verlopen" in forged.text
        with world.runtime.db.read() as db:
            assert (
                db.execute(select(BreakGlassGrant).where(BreakGlassGrant.case_id == world.old_case)).first()
                is None
            )
        granted = client.post(f"{case}/break-glass", data={"csrftoken": token, "reason": GOOD_REASON})
        assert granted.status_code == 303 and granted.headers["location"] == case
        opened = client.get(case)
        assert opened.status_code == 200 and "gewurgd" in opened.text
        # A coordinator-only page stays closed to the physician.
        assert client.get("/break-glass").status_code == 403
    actor = f"user:{physician.user_id} (Test physician)"
    reads = case_reads(world, actor)
    assert reads and all((r.purpose, r.reason) == (BREAK_GLASS_PURPOSE, GOOD_REASON) for r in reads)
    # The grant is this session's only: the same person's API token still needs a reason.
    with httpx.Client(base_url=world.server.url, timeout=30) as api:
        bearer = {"Authorization": f"Bearer {physician.token}"}
        assert api.get(f"/api/cases/{world.old_case}", headers=bearer).status_code == 403
    with page_client(world, Role.COORDINATOR) as client:
        listing = client.get("/break-glass")
        assert listing.status_code == 200
        assert "Test physician" in listing.text and GOOD_REASON in listing.text
        assert f'href="/cases/{world.old_case}"' in listing.text
        assert "Noodtoegang" in client.get("/board").text  # the way there from the board
    # Reading that list is itself in the audit trail.
    coordinator = world.people[Role.COORDINATOR]
    assert audit_rows(world, resource_type="AuditLog", actor=f"user:{coordinator.user_id} (Test coordinator)")


def test_a_grant_ends_after_its_time(world: World) -> None:
    coordinator = world.people[Role.COORDINATOR]
    case = f"/cases/{world.old_case}"
    with page_client(world, Role.COORDINATOR) as client:
        token = form_token(client.get(case).text)
        assert (
            client.post(f"{case}/break-glass", data={"csrftoken": token, "reason": GOOD_REASON}).status_code
            == 303
        )
        assert client.get(case).status_code == 200
        with world.runtime.db.write() as db:
            db.execute(
                update(BreakGlassGrant)
                .where(BreakGlassGrant.user_id == coordinator.user_id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert client.get(case).status_code == 403


# --- CSRF: every form posted with the session cookie but without its token --------------------------


def page_posts() -> list[str]:
    """Every page route that takes a form post (the machine routes are JSON and not CSRF-checked)."""
    machine = ("/api/", "/fhir", "/cds-services/", "/webhooks/")
    return [path for (method, path) in ROUTES if method == "POST" and not path.startswith(machine)]


@pytest.mark.parametrize("template", page_posts())
def test_a_form_posted_without_its_csrf_token_gets_a_403_page_and_changes_nothing(
    world: World, template: str
) -> None:
    path = fill(template, world, Role.PHYSICIAN)
    before = audit_rows(world)
    with world.runtime.db.read() as db:
        version = db.get(Case, world.paged_case).version  # type: ignore[union-attr]
    with page_client(world, Role.PHYSICIAN) as client:
        # The physician's own session cookie, a form a forged page could send: no token, or a guessed one.
        for form in (
            {"expected_version": str(version)},
            {"csrftoken": "geraden", "expected_version": str(version)},
        ):
            refused = client.post(path, data=form)
            assert refused.status_code == 403, (template, refused.status_code)
            assert "Formulier verlopen" in refused.text and "Traceback" not in refused.text
            assert refused.headers["content-security-policy"].startswith("default-src 'none'")
    assert len(audit_rows(world)) == len(before)  # nothing ran: not even a refusal was recorded
    with world.runtime.db.read() as db:
        assert db.get(Case, world.paged_case).version == version  # type: ignore[union-attr]
