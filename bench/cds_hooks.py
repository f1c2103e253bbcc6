"""CDS Hooks benchmark, open loop: `spoedplein run` as shipped, the signals service, a new 50-resource
prefetch on every call.

The gateway is started exactly as `make run` starts it (embedded SQLite in a temporary data directory,
server-less broker, worker and beat running, one HTTP process), with a trusted CDS client configured.
The load generator runs on the same machine and speaks HTTP/1.1 on raw asyncio streams (so its own CPU
stays small). Each call carries a fresh ES384 JWT (minted before the run: the client's signing cost stays
out of the figures) and a prefetch whose content was never seen before (one observation's value changes),
so every call runs the whole path: JWT checks and the jti replay ledger, prefetch → Presentation,
detection, the case lookup, and the neutral card.

Open loop: calls are due at a fixed rate (`--rates`, spread over `--clients` connections), and latency
counts from the moment each call was due, so a server that falls behind shows its queueing delay instead
of hiding it. Printed per rate: p50, p99 and max over the median and the worst of `--rounds` rounds. Then
a closed-loop saturation run (each client sends its next call as soon as it has the answer), reported as
throughput only. Baseline in the same run: a bare FastAPI endpoint under uvicorn that parses the same
body and answers `{"cards": []}`, at the same rates.
Target: p99 <= 50 ms at 100 calls/s (and at 50/s).

    .venv/bin/python bench/cds_hooks.py [--rates 50,75,100] [--rounds 2] [--seconds 8] [--alg RS384]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvloop  # noqa: E402

from tests import cds_helpers as cds  # noqa: E402
from tests.servers import free_port  # noqa: E402

SERVICE = "spoedplein-signals-patient-view"
PATH = f"/cds-services/{SERVICE}"
MARKER = b"bench-00000000"


def serve_bare(port: int) -> None:
    """Child process: a bare FastAPI endpoint that parses the same body and answers no cards."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post(PATH)
    def hook(body: dict[str, Any]) -> dict[str, Any]:
        return {"cards": []}

    @app.get("/cds-services")
    def discovery() -> dict[str, Any]:
        return {"services": []}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/cds-services", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms, default=float("nan"))


