"""The raw table's storage: bytes on disk per content byte and the filter's read time, written as
before (Snappy, rows in arrival order) and as declared now (``gold.commitpack``: zstd, rows
sorted by repository, file and commit time, scattered partitions compacted), in one run.

The rows are generated histories of real code (``helpers.histories`` with ``real_code``: files
that start as modules of Python's standard library, 2–60 KB, changed a few lines at a time, so
consecutive versions of a file are nearly identical, and each version is stored twice, as one
commit's new and the next one's old contents), appended in ten waves as fetch appends them.
Bytes on disk are those of the files the table's current version reads (what a VACUUM keeps).
Timed on each table: a scan of every column, and the filter stage (its first run: every row).
Both tables hold the same rows, and the filter reaches the same decisions on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import pytest
from helpers.histories import append_in_waves, history_rows
from pyspark.sql import functions as F

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.runtime.storage import FileSystem
from commitpack.jobs.stages import filter
from commitpack.schemas.gold import COMMITPACK, COMMITPACKFT_DECISIONS

pytestmark = pytest.mark.benchmark
# The raw table as it was written before its storage was declared.
BEFORE = dataclasses.replace(COMMITPACK, compression="snappy", order_by=(), compact_writes=0)


def bytes_on_disk(spark, lakehouse: Lakehouse, spec) -> int:
    files = lakehouse.read(spec).inputFiles()
    return sum(FileSystem(spark, lakehouse.path(spec)).sizes(sorted(files)).values())


def scan_seconds(lakehouse: Lakehouse, spec) -> float:
    start = time.perf_counter()
    lakehouse.read(spec).select(
        *[F.sum(F.length(c)).alias(c) for c in ("old_contents", "new_contents", "diff", "message")]
    ).collect()
    return time.perf_counter() - start


def filter_seconds(spark, lakehouse: Lakehouse) -> float:
    start = time.perf_counter()
    filter.run(spark, load_settings(), lakehouse, argparse.Namespace())
    return time.perf_counter() - start


def test_raw_table_storage_before_and_after(spark, tmp_path, report, bench_scale):
    n = int(20_000 * bench_scale)
    _, rows = history_rows(n, seed=11, real_code=True)
    content = sum(r["old_size"] + r["new_size"] for r in rows)

    warm = Lakehouse(spark, str(tmp_path / "warm"))
    append_in_waves(spark, warm, history_rows(2_000, seed=12)[1], tmp_path / "warm-raw", 2)
    filter_seconds(spark, warm)

    tables = {}
    for name, spec in (("before", BEFORE), ("after", COMMITPACK)):
        lakehouse = Lakehouse(spark, str(tmp_path / name))
        start = time.perf_counter()
        append_in_waves(spark, lakehouse, rows, tmp_path / f"{name}-raw", 10, spec)
        written = time.perf_counter() - start
        size = bytes_on_disk(spark, lakehouse, spec)
        tables[name] = {
            "lakehouse": lakehouse,
            "bytes": size,
            "write": written,
            "scan": scan_seconds(lakehouse, spec),
            "filter": filter_seconds(spark, lakehouse),
        }
    before, after = tables["before"], tables["after"]

    def shown(t: dict) -> str:
        return (
            f"{t['bytes'] / 1e6:.1f} MB, {t['bytes'] / content:.3f} bytes per content byte; "
            f"written in {t['write']:.1f} s, scanned in {t['scan']:.1f} s, filter {t['filter']:.1f} s"
        )

    report(
        "raw table storage (gold.commitpack)",
        [
            ("raw rows", f"{n:,} ({content / 1e6:.0f} MB of old + new contents)"),
            ("before: snappy, arrival order", shown(before)),
            ("after: zstd, sorted, compacted", shown(after)),
            ("size ratio", f"{after['bytes'] / before['bytes']:.3f} of before (goal <= 0.125)"),
            ("scan ratio", f"{after['scan'] / before['scan']:.2f} of before"),
            ("filter ratio", f"{after['filter'] / before['filter']:.2f} of before"),
        ],
    )
    for spec in (COMMITPACK, COMMITPACKFT_DECISIONS):
        ours, theirs = (
            sorted(
                json.dumps(r.asDict(), default=str)
                for r in t["lakehouse"].read(spec).drop("old_contents", "new_contents", "diff").collect()
            )
            for t in (before, after)
        )
        assert ours == theirs, spec.name
    assert after["bytes"] * 8 <= before["bytes"]
