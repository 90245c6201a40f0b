"""filter, dedup and export run increment by increment end where one run over all their inputs
ends, table for table: the sample's raw rows arrive in random increments, with a late-arriving
earlier duplicate, a fetch that fails and is retried, and an increment with no new rows. The
increments run as the CLI runs a stage (``command.run_stage``), so ``meta.stage_runs`` records
each run's counts, which must be exactly those of the rows that run decided."""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from commitpack.jobs.runtime.command import run_stage as run_recorded
from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.stages import dedup, export, filter
from commitpack.schemas.gold import (
    COMMITPACK,
    COMMITPACKFT,
    COMMITPACKFT_CANDIDATES,
    COMMITPACKFT_DECISIONS,
    COMMITPACKFT_FUNNEL,
    DEDUP_BANDS,
    DEDUP_KEYS,
)
from commitpack.schemas.meta import STAGE_RUNS

COMPARED = (COMMITPACKFT_DECISIONS, COMMITPACKFT_CANDIDATES, COMMITPACKFT_FUNNEL, COMMITPACKFT, DEDUP_KEYS, DEDUP_BANDS)
# A fetch that failed leaves no contents; the next fetch reads them (fetch's merge of a retried row).
FAILED = {
    "status": "fetch_failed",
    "detail": "could not fetch: connection reset",
    **dict.fromkeys(("old_contents", "new_contents", "old_encoding", "new_encoding", "old_size", "new_size", "diff")),
    **dict.fromkeys(("lines_added", "lines_removed", "hunks")),
}


def table(lakehouse: Lakehouse, spec) -> list[str]:
    return sorted(json.dumps(r.asDict(), default=str) for r in lakehouse.read(spec).select(*spec.columns).collect())


def exported(out: Path) -> dict:
    """Every exported row per format and language, and the card's tables (its header names releases)."""
    import pyarrow.parquet as pq

    rows = {}
    for path in sorted((out / "data").rglob("*.jsonl")):
        rows.setdefault(("jsonl", path.parts[-3]), []).extend(path.read_text().splitlines())
    for path in sorted((out / "views").rglob("*.jsonl")):
        rows.setdefault((path.parts[-4], path.parts[-3]), []).extend(path.read_text().splitlines())
    for path in sorted((out / "parquet").rglob("*.parquet")):
        rows.setdefault(("parquet", path.parts[-3]), []).extend(
            json.dumps(r, sort_keys=True) for r in pq.read_table(path).to_pylist()
        )
    card = (out / "README.md").read_text()
    return {"rows": {k: sorted(v) for k, v in rows.items()}, "card": card[card.index("# CommitPackFT") :]}


@pytest.fixture(scope="module")
def sample_rows(fetched, expected):
    lakehouse, cfg, _ = fetched
    commits = {k: e["sha"] for k, e in expected["commits"].items()}
    raw = lakehouse.read(COMMITPACK).localCheckpoint()
    return raw, commits, cfg


