"""Every `paydock` command and subcommand, run as a user runs it (a process, a SQLite file):
valid input gives exit 0 and the documented output; bad input gives exit status 2, exactly one
line on stderr, no traceback, and leaves every table's row count as it was."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.server import ROOT, free_port

PAYDOCK = Path(sys.executable).with_name("paydock")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TOKEN = r"ftj_[A-Za-z0-9_-]{43}"
UNKNOWN = "00000000-0000-4000-8000-000000000000"

# Subscriptions and an expired idempotency key, made through the model layer in a process of
# their own (the test process keeps its own database binding).
SEED = """
import sys, uuid
from datetime import timedelta
from models import contacts, db, subscriptions
from models.idempotency import IdempotencyKey
database = db.open_database(sys.argv[1])
db.bind(database)
with database.connection_context():
    administration = sys.argv[2]
    contact = contacts.create_contact(administration, {"name": "Abonnee BV"})
    subscriptions.create_subscription(administration, {
        "contact_id": str(contact.id), "interval": "month", "start_date": "2026-01-31",
        "invoice_status": "verzonden",
        "lines": [{"description": "Licentie", "unit_price_incl": 89.00, "tax_percentage": 21}]})
    IdempotencyKey.create(administration=administration, key="old", fingerprint="0" * 64,
                          lock_id=uuid.uuid4(), locked_at=db.utcnow() - timedelta(days=2),
                          created_at=db.utcnow() - timedelta(days=2))
