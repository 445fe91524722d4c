"""openapi.yaml passes the OpenAPI linter (Redocly CLI) with the committed ruleset redocly.yaml.

Redocly CLI comes from the npm registry, pinned in package.json / package-lock.json; the
test runs `npm ci` into ./node_modules when it is not there yet.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.server import ROOT

REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"
QUIET = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1"}


def _install_redocly() -> None:
    if REDOCLY.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the spec linter needs Node.js and npm")
        pytest.skip("the spec linter needs Node.js and npm (not found)")
    result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0 and REDOCLY.exists(), result.stdout[-3000:] + result.stderr[-3000:]


def test_spec_has_no_lint_errors():
    _install_redocly()
    result = subprocess.run(
        [str(REDOCLY), "lint", "openapi.yaml", "--config", "redocly.yaml", "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **QUIET},
    )
    report = json.loads(result.stdout)
    errors = [f"{p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}"
              for p in report["problems"] if p["severity"] == "error"]
    assert errors == [], "\n".join(errors)
    assert report["totals"]["errors"] == 0 and result.returncode == 0, result.stderr[-2000:]


def test_the_ruleset_catches_a_missing_example(tmp_path):
    """The custom rules are live: the same spec without one response example fails."""
    _install_redocly()
    spec = (ROOT / "openapi.yaml").read_text()
    broken = spec.replace("              example: {status: ok}\n", "", 1)
    assert broken != spec
    (tmp_path / "openapi.yaml").write_text(broken)
    result = subprocess.run(
        [str(REDOCLY), "lint", str(tmp_path / "openapi.yaml"), "--config", str(ROOT / "redocly.yaml"),
         "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **QUIET},
    )
    report = json.loads(result.stdout)
    assert [p["ruleId"] for p in report["problems"] if p["severity"] == "error"] == [
        "rule/success-response-example"]
