"""GH Archive ingest throughput vs. `gzip -dc` of the same files, and index throughput.

The hours are generated with GH Archive's 2024 mix of event types and the GitHub API's object
shapes (pull requests, issues and forks embed full user and repository objects), so the share
of bytes that are PushEvents is realistic. Figures: compressed MB/s and events/s of `commitpack ingest-gharchive` on local[2], against
`gzip -dc` (one process, one core) on the same files in the same run; the ratio is per core.
"""

import gzip
import hashlib
import json
import multiprocessing
import os
import random
import subprocess
import time

import pytest

from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.sample.bigquery import LICENSES_ARROW, as_json_export, write_parquet_export
from commitpack.jobs.stages import index, ingest_bigquery, ingest_gharchive

pytestmark = pytest.mark.benchmark
WORDS = (
    "fix add update remove refactor parser handler config test docs build release bump merge "
    "request issue error value cache client server module function return type string list "
    "index query token stream buffer thread lock timeout retry async event payload schema"
).split()


def text(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def sha(rng):
    return f"{rng.getrandbits(160):040x}"


def user(rng, full=False):
    """An actor (the short form events carry) or a full user object (as inside payloads)."""
    login = f"user{rng.randrange(200000)}"
    uid = rng.randrange(10**8)
    short = {
        "id": uid,
        "login": login,
        "display_login": login,
        "gravatar_id": "",
        "url": f"https://api.github.com/users/{login}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?",
    }
    if not full:
        return short
    api = f"https://api.github.com/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": "MDQ6VXNlcj" + sha(rng)[:8],
        "avatar_url": short["avatar_url"],
        "gravatar_id": "",
        "url": api,
        "html_url": f"https://github.com/{login}",
        "followers_url": api + "/followers",
        "following_url": api + "/following{/other_user}",
        "gists_url": api + "/gists{/gist_id}",
        "starred_url": api + "/starred{/owner}{/repo}",
        "subscriptions_url": api + "/subscriptions",
        "organizations_url": api + "/orgs",
        "repos_url": api + "/repos",
        "events_url": api + "/events{/privacy}",
        "received_events_url": api + "/received_events",
        "type": "User",
        "user_view_type": "public",
        "site_admin": False,
    }


def repo(rng):
    name = f"org{rng.randrange(50000)}/proj{rng.randrange(1000)}"
    return {"id": rng.randrange(10**9), "name": name, "url": f"https://api.github.com/repos/{name}"}


def repo_object(rng):
    """A full repository object, as pull requests, forks and releases embed it (~5 KB)."""
    short = repo(rng)
    name, api = short["name"], short["url"]
    urls = {
        f"{k}_url": f"{api}/{k}{{/{k}}}"
        for k in (
            "forks",
            "keys",
            "collaborators",
            "teams",
            "hooks",
            "issue_events",
            "events",
            "assignees",
            "branches",
            "tags",
            "blobs",
            "git_tags",
            "git_refs",
            "trees",
            "statuses",
            "languages",
            "stargazers",
            "contributors",
            "subscribers",
            "subscription",
            "commits",
            "git_commits",
            "comments",
            "issue_comment",
            "contents",
            "compare",
            "merges",
            "archive",
            "downloads",
            "issues",
            "pulls",
            "milestones",
            "notifications",
            "labels",
            "releases",
            "deployments",
        )
    }
    return {
        "id": short["id"],
        "node_id": "R_kgDO" + sha(rng)[:10],
        "name": name.split("/")[1],
        "full_name": name,
        "private": False,
        "owner": user(rng, full=True),
        "html_url": f"https://github.com/{name}",
        "description": text(rng, rng.randrange(3, 20)),
        "fork": False,
        "url": api,
        **urls,
        "created_at": "2019-05-01T10:00:00Z",
        "updated_at": "2024-02-29T10:00:00Z",
        "pushed_at": "2024-03-01T00:00:00Z",
        "git_url": f"git://github.com/{name}.git",
        "ssh_url": f"git@github.com:{name}.git",
        "clone_url": f"https://github.com/{name}.git",
        "svn_url": f"https://github.com/{name}",
        "homepage": None,
        "size": rng.randrange(10**6),
        "stargazers_count": rng.randrange(5000),
        "watchers_count": rng.randrange(5000),
        "language": rng.choice(["Python", "Go", "TypeScript", None]),
        "has_issues": True,
        "has_projects": True,
        "has_downloads": True,
        "has_wiki": True,
        "has_pages": False,
        "has_discussions": False,
        "forks_count": rng.randrange(100),
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": rng.randrange(100),
        "license": {
            "key": "mit",
            "name": "MIT License",
            "spdx_id": "MIT",
            "url": "https://api.github.com/licenses/mit",
            "node_id": "MDc6TGljZW5zZTEz",
        },
        "allow_forking": True,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [rng.choice(WORDS) for _ in range(rng.randrange(5))],
        "visibility": "public",
        "forks": rng.randrange(100),
        "open_issues": rng.randrange(100),
        "watchers": rng.randrange(5000),
        "default_branch": "main",
    }


