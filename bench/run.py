"""Run PayDock's benchmarks and write bench/RESULTS.md.

    python bench/run.py            # full: 1,000 and 1,000,000 rows, 10 s runs (make bench)
    python bench/run.py --quick    # 1,000 and 100,000 rows, 3 s runs, under 3 minutes (make bench-quick)
    python bench/run.py --tiny     # seconds: a smoke run of one scenario on tiny data
    python bench/run.py --only webhooks   # only webhook delivery (bench/webhook_delivery.py)

It starts a throw-away PostgreSQL, migrates and seeds it, serves PayDock and the
baseline (bench/baseline.py) with the same gunicorn settings, and drives each
scenario with wrk, alternating the targets repetition by repetition so that drift on
a shared machine hits both alike. Figures are medians over the repetitions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

from bench import report, webhook_delivery  # noqa: E402
from bench.machine import CpuMeter, postmaster_pid  # noqa: E402
from bench.scenarios import IDS_FOR_WRK, SCENARIOS, SEEDERS, TARGETS, HttpScenario  # noqa: E402
from bench.seed import KEY_SCOPES, Seeded, order_seeders, seed_level  # noqa: E402
from bench.servers import BenchServer, RssSampler  # noqa: E402
from bench.sqlprofile import profile_call  # noqa: E402
from bench.wrk import WrkResult, ensure_wrk, run_wrk, wrk_version  # noqa: E402
from models import db  # noqa: E402
from models.migrations import migrate  # noqa: E402
from tests.pgserver import PostgresServer  # noqa: E402

#: A wrk run with more than this share of its connections on one of the two workers is run
#: again (Runner._drive_spread), at most SPREAD_TRIES times in all; runs with fewer than
#: SPREAD_MIN_CONNECTIONS connections (the paging scenarios' two) are taken as they come.
SPREAD_MAX_SHARE = 0.9
SPREAD_TRIES = 6
SPREAD_MIN_CONNECTIONS = 8

MODES = {
    "full": dict(small=1_000, large=1_000_000, duration=10, reps=3, warmup=2, profile_repeat=15,
                 subscriptions=100_000),
    "quick": dict(small=1_000, large=100_000, duration=3, reps=2, warmup=1, profile_repeat=9,
                  subscriptions=10_000),
    "tiny": dict(small=50, large=200, duration=1, reps=1, warmup=0, profile_repeat=3,
                 levels="small", scenarios="contact-get"),
}


@dataclass
class Config:
    mode: str
    small: int
    large: int
    duration: int
    reps: int
    warmup: int
    profile_repeat: int
    threads: int = 1
    connections: int = 16
    subscriptions: int | None = None  # the billing run's subscriptions at every level
    levels: tuple[str, ...] = ("small", "large")
    scenarios: tuple[str, ...] = ()
    output: str | None = None
    json_path: str | None = None
    progress: bool = True
    wait_idle: float | None = None
    webhooks: bool = False  # also measure webhook delivery (full and quick runs of every scenario)
    readpath: bool = False  # also split the in-process read path (bench/readpath.py)
    only: str | None = None

    def size(self, level: str) -> int:
        return {"small": self.small, "large": self.large}[level]


@dataclass
class TargetRun:
    """One scenario at one level against one target: every repetition."""

    target: str
    reps: list[WrkResult] = field(default_factory=list)
    rss_mb: float = 0.0
    others_cpu: list[float] = field(default_factory=list)  # CPUs busy with other work, per rep

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in self.reps) if self.reps else 0.0

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.reps)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.reps)


@dataclass
class ScenarioRun:
    scenario: str
    level: str
    runs: dict[str, TargetRun]
    problem: str | None = None
    profile: dict | None = None
    command: dict | None = None
    notes: list[str] = field(default_factory=list)


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the short run (under 3 minutes)")
    mode.add_argument("--tiny", action="store_true", help="a smoke run of seconds on tiny data")
    parser.add_argument("--small", type=int, help="rows at the small level (default 1,000)")
    parser.add_argument("--large", type=int, help="rows at the large level (full 1,000,000; quick 100,000)")
    parser.add_argument("--subscriptions", type=int,
                        help="subscriptions the billing run bills at each level (full 100,000; quick 10,000)")
    parser.add_argument("--levels", help="comma-separated levels to run: small,large")
    parser.add_argument("--scenarios", help="comma-separated scenario names (default: all of the mode)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run")
    parser.add_argument("--reps", type=int, help="repetitions per target (median reported)")
    parser.add_argument("--warmup", type=int, help="seconds of discarded load per target and scenario")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--output", help="markdown report (default bench/RESULTS.md; --tiny: stdout)")
    parser.add_argument("--json", dest="json_path", help="also write the raw figures as JSON here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--with-webhooks", action="store_true",
                        help="measure webhook delivery also when --scenarios narrows the run")
    parser.add_argument("--only", choices=["webhooks"],
                        help="webhooks: only webhook delivery, its section of RESULTS.md updated in place")
    parser.add_argument("--wait-idle", type=float, metavar="LOAD",
                        help="first wait (up to 30 min) until the 1-minute load average is below LOAD")
    args = parser.parse_args(argv)
    name = "quick" if args.quick else "tiny" if args.tiny else "full"
    values = dict(MODES[name])
    for key in ("small", "large", "duration", "reps", "warmup", "levels", "scenarios", "subscriptions"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    levels = tuple(x for x in str(values.pop("levels", "small,large")).split(",") if x)
    scenarios = tuple(x for x in str(values.pop("scenarios", "")).split(",") if x)
    known = {s.name for s in SCENARIOS}
    if unknown := set(scenarios) - known:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; choose from {sorted(known)}")
    if bad := set(levels) - {"small", "large"}:
        parser.error(f"unknown level(s) {sorted(bad)}")
    output = args.output if args.output is not None else (None if name == "tiny"
                                                          else str(ROOT / "bench" / "RESULTS.md"))
    return Config(mode=name, webhooks=name != "tiny" and (not scenarios or args.with_webhooks),
                  readpath=name != "tiny", only=args.only,
                  threads=args.threads, connections=args.connections, levels=levels,
                  scenarios=scenarios, output=output, json_path=args.json_path, wait_idle=args.wait_idle,
                  progress=not args.no_progress and sys.stderr.isatty(), **values)


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def selected(config: Config) -> list:
    chosen = []
    for scenario in SCENARIOS:
        if config.scenarios and scenario.name not in config.scenarios:
            continue
        if not config.scenarios and config.mode != "full" and not scenario.quick:
            continue
        chosen.append(scenario)
    return chosen


def wait_until_idle(threshold: float, limit_s: float = 1800) -> None:
    """Other work on a shared machine skews both targets; start when it has calmed down."""
    deadline = time.monotonic() + limit_s
    while (load := os.getloadavg()[0]) >= threshold and time.monotonic() < deadline:
        say(f"load average {load:.2f} ≥ {threshold}: waiting")
        time.sleep(15)


def machine_facts() -> dict:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


def git_commit() -> str:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = [ln for ln in git("status", "--porcelain").splitlines() if not ln.endswith("RESULTS.md")]
    return commit + (" (with uncommitted changes)" if dirty else "")


# ------------------------------------------------------------------ the run

class Bench:
    def __init__(self, config: Config, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.scenarios = selected(config)
        self.wrk = ensure_wrk()
        self.levels: dict[str, Seeded] = {}
        self.id_files: dict[tuple[str, str], str] = {}
        self.servers: dict[str, BenchServer] = {}
        self.results: list[ScenarioRun] = []
        self.facts: dict = {}
        self.database_url = ""
        self.webhooks: dict | None = None
        self.readpath: dict | None = None

    def run(self) -> None:
        started = time.monotonic()
        self.facts = machine_facts()
        self.facts["wrk"] = wrk_version(self.wrk)
        self.facts["commit"] = git_commit()
        pg = PostgresServer()
        say(f"mode {self.config.mode}: {len(self.scenarios)} scenario(s), levels "
            f"{', '.join(f'{lv}={self.config.size(lv):,}' for lv in self.config.levels)}")
        try:
            say("starting PostgreSQL")
            pg.start()
            self.database_url = pg.create_database("paydock_bench")
            database = db.open_database(self.database_url, timeout=900, pool_size=4)
            db.bind(database)
            with database.connection_context():
                migrate()
                self.facts["postgres"] = database.execute_sql("SHOW server_version").fetchone()[0]
            self.seed()
            self.profile()
            self.start_servers()
            self.meter = CpuMeter([s.process.pid for s in self.servers.values()]
                                  + [pid for pid in [postmaster_pid(pg.data)] if pid])
            sampler = RssSampler().watch(list(self.servers.values()))
            try:
                for level in self.config.levels:
                    ordered = sorted(self.scenarios_at(level), key=lambda s: s.writes)
                    for scenario in ordered:
                        if scenario.kind == "http":
                            self.run_http(scenario, level, sampler)
                        else:
                            self.run_command(scenario, level)
                self.facts["rss_overall_mb"] = sampler.overall()
            finally:
                sampler.stop()
            if self.config.readpath:
                self.measure_readpath()
            if self.config.webhooks:
                self.measure_webhooks(pg, database)
        finally:
            for server in self.servers.values():
                server.stop()
            pg.cleanup()
        self.facts["load_after"] = [round(x, 2) for x in os.getloadavg()]
        self.facts["wall_seconds"] = round(time.monotonic() - started, 1)

    def measure_readpath(self) -> None:
        """The 100-invoice page in process on SQLite, split into query, serialize and encode
        (bench/readpath.py, in a process of its own: it binds its own database)."""
        say("read path in process on SQLite: query, serialize, encode")
        try:
            result = subprocess.run([sys.executable, "-m", "bench.readpath", "--json"], cwd=ROOT,
                                    capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                raise RuntimeError(f"exited {result.returncode}: {result.stderr[-400:]}")
            self.readpath = json.loads(result.stdout.strip().splitlines()[-1])
        except Exception as exc:  # a failed measurement is a finding to report, not a crash
            self.readpath = {"problem": f"{type(exc).__name__}: {exc}"[:500]}

    def measure_webhooks(self, pg: PostgresServer, database) -> None:
        """Webhook delivery (bench/webhook_delivery.py) on a database of its own."""
        say("webhook delivery: 20 receivers, 10,000 deliveries, 2 workers")
        url = pg.create_database("paydock_webhook_bench")
        own = db.open_database(url, timeout=900, pool_size=4)
        db.bind(own)
        try:
            with own.connection_context():
                migrate()
            self.webhooks = webhook_delivery.measure(url, self.workdir)
        except Exception as exc:  # a failed measurement is a finding to report, not a crash
            self.webhooks = {"problem": f"{type(exc).__name__}: {exc}"[:500]}
        finally:
            own.close_all()
            db.bind(database)

    def scenarios_at(self, level: str) -> list:
        return [s for s in self.scenarios if level in s.levels]

    # -------------------------------------------------------------- data

    def seed(self) -> None:
        for level in self.config.levels:
            wanted = {need for s in self.scenarios_at(level) for need in s.needs}
            if not wanted:
                continue
            size = self.config.size(level)
            say(f"seeding level {level}: {size:,} rows per seeder ({', '.join(sorted(wanted))})")
            start = time.monotonic()
            with db.database.connection_context():
                fixed = {"subscriptions": self.config.subscriptions} if self.config.subscriptions else None
                seeded = seed_level(level, size, order_seeders(sorted(wanted), SEEDERS),
                                    progress=self.config.progress, sizes=fixed)
            seeded.seconds = time.monotonic() - start
            say(f"seeded {level} in {seeded.seconds:.1f} s")
            self.levels[level] = seeded
            for name, ids in seeded.ids.items():
                path = self.workdir / f"ids-{level}-{name}.txt"
                path.write_text("\n".join(ids[:IDS_FOR_WRK]) + "\n")
                self.id_files[(level, name)] = str(path)

    def profile(self) -> None:
        """SQL statements per request and the cost of each SELECT, per scenario and level."""
        self.profiles: dict[tuple[str, str], dict] = {}
        for level, seeded in self.levels.items():
            for scenario in self.scenarios_at(level):
                if getattr(scenario, "profile", None) is None:
                    continue
                result = profile_call(lambda s=scenario, d=seeded: s.profile(d),
                                      repeat=self.config.profile_repeat)
                self.profiles[(scenario.name, level)] = {
                    "statements": result.count,
                    "count_ms": round(result.ms("count"), 3),
                    "select_ms": round(result.ms("select"), 3),
                    "detail": [
                        {"kind": s.kind, "ms": None if s.median_ms is None else round(s.median_ms, 3),
                         "sql": s.sql[:300], "plan": s.plan}
                        for s in result.statements
                    ],
                }

    # -------------------------------------------------------------- servers

    def start_servers(self) -> None:
        names = sorted({t for s in self.scenarios if s.kind == "http" for t in s.targets})
        if not names:
            return
        say(f"starting {', '.join(names)} (gunicorn, 2 uvicorn workers each)")
        for name in names:
            target = TARGETS[name]
            env = dict(target.env)
            if name == "floor":
                env["FLOOR_KEYS"] = json.dumps({
                    key: [str(seeded.administration_id), KEY_SCOPES[key_name]]
                    for seeded in self.levels.values() for key_name, key in seeded.keys.items()})
            self.servers[name] = BenchServer(name, target.app, self.database_url, self.workdir,
                                             env=env).start()
        for server in self.servers.values():
            server.wait_healthy()

    # -------------------------------------------------------------- scenarios

    def _request_parts(self, scenario: HttpScenario, level: str) -> tuple[str | None, str | None]:
        ids_file = self.id_files.get((level, scenario.ids)) if scenario.ids else None
        if scenario.ids and ids_file is None:
            raise RuntimeError(f"{scenario.name}: no seeded id list {scenario.ids!r}")
        body_file = None
        if scenario.body is not None:
            body_path = self.workdir / f"body-{scenario.name}.json"
            body_path.write_text(scenario.body)
            body_file = str(body_path)
        return ids_file, body_file

    def probe(self, scenario: HttpScenario, level: str, server: BenchServer) -> tuple[str | None, object]:
        """One request as wrk will send it: (what is wrong or None, the JSON body)."""
        seeded = self.levels[level]
        first_id = seeded.ids[scenario.ids][0] if scenario.ids else ""
        unique = f"probe-{secrets.token_hex(4)}"

        def fill(text: str) -> str:
            return text.replace("{id}", first_id).replace("{unique}", unique)

        headers = {"X-API-Key": seeded.keys[scenario.key]}
        content = None
        if scenario.body is not None:
            content = fill(scenario.body).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = httpx.request(scenario.method, server.url + fill(scenario.path), headers=headers,
                                     content=content, timeout=30)
        except httpx.HTTPError as exc:
            return f"{server.name}: {exc!r}", None
        if response.status_code != scenario.expect:
            return (f"{server.name} answered {response.status_code} (expected {scenario.expect}): "
                    f"{response.text[:300]}"), None
        try:
            return None, response.json()
        except ValueError:
            return f"{server.name} answered no JSON: {response.text[:300]}", None

    def run_http(self, scenario: HttpScenario, level: str, sampler: RssSampler) -> None:
        config = self.config
        seeded = self.levels[level]
        run = ScenarioRun(scenario.name, level, {t: TargetRun(t) for t in scenario.targets},
                          profile=self.profiles.get((scenario.name, level)))
        self.results.append(run)
        say(f"{level:>5} {scenario.name}: {' vs '.join(scenario.targets)}")
        try:
            ids_file, body_file = self._request_parts(scenario, level)
        except RuntimeError as exc:
            run.problem = str(exc)
            say(f"  {exc}")
            return
        probes = {t: self.probe(scenario, level, self.servers[t]) for t in scenario.targets}
        problems = [problem for problem, _ in probes.values() if problem]
        bodies = [body for _, body in probes.values()]
        if not problems and not scenario.writes and any(b != bodies[0] for b in bodies):
            problems.append("the targets answered different bodies: they do not do the same work")
        if problems:
            run.problem = "; ".join(problems)
            say(f"  probe failed: {run.problem}")
            return

        def drive(target: str, seconds: int, tag: str) -> WrkResult:
            return run_wrk(self.wrk, self.servers[target].url, method=scenario.method,
                           path=scenario.path, key=seeded.keys[scenario.key], ids_file=ids_file,
                           body_file=body_file, tag=tag, seconds=seconds, threads=config.threads,
                           connections=scenario.connections or config.connections,
                           timeout_s=scenario.timeout_s)

        try:
            self._measure(scenario, run, drive, sampler)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            run.problem = f"wrk: {exc}"[:500]
            say(f"  {run.problem}")
            return
        for target in scenario.targets:
            run.runs[target].rss_mb = round(sampler.peak(target), 1)
            if any(r.requests == 0 for r in run.runs[target].reps):
                run.notes.append(f"{target}: a {config.duration} s run completed no request "
                                 "(its latencies read 0); run longer, e.g. --duration 10")

    def _drive_spread(self, drive, target: str, seconds: int, tag: str, run: ScenarioRun) -> WrkResult:
        """One wrk run whose connections the two workers share. A worker that wakes first may
        accept every connection wrk opens at once, and a run on one worker measures one CPU,
        not the server (measured: 16 connections on one worker, about half the requests/s):
        such a run is repeated, at most SPREAD_TRIES times in all, and counted in the notes."""
        server = self.servers[target]
        for attempt in range(1, SPREAD_TRIES + 1):
            split: list[int] = []
            probe = threading.Timer(min(1.0, seconds / 3),
                                    lambda into=split: into.extend(server.connections_per_worker()))
            probe.start()
            result = drive(target, seconds, f"{tag}{attempt}")
            probe.join()
            total = sum(split)
            spread = total < SPREAD_MIN_CONNECTIONS or split[0] <= SPREAD_MAX_SHARE * total
            if spread:
                return result
            if attempt == SPREAD_TRIES:
                run.notes.append(f"{target}: kept a run with {split[0]} of its {total} connections on "
                                 f"one worker after {SPREAD_TRIES} tries")
                return result
            run.notes.append(f"{target}: a run with {split[0]} of its {total} connections on one "
                             "worker was run again")
            say(f"  {target:<16} {split[0]} of {total} connections on one worker: run again")
        raise AssertionError("unreachable")

    def _measure(self, scenario: HttpScenario, run: ScenarioRun, drive, sampler: RssSampler) -> None:
        """Warm-up, then the repetitions in alternating target order."""
        config = self.config
        run_tag = secrets.token_hex(3)
        if config.warmup:
            for target in scenario.targets:
                drive(target, config.warmup, f"w{run_tag}{target[:2]}")
        sampler.reset()
        reps = max(config.reps, scenario.min_reps) if config.mode == "full" else config.reps
        for rep in range(reps):
            # A, B, B, A, A, B, ...: neither target always goes first.
            order = list(scenario.targets) if rep % 2 == 0 else list(reversed(scenario.targets))
            for target in order:
                self.meter.start()
                result = self._drive_spread(drive, target, max(config.duration, scenario.min_seconds),
                                            f"{run_tag}{rep}{target[:2]}", run)
                others = self.meter.others()
                run.runs[target].reps.append(result)
                run.runs[target].others_cpu.append(others)
                say(f"  {target:<16} rep {rep + 1}: {result.rps:8.1f} req/s  p95 {result.p95_ms:7.2f} ms"
                    f"  errors {result.errors}  (other work: {others:.2f} CPUs)")

    def run_command(self, scenario, level: str) -> None:
        seeded = self.levels[level]
        env = {**os.environ, "PAYDOCK_DATABASE_URL": self.database_url, "PAYDOCK_LOG_LEVEL": "WARNING"}
        say(f"{level:>5} {scenario.name}: timing the command")
        run = ScenarioRun(scenario.name, level, {})
        try:
            run.command = scenario.run(seeded, env)
        except Exception as exc:  # a failed batch job is a finding to report, not a crash
            run.problem = f"{type(exc).__name__}: {exc}"
        self.results.append(run)

    # -------------------------------------------------------------- output

    def as_json(self) -> dict:
        return {
            "config": asdict(self.config),
            "facts": self.facts,
            "webhooks": self.webhooks,
            "readpath": self.readpath,
            "levels": {lv: {"size": s.size, "seed_seconds": round(s.seconds, 1), "rows": s.rows}
                       for lv, s in self.levels.items()},
            "results": [
                {
                    "scenario": r.scenario, "level": r.level, "problem": r.problem,
                    "profile": r.profile, "command": r.command, "notes": r.notes,
                    "targets": {
                        t: {
                            "rps": round(tr.median("rps"), 1),
                            "p50_ms": round(tr.median("p50_ms"), 2),
                            "p95_ms": round(tr.median("p95_ms"), 2),
                            "p99_ms": round(tr.median("p99_ms"), 2),
                            "errors": tr.errors,
                            "requests": tr.requests,
                            "rss_mb": tr.rss_mb,
                            "reps_rps": [round(r.rps, 1) for r in tr.reps],
                            "others_cpu": [round(c, 2) for c in tr.others_cpu],
                        }
                        for t, tr in r.runs.items()
                    },
                }
                for r in self.results
            ],
        }


def command_line(argv: list[str] | None) -> str:
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python bench/run.py", *args])


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if config.wait_idle is not None:
        wait_until_idle(config.wait_idle)
    if config.only == "webhooks":
        return webhook_delivery.main(["--output", config.output or "-"],
                                     command=command_line(argv))
    with tempfile.TemporaryDirectory(prefix="paydock-bench-") as workdir:
        bench = Bench(config, Path(workdir))
        bench.run()
    data = bench.as_json()
    data["command"] = command_line(argv)
    markdown = report.render(data, SCENARIOS, TARGETS)
    if config.output:
        Path(config.output).write_text(markdown)
        say(f"wrote {config.output}")
    else:
        print(markdown)
    if config.json_path:
        Path(config.json_path).write_text(json.dumps(data, indent=2, default=str))
    failed = [r for r in data["results"] if r["problem"]]
    say(f"done in {data['facts']['wall_seconds']} s" + (f"; {len(failed)} scenario(s) failed" if failed
                                                       else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
