"""Reading a repository's objects with pygit2: a commit's changes, its message, the commits a
push brought, the license file at a commit.

Plain Python on a local object store (filled by ``udfs.transfer``), so all of it tests against
real repositories without Spark. In a partial clone some blobs are absent by design: nothing here
reads a blob except the license file, which the caller transfers first.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2
from pygit2.enums import DeltaStatus, DiffFind, SortMode

from commitpack.udfs import licenses

ZERO_SHA = "0" * 40


def has(repo: pygit2.Repository, sha: str | None) -> bool:
    if not sha or sha == ZERO_SHA:
        return False
    try:
        return pygit2.Oid(hex=sha) in repo.odb
    except ValueError:
        return False


def branch_heads(repo: pygit2.Repository) -> dict[str, str]:
    heads = {}
    for ref in repo.references:
        if ref.startswith("refs/heads/"):
            target = repo.references[ref].target
            if isinstance(target, pygit2.Oid):
                heads[ref] = str(target)
    return heads


def change_list(repo: pygit2.Repository, commit: pygit2.Commit, limit: int | None = None) -> tuple[list[dict], int]:
    """The commit's changes against its first parent (a root commit: against the empty tree), as
    ``silver.CHANGE`` records; returns at most ``limit`` changes and the total number.

    Renames are found by object id (an exact rename is one change, as in BigQuery's
    ``difference``); a rename with edits shows as a deletion and an addition, because telling it
    apart would need the blobs, which a commits-and-trees store does not hold. Either way such a
    commit is not a single file modified in place."""
    if commit.parents:
        diff = repo.diff(commit.parents[0].tree, commit.tree)
    else:
        diff = commit.tree.diff_to_tree(swap=True)
    diff.find_similar(flags=DiffFind.FIND_RENAMES | DiffFind.FIND_EXACT_MATCH_ONLY)
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
    repo: pygit2.Repository,
    ref: str | None,
    before: str | None,
    head: str | None,
    listed: list[str] | None,
    size: int | None,
    max_commits: int,
) -> PushCommits:
    """Every commit a push brought. The event's own list when it is complete (the Events API
    lists at most 20, and nothing since 2025-10-07); otherwise ``before..head`` walked in the
    repository, or for a new branch (``before`` all zeros) the commits that no other branch reaches."""
    listed = [s for s in (listed or []) if s]
    if listed and (size is None or len(listed) >= size):
        return PushCommits("ok", listed)
    if not has(repo, head):
        return PushCommits(
            "head_missing", listed, f"head {head} is not in the repository (force-pushed away or deleted)"
        )
    walker = repo.walk(pygit2.Oid(hex=head), SortMode.TOPOLOGICAL)
    if has(repo, before):
        walker.hide(pygit2.Oid(hex=before))
    else:
        # A new branch, or a force push whose old head is gone: what no other branch reaches.
        for name, target in branch_heads(repo).items():
            if name != ref and target != head:
                walker.hide(pygit2.Oid(hex=target))
    shas = []
    for commit in walker:
        if len(shas) >= max_commits:
            return PushCommits("walk_truncated", shas, f"stopped after {max_commits} commits")
        shas.append(str(commit.id))
    return PushCommits("ok", shas)


def license_file(repo: pygit2.Repository, commit_sha: str) -> tuple[str, str] | None:
    """(file name, blob id) of the license file in the root tree at a commit, or None."""
    files = {entry.name: entry for entry in repo[commit_sha].tree if entry.type_str == "blob"}
    chosen = licenses.pick_license_file(list(files))
    return (chosen, str(files[chosen].id)) if chosen is not None else None


def license_at(repo: pygit2.Repository, commit_sha: str) -> tuple[str | None, str | None]:
    """(license key, file name) detected from the root tree at a commit, whose license blob the
    repository holds; (None, None) without a license file."""
    found = license_file(repo, commit_sha)
    if found is None:
        return None, None
    name, blob = found
    return licenses.detect({name: repo[blob].data[:200_000]})
