"""Reading a commit's file before and after, and its diff, from repository mirrors.

``read_change`` is the plain function (one indexed commit → contents, diff, status);
``fetch_partition`` is the ``mapInArrow`` body: rows arrive sorted by fork network, each network
is read from one mirror (fetched at most once per repository per run), and output batches are
flushed by size, so a task's memory stays bounded whatever the repositories hold.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pygit2
from pygit2.enums import FileMode

from commitpack.schemas.arrow import arrow_schema
from commitpack.schemas.executors import FETCHED
from commitpack.schemas.gold import COMMITPACK
from commitpack.schemas.settings import FetchSettings, GitSettings
from commitpack.udfs.gitrepo import FetchOutcome, Mirror

BINARY_PROBE = 8000  # git's own heuristic: a NUL byte in the first 8000 bytes means binary
_FLUSH_BYTES = 64 << 20


@dataclass
class Side:
    status: str  # ok | binary | too_large | symlink | submodule | blob_missing
    blob: str | None = None
    size: int | None = None
    data: bytes | None = None
    text: str | None = None
    encoding: str | None = None


def decode(data: bytes, declared: str) -> tuple[str, str]:
    """Text and the encoding that produced it: the declared one when it decodes strictly, else
    latin-1, which maps every byte to one character, so ``text.encode(encoding) == data``."""
    try:
        return data.decode(declared), declared
    except (UnicodeDecodeError, LookupError):
        return data.decode("latin-1"), "latin-1"


def read_side(
    repo: pygit2.Repository,
    blob: str | None,
    mode: int | None,
    path: str,
    commit: pygit2.Commit | None,
    settings: FetchSettings,
) -> Side:
    """One side of the change: by blob id when known, else by path in the commit's tree. The size
    cap is checked from the object header, before the blob is loaded."""
    if mode == FileMode.COMMIT:
        return Side("submodule", blob)
    if mode == FileMode.LINK:
        return Side("symlink", blob)
    try:
        oid = pygit2.Oid(hex=blob) if blob else commit.tree[path].id
        kind, size = repo.odb.read_header(oid)
    except (KeyError, ValueError, AttributeError, pygit2.GitError):
        return Side("blob_missing", blob)
    if size > settings.max_blob_bytes:
        return Side("too_large", str(oid), size)
    data = repo.odb.read(oid)[1]
    if b"\0" in data[:BINARY_PROBE]:
        return Side("binary", str(oid), size)
    text, encoding = decode(data, settings.encoding)
    return Side("ok", str(oid), size, data, text, encoding)


def read_change(repo: pygit2.Repository, row: dict, settings: FetchSettings) -> dict:
    """Contents, diff and status of one indexed commit in ``repo`` (which holds it)."""
    commit = repo.get(row["commit"]) if not (row["old_blob"] and row["new_blob"]) else None
    parent = commit.parents[0] if commit is not None and commit.parents else None
    old = read_side(repo, row["old_blob"], row["old_mode"], row["old_path"], parent, settings)
    new = read_side(repo, row["new_blob"], row["new_mode"], row["new_path"], commit, settings)
    # The first problem in this order names the row: one unreadable side spoils the pair.
    for status in ("blob_missing", "submodule", "symlink", "too_large", "binary"):
        if status in (old.status, new.status):
            break
    else:
        status = "ok"
    out = {"status": status, "old_blob": old.blob, "new_blob": new.blob, "old_size": old.size, "new_size": new.size}
    if status == "too_large":
        out["detail"] = f"over {settings.max_blob_bytes} bytes (old {old.size}, new {new.size})"
    if status != "ok":
        return out
    patch = pygit2.Patch.create_from(
        old.data,
        new.data,
        old_as_path=row["old_path"],
        new_as_path=row["new_path"],
        context_lines=settings.diff_context_lines,
    )
    _, added, removed = patch.line_stats
    diff_encoding = "latin-1" if "latin-1" in (old.encoding, new.encoding) else settings.encoding
    out.update(
        old_contents=old.text,
        new_contents=new.text,
        old_encoding=old.encoding,
        new_encoding=new.encoding,
        diff=decode(patch.data, diff_encoding)[0],
        lines_added=added,
        lines_removed=removed,
        hunks=len(patch.hunks),
    )
    return out


class NetworkReader:
    """Every repository of one fork network read through one mirror: each fork's branches are
    fetched into it once (only objects it lacks travel), and a mirror an earlier stage left for
    a member is read where it already holds the commit."""

    def __init__(self, settings: GitSettings, network: str):
        self.settings = settings
        self.network = network
        self.primary = Mirror(settings, network)
        self.fetched: dict[str, FetchOutcome] = {}
        self.started: dict[str, float] = {}

    def _own_mirror(self, repo: str) -> Mirror | None:
        path = Path(self.settings.cache_root) / f"{repo}.git"
        return Mirror(self.settings, repo) if repo != self.network and (path / "HEAD").exists() else None

    def out_of_time(self, repo: str) -> bool:
        started = self.started.setdefault(repo, time.monotonic())
        return time.monotonic() - started > self.settings.repo_time_budget_seconds

    def mirror_for(self, repo: str, commit: str, blobs: list[str]) -> tuple[Mirror | None, FetchOutcome]:
        needed = [commit, *[b for b in blobs if b]]
        if all(self.primary.has(s) for s in needed):
            return self.primary, FetchOutcome("cached")
        own = self._own_mirror(repo)
        if own is not None and all(own.has(s) for s in needed):
            return own, FetchOutcome("cached")
        if repo not in self.fetched:
            self.primary.deadline = (
                self.started.setdefault(repo, time.monotonic()) + self.settings.repo_time_budget_seconds
            )
            self.fetched[repo] = self.primary.fetch(None if repo == self.network else repo)
        outcome = self.fetched[repo]
        return (self.primary if outcome.usable else None), outcome


# What the reads produce; the job's other columns pass through from the input batch to the
# output column by column (never through Python objects).
READ_FIELDS = (
    "status",
    "detail",
    "old_contents",
    "new_contents",
    "old_encoding",
    "new_encoding",
    "old_blob",
    "new_blob",
    "old_size",
    "new_size",
    "diff",
    "lines_added",
    "lines_removed",
    "hunks",
)
PASS_THROUGH = tuple(name for name in FETCHED.fieldNames() if name not in READ_FIELDS)
OUTPUT_SCHEMA = arrow_schema(FETCHED, large_text=(*COMMITPACK.long_text, "subject"))
# What the reads need of each input row.
READ_KEYS = ["commit", "repo", "network", "old_path", "new_path", "old_blob", "new_blob", "old_mode", "new_mode"]


def fetch_row(reader: NetworkReader, row: dict, settings: FetchSettings) -> dict:
    """The read's columns for one input row (the pass-through columns are not touched here)."""
    repo = row["repo"]
    base = {"old_blob": row["old_blob"], "new_blob": row["new_blob"]}
    if reader.out_of_time(repo):
        return {**base, "status": "budget_exceeded", "detail": "repository time budget spent"}
    mirror, outcome = reader.mirror_for(repo, row["commit"], [row["old_blob"], row["new_blob"]])
    if mirror is None:
        return {**base, "status": outcome.status, "detail": outcome.detail}
    if not mirror.has(row["commit"]):
        return {**base, "status": "commit_missing", "detail": "commit not in the repository (force-pushed away?)"}
    try:
        return {**base, **read_change(mirror.repo, row, settings)}
    except Exception as exc:  # one strange object must not stop the partition
        return {**base, "status": "error", "detail": f"{type(exc).__name__}: {exc}"[:1000]}


