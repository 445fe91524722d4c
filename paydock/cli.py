"""The `paydock` command: serve, worker, migrate, demo data, API keys, the billing run, purge."""

from __future__ import annotations

import argparse
import os
import sys

from paydock.settings import Settings

#: The production server's configuration, at the project root beside openapi.yaml.
GUNICORN_CONF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gunicorn.conf.py")


def _connect(settings: Settings):
    from models import db

    database = db.open_database(settings.database_url, timeout=settings.database_timeout)
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
    from models import tenancy

    _connect(settings)
    if args.keys_command == "create":
        administration_id = args.administration
        if administration_id is None:
            administration_id = tenancy.create_administration(args.name).id
            print(f"administration {administration_id}")
        key, token = tenancy.create_api_key(administration_id, args.name, args.scopes.split(","))
        print(f"key {key.id} scopes {key.scopes}")
        print(token)
    elif args.keys_command == "list":
        keys, _ = tenancy.list_api_keys(args.administration, limit=500)
        for key in keys:
            state = "revoked" if key.revoked_at else "active"
            print(f"{key.id}  {key.prefix}…  {key.scopes:<22} {state:<8} {key.name}")
    elif args.keys_command == "revoke":
        tenancy.revoke_api_key(args.administration, args.key_id)
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


def cmd_serve(settings: Settings, args) -> int:
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONF, "paydock:create_app()"],
    )
    return 0


def cmd_worker(settings: Settings, args) -> int:
    import logging
    import signal

    from models.webhooks import configure
    from paydock import logging as paydock_logging
    from webhooks.worker import DeliveryWorker

    paydock_logging.configure_logging(settings.log_level, json_logs=settings.log_json)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is too much
    _connect(settings).close()
    configure(settings)
    if not args.once:
        from models import idempotency
        from models.billing import run_billing
        from webhooks.worker import register_periodic

        # The worker is PayDock's one long-running background process: besides webhooks it
        # runs the billing run (idempotent: each period is billed once) and the key purge.
        register_periodic("billing run", 3600, run_billing)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paydock", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the API under gunicorn (gunicorn.conf.py)")
    worker = sub.add_parser("worker", help="deliver webhooks and e-mail (and run periodic jobs) until SIGTERM")
    worker.add_argument("--once", action="store_true",
                        help="one pass: send everything due now, then exit")
    sub.add_parser("migrate", help="apply pending schema migrations")
    sub.add_parser("demo", help="create a demo administration with data; print an API key")
    bill = sub.add_parser("bill", help="invoice every subscription period that is due (never twice)")
    bill.add_argument("--date", type=_day, default=None,
                      help="bill the periods that started on or before this day, YYYY-MM-DD (default today)")
    bill.add_argument("--administration", default=None, help="only this administration's subscriptions")
    bill.add_argument("--batch-size", type=int, default=1000, help="subscriptions per transaction")
    bill.add_argument("--workers", type=int, default=2,
                      help="PostgreSQL connections sharing the work (default 2: one writes a batch while "
                           "the other prepares the next)")
    sub.add_parser("purge", help="delete idempotency keys older than 24 hours")
    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key (and an administration if none given)")
    create.add_argument("--administration", help="administration id (default: a new one)")
    create.add_argument("--name", default="API key")
    create.add_argument("--scopes", default="read,write", help="comma-separated: read,write,portal,admin")
    listing = keys_sub.add_parser("list", help="list an administration's keys")
    listing.add_argument("--administration", required=True)
    revoke = keys_sub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--administration", required=True)
    revoke.add_argument("key_id")
    return parser


COMMANDS = {"serve": cmd_serve, "worker": cmd_worker, "migrate": cmd_migrate, "demo": cmd_demo,
            "keys": cmd_keys, "bill": cmd_bill, "purge": cmd_purge}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](Settings.from_env(), args)


if __name__ == "__main__":
    sys.exit(main())
