"""Transfers from one remote repository into its cache entry, the way git fetches for a partial
clone: blobs by id (no commits, no trees, no negotiation), or the commit and tree history
without blobs. A server that refuses fetching by id gets a full fetch instead, counted.

Each request holds one of the host's transfer slots while it runs, is retried with backoff and
jitter (honouring a 429's Retry-After), and never outlives the repository's time budget.
Failures come back as values: a missing repository, objects the remote could not produce, a
full disk, or a transient fault worth trying again on the next run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pygit2

from commitpack.schemas.names import url_host
from commitpack.udfs.cache import REMOTE, Cache
from commitpack.udfs.gitcli import Failure, Git, Outcome, classify

T = TypeVar("T")
R = TypeVar("R")
HEADS = "+refs/heads/*:refs/heads/*"
# git's own arguments for fetching missing objects of a partial clone (promisor-remote.c).
_BY_ID = [
    "-c",
    "fetch.negotiationAlgorithm=noop",
    "fetch",
    REMOTE,
    "--no-tags",
    "--no-write-fetch-head",
    "--recurse-submodules=no",
    "--filter=blob:none",
    "--no-progress",
    "--stdin",
]
_HISTORY = ["fetch", REMOTE, "--no-tags", "--filter=blob:none", "--no-progress", "--prune", HEADS]
# Everything the branches reach, into a store that may hold part of it already.
_FULL = ["fetch", REMOTE, "--no-tags", "--refetch", "--filter=blob:limit=1024g", "--no-progress", "--prune", HEADS]
_FILTER_IGNORED = "filtering not recognized by server"


@dataclass
class Transfer:
    """What one repository's transfers achieved."""

    status: str = "ok"  # ok | repo_unavailable | fetch_failed | budget_exceeded | disk_full
    detail: str = ""
    # Objects the remote could not produce, with what it said (the rest arrived).
    missing: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    received_bytes: int = 0  # pack bytes that arrived
    full_fetch: bool = False  # the server refused fetching by id: everything the branches reach came
    filter_refused: bool = False  # the server ignored blob:none: blobs came with the history

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _packs(path: Path) -> dict[str, int]:
    folder = path / "objects" / "pack"
    if not folder.exists():
        return {}
    return {p.name: p.stat().st_size for p in folder.glob("*.pack")}


