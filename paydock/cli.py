"""The `paydock` command: serve, worker, migrate, demo data, API keys, the billing run, purge.

Bad input of any command (arguments, settings, ids the database does not know, a rule a model
function refuses) ends the command with one line on stderr and exit status 2, and changes
nothing: `main` turns every such error into that line in one place."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import uuid

from models.errors import DomainError
from paydock.settings import Settings

log = logging.getLogger("paydock.cli")

#: Exit status for bad input (as argparse uses); 1 when the database cannot be reached.
BAD_INPUT = 2
UNAVAILABLE = 1

#: The production server's configuration, at the project root beside openapi.yaml.
GUNICORN_CONF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gunicorn.conf.py")


class UsageError(Exception):
    """Bad input to the command (arguments or settings): one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, except that an error is raised for `main` to report instead of printed with
    the usage and exited on."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def _connect(settings: Settings):
    from models import db

    try:
        database = db.open_database(settings.database_url, timeout=settings.database_timeout)
    except (ValueError, KeyError) as exc:
        url = settings.database_url
        raise UsageError(f"paydock: PAYDOCK_DATABASE_URL: cannot use {url!r} ({exc})") from None
    db.bind(database)
    database.connect(reuse_if_open=True)
    return database


def cmd_migrate(settings: Settings, args) -> int:
    from models.migrations import migrate

    _connect(settings)
    applied = migrate()
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


def cmd_demo(settings: Settings, args) -> int:
    from models import demo
    from models.migrations import migrate

    _connect(settings)
    migrate()
    administration, token = demo.create_demo(progress=sys.stderr.isatty())
    print(f"Demo administration: {administration.name} ({administration.id})")
    print(f"API key (read, write, admin): {token}")
    return 0


def cmd_keys(settings: Settings, args) -> int:
    from models import api_keys, tenancy

    _connect(settings)
    if args.keys_command == "create":
        if args.administration is None:
            # One transaction: a refused key (e.g. an unknown scope) leaves no administration behind.
            administration, key, token = api_keys.create_administration_with_key(args.name, args.scopes)
            print(f"administration {administration.id}")
        else:
            tenancy.get_administration(args.administration)
            key, token = api_keys.create_api_key(args.administration, args.name, args.scopes)
        print(f"key {key.id} scopes {key.scopes}")
        print(token)
    elif args.keys_command == "list":
        tenancy.get_administration(args.administration)
        offset = 0
        while True:
            page = api_keys.list_api_keys(args.administration, limit=500, offset=offset)
            for key in page.rows:
                state = "revoked" if key.revoked_at else "active"
                print(f"{key.id}  {key.prefix}…  {key.scopes:<22} {state:<8} {key.name}")
            if not page.has_more:
                break
            offset += len(page.rows)
    elif args.keys_command == "revoke":
        tenancy.get_administration(args.administration)
        api_keys.revoke_api_key(args.administration, args.key_id)
        print(f"revoked {args.key_id}")
    return 0


def cmd_purge(settings: Settings, args) -> int:
    from models import idempotency

    _connect(settings)
    print(f"deleted {idempotency.purge_expired()} expired idempotency key(s)")
    return 0


def cmd_bill(settings: Settings, args) -> int:
    from models.billing import run_billing

    _connect(settings)
    if args.administration is not None:
        from models import tenancy

        tenancy.get_administration(args.administration)
    progress = ProgressBar("billing") if sys.stderr.isatty() else None
    summary = run_billing(args.date, progress, administration_id=args.administration,
                          batch_size=args.batch_size, workers=args.workers)
    if progress:
        progress.finish()
    print(f"billed {summary.invoices} invoice(s) for {summary.subscriptions} subscription(s) "
          f"in {summary.batches} batch(es); {summary.periods_skipped} period(s) were billed by another run")
    return 0


class ProgressBar:
    """A one-line progress bar on stderr: `billing [#######.......] 700/1000`."""

    def __init__(self, label: str, width: int = 30) -> None:
        self.label, self.width = label, width

    def __call__(self, done: int, total: int) -> None:
        filled = self.width * done // total if total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {done}/{total}")
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")


def _day(value: str):
    from datetime import date

    try:
        return date.fromisoformat(value) if len(value) == 10 else date.fromisoformat("")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an id (a UUID)") from None


