"""Lint gates run from the suite, so CI enforces them: cfn-lint, sam validate --lint, ruff and checkov."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEMPLATE

pytestmark = pytest.mark.slow  # every test here starts a subprocess or a server

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SAM_CLI_TELEMETRY": "0"})


def test_cfn_lint_reports_no_errors_or_warnings():
    result = run(str(BIN / "cfn-lint"), "template.json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes():
    sam = ROOT / ".venv-sam" / "bin" / "sam"
    if not sam.exists():
        pytest.fail("sam is missing: run `make install` (make test does it)")
    result = run(str(sam), "validate", "--lint", "--template", "template.json", "--region", "us-east-1")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    result = run(str(BIN / "ruff"), "check", "src", "scripts", "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_nothing_unexplained():
    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    if not checkov.exists():
        pytest.fail("checkov is missing: run `make install` (make test does it)")
    result = run(str(checkov), "-f", "template.json", "--framework", "cloudformation", "--compact", "--quiet",
                 "--skip-download")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout


def test_every_checkov_suppression_gives_its_reason():
    for name, resource in TEMPLATE["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith(("CKV_", "CKV2_")), name
            assert len(skip.get("comment", "")) >= 60, f"{name} suppresses {skip['id']} without a real reason"
