"""Build the silver commit index: one row per single-file commit worth fetching.

Merges BigQuery and GH Archive commits (forks become one row with every repository),
resolves GH Archive pushes against the repositories themselves (one fetch per repository) where
the event does not list every commit or name their files, applies the license gate, the opt-out
list, the message rules, the single-file rule and the language-from-file-name rule, and keeps
every excluded commit with the first rule that excluded it. Only pushes not yet resolved touch
git; rerunning on the same input changes nothing.
"""

from __future__ import annotations

import sys

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from commitpack.jobs.rules import first_failure
from commitpack.jobs.rules.commitpack import index_rules
from commitpack.jobs.runtime.command import add_git_options, stage_main
from commitpack.jobs.runtime.errors import JobError
from commitpack.jobs.runtime.report import StageSummary, progress
from commitpack.schemas import bronze, silver
from commitpack.schemas.executors import PUSH_RESOLUTIONS, TRANSFER_STATS
from commitpack.schemas.settings import GitSettings, Settings
from commitpack.schemas.vocabulary import PUSH_SKIPPED, RETRIED
from commitpack.udfs import linguist
from commitpack.udfs.pushes import resolve_pushes

COMMAND = "index"
HELP = "build the silver commit index from the bronze tables"
# The field of BigQuery's `difference` record that gives each field of a silver.CHANGE.
BQ_CHANGE_FIELDS = {
    "old_path": "old_path",
    "new_path": "new_path",
    "old_blob": "old_sha1",
    "new_blob": "new_sha1",
    "old_mode": "old_mode",
    "new_mode": "new_mode",
}


def add_arguments(parser, within_pipeline: bool = False) -> None:
    if not within_pipeline:
        add_git_options(parser)


# ----------------------------------------------------------------------------- GH Archive pushes


def pending_pushes(pushes: DataFrame, enumerations: DataFrame | None) -> DataFrame:
    """Pushes never resolved, whose last attempt failed in a way worth retrying, or that were
    skipped (what is known may have changed: a skip is decided again, without the network)."""
    if enumerations is None:
        return pushes
    final = enumerations.where(~F.col("status").isin(*RETRIED, *PUSH_SKIPPED)).select("event_id")
    return pushes.join(final, "event_id", "left_anti")


def resolution_input(
    pending: DataFrame, licensed_repos: DataFrame, licenses: DataFrame | None, cfg: Settings
) -> DataFrame:
    """The columns the executors need per push; whether its repository's license must be detected
    (no BigQuery record and none detected before); and ``skip``, the reason nothing needs to travel
    for it: its owner opted out, or what is known of its license already excludes every commit."""
    owners = [owner.lower() for owner in cfg.opt_out.owners]
    allowed = [license.lower() for license in cfg.licenses.allow]
    known = (
        licenses.select("repo_name", F.lower("license").alias("known_license"))
        if licenses is not None
        else pending.sparkSession.createDataFrame([], "repo_name string, known_license string")
    )
    rows = pending.join(
        licensed_repos.select("repo_name", F.lit(False).alias("has_license")), "repo_name", "left"
    ).join(known, "repo_name", "left")
    needs_license = F.col("has_license").isNull()
    skip = (
        F.when(F.lower(F.split("repo_name", "/")[0]).isin(owners), F.lit("opted_out"))
        .when(F.col("known_license").isNotNull() & ~F.col("known_license").isin(allowed), F.lit("license_excluded"))
        .when(needs_license & F.lit(not cfg.licenses.detect), F.lit("license_excluded"))
    )
    return rows.select(
        "repo_name",
        "event_id",
        "ref",
        "before",
        "head",
        "size",
        F.transform("commits", lambda c: c["sha"]).alias("listed"),
        "created_at",
        needs_license.alias("needs_license"),
        skip.alias("skip"),
        "known_license",
    )


def skipped_pushes(rows: DataFrame) -> DataFrame:
    """push_enumerations rows for the pushes nothing was transferred for, with why."""
    detail = (
        F.when(F.col("skip") == "opted_out", F.lit("the owner is in opt_out.owners"))
        .when(
            F.col("known_license").isNotNull(),
            F.concat(F.lit("license "), "known_license", F.lit(" is not in licenses.allow")),
        )
        .otherwise(F.lit("no license is known and licenses.detect is false"))
    )
    return rows.select("event_id", "repo_name", F.col("skip").alias("status"), detail.alias("detail"),
                       F.lit(None).cast("array<string>").alias("commits"))  # fmt: skip


