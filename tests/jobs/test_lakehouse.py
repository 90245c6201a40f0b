import dataclasses
import datetime as dt
import json
from pathlib import Path

from delta.tables import DeltaTable

from commitpack.jobs.runtime import lakehouse as lakehouse_module
from commitpack.schemas.silver import REPO_LICENSES


def rows(spark, *items):
    return spark.createDataFrame([(r, "detected", lic, None, None) for r, lic in items], REPO_LICENSES.schema)


def table(lakehouse):
    return sorted((r.repo_name, r.license) for r in lakehouse.read(REPO_LICENSES).collect())


def test_sync_writes_only_the_difference(spark, lakehouse):
    assert lakehouse.sync(REPO_LICENSES, rows(spark, ("a/x", "mit"), ("b/y", "isc"))) == {
        "inserted": 2,
        "updated": 0,
        "deleted": 0,
    }
    version = DeltaTable.forPath(spark, lakehouse.path(REPO_LICENSES)).history(1).first().version
    assert lakehouse.sync(REPO_LICENSES, rows(spark, ("b/y", "isc"), ("a/x", "mit"))) == {
        "inserted": 0,
        "updated": 0,
        "deleted": 0,
    }
    assert DeltaTable.forPath(spark, lakehouse.path(REPO_LICENSES)).history(1).first().version == version
    assert lakehouse.sync(REPO_LICENSES, rows(spark, ("a/x", "apache-2.0"), ("c/z", "mit"))) == {
        "inserted": 1,
        "updated": 1,
        "deleted": 1,
    }
    assert table(lakehouse) == [("a/x", "apache-2.0"), ("c/z", "mit")]


def test_merge_inserts_new_keys_and_updates_only_when_asked(spark, lakehouse):
    lakehouse.merge(REPO_LICENSES, rows(spark, ("a/x", "mit")))
    assert lakehouse.merge(REPO_LICENSES, rows(spark, ("a/x", "isc"), ("b/y", "mit"))) == {
        "inserted": 1,
        "updated": 0,
        "deleted": 0,
    }
    assert table(lakehouse) == [("a/x", "mit"), ("b/y", "mit")]
    assert lakehouse.merge(REPO_LICENSES, rows(spark, ("a/x", "isc"), ("b/y", "mit")), update_when="changed") == {
        "inserted": 0,
        "updated": 1,
        "deleted": 0,
    }
    assert table(lakehouse) == [("a/x", "isc"), ("b/y", "mit")]


def test_appends_that_scatter_a_partition_are_compacted_sorted_without_a_data_change(spark, lakehouse):
    """Three appends of one file each to a table with ``compact_writes=3``: two leave two
    files; the third leaves one file of every row sorted by ``order_by``, in a commit a change
    feed skips."""
    spec = dataclasses.replace(REPO_LICENSES, order_by=("repo_name",), compact_writes=3)
    for i, names in enumerate((["o/r5", "o/r2"], ["o/r9", "o/r0"], ["o/r7", "o/r1"])):
        lakehouse.append(spec, rows(spark, *[(name, "mit") for name in names]).coalesce(1))
        files = lakehouse.read(spec).inputFiles()
        assert len(files) == (i + 1 if i < 2 else 1), files
    (only,) = files
    assert [r.repo_name for r in spark.read.parquet(only).collect()] == sorted(
        ["o/r5", "o/r2", "o/r9", "o/r0", "o/r7", "o/r1"]
    )
    last = DeltaTable.forPath(spark, lakehouse.path(spec)).history(1).first()
    assert last.operation == "WRITE" and last.operationParameters["mode"] == "Overwrite"
    adds = [
        json.loads(line)["add"]
        for line in Path(lakehouse.path(spec), "_delta_log", f"{last.version:020d}.json").read_text().splitlines()
        if '"add"' in line
    ]
    assert adds and not any(add["dataChange"] for add in adds)


def test_compaction_counts_writes_not_files(spark, lakehouse):
    """``compact_writes=2`` on a table partitioned by a value its folder name escapes: one write
    of four files into a partition is left alone (one write's files, one per task), as is the
    partition another write does not touch; the next write into it compacts it."""
    spec = dataclasses.replace(REPO_LICENSES, partition_by=("license",), order_by=("repo_name",), compact_writes=2)

    def files(license):
        return [f for f in lakehouse.read(spec).inputFiles() if Path(f).parent.name.startswith(f"license={license}")]

    wide = rows(spark, *[(f"o/r{i}", "c#/x") for i in range(8)], ("p/q", "mit")).repartition(4, "repo_name")
    lakehouse.append(spec, wide)
    assert len(files("c%23%2Fx")) == 4
    lakehouse.append(spec, rows(spark, ("o/r9", "c#/x")).coalesce(1))
    (only,) = files("c%23%2Fx")
    assert [r.repo_name for r in spark.read.parquet(only).collect()] == [*(f"o/r{i}" for i in range(8)), "o/r9"]
    assert len(files("mit")) == 1
    assert lakehouse.read(spec).count() == 10


def test_compaction_writes_each_small_partition_as_one_file(spark, lakehouse):
    """Two partitions of unequal size compacted in one write: each comes out as one sorted file,
    not cut where the rows of both would split evenly."""
    spec = dataclasses.replace(REPO_LICENSES, partition_by=("license",), order_by=("repo_name",), compact_writes=2)
    waves = (
        [(f"o/m{i}", "mit") for i in (9, 3, 7, 1, 5)] + [("o/i2", "isc")],
        [(f"o/m{i}", "mit") for i in (8, 2, 6, 0, 4)] + [("o/i1", "isc")],
    )
    for wave in waves:
        lakehouse.append(spec, rows(spark, *wave).repartition(1))
    by_partition = {}
    for path in lakehouse.read(spec).inputFiles():
        by_partition.setdefault(Path(path).parent.name, []).append(path)
    assert sorted(by_partition) == ["license=isc", "license=mit"]
    for folder, (only,) in sorted(by_partition.items()):
        names = [r.repo_name for r in spark.read.parquet(only).collect()]
        assert names == sorted(names) and len(names) == (2 if folder == "license=isc" else 10)


