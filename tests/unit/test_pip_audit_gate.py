"""The CI gate over pip-audit fails on advisories with a fixed release and reports the others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

GATE = Path(__file__).resolve().parents[2] / ".ci" / "pip_audit_gate.py"


def _judge(tmp_path: Path, vulns: list[dict]) -> subprocess.CompletedProcess[str]:
    report = {"dependencies": [{"name": "somepkg", "version": "1.0", "vulns": vulns},
                               {"name": "vialog", "skip_reason": "editable"}], "fixes": []}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    return subprocess.run([sys.executable, str(GATE), "--from-json", str(path)], capture_output=True, text=True,
                          check=False)


def test_an_advisory_without_a_fix_is_reported_but_passes(tmp_path):
    done = _judge(tmp_path, [{"id": "GHSA-0000", "fix_versions": [], "aliases": ["CVE-2099-1"]}])
    assert done.returncode == 0
    assert "no fix yet     somepkg 1.0: GHSA-0000, CVE-2099-1" in done.stdout


def test_an_advisory_with_a_fixed_release_fails(tmp_path):
    done = _judge(tmp_path, [{"id": "PYSEC-1", "fix_versions": ["1.1"], "aliases": []}])
    assert done.returncode == 1
    assert "FIX AVAILABLE  somepkg 1.0: PYSEC-1 -> upgrade to 1.1" in done.stdout


def test_a_clean_report_passes(tmp_path):
    done = _judge(tmp_path, [])
    assert done.returncode == 0 and "0 fixable, 0 without a fix" in done.stdout
