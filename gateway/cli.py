"""The `spoedplein` command line: run the embedded gateway, its parts, and the HL7 tools.

`spoedplein run` is the embedded default (one data directory, SQLite, server-less broker): it supervises
`http`, `mllp`, `worker` and `beat`, the parts that production runs one by one (after `migrate`).
`serve` is HTTP and MLLP in one process, for a small deployment.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from collections.abc import Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from core.settings import get_settings
from gateway.commands import CliError
from gateway.commands import audit as audit_commands
from gateway.commands import backup as backup_commands
from gateway.commands import fhir as fhir_commands
from gateway.commands import hl7 as hl7_commands
from gateway.commands import identity as identity_commands
from gateway.commands import keys as keys_commands
from gateway.commands import paging as paging_commands
from gateway.commands import retention as retention_commands
from gateway.commands import workflow as workflow_commands

app = typer.Typer(
    help="Spoedplein: HL7 v2 / FHIR gateway for the Integraal Spoedplein.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
hl7_commands.register(app)
audit_commands.register(app)
fhir_commands.register(app)
workflow_commands.register(app)
paging_commands.register(app)
identity_commands.register(app)
keys_commands.register(app)
retention_commands.register(app)
backup_commands.register(app)
try:
    from gateway.commands import detection as detection_commands
except ImportError:  # pragma: no cover - while the detection commands are not installed
    detection_commands = None  # type: ignore[assignment]
if detection_commands is not None:
    detection_commands.register(app)


def main() -> None:
    """The console script. What a user can act on is one line on stderr and an exit code, never a
    traceback: a setting (which variable, what is wrong) and a file that is not there (2), a gateway
    that cannot be reached (3), no API token or a refused one (4)."""
    try:
        app()
    except ValidationError as exc:
        for error in exc.errors():
            if not error["loc"]:  # a check across settings (a secret's _FILE) names its variable itself
                print(f"spoedplein: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
                continue
            name = "SPOEDPLEIN_" + "_".join(str(part) for part in error["loc"]).upper()
            print(f"setting {name}: {error['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
    except CliError as exc:
        print(f"spoedplein: {exc}", file=sys.stderr)
        raise SystemExit(exc.code) from None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"spoedplein: {exc.filename}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None


def configure_metrics(settings: Any, *, clean: bool = False) -> Path:
    """This process writes its metrics where `/metrics` sums them (core/metrics.py); `clean` only in the
    process that starts the others (`run`), before it does."""
    from core.metrics import configure, metrics_dir

    directory = metrics_dir(settings.data_dir, settings.metrics_dir).resolve()
    configure(directory, clean=clean)
    return directory


SCHEMA_NOT_CURRENT_EXIT = 78  # EX_CONFIG: the supervisor and an orchestrator do not restart-loop on it


def require_current_schema(settings: Any) -> None:
    """Refuse to start (exit 78, one line) on a database whose schema is not this release's: the parts
    never migrate (two replicas would race); `spoedplein migrate` does, once, before they start."""
    from sqlalchemy.exc import OperationalError

    from store.migrate import schema_status

    try:
        status = schema_status(settings.resolved_database_url)
    except OperationalError as exc:
        typer.echo(f"spoedplein: the database cannot be reached ({type(exc.orig).__name__})", err=True)
        raise typer.Exit(1) from None
    if status.unknown:
        typer.echo(
            "spoedplein: the database schema is newer than this release (revisions "
            f"{', '.join(sorted(status.unknown))}); run the release that migrated it",
            err=True,
        )
        raise typer.Exit(SCHEMA_NOT_CURRENT_EXIT)
    if status.pending:
        typer.echo(
            f"spoedplein: the database schema is not up to date ({len(status.pending)} migration branch(es) "
            "behind); run `spoedplein migrate` first",
            err=True,
        )
        raise typer.Exit(SCHEMA_NOT_CURRENT_EXIT)
    require_fitting_key(settings)


def require_fitting_key(settings: Any) -> None:
    """Refuse to start (exit 78) with an encryption key that did not write this database's audit log:
    such a part (a second machine that made its own key file) would write values no other part can read."""
    from core.runtime import key_source
    from store.audit import chain_key, key_fits
    from store.db import Database, make_engine

    db = Database(
        make_engine(settings.resolved_database_url), audit_key=chain_key(key_source(settings).load().root)
    )
    try:
        with db.read() as session:
            fits = key_fits(session)
    finally:
        db.dispose()
    if fits is False:
        typer.echo(
            "spoedplein: the encryption key does not fit this database (its newest audit entries were "
            "written with another key); give every part the installation's key "
            "(SPOEDPLEIN_ENCRYPTION_KEY_FILE), see docs/operations.md",
            err=True,
        )
        raise typer.Exit(SCHEMA_NOT_CURRENT_EXIT)


def configure_logging(part: str) -> None:
    """JSON log lines on stderr naming this part (core/logs.py). The level is read before (and apart
    from) Settings: a settings error must itself be reported through logging."""
    from core.logs import configure

    configure(part)


PORT_IN_USE_EXIT = 1


def _listen_or_exit(host: str, port: int, *, what: str, option: str) -> socket.socket:
    """The listening socket, or one clear line naming the taken port and exit status 1."""
    from gateway.supervisor import PortInUse, listen

    try:
        return listen(host, port, what=what)
    except PortInUse as exc:
        typer.echo(f"spoedplein: {exc}; choose another with {option}", err=True)
        raise typer.Exit(PORT_IN_USE_EXIT) from None


@app.command()
def run(
    data_dir: Annotated[Path | None, typer.Option(help="where the embedded store keeps everything")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP port (API, pages, FHIR, CDS Hooks)")] = None,
    mllp_port: Annotated[int | None, typer.Option(help="MLLP port for HL7 v2")] = None,
    http_host: Annotated[str | None, typer.Option(help="HTTP bind address")] = None,
    mllp_host: Annotated[str | None, typer.Option(help="MLLP bind address")] = None,
    mllp_tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: MLLP over TLS")] = None,
    mllp_tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --mllp-tls-cert")] = None,
    mllp_tls_ca: Annotated[Path | None, typer.Option(help="CA bundle: require client certificates")] = None,
    http_workers: Annotated[
        int | None, typer.Option(help="uvicorn worker processes answering HTTP (default 1)")
    ] = None,
) -> None:
    """Start HTTP, MLLP, worker and beat, each its own process (embedded: SQLite and a broker in ./var).

    Exits with status 1, naming the port, when the HTTP or MLLP port is taken."""
    from core.runtime import Runtime
    from gateway.supervisor import Part, Supervisor, child_environment

    configure_logging("run")
    overrides = {
        "SPOEDPLEIN_DATA_DIR": data_dir,
        "SPOEDPLEIN_HTTP_PORT": http_port,
        "SPOEDPLEIN_MLLP_PORT": mllp_port,
        "SPOEDPLEIN_HTTP_HOST": http_host,
        "SPOEDPLEIN_MLLP_HOST": mllp_host,
        "SPOEDPLEIN_MLLP_TLS_CERT": mllp_tls_cert,
        "SPOEDPLEIN_MLLP_TLS_KEY": mllp_tls_key,
        "SPOEDPLEIN_MLLP_TLS_CA": mllp_tls_ca,
        "SPOEDPLEIN_HTTP_WORKERS": http_workers,
    }
    env_overrides = {
        k: str(v.resolve() if isinstance(v, Path) else v) for k, v in overrides.items() if v is not None
    }
    os.environ.update(env_overrides)
    settings = get_settings()
    # Counters of a previous run are gone with its processes; the parts started below write here.
    env_overrides["SPOEDPLEIN_METRICS_DIR"] = str(configure_metrics(settings, clean=True))
    os.environ.update(env_overrides)
    # The ports first: a taken one is the most likely mistake, and nothing has been touched yet.
    http_socket = _listen_or_exit(settings.http_host, settings.http_port, what="HTTP", option="--http-port")
    mllp_socket = _listen_or_exit(settings.mllp_host, settings.mllp_port, what="MLLP", option="--mllp-port")
    paging_commands.load_paging(settings)  # a roster problem stops us here, named, not at 3 a.m.
    runtime = Runtime.start(settings)  # migrates and creates the secrets once, before the children start
    runtime.close()
    _check_mllp_tls(runtime)  # a wrong certificate is told here once, not by a child restarting
    parts = [
        Part("http", ("http", "--fd", str(http_socket.fileno())), sockets=(http_socket,)),
        Part("mllp", ("mllp", "--fd", str(mllp_socket.fileno())), sockets=(mllp_socket,)),
        # Processing yields the CPU to the feed: it may lag behind a burst, the ACK may not.
        Part("worker", ("worker",), niceness=WORKER_NICENESS),
        Part("beat", ("beat",), niceness=BEAT_NICENESS),
    ]

    def _announce() -> None:
        tls = " (TLS)" if settings.mllp_tls_cert else ""
        typer.echo(f"Spoedplein is running. Data directory: {settings.data_dir.resolve()}")
        typer.echo(f"  HTTP   http://{settings.http_host}:{settings.http_port}  (API docs at /docs)")
        typer.echo(f"  MLLP   {settings.mllp_host}:{settings.mllp_port}{tls}")
        typer.echo(f"  store  {settings.resolved_database_url}")
        typer.echo(f"  broker {settings.resolved_broker_url}")
        typer.echo(f"  API token: {runtime.api_token}")
        typer.echo("Stop with Ctrl-C.")

    supervisor = Supervisor(parts, child_environment(env_overrides))
    raise typer.Exit(supervisor.run(on_started=_announce))


# CPU priority of the processing parts under `run` (nice values; HTTP and MLLP stay at 0).
WORKER_NICENESS = 10
BEAT_NICENESS = 5


def _check_mllp_tls(runtime: Any) -> None:
    """Exit with status 2 (a configuration error: the supervisor does not restart it) and one line when
    the MLLP TLS settings cannot make a context (a missing file, a key that does not fit)."""
    from gateway.serve import mllp_ssl_context

    settings = runtime.settings
    for name, path in (
        ("CERT", settings.mllp_tls_cert),
        ("KEY", settings.mllp_tls_key),
        ("CA", settings.mllp_tls_ca),
    ):
        if path is not None and not Path(path).is_file():
            typer.echo(
                f"spoedplein: MLLP TLS: SPOEDPLEIN_MLLP_TLS_{name} {path} is not a readable file", err=True
            )
            raise typer.Exit(2)
    try:
        mllp_ssl_context(runtime)
    except (ValueError, OSError) as exc:
        typer.echo(f"spoedplein: MLLP TLS: {exc}", err=True)
        raise typer.Exit(2) from None


def _inherited_socket(fd: int) -> socket.socket:
    """The listening socket the supervisor bound and handed over."""
    return socket.socket(fileno=fd)


@app.command()
def http(
    fd: Annotated[
        int | None, typer.Option(help="listening socket handed over by a supervisor", hidden=True)
    ] = None,
    workers: Annotated[int | None, typer.Option(help="uvicorn worker processes (default 1)")] = None,
) -> None:
    """Run HTTP alone: API, pages, FHIR and CDS Hooks (production; run `spoedplein migrate` first)."""
    from gateway.http_server import run_http

    configure_logging("http")
    if workers is not None:
        os.environ["SPOEDPLEIN_HTTP_WORKERS"] = str(workers)
    settings = get_settings()
    configure_metrics(settings)
    if fd is not None:
        sock = _inherited_socket(fd)
    else:
        sock = _listen_or_exit(
            settings.http_host, settings.http_port, what="HTTP", option="SPOEDPLEIN_HTTP_PORT"
        )
    require_current_schema(settings)  # after the port: a taken port is the likelier mistake, told first
    paging_commands.load_paging(settings)  # the pager's watchdog runs in this part
    run_http(settings, sock)


@app.command()
def mllp(
    fd: Annotated[
        int | None, typer.Option(help="listening socket handed over by a supervisor", hidden=True)
    ] = None,
) -> None:
    """Run the MLLP (HL7 v2) listener alone (production; run `spoedplein migrate` first)."""
    from core.runtime import Runtime
    from gateway.serve import serve_mllp

    configure_logging("mllp")
    settings = get_settings()
    configure_metrics(settings)
    if fd is not None:
        sock = _inherited_socket(fd)
    else:
        sock = _listen_or_exit(
            settings.mllp_host, settings.mllp_port, what="MLLP", option="SPOEDPLEIN_MLLP_PORT"
        )
    require_current_schema(settings)  # after the port: a taken port is the likelier mistake, told first
    runtime = Runtime.start(settings, migrate=False)
    _check_mllp_tls(runtime)
    try:
        run_event_loop(serve_mllp(runtime, sock))
    finally:
        runtime.close()


@app.command()
def serve() -> None:
    """Run HTTP and MLLP together in one process (a small deployment). On the embedded default (SQLite in
    the data directory, one process owning it) it applies migrations first; on PostgreSQL it refuses to
    start on an outdated schema (exit 78) like the other parts: run `spoedplein migrate` first."""
    from core.runtime import Runtime
    from gateway.serve import serve as serve_gateway

    configure_logging("serve")
    settings = get_settings()
    configure_metrics(settings)
    http_socket = _listen_or_exit(
        settings.http_host, settings.http_port, what="HTTP", option="SPOEDPLEIN_HTTP_PORT"
    )
    mllp_socket = _listen_or_exit(
        settings.mllp_host, settings.mllp_port, what="MLLP", option="SPOEDPLEIN_MLLP_PORT"
    )
    paging_commands.load_paging(settings)
    if not settings.resolved_database_url.startswith("sqlite"):
        require_current_schema(settings)
    runtime = Runtime.start(settings, migrate=settings.resolved_database_url.startswith("sqlite"))
    try:
        run_event_loop(serve_gateway(runtime, http_socket=http_socket, mllp_socket=mllp_socket))
    finally:
        runtime.close()


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest revision and exit (production: a one-shot job first)."""
    from sqlalchemy.exc import OperationalError

    from core.runtime import Runtime

    configure_logging("migrate")
    try:
        Runtime.start(get_settings()).close()  # the data directory and secrets too, on the embedded default
    except OperationalError as exc:
        typer.echo(f"spoedplein: the database cannot be reached ({type(exc.orig).__name__})", err=True)
        raise typer.Exit(1) from None
    typer.echo("database schema is up to date")


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed (it comes with uvicorn[standard]): less CPU per socket operation."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="worker threads (1 = solo pool)")] = 1,
) -> None:
    """Run a Celery worker that processes stored messages and other outbox work."""
    from gateway import heartbeat
    from gateway.worker import celery_app

    configure_logging("worker")
    paging_commands.load_paging(get_settings())
    get_settings().data_dir.mkdir(parents=True, exist_ok=True)  # the embedded broker file lives there
    configure_metrics(get_settings())
    require_current_schema(get_settings())
    heartbeat.start_thread(heartbeat.heartbeat_file(get_settings().data_dir, "worker"), _broker_answers)
    pool = ["--pool=solo"] if concurrency <= 1 else ["--pool=threads", f"--concurrency={concurrency}"]
    celery_app.worker_main(
        [
            "worker",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *pool,
        ]
    )


