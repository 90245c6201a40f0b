"""Resolving GH Archive pushes against their repositories, many repositories in flight per task.

For a repository and its pushes: bring its commits and trees (no blobs) into the cache once, list
the commits of every push (enumerating ``before..head`` when the event does not list them all),
describe each commit the way BigQuery's ``commits`` table does (parents, message, changes against
the first parent) and, when nothing is known of its license, detect it from the license file at
the pushed head (that one blob is transferred). Everything that goes wrong becomes a status on a row.
"""

from __future__ import annotations

import datetime as dt
import time
import traceback
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pygit2

from commitpack.schemas.executors import PUSH_RESOLUTIONS
from commitpack.schemas.settings import GitSettings
from commitpack.udfs.cache import Cache, UnsafeName
from commitpack.udfs.gitcli import Git
from commitpack.udfs.gitrepo import (
    branch_heads,
    change_list,
    decode_message,
    has,
    license_at,
    license_file,
    push_commits,
)
from commitpack.udfs.transfer import Remote, completed, transfer_row

# A commit's changes beyond these are only counted: one is enough to tell a single-file change.
CHANGES_KEPT = 2


def describe_commit(repo: pygit2.Repository, sha: str) -> dict:
    if not has(repo, sha):
        return {"kind": "commit", "commit": sha, "status": "missing"}
    commit = repo[sha]
    changes, total = change_list(repo, commit, limit=CHANGES_KEPT)
    return {
        "kind": "commit",
        "commit": sha,
        "status": "ok",
        "parents": [str(p) for p in commit.parent_ids],
        "message": decode_message(commit),
        "committed_at": dt.datetime.fromtimestamp(commit.commit_time, dt.timezone.utc),
        "changes": changes,
        "change_count": total,
    }


def resolve_repository(remote: Remote, pushes: list[dict], needs_license: bool, max_commits: int) -> Iterator[dict]:
    """Rows of kind ``push`` (one per push), ``commit`` (one per commit) and ``license``."""
    name = remote.name
    pushes = sorted(pushes, key=lambda p: (p["created_at"], p["event_id"]))
    needed = [p["head"] for p in pushes] + [s for p in pushes for s in (p["listed"] or [])]
    if not all(remote.has(sha) for sha in needed if sha):
        remote.history()
    transfer = remote.transfer
    if not transfer.ok:
        for push in pushes:
            yield {"kind": "push", "event_id": push["event_id"], "status": transfer.status, "detail": transfer.detail}
        if needs_license:
            yield {"kind": "license", "status": "unavailable", "detail": transfer.detail}
        return
    repo = remote.repo
    described: set[str] = set()
    for push in pushes:
        if time.monotonic() > remote.deadline:
            yield {
                "kind": "push",
                "event_id": push["event_id"],
                "status": "budget_exceeded",
                "detail": "repository time budget spent before this push",
            }
            continue
        found = push_commits(repo, push["ref"], push["before"], push["head"], push["listed"], push["size"], max_commits)
        yield {
            "kind": "push",
            "event_id": push["event_id"],
            "status": found.status,
            "detail": found.detail,
            "commits": found.shas,
        }
        for sha in found.shas:
            if sha not in described:
                described.add(sha)
                yield describe_commit(repo, sha)
    if needs_license:
        yield detect_license(remote, [p["head"] for p in reversed(pushes)], name)


def detect_license(remote: Remote, heads: list[str], name: str) -> dict:
    """The license at the latest pushed head the repository holds (its one blob transferred)."""
    heads = [h for h in heads if remote.has(h)] + list(branch_heads(remote.repo).values())
    if not heads:
        return {"kind": "license", "status": "unavailable", "detail": "no branch to read"}
    found = license_file(remote.repo, heads[0])
    if found is None:
        return {"kind": "license", "status": "no_license_file", "head": heads[0]}
    remote.blobs([found[1]])
    if not remote.has(found[1]):
        detail = remote.transfer.detail or remote.transfer.missing.get(found[1], "")
        return {"kind": "license", "status": "unavailable", "detail": f"license file {found[0]}: {detail}"[:1000]}
    key, file = license_at(remote.repo, heads[0])
    return {
        "kind": "license",
        "license": key,
        "license_file": file,
        "head": heads[0],
        "status": "detected" if key else "no_license_file",
    }


def _pushes(group: pd.DataFrame) -> list[dict]:
    return [
        {
            "event_id": r.event_id,
            "ref": r.ref,
            "before": r.before,
            "head": r.head,
            "size": None if pd.isna(r.size) else int(r.size),
            # Arrow hands a missing list to pandas as NaN, a present one as an ndarray.
            "listed": list(r.listed) if isinstance(r.listed, list | np.ndarray) else None,
            "created_at": r.created_at,
        }
        for r in group.itertuples(index=False)
    ]


def resolve_pushes(frames: Iterator[pd.DataFrame], settings: GitSettings, max_commits: int) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body: rows of pushes sorted by repository; many repositories in flight,
    each resolved once; returns ``PUSH_RESOLUTIONS`` rows (one ``transfer`` row per repository)."""
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return
    groups = pd.concat(frames, ignore_index=True)
    cache = Cache(settings)
    git = Git(settings, cache.home)

    def work(item):
        name, group = item
        return _resolve(cache, git, settings, name, group, max_commits)

    for rows in completed(list(groups.groupby("repo_name", sort=True)), work, settings.concurrency):
        yield pd.DataFrame(
            {field: [row.get(field) for row in rows] for field in PUSH_RESOLUTIONS.fieldNames()}, dtype=object
        )


def _resolve(
    cache: Cache, git: Git, settings: GitSettings, name: str, group: pd.DataFrame, max_commits: int
) -> list[dict]:
    pushes = _pushes(group)
    needs_license = bool(group["needs_license"].any())
    try:
        with cache.repository(name, git.url(name)) as path:
            remote = Remote(git, cache, name, path, time.monotonic() + settings.repo_time_budget_seconds)
            rows = list(resolve_repository(remote, pushes, needs_license, max_commits))
            rows.append(transfer_row(remote.transfer))
    except UnsafeName as exc:  # the ingest admits none; checked again before any path is made
        rows = [
            {"kind": "push", "event_id": p["event_id"], "status": "repo_unavailable", "detail": str(exc)}
            for p in pushes
        ]
    except Exception as exc:  # a repository that breaks libgit2 must not stop the other repositories
        detail = f"{type(exc).__name__}: {exc}; {traceback.format_exc(limit=1).strip().splitlines()[-1]}"
        rows = [{"kind": "push", "event_id": p["event_id"], "status": "error", "detail": detail[:1000]} for p in pushes]
    for row in rows:
        row["repo_name"] = name
    return rows
