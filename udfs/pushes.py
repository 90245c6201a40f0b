"""Resolving GH Archive pushes against their repository, one repository per call.

For a repository and its pushes: fetch its mirror once, list the commits of every push
(enumerating ``before..head`` when the event does not list them all), describe each commit
the way BigQuery's ``commits`` table does (parents, message, changes against the first parent)
and, when BigQuery has no license record for it, detect the license at the pushed head.
Everything that goes wrong becomes a status on a row.
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Iterator

import numpy as np
import pandas as pd

from commitpack.schemas.executors import PUSH_RESOLUTIONS
from commitpack.schemas.settings import GitSettings
from commitpack.udfs.gitrepo import Mirror, change_list, decode_message, license_at, push_commits

# A commit's changes beyond these are only counted: one is enough to tell a single-file change.
CHANGES_KEPT = 2


def describe_commit(mirror: Mirror, sha: str) -> dict:
    if not mirror.has(sha):
        return {"kind": "commit", "commit": sha, "status": "missing"}
    commit = mirror.repo[sha]
    changes, total = change_list(mirror.repo, commit, limit=CHANGES_KEPT)
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


def resolve_repository(
    settings: GitSettings, repo_name: str, pushes: list[dict], needs_license: bool, max_commits: int
) -> Iterator[dict]:
    """Rows of kind ``push`` (one per push), ``commit`` (one per commit) and ``license``."""
    mirror = Mirror(settings, repo_name)
    pushes = sorted(pushes, key=lambda p: (p["created_at"], p["event_id"]))
    needed = [p["head"] for p in pushes] + [s for p in pushes for s in (p["listed"] or [])]
    outcome = mirror.ensure(needed)
    if not outcome.usable:
        for push in pushes:
            yield {
                "kind": "push",
                "repo_name": repo_name,
                "event_id": push["event_id"],
                "status": outcome.status,
                "detail": outcome.detail,
            }
        if needs_license:
            yield {"kind": "license", "repo_name": repo_name, "status": "unavailable", "detail": outcome.detail}
        return
    described: set[str] = set()
    for push in pushes:
        if mirror.out_of_time():
            yield {
                "kind": "push",
                "repo_name": repo_name,
                "event_id": push["event_id"],
                "status": "budget_exceeded",
                "detail": "repository time budget spent before this push",
            }
            continue
        found = push_commits(
            mirror, push["ref"], push["before"], push["head"], push["listed"], push["size"], max_commits
        )
        yield {
            "kind": "push",
            "repo_name": repo_name,
            "event_id": push["event_id"],
            "status": found.status,
            "detail": found.detail,
            "commits": found.shas,
        }
        for sha in found.shas:
            if sha not in described:
                described.add(sha)
                yield describe_commit(mirror, sha)
    if needs_license:
        heads = [p["head"] for p in reversed(pushes) if mirror.has(p["head"])] + list(mirror.branch_heads().values())
        if heads:
            license_key, license_file = license_at(mirror.repo, heads[0])
            yield {
                "kind": "license",
                "repo_name": repo_name,
                "license": license_key,
                "license_file": license_file,
                "head": heads[0],
                "status": "detected" if license_key else "no_license_file",
            }
        else:
            yield {"kind": "license", "repo_name": repo_name, "status": "unavailable", "detail": "no branch to read"}


def resolve_pushes(settings: GitSettings, max_commits: int, group: pd.DataFrame) -> pd.DataFrame:
    """``applyInPandas`` body: ``group`` holds one repository's pushes; returns ``PUSH_RESOLUTIONS`` rows."""
    repo_name = group["repo_name"].iloc[0]
    pushes = [
        {
            "event_id": r.event_id,
            "ref": r.ref,
            "before": r.before,
            "head": r.head,
            "size": None if pd.isna(r.size) else int(r.size),
            # Arrow hands a missing list to pandas as NaN, a present one as an ndarray.
            "listed": list(r.listed) if isinstance(r.listed, (list, np.ndarray)) else None,
            "created_at": r.created_at,
        }
        for r in group.itertuples(index=False)
    ]
    try:
        rows = list(resolve_repository(settings, repo_name, pushes, bool(group["needs_license"].any()), max_commits))
    except Exception as exc:  # a repository that breaks libgit2 must not stop the other repositories
        detail = f"{type(exc).__name__}: {exc}; {traceback.format_exc(limit=1).strip().splitlines()[-1]}"
        rows = [
            {
                "kind": "push",
                "repo_name": repo_name,
                "event_id": p["event_id"],
                "status": "error",
                "detail": detail[:1000],
            }
            for p in pushes
        ]
    for row in rows:
        row.setdefault("repo_name", repo_name)
    # Object columns keep a missing value as None (not NaN), which Arrow turns into a null.
    return pd.DataFrame({name: [row.get(name) for row in rows] for name in PUSH_RESOLUTIONS.fieldNames()}, dtype=object)