def resolve(pushes: DataFrame, settings: GitSettings, max_commits: int, partitions: int) -> DataFrame:
    """Each repository's pushes in one task, many repositories in flight per task (``udfs.pushes``)."""
    return (
        pushes.repartition(partitions, "repo_name")
        .sortWithinPartitions("repo_name", "created_at", "event_id")
        .mapInPandas(lambda frames: resolve_pushes(frames, settings, max_commits), PUSH_RESOLUTIONS)
    )


# ----------------------------------------------------------------------------- candidates


def _provenance(source: str, file, record) -> F.Column:
    return F.array(F.struct(F.lit(source).alias("source"), file.alias("file"), record.alias("record")))


def bigquery_candidates(commits: DataFrame) -> DataFrame:
    """BigQuery commits in the common candidate shape."""
    return commits.select(
        "commit",
        F.col("repo_name").alias("repos"),
        F.lit("bigquery").alias("source"),
        _provenance("bigquery", F.col("source_file"), F.col("commit")).alias("provenance"),
        F.lit(True).alias("found"),
        F.col("parent").alias("parents"),
        "message",
        F.col("committer.date").alias("committed_at"),
        F.transform(
            F.slice("difference", 1, 2),
            lambda d: F.struct(*[d[BQ_CHANGE_FIELDS[name]].alias(name) for name in silver.CHANGE.fieldNames()]),
        ).alias("changes"),
        F.size("difference").cast("int").alias("change_count"),
        F.coalesce("difference_truncated", F.lit(False)).alias("truncated"),
    )


def gharchive_candidates(enumerations: DataFrame, pushes: DataFrame, git_commits: DataFrame) -> DataFrame:
    """Commits of resolved pushes, described from git, in the common candidate shape."""
    pushed = (
        enumerations.where(F.col("status").isin("ok", "walk_truncated"))
        .select("event_id", F.explode("commits").alias("commit"))
        .join(pushes.select("event_id", "repo_name", "source_file", "source_line"), "event_id")
    )
    record = F.concat(F.lit("line "), F.col("source_line").cast("string"), F.lit(" event "), F.col("event_id"))
    return pushed.join(git_commits, "commit", "left").select(
        "commit",
        F.array("repo_name").alias("repos"),
        F.lit("gharchive").alias("source"),
        _provenance("gharchive", F.col("source_file"), record).alias("provenance"),
        F.coalesce(F.col("status") == "ok", F.lit(False)).alias("found"),
        "parents",
        "message",
        "committed_at",
        "changes",
        "change_count",
        F.lit(False).alias("truncated"),
    )


def merge_sources(candidates: DataFrame) -> DataFrame:
    """One row per commit: every repository and source record; the description from the best
    source (a found commit, BigQuery's before git's)."""
    described = ["found", "parents", "message", "committed_at", "changes", "change_count", "truncated"]
    best = F.max_by(F.struct(*described), F.struct(F.col("found"), F.col("source") == "bigquery"))
    return (
        candidates.groupBy("commit")
        .agg(
            F.array_sort(F.array_distinct(F.flatten(F.collect_list("repos")))).alias("repos"),
            F.array_sort(F.collect_set("source")).alias("sources"),
            F.array_sort(F.array_distinct(F.flatten(F.collect_list("provenance")))).alias("provenance"),
            best.alias("best"),
        )
        .select("commit", "repos", "sources", "provenance", "best.*")
    )


def repository_licenses(bq_licenses: DataFrame | None, detected: DataFrame | None) -> DataFrame | None:
    """repo_name → license and where it came from: BigQuery's record, else the detected one."""
    parts = []
    if bq_licenses is not None:
        parts.append(
            bq_licenses.where(F.col("license").isNotNull()).select(
                "repo_name", "license", F.lit("bigquery").alias("license_source"), F.lit(0).alias("_order")
            )
        )
    if detected is not None:
        parts.append(
            detected.where(F.col("license").isNotNull()).select(
                "repo_name", "license", F.lit("detected").alias("license_source"), F.lit(1).alias("_order")
            )
        )
    if not parts:
        return None
    rows = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    return (
        rows.groupBy("repo_name")
        .agg(F.min_by(F.struct("license", "license_source"), "_order").alias("l"))
        .select("repo_name", "l.*")
    )


