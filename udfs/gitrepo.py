"""Reading repositories with pygit2 on the executors: one bare mirror per repository, fetched
once and reused by every stage and every run.

Plain Python: no Spark here, so all of it tests against real repositories without a session.
Failures are values (a status and a detail), never exceptions out of this module, because one
bad repository must not kill a long job.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import DeltaStatus, SortMode

from commitpack.schemas.settings import GitSettings
from commitpack.udfs import licenses

ZERO_SHA = "0" * 40
FETCH_REFSPEC = "+refs/heads/*:refs/heads/*"
# libgit2's messages for a repository that does not exist or refuses us: retrying cannot help.
_PERMANENT = re.compile(
    r"not found|does not exist|does not appear to be a git repository|not exported|access denied|"
    r"401|403|404|authentication|unauthorized|could not find repository|no such file",
    re.I,
)


class BudgetExceeded(Exception):
    """The repository's time budget ran out (raised from a transfer callback to stop a fetch)."""


@dataclass(frozen=True)
class FetchOutcome:
    status: str  # ok | cached | repo_unavailable | fetch_failed | budget_exceeded
    detail: str = ""
    attempts: int = 0

    @property
    def usable(self) -> bool:
        return self.status in ("ok", "cached")


class Mirror:
    """A bare mirror of one repository in the cache, with a deadline for everything done to it."""

    def __init__(self, settings: GitSettings, repo_name: str, path: str | None = None):
        self.settings = settings
        self.name = repo_name
        self.path = Path(path or Path(settings.cache_root) / f"{repo_name}.git")
        self.deadline = time.monotonic() + settings.repo_time_budget_seconds
        self._repo: pygit2.Repository | None = None

    @property
    def repo(self) -> pygit2.Repository:
        if self._repo is None:
            if (self.path / "HEAD").exists():
                self._repo = pygit2.Repository(str(self.path))
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._repo = pygit2.init_repository(str(self.path), bare=True)
        return self._repo

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def has(self, sha: str | None) -> bool:
        if not sha or sha == ZERO_SHA:
            return False
        try:
            return pygit2.Oid(hex=sha) in self.repo.odb
        except ValueError:
            return False

    def ensure(self, needed: Iterable[str] = (), remote: str | None = None, always: bool = False) -> FetchOutcome:
        """Fetch unless every ``needed`` object is already cached (``always`` fetches anyway, to
        see branches that moved). ``remote`` names another repository of the same fork network
        whose branches are fetched into this mirror under ``refs/forks/<remote>/``."""
        needed = [s for s in needed if s and s != ZERO_SHA]
        if not always and needed and all(self.has(s) for s in needed):
            return FetchOutcome("cached")
        return self.fetch(remote)

    def fetch(self, remote: str | None = None) -> FetchOutcome:
        source = remote or self.name
        url = self.settings.remote_url(source)
        refspec = FETCH_REFSPEC if remote is None else f"+refs/heads/*:refs/forks/{remote}/*"
        token = os.environ.get(self.settings.token_env) or ""
        callbacks = _Callbacks(token, self.deadline)
        detail = ""
        for attempt in range(1, self.settings.retries + 1):
            if self.out_of_time():
                return FetchOutcome("budget_exceeded", "time budget spent before the fetch finished", attempt - 1)
            try:
                self.repo.remotes.create_anonymous(url).fetch([refspec], callbacks=callbacks)
                return FetchOutcome("ok", "", attempt)
            except BudgetExceeded:
                return FetchOutcome("budget_exceeded", "time budget spent during the fetch", attempt)
            except (pygit2.GitError, OSError, ValueError) as exc:
                detail = _redact(str(exc), token)
                if _PERMANENT.search(detail):
                    return FetchOutcome("repo_unavailable", f"{source}: {detail}", attempt)
            if attempt < self.settings.retries:
                time.sleep(
                    min(self.settings.backoff_seconds * 2 ** (attempt - 1), max(0.0, self.deadline - time.monotonic()))
                )
        return FetchOutcome(
            "fetch_failed", f"{source}: {detail} (after {self.settings.retries} attempts)", self.settings.retries
        )

    def branch_heads(self) -> dict[str, str]:
        heads = {}
        for ref in self.repo.references:
            if ref.startswith("refs/heads/"):
                target = self.repo.references[ref].target
                if isinstance(target, pygit2.Oid):
                    heads[ref] = str(target)
        return heads


