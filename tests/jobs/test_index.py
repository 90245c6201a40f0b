import shutil
from collections import Counter

from delta.tables import DeltaTable

from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.stages import index, ingest_bigquery, ingest_gharchive


def decisions(lakehouse):
    kept = {
        r.commit: ("kept", r.lang) for r in lakehouse.read("silver.commit_index").select("commit", "lang").collect()
    }
    rejected = {
        r.commit: ("rejected", r.reason)
        for r in lakehouse.read("silver.index_rejections").select("commit", "reason").collect()
    }
    assert not kept.keys() & rejected.keys()
    return {**kept, **rejected}


def wanted(entry):
    if entry["expect"] == "unseen":
        return None
    return ("kept", entry["lang"]) if entry["expect"] is None else ("rejected", entry["expect"])


def test_every_sample_commit_gets_the_expected_decision(indexed, expected):
    lakehouse, _, summaries = indexed
    got = decisions(lakehouse)
    for key, entry in expected["commits"].items():
        assert got.get(entry["sha"]) == wanted(entry), key
    assert len(got) == sum(1 for e in expected["commits"].values() if e["expect"] != "unseen")
    summary = summaries["index"]
    assert summary.rows_in == len(got) and summary.rows_out == sum(1 for v in got.values() if v[0] == "kept")
    seen = [e["expect"] for e in expected["commits"].values() if e["expect"] not in ("unseen", None)]
    assert summary.dropped == Counter(seen) and summary.dropped["opt_out"] == 2


def test_forks_merge_into_one_row_and_take_the_first_licensed_repository(indexed, expected):
    lakehouse, _, _ = indexed
    rows = {r.commit: r for r in lakehouse.read("silver.commit_index").collect()}
    shared = rows[expected["commits"]["py-fix-pager"]["sha"]]
    assert shared.repos == ["octo/pyutils", "octo/pyutils-fork"] and shared.sources == ["bigquery", "gharchive"]
    assert (shared.repo, shared.license, shared.license_source) == ("octo/pyutils", "mit", "bigquery")
    fork_only = rows[expected["commits"]["fork-fix"]["sha"]]
    assert (fork_only.repo, fork_only.license, fork_only.license_source) == ("octo/pyutils-fork", "mit", "detected")
    assert fork_only.subject == "Handle empty input in the pager function"
    assert (fork_only.old_path, fork_only.new_path, fork_only.new_mode) == (
        "pyutils/pager.py",
        "pyutils/pager.py",
        0o100644,
    )
    assert fork_only.parent == expected["commits"]["py-big"]["sha"]


def test_every_row_traces_to_its_source_records(indexed, expected):
    lakehouse, _, _ = indexed
    rows = {r.commit: r for r in lakehouse.read("silver.commit_index").collect()}
    shared = rows[expected["commits"]["py-fix-pager"]["sha"]]
    sources = {(p.source, p.file.rsplit("/", 1)[-1], p.record) for p in shared.provenance}
    sha = expected["commits"]["py-fix-pager"]["sha"]
    assert ("gharchive", "2025-10-06-20.json.gz", "line 2 event 2") in sources
    assert any(s[0] == "bigquery" and s[1].startswith("commits-0000000000") and s[2] == sha for s in sources)
    # The record named in the provenance is the one that mentions the commit.
    pushes = lakehouse.read("bronze.gharchive_pushes").where("event_id = '2'").first()
    assert pushes.source_line == 2 and sha in [c.sha for c in pushes.commits]
    assert all(r.provenance for r in rows.values())


def test_pushes_are_enumerated_from_the_repository(indexed, expected):
    lakehouse, _, _ = indexed
    pushes = {r.event_id: r for r in lakehouse.read("silver.push_enumerations").collect()}
    c = expected["commits"]
    # No commit list (2025-10-07+): before..head walked in the repository, all 25.
    assert sorted(pushes["101"].commits) == sorted(c[f"new-route-{i}"]["sha"] for i in range(25))
    # A new branch: exactly the commits no other branch reaches.
    assert sorted(pushes["111"].commits) == sorted(c[f"new-feature-{i}"]["sha"] for i in range(3))
    assert (pushes["121"].status, pushes["121"].commits) == ("head_missing", [])
    assert pushes["122"].status == "repo_unavailable" and "gh/deleted" in pushes["122"].detail
    licenses = {r.repo_name: (r.status, r.license) for r in lakehouse.read("silver.repo_licenses").collect()}
    assert licenses["noreply/secret"] == ("no_license_file", None)
    assert licenses["gh/newstyle"] == ("detected", "mit") and licenses["gh/deleted"][0] == "unavailable"
    assert "octo/pyutils" not in licenses  # BigQuery has its license: nothing to detect


def version(lakehouse, table):
    return DeltaTable.forPath(lakehouse.spark, lakehouse.path(table)).history(1).first().version


def test_index_is_incremental_and_a_rerun_changes_nothing(spark, sample, tmp_path, run_stage, expected, sample_cfg):
    cfg = sample_cfg(tmp_path / "mirrors")
    lakehouse = Lakehouse(spark, str(tmp_path / "lakehouse"))
    first_day, later = tmp_path / "first", tmp_path / "later"
    first_day.mkdir(), later.mkdir()
    for hour in sample.gharchive.iterdir():
        shutil.copy(hour, first_day if hour.name.startswith("2025-10-06") else later)
    run_stage(
        ingest_bigquery,
        spark,
        lakehouse,
        cfg,
        commits=str(sample.bigquery / "commits"),
        licenses=str(sample.bigquery / "licenses"),
        languages=str(sample.bigquery / "languages"),
    )
    run_stage(ingest_gharchive, spark, lakehouse, cfg, input=[str(first_day / "*.json.gz")])
    first = run_stage(index, spark, lakehouse, cfg)
    before = decisions(lakehouse)
    assert expected["commits"]["new-route-3"]["sha"] not in before

    run_stage(ingest_gharchive, spark, lakehouse, cfg, input=[str(later / "*.json.gz")])
    second = run_stage(index, spark, lakehouse, cfg)
    after = decisions(lakehouse)
    assert {k: v for k, v in after.items() if k in before} == before  # what was decided stays decided
    assert second.details["repositories resolved"] == "3"  # gh/newstyle, gh/deleted, gh/oldtimer: the new pushes
    assert second.rows_out > first.rows_out
    for entry in expected["commits"].values():
        assert after.get(entry["sha"]) == wanted(entry)

    versions = {
        t: version(lakehouse, t) for t in ("silver.commit_index", "silver.index_rejections", "silver.push_enumerations")
    }
    third = run_stage(index, spark, lakehouse, cfg)
    assert third.details["repositories resolved"] == "0"
    assert third.details["index changes"] == "0 new, 0 updated, 0 removed"
    assert {t: version(lakehouse, t) for t in versions} == versions
