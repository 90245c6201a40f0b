"""Remove exact and near-duplicate changes from the rows the filter kept, and write CommitPackFT.

Duplicates are judged on the *change*, not the file: successive commits to one file share most
of their contents but not their changed lines. Exact duplicates share their normalized old and
new contents, or their changed lines and subject; near duplicates share a MinHash LSH band of
the change's word shingles and their shingle sets have an exact Jaccard similarity of at least
``threshold``. Both kinds of link feed one connected-components pass (large-star/small-star,
no collect); each cluster keeps its earliest commit (ties: the smallest sha), so the survivors
depend only on the input.
"""

from __future__ import annotations

import sys

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from commitpack.jobs.runtime.command import stage_main
from commitpack.jobs.runtime.report import StageSummary, progress
from commitpack.jobs.transforms import redaction
from commitpack.jobs.transforms.funnel import funnel, summarize
from commitpack.jobs.transforms.graph import connected_components
from commitpack.schemas.executors import MINHASH_BANDS
from commitpack.schemas.gold import COMMITPACK, COMMITPACKFT, COMMITPACKFT_DECISIONS, COMMITPACKFT_FUNNEL
from commitpack.schemas.settings import DedupSettings, MinHashSettings
from commitpack.udfs.minhash import band_batches, jaccard_udf

COMMAND = "dedup"
HELP = "remove exact and near-duplicate changes; write CommitPackFT"


def add_arguments(parser, within_pipeline: bool = False) -> None:
    pass


# ----------------------------------------------------------------------------- columns


def changed_lines(diff: Column) -> Column:
    """The added and removed lines of a unified diff (headers and context dropped)."""
    hunks = F.regexp_replace(F.coalesce(diff, F.lit("")), r"(?sm)\A.*?(?=^@@)", "")
    return F.array_join(F.filter(F.split(hunks, "\n"), lambda line: line.rlike(r"^[+-]")), "\n")


def normalized_text(text: Column) -> Column:
    return F.trim(F.regexp_replace(F.coalesce(text, F.lit("")), r"\s+", " "))


def exact_keys(rows: DataFrame) -> DataFrame:
    """Two keys per row: normalized old + new contents, and changed lines + subject."""
    return rows.select(
        "commit",
        F.sha2(
            F.concat_ws("\u0000", normalized_text(F.col("old_contents")), normalized_text(F.col("new_contents"))), 256
        ).alias("contents_key"),
        F.sha2(F.concat_ws("\u0000", F.lower(F.col("subject")), F.col("change")), 256).alias("change_key"),
    )


# ----------------------------------------------------------------------------- links


def star_edges(groups: DataFrame, key: str | list[str], member: str = "commit") -> DataFrame:
    """Every member of a group with more than one member is linked to the group's smallest member."""
    keys = [key] if isinstance(key, str) else key
    # Most keys (LSH bands above all) are unique: a counting pass drops them before the members
    # are gathered, which is far cheaper than gathering every group.
    shared = groups.groupBy(*keys).count().where(F.col("count") > 1).drop("count")
    return (
        groups.join(shared, keys, "left_semi")
        .groupBy(*keys)
        .agg(F.min(member).alias("src"), F.collect_set(member).alias("members"))
        .select("src", F.explode("members").alias("dst"))
        .where(F.col("src") != F.col("dst"))
    )


def exact_edges(keys: DataFrame) -> DataFrame:
    return star_edges(keys, "contents_key").unionByName(star_edges(keys, "change_key")).distinct()


def band_rows(texts: DataFrame, settings: MinHashSettings) -> DataFrame:
    """(id, bands) per row of (id, text): the row's MinHash LSH band keys."""
    return texts.mapInArrow(lambda batches: band_batches(batches, settings), MINHASH_BANDS)


def near_edges(texts: DataFrame, settings: MinHashSettings) -> DataFrame:
    """Rows of (id, text) sharing an LSH band, linked to the band's smallest row when the exact
    Jaccard similarity of their shingle sets is at least ``settings.threshold``: LSH proposes,
    the shingles decide, so a link never rests on a signature's estimate."""
    keys = band_rows(texts, settings).select("id", F.explode("bands").alias("key"))
    candidates = star_edges(keys, "key", member="id").distinct()
    similarity = jaccard_udf(settings)
    pairs = candidates.join(texts.select(F.col("id").alias("src"), F.col("text").alias("a")), "src").join(
        texts.select(F.col("id").alias("dst"), F.col("text").alias("b")), "dst"
    )
    return pairs.where(similarity("a", "b") >= F.lit(settings.threshold)).select("src", "dst")


