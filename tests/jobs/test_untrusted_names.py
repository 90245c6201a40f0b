"""Untrusted names never reach a path or a command line: crafted repository names in every source,
and crafted file paths inside commits, through ingest, index and fetch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.sample.bigquery import LICENSES_ARROW, bigquery_commit_row, write_json_export, write_parquet_export
from commitpack.jobs.sample.gharchive import compact, push, write_hour
from commitpack.jobs.sample.repos import RepoBuilder, Sample
from commitpack.jobs.stages import fetch, index, ingest_bigquery, ingest_gharchive

LONG = "a" * 500 + "/" + "b" * 500


def crafted_names(marker: Path) -> list[str]:
    """Names that must never become a path, a URL or an option."""
    return [
        "../../tmp/evil-repo",
        f"owner/--upload-pack=touch$IFS{marker}",
        "/absolute/path",
        "-owner/name",
        f"ext::sh -c touch% {marker}",
        "file:///etc/passwd",
        "owner/name\n",
        "own\x00er/name",
        "ownér/name",
        "owner/..",
        "owner/.",
        "owner--x/name",
        "owner/name/extra",
        LONG,
    ]


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """A repository with crafted file paths, and inputs naming it and the crafted repositories."""
    root = tmp_path_factory.mktemp("crafted")
    marker = root / "pwned"
    sample = Sample(root / "sample")
    b = RepoBuilder(sample, "safe/repo")
    mit = "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\n"
    b.commit("base", "Start with a license", {"LICENSE": mit, "--output=x.py": "a = 1\n", "docs/-rf.py": "b = 1\n"})
    b.commit("opt", "Change the option-named module value", {"--output=x.py": "a = 2\n"}, lang="python")
    b.commit("dash", "Change the dash-named module value", {"docs/-rf.py": "b = 2\n"}, lang="python")
    names = crafted_names(marker)
    day = "2025-10-06"
    events = [push(b, 1, f"{day}T20:00:00Z", sample.sha("base"), b.head(), [sample.sha("opt"), sample.sha("dash")])]
    # A name GitHub allows though it starts with a hyphen: it loads, and stays a name.
    odd = push(b, 2, f"{day}T20:00:30Z", sample.sha("base"), b.head(), [])
    odd["repo"]["name"] = "owner/-x"
    events.append(odd)
    for i, name in enumerate(names):
        event = push(b, 100 + i, f"{day}T20:{i + 1:02d}:00Z", sample.sha("base"), b.head(), [])
        event["repo"]["name"] = name
        events.append(event)
    write_hour(sample.gharchive / f"{day}-20.json.gz", [compact(e) for e in events])
    # BigQuery: a commit whose file paths are crafted, seen in good and crafted repositories.
    rows = [bigquery_commit_row(b.repo, sample.sha("opt"), ["safe/repo", *names[:6]])]
    rows[0]["difference"][0]["old_path"] = rows[0]["difference"][0]["new_path"] = "../../x.py"
    rows.append(bigquery_commit_row(b.repo, sample.sha("dash"), names[6:8]))  # only crafted repositories
    write_json_export(rows, sample.bigquery / "commits")
    licenses = [{"repo_name": "safe/repo", "license": "mit"}, *[{"repo_name": n, "license": "mit"} for n in names[:4]]]
    write_parquet_export(licenses, LICENSES_ARROW, sample.bigquery / "licenses", "licenses")
    return root, sample, marker, names


def files_under(root: Path) -> set[Path]:
    return {Path(folder) / name for folder, _, files in os.walk(root) for name in files}


def test_crafted_names_are_quarantined_and_crafted_paths_are_read_as_data(spark, crafted, tmp_path, run_stage):
    root, sample, marker, names = crafted
    before = files_under(root)
    cache, lake = tmp_path / "cache", tmp_path / "lakehouse"
    cfg = load_settings(
        overrides=[f"git.remote_template={sample.remote_template}", f"git.cache_dir={cache}", "git.retries=1"]
    )
    lakehouse = Lakehouse(spark, str(lake))
    ingested = run_stage(ingest_gharchive, spark, lakehouse, cfg, input=[str(sample.gharchive / "*.json.gz")])
    quarantined = {r.source_line: r.reason for r in lakehouse.read("bronze.gharchive_quarantine").collect()}
    assert set(quarantined.values()) == {"bad_repo_name"} and len(quarantined) == len(names)
    loaded = {r.repo_name for r in lakehouse.read("bronze.gharchive_pushes").collect()}
    assert loaded == {"safe/repo", "owner/-x"} and ingested.dropped["quarantine:bad_repo_name"] == len(names)

    run_stage(ingest_bigquery, spark, lakehouse, cfg, commits=str(sample.bigquery / "commits"),
              licenses=str(sample.bigquery / "licenses"), languages=None)  # fmt: skip
    refused = lakehouse.read("bronze.bq_quarantine").collect()
    assert {r.reason for r in refused} == {"bad_repo_name"}
    assert {(r.export, r.name) for r in refused} >= {("commits", n[:300]) for n in names[:8]}
    assert {(r.export, r.name) for r in refused} >= {("licenses", n) for n in names[:4]}
    commits = {r.commit: r.repo_name for r in lakehouse.read("bronze.bq_commits").collect()}
    assert commits == {sample.sha("opt"): ["safe/repo"]}  # the other commit named crafted repositories only
    assert {r.repo_name for r in lakehouse.read("bronze.bq_licenses").collect()} == {"safe/repo"}

    run_stage(index, spark, lakehouse, cfg)
    odd = {r.repo_name: r.status for r in lakehouse.read("silver.push_enumerations").collect()}
    assert odd["owner/-x"] == "repo_unavailable"  # asked for as a URL's path, answered "no such repository"
    fetched = run_stage(fetch, spark, lakehouse, cfg)
    rows = {r.commit: r for r in lakehouse.read("gold.commitpack").collect()}
    opt, dash = rows[sample.sha("opt")], rows[sample.sha("dash")]
    # BigQuery's path for it is ../../x.py: it is the row's data, read by blob id, written nowhere.
    assert (opt.status, opt.new_file, opt.new_contents) == ("ok", "../../x.py", "a = 2\n")
    assert (dash.status, dash.new_file, dash.new_contents) == ("ok", "docs/-rf.py", "b = 2\n")
    assert fetched.rows_out == 2

    assert not marker.exists()  # no command ran
    assert files_under(root) == before  # nothing written beside the inputs
    # Where joining the names onto the cache directory would have written.
    assert not (cache.parent.parent / "tmp" / "evil-repo.git").exists() and not Path("/absolute/path.git").exists()
    written = {p.relative_to(tmp_path).parts[0] for p in files_under(tmp_path)}
    assert written <= {"cache", "lakehouse"}
    repos = {p.name for p in (cache / "repos").glob("*/*.git")}
    assert all(len(name) == 68 for name in repos)  # <sha256>.git: no name from the inputs


def test_the_opt_out_list_admits_only_logins():
    with pytest.raises(Exception, match="not GitHub logins"):
        load_settings(overrides=["opt_out.owners=[../x]"])
    assert load_settings(overrides=["opt_out.owners=[OptOut, a-b]"]).opt_out.owners == ("OptOut", "a-b")


@pytest.mark.parametrize(
    "template, message",
    [
        ("ext::sh -c touch% /tmp/x {repo}", "remote helpers"),
        ("fd::3/{repo}", "remote helpers"),
        ("https://{repo}.example.com/x.git", "must be in the path"),
        ("ftp://example.com/{repo}.git", "is not one of"),
        ("https://example.com/{repo}/{repo}.git", "once"),
    ],
)
def test_the_remote_template_is_checked_when_the_settings_load(template, message):
    with pytest.raises(Exception, match=message):
        load_settings(overrides=[f"git.remote_template={template}"])
