"""Load GH Archive hourly event files (YYYY-MM-DD-H.json.gz) into the bronze push-event table.

Damaged input (cut lines, truncated gzip members, events without a repository) goes to a
quarantine table with its file and reason; the rest of the hour still loads. A file already
loaded with the same size and modification time is skipped, and events merge on their id, so
reloading an hour changes nothing.
"""

from __future__ import annotations

import sys

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from commitpack.jobs.cli import job_main
from commitpack.jobs.inputs import InputFile, check_local, list_files
from commitpack.jobs.lakehouse import sql_literal
from commitpack.jobs.report import StageSummary, progress
from commitpack.schemas.bronze import GHARCHIVE_FILES, GHARCHIVE_PUSHES, GHARCHIVE_QUARANTINE
from commitpack.schemas.sources import GHARCHIVE_CORRUPT, GHARCHIVE_EVENT
from commitpack.udfs.gharchive import DECODED_DDL, decode_files

COMMAND = "ingest-gharchive"
HELP = "load GH Archive hourly files into bronze tables"
HOUR_NAME = r"(\d{4}-\d{2}-\d{2})-(\d{1,2})\.json"
# Every event of the 2015+ archive starts with its string id: a line holding this marker
# after its start is an event glued to the remains of a line that was cut.
EVENT_START = r'(?=\{"id":")'


def add_arguments(parser, within_pipeline: bool = False) -> None:
    parser.add_argument("--input", metavar="GLOB", action="append", required=not within_pipeline,
                        help="GH Archive files: a path, glob or URI (s3://bucket/2024-01-01-*.json.gz); repeatable")


def check(args) -> None:
    check_local("--input", args.input or [])


# ----------------------------------------------------------------------------- transforms

def decode(files: DataFrame, lines_per_batch: int) -> DataFrame:
    """Spark ``binaryFile`` rows → push-candidate lines plus one report row per file."""
    return files.select("path", "content").mapInArrow(
        lambda batches: decode_files(batches, lines_per_batch), DECODED_DDL)


def parse(decoded: DataFrame) -> DataFrame:
    """One row per event segment: a clean line is one segment; a damaged line is split where
    glued events start, and each piece is parsed on its own. File report rows pass through."""
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": GHARCHIVE_CORRUPT}
    text = F.col("line").cast("string")
    whole = F.from_json(text, GHARCHIVE_EVENT, options)
    pieces = F.transform(
        F.split(text, EVENT_START),
        lambda piece, i: F.struct(i.alias("segment"), F.from_json(piece, GHARCHIVE_EVENT, options).alias("event"),
                                  piece.alias("text")))
    segments = (
        F.when(F.col("line").isNull(), F.array(F.struct(F.lit(0).alias("segment"), F.lit(None).cast(GHARCHIVE_EVENT).alias("event"),
                                                         F.lit(None).cast("string").alias("text"))))
        .when(F.col("whole")[GHARCHIVE_CORRUPT].isNull(), F.array(F.struct(F.lit(0).alias("segment"), F.col("whole").alias("event"),
                                                                          text.alias("text"))))
        .otherwise(pieces)
    )
    return (
        decoded.withColumn("whole", whole)
        .withColumn("pieces", segments)
        .withColumn("glued", F.size("pieces") > 1)
        .select("source_file", F.col("line_no").alias("source_line"), "file_status", "file_detail",
                "file_lines", "file_push_lines", "glued", F.explode("pieces").alias("piece"))
        .select("*", "piece.segment", "piece.event", "piece.text")
        .drop("piece")
        # The first piece of a glued line is the part that was cut; it is empty when the line
        # starts with an event.
        .where(~(F.col("glued") & (F.col("segment") == 0) & (F.length("text") == 0)))
    )


def _created_at(raw):
    return F.coalesce(F.try_to_timestamp(raw), F.try_to_timestamp(raw, F.lit("yyyy/MM/dd HH:mm:ss Z")))


def classify(segments: DataFrame) -> DataFrame:
    """Adds ``kind`` (file | push | other | quarantine) and the quarantine ``reason``."""
    event, payload = F.col("event"), F.col("event.payload")
    repo_name = F.coalesce(
        event["repo"]["name"],
        F.when(event["repository"]["owner"].isNotNull() & event["repository"]["name"].isNotNull(),
               F.concat_ws("/", event["repository"]["owner"], event["repository"]["name"])))
    reason = (
        F.when(event[GHARCHIVE_CORRUPT].isNotNull(), F.when(F.col("glued"), "cut_line").otherwise("bad_json"))
        .when(event["type"] != "PushEvent", None)
        .when(repo_name.isNull() | (repo_name == ""), "missing_repo")
        .when(_created_at(event["created_at"]).isNull(), "bad_timestamp")
        .when(payload["head"].isNull() & payload["commits"].isNull() & payload["shas"].isNull(), "bad_payload")
    )
    kind = (
        F.when(F.col("source_line").isNull(), "file")
        .when(reason.isNotNull(), "quarantine")
        .when(event["type"] == "PushEvent", "push")
        .otherwise("other")
    )
    return segments.withColumn("repo_name", repo_name).withColumn("reason", reason).withColumn("kind", kind)


