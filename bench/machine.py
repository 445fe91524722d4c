"""How busy the shared machine was with work that is not the benchmark's own."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from pathlib import Path

import psutil


def postmaster_pid(data_dir: str) -> int | None:
    """The PostgreSQL server's pid from its data directory."""
    try:
        return int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class CpuMeter:
    """CPU seconds used by everything on the machine minus what our own processes used.

    Our own: this process, its waited-for children (wrk), and the process trees of the
    servers we started (gunicorn masters and workers, the PostgreSQL server and its
    backends). `others()` after `start()` is the average number of CPUs that other
    work kept busy meanwhile; processes that came and went inside the interval count
    as others, so it is an upper bound."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self._mark: tuple[float, float, float] | None = None

    def _ours(self) -> float:
        total = 0.0
        own = os.times()
        total += own.user + own.system
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += children.ru_utime + children.ru_stime
        for root in self.roots:
            with contextlib.suppress(psutil.NoSuchProcess):
                process = psutil.Process(root)
                for p in [process, *process.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        times = p.cpu_times()
                        total += times.user + times.system
        return total

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()  # guest time is already inside user; steal is not ours to see
        return times.user + times.nice + times.system + getattr(times, "irq", 0.0) + getattr(
            times, "softirq", 0.0)

    def start(self) -> None:
        self._mark = (time.monotonic(), self._busy(), self._ours())

    def others(self) -> float:
        if self._mark is None:
            return 0.0
        started, busy, ours = self._mark
        elapsed = time.monotonic() - started
        if elapsed <= 0:
            return 0.0
        foreign = (self._busy() - busy) - (self._ours() - ours)
        return max(0.0, foreign / elapsed)
