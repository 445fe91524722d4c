"""Servers under test: gunicorn with uvicorn workers on a loopback port, and their memory."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

from tests.server import free_port, server_env

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).with_name("gunicorn.conf.py")


class BenchServer:
    """`gunicorn -c bench/gunicorn.conf.py APP` on 127.0.0.1:<free port>, started in the background."""

    def __init__(self, name: str, app: str, database_url: str, log_dir: Path, workers: int = 2,
                 env: dict | None = None) -> None:
        self.name = name
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        # The token bucket still runs on every request, but never empties under wrk.
        self.env = server_env(database_url, self.port, workers, rate_limit=1_000_000, **(env or {}))
        self.process: subprocess.Popen | None = None

    def start(self) -> BenchServer:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), self.app],
                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=log,
            )
        return self

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited:\n{self.log_tail()}")
            try:
                healthy = httpx.get(self.url + "/api/health", timeout=1).status_code == 200
                if healthy and len(self.worker_pids()) >= int(self.env["PAYDOCK_WORKERS"]):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: not healthy within {timeout:.0f} s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        try:
            return [child.pid for child in psutil.Process(self.process.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def connections_per_worker(self) -> list[int]:
        """Established client connections each worker holds now (largest first)."""
        counts = []
        for pid in self.worker_pids():
            try:
                connections = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.Error:
                continue
            counts.append(sum(1 for c in connections if c.status == psutil.CONN_ESTABLISHED
                              and c.laddr and c.laddr.port == self.port))
        return sorted(counts, reverse=True)

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class RssSampler:
    """Samples the resident memory of the workers of some servers in a background thread.

    `peak()` is the largest single-worker RSS (MB) seen since the last `reset()`."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._servers: list[BenchServer] = []
        self._peak: dict[str, float] = {}
        self._overall: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def watch(self, servers: list[BenchServer]) -> RssSampler:
        self._servers = list(servers)
        self._thread.start()
        return self

    def _loop(self) -> None:
        processes: dict[int, psutil.Process] = {}
        while not self._stop.wait(self.interval):
            for server in self._servers:
                for pid in server.worker_pids():
                    try:
                        process = processes.setdefault(pid, psutil.Process(pid))
                        rss = process.memory_info().rss / 2**20
                    except psutil.NoSuchProcess:
                        continue
                    with self._lock:
                        self._peak[server.name] = max(self._peak.get(server.name, 0.0), rss)
                        self._overall[server.name] = max(self._overall.get(server.name, 0.0), rss)

    def reset(self) -> None:
        with self._lock:
            self._peak.clear()

    def peak(self, name: str) -> float:
        with self._lock:
            return self._peak.get(name, 0.0)

    def overall(self) -> dict[str, float]:
        with self._lock:
            return dict(self._overall)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
