"""The `spoedplein` command line as a user runs it: `run` (supervised, with mutual TLS), `send`, `replay`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CORPUS
from tests.gateway_process import ROOT
from tests.pki import CertificateAuthority
from tests.servers import free_port

ADT = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123120000||ADT^A04^ADT_A01|{cid}|P|2.5\r"
    "PID|1||5^^^ETZ^PI||Test^Cli||20000101|F\r"
    "PV1|1|E|SEH^^^ETZ||||||||||||||||V{cid}\r"
)


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`spoedplein run` on a fresh data directory, MLLP over mutual TLS."""
    work = tmp_path_factory.mktemp("cli")
    hospital = CertificateAuthority(work, "hospital")
    server = hospital.issue("spoedplein", server=True)
    sender = hospital.issue("ehr", server=False)
    http_port, mllp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOEDPLEIN_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--data-dir", str(work / "var"),
         "--http-port", str(http_port), "--mllp-port", str(mllp_port),
         "--mllp-tls-cert", str(server.cert), "--mllp-tls-key", str(server.key), "--mllp-tls-ca",
         str(hospital.cert_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        banner.append(line)
        if line.startswith("Stop with Ctrl-C"):
            break
    token = next(line.split(": ", 1)[1].strip() for line in banner if "API token" in line)
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    tls = ["--tls-ca", str(hospital.cert_path), "--tls-cert", str(sender.cert), "--tls-key", str(sender.key)]
    yield {"banner": "".join(banner), "token": token, "http": http_port, "mllp": str(mllp_port), "tls": tls,
           "work": work, "hospital": hospital}  # fmt: skip
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=40)


def test_run_prints_where_it_listens_and_the_api_token(running: dict[str, Any]) -> None:
    banner = str(running["banner"])
    assert f"127.0.0.1:{running['mllp']} (TLS)" in banner
    assert f"http://127.0.0.1:{running['http']}" in banner
    response = httpx.get(
        f"http://127.0.0.1:{running['http']}/api/messages",
        headers={"Authorization": f"Bearer {running['token']}"},
    )
    assert response.status_code == 200
    assert httpx.get(f"http://127.0.0.1:{running['http']}/api/messages").status_code == 401


def test_send_over_mutual_tls_prints_the_ack(running: dict[str, Any], tmp_path: Path) -> None:
    message = tmp_path / "one.hl7"
    message.write_text(ADT.format(cid="CLI-1").replace("\r", "\n"))  # LF endings, as files often have
    result = cli("send", str(message), "--port", str(running["mllp"]), *running["tls"])
    assert result.returncode == 0, result.stderr
    assert "MSA|AA|CLI-1" in result.stdout


def test_send_without_a_client_certificate_is_refused(running: dict[str, Any], tmp_path: Path) -> None:
    message = tmp_path / "one.hl7"
    message.write_text(ADT.format(cid="CLI-NOCERT"))
    hospital: CertificateAuthority = running["hospital"]
    result = cli("send", str(message), "--port", str(running["mllp"]), "--tls-ca", str(hospital.cert_path))
    assert result.returncode in (1, 3)  # refused in the handshake, or on the first message
    assert ("no ACK" in result.stderr or "cannot reach" in result.stderr) and "MSA|" not in result.stdout


def test_replay_summarises_accepted_rejected_and_duplicates(running: dict[str, Any], tmp_path: Path) -> None:
    batch = tmp_path / "batch.txt"
    framed = b"\x0b" + ADT.format(cid="R-2").encode() + b"\x1c\r"
    batch.write_bytes(
        ADT.format(cid="R-1").replace("\r", "\r\n").encode() + framed + ADT.format(cid="R-1").encode()
        + ADT.format(cid="R-3").replace("|2.5\r", "|9.9\r", 1).encode()
    )  # fmt: skip
    result = cli("replay", str(batch), "--port", str(running["mllp"]), *running["tls"])
    assert result.returncode == 0, result.stderr
    assert "4 messages: 2 accepted, 1 duplicates, 1 rejected, 0 without answer" in result.stdout
    assert "203 Unsupported version id" in result.stdout