def clusters(rows: DataFrame, edges: DataFrame, exact_members: DataFrame) -> DataFrame:
    """commit → cluster, cluster_size, and the dedup reason of every row but each cluster's first."""
    components = connected_components(edges).select(F.col("node").alias("commit"), F.col("component").alias("cluster"))
    by_cluster = Window.partitionBy("cluster")
    first = Window.partitionBy("cluster").orderBy(F.col("committed_at").asc_nulls_last(), "commit")
    return (
        rows.select("commit", "committed_at")
        .join(components, "commit", "left")
        .withColumn("cluster", F.coalesce("cluster", "commit"))
        .withColumn("cluster_size", F.count(F.lit(1)).over(by_cluster).cast("int"))
        .withColumn("rank", F.row_number().over(first))
        .join(exact_members.withColumn("exact", F.lit(True)), "commit", "left")
        .select(
            "commit",
            "cluster",
            "cluster_size",
            F.when(
                F.col("rank") > 1, F.when(F.col("exact"), F.lit("exact_duplicate")).otherwise(F.lit("near_duplicate"))
            ).alias("dedup_reason"),
        )
    )


def deduplicate(candidates: DataFrame, section: DedupSettings) -> DataFrame:
    """candidates (commit, committed_at, subject, old_contents, new_contents, diff) → commit,
    cluster, cluster_size, dedup_reason."""
    rows = candidates.withColumn("change", changed_lines(F.col("diff")))
    edges = rows.sparkSession.createDataFrame([], "src string, dst string")
    exact_members = rows.sparkSession.createDataFrame([], "commit string")
    if section.exact:
        exact = exact_edges(exact_keys(rows)).localCheckpoint()
        edges = edges.unionByName(exact)
        exact_members = (
            exact.select(F.col("src").alias("commit"))
            .unionByName(exact.select(F.col("dst").alias("commit")))
            .distinct()
        )
    if section.near:
        # Read twice (band keys, then the candidates' texts): computed once.
        texts = rows.select(
            F.col("commit").alias("id"), F.concat_ws("\n", "subject", "change").alias("text")
        ).localCheckpoint()
        edges = edges.unionByName(near_edges(texts, section.minhash))
    return clusters(rows, edges.localCheckpoint(), exact_members)


def apply_clusters(decisions: DataFrame, found: DataFrame) -> DataFrame:
    """Decisions with the filter's verdicts kept and dedup's written over any earlier dedup run's."""
    base = decisions.select(
        "commit",
        "lang",
        "repo",
        *[F.when(F.col("step") == COMMAND, None).otherwise(F.col(c)).alias(c) for c in ("step", "reason", "detail")],
        "subject",
        "message_lang",
        "message_lang_score",
        "tokens",
        "bytes",
        "redactions",
    )
    return base.join(found, "commit", "left").select(
        "commit",
        "lang",
        "repo",
        F.when(F.col("dedup_reason").isNotNull(), F.lit(COMMAND)).otherwise(F.col("step")).alias("step"),
        F.coalesce("reason", "dedup_reason").alias("reason"),
        "detail",
        "subject",
        "message_lang",
        "message_lang_score",
        "tokens",
        "bytes",
        "cluster",
        "cluster_size",
        "redactions",
    )


def commitpackft(decisions: DataFrame, raw: DataFrame) -> DataFrame:
    kept = decisions.where(F.col("reason").isNull()).select(
        "commit", "subject", "message_lang", "tokens", "cluster", "cluster_size", "redactions"
    )
    return kept.join(raw.drop("subject"), "commit").select(
        "commit",
        "lang",
        "old_file",
        "new_file",
        "old_contents",
        "new_contents",
        "subject",
        "message",
        "license",
        "repos",
        "committed_at",
        "message_lang",
        "tokens",
        "cluster",
        "cluster_size",
        "redactions",
    )


def run(spark, cfg, lakehouse, args) -> StageSummary:
    summary = StageSummary(COMMAND)
    decisions = lakehouse.read(COMMITPACKFT_DECISIONS)
    raw = lakehouse.read(COMMITPACK)
    passed = decisions.where(F.col("reason").isNull() | (F.col("step") == COMMAND))
    candidates = passed.select("commit", "subject").join(
        raw.select("commit", "committed_at", "old_contents", "new_contents", "diff"), "commit"
    )
    progress(COMMAND, "linking exact and near duplicates")
    found = deduplicate(candidates, cfg.dedup).localCheckpoint()
    summary.rows_in = found.count()
    # Materialized before the overwrite: the new decisions are computed from the current ones.
    lakehouse.replace(COMMITPACKFT_DECISIONS, apply_clusters(decisions, found).localCheckpoint())
    decisions = lakehouse.read(COMMITPACKFT_DECISIONS)
    # PII and secrets the filter found are replaced by placeholders (transforms.redaction).
    lakehouse.replace(COMMITPACKFT, redaction.redacted(commitpackft(decisions, raw), cfg.redact))
    lakehouse.replace(COMMITPACKFT_FUNNEL, funnel(decisions))
    summary.details["clusters with duplicates"] = (
        f"{found.where('cluster_size > 1').select('cluster').distinct().count():,}"
    )
    return summarize(summary, lakehouse.read(COMMITPACKFT_FUNNEL).collect(), (COMMAND,)).finish()


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
