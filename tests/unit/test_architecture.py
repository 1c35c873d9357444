"""The dependency rules of the layout (README "Layout"), read from the source: the core never imports a
feature, features never import each other's pages or API, and nothing in ``inventory`` imports ``recall``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from inventory import features

ROOT = Path(__file__).resolve().parents[2]
FEATURES = {name.rsplit(".", 1)[1] for name in features.BUILT_IN}
# The shell: the seeding and command-line tools drive every feature, as a user does.
SHELL = {"inventory/demo.py", "inventory/cli.py"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _feature_of(path: Path) -> str | None:
    parts = path.relative_to(ROOT).parts
    return parts[1] if parts[0] == "inventory" and len(parts) > 2 and parts[1] in FEATURES else None


@pytest.mark.parametrize("path", _modules("inventory"), ids=lambda p: str(p.relative_to(ROOT)))
def test_inventory_never_imports_recall(path):
    assert not {name for name in _imports(path) if name == "recall" or name.startswith("recall.")}


@pytest.mark.parametrize("path", [p for p in _modules("inventory") if _feature_of(p) is None
                                  and str(p.relative_to(ROOT)) not in SHELL], ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_never_imports_a_feature(path):
    feature_imports = {name for name in _imports(path) for feature in FEATURES
                       if name == f"inventory.{feature}" or name.startswith(f"inventory.{feature}.")}
    assert not feature_imports, f"{path.name} is core: the features depend on it, never the reverse"


@pytest.mark.parametrize("path", [p for p in _modules("inventory") if _feature_of(p)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_features_use_each_other_only_through_services_and_models(path):
    own = _feature_of(path)
    reaching_in = {name for name in _imports(path) for feature in FEATURES - {own}
                   for layer in ("api", "pages", "schemas") if name.startswith(f"inventory.{feature}.{layer}")}
    assert not reaching_in


def test_every_feature_is_loaded_by_the_app(app):
    assert set(app.extensions["vialog.features"]) >= set(features.BUILT_IN) | {"recall"}