def test_increments_end_where_one_run_ends(spark, sample_rows, sample_cfg, finetuned, tmp_path):
    raw, commits, _ = sample_rows
    # One run over all the raw rows, under the same settings: the session's (``finetuned``).
    once, _, _, once_export = finetuned

    late = {commits["tk-strip"], commits["tk-count"]}
    early = {commits["app-strip"], commits["app-count"]}
    kept = sorted(r.commit for r in once.read(COMMITPACKFT).select("commit").collect())
    retried = next(sha for sha in kept if sha not in late)
    shas = sorted(r.commit for r in raw.select("commit").collect())
    rng = random.Random(13)
    rng.shuffle(shas)
    # Three increments of new rows, then arranged: each duplicate's earlier original arrives after
    # it (the survivor changes), a kept row's fetch fails first and is retried by the next run,
    # and the third run finds nothing new.
    rounds = [shas[i::3] for i in range(3)]
    for group in rounds:
        for sha in late | early | {retried}:
            if sha in group:
                group.remove(sha)
    rounds[0] += sorted(early) + [retried]
    rounds[2] += sorted(late)
    rounds.insert(2, [])

    stepwise = Lakehouse(spark, str(tmp_path / "stepwise"))
    cfg = sample_cfg(
        tmp_path / "mirrors",
        f"export.output={tmp_path / 'stepwise-export'}",
        f"lakehouse={tmp_path / 'stepwise'}",
        "quality.enabled=false",
    )
    seen = []
    for number, group in enumerate(rounds):
        new = raw.where(F.col("commit").isin(group))
        if number == 0:
            new = new.withColumns(
                {c: F.when(F.col("commit") == retried, v).otherwise(F.col(c)) for c, v in FAILED.items()}
            )
        if group:
            stepwise.append(COMMITPACK, new)
        if number == 1:
            stepwise.merge(COMMITPACK, raw.where(F.col("commit") == retried), update_when="true")
        for module in (filter, dedup, export):
            assert run_recorded(module, argparse.Namespace(), cfg) == 1
        decisions = {r.commit: r for r in stepwise.read(COMMITPACKFT_DECISIONS).collect()}
        survivors = {r.commit for r in stepwise.read(COMMITPACKFT).select("commit").collect()}
        decided = set(group) | ({retried} if number == 1 else set())
        seen.append((decisions, survivors, decided))
    runs = stepwise.read(STAGE_RUNS).orderBy("started_at").collect()
    assert [r.stage for r in runs] == ["filter", "dedup", "export"] * len(rounds)
    summaries = [{r.stage: r for r in runs[i : i + 3]} for i in range(0, len(runs), 3)]

    # meta.stage_runs is exact: each filter run counts the rows it decided, by their decisions.
    for (decisions, _, decided), summary in zip(seen, summaries, strict=True):
        filtered = summary["filter"]
        dropped = Counter(
            decisions[c].reason for c in decided if decisions[c].step in ("fetch", "filter") and decisions[c].reason
        )
        assert (filtered.rows_in, dict(filtered.dropped)) == (len(decided), dict(dropped))
        assert filtered.rows_out == len(decided) - sum(dropped.values())
        for stage in ("dedup", "export"):
            assert summary[stage].rows_out + sum(summary[stage].dropped.values()) == summary[stage].rows_in
    assert sum(s["filter"].rows_in for s in summaries) == raw.count() + 1  # the retried row twice

    # The cases happened: the duplicates survived until their originals came, the retried row
    # was dropped for its fetch and then kept, the empty increment decided nothing.
    assert early <= seen[1][1] and not late & seen[1][1]
    assert late <= seen[-1][1] and not early & seen[-1][1]
    assert seen[0][0][retried].reason == "fetch:fetch_failed" and seen[1][0][retried].reason is None
    empty = summaries[2]
    assert [empty[stage].rows_in for stage in ("filter", "dedup", "export")] == [0, 0, 0]
    assert all("unchanged" in empty[stage].details["mode"] for stage in ("filter", "dedup", "export"))
    assert summaries[1]["filter"].details["mode"].startswith("incremental")

    for spec in COMPARED:
        assert table(stepwise, spec) == table(once, spec), spec.name
    assert exported(tmp_path / "stepwise-export") == exported(once_export)