class _Connection:
    """A minimal keep-alive HTTP/1.1 client connection: far cheaper per call than a full client library,
    so the load generator's own CPU does not become the figure being measured."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        closing = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "connection" and value.strip().lower() == "close":
                closing = True
        payload = await self.reader.readexactly(length)
        if closing:
            self.writer.close()
            self.reader = self.writer = None
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def load(
    url: str,
    bodies: Iterator[bytes],
    tokens: Iterator[str] | None,
    *,
    name: str,
    clients: int,
    warmup_s: float,
    seconds: float,
    rate: float | None,
) -> Result:
    """Open loop at `rate` calls/s over `clients` connections (latency from each call's due time), or
    closed loop with rate None (latency from the actual send)."""
    latencies: list[float] = []
    errors = 0
    target = httpx.URL(url)
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop_at = measure_from + seconds
    interval = clients / rate if rate else 0.0  # per connection

    async def client(index: int) -> None:
        nonlocal errors
        connection = _Connection(target.host, target.port or 80)
        next_at = start + interval * index / clients
        try:
            while True:
                if interval:
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                due = next_at if interval else time.perf_counter()
                next_at += interval
                if due >= stop_at:
                    return
                headers = {"Content-Type": "application/json"}
                if tokens is not None:
                    headers["Authorization"] = f"Bearer {next(tokens)}"
                status, answer = await connection.post(target.raw_path.decode(), next(bodies), headers)
                if due >= measure_from:
                    latencies.append((time.perf_counter() - due) * 1000)
                    if status != 200 or (tokens is not None and b'"cards":[]' in answer):
                        errors += 1
        finally:
            connection.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return Result(name, len(latencies), seconds, latencies, errors)


def new_prefetch_bodies(body: bytes) -> Iterator[bytes]:
    """The same hook call with a prefetch never seen before on each call (one observation's value)."""
    sequence = 0
    while True:
        sequence += 1
        yield body.replace(MARKER, f"bench-{sequence:08d}".encode())


class RunningGateway:
    """`spoedplein run` in its own session, with a trusted CDS client; stopped with its whole tree."""

    def __init__(self, work: Path, key: cds.SigningKey) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPOEDPLEIN_")}
        env.update(
            SPOEDPLEIN_DATA_DIR=str(work / "var"),
            SPOEDPLEIN_HTTP_PORT=str(self.port),
            SPOEDPLEIN_MLLP_PORT=str(free_port()),
            SPOEDPLEIN_API_TOKEN="bench",
            SPOEDPLEIN_LOG_LEVEL="WARNING",
            SPOEDPLEIN_CDS_TRUSTED_ISSUERS=json.dumps({cds.ISSUER: str(key.write_jwks(work / "jwks.json"))}),
        )
        self.log = (work / "run.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run"],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        _wait_up(self.url, self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def _summary(results: list[Result], pick: Callable[[Result], float]) -> str:
    values = [pick(r) for r in results]
    return f"{statistics.median(values):7.1f} / {max(values):7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=20, help="connections the calls are spread over")
    parser.add_argument("--rates", default="50,75,100", help="offered calls/s, comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--alg", choices=("ES384", "RS384"), default="ES384", help="the CDS client's JWT")
    parser.add_argument("--saturation-seconds", type=float, default=5.0, help="closed loop; 0 to skip")
    args = parser.parse_args()

    data = cds.prefetch(n_conditions=8, n_observations=40)
    data["observations"]["entry"][0]["resource"].pop("valueQuantity")
    data["observations"]["entry"][0]["resource"]["valueString"] = MARKER.decode()
    resources = sum(len(v.get("entry", [])) if v["resourceType"] == "Bundle" else 1 for v in data.values())
    body = json.dumps(cds.hook_request("patient-view", data)).encode()
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    calls = int(sum(rates) * (args.seconds + args.warmup) * args.rounds * 1.1) + 1000
    key = cds.SigningKey("bench-key", algorithm=args.alg)
    work = Path(tempfile.mkdtemp(prefix="spoedplein-bench-cds-"))
    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(bare_port)])
    gateway: RunningGateway | None = None
    paced: dict[tuple[str, float], list[Result]] = {}
    saturation: Result | None = None
    try:
        gateway = RunningGateway(work, key)
        bare_url = f"http://127.0.0.1:{bare_port}"
        _wait_up(bare_url, bare)
        print(f"minting {calls} {args.alg} tokens…", flush=True)
        tokens = iter([key.token(gateway.url + PATH) for _ in range(calls)])
        bodies = new_prefetch_bodies(body)
        common: dict[str, Any] = {"clients": args.clients, "warmup_s": args.warmup, "seconds": args.seconds}
        for number in range(1, args.rounds + 1):
            for rate in rates:
                for kind, url, with_tokens in (
                    ("bare", bare_url, None),
                    ("signals", gateway.url, tokens),
                ):
                    result = uvloop.run(load(url + PATH, bodies, with_tokens, name=kind, rate=rate, **common))
                    paced.setdefault((kind, rate), []).append(result)
                    print(
                        f"round {number} {kind:<7} {rate:5.0f}/s: p50 {result.pct(50):6.1f} ms,"
                        f" p99 {result.pct(99):6.1f} ms, max {result.max_ms:6.1f} ms, errors {result.errors}",
                        flush=True,
                    )
        if args.saturation_seconds > 0:
            saturation = uvloop.run(
                load(
                    gateway.url + PATH,
                    bodies,
                    tokens,
                    name="signals",
                    rate=None,
                    clients=args.clients,
                    warmup_s=1.0,
                    seconds=args.saturation_seconds,
                )
            )
    finally:
        if gateway is not None:
            gateway.stop()
        bare.terminate()
        bare.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"CDS Hooks open loop against `spoedplein run` as shipped (one HTTP process, worker and beat"
        f" running): prefetch of {resources} resources, new content each call, {args.alg} tokens,"
        f" {args.clients} connections, {args.rounds} rounds of {args.seconds:.0f} s;"
        f" load average at the end {os.getloadavg()[0]:.1f}"
    )
    print("  offered   server    p50 ms median/worst   p99 ms median/worst   max ms median/worst   errors")
    for (kind, rate), results in sorted(paced.items(), key=lambda item: (item[0][1], item[0][0])):
        print(
            f"  {rate:5.0f}/s  {kind:<8} {_summary(results, lambda r: r.pct(50))}       "
            f"{_summary(results, lambda r: r.pct(99))}       {_summary(results, lambda r: r.max_ms)}"
            f"       {sum(r.errors for r in results)}"
        )
    if saturation is not None:
        print(
            f"  closed loop ({args.clients} clients back to back): {saturation.rate:.0f} calls/s"
            f" (throughput only; errors {saturation.errors})"
        )
    for rate in rates:
        worst = max(r.pct(99) for r in paced[("signals", rate)])
        verdict = "met" if worst <= 50 else "NOT met"
        print(f"  target p99 <= 50 ms at {rate:.0f}/s, worst round: {verdict} ({worst:.1f} ms)")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-bare":
        serve_bare(int(sys.argv[2]))
    else:
        main()