"""


class Cli:
    """`paydock` against one SQLite file in a temporary directory."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "paydock.db"
        self.url = f"sqlite:///{self.path}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PAYDOCK_")}
        self.env["PAYDOCK_DATABASE_URL"] = self.url

    def command(self) -> list[str]:
        return [str(PAYDOCK)] if PAYDOCK.exists() else [sys.executable, "-m", "paydock.cli"]

    def run(self, *argv: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.command(), *argv], cwd=ROOT, env={**self.env, **env},
                              capture_output=True, text=True, timeout=timeout)

    def ok(self, *argv: str) -> str:
        result = self.run(*argv)
        assert result.returncode == 0, (argv, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout

    def row_counts(self) -> dict[str, int]:
        with sqlite3.connect(self.path) as connection:
            tables = [name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
            return {t: connection.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}


def assert_refused(result: subprocess.CompletedProcess, argv) -> None:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (argv, result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("paydock"), (argv, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == "", (argv, result.stdout)


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Cli:
    return Cli(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def demo(cli) -> dict:
    """`paydock migrate` and `paydock demo`, as `make run` starts: the administration and key."""
    from models.migrations import available

    first = cli.ok("migrate")
    names = [name for _, name, _ in available()]
    assert first.strip() == f"applied {len(names)} migration(s): {', '.join(names)}"
    assert cli.ok("migrate").strip() == "applied 0 migration(s)"
    out = cli.ok("demo").splitlines()
    assert len(out) == 2, out
    match = re.fullmatch(rf"Demo administration: PayDock Demo BV \(({UUID})\)", out[0])
    assert match, out
    key = re.fullmatch(rf"API key \(read, write, admin\): ({TOKEN})", out[1])
    assert key, out
    # A second run reuses the administration (and its data) and prints a new key.
    again = cli.ok("demo").splitlines()
    assert again[0] == out[0] and again[1] != out[1]
    counts = cli.row_counts()
    assert (counts["administration"], counts["contact"], counts["product"], counts["api_key"]) == (1, 3, 4, 2)
    return {"administration": match.group(1), "key": key.group(1)}


def test_help_lists_every_command(cli):
    out = cli.ok("--help")
    for command in ("serve", "worker", "migrate", "demo", "bill", "purge", "keys"):
        assert re.search(rf"^\s+{command}\s", out, re.M), out
    assert set(COMMANDS_TESTED) == set(_commands_in_help(cli)) | {"--help"}


def test_the_readme_documents_only_commands_that_are_tested():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"paydock ((?:keys )?[a-z]+)", readme))
    assert {"keys create", "keys list", "keys revoke", "bill", "migrate", "serve", "worker",
            "purge", "demo"} <= documented
    assert documented <= set(COMMANDS_TESTED), documented - set(COMMANDS_TESTED)


def _commands_in_help(cli) -> list[str]:
    commands = re.findall(r"^ {4}([a-z]+) ", cli.ok("--help"), re.M)
    keys = re.findall(r"^ {4}([a-z]+) ", cli.ok("keys", "--help"), re.M)
    return [c for c in commands if c != "keys"] + [f"keys {k}" for k in keys]


#: Every command (and `keys` subcommand) with the test that runs it with valid input.
COMMANDS_TESTED = {
    "--help": "test_help_lists_every_command",
    "migrate": "demo fixture", "demo": "demo fixture",
    "keys create": "test_keys_create_list_and_revoke", "keys list": "test_keys_create_list_and_revoke",
    "keys revoke": "test_keys_create_list_and_revoke",
    "bill": "test_bill_purge_and_worker", "purge": "test_bill_purge_and_worker",
    "worker": "test_bill_purge_and_worker", "serve": "test_serve_listens_where_its_flags_say",
}


def test_keys_create_list_and_revoke(cli, demo):
    administration = demo["administration"]
    out = cli.ok("keys", "create", "--name", "Webshop", "--scopes", "read,write").splitlines()
    assert re.fullmatch(rf"administration {UUID}", out[0]), out
    assert re.fullmatch(rf"key {UUID} scopes read,write", out[1]), out
    assert re.fullmatch(TOKEN, out[2]) and len(out) == 3, out
    new_administration = out[0].split()[1]

    out = cli.ok("keys", "create", "--administration", administration, "--scopes", "portal").splitlines()
    portal_key = re.fullmatch(rf"key ({UUID}) scopes portal", out[0])
    assert portal_key and re.fullmatch(TOKEN, out[1]) and len(out) == 2, out
    portal_id = portal_key.group(1)

    listing = cli.ok("keys", "list", "--administration", administration).splitlines()
    assert len(listing) == 3, listing          # two demo keys and the portal key
    assert [line.split()[0] for line in listing][-1] == portal_id
    assert all(" active " in line for line in listing), listing
    assert "read,write,admin" in listing[0] and listing[0].endswith("demo")

    assert cli.ok("keys", "revoke", "--administration", administration, portal_id).strip() == \
        f"revoked {portal_id}"
    listing = cli.ok("keys", "list", "--administration", administration).splitlines()
    assert [line.split()[0] for line in listing if " revoked " in line] == [portal_id]

    # Another administration's list holds only its own key.
    other = cli.ok("keys", "list", "--administration", new_administration).splitlines()
    assert len(other) == 1 and other[0].endswith("API key") is False and "read,write" in other[0]


def test_bill_purge_and_worker(cli, demo):
    seeded = subprocess.run([sys.executable, "-c", SEED, cli.url, demo["administration"]], cwd=ROOT,
                            env=cli.env, capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    out = cli.ok("bill", "--date", "2026-04-01")
    assert out.strip() == ("billed 3 invoice(s) for 1 subscription(s) in 1 batch(es); "
                           "0 period(s) were billed by another run")
    out = cli.ok("bill", "--date", "2026-04-01", "--administration", demo["administration"])
    assert out.startswith("billed 0 invoice(s) for 0 subscription(s)"), out
    assert cli.row_counts()["invoice"] == 3

    assert cli.ok("purge").strip() == "deleted 1 expired idempotency key(s)"
    assert cli.ok("purge").strip() == "deleted 0 expired idempotency key(s)"

    first = re.fullmatch(r"worker pass done: (\d+) event\(s\) dispatched and attempt\(s\) made\n",
                         cli.ok("worker", "--once"))
    assert first and int(first.group(1)) > 0
    assert cli.ok("worker", "--once") == "worker pass done: 0 event(s) dispatched and attempt(s) made\n"


def test_serve_listens_where_its_flags_say(cli, demo):
    out = cli.ok("serve", "--help")
    for flag in ("--host", "--port", "--workers"):
        assert flag in out
    port = free_port()
    log = cli.path.with_name("serve.log")
    # PAYDOCK_PORT says one port, the flag another: the flag wins.
    with log.open("w") as stderr:
        process = subprocess.Popen([*cli.command(), "serve", "--host", "127.0.0.1", "--port", str(port),
                                    "--workers", "1"], cwd=ROOT, env={**cli.env, "PAYDOCK_PORT": "1"},
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert status == 200, log.read_text()[-2000:]
        response = httpx.get(f"http://127.0.0.1:{port}/api/administration",
                             headers={"X-API-Key": demo["key"]}, timeout=10)
        assert response.status_code == 200 and response.json()["name"] == "PayDock Demo BV"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    text = log.read_text()
    assert f"Listening at: http://127.0.0.1:{port}" in text, text[-2000:]
    assert text.count("Booting worker with pid") == 1, text[-2000:]


def bad_inputs(administration: str, key_id: str) -> list[tuple[tuple[str, ...], dict]]:
    """(argv, extra environment) of input every command must refuse."""
    return [
        ((), {}),
        (("bogus",), {}),
        (("--bogus",), {}),
        (("migrate", "now"), {}),
        (("migrate",), {"PAYDOCK_PORT": "eighty"}),
        (("migrate",), {"PAYDOCK_DATABASE_URL": "mysql://localhost/paydock"}),
        (("demo", "--name", "x"), {}),
        (("demo",), {"PAYDOCK_DATABASE_TIMEOUT": "soon"}),
        (("serve", "--port", "0"), {}),
        (("serve", "--port", "http"), {}),
        (("serve", "--workers", "0"), {}),
        (("serve", "--host", "local host"), {}),
        (("serve", "--bind", "127.0.0.1:8000"), {}),
        (("worker", "--twice"), {}),
        (("worker", "--once"), {"PAYDOCK_WORKER_POLL_INTERVAL": "often"}),
        (("bill", "--date", "2026-13-01"), {}),
        (("bill", "--date", "15-02-2026"), {}),
        (("bill", "--administration", "acme"), {}),
        (("bill", "--administration", UNKNOWN), {}),
        (("bill", "--batch-size", "0"), {}),
        (("bill", "--workers", "many"), {}),
        (("purge", "--all"), {}),
        (("keys",), {}),
        (("keys", "rotate"), {}),
        (("keys", "create", "--scopes", "bogus"), {}),
        (("keys", "create", "--scopes", "read,bogus", "--name", "Half"), {}),
        (("keys", "create", "--scopes", ""), {}),
        (("keys", "create", "--name", ""), {}),
        (("keys", "create", "--name", "x" * 201), {}),
        (("keys", "create", "--administration", UNKNOWN, "--scopes", "read"), {}),
        (("keys", "create", "--administration", "acme"), {}),
        (("keys", "create", "--administration", administration, "--scopes", "root"), {}),
        (("keys", "list"), {}),
        (("keys", "list", "--administration", "acme"), {}),
        (("keys", "list", "--administration", UNKNOWN), {}),
        (("keys", "revoke", "--administration", administration), {}),
        (("keys", "revoke", "--administration", administration, UNKNOWN), {}),
        (("keys", "revoke", "--administration", administration, "key-1"), {}),
        (("keys", "revoke", "--administration", UNKNOWN, key_id), {}),
    ]


def test_bad_input_is_one_line_exit_2_and_changes_nothing(cli, demo):
    listing = cli.ok("keys", "list", "--administration", demo["administration"])
    key_id = listing.split()[0]
    cases = bad_inputs(demo["administration"], key_id)
    # Every command (and keys subcommand) is among them.
    assert {argv[0] for argv, _ in cases if argv} >= {"serve", "worker", "migrate", "demo", "bill", "purge",
                                                     "keys"}
    assert {argv[1] for argv, _ in cases if argv[:1] == ("keys",) and len(argv) > 1} >= {
        "create", "list", "revoke"}
    before = cli.row_counts()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: cli.run(*case[0], **case[1]), cases))
    for (argv, env), result in zip(cases, results, strict=True):
        assert_refused(result, (argv, env))
    assert cli.row_counts() == before
    # Nothing half-created: a refused `keys create` made no administration either.
    assert before["administration"] == cli.row_counts()["administration"]


def test_each_refusal_says_what_was_wrong(cli, demo):
    administration = demo["administration"]
    cases = {
        ("keys", "create", "--scopes", "bogus"): "bogus: not a scope; choose from read, write, portal, admin",
        ("keys", "revoke", "--administration", administration, UNKNOWN): f"api key {UNKNOWN} not found",
        ("keys", "list", "--administration", UNKNOWN): f"administration {UNKNOWN} not found",
        ("bill", "--date", "15-02-2026"): "'15-02-2026' is not a date (YYYY-MM-DD)",
        ("serve", "--port", "0"): "'0' is not a whole number from 1 to 65535",
    }
    for argv, message in cases.items():
        result = cli.run(*argv)
        assert_refused(result, argv)
        assert result.stderr.strip().endswith(message), result.stderr
    result = cli.run("migrate", PAYDOCK_PORT="eighty")
    assert result.stderr.strip() == "paydock: PAYDOCK_PORT='eighty' is not a whole number"


def test_an_unreachable_database_is_one_line_too(tmp_path):
    cli = Cli(tmp_path)
    result = cli.run("migrate", PAYDOCK_DATABASE_URL=f"sqlite:///{tmp_path}/missing/dir/paydock.db")
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("paydock: database unavailable")


def test_a_database_without_tables_asks_for_migrate(tmp_path):
    cli = Cli(tmp_path)
    result = cli.run("keys", "list", "--administration", UNKNOWN)
    assert_refused(result, "keys list before migrate")
    assert result.stderr.startswith("paydock: the database has no PayDock tables yet: run `paydock migrate`")
    assert cli.row_counts() == {}


def test_a_uuid_is_accepted_in_any_spelling(cli, demo):
    upper = demo["administration"].upper()
    assert cli.ok("keys", "list", "--administration", upper).count("\n") >= 2
    assert str(uuid.UUID(upper)) == demo["administration"]


def worker_log_line(cli: Cli, **env: str) -> str:
    """The billing-run line `paydock worker` writes to stderr when stderr is a terminal."""
    import pty
    import select

    controller, terminal = pty.openpty()
    process = subprocess.Popen([*cli.command(), "worker"], cwd=ROOT, env={**cli.env, **env},
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"billing run:" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(controller, 65536)
                except OSError:
                    break
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(controller)
    lines = [line for line in seen.decode(errors="replace").splitlines() if "billing run:" in line]
    assert len(lines) == 1, seen
    return lines[0]


def test_logs_are_plain_text_on_a_terminal_unless_paydock_log_json_says(tmp_path):
    cli = Cli(tmp_path)
    cli.ok("migrate")
    line = worker_log_line(cli)
    assert not line.startswith("{") and " INFO paydock.cli [None] billing run: 0 invoice(s) for 0 " \
        "subscription(s), 0 missed period(s) caught up, 0 period(s) billed by another run" in line, line
    record = json.loads(worker_log_line(cli, PAYDOCK_LOG_JSON="true"))
    assert record["logger"] == "paydock.cli" and (record["invoices"], record["subscriptions"]) == (0, 0)


def test_the_log_format_follows_the_stream_unless_set():
    import io

    from paydock.logging import wants_json
    from paydock.settings import Settings

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert Settings.from_env({}).log_json is None
    assert Settings.from_env({"PAYDOCK_LOG_JSON": "false"}).log_json is False
    assert Settings.from_env({"PAYDOCK_LOG_JSON": "true"}).log_json is True
    assert wants_json(None, Terminal()) is False and wants_json(None, io.StringIO()) is True
    assert wants_json(True, Terminal()) is True and wants_json(False, io.StringIO()) is False


def test_the_workers_billing_line_counts_the_caught_up_periods(caplog):
    from datetime import datetime

    from models.billing import BillingSummary
    from paydock.cli import log_billing_run

    with caplog.at_level("INFO", logger="paydock.cli"):
        log_billing_run(BillingSummary(subscriptions=2, invoices=13, periods_skipped=1, batches=1),
                        datetime(2026, 12, 4, 3, 0))
    [record] = [r for r in caplog.records if r.name == "paydock.cli"]
    assert record.levelname == "INFO" and record.getMessage() == (
        "billing run: 13 invoice(s) for 2 subscription(s), 11 missed period(s) caught up, "
        "1 period(s) billed by another run")
    assert (record.invoices, record.subscriptions, record.periods_skipped) == (13, 2, 1)
