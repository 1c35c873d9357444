"""Every stable error code the code can answer with is listed in docs/api.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_error_code_is_documented():
    codes = set()
    for path in list((ROOT / "inventory").rglob("*.py")) + list((ROOT / "recall").rglob("*.py")):
        codes |= set(re.findall(r'^\s+code = "([a-z_]+)"', path.read_text(), flags=re.M))
    codes -= {"domain_error"}  # the abstract base, never answered
    documented = set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / "api.md").read_text()))
    assert sorted(codes - documented) == []
