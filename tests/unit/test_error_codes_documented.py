"""Every error code Vialog can answer with is in the one catalogue, with one status, and in docs/api.md."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import inventory
import recall
from inventory.blueprints.errors import HTTP_CODES
from inventory.errors import CATALOGUE, DomainError

ROOT = Path(__file__).resolve().parents[2]
# Answered by the error handlers themselves, outside any rule.
HANDLER_CODES = {"malformed_json", "internal_error", "database_unavailable"}


def _import_everything() -> None:
    for package in (inventory, recall):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)


def _domain_errors(cls: type[DomainError] = DomainError) -> list[type[DomainError]]:
    return [cls, *(found for sub in cls.__subclasses__() for found in _domain_errors(sub))]


def test_every_error_class_is_in_the_catalogue_with_one_status():
    _import_everything()
    for cls in _domain_errors()[1:]:
        entry = CATALOGUE.get(cls.code)
        if "code" in cls.__dict__ or cls.code != "domain_error":
            assert entry is not None, cls
            assert entry.status == cls.status, (cls, entry)


def test_every_error_code_is_documented():
    _import_everything()
    codes = set(CATALOGUE) | set(HTTP_CODES.values()) | HANDLER_CODES
    documented = set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / "api.md").read_text()))
    assert sorted(codes - documented) == []
