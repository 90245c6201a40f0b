"""Remove exact and near-duplicate changes from the filter's candidates, and write CommitPackFT.

Duplicates are judged on the *change*, not the file: successive commits to one file share most
of their contents but not their changed lines. Two candidates are linked when they share their
normalized old and new contents or their changed lines and subject (exact duplicates), or their
change texts (subject and changed lines) are equal or share a MinHash LSH band and have an exact
shingle Jaccard similarity of at least ``threshold`` (near duplicates). A cluster is a connected
component of the links (``transforms.graph``), named by its smallest commit; each
keeps its earliest commit (ties: the smallest sha), so the survivors depend only on the input.

Incremental: ``gold.dedup_keys`` holds every candidate's exact keys, change-text key and cluster,
``gold.dedup_bands`` every distinct change text with its band keys. A run reads the candidates'
change feed since the version it last read: new candidates are linked against the existing ones
and each other, so clusters grow and merge, and every cluster touched chooses its survivor again
(an earlier duplicate arriving late replaces the old survivor). A candidate that left (the filter
dropped it) or changed takes its cluster apart: the cluster's other members are linked again as
if new. The links are a function of the set of candidates alone, so any sequence of runs ends
where one run over the same candidates does. Other dedup settings than the state's rebuild it.

gold.commitpackft's rows have the PII and secrets the filter found in them replaced by
placeholders (``transforms.redaction``).
"""

from __future__ import annotations

import sys

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from commitpack.jobs.runtime.command import stage_main
from commitpack.jobs.runtime.lakehouse import side_by_side
from commitpack.jobs.runtime.report import StageSummary, progress
from commitpack.jobs.stages.filter import flagged
from commitpack.jobs.transforms import redaction
from commitpack.jobs.transforms.changes import latest, other_value
from commitpack.jobs.transforms.funnel import funnel, funnel_changes, kept_per_language, kept_redactions, with_changes
from commitpack.jobs.transforms.graph import connected_components
from commitpack.schemas.executors import MINHASH_BANDS
from commitpack.schemas.gold import (
    COMMITPACKFT,
    COMMITPACKFT_CANDIDATES,
    COMMITPACKFT_DECISIONS,
    COMMITPACKFT_FUNNEL,
    DEDUP_BANDS,
    DEDUP_KEYS,
)
from commitpack.schemas.settings import DedupSettings, MinHashSettings, RedactSettings, fingerprint
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


def change_rows(candidates: DataFrame) -> DataFrame:
    """candidates (commit, committed_at, subject, old_contents, new_contents, diff) → commit,
    committed_at, contents_key (normalized old + new contents), change_key (lower-cased subject
    and changed lines), text (subject and changed lines, what MinHash reads) and text_key."""
    change = changed_lines(F.col("diff"))
    text = F.concat_ws("\n", "subject", change)
    return candidates.select(
        "commit",
        "committed_at",
        F.sha2(
            F.concat_ws("\u0000", normalized_text(F.col("old_contents")), normalized_text(F.col("new_contents"))), 256
        ).alias("contents_key"),
        F.sha2(F.concat_ws("\u0000", F.lower(F.col("subject")), change), 256).alias("change_key"),
        F.sha2(text, 256).alias("text_key"),
        text.alias("text"),
    )


# ----------------------------------------------------------------------------- similar texts


def band_rows(texts: DataFrame, settings: MinHashSettings) -> DataFrame:
    """(id, bands) per row of (id, text): the row's MinHash LSH band keys."""
    return texts.mapInArrow(lambda batches: band_batches(batches, settings), MINHASH_BANDS)


def similar_pairs(new: DataFrame, known: DataFrame, settings: MinHashSettings) -> DataFrame:
    """Pairs (a, b) of texts, ``a`` one of ``new`` and ``b`` one of ``new`` or ``known`` (both
    text_key, text, bands), that share an LSH band and whose shingle sets have an exact Jaccard
    similarity of at least ``settings.threshold``: LSH proposes, the shingles decide, so a link
    never rests on a signature's estimate. A pair within ``new`` comes once, with a < b."""
    mine = new.select(F.col("text_key").alias("a"), F.explode("bands").alias("band"))
    theirs = known.select(F.col("text_key").alias("b"), F.explode("bands").alias("band")).join(
        mine.select("band").distinct(), "band", "left_semi"
    )
    proposed = (
        mine.join(mine.withColumnRenamed("a", "b"), "band")
        .where(F.col("a") < F.col("b"))
        .unionByName(mine.join(theirs, "band"))
        .select("a", "b")
        .distinct()
    )
    texts = new.select("text_key", "text").unionByName(
        known.select("text_key", "text").join(proposed.select(F.col("b").alias("text_key")), "text_key", "left_semi")
    )
    similarity = jaccard_udf(settings)
    return (
        proposed.join(texts.select(F.col("text_key").alias("a"), F.col("text").alias("text_a")), "a")
        .join(texts.select(F.col("text_key").alias("b"), F.col("text").alias("text_b")), "b")
        .where(similarity("text_a", "text_b") >= F.lit(settings.threshold))
        .select("a", "b")
    )


