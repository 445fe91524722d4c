"""`make run` as a newcomer starts it (temporary SQLite file, a free loopback port): it prints
no warnings, the README's curl session works pasted as written, and a PDF request logs one line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server import ROOT, free_port

BIN = Path(sys.executable).parent
#: The request id of the health checks made while waiting for the start (left out of counts).
STARTING = "make-run-starting"
#: The README sections whose ```sh blocks form the curl session, in order.
SESSION = ("A curl session", "Invoices and payments", "Quotes, subscriptions and the client portal")


class MakeRun:
    """`make run` in its own process group; everything it prints goes to one file, in order."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = tmp_path / "make-run.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PAYDOCK_")}
        self.env.update(PAYDOCK_DATABASE_URL=f"sqlite:///{tmp_path / 'paydock.db'}",
                        PAYDOCK_PORT=str(self.port))
        self.process: subprocess.Popen | None = None

    def start(self) -> MakeRun:
        with self.output.open("w") as out:
            # -o: never reinstall the virtualenv here; BIN: the one running these tests.
            self.process = subprocess.Popen(
                ["make", "--no-print-directory", "-o", ".venv/.installed", f"BIN={BIN}", "run"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.text()[-3000:]
            try:
                if httpx.get(self.url + "/api/health", timeout=1,
                             headers={"X-Request-Id": STARTING}).status_code == 200 and \
                        "billing run:" in self.text():
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("make run did not start in 180 s: " + self.text()[-3000:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def lines(self) -> list[str]:
        return self.text().splitlines()

    def key(self) -> str:
        match = re.search(r"^API key \(read, write, admin\): (ftj_\S+)$", self.text(), re.M)
        assert match, self.text()[-3000:]
        return match.group(1)

    def log_records(self, since: int = 0) -> list[dict]:
        """The JSON log lines written after the first `since` lines."""
        return [json.loads(line) for line in self.lines()[since:] if line.startswith("{")]


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    if subprocess.run(["make", "--version"], capture_output=True).returncode:
        pytest.fail("make run needs GNU make")
    server = MakeRun(tmp_path_factory.mktemp("make-run"))
    try:
        yield server.start()
    finally:
        server.stop()


def test_make_run_starts_without_warnings(make_run):
    lines = make_run.lines()
    key_at = next(i for i, line in enumerate(lines) if line.startswith("API key (read, write, admin): "))
    before = lines[:key_at]
    # Exactly what make echoes and the two commands print: no warnings, no progress bars.
    assert [re.sub(r"\S*/paydock ", "paydock ", line) for line in before[::2]] == \
        ["paydock migrate", "paydock demo"], before
    assert re.fullmatch(r"applied \d+ migration\(s\): m0001_\S+.*", before[1]), before
    assert re.fullmatch(r"Demo administration: PayDock Demo BV \(\S+\)", before[3]), before
    assert len(before) == 4, before
    after = lines[key_at + 1:]
    assert after[0] == (f"PayDock on http://127.0.0.1:{make_run.port} "
                        f"(Swagger UI: http://127.0.0.1:{make_run.port}/api/docs), webhook worker beside it")
    # Everything else is log lines (JSON: the output is not a terminal), none a warning.
    records = [json.loads(line) for line in after[1:]]
    assert not [r for r in records if r["level"] not in ("INFO", "DEBUG")], records
    assert not [r for r in records if "warning" in r["message"].lower()], records
    assert any(r["message"] == f"Listening at: http://127.0.0.1:{make_run.port} ({make_run.process.pid})"
               or r["message"].startswith(f"Listening at: http://127.0.0.1:{make_run.port}") for r in records)
    # The worker said what its first billing run billed: nothing (the demo has no subscriptions).
    billing = [r for r in records if r["message"].startswith("billing run:")]
    assert len(billing) == 1 and billing[0]["logger"] == "paydock.cli", billing
    assert (billing[0]["invoices"], billing[0]["subscriptions"]) == (0, 0), billing


def readme_session() -> str:
    """The ```sh blocks of the README's curl-session sections, as one script."""
    readme = (ROOT / "README.md").read_text()
    sections = dict(re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", readme, re.M | re.S))
    sending = [title for title in sections if re.search(r"\bsend", title, re.I)]
    blocks = []
    for title in (*SESSION, *sending):
        found = re.findall(r"^```sh\n(.*?)^```", sections[title], re.M | re.S)
        assert found, title
        blocks += found
    return "\n".join(blocks)


def test_the_readme_curl_session_works_as_written(make_run):
    script = readme_session()
    assert "<" not in re.sub(r"<<|2>&1|<\(", "", script.replace("-->", "")), \
        "a placeholder a person would have to fill in"
    # What a person changes when pasting: the key `make run` printed (and the port of this run).
    assert script.count("KEY=ftj_your_api_key_here") == 1 and script.count("http://127.0.0.1:8000/api") == 1
    script = script.replace("ftj_your_api_key_here", make_run.key())
    script = script.replace("http://127.0.0.1:8000/api", f"{make_run.url}/api")
    script = script.replace(".venv/bin/paydock", f"{BIN}/paydock")
    curls = len(re.findall(r"(?:^|\$\()curl ", script, re.M))
    # A polling loop (`until curl …; do sleep 1; done`) asks one path as often as it takes.
    polled = re.findall(r"^(?:until|while) curl .*?\$API(/[^\s\"'|]*)", script, re.M)
    since = len(make_run.lines())
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=ROOT, env=make_run.env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    shown = result.stdout + result.stderr
    # The seed example: 339.00 with 58.83 VAT, numbered, then paid in full.
    assert re.search(r'"number": "2026-0001"', shown), shown
    assert re.search(r'"total_incl": 339\.00, "total_vat": 58\.83, "total_excl": 280\.17', shown) or (
        re.search(r'"total_incl": 339\.00', shown) and re.search(r'"total_vat": 58\.83', shown)), shown
    assert re.search(r'"status": "betaald"', shown) and re.search(r'"amount_paid": 339\.00', shown), shown
    assert re.search(r'"number": "OFF-2026-0001"', shown) and re.search(r'"total_incl": 250\.00', shown)
    assert "billed 3 invoice(s) for 1 subscription(s)" in result.stdout
    assert '"phone": "+31 20 123 4567"' in shown and '"email": "info@acmetrading.nl"' in shown

    # Every curl reached the API and got a 2xx, except the documented 422 (three decimals).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        access = [r for r in make_run.log_records(since)
                  if r.get("logger") == "paydock.access" and r.get("request_id") != STARTING]
        if len(access) >= curls + len(polled):
            break
        time.sleep(0.2)
    polls = [r for r in access if re.sub(r"/[0-9a-f-]{36}", "/{id}", r["path"]) in
             {"/api" + re.sub(r"\$\w+", "{id}", path) for path in polled}]
    assert len(polls) >= len(polled), [(r["method"], r["path"], r["status"]) for r in access]
    assert len(access) - len(polls) == curls, [(r["method"], r["path"], r["status"]) for r in access]
    refused = [(r["method"], r["path"], r["status"]) for r in access if not 200 <= r["status"] < 300]
    assert refused == [("POST", "/api/products", 422)], refused


def test_a_pdf_request_logs_one_line(make_run):
    headers = {"X-API-Key": make_run.key()}
    contact = httpx.post(f"{make_run.url}/api/contacts", headers=headers, json={"name": "Pdf BV"}).json()
    invoice = httpx.post(f"{make_run.url}/api/invoices", headers=headers, timeout=30, json={
        "contact_id": contact["id"], "status": "verzonden", "invoice_date": "2026-04-11",
        "lines": [{"description": "Installatie", "quantity": 2, "unit_price_incl": 125.00,
                   "tax_percentage": 21}]}).json()
    time.sleep(0.5)
    since = len(make_run.lines())
    pdf = httpx.get(f"{make_run.url}/api/invoices/{invoice['id']}/pdf", timeout=60,
                    headers={**headers, "X-Request-Id": "readme-pdf-1"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    time.sleep(1.5)   # anything logged after the response would be written by now
    new = make_run.lines()[since:]
    assert len([line for line in new if "readme-pdf-1" in line]) == 1, new
    others = [line for line in new if "readme-pdf-1" not in line and STARTING not in line
              and '"paydock.worker"' not in line]
    assert not others and not [line for line in new if "fontTools" in line], new
