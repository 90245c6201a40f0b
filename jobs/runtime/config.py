"""Loading settings: shipped defaults, then a user's YAML file, then ``--set`` and options.

Every key a user may set exists in ``defaults.yaml``, so a typo is an error, never a silent
default. The merged values are then built into the typed sections of ``schemas.settings``: a
value of the wrong type (``--set fetch.max_blob_bytes=abc``) or out of range stops the command
with one line naming the key and where the value came from, before Spark starts.

``build`` is generic over any frozen dataclass, so other entry points with settings of their own
(the Airflow DAG) load theirs the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from commitpack.jobs.runtime.errors import UsageError, describe
from commitpack.schemas.settings import SettingError, Settings

T = TypeVar("T")


def defaults() -> dict:
    text = resources.files("commitpack.jobs.runtime").joinpath("defaults.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def read_yaml(path: str | Path, option: str = "--config") -> dict:
    """A YAML file holding a mapping of settings; a missing or malformed file is a usage error
    (named with the option that gave it, if any)."""
    file = Path(path)
    label = f"{option} {path}" if option else str(path)
    if not file.is_file():
        raise UsageError(f"{label}: no such file")
    try:
        data = yaml.safe_load(file.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{label}: not valid YAML ({describe(exc)})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{label}: expected a mapping of settings at the top")
    return data


class Layers:
    """Settings as nested mappings, each value remembering where it was set (for errors)."""

    def __init__(self, base: Mapping[str, Any], origin: str = "defaults"):
        self.data = copy.deepcopy(dict(base))
        self.origins: dict[str, str] = {}
        self.default_origin = origin

    def merge(self, update: Mapping, origin: str, prefix: str = "", node: dict | None = None) -> None:
        """A mapping of settings over the current ones; an unknown key is an error."""
        node = self.data if node is None else node
        for key, value in update.items():
            dotted = f"{prefix}{key}"
            if key not in node:
                raise UsageError(f"{origin}: unknown setting {dotted!r}")
            if isinstance(node[key], dict) and node[key] and isinstance(value, Mapping):
                self.merge(value, origin, f"{dotted}.", node[key])
            else:
                node[key] = value
                self.origins[dotted] = origin

    def set(self, key: str, value: Any, origin: str, shown: str | None = None) -> None:
        """One dotted key, e.g. ``fetch.max_blob_bytes``; ``shown``: how a later type error names
        where the value came from (default ``origin``)."""
        parts = key.split(".")
        node = self.data
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                raise UsageError(f"{origin}: unknown setting {'.'.join(parts[: i + 1])!r}")
            if i == len(parts) - 1:
                node[part] = value
            else:
                node = node[part]
        self.origins[key] = shown or origin

    def set_all(self, items: Iterable[str], origin: str = "--set") -> None:
        """``KEY=VALUE`` items; the value is YAML (``3``, ``true``, ``[a, b]``, ``null``)."""
        for item in items:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"{origin} {item!r}: expected KEY=VALUE, e.g. --set fetch.max_blob_bytes=2000000")
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError:
                value = raw
            self.set(key.strip(), value, origin, shown=f"{origin} {item.strip()}")

    def origin(self, key: str) -> str:
        for prefix in _prefixes(key):
            if prefix in self.origins:
                return self.origins[prefix]
        return self.default_origin

    def origin_within(self, key: str, section: str) -> str:
        """Where ``key`` was set, else where a sibling in ``section`` was (a check across fields)."""
        if self.origin(key) != self.default_origin:
            return self.origin(key)
        siblings = [origin for name, origin in self.origins.items() if name.startswith(section)]
        return siblings[-1] if siblings else self.origin(section.rstrip("."))


def _prefixes(key: str) -> list[str]:
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def load_settings(path: str | None = None, overrides: Iterable[str] = (), **given: Any) -> Settings:
    """Defaults, then ``path`` (YAML), then ``KEY=VALUE`` overrides, then ``given`` (dotted key →
    value from a command-line option; ``None`` means the option was not given)."""
    layers = Layers(defaults())
    if path:
        layers.merge(read_yaml(path), origin=path)
    layers.set_all(overrides)
    for key, value in given.items():
        if value is not None:
            layers.set(key, value, origin="command line")
    return build(Settings, layers)


def build(cls: type[T], layers: Layers) -> T:
    """``cls`` (a dataclass) from the merged settings, every value checked against its type."""
    return _build(cls, layers.data, "", layers)


def _build(cls, data: Any, prefix: str, layers: Layers):
    if not isinstance(data, Mapping):
        raise UsageError(f"{layers.origin(prefix.rstrip('.'))}: {prefix.rstrip('.')} must be a mapping of settings")
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        key = f"{prefix}{field.name}"
        if field.name not in data:
            raise UsageError(f"{layers.origin(key)}: the setting {key} is missing")
        values[field.name] = _coerce(hints[field.name], data[field.name], key, layers)
    try:
        return cls(**values)
    except SettingError as exc:
        key = f"{prefix}{exc.field}"
        raise UsageError(f"{layers.origin_within(key, prefix)}: {key} {exc}") from None


_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    dt.datetime: "a timestamp",
    dt.date: "a date",
}


class _Mismatch(Exception):
    """A value that is not of its setting's type (reported with the whole type's description)."""


def _describe(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if t is type(None) else _describe(t) for t in typing.get_args(tp))
    if origin is Literal:
        return " or ".join(repr(v) for v in typing.get_args(tp))
    if origin is tuple:
        return f"a list, each {_describe(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a mapping"
    return _NAMES.get(tp, str(tp))


def _coerce(tp, value: Any, key: str, layers: Layers):
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, f"{key}.", layers)
    try:
        return _convert(tp, value)
    except _Mismatch:
        if typing.get_origin(tp) is Literal:
            choices = ", ".join(map(str, typing.get_args(tp)))
            raise UsageError(f"{layers.origin(key)}: {key} {value!r} is not one of {choices}") from None
        raise UsageError(f"{layers.origin(key)}: {key}: expected {_describe(tp)}, got {value!r}") from None


def _convert(tp, value: Any):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(option, value)
            except _Mismatch:
                pass
        raise _Mismatch
    if origin is Literal:
        if any(value == v and type(value) is type(v) for v in typing.get_args(tp)):
            return value
        raise _Mismatch
    if origin is tuple:
        if value is None:
            return ()
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        return tuple(_convert(typing.get_args(tp)[0], v) for v in value)
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise _Mismatch
        text = typing.get_args(tp)[1] is str
        return {str(k): _scalar_text(v) if text else v for k, v in value.items()}
    if tp is Any:
        return value
    if tp in (dt.datetime, dt.date):
        # A YAML timestamp or date, or an ISO-8601 string.
        if isinstance(value, (dt.datetime, dt.date)):
            return value
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value)
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if tp is bool and isinstance(value, bool):
        return value
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, str):
        return value
    raise _Mismatch


def _scalar_text(value: Any) -> str:
    """A Spark setting's value: any scalar, as text (``true``, ``4g``, ``8``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    raise _Mismatch