def near_edges(texts: DataFrame, settings: MinHashSettings) -> DataFrame:
    """(src, dst) for every pair of rows of (id, text) sharing an LSH band with a Jaccard
    similarity of at least ``settings.threshold``."""
    banded = texts.select(F.col("id").alias("text_key"), "text").join(
        band_rows(texts, settings).withColumnRenamed("id", "text_key"), "text_key"
    )
    none = banded.limit(0)
    return similar_pairs(banded, none, settings).select(F.col("a").alias("src"), F.col("b").alias("dst"))


# ----------------------------------------------------------------------------- clusters

# Graph nodes: (kind, id), so that a component's smallest node is its smallest commit.
COMMIT, TEXT, CONTENTS, CHANGE = 0, 1, 2, 3
HUBS = {TEXT: "text_key", CONTENTS: "contents_key", CHANGE: "change_key"}
KEY_COLUMNS = ("commit", "committed_at", "contents_key", "change_key", "text_key")


def node(kind: int, column: str | Column) -> Column:
    return F.struct(F.lit(kind).alias("kind"), (F.col(column) if isinstance(column, str) else column).alias("id"))


def link(
    state: DataFrame, texts: DataFrame, added: DataFrame, removed: DataFrame, section: DedupSettings
) -> tuple[DataFrame, DataFrame]:
    """The clusters after ``added`` candidates (``change_rows``) join and ``removed`` commits
    leave the candidates ``state`` (gold.dedup_keys) holds, whose change texts ``texts``
    (gold.dedup_bands) holds. Returns every candidate whose cluster was computed again (the added
    ones, the other members of the clusters ``removed`` left, the members of the clusters they
    joined), as gold.dedup_keys rows, and the added texts ``texts`` lacks, as gold.dedup_bands
    rows. Clusters nothing touched keep their rows in ``state``. The results are read while the
    tables are written, so ``state`` and ``texts`` come materialized, not as Delta reads."""
    # A leaving candidate takes its cluster apart: its other members are linked again as if new.
    left = state.join(removed, "commit", "left_semi").select("cluster").distinct()
    again = (
        state.join(left, "cluster", "left_semi")
        .join(removed, "commit", "left_anti")
        .join(texts.select("text_key", "text"), "text_key")
    )
    rest = state.join(left, "cluster", "left_anti")
    new = added.select(*KEY_COLUMNS, "text").unionByName(again.select(*KEY_COLUMNS, "text")).localCheckpoint()
    hubs = [kind for kind in (TEXT,) if section.near] + [kind for kind in (CONTENTS, CHANGE) if section.exact]

    unseen = new.select("text_key", "text").dropDuplicates(["text_key"])
    unseen = unseen.join(rest.select("text_key"), "text_key", "left_anti")
    if section.near:
        unseen = unseen.join(
            band_rows(unseen.select(F.col("text_key").alias("id"), "text"), section.minhash).withColumnRenamed(
                "id", "text_key"
            ),
            "text_key",
        ).localCheckpoint()
        known = texts.join(rest.select("text_key").distinct(), "text_key", "left_semi")
        pairs = similar_pairs(unseen, known, section.minhash).localCheckpoint()
    else:
        unseen = unseen.withColumn("bands", F.array().cast(DEDUP_BANDS.schema["bands"].dataType))
        pairs = None

    edges = [new.select(node(COMMIT, "commit").alias("src"), node(kind, HUBS[kind]).alias("dst")) for kind in hubs]
    # A key a cluster of ``rest`` holds too links its hub to that cluster (by the cluster's name).
    linked = {kind: new.select(F.col(HUBS[kind]).alias("key")) for kind in hubs}
    if pairs is not None:
        edges.append(pairs.select(node(TEXT, "a").alias("src"), node(TEXT, "b").alias("dst")))
        linked[TEXT] = linked[TEXT].unionByName(pairs.select(F.col("b").alias("key")))
    for kind, keys in linked.items():
        edges.append(
            rest.select(F.col(HUBS[kind]).alias("key"), "cluster")
            .join(keys.distinct(), "key", "left_semi")
            .select(node(kind, "key").alias("src"), node(COMMIT, "cluster").alias("dst"))
            .distinct()
        )
    union = edges[0] if edges else None
    for more in edges[1:]:
        union = union.unionByName(more)
    components = (
        connected_components(union)
        .where(F.col("node.kind") == COMMIT)
        .select(F.col("node.id").alias("name"), F.col("component.id").alias("cluster"))
        if union is not None
        else new.sparkSession.createDataFrame([], "name string, cluster string")
    )
    members = (
        new.select(*KEY_COLUMNS)
        .join(components.withColumnRenamed("name", "commit"), "commit", "left")
        .withColumn("cluster", F.coalesce("cluster", "commit"))
        .unionByName(rest.select(*KEY_COLUMNS, F.col("cluster").alias("name")).join(components, "name").drop("name"))
    )
    return members, unseen.select(*DEDUP_BANDS.columns)


