"""An hour's increment against a full rebuild: filter + dedup + export after 1% new raw rows on a
lakehouse of 100k raw rows, and after an increment with no new rows, against the three stages
rebuilding everything from the same 101k rows, all in one run.

The raw rows are generated histories (``histories``: files changed a few lines at a time, 2% of
the changes repeated in other repositories) in 15 languages; the increment continues them. The
lakehouse is built by the stages themselves (not timed): the raw rows appended in ten waves as
fetch appends them, then one run of the three stages. Timed: the stages after the increment, the
stages again with nothing new, and the same three stages over a second lakehouse holding the same
101k raw rows from the start (the full rebuild). Both lakehouses must end with the same tables.
The stages first run once on 2k other rows and once more after 1% more of them (not timed), so
the JVM and the Python workers are warm, and both the paths timed (a full run, an increment)
have run once before.
"""

from __future__ import annotations

import argparse
import json
import time

import pytest
from helpers.histories import append_in_waves, history_rows, more_rows, raw_frame

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.stages import dedup, export, filter
from commitpack.schemas.gold import COMMITPACK, COMMITPACKFT, COMMITPACKFT_DECISIONS, COMMITPACKFT_FUNNEL

pytestmark = pytest.mark.benchmark
STAGES = (filter, dedup, export)


def downstream(spark, lakehouse, cfg) -> tuple[float, dict]:
    """Seconds for filter, dedup and export, and each stage's seconds."""
    seconds = {}
    start = time.perf_counter()
    for stage in STAGES:
        begin = time.perf_counter()
        stage.run(spark, cfg, lakehouse, argparse.Namespace())
        seconds[stage.COMMAND] = time.perf_counter() - begin
    return time.perf_counter() - start, seconds


def shown(total: float, seconds: dict) -> str:
    return f"{total:.1f} s  (" + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()) + ")"


def test_increment_vs_full_rebuild(spark, tmp_path, report, bench_scale):
    n = int(100_000 * bench_scale)
    histories, rows = history_rows(n)
    new = more_rows(histories, n // 100)

    def config(name):
        return load_settings(overrides=[f"export.output={tmp_path / name}"])

    warm = Lakehouse(spark, str(tmp_path / "warm"))
    warm_histories, warm_rows = history_rows(2_000, seed=9)
    append_in_waves(spark, warm, warm_rows, tmp_path / "warm-raw", 2)
    downstream(spark, warm, config("warm-export"))
    warm.append(COMMITPACK, raw_frame(spark, more_rows(warm_histories, 20), tmp_path / "warm-increment.parquet"))
    downstream(spark, warm, config("warm-export"))

    lakehouse = Lakehouse(spark, str(tmp_path / "lakehouse"))
    append_in_waves(spark, lakehouse, rows, tmp_path / "raw", 10)
    cfg = config("export")
    first = downstream(spark, lakehouse, cfg)
    lakehouse.append(COMMITPACK, raw_frame(spark, new, tmp_path / "increment.parquet"))
    increment = downstream(spark, lakehouse, cfg)
    nothing = downstream(spark, lakehouse, cfg)

    rebuilt = Lakehouse(spark, str(tmp_path / "rebuilt"))
    append_in_waves(spark, rebuilt, rows + new, tmp_path / "raw-all", 10)
    full = downstream(spark, rebuilt, config("rebuilt-export"))

    kept = lakehouse.read(COMMITPACKFT).count()
    report(
        "incremental filter + dedup + export",
        [
            ("raw rows", f"{n:,} + {len(new):,} new ({sum(r['old_size'] + r['new_size'] for r in rows) / 1e6:.0f} MB)"),
            ("CommitPackFT rows", f"{kept:,}"),
            ("first run over the lakehouse", shown(*first)),
            ("increment (1% new raw rows)", shown(*increment)),
            ("increment with no new rows", shown(*nothing)),
            ("full rebuild over the same rows", shown(*full)),
            ("ratio", f"{increment[0] / full[0]:.1%} of the full rebuild (goal <= 10%)"),
        ],
    )
    for spec in (COMMITPACKFT_DECISIONS, COMMITPACKFT_FUNNEL, COMMITPACKFT):
        ours, theirs = (
            sorted(
                json.dumps(r.asDict(), default=str)
                for r in lh.read(spec).drop("old_contents", "new_contents").collect()
            )
            for lh in (lakehouse, rebuilt)
        )
        assert ours == theirs, spec.name