@app.command()
def beat() -> None:
    """Run the outbox relay and the periodic timer tick (one per deployment is enough; more are safe)."""
    import signal

    from core.runtime import Runtime
    from gateway.heartbeat import Heartbeat, heartbeat_file
    from gateway.relay import run_relay
    from gateway.worker import celery_app

    configure_logging("beat")
    paging_commands.load_paging(get_settings())
    configure_metrics(get_settings())
    require_current_schema(get_settings())
    runtime = Runtime.start(get_settings(), migrate=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    beat_file = Heartbeat(heartbeat_file(runtime.settings.data_dir, "beat"))
    try:
        run_relay(runtime, celery_app, stop, beat_file)
    finally:
        runtime.close()


def _broker_answers() -> bool:
    """The worker's heartbeat condition: its broker takes a connection within a few seconds."""
    from gateway.worker import celery_app

    with celery_app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=5)
    return True


class HealthPart(StrEnum):
    HTTP = "http"
    MLLP = "mllp"
    WORKER = "worker"
    BEAT = "beat"


@app.command()
def health(
    part: Annotated[HealthPart, typer.Argument(help="which part of this machine or container to check")],
) -> None:
    """Exit 0 when the part is healthy, 1 when not, with one line (container health checks): http and
    mllp on their ports, worker and beat by the age of their heartbeat file in the data directory."""
    from gateway import heartbeat

    settings = get_settings()
    if part is HealthPart.HTTP:
        ok, line = heartbeat.check_http(settings.http_host, settings.http_port)
    elif part is HealthPart.MLLP:
        ok, line = heartbeat.check_mllp(settings.mllp_host, settings.mllp_port)
    else:
        ok, line = heartbeat.check_file(heartbeat.heartbeat_file(settings.data_dir, part.value), part.value)
    typer.echo(line, err=not ok)
    raise typer.Exit(0 if ok else 1)
