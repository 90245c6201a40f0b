"""Reading a commit's file before and after, and its diff, from the blobs transferred for it.

``read_change`` is the plain function (one indexed commit → contents, diff, status);
``fetch_partition`` is the ``mapInArrow`` body. Rows arrive grouped in work units (at most
``fetch.batch_rows`` rows of one repository); for each unit, exactly the blobs its rows need travel
in one request (``udfs.transfer``), from its repository or, for what that one cannot give, from the
other repositories its rows were seen in (forks). Many units are in flight at once; their rows
are read as their transfers finish, the transferred packs are removed once read, and output
batches are flushed by size, so a task's memory and disk stay bounded whatever the repositories hold.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pygit2
from pygit2.enums import FileMode

from commitpack.schemas.arrow import arrow_schema
from commitpack.schemas.executors import FETCHED
from commitpack.schemas.gold import COMMITPACK
from commitpack.schemas.settings import FetchSettings, GitSettings
from commitpack.udfs.cache import Cache, UnsafeName
from commitpack.udfs.gitcli import Git
from commitpack.udfs.gitrepo import has
from commitpack.udfs.transfer import Remote, completed, transfer_row

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
    "transfer",
)
PASS_THROUGH = tuple(name for name in FETCHED.fieldNames() if name not in READ_FIELDS)
OUTPUT_SCHEMA = arrow_schema(FETCHED, large_text=(*COMMITPACK.long_text, "subject"))
# What the transfers and reads need of each input row.
READ_KEYS = ["commit", "repo", "repos", "unit", "old_path", "new_path", "old_blob", "new_blob", "old_mode", "new_mode"]
# Other repositories of a unit's rows (forks) asked for what its own could not give, at most this many.
MAX_ALTERNATES = 3


def wanted_blobs(row: dict) -> list[str]:
    """The blob ids a row's contents need (a submodule's id names a commit elsewhere, a symlink's
    target is not read)."""
    return [
        row[f"{side}_blob"]
        for side in ("old", "new")
        if row[f"{side}_blob"] and row[f"{side}_mode"] not in (FileMode.COMMIT, FileMode.LINK)
    ]


@dataclass
class Unit:
    """The rows of one work unit (one repository's, at most ``fetch.batch_rows``), transferred together."""

    rows: list[dict]  # READ_KEYS of each row and its position in the partition (``at``)
    remotes: list[Remote] = field(default_factory=list)
    held: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    # Packs of by-id transfers: read once, then removed, so the cache keeps only what is reused.
    transient: list[tuple[Path, set[str]]] = field(default_factory=list)
    # What stopped the unit before any transfer (status, detail), e.g. a full disk.
    failure: tuple[str, str] | None = None

    @property
    def repo(self) -> str:
        return self.rows[0]["repo"]

    def candidates(self) -> list[str]:
        others = dict.fromkeys(name for row in self.rows for name in (row["repos"] or "").split(",") if name)
        others.pop(self.repo, None)
        return [self.repo, *list(others)[:MAX_ALTERNATES]]

    def holder(self, oids: list[str]) -> Remote | None:
        return next((r for r in self.remotes if all(r.has(o) for o in oids)), None)


def _packs(path: Path) -> set[str]:
    return {p.name for p in (path / "objects" / "pack").glob("*.pack")}


class Fetcher:
    """One task's transfers and reads."""

    def __init__(self, git: GitSettings, settings: FetchSettings):
        self.git_settings = git
        self.settings = settings
        self.cache = Cache(git)
        self.git = Git(git, self.cache.home)

    def transfer(self, unit: Unit) -> Unit:
        """In a worker thread: every object the unit's rows need. Never raises: what goes wrong
        becomes the unit's rows' status."""
        try:
            self._transfer(unit)
        except OSError as exc:
            unit.failure = (
                "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "error",
                f"{type(exc).__name__}: {exc}",
            )
        except Exception as exc:
            unit.failure = ("error", f"{type(exc).__name__}: {exc}"[:1000])
        return unit

    def _transfer(self, unit: Unit) -> None:
        """Rows known only by path (no blob ids) first have their blob ids looked up in the
        commits and trees of their repository."""
        deadline = time.monotonic() + self.git_settings.repo_time_budget_seconds
        by_path = [row for row in unit.rows if not (row["old_blob"] and row["new_blob"])]
        for name in unit.candidates():
            try:
                path = unit.held.enter_context(self.cache.repository(name, self.git.url(name)))
            except UnsafeName:
                continue
            remote = Remote(self.git, self.cache, name, path, deadline)
            unit.remotes.append(remote)
            if by_path and len(unit.remotes) == 1:
                remote.history()
                for row in by_path:
                    _look_up_blobs(remote, row)
            needed = sorted({oid for row in unit.rows for oid in wanted_blobs(row)})
            before = _packs(path)
            remote.blobs([oid for oid in needed if not any(r.has(oid) for r in unit.remotes)])
            if not remote.transfer.full_fetch:
                unit.transient.append((path, _packs(path) - before))
            if all(any(r.has(oid) for r in unit.remotes) for oid in needed):
                break

    def read(self, unit: Unit) -> list[dict]:
        """In the task's thread: each row's contents from whichever transfer brought them."""
        out = []
        for row in unit.rows:
            base = {"old_blob": row["old_blob"], "new_blob": row["new_blob"]}
            try:
                out.append({**base, **self._read(unit, row)})
            except Exception as exc:  # one strange object must not stop the partition
                out.append({**base, "status": "error", "detail": f"{type(exc).__name__}: {exc}"[:1000]})
        return out

    def _read(self, unit: Unit, row: dict) -> dict:
        if unit.failure is not None:
            return {"status": unit.failure[0], "detail": unit.failure[1]}
        if not unit.remotes:
            return {"status": "repo_unavailable", "detail": f"not a repository name: {row['repo']!r}"}
        if row.get("unread"):
            return {"status": row["unread"][0], "detail": row["unread"][1]}
        blobs = wanted_blobs(row)
        holder = unit.holder(blobs)
        if holder is None:
            primary = unit.remotes[0].transfer
            if not any(r.transfer.ok for r in unit.remotes):
                return {"status": primary.status, "detail": primary.detail}
            if not (row["old_blob"] and row["new_blob"]) and not primary.ok:
                return {"status": primary.status, "detail": primary.detail}
            missing = [o for o in blobs if not any(r.has(o) for r in unit.remotes)]
            if any(r.transfer.full_fetch for r in unit.remotes):
                return {"status": "blob_missing", "detail": f"no branch of the repository reaches {', '.join(missing)}"}
            said = "; ".join(sorted({r.transfer.missing.get(o, "") for r in unit.remotes for o in missing} - {""}))
            return {
                "status": "object_unavailable",
                "detail": f"the remote could not produce {', '.join(missing)}: {said}"[:1000],
            }
        return read_change(holder.repo, row, self.settings)

    def release(self, unit: Unit) -> None:
        """The unit's transferred packs removed, its repositories unlocked (and accounted)."""
        for path, names in unit.transient:
            for name in names:
                for suffix in (".pack", ".idx", ".promisor", ".rev"):
                    with contextlib.suppress(OSError):
                        (path / "objects" / "pack" / name).with_suffix(suffix).unlink()
        for remote in unit.remotes:
            remote.close()
        unit.held.close()


def _look_up_blobs(remote: Remote, row: dict) -> None:
    """A row known by path only: its blob ids from the commit's tree and its parent's."""
    if not has(remote.repo, row["commit"]):
        transfer = remote.transfer
        row["unread"] = (
            ("commit_missing", "commit not in the repository (force-pushed away?)")
            if transfer.ok
            else (transfer.status, transfer.detail)
        )
        return
    commit = remote.repo[row["commit"]]
    sides = (("old", commit.parents[0] if commit.parents else None), ("new", commit))
    for side, at in sides:
        if row[f"{side}_blob"] or at is None:
            continue
        try:
            row[f"{side}_blob"] = str(at.tree[row[f"{side}_path"]].id)
        except KeyError:
            pass  # read_change reports the side as blob_missing


def _stats(unit: Unit) -> dict:
    """The unit's transfers added up, for its first output row."""
    rows = [transfer_row(r.transfer)["transfer"] for r in unit.remotes]
    return {key: sum(r[key] for r in rows) for key in ("requests", "received_bytes", "full_fetches", "filter_refused")}


def _batches(inputs: pa.Table, unit: Unit, results: list[dict]) -> Iterator[pa.RecordBatch]:
    """The unit's output: its rows' pass-through columns taken from ``inputs``, beside ``results``,
    in batches of at most ~64 MB of contents."""
    results[0]["transfer"] = _stats(unit)
    start, held = 0, 0
    for i, result in enumerate(results):
        held += sum(len(result.get(k) or "") for k in ("old_contents", "new_contents", "diff"))
        if held >= _FLUSH_BYTES or i == len(results) - 1:
            chosen = unit.rows[start : i + 1]
            taken = inputs.take(pa.array([row["at"] for row in chosen], pa.int64()))
            columns = [
                taken.column(f.name).combine_chunks().cast(f.type)
                if f.name in PASS_THROUGH
                else pa.array([r.get(f.name) for r in results[start : i + 1]], type=f.type)
                for f in OUTPUT_SCHEMA
            ]
            yield pa.RecordBatch.from_arrays(columns, schema=OUTPUT_SCHEMA)
            start, held = i + 1, 0


def fetch_partition(
    batches: Iterator[pa.RecordBatch], git: GitSettings, settings: FetchSettings
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: input rows grouped by ``unit``; output ``FETCHED`` batches."""
    batches = [batch for batch in batches if batch.num_rows]
    if not batches:
        return
    inputs = pa.Table.from_batches(batches)
    units: dict[str, Unit] = {}
    for at, row in enumerate(inputs.select(READ_KEYS).to_pylist()):
        row["at"] = at
        units.setdefault(row["unit"], Unit([])).rows.append(row)
    fetcher = Fetcher(git, settings)
    for unit in completed(units.values(), fetcher.transfer, git.concurrency):
        try:
            yield from _batches(inputs, unit, fetcher.read(unit))
        finally:
            fetcher.release(unit)
