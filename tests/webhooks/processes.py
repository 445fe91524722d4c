"""`paydock worker` as a real subprocess, for crash and concurrency tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

from tests.server import ROOT


class WorkerProcess:
    """`paydock worker` against `database_url`; loopback http receivers allowed."""

    def __init__(self, database_url: str, **env: str) -> None:
        self.env = {
            **os.environ,
            "PAYDOCK_DATABASE_URL": database_url,
            "PAYDOCK_WEBHOOK_ALLOW_PRIVATE": "true",
            "PAYDOCK_WEBHOOK_ALLOW_HTTP": "true",
            "PAYDOCK_WORKER_POLL_INTERVAL": "0.1",
            "PAYDOCK_LOG_LEVEL": "INFO",
            # E-mail it sends without an SMTP server stays out of the working tree.
            "PAYDOCK_MAIL_DIR": tempfile.mkdtemp(prefix="paydock-mail-"),
            **env,
        }
        self.process: subprocess.Popen | None = None
        self.log = ""

    def start(self) -> WorkerProcess:
        # A file, not a pipe: a full pipe would block the worker's logging.
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in _collect)
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from paydock import cli; sys.exit(cli.main(['worker']))"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self._stderr, text=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to finish, record or release anything."""
        self.process.send_signal(signal.SIGKILL)
        self._collect()

    def stop(self) -> int:
        """SIGTERM, then wait (bounded) for a clean exit; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self._collect()

    def _collect(self) -> int:
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._stderr.seek(0)
        self.log = self._stderr.read()
        self._stderr.close()
        return self.process.returncode
