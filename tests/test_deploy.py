"""Deploying the parts one by one, as docker-compose does: they refuse an un-migrated or outdated schema
(exit 78, one line, nothing changed), `spoedplein health` answers for each part, and secrets come from
files (`SPOEDPLEIN_*_FILE`)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.settings import Settings
from store.migrate import schema_status
from tests.gateway_process import ROOT
from tests.servers import free_port


def part_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOEDPLEIN_")}
    env.update(
        {
            "SPOEDPLEIN_DATA_DIR": str(data_dir),
            "SPOEDPLEIN_HTTP_PORT": str(free_port()),
            "SPOEDPLEIN_MLLP_PORT": str(free_port()),
            "PYTHONPATH": str(ROOT),
            **extra,
        }
    )
    return env


def cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def database(data_dir: Path) -> Path:
    return data_dir / "spoedplein.sqlite"


def tables(data_dir: Path) -> set[str]:
    if not database(data_dir).exists():
        return set()
    with sqlite3.connect(database(data_dir)) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.mark.parametrize("part", ["http", "mllp", "worker", "beat"])
def test_a_part_refuses_to_start_on_an_unmigrated_schema_and_changes_nothing(
    tmp_path: Path, part: str
) -> None:
    result = cli(part, env=part_env(tmp_path))

    assert result.returncode == 78, result.stderr[-2000:]
    assert "run `spoedplein migrate` first" in result.stderr
    assert "Traceback" not in result.stderr
    assert tables(tmp_path) <= {"alembic_version"} and "alembic_version" not in tables(tmp_path)


def test_outdated_and_newer_schemas_are_refused(tmp_path: Path) -> None:
    env = part_env(tmp_path)
    assert cli("migrate", env=env).returncode == 0
    url = f"sqlite:///{database(tmp_path)}"
    assert schema_status(url).current
    with sqlite3.connect(database(tmp_path)) as connection:  # one branch one release behind
        heads = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
        connection.execute("DELETE FROM alembic_version WHERE version_num = ?", (heads[0],))
    behind = cli("beat", env=env)
    assert behind.returncode == 78 and "not up to date" in behind.stderr

    with sqlite3.connect(database(tmp_path)) as connection:  # current again, then a newer release ran
        connection.execute("INSERT INTO alembic_version VALUES (?)", (heads[0],))
        connection.execute("INSERT INTO alembic_version VALUES ('zz_from_a_newer_release')")
    newer = cli("mllp", env=env)
    assert newer.returncode == 78 and "newer than this release" in newer.stderr


def test_health_of_worker_and_beat_follows_their_heartbeat(tmp_path: Path) -> None:
    env = part_env(tmp_path)
    assert cli("migrate", env=env).returncode == 0
    before = cli("health", "beat", env=env)
    assert before.returncode == 1 and "no heartbeat" in before.stderr

    procs = {
        part: subprocess.Popen(
            [sys.executable, "-m", "gateway", part],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for part in ("worker", "beat")
    }
    try:
        deadline = time.monotonic() + 60
        healthy: dict[str, bool] = {}
        while time.monotonic() < deadline and not all(healthy.get(p) for p in procs):
            # Ask `health` (a process of its own each time) only once the part has written a heartbeat.
            healthy = {
                p: (tmp_path / "heartbeat" / p).exists() and cli("health", p, env=env).returncode == 0
                for p in procs
            }
            time.sleep(0.5)
        assert all(healthy.values()), healthy
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=30)
    heartbeat = tmp_path / "heartbeat" / "beat"
    stale = time.time() - 120
    os.utime(heartbeat, (stale, stale))  # a beat that stopped writing two minutes ago
    after = cli("health", "beat", env=env)
    assert after.returncode == 1 and "last heartbeat" in after.stderr


def test_health_of_http_and_mllp_is_their_port(tmp_path: Path) -> None:
    env = part_env(tmp_path)
    assert cli("health", "http", env=env).returncode == 1
    assert cli("health", "mllp", env=env).returncode == 1


def test_secrets_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "api-token"
    token.write_text("token-from-a-docker-secret\n")
    smtp = tmp_path / "smtp"
    smtp.write_text("smtp://pager:s3cret@127.0.0.1:587")
    monkeypatch.setenv("SPOEDPLEIN_API_TOKEN_FILE", str(token))
    monkeypatch.setenv("SPOEDPLEIN_SMTP_URL_FILE", str(smtp))
    monkeypatch.delenv("SPOEDPLEIN_API_TOKEN", raising=False)
    monkeypatch.delenv("SPOEDPLEIN_SMTP_URL", raising=False)

    settings = Settings()
    assert settings.api_token == "token-from-a-docker-secret"
    assert settings.smtp_url == "smtp://pager:s3cret@127.0.0.1:587"

    monkeypatch.setenv("SPOEDPLEIN_API_TOKEN", "also-set")
    with pytest.raises(ValueError, match="not both"):
        Settings()


def test_a_missing_secret_file_is_named_not_a_traceback(tmp_path: Path) -> None:
    env = part_env(tmp_path, SPOEDPLEIN_DATABASE_URL_FILE=str(tmp_path / "nope"))
    result = cli("migrate", env=env)
    assert result.returncode == 2
    assert "SPOEDPLEIN_DATABASE_URL_FILE" in result.stderr and "No such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_compose_checks_every_service_and_passes_secrets_as_files() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for part in ("http", "mllp", "worker", "beat"):
        assert services[part]["healthcheck"]["test"] == ["CMD", "spoedplein", "health", part]
        assert services[part]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert all("healthcheck" in services[name] for name in ("postgres", "redis"))
    environment = services["http"]["environment"]
    for secret in ("API_TOKEN", "DATABASE_URL", "ENCRYPTION_KEY"):
        assert f"SPOEDPLEIN_{secret}" not in environment
        assert environment[f"SPOEDPLEIN_{secret}_FILE"].startswith("/run/secrets/")
    assert {"pgdata", "redisdata"} <= set(compose["volumes"])
    assert any(v.startswith("redisdata:") for v in services["redis"]["volumes"])