def pushes(classified: DataFrame) -> DataFrame:
    """Push rows in the bronze schema, one per event id (the first occurrence by file and line)."""
    event, payload = F.col("event"), F.col("event.payload")
    listed = F.transform(payload["commits"], lambda c: F.struct(
        c["sha"].alias("sha"), c["author"]["name"].alias("author_name"), c["author"]["email"].alias("author_email"),
        c["message"].alias("message"), c["distinct"].alias("distinct")))
    # Timeline events list commits as [sha, email, message, name, distinct].
    shas = F.transform(payload["shas"], lambda s: F.struct(
        F.get(s, 0).alias("sha"), F.get(s, 3).alias("author_name"), F.get(s, 1).alias("author_email"),
        F.get(s, 2).alias("message"), (F.lower(F.get(s, 4)) == "true").alias("distinct")))
    actor = event["actor"]
    file_name = F.regexp_extract("source_file", r"[^/]+$", 0)
    created_at = _created_at(event["created_at"])
    rows = classified.where(F.col("kind") == "push").select(
        F.coalesce(event["id"], F.concat(F.lit("tl-"), F.sha1(F.concat_ws(":", file_name, "source_line", "segment")))).alias("event_id"),
        F.to_date(created_at).alias("event_date"),
        created_at.alias("created_at"),
        F.col("repo_name"),
        F.coalesce(event["repo"]["id"], event["repository"]["id"], payload["repository_id"]).alias("repo_id"),
        F.when(actor.startswith("{"), F.get_json_object(actor, "$.login")).otherwise(actor).alias("actor_login"),
        payload["push_id"].alias("push_id"),
        payload["ref"].alias("ref"),
        payload["before"].alias("before"),
        payload["head"].alias("head"),
        payload["size"].alias("size"),
        payload["distinct_size"].alias("distinct_size"),
        F.coalesce(listed, shas).alias("commits"),
        F.when(payload["shas"].isNotNull() | event["repository"].isNotNull(), "timeline")
        .when(payload["commits"].isNotNull() | payload["size"].isNotNull(), "events")
        .otherwise("events-2025").alias("payload_format"),
        "source_file", "source_line", "segment",
    )
    first = Window.partitionBy("event_id").orderBy("source_file", "source_line", "segment")
    return rows.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n", "segment")


def quarantine(classified: DataFrame, excerpt_chars: int) -> DataFrame:
    """Damaged lines and damaged files in the quarantine schema."""
    details = {
        "cut_line": "line cut short and glued to the next event",
        "bad_json": "not a valid JSON event",
        "missing_repo": "PushEvent without a repository name",
        "bad_timestamp": "created_at is not a timestamp",
        "bad_payload": "PushEvent payload has neither head nor commits",
    }
    detail = F.element_at(F.create_map(*[F.lit(x) for kv in details.items() for x in kv]), F.col("reason"))
    lines = classified.where(F.col("kind") == "quarantine").select(
        "source_file", "source_line", "segment", "reason", detail.alias("detail"),
        F.substring("text", 1, excerpt_chars).alias("excerpt"))
    damaged_files = classified.where((F.col("kind") == "file") & (F.col("file_status") != "complete")).select(
        "source_file", F.lit(None).cast("long").alias("source_line"), F.lit(0).alias("segment"),
        F.concat(F.col("file_status"), F.lit("_gzip")).alias("reason"), F.col("file_detail").alias("detail"),
        F.lit(None).cast("string").alias("excerpt"))
    return lines.unionByName(damaged_files)


def file_ledger(classified: DataFrame, listed: DataFrame) -> DataFrame:
    """One ledger row per file: its report and the counts of what it produced."""
    counts = classified.groupBy("source_file").agg(
        F.max("file_status").alias("status"),
        F.max("file_lines").alias("lines"),
        F.max("file_push_lines").alias("push_lines"),
        F.count(F.when(F.col("kind") == "push", 1)).alias("pushes"),
        F.count(F.when(F.col("kind") == "quarantine", 1)).alias("quarantined"),
    )
    hour = F.regexp_extract("source_file", HOUR_NAME, 0)
    return listed.join(counts, "source_file").select(
        "source_file",
        F.when(hour != "", F.try_to_timestamp(F.concat(F.regexp_extract("source_file", HOUR_NAME, 1), F.lit(" "),
                                                       F.lpad(F.regexp_extract("source_file", HOUR_NAME, 2), 2, "0")),
                                              F.lit("yyyy-MM-dd HH"))).alias("hour"),
        "bytes", "modified_ms", "status", "lines", "push_lines", "pushes",
        (F.col("quarantined") + F.when(F.col("status") != "complete", 1).otherwise(0)).alias("quarantined"),
        F.current_timestamp().alias("loaded_at"),
    )


