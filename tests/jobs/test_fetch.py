import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.stages import fetch, index, ingest_bigquery, ingest_gharchive
from commitpack.schemas.silver import COMMIT_INDEX


def fetch_statuses(expected) -> Counter:
    """What the sample says fetch records for the commits the index keeps."""
    return Counter(e["fetch"] for e in expected["commits"].values() if e["expect"] is None)


def cat_file(sample, repo, blob):
    return subprocess.run(
        ["git", "--git-dir", str(sample.remotes / f"{repo}.git"), "cat-file", "blob", blob],
        capture_output=True,
        check=True,
    ).stdout


def test_every_indexed_commit_gets_one_row_with_a_status(fetched, expected):
    lakehouse, _, summary = fetched
    rows = {r.commit: r for r in lakehouse.read("gold.commitpack").collect()}
    indexed = {r.commit for r in lakehouse.read("silver.commit_index").select("commit").collect()}
    assert set(rows) == indexed and len(rows) == sum(fetch_statuses(expected).values())
    c = expected["commits"]
    statuses = {k: rows[e["sha"]].status for k, e in c.items() if e["sha"] in rows}
    assert statuses.pop("py-binary") == "binary"
    assert statuses.pop("py-big") == "too_large"  # 1.7 MB over the 1 MB cap
    assert statuses.pop("web-symlink") == "symlink"
    assert set(statuses.values()) == {"ok"}
    wanted = fetch_statuses(expected)
    assert (summary.rows_in, summary.rows_out) == (len(rows), wanted.pop("ok"))
    assert summary.dropped == wanted == {"binary": 1, "too_large": 1, "symlink": 1}
    big = rows[c["py-big"]["sha"]]
    assert big.new_size > 1_000_000 and big.new_contents is None and big.new_blob


def test_contents_match_git_byte_for_byte(fetched, sample, expected):
    lakehouse, _, summary = fetched
    checked = 0
    for r in lakehouse.read("gold.commitpack").where("status = 'ok'").collect():
        assert r.old_contents.encode(r.old_encoding) == cat_file(sample, r.repo, r.old_blob)
        assert r.new_contents.encode(r.new_encoding) == cat_file(sample, r.repo, r.new_blob)
        assert r.diff.startswith(f"diff --git a/{r.old_file} b/{r.new_file}") and r.hunks >= 1
        checked += 1
    assert checked == summary.rows_out == fetch_statuses(expected)["ok"]


def test_rows_carry_the_commitpack_fields(fetched, expected):
    lakehouse, _, _ = fetched
    rows = {r.commit: r for r in lakehouse.read("gold.commitpack").collect()}
    pager = rows[expected["commits"]["py-fix-pager"]["sha"]]
    assert (pager.repos, pager.license, pager.lang, pager.old_file) == (
        "octo/pyutils,octo/pyutils-fork",
        "mit",
        "python",
        "pyutils/pager.py",
    )
    assert pager.subject == "Fix off-by-one in pager when size divides the length"
    assert (pager.lines_added, pager.lines_removed) == (1, 1)
    latin = rows[expected["commits"]["py-latin1"]["sha"]]
    assert (latin.status, latin.old_encoding, latin.new_encoding) == ("ok", "utf-8", "latin-1")
    assert latin.new_contents == "Notes by Ren\xe9e Caf\xe9\n"
    fork = rows[expected["commits"]["fork-fix"]["sha"]]
    assert fork.repo == "octo/pyutils-fork" and fork.status == "ok"  # read from the fork network's mirror
    partitions = {p.name for p in Path(lakehouse.path("gold.commitpack")).iterdir() if p.name.startswith("lang=")}
    assert {"lang=python", "lang=yaml", "lang=javascript"} <= partitions


def test_a_rerun_fetches_nothing(fetched, spark, run_stage):
    lakehouse, cfg, _ = fetched
    version = DeltaTable.forPath(spark, lakehouse.path("gold.commitpack")).history(1).first().version
    again = run_stage(fetch, spark, lakehouse, cfg)
    assert again.rows_in == 0
    assert DeltaTable.forPath(spark, lakehouse.path("gold.commitpack")).history(1).first().version == version


def requests_since(daemon, before: dict[str, int]) -> dict[str, int]:
    after = daemon.fetches()
    return {repo: after[repo] - before.get(repo, 0) for repo in after if after[repo] != before.get(repo, 0)}


