"""bench/RESULTS.md from one run's figures (the JSON that bench/run.py also writes)."""

from __future__ import annotations

import datetime as dt

MEMORY_LIMIT_MB = 200


def _n(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _by_name(scenarios) -> dict:
    return {s.name: s for s in scenarios}


def render(data: dict, scenarios, targets) -> str:
    facts, config = data["facts"], data["config"]
    known = _by_name(scenarios)
    label = {name: t.label for name, t in targets.items()}
    lines = [
        "# PayDock benchmark results",
        "",
        f"Written by `{data['command']}` on {dt.date.today().isoformat()}; regenerate it, do not edit it.",
        "Ratios compare targets measured in the same command on the same machine; absolute",
        "figures on a shared 2-core machine are noise, ratios much less so.",
        "",
        "## Machine and run",
        "",
        "| | |",
        "|---|---|",
        _row("machine", f"{facts['cpus']} CPUs ({facts['cpu_model']}), {facts['memory_gib']} GiB memory"),
        _row("load average (1/5/15 min)", f"before {' / '.join(map(str, facts['load_before']))}, "
             f"after {' / '.join(map(str, facts.get('load_after', [])))}"),
        _row("commit", facts["commit"]),
        _row("command", f"`{data['command']}` (mode {config['mode']}, {facts.get('wall_seconds', '?')} s)"),
        _row("software", f"Python {facts['python']}, PostgreSQL {facts.get('postgres', '?')}, "
             f"{facts.get('wrk', 'wrk')}"),
        _row("servers", "gunicorn + 2 `uvicorn_worker.UvicornWorker` each, production settings "
             "(bench/gunicorn.conf.py: access log off); PostgreSQL throw-away with fsync off"),
        _row("load", f"wrk -t{config['threads']} -c{config['connections']}, {config['duration']} s per "
             f"run, {config['reps']} repetition(s) per target in alternating order"
             f"{_write_reps(config)}, "
             f"{config['warmup']} s warm-up; medians shown"),
        _row("other work on the machine", _others_summary(data)),
        _row("data", "; ".join(f"{lv}: {info['size']:,} rows per seeder{_own_sizes(info)}, seeded in "
                               f"{info['seed_seconds']} s" for lv, info in data["levels"].items())),
        "",
        "## Results",
        "",
        "Errors are HTTP responses ≥ 400 plus socket errors (connect, read, write, timeout).",
        "Ratio: requests/s of the first target over the second (the baseline: the same model-layer",
        "work behind a bare Starlette route). vs floor: requests/s of the first target over the",
        "floor's (bench/floor.py: the same body built by PostgreSQL in one SQL statement behind a",
        "bare route sharing no code with PayDock, which is what the data store alone can serve).",
        "RSS: the largest gunicorn",
        "worker during the scenario. Other work: CPUs kept busy by processes that are not the",
        "benchmark's own while that target was measured (mean over its repetitions).",
        "",
        _row("scenario", "level", "target", "req/s", "range (reps)", "p50 ms", "p95 ms", "p99 ms",
             "errors", "ratio", "vs floor", "worker RSS MB", "other work (CPUs)"),
        _row(*["---"] * 13),
    ]
    for result in data["results"]:
        scenario = known.get(result["scenario"])
        title = scenario.title if scenario else result["scenario"]
        if result["problem"]:
            lines.append(_row(title, result["level"], "—", "failed", "", "", "", "", "",
                              "", "", result["problem"][:160].replace("|", "/"), ""))
            continue
        if result["command"] is not None:
            seconds, rss = result["command"].get("seconds"), result["command"].get("rss_mb")
            lines.append(_row(title, result["level"], "command", f"{seconds:.1f} s", "", "", "", "", "",
                              "", "", "" if rss is None else _n(rss), ""))
            continue
        names = list(result["targets"])
        for i, name in enumerate(names):
            t = result["targets"][name]
            ratio = ""
            if i == 0 and len(names) > 1 and names[1] != "floor" and result["targets"][names[1]]["rps"]:
                ratio = f"**{t['rps'] / result['targets'][names[1]]['rps']:.2f}**"
            floor = ""
            if i == 0 and "floor" in names[1:] and result["targets"]["floor"]["rps"]:
                floor = f"**{t['rps'] / result['targets']['floor']['rps']:.2f}**"
            spread = f"{_n(min(t['reps_rps']), 0)}–{_n(max(t['reps_rps']), 0)}" if t["reps_rps"] else ""
            lines.append(_row(title if i == 0 else "", result["level"] if i == 0 else "",
                              label.get(name, name), _n(t["rps"]), spread, _n(t["p50_ms"], 2),
                              _n(t["p95_ms"], 2), _n(t["p99_ms"], 2), t["errors"], ratio, floor,
                              _n(t["rss_mb"]),
                              _n(_mean(t.get("others_cpu") or [0.0]), 2)))
    notes = [f"- {known[r['scenario']].title if r['scenario'] in known else r['scenario']} "
             f"({r['level']}): {note}" for r in data["results"] for note in r.get("notes", [])]
    if notes:
        lines += ["", "Notes:", "", *notes]
    lines += ["", *_targets_section(data, known), "", *_key_cache_section(data, known, label), "",
              *_count_section(data, known), "", *_memory_section(data, label)]
    if data.get("readpath"):
        lines += ["", *_readpath_section(data["readpath"])]
    if data.get("webhooks"):
        from bench.webhook_delivery import render_section

        lines += ["", render_section(data["webhooks"], data["command"], dt.date.today().isoformat())]
    return "\n".join(lines).rstrip() + "\n"


def _own_sizes(level: dict) -> str:
    """Seeders of their own size (e.g. one subscription per ten contacts): ` (subscriptions: 10,000)`."""
    own = [f"{name}: {rows:,}" for name, rows in (level.get("rows") or {}).items() if rows != level["size"]]
    return f" ({', '.join(own)})" if own else ""


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _write_reps(config: dict) -> str:
    """The POST scenarios held to a ratio run more repetitions in a full run."""
    from bench.scenarios import WRITE_REPS

    return f" ({WRITE_REPS} for the POSTs held to a ratio)" if config["mode"] == "full" else ""


def _others_summary(data: dict) -> str:
    samples = [c for r in data["results"] for t in r["targets"].values() for c in t.get("others_cpu", [])]
    if not samples:
        return "not measured"
    return (f"{_mean(samples):.2f} CPUs on average while measuring (max {max(samples):.2f}) of "
            f"{data['facts']['cpus']}; see the last column")


def _find(data: dict, scenario: str, level: str) -> dict | None:
    return next((r for r in data["results"] if r["scenario"] == scenario and r["level"] == level), None)


def _targets_section(data: dict, known: dict) -> list[str]:
    lines = ["## Targets", "", _row("scenario", "target", "level", "measured", "holds"),
             _row(*["---"] * 5)]
    for result in data["results"]:
        scenario = known.get(result["scenario"])
        if scenario is None or result["problem"] or not result["targets"]:
            continue
        names = list(result["targets"])
        first = result["targets"][names[0]]
        floor_goal = getattr(scenario, "min_floor_ratio", None)
        if floor_goal is not None and "floor" in names[1:]:
            floor_rps = result["targets"]["floor"]["rps"]
            ratio = first["rps"] / floor_rps if floor_rps else 0.0
            holds = ratio >= floor_goal and first["errors"] == 0
            lines.append(_row(scenario.title, f"PayDock ≥ {floor_goal}× floor, 0 errors", result["level"],
                              f"{ratio:.2f}× floor, {first['errors']} errors", "yes" if holds else "**no**"))
        versus = getattr(scenario, "max_p95_vs", None)
        other = _find(data, versus[0], result["level"]) if versus else None
        if versus and other and not other["problem"]:
            name = scenario.targets[0]
            mine, theirs = first["p95_ms"], other["targets"][name]["p95_ms"]
            factor = mine / theirs if theirs else 0.0
            title_other = known[versus[0]].title if versus[0] in known else versus[0]
            lines.append(_row(scenario.title, f"p95 ≤ {versus[1]}× p95 of {title_other}", result["level"],
                              f"p95 {mine:.2f} / {theirs:.2f} ms = {factor:.2f}×",
                              "yes" if factor <= versus[1] else "**no**"))
        if getattr(scenario, "min_ratio", None) is not None and len(names) > 1:
            other = result["targets"][names[1]]["rps"]
            ratio = first["rps"] / other if other else 0.0
            holds = ratio >= scenario.min_ratio and first["errors"] == 0
            lines.append(_row(scenario.title, scenario.goal, result["level"],
                              f"{ratio:.2f}×, {first['errors']} errors", "yes" if holds else "**no**"))
    for scenario in known.values():
        growth = getattr(scenario, "max_p95_growth", None)
        small, large = _find(data, scenario.name, "small"), _find(data, scenario.name, "large")
        if growth is None or not small or not large or small["problem"] or large["problem"]:
            continue
        name = scenario.targets[0]
        p95_small, p95_large = small["targets"][name]["p95_ms"], large["targets"][name]["p95_ms"]
        factor = p95_large / p95_small if p95_small else 0.0
        lines.append(_row(scenario.title, scenario.goal, "large / small",
                          f"p95 {p95_large:.2f} / {p95_small:.2f} ms = {factor:.2f}×",
                          "yes" if factor <= growth else "**no**"))
    for result in data["results"]:
        scenario = known.get(result["scenario"])
        if result["command"] is not None and getattr(scenario, "max_seconds", None) is not None:
            command = result["command"]
            seconds = command["seconds"]
            # A command's own check of what it did (e.g. "10,000 subscriptions, each billed once").
            checked = f"; {command['checked']}" if command.get("checked") else ""
            holds = seconds < scenario.max_seconds and command.get("checked_ok", True)
            lines.append(_row(scenario.title, scenario.goal, result["level"], f"{seconds:.1f} s{checked}",
                              "yes" if holds else "**no**"))
    return lines


def _key_cache_section(data: dict, known: dict, label: dict) -> list[str]:
    results = [r for r in data["results"] if r["scenario"].endswith("-keycache") and not r["problem"]]
    if not results:
        return []
    lines = [
        "## API-key verification",
        "",
        "A verified key hash is cached in each worker for `PAYDOCK_API_KEY_CACHE_SECONDS`",
        "(default 10 s). With the cache at 0 s every request looks the key up and writes its",
        "`last_used_at` in its own connection before the handler runs.",
        "",
        _row("level", "target", "req/s", "p50 ms", "p95 ms", "errors"),
        _row(*["---"] * 6),
    ]
    for result in results:
        for name, t in result["targets"].items():
            lines.append(_row(result["level"], label.get(name, name), _n(t["rps"]), _n(t["p50_ms"], 2),
                              _n(t["p95_ms"], 2), t["errors"]))
        names = list(result["targets"])
        if len(names) == 2 and result["targets"][names[1]]["rps"]:
            off, on = result["targets"][names[0]], result["targets"][names[1]]
            lines += ["", f"At {result['level']}: the cache off gives {off['rps'] / on['rps']:.2f}× the "
                          f"requests/s of the cache on (p50 {off['p50_ms']:.2f} vs {on['p50_ms']:.2f} ms)."]
    return lines


def _count_section(data: dict, known: dict) -> list[str]:
    profiled = [r for r in data["results"] if r.get("profile")]
    if not profiled:
        return []
    lines = [
        "## SQL per request, and the cost of `total`",
        "",
        "Each scenario's model-layer call run once in the bench process with its SQL recorded",
        "(writes rolled back), then every SELECT re-run on its own; medians in ms. `COUNT` is the",
        "`total` of a list page; its share is COUNT / (all SELECTs). HTTP p50 is the first",
        "target's median p50 for comparison.",
        "",
        _row("scenario", "level", "statements", "COUNT ms", "other SELECTs ms", "COUNT share", "HTTP p50 ms"),
        _row(*["---"] * 7),
    ]
    for result in profiled:
        scenario = known.get(result["scenario"])
        profile = result["profile"]
        total = profile["count_ms"] + profile["select_ms"]
        share = f"{profile['count_ms'] / total:.0%}" if profile["count_ms"] and total else "—"
        p50 = ""
        if result["targets"]:
            p50 = _n(next(iter(result["targets"].values()))["p50_ms"], 2)
        lines.append(_row(scenario.title if scenario else result["scenario"], result["level"],
                          profile["statements"], _n(profile["count_ms"], 2) if profile["count_ms"] else "—",
                          _n(profile["select_ms"], 2), share, p50))
    return lines


def _memory_section(data: dict, label: dict) -> list[str]:
    overall = data["facts"].get("rss_overall_mb") or {}
    if not overall:
        return []
    lines = ["## Worker memory", "",
             f"Largest resident set of one gunicorn worker over the whole run (limit {MEMORY_LIMIT_MB} MB).",
             "", _row("target", "max RSS MB", f"under {MEMORY_LIMIT_MB} MB"), _row("---", "---", "---")]
    for name, mb in sorted(overall.items()):
        lines.append(_row(label.get(name, name), _n(mb), "yes" if mb < MEMORY_LIMIT_MB else "**no**"))
    return lines


def _readpath_section(figures: dict) -> list[str]:
    lines = ["## Read path in process (SQLite)", ""]
    if figures.get("problem"):
        return [*lines, f"`python -m bench.readpath` **failed**: {figures['problem']}"]
    page, cpu, wall = figures["page"], figures["cpu"], figures["wall"]
    before = figures.get("before_ms", 38.0)
    lines += [
        "`python -m bench.readpath` (run by this command): GET /invoices?status=verzonden&contact_id=…",
        f"&limit=100 as PayDock answers it, called in process on a throw-away SQLite database: "
        f"{page['rows']} invoices × 10 lines,",
        f"{page['bytes']:,} bytes; medians of {figures.get('repeat', '?')} calls, as CPU time of the "
        "calling thread and as wall-clock time.",
        "",
        _row("stage", "CPU ms", "wall ms"),
        _row("---", "---", "---"),
        *(_row(stage, _n(cpu[stage], 2), _n(wall[stage], 2)) for stage in ("query", "serialize", "encode")),
        _row("**total**", f"**{_n(cpu['total'], 2)}**", f"**{_n(wall['total'], 2)}**"),
        "",
        f"Target: ≤ 1/3 of the {before:g} ms the same call took before the JSON-text read path "
        f"(≤ {before / 3:.1f} ms): {_n(wall['total'], 2)} ms wall, {_n(cpu['total'], 2)} ms CPU — "
        + ("holds." if wall["total"] <= before / 3 else
           "holds on CPU time, not on wall-clock time." if cpu["total"] <= before / 3 else
           "**does not hold**."),
    ]
    return lines