def test_replay_of_the_public_corpus_accounts_for_every_file(running: dict[str, Any]) -> None:
    corpus = CORPUS / "hl7v2" / "fhir-converter"
    result = cli("replay", str(corpus), "--port", str(running["mllp"]), *running["tls"])
    assert result.returncode == 0, result.stderr
    assert "139 messages:" in result.stdout and "0 without answer" in result.stdout


def test_every_command_has_help() -> None:
    """One process proves the entry point lists the commands; each command's help is then asked in this
    process (the same Typer app), not by starting the interpreter and the gateway's imports twelve times."""
    from typer.testing import CliRunner

    from gateway.cli import app

    listed = cli("--help")
    assert listed.returncode == 0 and "Usage" in listed.stdout
    for command in (
        "run",
        "serve",
        "http",
        "mllp",
        "migrate",
        "worker",
        "beat",
        "send",
        "replay",
        "detect",
        "evaluate",
        "rules",
    ):
        assert command in listed.stdout, command
        result = CliRunner().invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.stdout, command


def test_a_setting_out_of_range_is_told_by_its_variable_name_not_a_traceback(tmp_path: Path) -> None:
    result = cli("serve", env={"SPOEDPLEIN_HTTP_WORKERS": "0", "SPOEDPLEIN_DATA_DIR": str(tmp_path)})

    assert result.returncode == 2
    assert "setting SPOEDPLEIN_HTTP_WORKERS:" in result.stderr
    assert "greater than or equal to 1" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_the_readme_example_works_from_a_fresh_clone(running: dict[str, Any]) -> None:
    """The sample message is in the repository, and `$(cat var/secrets/api-token)` is the token to send."""
    readme = (ROOT / "README.md").read_text()
    assert "spoedplein send samples/adt-a04-infant.hl7" in readme
    assert "TOKEN=$(cat var/secrets/api-token)" in readme
    result = cli("send", "samples/adt-a04-infant.hl7", "--port", str(running["mllp"]), *running["tls"])
    assert result.returncode == 0, result.stderr
    assert "MSA|CA|SAMPLE-0001" in result.stdout  # the sample asks for enhanced-mode acknowledgements
    token = (running["work"] / "var" / "secrets" / "api-token").read_text().strip()
    assert token == running["token"]
    reply = httpx.get(
        f"http://127.0.0.1:{running['http']}/api/messages", headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status_code == 200 and any(m["control_id"] == "SAMPLE-0001" for m in reply.json())


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["send", "no-such-file.hl7"], 2, "no-such-file.hl7: No such file or directory"),
        (["replay", "no-such-dir"], 2, "no-such-dir: No such file or directory"),
        (["send", "samples/adt-a04-infant.hl7", "--port", "1"], 3, "cannot reach the gateway's MLLP port"),
        (["replay", "samples", "--port", "1"], 3, "cannot reach the gateway's MLLP port"),
        (
            ["fhir-post", "tests/corpus/fhir", "--url", "http://127.0.0.1:1", "--token", "x"],
            3,
            "cannot reach",
        ),
        (["fhir-subscriptions", "--url", "http://127.0.0.1:1", "--token", "x"], 3, "cannot reach"),
        (["fhir-post", "tests/corpus/fhir"], 4, "no API token"),
    ],
)
def test_cli_errors_are_one_clear_line_and_an_exit_code_never_a_traceback(
    args: list[str], code: int, says: str, tmp_path: Path
) -> None:
    env = {k: "" for k in os.environ if k.startswith("SPOEDPLEIN_")}
    env["SPOEDPLEIN_DATA_DIR"] = str(tmp_path / "empty")  # no token file there
    result = cli(*args, env=env)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_wrong_token_is_told_as_such(running: dict[str, Any]) -> None:
    result = cli(
        "fhir-post", "tests/corpus/fhir", "--url", f"http://127.0.0.1:{running['http']}", "--token", "x"
    )
    assert result.returncode == 4 and "refused the API token" in result.stderr


def test_detect_accepts_a_folder() -> None:
    result = cli("detect", "samples")
    assert result.returncode == 0, result.stderr
    assert "samples/adt-a04-infant.hl7: 4 finding(s)" in result.stdout
    assert "README" not in result.stdout  # only message files are read from a folder