class _Callbacks(pygit2.RemoteCallbacks):
    def __init__(self, token: str, deadline: float):
        super().__init__()
        self._token = token
        self._deadline = deadline

    def credentials(self, url, username_from_url, allowed_types):
        if self._token:
            return pygit2.UserPass("x-access-token", self._token)
        return None

    def transfer_progress(self, stats):
        if time.monotonic() > self._deadline:
            raise BudgetExceeded()


def _redact(text: str, token: str) -> str:
    text = re.sub(r"(://)[^/@\s]+@", r"\1***@", text)  # credentials embedded in a URL
    return text.replace(token, "***") if token else text


def change_list(repo: pygit2.Repository, commit: pygit2.Commit, limit: int | None = None) -> tuple[list[dict], int]:
    """The commit's changes against its first parent (a root commit: against the empty tree),
    with renames detected as BigQuery's ``difference`` shows them, as ``silver.CHANGE`` records.
    Returns at most ``limit`` changes and the total number."""
    if commit.parents:
        diff = repo.diff(commit.parents[0].tree, commit.tree)
    else:
        diff = commit.tree.diff_to_tree(swap=True)
    diff.find_similar()
    changes = []
    total = 0
    for delta in diff.deltas:
        total += 1
        if limit is not None and len(changes) >= limit:
            continue
        added, deleted = delta.status == DeltaStatus.ADDED, delta.status == DeltaStatus.DELETED
        changes.append(
            {
                "old_path": None if added else delta.old_file.path,
                "new_path": None if deleted else delta.new_file.path,
                "old_blob": None if added else str(delta.old_file.id),
                "new_blob": None if deleted else str(delta.new_file.id),
                "old_mode": None if added else int(delta.old_file.mode),
                "new_mode": None if deleted else int(delta.new_file.mode),
            }
        )
    return changes, total


def decode_message(commit: pygit2.Commit) -> str:
    """The message as text: the commit's declared encoding, else UTF-8, else Latin-1."""
    raw = commit.raw_message
    for encoding in filter(None, (commit.message_encoding, "utf-8")):
        try:
            return raw.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return raw.decode("latin-1")


@dataclass
class PushCommits:
    status: str  # ok | head_missing | walk_truncated
    shas: list[str]
    detail: str = ""


def push_commits(
    mirror: Mirror,
    ref: str | None,
    before: str | None,
    head: str | None,
    listed: list[str] | None,
    size: int | None,
    max_commits: int,
) -> PushCommits:
    """Every commit a push brought. The event's own list when it is complete (the Events API
    lists at most 20, and nothing since 2025-10-07); otherwise ``before..head`` walked in the
    mirror, or for a new branch (``before`` all zeros) the commits that no other branch reaches."""
    listed = [s for s in (listed or []) if s]
    if listed and (size is None or len(listed) >= size):
        return PushCommits("ok", listed)
    if not mirror.has(head):
        return PushCommits(
            "head_missing", listed, f"head {head} is not in the repository (force-pushed away or deleted)"
        )
    walker = mirror.repo.walk(pygit2.Oid(hex=head), SortMode.TOPOLOGICAL)
    if mirror.has(before):
        walker.hide(pygit2.Oid(hex=before))
    else:
        # A new branch, or a force push whose old head is gone: what no other branch reaches.
        for name, target in mirror.branch_heads().items():
            if name != ref and target != head:
                walker.hide(pygit2.Oid(hex=target))
    shas = []
    for commit in walker:
        if len(shas) >= max_commits:
            return PushCommits("walk_truncated", shas, f"stopped after {max_commits} commits")
        shas.append(str(commit.id))
    return PushCommits("ok", shas)


def license_at(repo: pygit2.Repository, commit_sha: str) -> tuple[str | None, str | None]:
    """(license key, file name) detected from the root tree at a commit; (None, None) without
    a license file."""
    tree = repo[commit_sha].tree
    files = {entry.name: entry for entry in tree if entry.type_str == "blob"}
    chosen = licenses.pick_license_file(list(files))
    if chosen is None:
        return None, None
    data = repo[files[chosen].id].data[:200_000]
    return licenses.detect({chosen: data})
