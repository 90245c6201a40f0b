"""GH Archive hour files as the archive writes them: one compact JSON event per line, gzip,
named ``YYYY-MM-DD-H.json.gz``; the events in the 2015+ and 2025-10-07+ PushEvent shapes."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from commitpack.jobs.sample.repos import RepoBuilder


def compact(event: dict) -> str:
    """An event as one line of GH Archive's compact JSON."""
    return json.dumps(event, separators=(",", ":"))


def event(event_id: int, created_at: str, repo: str, payload: dict, repo_id: int) -> dict:
    login = repo.split("/")[0]
    return {
        "id": str(event_id),
        "type": "PushEvent",
        "actor": {
            "id": 1000 + event_id % 97,
            "login": login,
            "display_login": login,
            "gravatar_id": "",
            "url": f"https://api.github.com/users/{login}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{event_id}?",
        },
        "repo": {"id": repo_id, "name": repo, "url": f"https://api.github.com/repos/{repo}"},
        "payload": payload,
        "public": True,
        "created_at": created_at,
    }


def noise(event_id: int, created_at: str, kind: str) -> dict:
    payloads = {
        "WatchEvent": {"action": "started"},
        "IssuesEvent": {"action": "opened", "issue": {"id": event_id, "number": 7, "title": "Bug", "body": "x" * 300}},
        "CreateEvent": {"ref": "v1", "ref_type": "tag", "master_branch": "main", "pusher_type": "user"},
    }
    return {
        "id": str(event_id),
        "type": kind,
        "actor": {"id": 5, "login": "someone"},
        "repo": {"id": 77, "name": "someone/else", "url": "https://api.github.com/repos/someone/else"},
        "payload": payloads[kind],
        "public": True,
        "created_at": created_at,
    }


def listed_commits(builder: RepoBuilder, shas: list[str]) -> list[dict]:
    out = []
    for sha in shas:
        commit = builder.repo[sha]
        digest = hashlib.sha1(commit.author.email.encode()).hexdigest()[:12]
        out.append(
            {
                "sha": sha,
                "author": {"email": f"{digest}@example.com", "name": commit.author.name},
                "message": commit.message,
                "distinct": True,
                "url": f"https://api.github.com/repos/{builder.name}/commits/{sha}",
            }
        )
    return out


def push(
    builder: RepoBuilder,
    event_id: int,
    created_at: str,
    before: str,
    head: str,
    shas: list[str],
    ref: str = "refs/heads/main",
    listed: int | None = None,
    with_commits: bool = True,
) -> dict:
    repo_id = int(hashlib.sha1(builder.name.encode()).hexdigest()[:6], 16)
    payload = {"repository_id": repo_id, "push_id": 9_000_000 + event_id, "ref": ref, "head": head, "before": before}
    if with_commits:
        shown = shas[-20:] if listed is None else shas[-listed:]
        payload.update({"size": len(shas), "distinct_size": len(shas), "commits": listed_commits(builder, shown)})
    return event(event_id, created_at, builder.name, payload, repo_id)


def write_hour(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same bytes on every run.
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
