"""Read each indexed commit's file before and after, and its diff, into the raw CommitPack table.

Only the bytes the table needs travel: for each work unit (at most ``fetch.batch_rows`` rows of one
repository) exactly the blobs its rows name, in one request by object id, the way git fetches the
missing objects of a partial clone; rows known by path only first look their blob ids up in the
repository's commits and trees. A repository with many rows (a large fork network) is read by
several tasks at once; within a task many units are in flight. With ``fetch.commitpackft_first``,
rows that a CommitPackFT rule on metadata alone drops are stored as ``pruned:<rule>`` and nothing
travels for them.

Every row keeps a status; rows whose fetch failed for a transient reason (or that were pruned
and no longer are) are fetched again by the next run. Work is committed in waves, so a crash
costs at most the wave in flight, and a rerun completes it without duplicates.
"""

from __future__ import annotations

import math
import sys

from pyspark.sql import Column, DataFrame, Observation, Window
from pyspark.sql import functions as F

from commitpack.jobs.rules import first_failure
from commitpack.jobs.rules.commitpackft import clean_subject, metadata_rules
from commitpack.jobs.runtime.command import add_git_options, stage_main
from commitpack.jobs.runtime.report import StageSummary, progress
from commitpack.schemas.executors import FETCHED, TRANSFER_STATS
from commitpack.schemas.gold import COMMITPACK
from commitpack.schemas.settings import FetchSettings, FilterSettings, GitSettings, Settings
from commitpack.schemas.silver import COMMIT_INDEX
from commitpack.schemas.vocabulary import FETCH_STATUSES, FILTER_METADATA_REASONS, RETRIED
from commitpack.udfs.contents import fetch_partition

COMMAND = "fetch"
HELP = "read file contents and diffs from git into the raw CommitPack table"
PRUNED = "pruned:"


def add_arguments(parser, within_pipeline: bool = False) -> None:
    if not within_pipeline:
        add_git_options(parser)


# ----------------------------------------------------------------------------- transforms


def pruning_rule(section: FilterSettings) -> Column:
    """The first CommitPackFT rule on metadata alone (subject, file name, commit) that drops an
    indexed commit, or null: the same columns the filter evaluates, on the index's columns."""
    names = set(FILTER_METADATA_REASONS) - set(section.disable)
    rules = [(name, keep) for name, keep in metadata_rules(section) if name in names]
    return first_failure(rules)


def with_metadata(index: DataFrame) -> DataFrame:
    """The columns the metadata rules read, named as the filter names them."""
    return (
        index.withColumn("raw_subject", F.col("subject"))
        .withColumn("new_file", F.col("new_path"))
        .withColumn("subject", clean_subject(F.col("subject")))
    )


def pending(index: DataFrame, fetched: DataFrame | None, cfg: Settings) -> DataFrame:
    """Indexed commits never fetched (``retry`` false), or whose last fetch failed in a way worth
    retrying, or that were pruned by a rule that would not prune them now (``retry`` true); each
    with the rule that prunes it now (``pruned``, null unless ``fetch.commitpackft_first``)."""
    rule = pruning_rule(cfg.filter) if cfg.fetch.commitpackft_first else F.lit(None).cast("string")
    rows = with_metadata(index).withColumn("pruned", rule)
    if fetched is None:
        return rows.withColumn("retry", F.lit(False))
    last = fetched.select("commit", F.col("status").alias("last_status"))
    again = F.col("last_status").isin(*RETRIED) | (
        F.col("last_status").startswith(PRUNED)
        & ~F.coalesce(F.col("last_status") == F.concat(F.lit(PRUNED), "pruned"), F.lit(False))
    )
    return (
        rows.join(last, "commit", "left")
        .where(F.col("last_status").isNull() | again)
        .withColumn("retry", F.col("last_status").isNotNull())
        .drop("last_status")
    )


def work_units(rows: DataFrame, batch_rows: int, partitions: int) -> DataFrame:
    """Each row's work unit (``unit``: at most ``batch_rows`` rows of one repository, consecutive
    versions of a file together, as they share blobs) and its task (``slot``): units dealt to the
    tasks largest first, so tasks get even shares of rows and the units of one large repository
    (a large fork network) go to different tasks, read at once."""
    order = Window.partitionBy("repo").orderBy("new_path", "committed_at", "commit")
    index = F.floor((F.row_number().over(order) - 1) / F.lit(batch_rows)).cast("string")
    with_units = rows.withColumn("unit", F.concat_ws("#", "repo", index))
    # One row per unit: a single task deals them (a wave holds at most fetch.wave_rows rows).
    dealt = Window.orderBy(F.desc("unit_rows"), "unit")
    slots = (
        with_units.groupBy("unit")
        .agg(F.count(F.lit(1)).alias("unit_rows"))
        .select("unit", F.pmod(F.row_number().over(dealt) - 1, F.lit(partitions)).alias("slot"))
    )
    return with_units.join(slots, "unit")


def fetch_input(rows: DataFrame) -> DataFrame:
    """The columns the executors read, one row per commit."""
    return rows.select(
        "commit", "repo", "unit", "slot", "retry", "pruned", "old_path", "new_path", "old_blob", "new_blob", "old_mode",
        "new_mode", "lang", F.array_join("repos", ",").alias("repos"), "license",
        F.col("old_path").alias("old_file"), F.col("new_path").alias("new_file"),
        F.col("raw_subject").alias("subject"), "message", "committed_at",
    )  # fmt: skip


def placed(inputs: DataFrame, partitions: int) -> DataFrame:
    """``inputs`` in ``partitions`` tasks, each unit in the task its slot names (a slot is a task's
    number, not a value hashed into one: two slots never share a task), in reading order."""
    return inputs.repartitionById(partitions, "slot").sortWithinPartitions("unit", "new_path", "committed_at", "commit")