def verdicts(members: DataFrame, section: DedupSettings) -> DataFrame:
    """Whole clusters (commit, committed_at, contents_key, change_key, cluster) → commit,
    cluster, cluster_size and the dedup reason of every member but the cluster's survivor, its
    earliest commit (ties: the smallest sha). A duplicate is exact when it shares an exact key
    with another member."""
    by_cluster = Window.partitionBy("cluster")
    first = by_cluster.orderBy(F.col("committed_at").asc_nulls_last(), "commit")
    exact = F.lit(False)
    if section.exact:
        exact = (F.count(F.lit(1)).over(Window.partitionBy("cluster", "contents_key")) > 1) | (
            F.count(F.lit(1)).over(Window.partitionBy("cluster", "change_key")) > 1
        )
    return members.select(
        "commit",
        "cluster",
        F.count(F.lit(1)).over(by_cluster).cast("int").alias("cluster_size"),
        F.when(
            F.row_number().over(first) > 1,
            F.when(exact, F.lit("exact_duplicate")).otherwise(F.lit("near_duplicate")),
        ).alias("dedup_reason"),
    )


def deduplicate(candidates: DataFrame, section: DedupSettings) -> DataFrame:
    """candidates (commit, committed_at, subject, old_contents, new_contents, diff) → commit,
    cluster, cluster_size, dedup_reason, from scratch."""
    spark = candidates.sparkSession
    state = spark.createDataFrame([], DEDUP_KEYS.schema)
    texts = spark.createDataFrame([], DEDUP_BANDS.schema)
    members, _ = link(state, texts, change_rows(candidates), spark.createDataFrame([], "commit string"), section)
    return verdicts(members, section)


# ----------------------------------------------------------------------------- the job

# A dedup verdict replaces the last one in a decision the filter kept.
DEDUP_VERDICT = {c: f"s.{c}" for c in ("step", "reason", "cluster", "cluster_size")}
DEDUP_VERDICT_CHANGED = (
    "(t.step IS NULL OR t.step = 'dedup') AND NOT (" + " AND ".join(f"t.{c} <=> s.{c}" for c in DEDUP_VERDICT) + ")"
)
# A CommitPackFT row given only its cluster (``_partial``) keeps its other columns.
_CLUSTER = ("cluster", "cluster_size")
COMMITPACKFT_ASSIGNMENTS = {
    c: f"s.{c}" if c in _CLUSTER else f"CASE WHEN s._partial THEN t.`{c}` ELSE s.`{c}` END"
    for c in COMMITPACKFT.columns
    if c not in COMMITPACKFT.keys
}
COMMITPACKFT_CHANGED = "NOT (" + " AND ".join(f"t.`{c}` <=> {e}" for c, e in COMMITPACKFT_ASSIGNMENTS.items()) + ")"


def commitpackft_rows(candidates: DataFrame, survivors: DataFrame, section: RedactSettings) -> DataFrame:
    """gold.commitpackft rows of the survivors (commit, cluster, cluster_size) in ``candidates``,
    the PII and secrets the filter found replaced by placeholders (transforms.redaction)."""
    return redaction.redacted(candidates.drop("diff").join(survivors.select("commit", *_CLUSTER), "commit"), section)