def issue_object(rng, short):
    api = f"{short['url']}/issues/{rng.randrange(5000)}"
    return {
        "url": api,
        "repository_url": short["url"],
        "labels_url": api + "/labels{/name}",
        "comments_url": api + "/comments",
        "events_url": api + "/events",
        "html_url": api.replace("api.github.com/repos", "github.com"),
        "id": rng.randrange(10**9),
        "node_id": "I_kwDO" + sha(rng)[:12],
        "number": rng.randrange(5000),
        "title": text(rng, 8),
        "user": user(rng, full=True),
        "labels": [],
        "state": "open",
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": rng.randrange(20),
        "created_at": "2024-02-29T10:00:00Z",
        "updated_at": "2024-03-01T00:00:00Z",
        "closed_at": None,
        "author_association": "NONE",
        "active_lock_reason": None,
        "body": text(rng, rng.randrange(10, 250)),
        "reactions": {
            "url": api + "/reactions",
            "total_count": 0,
            "+1": 0,
            "-1": 0,
            "laugh": 0,
            "hooray": 0,
            "confused": 0,
            "heart": 0,
            "rocket": 0,
            "eyes": 0,
        },
        "timeline_url": api + "/timeline",
        "performed_via_github_app": None,
        "state_reason": None,
    }


def payload(rng, kind, short):
    if kind == "PushEvent":
        commits = [
            {
                "sha": sha(rng),
                "author": {
                    "email": hashlib.sha1(str(rng.random()).encode()).hexdigest() + "@example.com",
                    "name": text(rng, 2),
                },
                "message": text(rng, rng.randrange(4, 40)),
                "distinct": True,
                "url": f"{short['url']}/commits/" + sha(rng),
            }
            for _ in range(rng.choice((1, 1, 1, 2, 3)))
        ]
        return {
            "repository_id": short["id"],
            "push_id": rng.randrange(10**10),
            "size": len(commits),
            "distinct_size": len(commits),
            "ref": "refs/heads/main",
            "head": commits[-1]["sha"],
            "before": sha(rng),
            "commits": commits,
        }
    if kind == "PullRequestEvent":

        def side():
            return {
                "label": "a:b",
                "ref": "main",
                "sha": sha(rng),
                "user": user(rng, full=True),
                "repo": repo_object(rng),
            }

        api = f"{short['url']}/pulls/{rng.randrange(5000)}"
        return {
            "action": "opened",
            "number": rng.randrange(5000),
            "pull_request": {
                "url": api,
                "id": rng.randrange(10**9),
                "node_id": "PR_kwDO" + sha(rng)[:12],
                "html_url": api,
                "diff_url": api + ".diff",
                "patch_url": api + ".patch",
                "issue_url": api,
                "number": rng.randrange(5000),
                "state": "open",
                "locked": False,
                "title": text(rng, 8),
                "user": user(rng, full=True),
                "body": text(rng, rng.randrange(20, 400)),
                "created_at": "2024-03-01T00:00:00Z",
                "updated_at": "2024-03-01T00:00:00Z",
                "closed_at": None,
                "merged_at": None,
                "merge_commit_sha": sha(rng),
                "assignee": None,
                "assignees": [],
                "requested_reviewers": [],
                "requested_teams": [],
                "labels": [],
                "milestone": None,
                "draft": False,
                "commits_url": api + "/commits",
                "review_comments_url": api + "/comments",
                "review_comment_url": api + "/comments{/number}",
                "comments_url": api + "/comments",
                "statuses_url": api + "/statuses",
                "head": side(),
                "base": side(),
                "_links": {
                    k: {"href": f"{api}/{k}"}
                    for k in (
                        "self",
                        "html",
                        "issue",
                        "comments",
                        "review_comments",
                        "review_comment",
                        "commits",
                        "statuses",
                    )
                },
                "author_association": "CONTRIBUTOR",
                "auto_merge": None,
                "active_lock_reason": None,
                "merged": False,
                "mergeable": None,
                "rebaseable": None,
                "mergeable_state": "unknown",
                "merged_by": None,
                "comments": 0,
                "review_comments": 0,
                "maintainer_can_modify": True,
                "commits": 3,
                "additions": 40,
                "deletions": 3,
                "changed_files": 2,
            },
        }
    if kind in ("IssuesEvent", "IssueCommentEvent"):
        out = {"action": "opened", "issue": issue_object(rng, short)}
        if kind == "IssueCommentEvent":
            out["comment"] = {
                "id": rng.randrange(10**9),
                "user": user(rng, full=True),
                "body": text(rng, rng.randrange(5, 120)),
                "created_at": "2024-03-01T00:00:00Z",
                "author_association": "NONE",
            }
        return out
    if kind == "ForkEvent":
        return {"forkee": repo_object(rng)}
    if kind == "CreateEvent":
        return {
            "ref": "feature",
            "ref_type": "branch",
            "master_branch": "main",
            "description": text(rng, 10),
            "pusher_type": "user",
        }
    return {"action": "started"}


