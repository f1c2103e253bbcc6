"""The `spoedplein` command line: run the embedded gateway, its parts, and the HL7 tools.

`spoedplein run` is the embedded default (one data directory, SQLite, server-less broker); `serve`,
`worker` and `beat` are the parts it supervises, also used one by one in production.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from core.settings import get_settings
from gateway.commands import CliError
from gateway.commands import fhir as fhir_commands
from gateway.commands import hl7 as hl7_commands
from gateway.commands import paging as paging_commands
from gateway.commands import workflow as workflow_commands

app = typer.Typer(
    help="Spoedplein: HL7 v2 / FHIR gateway for the Integraal Spoedplein.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
hl7_commands.register(app)
fhir_commands.register(app)
workflow_commands.register(app)
paging_commands.register(app)
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
            name = "SPOEDPLEIN_" + "_".join(str(part) for part in error["loc"]).upper()
            print(f"setting {name}: {error['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
    except CliError as exc:
        print(f"spoedplein: {exc}", file=sys.stderr)
        raise SystemExit(exc.code) from None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"spoedplein: {exc.filename}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None


def configure_logging() -> None:
    level = os.environ.get("SPOEDPLEIN_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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
    http_processes: Annotated[
        int | None, typer.Option(help="processes answering HTTP on the one port (one per core)")
    ] = None,
) -> None:
    """Start HTTP, MLLP, worker and beat (embedded default: SQLite and a broker in ./var)."""
    from core.runtime import Runtime
    from gateway.supervisor import child_environment, supervise

    configure_logging()
    overrides = {
        "SPOEDPLEIN_DATA_DIR": data_dir,
        "SPOEDPLEIN_HTTP_PORT": http_port,
        "SPOEDPLEIN_MLLP_PORT": mllp_port,
        "SPOEDPLEIN_HTTP_HOST": http_host,
        "SPOEDPLEIN_MLLP_HOST": mllp_host,
        "SPOEDPLEIN_MLLP_TLS_CERT": mllp_tls_cert,
        "SPOEDPLEIN_MLLP_TLS_KEY": mllp_tls_key,
        "SPOEDPLEIN_MLLP_TLS_CA": mllp_tls_ca,
        "SPOEDPLEIN_HTTP_PROCESSES": http_processes,
    }
    env_overrides = {
        k: str(v.resolve() if isinstance(v, Path) else v) for k, v in overrides.items() if v is not None
    }
    os.environ.update(env_overrides)
    settings = get_settings()
    paging_commands.load_paging(settings)  # a roster problem stops us here, named, not at 3 a.m.
    runtime = Runtime.start(settings)  # migrates and creates the secrets once, before the children start
    runtime.close()

    def _announce() -> None:
        tls = " (TLS)" if settings.mllp_tls_cert else ""
        typer.echo(f"Spoedplein is running. Data directory: {settings.data_dir.resolve()}")
        typer.echo(f"  HTTP   http://{settings.http_host}:{settings.http_port}  (API docs at /docs)")
        typer.echo(f"  MLLP   {settings.mllp_host}:{settings.mllp_port}{tls}")
        typer.echo(f"  store  {settings.resolved_database_url}")
        typer.echo(f"  broker {settings.resolved_broker_url}")
        typer.echo(f"  API token: {runtime.api_token}")
        typer.echo("Stop with Ctrl-C.")

    raise typer.Exit(supervise(child_environment(env_overrides), on_started=_announce))


@app.command()
def serve() -> None:
    """Run the gateway process alone: HTTP and MLLP (applies migrations first)."""
    from core.runtime import Runtime
    from gateway.serve import serve as serve_gateway

    configure_logging()
    paging_commands.load_paging(get_settings())
    runtime = Runtime.start(get_settings())
    try:
        run_event_loop(serve_gateway(runtime))
    finally:
        runtime.close()


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
    from gateway.worker import celery_app

    configure_logging()
    paging_commands.load_paging(get_settings())
    get_settings().data_dir.mkdir(parents=True, exist_ok=True)  # the embedded broker file lives there
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
    from gateway.relay import run_relay
    from gateway.worker import celery_app

    configure_logging()
    paging_commands.load_paging(get_settings())
    runtime = Runtime.start(get_settings(), migrate=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        run_relay(runtime, celery_app, stop)
    finally:
        runtime.close()
