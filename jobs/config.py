"""Configuration: shipped defaults, then a user's YAML file, then command-line overrides.

Every key a user may set exists in ``defaults.yaml``; an unknown key is an error, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from commitpack.jobs.errors import UsageError, describe


def _defaults() -> dict:
    text = resources.files("commitpack.jobs").joinpath("defaults.yaml").read_text("utf-8")
    return yaml.safe_load(text)


class Config:
    """A nested mapping of settings, read with dotted keys: ``cfg.get("index.message.junk")``."""

    def __init__(self, data: Mapping[str, Any]):
        self._data = copy.deepcopy(dict(data))

    @classmethod
    def load(
        cls,
        path: str | None = None,
        overrides: Iterable[str] = (),
        **settings: Any,
    ) -> "Config":
        """Defaults, then ``path`` (YAML), then ``KEY=VALUE`` overrides, then ``settings``
        (dotted key → value, ``None`` values ignored: an option the user did not give)."""
        data = _defaults()
        if path:
            file = Path(path)
            if not file.is_file():
                raise UsageError(f"--config {path}: no such file")
            try:
                user = yaml.safe_load(file.read_text("utf-8")) or {}
            except yaml.YAMLError as exc:
                raise UsageError(f"--config {path}: not valid YAML ({describe(exc)})") from None
            if not isinstance(user, dict):
                raise UsageError(f"--config {path}: expected a mapping of settings at the top")
            _merge(data, user, origin=path)
        for item in overrides:
            key, sep, raw = item.partition("=")
            if not sep or not key:
                raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set fetch.max_blob_bytes=2000000")
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError:
                value = raw
            _set(data, key.strip(), value, origin="--set")
        for key, value in settings.items():
            if value is not None:
                _set(data, key, value, origin="command line")
        return cls(data)

    def get(self, key: str) -> Any:
        node: Any = self._data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(key)
            node = node[part]
        return copy.deepcopy(node)

    def section(self, key: str) -> dict:
        value = self.get(key)
        if not isinstance(value, dict):
            raise KeyError(f"{key} is not a section")
        return value

    def as_dict(self) -> dict:
        return copy.deepcopy(self._data)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self._data, sort_keys=False)

    def fingerprint(self) -> str:
        """Short hash of the settings, recorded with every run for reproducibility."""
        blob = json.dumps(self._data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _merge(base: dict, update: Mapping, origin: str, prefix: str = "") -> None:
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise UsageError(f"{origin}: unknown setting {dotted!r}")
        if isinstance(base[key], dict) and base[key] and isinstance(value, Mapping):
            _merge(base[key], value, origin, prefix=f"{dotted}.")
        else:
            base[key] = value


def _set(data: dict, key: str, value: Any, origin: str) -> None:
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            raise UsageError(f"{origin}: unknown setting {'.'.join(parts[: i + 1])!r}")
        if i == len(parts) - 1:
            node[part] = value
        else:
            node = node[part]