# The 2024 mix of GH Archive event types (by count); payload shapes follow the GitHub API.
KINDS = (
    ["PushEvent"] * 45
    + ["CreateEvent"] * 13
    + ["WatchEvent"] * 12
    + ["PullRequestEvent"] * 8
    + ["IssueCommentEvent"] * 9
    + ["IssuesEvent"] * 5
    + ["ForkEvent"] * 4
    + ["DeleteEvent"] * 4
)


def base_hour(events: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    lines = []
    for i in range(events):
        kind = rng.choice(KINDS)
        short = repo(rng)
        lines.append(
            json.dumps(
                {
                    "id": f"40000{i:08d}",
                    "type": kind,
                    "actor": user(rng),
                    "repo": short,
                    "payload": payload(rng, kind, short),
                    "public": True,
                    "created_at": f"2024-03-01T00:{i % 60:02d}:00Z",
                },
                separators=(",", ":"),
            )
        )
    return ("\n".join(lines) + "\n").encode()


def _compress_hour(job):
    base, hour, path = job
    # Every hour gets its own event ids and times; gzip level 6 is what GH Archive's files use.
    data = base.replace(b'"id":"40000', f'"id":"4{hour:02d}00'.encode()).replace(b"T00:", f"T{hour:02d}:".encode())
    path.write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
    return path


def write_hours(directory, hours, events_per_hour):
    base = base_hour(events_per_hour)
    with multiprocessing.Pool(min(hours, os.cpu_count() or 2)) as pool:
        return pool.map(_compress_hour, [(base, h, directory / f"2024-03-01-{h}.json.gz") for h in range(hours)])


def test_gharchive_ingest_vs_gzip(spark, tmp_path, bench_scale, run_stage, report):
    hours = max(1, int(8 * bench_scale))
    files = write_hours(tmp_path, hours=hours, events_per_hour=60000)
    compressed = sum(f.stat().st_size for f in files) / 1e6
    started = time.perf_counter()
    for f in files:
        subprocess.run(["gzip", "-dc", str(f)], stdout=subprocess.DEVNULL, check=True)
    gzip_seconds = time.perf_counter() - started

    # Steady state, as in a daily ingest of 24 hours: the JVM's JIT has compiled the job's code
    # paths (two loads of one hour into throwaway lakehouses; the cold first load is reported too).
    cold = []
    for attempt in range(2):
        started = time.perf_counter()
        run_stage(ingest_gharchive, spark, Lakehouse(spark, str(tmp_path / f"warmup{attempt}")), input=[str(files[0])])
        cold.append(time.perf_counter() - started)
    lakehouse = Lakehouse(spark, str(tmp_path / "lh"))
    started = time.perf_counter()
    summary = run_stage(ingest_gharchive, spark, lakehouse, input=[str(tmp_path / "*.json.gz")])
    job_seconds = time.perf_counter() - started
    cores = spark.sparkContext.defaultParallelism
    gzip_rate, job_rate = compressed / gzip_seconds, compressed / job_seconds
    per_core_ratio = gzip_rate / (job_rate / cores)
    report(
        "GH Archive ingest vs gzip -dc",
        [
            ("input", f"{len(files)} hour files, {compressed:.1f} MB compressed, {summary.rows_in:,} events"),
            ("gzip -dc (1 core)", f"{gzip_seconds:.2f} s = {gzip_rate:.1f} MB/s"),
            (
                f"ingest-gharchive ({cores} cores)",
                f"{job_seconds:.2f} s = {job_rate:.1f} MB/s, {summary.rows_in / job_seconds:,.0f} events/s",
            ),
            ("pushes written", f"{summary.rows_out:,}"),
            ("warm-up loads of one hour", " s, ".join(f"{c:.1f}" for c in cold) + " s (cold JVM first)"),
            ("ratio per core (gzip / job)", f"{per_core_ratio:.2f}x  (goal <= 6x)"),
        ],
    )
    assert summary.rows_in == hours * 60000


def bigquery_export(directory, commits, seed=11):
    """A github_repos export of synthetic commits: most single-file edits, some rejected by each rule."""
    rng = random.Random(seed)
    exts = [".py", ".js", ".go", ".java", ".rb", ".c", ".md", ".yaml", ".ts", ".xyz"]
    rows = []
    for i in range(commits):
        path = f"src/mod{i % 997}/file{i % 13}{rng.choice(exts)}"
        changes = 1 if rng.random() < 0.8 else rng.randrange(2, 6)
        diff = [
            {
                "old_mode": 33188,
                "new_mode": 33188,
                "old_path": path if k == 0 else f"other{k}.py",
                "new_path": path if k == 0 else f"other{k}.py",
                "old_sha1": sha(rng),
                "new_sha1": sha(rng),
                "old_repo": "r",
                "new_repo": "r",
            }
            for k in range(changes)
        ]
        message = rng.choice(["Update README.md", "wip", "Merge branch 'x'", text(rng, rng.randrange(3, 15))])
        when = {
            "name": "dev",
            "email": "d@example.com",
            "time_sec": 1700000000 + i,
            "tz_offset": 0,
            "date": {"seconds": 1700000000 + i, "nanos": 0},
        }
        rows.append(
            {
                "commit": sha(rng),
                "tree": sha(rng),
                "parent": [sha(rng)],
                "author": when,
                "committer": when,
                "subject": message,
                "message": message,
                "trailer": [],
                "difference": diff,
                "difference_truncated": False,
                "repo_name": [f"org{i % 5000}/proj{i % 7}"],
                "encoding": None,
            }
        )
    directory.mkdir()
    for shard in range(4):
        with open(directory / f"commits-{shard:012d}.json", "w") as out:
            out.writelines(json.dumps(as_json_export(r)) + "\n" for r in rows[shard::4])
    repos = sorted({r["repo_name"][0] for r in rows})
    write_parquet_export(
        [{"repo_name": name, "license": rng.choice(["mit", "apache-2.0", "gpl-3.0"])} for name in repos],
        LICENSES_ARROW,
        directory.parent / "licenses",
        "licenses",
    )


def test_index_throughput(spark, tmp_path, bench_scale, run_stage, report, sample, sample_cfg):
    commits = int(200_000 * bench_scale)
    bigquery_export(tmp_path / "commits", commits)
    lakehouse = Lakehouse(spark, str(tmp_path / "lh"))
    run_stage(
        ingest_bigquery,
        spark,
        lakehouse,
        commits=str(tmp_path / "commits"),
        licenses=str(tmp_path / "licenses"),
        languages=None,
    )
    started = time.perf_counter()
    summary = run_stage(index, spark, lakehouse)
    seconds = time.perf_counter() - started

    # The git path: the sample's GH Archive pushes resolved against their repositories (local remotes).
    gh = Lakehouse(spark, str(tmp_path / "gh"))
    cfg = sample_cfg(tmp_path / "mirrors")
    run_stage(ingest_gharchive, spark, gh, cfg, input=[str(sample.gharchive / "*.json.gz")])
    started = time.perf_counter()
    gh_summary = run_stage(index, spark, gh, cfg)
    gh_seconds = time.perf_counter() - started
    report(
        "index throughput",
        [
            (
                "BigQuery commits",
                f"{commits:,} in {seconds:.1f} s = {commits / seconds:,.0f} commits/s ({summary.rows_out:,} kept)",
            ),
            (
                "GH Archive commits via git",
                f"{gh_summary.rows_in:,} in {gh_seconds:.1f} s = {gh_summary.rows_in / gh_seconds:,.1f} commits/s "
                f"({gh_summary.details['repositories resolved']} repositories fetched)",
            ),
        ],
    )
    assert summary.rows_in == commits