def read_contents(inputs: DataFrame, git: GitSettings, settings: FetchSettings, partitions: int) -> DataFrame:
    """The unpruned rows read on the executors, each unit in the task its slot names."""
    return placed(inputs, partitions).mapInArrow(lambda batches: fetch_partition(batches, git, settings), FETCHED)


def pruned_rows(inputs: DataFrame) -> DataFrame:
    """Pruned rows as raw rows: their status names the rule; nothing was transferred for them."""
    missing = [f for f in FETCHED.fields if f.name not in inputs.columns and f.name not in ("status", "detail")]
    return inputs.select(
        *[c for c in inputs.columns if c in FETCHED.fieldNames()],
        F.concat(F.lit(PRUNED), "pruned").alias("status"),
        F.lit("fetch.commitpackft_first: a CommitPackFT rule on metadata alone drops it").alias("detail"),
        *[F.lit(None).cast(f.dataType).alias(f.name) for f in missing],
    ).select(*FETCHED.fieldNames())


# ----------------------------------------------------------------------------- the job

TRANSFER_FIELDS = TRANSFER_STATS.fieldNames()


def observed(rows: DataFrame) -> tuple[Observation, DataFrame]:
    """Rows with an observation counting their statuses and adding up their transfers as they
    are written (no second pass)."""
    observation = Observation("fetch")
    counts = [F.sum(F.when(F.col("status") == status, 1).otherwise(0)).alias(status) for status in FETCH_STATUSES]
    costs = [F.sum(F.col("transfer")[name]).alias(f"transfer.{name}") for name in TRANSFER_FIELDS]
    return observation, rows.observe(observation, *counts, *costs)


def write_wave(lakehouse, fetched: DataFrame, retry: bool) -> dict[str, int]:
    """New commits are appended in one pass (a rerun recomputes what is pending, so an append
    never repeats a row); retried ones (already in the table) are merged."""
    if not retry:
        observation, rows = observed(fetched)
        lakehouse.append(COMMITPACK, rows)
        return {k: int(v or 0) for k, v in observation.get.items() if v}
    # Materialized once: the merge must not run the transfers a second time.
    observation, rows = observed(fetched)
    rows = rows.localCheckpoint(eager=True)
    langs = sorted({(r.lang,) for r in rows.select("lang").distinct().collect()})
    lakehouse.merge(COMMITPACK, rows, update_when="true", partitions=langs)
    return {k: int(v or 0) for k, v in observation.get.items() if v}


def run(spark, cfg, lakehouse, args) -> StageSummary:
    summary = StageSummary(COMMAND)
    done = lakehouse.read(COMMITPACK) if lakehouse.exists(COMMITPACK) else None
    partitions = cfg.fetch.partitions or 4 * spark.sparkContext.defaultParallelism
    todo = pending(lakehouse.read(COMMIT_INDEX), done, cfg)
    inputs = fetch_input(work_units(todo, cfg.fetch.batch_rows, partitions)).localCheckpoint()
    sizes = inputs.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("unit").alias("units"),
        F.countDistinct("repo").alias("repos"),
        F.sum(F.col("retry").cast("int")).alias("retries"),
        F.sum(F.col("pruned").isNotNull().cast("int")).alias("pruned"),
    ).first()
    total = summary.rows_in = sizes.rows
    if not total:
        return summary.finish()
    waves = math.ceil(total / cfg.fetch.wave_rows)
    inputs = inputs.withColumn("wave", F.pmod(F.xxhash64("unit"), F.lit(waves)))
    summary.details["work units"] = (
        f"{sizes.units:,} units of at most {cfg.fetch.batch_rows:,} rows from {sizes.repos:,} repositories in "
        f"{partitions} tasks, {waves} wave(s), {sizes.retries or 0:,} retried rows"
    )
    if cfg.fetch.commitpackft_first:
        summary.details["commitpackft_first"] = f"{sizes.pruned or 0:,} rows pruned before any transfer"
    totals: dict[str, int] = {}
    kinds = [retry for retry, rows in ((False, total - (sizes.retries or 0)), (True, sizes.retries or 0)) if rows]
    for wave in range(waves):
        progress(COMMAND, f"wave {wave + 1}/{waves}: transferring and reading")
        written = 0
        for retry in kinds:
            batch = inputs.where((F.col("wave") == wave) & (F.col("retry") == retry))
            if waves > 1 and batch.isEmpty():  # one wave holds every row of each kind present
                continue
            fetched = read_contents(batch.where(F.col("pruned").isNull()), cfg.git, cfg.fetch, partitions)
            rows = fetched.unionByName(pruned_rows(batch.where(F.col("pruned").isNotNull())))
            counts = write_wave(lakehouse, rows, retry)
            for key, count in counts.items():
                totals[key] = totals.get(key, 0) + count
            written += sum(v for k, v in counts.items() if not k.startswith("transfer."))
        progress(COMMAND, f"wave {wave + 1}/{waves}: {written:,} rows written")
    costs = {k.removeprefix("transfer."): totals.pop(k) for k in list(totals) if k.startswith("transfer.")}
    summary.rows_out = totals.pop("ok", 0)
    summary.dropped = totals
    summary.details["transfers"] = (
        f"{costs.get('requests', 0):,} requests, {costs.get('received_bytes', 0) / 1e6:,.2f} MB received, "
        f"{costs.get('full_fetches', 0):,} full fetches (servers refusing fetch by id), "
        f"{costs.get('filter_refused', 0):,} servers ignoring filters"
    )
    return summary.finish()


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