def attach_license(commits: DataFrame, licenses: DataFrame | None) -> DataFrame:
    """A commit seen in several repositories takes the first (by name) that has a license."""
    if licenses is None:
        return commits.select(
            "*", *[F.lit(None).cast("string").alias(c) for c in ("repo", "license", "license_source")]
        )
    first = (
        commits.select("commit", F.posexplode("repos").alias("pos", "repo_name"))
        .join(licenses, "repo_name")
        .groupBy("commit")
        .agg(F.min_by(F.struct(F.col("repo_name").alias("repo"), "license", "license_source"), "pos").alias("l"))
        .select("commit", "l.*")
    )
    return commits.join(first, "commit", "left")


def attach_language(commits: DataFrame, languages: DataFrame | None) -> DataFrame:
    """Language from the changed file's name; when Linguist offers several, the one the
    repository has most bytes of (BigQuery's languages table), else Linguist's first."""
    with_candidates = commits.withColumn("lang_candidates", linguist.candidates_column(F.get("changes", 0)["new_path"]))
    if languages is None:
        return with_candidates.withColumn("lang", F.get("lang_candidates", 0))
    repo_bytes = languages.select(
        F.col("repo_name").alias("repo"),
        F.map_from_entries(
            F.transform("language", lambda entry: F.struct(F.lower(entry["name"]), entry["bytes"]))
        ).alias("repo_bytes"),
    )
    scored = F.transform(
        "lang_candidates",
        lambda lang, i: F.struct(
            F.coalesce(F.element_at("repo_bytes", lang), F.lit(-1)).alias("bytes"),
            (-i).alias("order"),
            lang.alias("lang"),
        ),
    )
    return (
        with_candidates.join(F.broadcast(repo_bytes), "repo", "left")
        .withColumn(
            "lang",
            F.when(F.col("repo_bytes").isNull(), F.get("lang_candidates", 0)).otherwise(F.array_max(scored)["lang"]),
        )
        .drop("repo_bytes")
    )


def judge(commits: DataFrame, cfg: Settings) -> DataFrame:
    return commits.withColumn("reason", first_failure(index_rules(cfg)))


def _subject(message: F.Column) -> F.Column:
    return F.split(message, r"\r?\n")[0]


def index_rows(judged: DataFrame) -> DataFrame:
    change = F.get("changes", 0)
    return judged.where(F.col("reason").isNull()).select(
        "commit",
        "repo",
        "license",
        "license_source",
        F.get("parents", 0).alias("parent"),
        change["old_path"].alias("old_path"),
        change["new_path"].alias("new_path"),
        change["old_blob"].alias("old_blob"),
        change["new_blob"].alias("new_blob"),
        change["old_mode"].alias("old_mode"),
        change["new_mode"].alias("new_mode"),
        "lang",
        "repos",
        "sources",
        "provenance",
        _subject(F.col("message")).alias("subject"),
        "message",
        "committed_at",
    )


def rejection_rows(judged: DataFrame) -> DataFrame:
    change = F.get("changes", 0)
    return judged.where(F.col("reason").isNotNull()).select(
        "commit",
        "reason",
        "license",
        change["old_path"].alias("old_path"),
        change["new_path"].alias("new_path"),
        "change_count",
        "repos",
        "sources",
        "provenance",
        _subject(F.col("message")).alias("subject"),
        "message",
        "committed_at",
    )


# ----------------------------------------------------------------------------- the job


def _optional(lakehouse, table):
    return lakehouse.read(table) if lakehouse.exists(table) else None