class Remote:
    """Transfers of one repository, whose cache entry the caller holds (``Cache.repository``)."""

    def __init__(self, git: Git, cache: Cache, repo_name: str, path: Path, deadline: float):
        self.git = git
        self.cache = cache
        self.name = repo_name
        self.path = path
        self.deadline = deadline
        self.host = url_host(git.url(repo_name))
        self.transfer = Transfer()
        self._repo: pygit2.Repository | None = None

    @property
    def repo(self) -> pygit2.Repository:
        if self._repo is None:
            self._repo = pygit2.Repository(str(self.path))
        return self._repo

    def close(self) -> None:
        """Let go of the repository's open files: to see packs that arrived since it was opened,
        or before packs are removed."""
        self._repo = None

    def has(self, oid: str | None) -> bool:
        if not oid:
            return False
        try:
            return pygit2.Oid(hex=oid) in self.repo.odb
        except ValueError:
            return False

    # ------------------------------------------------------------------------- transfers

    def blobs(self, oids: list[str]) -> Transfer:
        """Exactly these objects, in one request (more only when the remote names objects it
        cannot produce: they are set aside and the rest asked for again)."""
        pending = sorted({o for o in oids if o and not self.has(o)})
        while pending and self.transfer.ok:
            outcome, failure = self._request(_BY_ID, stdin="\n".join(pending) + "\n")
            if failure is None:
                break
            named = [o for o in failure.objects if o in pending]
            if failure.kind in ("objects_unavailable", "server_fault") and named:
                for oid in named:
                    self.transfer.missing[oid] = failure.detail
                pending = [o for o in pending if o not in named]
                continue
            if failure.kind == "refused_by_id":
                self.full()
            break
        self.close()
        if self.transfer.ok:
            for oid in pending:
                if oid not in self.transfer.missing and not self.has(oid):
                    self.transfer.missing[oid] = "not sent by the remote"
        return self.transfer

    def history(self) -> Transfer:
        """The commits and trees the branches reach, without blobs (a full history where the
        server ignores the filter)."""
        outcome, failure = self._request(_HISTORY)
        if failure is None and _FILTER_IGNORED in outcome.stderr:
            self.transfer.filter_refused = True
        self.close()
        return self.transfer

    def full(self) -> Transfer:
        """Everything the branches reach: the fallback for a server that refuses fetching by id."""
        self.transfer.full_fetch = True
        self._request(_FULL)
        self.close()
        return self.transfer

    # ------------------------------------------------------------------------- one request, retried

    def _request(self, args: list[str], stdin: str | None = None) -> tuple[Outcome | None, Failure | None]:
        """Run one transfer until it succeeds, fails for good, or the budget or the attempts run
        out; records the outcome in ``self.transfer``."""
        settings = self.git.settings
        outcome, failure = None, None
        for attempt in range(1, settings.retries + 1):
            if time.monotonic() > self.deadline:
                return self._fail("budget_exceeded", "time budget spent before the transfer finished", outcome, failure)
            before = _packs(self.path)
            with self.cache.host_slot(self.host, self.deadline) as slot:
                if not slot:
                    return self._fail(
                        "budget_exceeded", f"no transfer slot for {self.host} within the time budget", outcome, failure
                    )
                self.cache.make_room(self.cache.reserve, keep=self.path)
                remaining = max(1.0, self.deadline - time.monotonic())
                outcome = self.git.run(
                    args,
                    str(self.path),
                    stdin=stdin,
                    timeout=min(settings.request_timeout_seconds, remaining),
                    trace_http=True,
                )
            self.transfer.requests += 1
            self.transfer.received_bytes += sum(size for name, size in _packs(self.path).items() if name not in before)
            if outcome.ok:
                return outcome, None
            failure = classify(outcome)
            if failure.kind in ("missing_repo", "objects_unavailable", "refused_by_id"):
                break
            if failure.kind == "server_fault" and failure.objects:
                break
            if failure.kind == "disk_full":
                self.cache.make_room(self.cache.max_bytes, keep=self.path)  # everything another task does not hold
            if attempt < settings.retries:
                wait = settings.backoff_seconds * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
                if failure.retry_after is not None:
                    wait = max(wait, failure.retry_after)
                if time.monotonic() + wait > self.deadline:
                    return self._fail(
                        "budget_exceeded", f"time budget spent waiting to retry ({failure.detail})", outcome, failure
                    )
                time.sleep(wait)
        if failure is not None and failure.kind not in ("objects_unavailable", "refused_by_id") and not failure.objects:
            status = {"missing_repo": "repo_unavailable", "disk_full": "disk_full"}.get(failure.kind, "fetch_failed")
            suffix = "" if failure.permanent else f" (after {self.transfer.requests} attempts)"
            return self._fail(status, f"{self.name}: {failure.detail}{suffix}", outcome, failure)
        return outcome, failure

    def _fail(self, status: str, detail: str, outcome, failure):
        self.transfer.status, self.transfer.detail = status, detail
        return outcome, failure or Failure("transient", detail)


def transfer_row(transfer: Transfer) -> dict:
    """A ``transfer`` row of a UDF's output: what one work unit cost (summed in the stage summary)."""
    return {
        "kind": "transfer",
        "transfer": {
            "requests": transfer.requests,
            "received_bytes": transfer.received_bytes,
            "full_fetches": int(transfer.full_fetch),
            "filter_refused": int(transfer.filter_refused),
        },
    }


def completed(items: Iterable[T], work: Callable[[T], R], limit: int) -> Iterator[R]:
    """``work(item)`` for every item, at most ``limit`` at once in threads (transfers wait on the
    network, not the CPU), results in the order they finish."""
    pending = iter(items)
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="commitpack-transfer") as pool:
        running = set()
        for item in pending:
            running.add(pool.submit(work, item))
            if len(running) >= limit:
                break
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                for item in pending:
                    running.add(pool.submit(work, item))
                    break
                yield future.result()
