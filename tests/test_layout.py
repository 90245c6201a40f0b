"""The package's structure holds: imports run one way, and names are declared once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from commitpack.jobs.rules.commitpack import index_rules
from commitpack.jobs.rules.commitpackft import contents_rules, metadata_rules
from commitpack.jobs.runtime.config import load_settings
from commitpack.schemas.vocabulary import (
    FETCH_PRUNED,
    FILTER_CONTENTS_REASONS,
    FILTER_METADATA_REASONS,
    INDEX_REASONS,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"jobs": "commitpack.jobs", "udfs": "commitpack.udfs", "schemas": "commitpack.schemas"}
# Layer of every module, by package prefix (longest prefix wins), and what each layer may import.
LAYERS = {
    "commitpack.schemas": "schemas",
    "commitpack.udfs": "udfs",
    "commitpack.jobs.runtime": "runtime",
    "commitpack.jobs.rules": "shared",
    "commitpack.jobs.transforms": "shared",
    "commitpack.jobs.sample": "shared",
    "commitpack.jobs.stages": "stages",
    "commitpack.jobs.cli": "cli",
    "commitpack.jobs": "package",
}
ALLOWED = {
    "schemas": {"schemas"},
    "udfs": {"udfs", "schemas"},
    "runtime": {"runtime", "schemas"},
    "shared": {"shared", "runtime", "udfs", "schemas"},
    "stages": {"stages", "shared", "runtime", "udfs", "schemas"},
    "cli": {"stages", "runtime"},
    "package": set(),
}


def layer(module: str) -> str:
    return LAYERS[max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)]


def modules():
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            yield ".".join([package, *parts]), path


def imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("commitpack"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("commitpack"))
    known = {name for name, _ in modules()}
    return {name for name in found if name in known}


@pytest.mark.parametrize("module, path", list(modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_run_one_way(module, path):
    mine = layer(module)
    wrong = sorted(name for name in imported(path) if layer(name) not in ALLOWED[mine])
    assert not wrong, f"{module} ({mine}) imports {wrong}"


def test_rule_names_are_the_declared_vocabulary_in_order(spark):
    cfg = load_settings(overrides=["languages.allow=[python]"])
    assert [name for name, _ in index_rules(cfg)] == list(INDEX_REASONS)
    assert [name for name, _ in metadata_rules(cfg.filter)] == list(FILTER_METADATA_REASONS)
    assert [name for name, _ in contents_rules(cfg.filter)] == list(FILTER_CONTENTS_REASONS)
    # The statuses of rows a fetch skipped name the metadata rules, one each.
    assert FETCH_PRUNED == tuple(f"pruned:{name}" for name, _ in metadata_rules(cfg.filter))