def test_each_repository_is_asked_only_for_what_the_tables_need(
    spark, sample, expected, daemon, tmp_path, run_stage, sample_cfg
):
    cfg = sample_cfg(tmp_path / "cache", f"git.remote_template={daemon.template}")
    lakehouse = Lakehouse(spark, str(tmp_path / "lh"))
    run_stage(ingest_gharchive, spark, lakehouse, cfg, input=[str(sample.gharchive / "*.json.gz")])
    run_stage(
        ingest_bigquery,
        spark,
        lakehouse,
        cfg,
        commits=str(sample.bigquery / "commits"),
        licenses=str(sample.bigquery / "licenses"),
        languages=None,
    )
    before = daemon.fetches()
    run_stage(index, spark, lakehouse, cfg)
    by_index = requests_since(daemon, before)
    before = daemon.fetches()
    summary = run_stage(fetch, spark, lakehouse, cfg)
    by_fetch = requests_since(daemon, before)

    pushes = {r.event_id: r for r in lakehouse.read("silver.push_enumerations").collect()}
    pushed = {r.repo_name for r in pushes.values()}
    skipped = {r.repo_name: r.status for r in pushes.values() if r.status in ("license_excluded", "opted_out")}
    # BigQuery says gpl/tool is GPL-3.0 and optout/private's owner opted out: nothing of theirs travels.
    assert skipped == {"gpl/tool": "license_excluded", "optout/private": "opted_out"}
    detected = {r.repo_name for r in lakehouse.read("silver.repo_licenses").collect() if r.status == "detected"}
    # The index asks each other pushed repository once for its commits and trees, and once more
    # for the one license blob of those whose license it detects.
    assert by_index == {repo: 1 + (repo in detected) for repo in pushed - set(skipped)}
    # fetch asks each repository with indexed rows once, for exactly their blobs.
    indexed = {r.repo for r in lakehouse.read("silver.commit_index").select("repo").distinct().collect()}
    assert by_fetch == {repo: 1 for repo in indexed}
    assert indexed >= {"text/kit", "other/app"}  # known only from BigQuery: fetch is the first to ask
    assert "0 full fetches" in summary.details["transfers"]
    assert summary.rows_out == fetch_statuses(expected)["ok"]


def faulty_index(spark, expected):
    """Index rows aimed at the faults: a missing repository, a commit that is not there, a blob id
    that is not there, and a lookup by path (no blob ids)."""
    c = expected["commits"]
    base = {
        "license": "mit",
        "license_source": "bigquery",
        "parent": None,
        "old_mode": 0o100644,
        "new_mode": 0o100644,
        "lang": "python",
        "sources": ["bigquery"],
        "provenance": [],
        "subject": "s",
        "message": "s",
        "committed_at": None,
    }
    pager = {"old_path": "pyutils/pager.py", "new_path": "pyutils/pager.py"}
    rows = [
        {
            **base,
            **pager,
            "commit": c["py-fix-pager"]["sha"],
            "repo": "octo/pyutils",
            "repos": ["octo/pyutils"],
            "old_blob": None,
            "new_blob": None,
        },
        {
            **base,
            **pager,
            "commit": c["py-generators"]["sha"],
            "repo": "octo/pyutils",
            "repos": ["octo/pyutils"],
            "old_blob": None,
            "new_blob": "cd" * 20,
        },
        {
            **base,
            **pager,
            "commit": "ab" * 20,
            "repo": "octo/pyutils",
            "repos": ["octo/pyutils"],
            "old_blob": None,
            "new_blob": None,
        },
        {
            **base,
            **pager,
            "commit": "ef" * 20,
            "repo": "nobody/nothing",
            "repos": ["nobody/nothing"],
            "old_blob": None,
            "new_blob": None,
        },
    ]
    return spark.createDataFrame(rows, COMMIT_INDEX.schema)


def test_faults_are_statuses_and_transient_ones_are_retried(
    spark, expected, daemon, tmp_path, run_stage, sample_cfg, monkeypatch
):
    monkeypatch.setenv("COMMITPACK_GIT_TOKEN", "ghp_must_not_leak")
    lakehouse = Lakehouse(spark, str(tmp_path / "lh"))
    lakehouse.merge(COMMIT_INDEX, faulty_index(spark, expected))
    unreachable = sample_cfg(
        tmp_path / "mirrors", "git.remote_template=http://x-access-token:ghp_must_not_leak@127.0.0.1:9/{repo}.git"
    )
    first = run_stage(fetch, spark, lakehouse, unreachable)
    assert first.dropped == {"fetch_failed": 4}
    details = [r.detail for r in lakehouse.read("gold.commitpack").collect()]
    assert all("127.0.0.1" in d and "ghp_must_not_leak" not in d for d in details)

    reachable = sample_cfg(tmp_path / "mirrors", f"git.remote_template={daemon.template}")
    second = run_stage(fetch, spark, lakehouse, reachable)
    assert second.rows_in == 4  # every transient failure is fetched again
    rows = {r.commit: r for r in lakehouse.read("gold.commitpack").collect()}
    c = expected["commits"]
    assert rows[c["py-fix-pager"]["sha"]].status == "ok"
    assert rows[c["py-fix-pager"]["sha"]].new_blob is not None  # found by path
    # The remote cannot produce a blob it was asked for by id: a server's fault as far as the
    # client can tell, so the next run asks again; the row's other blob was read all the same.
    generators = rows[c["py-generators"]["sha"]]
    assert generators.status == "object_unavailable" and "cd" * 20 in generators.detail
    assert rows["ab" * 20].status == "commit_missing"
    assert rows["ef" * 20].status == "repo_unavailable"
    assert lakehouse.read("gold.commitpack").count() == 4
    third = run_stage(fetch, spark, lakehouse, reachable)
    assert third.rows_in == 1 and third.dropped == {"object_unavailable": 1}  # the others are final
    assert lakehouse.read("gold.commitpack").count() == 4


