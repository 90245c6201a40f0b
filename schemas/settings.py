"""The shape of the configuration: one frozen dataclass per section of ``defaults.yaml``.

The values (and what each means) are in ``jobs/runtime/defaults.yaml``; the types and the checks
are here. The loader (``commitpack.jobs.runtime.config.load_settings``) builds these from the
defaults, a user's file and ``--set``, refusing a value of the wrong type with a one-line error
before any stage starts. The executors receive the sections they need (``GitSettings``,
``FetchSettings``, ``MinHashSettings``) pickled into their closures.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Literal

from commitpack.schemas.names import is_login, remote_transport
from commitpack.schemas.vocabulary import FILTER_REASONS, SEEDS_VIEW, VIEW_ANSWERS, VIEW_TEMPLATES


class SettingError(ValueError):
    """A value that has the right type but not an admissible value; the loader names its key."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _positive(section, *names: str) -> None:
    for name in names:
        if getattr(section, name) <= 0:
            raise SettingError(name, f"must be positive, got {getattr(section, name)}")


@dataclass(frozen=True)
class SparkSettings:
    master: str
    app_name: str
    maven_repository: str
    packages: tuple[str, ...]
    conf: dict[str, str]
    progress: Literal["auto"] | bool


@dataclass(frozen=True)
class LicenseSettings:
    allow: tuple[str, ...]
    detect: bool


@dataclass(frozen=True)
class OptOutSettings:
    owners: tuple[str, ...]

    def __post_init__(self):
        wrong = [owner for owner in self.owners if not is_login(owner)]
        if wrong:
            raise SettingError("owners", f"not GitHub logins: {', '.join(map(repr, wrong))}")


@dataclass(frozen=True)
class LanguageSettings:
    allow: Literal["all"] | tuple[str, ...]


@dataclass(frozen=True)
class GharchiveSettings:
    quarantine_excerpt_chars: int
    lines_per_batch: int

    def __post_init__(self):
        _positive(self, "quarantine_excerpt_chars", "lines_per_batch")


@dataclass(frozen=True)
class MessageSettings:
    min_length: int
    max_length: int
    junk: tuple[str, ...]
    junk_prefixes: tuple[str, ...]
    drop_update_filename: bool


@dataclass(frozen=True)
class IndexSettings:
    message: MessageSettings
    max_commits_per_push: int

    def __post_init__(self):
        _positive(self, "max_commits_per_push")


@dataclass(frozen=True)
class GitSettings:
    remote_template: str
    cache_dir: str | None
    cache_max_bytes: int
    token_env: str
    retries: int
    backoff_seconds: float
    repo_time_budget_seconds: float
    concurrency: int
    max_per_host: int
    stall_seconds: float
    request_timeout_seconds: float

    def __post_init__(self):
        if self.remote_template.count("{repo}") != 1:
            raise SettingError("remote_template", f"must contain {{repo}} once, got {self.remote_template!r}")
        try:
            remote_transport(self.remote_template)
        except ValueError as exc:
            raise SettingError("remote_template", str(exc)) from None
        _positive(
            self,
            "retries",
            "cache_max_bytes",
            "concurrency",
            "max_per_host",
            "stall_seconds",
            "request_timeout_seconds",
        )
        if self.repo_time_budget_seconds < 0 or self.backoff_seconds < 0:
            raise SettingError("repo_time_budget_seconds", "time budgets and backoff cannot be negative")

    @property
    def cache_root(self) -> str:
        """Where repositories are cached on an executor (absolute)."""
        chosen = self.cache_dir or os.path.join(tempfile.gettempdir(), "commitpack-git")
        return os.path.abspath(os.path.expanduser(chosen))

    def remote_url(self, repo_name: str) -> str:
        return self.remote_template.format(repo=repo_name)


@dataclass(frozen=True)
class FetchSettings:
    max_blob_bytes: int
    encoding: str
    diff_context_lines: int
    wave_rows: int
    batch_rows: int
    partitions: int
    commitpackft_first: bool

    def __post_init__(self):
        _positive(self, "max_blob_bytes", "wave_rows", "batch_rows")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise SettingError("encoding", f"{self.encoding!r} is not an encoding Python knows") from None


@dataclass(frozen=True)
class ConcurrencySettings:
    commit_retries: int
    wait_seconds: float
    lease_seconds: float

    def __post_init__(self):
        _positive(self, "lease_seconds")
        if self.commit_retries < 0 or self.wait_seconds < 0:
            raise SettingError("wait_seconds", "retries and waits cannot be negative")


@dataclass(frozen=True)
class QualitySettings:
    enabled: bool
    output: str | None
    examples: int


@dataclass(frozen=True)
class SubjectSettings:
    min_chars: int
    max_chars: int
    min_words: int


@dataclass(frozen=True)
class BumpSettings:
    prefixes: tuple[str, ...]
    keep_percent: float
    seed: int

    def __post_init__(self):
        if not 0 <= self.keep_percent <= 100:
            raise SettingError("keep_percent", f"must be between 0 and 100, got {self.keep_percent}")


@dataclass(frozen=True)
class TokenSettings:
    tokenizer: str | None
    min: int
    max: int


