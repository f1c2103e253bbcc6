"""Real people: local passwords (argon2id, lockout), server-side sessions (idle, absolute, revoked), and
API tokens per person that make every recorded actor that person — on SQLite and PostgreSQL, over HTTP.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from core.runtime import Runtime
from core.settings import Settings
from identity import service, sessions, tokens
from identity.deps import principal_from_cookie
from identity.models import ApiToken, AuthMethod, Role, User, UserSession
from identity.service import IdentityError, LoginRefused
from store.audit import AuditEntry
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from tests.fhir_helpers import GatewayServer
from tests.workflow_fixtures import finding, flagged_case, presentation, runtime_for, years_ago

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
PASSWORD = "lang genoeg wachtwoord"
LIFETIMES = sessions.Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=12))


def check(db: Database, password: str, now: datetime) -> LoginRefused | None:
    """Log in as arts1: None when it worked, else why not."""
    with db.write() as session:
        result = service.check_password(
            session,
            username="arts1",
            password=password,
            now=now,
            max_failures=3,
            lockout=timedelta(minutes=15),
        )
        return result.refused


def test_password_is_argon2id_and_three_failures_lock_the_account_for_a_while(db: Database) -> None:
    with db.write() as session:
        user = service.create_user(session, username="arts1", role=Role.PHYSICIAN, password=PASSWORD)
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        with pytest.raises(IdentityError):
            service.create_user(session, username="arts1", role=Role.POLICE, password=PASSWORD)
    assert check(db, PASSWORD, T0) is None
    assert check(db, "fout", T0) == LoginRefused.WRONG_PASSWORD
    assert check(db, "fout", T0) == LoginRefused.WRONG_PASSWORD
    assert check(db, "fout", T0) == LoginRefused.LOCKED
    # Locked: even the right password is refused, and the answer does not say it was right.
    assert check(db, PASSWORD, T0 + timedelta(minutes=14)) == LoginRefused.LOCKED
    assert check(db, PASSWORD, T0 + timedelta(minutes=16)) is None
    with db.write() as session:
        service.set_disabled(session, username="arts1")
    assert check(db, PASSWORD, T0 + timedelta(minutes=17)) == LoginRefused.DISABLED
    with db.write() as session:
        assert service.check_password(
            session,
            username="nobody",
            password=PASSWORD,
            now=T0,
            max_failures=3,
            lockout=timedelta(minutes=1),
        ).refused == (LoginRefused.UNKNOWN_USER)


def test_a_session_ends_when_idle_at_its_absolute_limit_on_logout_and_when_its_user_is_disabled(
    db: Database,
) -> None:
    with db.write() as session:
        user = service.create_user(session, username="vt1", role=Role.VEILIG_THUIS, display_name="M. Visser")
        cookies = [
            sessions.start(
                session, user, auth_method=AuthMethod.PASSWORD, client="", now=T0, lifetimes=LIFETIMES
            )
            for _ in range(4)
        ]
    idle, busy, logout, disabled = cookies
    with db.read() as session:
        stored = {row.id for row in session.query(UserSession)}
    assert not any(c in stored for c in cookies)  # only hashes are kept

    def alive(cookie: str, at: datetime) -> bool:
        with db.read() as session:
            return sessions.lookup(session, cookie, now=at) is not None

    assert alive(idle, T0 + timedelta(minutes=29)) and not alive(idle, T0 + timedelta(minutes=31))
    # Used every 20 minutes, a session lives on, but not past 12 hours after the login.
    at = T0
    while at + timedelta(minutes=20) < T0 + timedelta(hours=12):
        at += timedelta(minutes=20)
        assert alive(busy, at)
        with db.write() as session:
            sessions.touch(session, row_id=sessions.session_id(busy), now=at, lifetimes=LIFETIMES)
    assert not alive(busy, T0 + timedelta(hours=12))
    with db.write() as session:
        assert sessions.revoke(session, logout, now=T0)
    assert not alive(logout, T0 + timedelta(minutes=1))
    assert alive(disabled, T0 + timedelta(minutes=1))
    with db.write() as session:
        service.set_disabled(session, username="vt1")
    assert not alive(disabled, T0 + timedelta(minutes=1))


def test_external_logins_find_or_create_one_user_per_source_and_subject(db: Database) -> None:
    with db.write() as session:
        first = service.upsert_external_user(
            session,
            source="https://idp.example",
            subject="abc",
            role=Role.PHYSICIAN,
            display_name="Dr. K. Ali",
        )
        again = service.upsert_external_user(
            session,
            source="https://idp.example",
            subject="abc",
            role=Role.COORDINATOR,
            display_name="Dr. K. Ali-Bos",
        )
        other = service.upsert_external_user(
            session, source="https://other.example", subject="abc", role=Role.POLICE, display_name="J. de Wit"
        )
        assert first.id == again.id != other.id
        assert (again.role, again.display_name) == ("coordinator", "Dr. K. Ali-Bos")
        assert again.password_hash is None  # no local password: it logs in only where it came from


def test_a_persons_token_acts_as_that_person_and_stops_when_revoked(
    db: Database, database_url: str, tmp_path: Path, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    runtime = runtime_for(db, database_url, tmp_path)
    with db.write() as session:
        user = service.create_user(
            session, username="arts2", role=Role.PHYSICIAN, display_name="Dr. B. Smit", organisation="SEH"
        )
        row, token = tokens.create(session, username="arts2", name="laptop")
        user_id = user.id
        with pytest.raises(IdentityError):
            tokens.create(session, username="arts2", roles=[Role.ADMIN])  # a token never widens a role
    with db.read() as session:
        assert session.get(ApiToken, row.id).token_hash != token  # type: ignore[union-attr]
    case_id = flagged_case(
        db,
        cipher,
        pseudonyms,
        presentation(visit="V-ID", birth_date=years_ago(30)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    with GatewayServer(runtime) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        as_smit = {"Authorization": f"Bearer {token}"}
        version = client.get(f"/api/cases/{case_id}/workflow", headers=as_smit).json()["version"]
        confirmed = client.post(
            f"/api/cases/{case_id}/confirm",
            headers=as_smit,
            json={"expected_version": version, "melder": {"name": "Dr. B. Smit"}},
        )
        assert confirmed.status_code == 200, confirmed.text
        timeline = client.get(f"/api/cases/{case_id}/timeline", headers=as_smit).json()
        assert (
            next(e for e in timeline if e["action"] == "confirm")["actor"] == f"user:{user_id} (Dr. B. Smit)"
        )

        assert client.get("/api/cases", headers={"Authorization": "Bearer spt_guessed"}).status_code == 401
        with db.write() as session:
            tokens.revoke(session, token_id=row.id, now=T0)
        assert client.get("/api/cases", headers=as_smit).status_code == 401
        # A refused token's body is never read (the request guard), and nothing changed.
        refused = client.post(f"/api/cases/{case_id}/dismiss", headers=as_smit, json={"note": "x"})
        assert refused.status_code == 401


def test_cli_adds_a_user_from_stdin_prints_a_token_once_and_revokes_it(tmp_path: Path) -> None:
    spoedplein = str(Path(sys.executable).with_name("spoedplein"))
    data = ["--data-dir", str(tmp_path / "var")]

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [spoedplein, *args, *data], input=stdin, text=True, capture_output=True, timeout=60, check=False
        )

    added = cli(
        "user", "add", "politie1", "--role", "police", "--organisation", "Politie MN", stdin=PASSWORD + "\n"
    )
    assert added.returncode == 0, added.stderr
    assert cli("user", "add", "x", "--role", "sheriff", stdin=PASSWORD + "\n").returncode == 2
    assert cli("user", "add", "kort", "--role", "police", stdin="kort\n").returncode == 2
    created = cli("token", "create", "--user", "politie1", "--name", "test")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("spt_") and token not in created.stderr
    listed = cli("token", "list")
    assert "politie1" in listed.stdout and token not in listed.stdout
    runtime = Runtime.start(Settings(data_dir=tmp_path / "var"))
    try:
        with GatewayServer(runtime) as server:
            # The token is known, and the police role may not list the ED's cases: 403, not 401.
            assert (
                httpx.get(f"{server.url}/api/cases", headers={"Authorization": f"Bearer {token}"}).status_code
                == 403
            )
            assert cli("token", "revoke", "1").returncode == 0
            assert (
                httpx.get(f"{server.url}/api/cases", headers={"Authorization": f"Bearer {token}"}).status_code
                == 401
            )
        with runtime.db.read() as session:
            police = service.get_by_username(session, "politie1")
            assert police is not None and police.organisation == "Politie MN" and police.role == "police"
            assert session.query(User).filter(User.username == "x").count() == 0
        assert principal_from_cookie(runtime, "not-a-session", "") is None
    finally:
        runtime.close()


def test_login_over_http_locks_after_failures_and_rate_limits_fast_guessing(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    base = runtime_for(db, database_url, tmp_path)
    settings = base.settings.model_copy(update={"login_max_failures": 3, "login_rate_per_user": "4/minute"})
    runtime = dataclasses.replace(base, settings=settings)
    username = f"guess-{database_url.split(':', 1)[0]}"
    with db.write() as session:
        service.create_user(session, username=username, role=Role.CSG, password=PASSWORD)
    with GatewayServer(runtime) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        # The login form's CSRF token (gateway/csrf.py): a client that holds cookies posts it back.
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/login").text)
        assert token is not None

        def login(password: str) -> httpx.Response:
            form = {"csrftoken": token.group(1), "username": username, "password": password}
            return client.post("/login", data=form, follow_redirects=False)

        assert [login("fout").status_code for _ in range(2)] == [401, 401]
        locked = login("fout")
        assert locked.status_code == 401 and "tijdelijk geblokkeerd" in locked.text
        assert login(PASSWORD).status_code == 401  # locked: the right password does not get in either
        assert "spoedplein_sessie" not in client.cookies
        limited = login(PASSWORD)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
    with db.read() as session:
        failed = session.query(AuditEntry).filter(AuditEntry.action == "login_failed").all()
    reasons = [e.reason for e in failed]
    assert reasons == ["wrong_password", "wrong_password", "locked", "locked", "rate_limited"]
    assert all(e.outcome == "denied" and PASSWORD not in e.reason for e in failed)