@pytest.mark.parametrize("near", [True, False], ids=["exact-and-near", "exact-only"])
def test_candidates_that_leave_or_return_end_where_one_run_ends(
    spark, run_stage, sample_rows, sample_cfg, tmp_path, near
):
    """Candidates leave and come back, under both kinds of dedup. A second run has two candidates
    leave (their re-fetch fails, so the filter drops them): an original whose later duplicate then
    survives, and a survivor alone in its cluster, whose change text no other candidate has; a
    third survivor's raw row is deleted. A third run brings that row back, its change text new to
    the bands again. The tables end as one run over the final raw rows ends them."""
    raw, commits, _ = sample_rows
    cfg = sample_cfg(tmp_path / "mirrors", "quality.enabled=false", f"dedup.near={str(near).lower()}")
    once = Lakehouse(spark, str(tmp_path / "once"))
    stepwise = Lakehouse(spark, str(tmp_path / "stepwise"))

    def run_both(lakehouse):
        for module in (filter, dedup):
            run_stage(module, spark, lakehouse, cfg)

    stepwise.append(COMMITPACK, raw)
    run_both(stepwise)
    keys = stepwise.read(DEDUP_KEYS)
    alone = keys.groupBy("text_key").count().where("count = 1").join(keys, "text_key").select("commit", "cluster")
    lonely, returning = sorted(r.commit for r in alone.where(F.col("commit") == F.col("cluster")).collect())[:2]
    original, duplicate = commits["tk-strip"], commits["app-strip"]
    leaving = [original, lonely]
    assert {original} == {
        r.commit for r in stepwise.read(COMMITPACKFT).where(F.col("commit").isin(original, duplicate)).collect()
    }

    gone = F.col("commit").isin(leaving)
    final = raw.withColumns({c: F.when(gone, v).otherwise(F.col(c)) for c, v in FAILED.items()})
    stepwise.merge(COMMITPACK, final.where(gone), update_when="true")
    stepwise.delete(COMMITPACK, raw.where(F.col("commit") == returning).select("commit"))
    run_both(stepwise)
    assert returning not in {r.commit for r in stepwise.read(DEDUP_KEYS).select("commit").collect()}
    stepwise.append(COMMITPACK, raw.where(F.col("commit") == returning))
    run_both(stepwise)
    once.append(COMMITPACK, final)
    run_both(once)

    survivors = {r.commit for r in stepwise.read(COMMITPACKFT).select("commit").collect()}
    assert {duplicate, returning} <= survivors and not set(leaving) & survivors
    for spec in COMPARED:
        assert table(stepwise, spec) == table(once, spec), spec.name


def test_another_configuration_redoes_every_row_even_after_a_run_cut_off_under_it(
    spark, run_stage, sample_rows, sample_cfg, tmp_path, monkeypatch
):
    """A changed filter or dedup configuration makes the stage redo every row, and its summary
    says so. A filter run under another configuration that is cut off after writing its decisions
    (before it records what it read) leaves no record behind, so the next run under the first
    configuration redoes every row too, instead of trusting decisions made under the other."""
    raw, _, _ = sample_rows
    first = sample_cfg(tmp_path / "mirrors", "quality.enabled=false")
    other = sample_cfg(tmp_path / "mirrors", "quality.enabled=false", "filter.disable=[subject_not_capitalized]")
    unlike = sample_cfg(
        tmp_path / "mirrors", "quality.enabled=false", "filter.disable=[subject_not_capitalized]", "dedup.near=false"
    )
    lakehouse = Lakehouse(spark, str(tmp_path / "lakehouse"))
    lakehouse.append(COMMITPACK, raw)
    for module in (filter, dedup):
        run_stage(module, spark, lakehouse, first)

    with monkeypatch.context() as patch:
        patch.setattr(Lakehouse, "record_watermarks", lambda *args, **kwargs: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            run_stage(filter, spark, lakehouse, other)
    made_under_other = filter.configuration_fingerprint(other, filter.evaluation_grams(other)[0])
    # The cut-off run did write its decisions.
    assert {r.filter_fingerprint for r in lakehouse.read(COMMITPACKFT_DECISIONS).collect()} == {made_under_other}
    again = run_stage(filter, spark, lakehouse, first)
    assert again.details["mode"] == "full: no record of the configuration the decisions were made under"
    changed = run_stage(filter, spark, lakehouse, other)
    assert changed.details["mode"].startswith("full: the filter configuration changed (")
    deduped = run_stage(dedup, spark, lakehouse, unlike)
    assert deduped.details["mode"].startswith("full: the dedup settings changed (")

    # One run from scratch under the last settings (``other``'s filter, ``unlike``'s dedup).
    reference = Lakehouse(spark, str(tmp_path / "reference"))
    reference.append(COMMITPACK, raw)
    for module in (filter, dedup):
        run_stage(module, spark, reference, unlike)
    for spec in COMPARED:
        assert table(lakehouse, spec) == table(reference, spec), spec.name