def update_funnel(lakehouse, *marks: tuple) -> None:
    """Bring the funnel up to the decisions' current version: by their change feed since the
    version it last read, or counted anew (first run, or a feed that does not reach back). Its
    watermark is recorded with the caller's ``marks`` (``record_watermarks``). The funnel is a
    few hundred rows whatever the data's size: it is written whole, an overwrite's cost instead
    of a merge's."""
    version = lakehouse.version(COMMITPACKFT_DECISIONS)
    mark = lakehouse.watermark(COMMITPACKFT_FUNNEL, COMMITPACKFT_DECISIONS)
    if mark != version:
        feed = lakehouse.changes(COMMITPACKFT_DECISIONS, mark, version) if mark is not None else None
        counted = (
            funnel(lakehouse.read_version(COMMITPACKFT_DECISIONS, version))
            if feed is None
            else with_changes(lakehouse.read(COMMITPACKFT_FUNNEL), funnel_changes(feed))
        )
        lakehouse.replace(COMMITPACKFT_FUNNEL, counted.localCheckpoint())  # read before it is overwritten
        marks = ((COMMITPACKFT_FUNNEL, COMMITPACKFT_DECISIONS, version), *marks)
    if marks:
        lakehouse.record_watermarks(*marks)


def candidate_changes(lakehouse, state: DataFrame | None, version: int, fingerprint: str):
    """(added candidates, removed commits, mode) since dedup last read the candidates, whose
    clusters ``state`` (gold.dedup_keys; None: none yet) holds: added is None when every candidate
    is to be linked into an empty state, and empty when nothing changed."""
    if state is None:
        return None, None, "full: the first run"
    stale = other_value(state, "dedup_fingerprint", fingerprint)
    if stale is not None:
        return None, None, f"full: the dedup settings changed ({stale} -> {fingerprint})"
    mark = lakehouse.watermark(COMMITPACKFT, COMMITPACKFT_CANDIDATES)
    if mark is None:
        return None, None, "full: no record of the candidates' version the clusters were made from"
    if mark == version:
        return [], None, f"incremental: the candidates are unchanged since version {version}"
    feed = lakehouse.changes(COMMITPACKFT_CANDIDATES, mark, version)
    if feed is None:
        return None, None, f"full: the candidates' change feed does not reach back to version {mark}"
    changed = latest(feed, COMMITPACKFT_CANDIDATES.keys).localCheckpoint()
    # A changed candidate already linked leaves and comes back (a crashed run may have linked a new one).
    removed = state.select("commit").join(changed, "commit", "left_semi").localCheckpoint()
    added = changed.where("_present").drop("_present")
    return added, removed, f"incremental: candidate versions {mark + 1}..{version}"