def test_a_partition_worth_two_files_is_compacted_into_two_whole_sorted_files(spark, lakehouse, monkeypatch):
    """Files of about 2.2 appended files' bytes: three appends of one file each to a partition
    compact it into two files, its two slots, each written whole by its own task (slot numbers
    hashed into tasks would put both in one), rows sorted and split by repository."""
    spec = dataclasses.replace(REPO_LICENSES, partition_by=("license",), order_by=("repo_name",), compact_writes=3)
    waves = [[(f"o/m{wave}{i}", "mit") for i in range(8)] for wave in range(3)]
    for wave in waves[:2]:
        lakehouse.append(spec, rows(spark, *wave).repartition(1))
    sizes = [Path(f.removeprefix("file:")).stat().st_size for f in lakehouse.read(spec).inputFiles()]
    monkeypatch.setattr(lakehouse_module, "COMPACTED_FILE_BYTES", int(2.2 * max(sizes)))
    lakehouse.append(spec, rows(spark, *waves[2]).repartition(1))
    files = [[r.repo_name for r in spark.read.parquet(path).collect()] for path in lakehouse.read(spec).inputFiles()]
    assert len(files) == 2 and all(names == sorted(names) for names in files)
    assert sorted(name for names in files for name in names) == sorted(name for wave in waves for name, _ in wave)


def test_a_table_without_partitions_or_order_is_compacted(spark, lakehouse):
    spec = dataclasses.replace(REPO_LICENSES, compact_writes=2)
    for name in ("o/b", "o/a"):
        lakehouse.append(spec, rows(spark, (name, "mit")).coalesce(1))
    assert len(lakehouse.read(spec).inputFiles()) == 1
    assert table(lakehouse) == [("o/a", "mit"), ("o/b", "mit")]


def test_rows_with_only_new_keys_are_appended_and_the_others_merged(spark, lakehouse):
    from commitpack.schemas.meta import STAGE_RUNS

    def last_operation(spec):
        return DeltaTable.forPath(spark, lakehouse.path(spec)).history(1).first().operation

    assert lakehouse.merge(REPO_LICENSES, rows(spark, ("a/x", "mit")), update_when="changed")["inserted"] == 1
    assert last_operation(REPO_LICENSES) == "WRITE"  # no key of them was there: an append
    counts = lakehouse.merge(REPO_LICENSES, rows(spark, ("a/x", "isc"), ("b/y", "mit")), update_when="changed")
    assert counts == {"inserted": 1, "updated": 1, "deleted": 0}
    assert last_operation(REPO_LICENSES) == "MERGE"
    assert table(lakehouse) == [("a/x", "isc"), ("b/y", "mit")]
    # Nothing new and nothing to write: no commit at all.
    version = lakehouse.version(REPO_LICENSES)
    assert lakehouse.merge(REPO_LICENSES, rows(spark)) == {"inserted": 0, "updated": 0, "deleted": 0}
    assert lakehouse.version(REPO_LICENSES) == version
    # A table several runs write at once (no stage of its own, so no lease keeps them apart) is
    # always merged: two runs appending the same new key would both land.
    run = spark.createDataFrame(
        [("r1", "filter", dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1), 1, 1, {}, {}, "f", "v")], STAGE_RUNS.schema
    )
    lakehouse.merge(STAGE_RUNS, run)
    assert last_operation(STAGE_RUNS) == "MERGE"


def test_a_table_records_the_source_versions_it_has_read_in_its_properties(spark, lakehouse):
    from commitpack.schemas.silver import GIT_COMMITS

    lakehouse.merge(REPO_LICENSES, rows(spark, ("a/x", "mit")))
    assert lakehouse.watermark(REPO_LICENSES, GIT_COMMITS) is None
    assert lakehouse.watermark("silver.commit_index", GIT_COMMITS) is None  # no such table yet
    lakehouse.record_watermarks((REPO_LICENSES, GIT_COMMITS, 7), (REPO_LICENSES, "silver.commit_index", 3))
    assert lakehouse.watermark(REPO_LICENSES, GIT_COMMITS) == 7
    assert lakehouse.watermark(REPO_LICENSES, "silver.commit_index") == 3
    lakehouse.record_watermarks((REPO_LICENSES, GIT_COMMITS, 8))
    assert (
        lakehouse.watermark(REPO_LICENSES, GIT_COMMITS),
        lakehouse.watermark(REPO_LICENSES, "silver.commit_index"),
    ) == (8, 3)
    assert table(lakehouse) == [("a/x", "mit")]  # the rows are as they were


def test_a_change_feed_from_past_the_latest_version_is_none(spark, lakehouse):
    from commitpack.schemas.gold import COMMITPACKFT_DECISIONS

    decision = {c: None for c in COMMITPACKFT_DECISIONS.columns}
    decision.update(commit="c1", lang="python", repo="a/x", bytes=10, filter_fingerprint="f")
    lakehouse.merge(COMMITPACKFT_DECISIONS, spark.createDataFrame([decision], COMMITPACKFT_DECISIONS.schema))
    version = lakehouse.version(COMMITPACKFT_DECISIONS)
    assert [r.commit for r in lakehouse.changes(COMMITPACKFT_DECISIONS, version - 1, version).collect()] == ["c1"]
    # A reader recorded a later version of a table that was since made anew.
    assert lakehouse.changes(COMMITPACKFT_DECISIONS, version + 3, version) is None