def _batch(inputs: pa.RecordBatch, results: list[dict]) -> pa.RecordBatch:
    """``inputs``' pass-through columns beside the reads' ``results`` (one per input row)."""
    columns = [
        inputs.column(f.name).cast(f.type)
        if f.name in PASS_THROUGH
        else pa.array([r.get(f.name) for r in results], type=f.type)
        for f in OUTPUT_SCHEMA
    ]
    return pa.RecordBatch.from_arrays(columns, schema=OUTPUT_SCHEMA)


def fetch_partition(
    batches: Iterator[pa.RecordBatch], git: GitSettings, settings: FetchSettings
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: input rows sorted by ``network``; output ``FETCHED`` batches of at most
    ~64 MB of contents."""
    reader: NetworkReader | None = None
    for batch in batches:
        start, results, held = 0, [], 0
        for row in batch.select(READ_KEYS).to_pylist():
            if reader is None or reader.network != row["network"]:
                reader = NetworkReader(git, row["network"])
            result = fetch_row(reader, row, settings)
            results.append(result)
            held += (
                len(result.get("old_contents") or "")
                + len(result.get("new_contents") or "")
                + len(result.get("diff") or "")
            )
            if held >= _FLUSH_BYTES:
                yield _batch(batch.slice(start, len(results)), results)
                start, results, held = start + len(results), [], 0
        if results:
            yield _batch(batch.slice(start), results)