def _count(low: int, high: int):
    """An argparse type: a whole number from `low` to `high`."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from {low} to {high}")
        return number

    return parse


def _name(value: str) -> str:
    if not value.strip() or len(value) > 200:
        raise argparse.ArgumentTypeError("a name is 1 to 200 characters")
    return value


def _scopes(value: str) -> list[str]:
    from models.api_keys import SCOPES

    scopes = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or repr(value)}: not a scope; choose from {', '.join(SCOPES)}")
    return scopes


def _host(value: str) -> str:
    if not value or any(c.isspace() or c in "/@" for c in value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a host name or address")
    return value


def cmd_serve(settings: Settings, args) -> int:
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    # Command-line options override gunicorn.conf.py (which reads the PAYDOCK_* settings).
    bind = f"[{host.strip('[]')}]:{port}" if ":" in host else f"{host}:{port}"
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONF, "--bind", bind,
         "--workers", str(workers), "paydock:create_app()"],
    )
    return 0


def cmd_worker(settings: Settings, args) -> int:
    import logging
    import signal

    from paydock import logging as paydock_logging
    from webhooks.worker import DeliveryWorker

    paydock_logging.configure_logging(settings.log_level, json_logs=settings.log_json)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is too much
    _connect(settings).close()
    if not args.once:
        from models import idempotency
        from models.billing import run_billing
        from webhooks.worker import register_periodic

        # The worker is PayDock's one long-running background process: besides webhooks it
        # runs the billing run (idempotent: each period is billed once) and the key purge.
        register_periodic("billing run", 3600, lambda now: log_billing_run(run_billing(now), now))
        register_periodic("purge idempotency keys", 86400, idempotency.purge_expired)
    worker = DeliveryWorker(settings)
    logging.getLogger("paydock.mail").info("e-mail goes out as %s", worker.mail.transport.describe())
    # SIGTERM/SIGINT: finish the attempt in flight, record it, release the lease, exit.
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    try:
        if args.once:
            from models import db

            with db.database.connection_context():
                work = worker.run_once()
            print(f"worker pass done: {work} event(s) dispatched and attempt(s) made")
        else:
            worker.run()
    finally:
        worker.close()
    return 0


def log_billing_run(summary, now) -> None:
    """The worker's one line per billing run: what it billed. A subscription whose missed
    periods are caught up gets an invoice for each of them, so invoices may exceed subscriptions."""
    log.info(
        "billing run: %d invoice(s) for %d subscription(s), %d missed period(s) caught up, "
        "%d period(s) billed by another run",
        summary.invoices, summary.subscriptions, max(0, summary.invoices - summary.subscriptions),
        summary.periods_skipped,
        extra={"invoices": summary.invoices, "subscriptions": summary.subscriptions,
               "periods_skipped": summary.periods_skipped, "run_at": now.isoformat()},
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="paydock", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the API under gunicorn (gunicorn.conf.py)")
    serve.add_argument("--host", type=_host, default=None,
                       help="address to listen on (default PAYDOCK_HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=_count(1, 65535), default=None,
                       help="port to listen on (default PAYDOCK_PORT, else 8000)")
    serve.add_argument("--workers", type=_count(1, 64), default=None,
                       help="gunicorn worker processes (default PAYDOCK_WORKERS, else 2)")
    worker = sub.add_parser("worker", help="deliver webhooks and e-mail, run periodic jobs, until SIGTERM")
    worker.add_argument("--once", action="store_true",
                        help="one pass: send everything due now, then exit")
    sub.add_parser("migrate", help="apply pending schema migrations")
    sub.add_parser("demo", help="create a demo administration with data; print an API key")
    bill = sub.add_parser("bill", help="invoice every subscription period that is due (never twice)")
    bill.add_argument("--date", type=_day, default=None,
                      help="bill the periods that started on or before this day, YYYY-MM-DD (default today)")
    bill.add_argument("--administration", type=_uuid, default=None,
                      help="only this administration's subscriptions")
    bill.add_argument("--batch-size", type=_count(1, 100_000), default=1000,
                      help="subscriptions per transaction")
    bill.add_argument("--workers", type=_count(1, 16), default=2,
                      help="PostgreSQL connections sharing the work (default 2: one writes a batch while "
                           "the other prepares the next)")
    sub.add_parser("purge", help="delete idempotency keys older than 24 hours")
    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key (and an administration if none given)")
    create.add_argument("--administration", type=_uuid, help="administration id (default: a new one)")
    create.add_argument("--name", type=_name, default="API key",
                        help="the key's name (and the new administration's)")
    create.add_argument("--scopes", type=_scopes, default="read,write",
                        help="comma-separated: read,write,portal,admin")
    listing = keys_sub.add_parser("list", help="list an administration's keys")
    listing.add_argument("--administration", type=_uuid, required=True)
    revoke = keys_sub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--administration", type=_uuid, required=True)
    revoke.add_argument("key_id", type=_uuid)
    return parser


COMMANDS = {"serve": cmd_serve, "worker": cmd_worker, "migrate": cmd_migrate, "demo": cmd_demo,
            "keys": cmd_keys, "bill": cmd_bill, "purge": cmd_purge}


def main(argv: list[str] | None = None) -> int:
    """Run one command; bad input of any kind ends here as one line on stderr, exit status 2."""
    import peewee

    from models.db import UNAVAILABLE as DATABASE_UNAVAILABLE

    try:
        args = build_parser().parse_args(argv)
        try:
            settings = Settings.from_env()
        except ValueError as exc:
            raise UsageError(f"paydock: {exc}") from None
        return COMMANDS[args.command](settings, args)
    except (UsageError, DomainError) as exc:
        if isinstance(exc, UsageError):
            message = str(exc)
        else:
            command = " ".join(filter(None, [args.command, getattr(args, "keys_command", None)]))
            message = f"paydock {command}: {exc}"
        print(" ".join(message.split()), file=sys.stderr)
        return BAD_INPUT
    except (*DATABASE_UNAVAILABLE, peewee.ProgrammingError) as exc:
        text = " ".join(str(exc).split())
        if "no such table" in text or ("relation" in text and "does not exist" in text):
            print(f"paydock: the database has no PayDock tables yet: run `paydock migrate` ({text})",
                  file=sys.stderr)
            return BAD_INPUT
        if isinstance(exc, peewee.ProgrammingError):
            raise
        print(f"paydock: database unavailable: {text}", file=sys.stderr)
        return UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