def missing_hours(ledger: DataFrame) -> DataFrame:
    """Hours absent between the first and the last hour loaded of each day, as quarantine rows
    (days are not compared with each other: loading two separate days reports no gap)."""
    hours = ledger.where(F.col("hour").isNotNull()).select("hour")
    spans = hours.groupBy(F.to_date("hour").alias("day")).agg(F.min("hour").alias("first"), F.max("hour").alias("last"))
    expected = spans.select(F.explode(F.sequence("first", "last", F.expr("INTERVAL 1 HOUR"))).alias("hour"))
    return expected.join(hours, "hour", "left_anti").select(
        F.concat(F.date_format("hour", "yyyy-MM-dd-"), F.hour("hour").cast("string"), F.lit(".json.gz")).alias("source_file"),
        F.lit(None).cast("long").alias("source_line"),
        F.lit(0).alias("segment"),
        F.lit("missing_hour").alias("reason"),
        F.lit("no file for this hour between the first and last hour loaded that day").alias("detail"),
        F.lit(None).cast("string").alias("excerpt"),
    )


# ----------------------------------------------------------------------------- the job

def files_to_load(lakehouse, files: list[InputFile]) -> tuple[list[InputFile], int]:
    """Files not yet in the ledger with the same size and modification time."""
    if not files or not lakehouse.exists(GHARCHIVE_FILES):
        return files, 0
    paths = [f.path for f in files]
    loaded = {
        (r.source_file, r.bytes, r.modified_ms)
        for r in lakehouse.read(GHARCHIVE_FILES).where(F.col("source_file").isin(paths))
        .select("source_file", "bytes", "modified_ms").collect()
    }
    todo = [f for f in files if (f.path, f.size, f.modified_ms) not in loaded]
    return todo, len(files) - len(todo)


def run(spark, cfg, lakehouse, args) -> StageSummary:
    summary = StageSummary(COMMAND)
    files, skipped = files_to_load(lakehouse, list_files(spark, "--input", args.input))
    summary.details["files"] = f"{len(files)} to load, {skipped} already loaded"
    if files:
        progress(COMMAND, f"decoding {len(files)} files ({sum(f.size for f in files) / 1e6:,.1f} MB compressed)")
        listed = spark.createDataFrame([(f.path, f.size, f.modified_ms) for f in files],
                                       "source_file string, bytes long, modified_ms long")
        raw = spark.read.format("binaryFile").load([f.path for f in files])
        classified = classify(parse(decode(raw, cfg.get("gharchive.lines_per_batch")))).persist(StorageLevel.MEMORY_AND_DISK)
        written = lakehouse.merge(GHARCHIVE_PUSHES, pushes(classified))
        # A reloaded file replaces its own quarantine rows (a truncated file may now be whole).
        lakehouse.replace(GHARCHIVE_QUARANTINE, quarantine(classified, cfg.get("gharchive.quarantine_excerpt_chars")),
                          where=f"source_file IN ({', '.join(sql_literal(f.path) for f in files)})")
        ledger = file_ledger(classified, listed).localCheckpoint()
        lakehouse.merge(GHARCHIVE_FILES, ledger, update_when="true")
        records = {(r.kind, r.reason): r["count"] for r in classified.groupBy("kind", "reason").count().collect()}
        classified.unpersist()
        totals = ledger.agg(F.sum("lines").alias("lines"), F.sum("push_lines").alias("push_lines"),
                            F.sum(F.when(F.col("status") != "complete", 1).otherwise(0)).alias("damaged")).first()
        # Lines that do not mention PushEvent are not parsed; a glued line yields two records.
        unparsed = int(totals.lines or 0) - int(totals.push_lines or 0)
        summary.rows_in = unparsed + sum(n for (kind, _), n in records.items() if kind != "file")
        summary.rows_out = records.get(("push", None), 0)
        summary.dropped["not_a_push_event"] = unparsed + records.get(("other", None), 0)
        summary.dropped.update({f"quarantine:{reason}": n for (kind, reason), n in records.items() if kind == "quarantine"})
        summary.details["new pushes in bronze"] = str(written["inserted"])
        summary.details["damaged files"] = str(int(totals.damaged or 0))
        summary.details["missing hours"] = str(_replace_missing_hours(lakehouse))
    return summary.finish()


def _replace_missing_hours(lakehouse) -> int:
    gaps = missing_hours(lakehouse.read(GHARCHIVE_FILES)).localCheckpoint()
    lakehouse.replace(GHARCHIVE_QUARANTINE, gaps, where="reason = 'missing_hour'")
    return gaps.count()


def main(argv=None) -> int:
    return job_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
