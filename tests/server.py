"""Run PayDock under gunicorn on a loopback port, for tests that need a real server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, port: int, workers: int, *, rate_limit: int, **env: str) -> dict:
    """The environment of a PayDock server on 127.0.0.1:`port` (quiet log, generous rate limit)."""
    return {
        **os.environ,
        "PAYDOCK_DATABASE_URL": database_url,
        "PAYDOCK_HOST": "127.0.0.1",
        "PAYDOCK_PORT": str(port),
        "PAYDOCK_WORKERS": str(workers),
        "PAYDOCK_LOG_LEVEL": "WARNING",
        "PAYDOCK_RATE_LIMIT_PER_SECOND": str(rate_limit),
        "PAYDOCK_RATE_LIMIT_BURST": str(rate_limit),
        # Tests send wrong keys on purpose; the ones about failed authentication set their own.
        "PAYDOCK_FAILED_AUTH_PER_SECOND": str(rate_limit),
        "PAYDOCK_FAILED_AUTH_BURST": str(rate_limit),
        **env,
    }


class GunicornServer:
    """`paydock serve` on 127.0.0.1:<free port>; stops itself on exit."""

    def __init__(self, database_url: str, workers: int = 2, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Rate limiting is on by default; tests that measure it pass their own limits.
        self.env = server_env(database_url, self.port, workers, rate_limit=10_000, **env)
        self.process: subprocess.Popen | None = None
        # The server's log goes to a file, not a pipe: a pipe nobody reads fills up and
        # blocks the server once it has logged 64 KiB.
        self.log = tempfile.NamedTemporaryFile(prefix="paydock-gunicorn-", suffix=".log")  # noqa: SIM115

    def log_text(self) -> str:
        """Everything the server wrote to stderr so far (its JSON log lines)."""
        return Path(self.log.name).read_text(errors="replace")

    def __enter__(self) -> GunicornServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
             "--access-logfile", "/dev/null", "paydock:create_app()"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("gunicorn did not become healthy in 60 s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