def resolve_new_pushes(spark, cfg, lakehouse, summary: StageSummary) -> None:
    """The git part: resolve pushes not yet resolved and merge what the repositories said."""
    pushes = lakehouse.read(bronze.GHARCHIVE_PUSHES)
    bq_licenses = _optional(lakehouse, bronze.BQ_LICENSES)
    licensed = (
        bq_licenses.select("repo_name") if bq_licenses is not None else spark.createDataFrame([], "repo_name string")
    )
    detected = _optional(lakehouse, silver.REPO_LICENSES)
    if detected is not None:
        licensed = licensed.unionByName(detected.where("status != 'unavailable'").select("repo_name"))
    pending = resolution_input(
        pending_pushes(pushes, _optional(lakehouse, silver.PUSH_ENUMERATIONS)),
        licensed.distinct(),
        repository_licenses(bq_licenses, detected),
        cfg,
    ).localCheckpoint()
    skipped = skipped_pushes(pending.where(F.col("skip").isNotNull()))
    enumerations = _optional(lakehouse, silver.PUSH_ENUMERATIONS)
    if enumerations is not None:  # decided again every run: only a changed decision is written
        skipped = skipped.join(
            enumerations.select("event_id", "status", "detail"), ["event_id", "status", "detail"], "left_anti"
        )
    to_resolve = pending.where(F.col("skip").isNull()).drop("skip", "known_license")
    repos = to_resolve.select("repo_name").distinct().count()
    summary.details["repositories resolved"] = str(repos)
    resolved = None
    if repos:
        progress(COMMAND, f"resolving pushes of {repos} repositories with git")
        partitions = min(repos, 4 * spark.sparkContext.defaultParallelism)
        # Materialized once, before anything is written: `pending` reads push_enumerations, so a
        # lazy plan recomputed after the first merge would find nothing pending (and git is slow).
        resolved = resolve(to_resolve, cfg.git, cfg.index.max_commits_per_push, partitions).localCheckpoint(eager=True)
    enumerated = (
        skipped if resolved is None else skipped.unionByName(resolved.where("kind = 'push'"), allowMissingColumns=True)
    )
    if resolved is None and skipped.isEmpty():
        return
    lakehouse.merge(silver.PUSH_ENUMERATIONS, enumerated, update_when="changed")
    statuses = {r.status: r["count"] for r in enumerated.groupBy("status").count().collect()}
    summary.details["pushes"] = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    if resolved is None:
        return
    commits = resolved.where("kind = 'commit'").dropDuplicates(["commit"])
    lakehouse.merge(silver.GIT_COMMITS, commits, update_when="s.status = 'ok' AND t.status != 'ok'")
    lakehouse.merge(silver.REPO_LICENSES, resolved.where("kind = 'license'"), update_when="changed")
    cost = (
        resolved.where("kind = 'transfer'")
        .agg(*[F.sum(f"transfer.{name}").alias(name) for name in TRANSFER_STATS.fieldNames()])
        .first()
    )
    summary.details["transfers"] = (
        f"{cost.requests or 0:,} requests, {(cost.received_bytes or 0) / 1e6:,.2f} MB received (commits and trees), "
        f"{cost.filter_refused or 0:,} servers ignoring blob:none"
    )


def run(spark, cfg, lakehouse, args) -> StageSummary:
    summary = StageSummary(COMMAND)
    has_gharchive = lakehouse.exists(bronze.GHARCHIVE_PUSHES)
    has_bigquery = lakehouse.exists(bronze.BQ_COMMITS)
    if not (has_gharchive or has_bigquery):
        raise JobError("no bronze commits yet: run `commitpack ingest-gharchive` or `commitpack ingest-bigquery` first")
    candidates = []
    if has_gharchive:
        resolve_new_pushes(spark, cfg, lakehouse, summary)
        enumerations = _optional(lakehouse, silver.PUSH_ENUMERATIONS)
        if enumerations is not None:
            candidates.append(
                gharchive_candidates(
                    enumerations, lakehouse.read(bronze.GHARCHIVE_PUSHES), lakehouse.read(silver.GIT_COMMITS)
                )
            )
    if has_bigquery:
        candidates.append(bigquery_candidates(lakehouse.read(bronze.BQ_COMMITS)))
    if not candidates:
        return summary.finish()
    union = candidates[0] if len(candidates) == 1 else candidates[0].unionByName(candidates[1])
    licenses = repository_licenses(_optional(lakehouse, bronze.BQ_LICENSES), _optional(lakehouse, silver.REPO_LICENSES))
    commits = attach_language(attach_license(merge_sources(union), licenses), _optional(lakehouse, bronze.BQ_LANGUAGES))
    judged = judge(commits, cfg).persist(StorageLevel.MEMORY_AND_DISK)
    kept = lakehouse.sync(silver.COMMIT_INDEX, index_rows(judged))
    lakehouse.sync(silver.INDEX_REJECTIONS, rejection_rows(judged))
    reasons = {r.reason: r["count"] for r in judged.groupBy("reason").count().collect()}
    judged.unpersist()
    summary.rows_out = reasons.pop(None, 0)
    summary.dropped = reasons
    summary.rows_in = summary.rows_out + sum(reasons.values())
    summary.details["index changes"] = f"{kept['inserted']} new, {kept['updated']} updated, {kept['deleted']} removed"
    return summary.finish()


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
