"""The benchmark harness end to end in a few seconds: tiny data, one scenario, 1 s of wrk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_tiny_bench_run_measures_paydock_and_the_baseline(tmp_path):
    report, raw = tmp_path / "RESULTS.md", tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--tiny", "--no-progress",
         "--output", str(report), "--json", str(raw)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    data = json.loads(raw.read_text())
    assert data["levels"] == {"small": {"size": 50, "seed_seconds": data["levels"]["small"]["seed_seconds"],
                                        "rows": {"contacts": 50}}}
    [run] = data["results"]
    assert (run["scenario"], run["level"], run["problem"]) == ("contact-get", "small", None)
    assert set(run["targets"]) == {"paydock", "baseline"}
    for figures in run["targets"].values():
        assert figures["requests"] > 50
        assert figures["errors"] == 0
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
        assert 0 < figures["rss_mb"] < 1000
    # GET one contact is one SELECT (the key check is cached).
    assert run["profile"]["statements"] == 1

    text = report.read_text()
    assert "| GET /contacts/{id} | small | PayDock |" in text
    assert "## Worker memory" in text


@pytest.mark.postgres
def test_every_quick_scenario_answers_alike_on_paydock_and_the_baseline(tmp_path):
    """Each scenario the targets are held to, on tiny data: both apps answer every request
    with the expected status (a baseline route out of step with PayDock fails here), and
    the billing run bills each subscription once."""
    raw = tmp_path / "results.json"
    names = ["invoice-get", "invoice-list", "portal", "invoice-create", "payment-create", "billing-run"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--tiny", "--no-progress",
         "--scenarios", ",".join(names), "--subscriptions", "40",
         "--output", str(tmp_path / "RESULTS.md"), "--json", str(raw)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = {run["scenario"]: run for run in json.loads(raw.read_text())["results"]}
    assert sorted(runs) == sorted(names)
    for name in names[:-1]:
        assert runs[name]["problem"] is None, runs[name]
        for figures in runs[name]["targets"].values():
            assert figures["requests"] > 0 and figures["errors"] == 0, (name, figures)
    billing = runs["billing-run"]["command"]
    assert (billing["subscriptions"], billing["billed"], billing["billed_once"]) == (40, 40, True)