@dataclass(frozen=True)
class MessageLanguageSettings:
    allow: tuple[str, ...]
    min_foreign_score: float
    min_allowed_score: float

    def __post_init__(self):
        for name in ("min_foreign_score", "min_allowed_score"):
            if not 0 <= getattr(self, name) <= 1:
                raise SettingError(name, f"must be a probability between 0 and 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class DecontaminationSettings:
    ngram_words: int
    humaneval: bool
    benchmarks: tuple[str, ...]
    fields: tuple[str, ...]

    def __post_init__(self):
        _positive(self, "ngram_words")


@dataclass(frozen=True)
class FilterSettings:
    disable: tuple[str, ...]
    max_old_chars: int
    subject: SubjectSettings
    verbs: tuple[str, ...]
    junk_exact: tuple[str, ...]
    junk_phrases: tuple[str, ...]
    bump: BumpSettings
    tokens: TokenSettings
    message_language: MessageLanguageSettings
    decontaminate: DecontaminationSettings

    def __post_init__(self):
        unknown = sorted(set(self.disable) - set(FILTER_REASONS))
        if unknown:
            raise SettingError("disable", f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(FILTER_REASONS)}")


@dataclass(frozen=True)
class MinHashSettings:
    num_perm: int
    bands: int
    shingle_words: int
    seed: int
    threshold: float

    def __post_init__(self):
        _positive(self, "num_perm", "bands", "shingle_words")
        if self.num_perm % self.bands:
            raise SettingError("num_perm", f"({self.num_perm}) must be a multiple of bands ({self.bands})")
        if not 0 < self.threshold <= 1:
            raise SettingError("threshold", f"must be in (0, 1], got {self.threshold}")

    @property
    def rows_per_band(self) -> int:
        return self.num_perm // self.bands


@dataclass(frozen=True)
class DedupSettings:
    exact: bool
    near: bool
    minhash: MinHashSettings


@dataclass(frozen=True)
class RedactSettings:
    mode: Literal["placeholder", "drop"]
    plugins: tuple[str, ...]
    allow_email_domains: tuple[str, ...]


@dataclass(frozen=True)
class ViewSpec:
    """A training view, as its name says: ``<template>[-<answer>][-window]``, or ``seeds``."""

    name: str
    template: str
    answer: str
    window: bool

    @classmethod
    def parse(cls, name: str) -> ViewSpec:
        if name == SEEDS_VIEW:
            return cls(name, SEEDS_VIEW, "full", False)
        rest, window = (name[: -len("-window")], True) if name.endswith("-window") else (name, False)
        template, _, answer = rest.partition("-")
        if template not in VIEW_TEMPLATES or (answer or "full") not in VIEW_ANSWERS:
            raise ValueError(
                f"unknown view {name!r}: give {SEEDS_VIEW} or <template>[-<answer>][-window] with a template of "
                f"{', '.join(VIEW_TEMPLATES)} and an answer of {', '.join(VIEW_ANSWERS[1:])} (default full)"
            )
        return cls(name, template, answer or "full", window)


@dataclass(frozen=True)
class WindowSettings:
    full_fraction: float
    min_lines: int
    max_lines: int
    seed: int

    def __post_init__(self):
        if not 0 <= self.full_fraction <= 1:
            raise SettingError("full_fraction", f"must be between 0 and 1, got {self.full_fraction}")
        if not 0 <= self.min_lines <= self.max_lines:
            raise SettingError("min_lines", f"need 0 <= min_lines <= max_lines, got {self.min_lines}, {self.max_lines}")


@dataclass(frozen=True)
class SeedSettings:
    min_lines: int
    max_lines: int
    seed: int

    def __post_init__(self):
        if not 1 <= self.min_lines <= self.max_lines:
            raise SettingError("min_lines", f"need 1 <= min_lines <= max_lines, got {self.min_lines}, {self.max_lines}")


@dataclass(frozen=True)
class ViewSettings:
    names: tuple[str, ...]
    commit_file_name: bool
    diff_context_lines: int
    window: WindowSettings
    seeds: SeedSettings

    def __post_init__(self):
        for name in self.names:
            try:
                ViewSpec.parse(name)
            except ValueError as exc:
                raise SettingError("names", str(exc)) from None
        if self.diff_context_lines < 1:
            raise SettingError("diff_context_lines", f"must be at least 1, got {self.diff_context_lines}")

    @property
    def specs(self) -> list[ViewSpec]:
        return [ViewSpec.parse(name) for name in self.names]


@dataclass(frozen=True)
class ExportSettings:
    output: str | None
    formats: tuple[Literal["jsonl", "parquet"], ...]
    shard_rows: int
    max_layers: int
    views: ViewSettings

    def __post_init__(self):
        if not self.formats:
            raise SettingError("formats", "give one or more of jsonl, parquet")
        _positive(self, "shard_rows", "max_layers")


@dataclass(frozen=True)
class Settings:
    """Every setting of a run."""

    lakehouse: str
    spark: SparkSettings
    licenses: LicenseSettings
    opt_out: OptOutSettings
    languages: LanguageSettings
    gharchive: GharchiveSettings
    index: IndexSettings
    git: GitSettings
    fetch: FetchSettings
    concurrency: ConcurrencySettings
    quality: QualitySettings
    filter: FilterSettings
    dedup: DedupSettings
    redact: RedactSettings
    export: ExportSettings

    def fingerprint(self) -> str:
        """Short hash of the settings, recorded with every run for reproducibility."""
        return fingerprint(self)


def as_plain(section) -> dict:
    """A section as plain YAML/JSON data (tuples as lists), e.g. for the dataset card."""
    return json.loads(json.dumps(dataclasses.asdict(section), default=str))


def fingerprint(section) -> str:
    blob = json.dumps(dataclasses.asdict(section), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