def wait_for_versions(table_dir: Path, version: int, timeout: float) -> None:
    deadline = time.time() + timeout
    while not (table_dir / "_delta_log" / f"{version:020d}.json").exists():
        if time.time() > deadline:
            raise AssertionError(f"no Delta version {version} in {timeout}s")
        time.sleep(0.2)


def test_a_crash_mid_job_then_a_rerun_completes_without_duplicates(fetched, expected, cli, tmp_path):
    indexed_lakehouse, cfg, _ = fetched
    lakehouse_dir = tmp_path / "lh"
    shutil.copytree(Path(indexed_lakehouse.root) / "silver", lakehouse_dir / "silver")
    args = [
        "--lakehouse",
        str(lakehouse_dir),
        "--set",
        "fetch.wave_rows=8",
        "--set",
        # The killed run's lease outlives it by this much (the default, 300 s, would keep the
        # rerun waiting); the rerun then takes it over.
        "concurrency.lease_seconds=15",
        "--set",
        f"git.cache_dir={cfg.git.cache_dir}",
        "--set",
        f"git.remote_template={cfg.git.remote_template}",
        "--set",
        "spark.master=local[2]",
        "fetch",
    ]
    exe = Path(sys.executable).with_name("commitpack")
    proc = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        # Version 0 creates the table, version 1 is the first wave: kill the job right after it.
        wait_for_versions(lakehouse_dir / "gold" / "commitpack", 1, timeout=300)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    partial = json.loads(
        (lakehouse_dir / "gold" / "commitpack" / "_delta_log" / f"{1:020d}.json").read_text().splitlines()[0]
    )
    assert partial  # the first wave was committed before the crash
    done = cli(*args, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "wave" in done.stderr
    rerun_in = int(done.stdout.split("rows in ")[1].split()[0].replace(",", ""))
    total = sum(fetch_statuses(expected).values())
    assert 0 < rerun_in < total  # only what the crash left undone
    import pyspark.sql  # the test session reads the result

    rows = (
        pyspark.sql.SparkSession.getActiveSession()
        .read.format("delta")
        .load(str(lakehouse_dir / "gold" / "commitpack"))
    )
    assert rows.count() == total and rows.select("commit").distinct().count() == total


@pytest.mark.cluster
def test_fetch_on_a_standalone_cluster_matches_local(fetched, expected, standalone_cluster, cli, tmp_path, spark):
    indexed_lakehouse, cfg, _ = fetched
    lakehouse_dir = tmp_path / "lh"
    shutil.copytree(Path(indexed_lakehouse.root) / "silver", lakehouse_dir / "silver")
    done = cli(
        "--lakehouse",
        str(lakehouse_dir),
        "--master",
        standalone_cluster,
        "--set",
        f"git.cache_dir={tmp_path / 'cluster-mirrors'}",
        "--set",
        f"git.remote_template={cfg.git.remote_template}",
        "fetch",
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    columns = [c for c in spark.read.format("delta").load(indexed_lakehouse.path("gold.commitpack")).columns]
    local = spark.read.format("delta").load(indexed_lakehouse.path("gold.commitpack")).select(*columns)
    cluster = spark.read.format("delta").load(str(lakehouse_dir / "gold" / "commitpack")).select(*columns)
    assert local.count() == sum(fetch_statuses(expected).values())
    assertDataFrameEqual(cluster, local)


def test_a_large_repository_is_read_by_several_tasks_at_once(spark):
    """10,000 rows of one repository (a large fork network) become units of fetch.batch_rows rows,
    placed in consecutive tasks: at least 4 tasks read them, each unit in exactly one."""
    rows = spark.range(10_000).select(
        F.format_string("%040x", "id").alias("commit"),
        F.lit("big/network").alias("repo"),
        F.format_string("src/f%d.py", F.col("id") % 300).alias("new_path"),
        F.col("id").cast("timestamp").alias("committed_at"),
    )
    units = fetch.work_units(rows, batch_rows=2000, partitions=8)
    placed = fetch.placed(units, 8).select("unit", F.spark_partition_id().alias("task")).distinct().collect()
    tasks_per_unit = {}
    for row in placed:
        tasks_per_unit.setdefault(row.unit, set()).add(row.task)
    assert len(tasks_per_unit) == 5 and all(len(t) == 1 for t in tasks_per_unit.values())
    assert len({t for tasks in tasks_per_unit.values() for t in tasks}) >= 4


def test_rows_are_the_same_however_a_network_is_split_into_units(fetched, run_stage, spark, tmp_path):
    """One row per unit (every repository split as far as it goes) gives the raw table the default
    units gave, row for row."""
    lakehouse, cfg, _ = fetched
    split = Lakehouse(spark, str(tmp_path / "lh"))
    split.merge(COMMIT_INDEX, lakehouse.read(COMMIT_INDEX))
    one_per_unit = replace(
        cfg, fetch=replace(cfg.fetch, batch_rows=1), git=replace(cfg.git, cache_dir=str(tmp_path / "c"))
    )
    summary = run_stage(fetch, spark, split, one_per_unit)
    assert summary.rows_in == lakehouse.read("gold.commitpack").count()
    assertDataFrameEqual(split.read("gold.commitpack"), lakehouse.read("gold.commitpack"))


def test_through_the_full_fetch_fallback_contents_are_still_byte_identical(
    fetched, expected, sample, http_git, run_stage, spark, tmp_path
):
    """A server that refuses fetching by id (protocol v0, no allowAnySHA1InWant): each unit falls
    back to everything its branches reach, and reads the same bytes."""
    lakehouse, cfg, _ = fetched
    http_git.v2 = False
    fallback = Lakehouse(spark, str(tmp_path / "lh"))
    fallback.merge(COMMIT_INDEX, lakehouse.read(COMMIT_INDEX))
    over_http = replace(cfg, git=replace(cfg.git, cache_dir=str(tmp_path / "c"), remote_template=http_git.template))
    summary = run_stage(fetch, spark, fallback, over_http)
    units = lakehouse.read(COMMIT_INDEX).select("repo").distinct().count()
    assert f"{units} full fetches" in summary.details["transfers"]
    assert summary.rows_out == fetch_statuses(expected)["ok"]
    for r in fallback.read("gold.commitpack").where("status = 'ok'").collect():
        assert r.old_contents.encode(r.old_encoding) == cat_file(sample, r.repo, r.old_blob)
        assert r.new_contents.encode(r.new_encoding) == cat_file(sample, r.repo, r.new_blob)
    assertDataFrameEqual(fallback.read("gold.commitpack"), lakehouse.read("gold.commitpack"))


def test_commitpackft_first_transfers_nothing_for_pruned_rows_and_filter_decides_them_the_same(
    fetched, run_stage, spark, tmp_path, daemon
):
    from commitpack.jobs.rules.commitpackft import token_counter
    from commitpack.jobs.stages import filter as ft

    lakehouse, cfg, _ = fetched
    first = Lakehouse(spark, str(tmp_path / "lh"))
    first.merge(COMMIT_INDEX, lakehouse.read(COMMIT_INDEX))
    pruning = replace(cfg, fetch=replace(cfg.fetch, commitpackft_first=True),
                      git=replace(cfg.git, cache_dir=str(tmp_path / "c"), remote_template=daemon.template))  # fmt: skip
    before = daemon.fetches()
    summary = run_stage(fetch, spark, first, pruning)
    raw = first.read("gold.commitpack")
    pruned = {r.commit: r for r in raw.where(F.col("status").startswith("pruned:")).collect()}
    assert pruned and all(r.new_contents is None and r.old_blob for r in pruned.values())
    assert f"{len(pruned)} rows pruned" in summary.details["commitpackft_first"]
    # Repositories whose every row was pruned were not asked for anything.
    kept_repos = {r.repo for r in raw.where(~F.col("status").startswith("pruned:")).select("repo").collect()}
    asked = {repo for repo, n in daemon.fetches().items() if n > before.get(repo, 0)}
    assert asked <= kept_repos

    def decisions(table):
        found = ft.decide(table, cfg, token_counter(None), None).select("commit", "step", "reason").collect()
        return {r.commit: (r.step, r.reason) for r in found}

    assert decisions(raw) == decisions(lakehouse.read("gold.commitpack"))
    # Switched off, the next run fetches what was pruned.
    again = run_stage(fetch, spark, first, replace(pruning, fetch=replace(pruning.fetch, commitpackft_first=False)))
    assert again.rows_in == len(pruned)
    assert first.read("gold.commitpack").where(F.col("status").startswith("pruned:")).count() == 0