def run(spark, cfg, lakehouse, args) -> StageSummary:
    summary = StageSummary(COMMAND)
    section = cfg.dedup
    lakehouse.read(COMMITPACKFT_CANDIDATES)  # names the stage to run first when it is missing
    version = lakehouse.version(COMMITPACKFT_CANDIDATES)
    mark = fingerprint(section)
    # Read once: the linking joins it many times, and every Delta scan of a plan costs a listing
    # of the table's files; read before the writes below change it.
    state = lakehouse.read(DEDUP_KEYS).localCheckpoint() if lakehouse.exists(DEDUP_KEYS) else None
    added, removed, summary.details["mode"] = candidate_changes(lakehouse, state, version, mark)
    if isinstance(added, list):
        update_funnel(lakehouse)
        return summary.finish()
    candidates = lakehouse.read_version(COMMITPACKFT_CANDIDATES, version)
    full = added is None
    if full:
        added = candidates.localCheckpoint()
        state = spark.createDataFrame([], DEDUP_KEYS.schema)
        texts = spark.createDataFrame([], DEDUP_BANDS.schema)
        removed = spark.createDataFrame([], "commit string")
    else:
        texts = lakehouse.read(DEDUP_BANDS).localCheckpoint()  # as ``state``
    progress(COMMAND, f"linking exact and near duplicates ({summary.details['mode']})")
    members, unseen = link(state, texts, change_rows(added), removed, section)
    members = members.localCheckpoint()
    found = verdicts(members, section).localCheckpoint()
    keys = members.withColumn("dedup_fingerprint", F.lit(mark))
    survivors = found.where(F.col("dedup_reason").isNull())
    verdict = found.select(
        "commit",
        F.when(F.col("dedup_reason").isNotNull(), F.lit(COMMAND)).alias("step"),
        F.col("dedup_reason").alias("reason"),
        *_CLUSTER,
    )
    writes = {
        "decisions": lambda: lakehouse.update(
            COMMITPACKFT_DECISIONS, verdict, DEDUP_VERDICT, when=DEDUP_VERDICT_CHANGED
        )
    }
    if full:
        writes["keys"] = lambda: lakehouse.replace(DEDUP_KEYS, keys)
        writes["bands"] = lambda: lakehouse.replace(DEDUP_BANDS, unseen)
        writes["commitpackft"] = lambda: lakehouse.sync(
            COMMITPACKFT, commitpackft_rows(candidates, survivors, cfg.redact)
        )
    else:
        gone = removed.join(members, "commit", "left_anti").localCheckpoint()
        # Texts no candidate has any more: a text proposed with one must not be linked through it.
        orphans = (
            state.join(gone, "commit", "left_semi")
            .select("text_key")
            .join(state.join(gone, "commit", "left_anti"), "text_key", "left_anti")
            .join(members, "text_key", "left_anti")
            .distinct()
        )
        writes["keys"] = lambda: lakehouse.merge(
            DEDUP_KEYS, flagged(keys, gone), update_when="changed", delete_when="s._gone", insert_when="NOT s._gone"
        )
        writes["bands"] = lambda: lakehouse.merge(
            DEDUP_BANDS, flagged(unseen, orphans, key="text_key"), delete_when="s._gone", insert_when="NOT s._gone"
        )
        writes["commitpackft"] = lambda: lakehouse.merge(
            COMMITPACKFT,
            commitpackft_changes(
                candidates, added, survivors, found, gone, cfg.redact, taken_apart=not removed.isEmpty()
            ),
            update_when=COMMITPACKFT_CHANGED,
            assignments=COMMITPACKFT_ASSIGNMENTS,
            delete_when="s._gone",
            insert_when="NOT s._gone AND NOT s._partial",
        )
    written = side_by_side(writes)["commitpackft"]
    update_funnel(lakehouse, (COMMITPACKFT, COMMITPACKFT_CANDIDATES, version))
    counts = {r.dedup_reason: r["count"] for r in found.groupBy("dedup_reason").count().collect()}
    summary.rows_out = counts.pop(None, 0)
    summary.dropped = counts
    summary.rows_in = summary.rows_out + sum(counts.values())
    summary.details["commitpackft"] = ", ".join(f"{n:,} {what}" for what, n in written.items())
    clusters = lakehouse.read(DEDUP_KEYS).groupBy("cluster").count().where("count > 1").count()
    summary.details["clusters with duplicates"] = f"{clusters:,}"
    funnel_rows = lakehouse.read(COMMITPACKFT_FUNNEL).collect()
    summary.details["CommitPackFT per language"] = kept_per_language(funnel_rows)
    summary.details["PII and secrets in kept rows"] = kept_redactions(funnel_rows)
    return summary.finish()


def commitpackft_changes(
    candidates: DataFrame,
    added: DataFrame,
    survivors: DataFrame,
    found: DataFrame,
    gone: DataFrame,
    section: RedactSettings,
    taken_apart: bool,
) -> DataFrame:
    """What a run changes in gold.commitpackft, for one merge: the survivors' rows (whole when
    their candidate row is at hand, else ``_partial``: only the cluster), and ``_gone`` the keys
    of duplicates and of candidates that left."""
    whole = commitpackft_rows(added, survivors, section)
    rest = survivors.join(added, "commit", "left_anti")
    if taken_apart:
        # A cluster taken apart may give the survivor's place to a candidate CommitPackFT lacks.
        whole = whole.unionByName(commitpackft_rows(candidates.join(rest, "commit", "left_semi"), rest, section))
        rest = rest.limit(0)
    template = whole.limit(0)
    partial = rest.select(
        "commit",
        *[
            F.lit(None).cast(field.dataType).alias(field.name)
            for field in template.schema.fields
            if field.name not in ("commit", *_CLUSTER)
        ],
        *_CLUSTER,
    )
    losers = found.where(F.col("dedup_reason").isNotNull()).select("commit").unionByName(gone)
    return flagged(
        whole.withColumn("_partial", F.lit(False)).unionByName(partial.withColumn("_partial", F.lit(True))),
        losers,
    ).fillna({"_partial": False})


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
