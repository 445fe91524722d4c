"""Driving load with wrk (Debian package `wrk`), one scenario run at a time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("lua") / "scenario.lua"


def ensure_wrk() -> str:
    """The wrk executable; installs the Debian package when it is missing (as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk is not installed; installing the Debian package: apt-get install -y wrk",
          file=sys.stderr, flush=True)
    if os.geteuid() != 0:
        raise SystemExit("bench: wrk is missing and we are not root: run `sudo apt-get install -y wrk`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env).returncode != 0:
        print("bench: refreshing the package lists (apt-get update) and trying again",
              file=sys.stderr, flush=True)
        subprocess.run(["apt-get", "update", "-q"], env=env)
        subprocess.run(install, env=env)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: could not install wrk; install it with `apt-get install -y wrk`")
    return found


def wrk_version(executable: str) -> str:
    """e.g. "wrk 4.1.0-3+b2" (the first words of `wrk -v`)."""
    result = subprocess.run([executable, "-v"], capture_output=True, text=True)
    words = (result.stdout + result.stderr).split()
    return f"wrk {words[1].removeprefix('debian/')}" if len(words) > 1 else "wrk"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors_status: int
    errors_socket: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.errors_status + self.errors_socket


def parse_output(stdout: str) -> WrkResult:
    """The BENCH_JSON line that scenario.lua's done() prints."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no BENCH_JSON line:\n{stdout[-2000:]}")
    data = json.loads(line[len("BENCH_JSON "):])
    errors = data["errors"]
    latency = data["latency_us"]
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors_status=errors["status"],
        errors_socket=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        p50_ms=latency["p50"] / 1000, p95_ms=latency["p95"] / 1000, p99_ms=latency["p99"] / 1000,
        mean_ms=latency["mean"] / 1000, max_ms=latency["max"] / 1000,
    )


def run_wrk(executable: str, url: str, *, method: str, path: str, key: str, ids_file: str | None,
            body_file: str | None, tag: str, seconds: int, threads: int, connections: int,
            timeout_s: int = 5) -> WrkResult:
    """One wrk run of `seconds` against `url` (base, e.g. http://127.0.0.1:8123)."""
    command = [
        executable, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s",
        "--latency", "-s", str(SCRIPT), url, "--",
        method, path, ids_file or "-", body_file or "-", key, tag,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr[-2000:]}")
    return parse_output(result.stdout)
