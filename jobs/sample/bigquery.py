"""A BigQuery ``github_repos`` export of real commits: commits as sharded JSON (BigQuery writes
every INT64 as a string), licenses and languages as Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pygit2

from commitpack.schemas.arrow import arrow_schema
from commitpack.schemas.sources import BQ_LANGUAGES, BQ_LICENSES
from commitpack.udfs.gitrepo import change_list


def _bq_signature(sig: pygit2.Signature) -> dict:
    return {
        "name": sig.name,
        "email": sig.email,
        "time_sec": sig.time,
        "tz_offset": sig.offset,
        "date": {"seconds": sig.time, "nanos": 0},
    }


def bigquery_commit_row(repo: pygit2.Repository, sha: str, repo_names: list[str]) -> dict:
    """A github_repos.commits row for a real commit, with Parquet/Avro types (INT64 as int)."""
    commit = repo[sha]
    message = commit.message
    return {
        "commit": sha,
        "tree": str(commit.tree_id),
        "parent": [str(p) for p in commit.parent_ids],
        "author": _bq_signature(commit.author),
        "committer": _bq_signature(commit.committer),
        "subject": message.split("\n", 1)[0],
        "message": message,
        "trailer": [],
        "difference": [
            {
                "old_mode": ch["old_mode"],
                "new_mode": ch["new_mode"],
                "old_path": ch["old_path"],
                "new_path": ch["new_path"],
                "old_sha1": ch["old_blob"],
                "new_sha1": ch["new_blob"],
                "old_repo": repo_names[0],
                "new_repo": repo_names[0],
            }
            for ch in change_list(repo, commit)[0]
        ],
        "difference_truncated": False,
        "repo_name": repo_names,
        "encoding": None,
    }


def as_json_export(value, key: str = ""):
    """BigQuery's JSON export: INT64 values become strings; nulls are left out."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return {k: as_json_export(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [as_json_export(v) for v in value]
    return value


def write_json_export(rows: list[dict], directory: Path, shards: int = 2, prefix: str = "commits") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        with open(directory / f"{prefix}-{shard:012d}.json", "w") as out:
            for row in rows[shard::shards]:
                out.write(json.dumps(as_json_export(row), separators=(",", ":")) + "\n")


def write_parquet_export(rows: list[dict], schema: pa.Schema, directory: Path, prefix: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), directory / f"{prefix}-000000000000.parquet")


LICENSES_ARROW = arrow_schema(BQ_LICENSES)
LANGUAGES_ARROW = arrow_schema(BQ_LANGUAGES)
