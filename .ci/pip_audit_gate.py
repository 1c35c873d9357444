#!/usr/bin/env python3
"""CI gate over pip-audit: fail on a known vulnerability that has a fixed release, report the rest.

An advisory with no fixed release yet cannot be acted on by upgrading; failing CI on it would only teach
people to ignore CI. Those are printed (and reviewed in docs/security.md's threat model), not fatal. An
audit that cannot run at all (no network, PyPI down) fails: an unaudited build is not a clean one.

    python .ci/pip_audit_gate.py                 # audit the environment this Python runs in
    python .ci/pip_audit_gate.py --from-json F   # judge a saved `pip-audit -f json` report (tests)
"""

from __future__ import annotations

import argparse
import json
# Runs pip-audit with a fixed argument list and no shell.
import subprocess  # nosec B404
import sys


def audit() -> dict:
    command = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off",
               "--skip-editable", "--aliases", "on"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603
    try:
        return json.loads(done.stdout)
    except ValueError:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"pip-audit did not run (exit {done.returncode}): the dependencies are unaudited.")


def judge(report: dict) -> int:
    fixable = unfixable = 0
    for dependency in report.get("dependencies", []):
        for vuln in dependency.get("vulns", []):
            fixes = vuln.get("fix_versions") or []
            names = ", ".join([vuln["id"], *vuln.get("aliases", [])])
            where = f"{dependency['name']} {dependency['version']}: {names}"
            if fixes:
                fixable += 1
                print(f"FIX AVAILABLE  {where} -> upgrade to {' or '.join(fixes)}")
            else:
                unfixable += 1
                print(f"no fix yet     {where}")
    print(f"pip-audit: {fixable} fixable, {unfixable} without a fix.")
    return 1 if fixable else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-json", metavar="FILE", help="a saved `pip-audit -f json` report")
    args = parser.parse_args()
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as fh:
            report = json.load(fh)
    else:
        report = audit()
    return judge(report)


if __name__ == "__main__":
    raise SystemExit(main())
