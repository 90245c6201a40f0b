"""Fetch each indexed repository once and build the raw CommitPack table.

For every commit in the silver index: the changed file before and after, read from a bare
mirror on the executors (one per fork network, each repository fetched at most once per run,
reused across stages and runs), and its diff. Every row keeps a status; rows whose fetch
failed for a transient reason are fetched again by the next run. Work is committed in waves,
so a crash costs at most the wave in flight, and a rerun completes it without duplicates.
"""

from __future__ import annotations

import math
import sys

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from commitpack.jobs.runtime.command import add_git_options, stage_main
from commitpack.jobs.runtime.report import StageSummary, progress
from commitpack.jobs.transforms.graph import connected_components
from commitpack.schemas.executors import FETCHED
from commitpack.schemas.gold import COMMITPACK
from commitpack.schemas.settings import FetchSettings, GitSettings
from commitpack.schemas.silver import COMMIT_INDEX
from commitpack.schemas.vocabulary import FETCH_STATUSES, RETRIED
from commitpack.udfs.contents import fetch_partition

COMMAND = "fetch"
HELP = "read file contents and diffs from git into the raw CommitPack table"


def add_arguments(parser, within_pipeline: bool = False) -> None:
    if not within_pipeline:
        add_git_options(parser)


# ----------------------------------------------------------------------------- transforms


def pending(index: DataFrame, fetched: DataFrame | None) -> DataFrame:
    """Indexed commits never fetched (``retry`` false), or whose last fetch failed in a way worth
    retrying (``retry`` true)."""
    if fetched is None:
        return index.withColumn("retry", F.lit(False))
    last = fetched.select("commit", F.col("status").isin(*RETRIED).alias("retry"))
    return (
        index.join(last, "commit", "left")
        .where(F.coalesce("retry", F.lit(True)))
        .withColumn("retry", F.coalesce("retry", F.lit(False)))
    )


def fork_networks(rows: DataFrame) -> DataFrame:
    """repo → network: repositories that share a commit are one network, named by its smallest
    member; a repository sharing nothing is its own network."""
    edges = rows.where(F.size("repos") > 1).select(F.get("repos", 0).alias("src"), F.explode("repos").alias("dst"))
    if edges.isEmpty():  # no commit is shared: every repository is its own network
        return rows.select("repo", F.col("repo").alias("network")).distinct()
    components = connected_components(edges).select(F.col("node").alias("repo"), F.col("component").alias("network"))
    return (
        rows.select("repo")
        .distinct()
        .join(components, "repo", "left")
        .select("repo", F.coalesce("network", "repo").alias("network"))
    )


def fetch_input(rows: DataFrame, networks: DataFrame) -> DataFrame:
    """The columns the executors read, one row per commit, with its network."""
    return rows.join(networks, "repo").select(
        "commit",
        "repo",
        "network",
        "retry",
        "old_path",
        "new_path",
        "old_blob",
        "new_blob",
        "old_mode",
        "new_mode",
        "lang",
        F.array_join("repos", ",").alias("repos"),
        "license",
        F.col("old_path").alias("old_file"),
        F.col("new_path").alias("new_file"),
        "subject",
        "message",
        "committed_at",
    )


def read_contents(inputs: DataFrame, git: GitSettings, settings: FetchSettings, partitions: int) -> DataFrame:
    """One task reads whole networks, in order, so each network's mirror is opened once."""
    # Range partitioning balances rows across tasks and keeps every network in one of them.
    return (
        inputs.repartitionByRange(partitions, "network")
        .sortWithinPartitions("network", "repo", "commit")
        .mapInArrow(lambda batches: fetch_partition(batches, git, settings), FETCHED)
    )


# ----------------------------------------------------------------------------- the job


def status_counts(rows: DataFrame) -> tuple[Observation, DataFrame]:
    """Rows with an observation counting their statuses as they are written (no second pass)."""
    observation = Observation("fetch_statuses")
    counts = [F.sum(F.when(F.col("status") == status, 1).otherwise(0)).alias(status) for status in FETCH_STATUSES]
    return observation, rows.observe(observation, *counts)


def write_wave(lakehouse, fetched: DataFrame, retry: bool) -> dict[str, int]:
    """New commits are appended in one pass (a rerun recomputes what is pending, so an append
    never repeats a row); retried ones (already in the table) are merged."""
    if not retry:
        observation, observed = status_counts(fetched)
        lakehouse.append(COMMITPACK, observed)
        return {k: int(v or 0) for k, v in observation.get.items() if v}
    # Materialized once: the merge must not run the git reads a second time.
    fetched = fetched.localCheckpoint(eager=True)
    counts = {r.status: r["count"] for r in fetched.groupBy("status").count().collect()}
    langs = sorted({(r.lang,) for r in fetched.select("lang").distinct().collect()})
    lakehouse.merge(COMMITPACK, fetched, update_when="true", partitions=langs)
    return counts


def run(spark, cfg, lakehouse, args) -> StageSummary:
    summary = StageSummary(COMMAND)
    done = lakehouse.read(COMMITPACK) if lakehouse.exists(COMMITPACK) else None
    index = lakehouse.read(COMMIT_INDEX)
    todo = pending(index, done)
    inputs = fetch_input(todo, fork_networks(todo)).localCheckpoint()
    sizes = inputs.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("network").alias("networks"),
        F.sum(F.col("retry").cast("int")).alias("retries"),
    ).first()
    total = summary.rows_in = sizes.rows
    retries = sizes.retries or 0
    if not total:
        return summary.finish()
    partitions = cfg.fetch.partitions or 4 * spark.sparkContext.defaultParallelism
    waves = math.ceil(total / cfg.fetch.wave_rows)
    inputs = inputs.withColumn("wave", F.pmod(F.xxhash64("network"), F.lit(waves)))
    summary.details["networks"] = f"{sizes.networks:,} fork networks in {waves} wave(s), {retries:,} retried rows"
    statuses: dict[str, int] = {}
    kinds = [retry for retry, rows in ((False, total - retries), (True, retries)) if rows]
    for wave in range(waves):
        progress(COMMAND, f"wave {wave + 1}/{waves}: reading contents")
        written = 0
        for retry in kinds:
            batch = inputs.where((F.col("wave") == wave) & (F.col("retry") == retry)).drop("wave", "retry")
            if waves > 1 and batch.isEmpty():  # one wave holds every row of each kind present
                continue
            counts = write_wave(lakehouse, read_contents(batch, cfg.git, cfg.fetch, partitions), retry)
            for status, count in counts.items():
                statuses[status] = statuses.get(status, 0) + count
            written += sum(counts.values())
        progress(COMMAND, f"wave {wave + 1}/{waves}: {written:,} rows written")
    summary.rows_out = statuses.pop("ok", 0)
    summary.dropped = statuses
    return summary.finish()


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
