"""Load GH Archive hourly event files (YYYY-MM-DD-H.json.gz) into the bronze push-event table.

Damaged input (cut lines, truncated gzip members, events without a repository) goes to a
quarantine table with its file and reason; the rest of the hour still loads. A file already
loaded with the same size and modification time is skipped, and events merge on their id, so
reloading an hour changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from commitpack.jobs.rules import valid_repo_name
from commitpack.jobs.runtime.command import stage_main
from commitpack.jobs.runtime.report import StageSummary, progress
from commitpack.jobs.runtime.storage import FileInfo, check_local, list_inputs
from commitpack.schemas.bronze import GHARCHIVE_FILES, GHARCHIVE_PUSHES, GHARCHIVE_QUARANTINE
from commitpack.schemas.executors import GHARCHIVE_LINES
from commitpack.schemas.sources import GHARCHIVE_CORRUPT, GHARCHIVE_EVENT, GHARCHIVE_TIMELINE_EVENT
from commitpack.schemas.table import sql_literal
from commitpack.udfs.gharchive import decode_files

COMMAND = "ingest-gharchive"
HELP = "load GH Archive hourly files into bronze tables"
HOUR_NAME = r"(\d{4}-\d{2}-\d{2})-(\d{1,2})\.json"
# Every event of the 2015+ archive starts with its string id: a line holding this marker
# after its start is an event glued to the remains of a line that was cut.
EVENT_START = r'(?=\{"id":")'


def add_arguments(parser, within_pipeline: bool = False) -> None:
    parser.add_argument(
        "--input",
        metavar="GLOB",
        action="append",
        required=not within_pipeline,
        help="GH Archive files: a path, glob or URI (s3://bucket/2024-01-01-*.json.gz); repeatable",
    )


def check(args) -> None:
    check_local("--input", args.input or [])


# ----------------------------------------------------------------------------- transforms


def decode(files: DataFrame, lines_per_batch: int, local: bool = False) -> DataFrame:
    """Spark ``binaryFile`` rows → push-candidate lines plus one report row per file. With
    ``local`` (every path a ``file:`` URI) the executors read the files themselves."""
    columns = ["path"] if local else ["path", "content"]
    return files.select(*columns).mapInArrow(lambda batches: decode_files(batches, lines_per_batch), GHARCHIVE_LINES)


def parse(decoded: DataFrame) -> DataFrame:
    """One row per event segment: a clean line is one segment; a damaged line is split where
    glued events start, and each piece is parsed on its own. File report rows pass through."""
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": GHARCHIVE_CORRUPT}
    text = F.col("line").cast("string")
    whole = F.from_json(text, GHARCHIVE_EVENT, options)
    timeline = F.from_json(text, GHARCHIVE_TIMELINE_EVENT, options)
    pieces = F.transform(
        F.split(text, EVENT_START),
        lambda piece, i: F.struct(
            i.alias("segment"), F.from_json(piece, GHARCHIVE_EVENT, options).alias("event"), piece.alias("text")
        ),
    )

    def single(event):
        # A whole event keeps no text: only damaged pieces need theirs, for the excerpt.
        return F.array(
            F.struct(F.lit(0).alias("segment"), event.alias("event"), F.lit(None).cast("string").alias("text"))
        )

    segments = (
        F.when(F.col("line").isNull(), single(F.lit(None).cast(GHARCHIVE_EVENT)))
        .when(F.col("whole")[GHARCHIVE_CORRUPT].isNull(), single(F.col("whole")))
        # Evaluated only for lines the 2015+ schema rejects: a timeline event, else damage.
        .when(
            timeline[GHARCHIVE_CORRUPT].isNull(),
            single(timeline.withField("actor", F.struct(timeline["actor"].alias("login")))),
        )
        .otherwise(pieces)
    )
    return (
        decoded.withColumn("whole", whole)
        .withColumn("pieces", segments)
        .withColumn("glued", F.size("pieces") > 1)
        # explode_outer (the arrays are never empty): a plain explode makes Spark infer a
        # size(pieces) > 0 filter and push it below this projection, parsing every line twice.
        .select(
            "source_file",
            F.col("line_no").alias("source_line"),
            "file_status",
            "file_detail",
            "file_lines",
            "file_push_lines",
            "glued",
            F.explode_outer("pieces").alias("piece"),
        )
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
        F.when(
            event["repository"]["owner"].isNotNull() & event["repository"]["name"].isNotNull(),
            F.concat_ws("/", event["repository"]["owner"], event["repository"]["name"]),
        ),
    )
    reason = (
        F.when(event[GHARCHIVE_CORRUPT].isNotNull(), F.when(F.col("glued"), "cut_line").otherwise("bad_json"))
        .when(event["type"] != "PushEvent", None)
        .when(repo_name.isNull() | (repo_name == ""), "missing_repo")
        .when(~valid_repo_name(repo_name), "bad_repo_name")
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


def records(classified: DataFrame, excerpt_chars: int) -> DataFrame:
    """The one narrow frame all three tables are written from: a push's bronze fields, a damaged
    record's excerpt, a file's report; the parsed event itself is dropped here."""
    event, payload = F.col("event"), F.col("event.payload")
    listed = F.transform(
        payload["commits"],
        lambda c: F.struct(
            c["sha"].alias("sha"),
            c["author"]["name"].alias("author_name"),
            c["author"]["email"].alias("author_email"),
            c["message"].alias("message"),
            c["distinct"].alias("distinct"),
        ),
    )
    # Timeline events list commits as [sha, email, message, name, distinct].
    shas = F.transform(
        payload["shas"],
        lambda s: F.struct(
            F.get(s, 0).alias("sha"),
            F.get(s, 3).alias("author_name"),
            F.get(s, 1).alias("author_email"),
            F.get(s, 2).alias("message"),
            (F.lower(F.get(s, 4)) == "true").alias("distinct"),
        ),
    )
    file_name = F.regexp_extract("source_file", r"[^/]+$", 0)
    created_at = _created_at(event["created_at"])
    is_push = F.col("kind") == "push"
    return classified.select(
        "kind",
        "reason",
        "source_file",
        "source_line",
        "segment",
        "file_status",
        "file_detail",
        "file_lines",
        "file_push_lines",
        F.when(F.col("kind") == "quarantine", F.substring("text", 1, excerpt_chars)).alias("excerpt"),
        F.coalesce(
            event["id"], F.concat(F.lit("tl-"), F.sha1(F.concat_ws(":", file_name, "source_line", "segment")))
        ).alias("event_id"),
        F.to_date(created_at).alias("event_date"),
        created_at.alias("created_at"),
        "repo_name",
        F.coalesce(event["repo"]["id"], event["repository"]["id"], payload["repository_id"]).alias("repo_id"),
        event["actor"]["login"].alias("actor_login"),
        payload["push_id"].alias("push_id"),
        payload["ref"].alias("ref"),
        payload["before"].alias("before"),
        payload["head"].alias("head"),
        payload["size"].alias("size"),
        payload["distinct_size"].alias("distinct_size"),
        F.when(is_push, F.coalesce(listed, shas)).alias("commits"),
        F.when(payload["shas"].isNotNull() | event["repository"].isNotNull(), "timeline")
        .when(payload["commits"].isNotNull() | payload["size"].isNotNull(), "events")
        .otherwise("events-2025")
        .alias("payload_format"),
    )


def repeated_events(rows: DataFrame) -> DataFrame:
    """Event ids that occur more than once (a file loaded under two names, say) with their first
    occurrence; found on three narrow columns, not by shuffling whole rows. Usually empty."""
    return (
        rows.where(F.col("kind") == "push")
        .groupBy("event_id")
        .agg(F.count(F.lit(1)).alias("copies"), F.min(F.struct("source_file", "source_line", "segment")).alias("first"))
        .where("copies > 1")
        .select("event_id", "first")
    )


def pushes(rows: DataFrame, repeated: DataFrame) -> DataFrame:
    """Push rows in the bronze schema, one per event id (the first occurrence by file and line)."""
    occurrence = F.struct("source_file", "source_line", "segment")
    return (
        rows.where(F.col("kind") == "push")
        .join(F.broadcast(repeated), "event_id", "left")
        .where(F.col("first").isNull() | (occurrence == F.col("first")))
        .drop("first")
    )


def quarantine(rows: DataFrame) -> DataFrame:
    """Damaged lines and damaged files in the quarantine schema."""
    details = {
        "cut_line": "line cut short and glued to the next event",
        "bad_json": "not a valid JSON event",
        "missing_repo": "PushEvent without a repository name",
        "bad_repo_name": "repository name is not owner/name as GitHub allows it (README: Names)",
        "bad_timestamp": "created_at is not a timestamp",
        "bad_payload": "PushEvent payload has neither head nor commits",
    }
    detail = F.element_at(F.create_map(*[F.lit(x) for kv in details.items() for x in kv]), F.col("reason"))
    lines = rows.where(F.col("kind") == "quarantine").select(
        "source_file", "source_line", "segment", "reason", detail.alias("detail"), "excerpt"
    )
    damaged_files = rows.where((F.col("kind") == "file") & (F.col("file_status") != "complete")).select(
        "source_file",
        F.lit(None).cast("long").alias("source_line"),
        F.lit(0).alias("segment"),
        F.concat(F.col("file_status"), F.lit("_gzip")).alias("reason"),
        F.col("file_detail").alias("detail"),
        F.lit(None).cast("string").alias("excerpt"),
    )
    return lines.unionByName(damaged_files)


def file_name_hour(path: str) -> dt.datetime | None:
    """The hour a GH Archive file is named for (YYYY-MM-DD-H.json.gz), or None."""
    match = re.search(HOUR_NAME, path)
    if not match:
        return None
    return dt.datetime.strptime(match.group(1), "%Y-%m-%d") + dt.timedelta(hours=int(match.group(2)))


def missing_hours(hours: list[dt.datetime]) -> list[dt.datetime]:
    """Hours absent between the first and the last hour loaded of each day (days are not
    compared with each other: loading two separate days reports no gap)."""
    by_day: dict[dt.date, set[int]] = {}
    for hour in hours:
        by_day.setdefault(hour.date(), set()).add(hour.hour)
    return [
        dt.datetime.combine(day, dt.time(h))
        for day, present in sorted(by_day.items())
        for h in range(min(present), max(present) + 1)
        if h not in present
    ]


def hour_file_name(hour: dt.datetime) -> str:
    return f"{hour:%Y-%m-%d}-{hour.hour}.json.gz"


# ----------------------------------------------------------------------------- the job


def files_to_load(lakehouse, files: list[FileInfo]) -> tuple[list[FileInfo], int]:
    """Files not yet in the ledger with the same size and modification time."""
    if not files or not lakehouse.exists(GHARCHIVE_FILES):
        return files, 0
    paths = [f.path for f in files]
    loaded = {
        (r.source_file, r.bytes, r.modified_ms)
        for r in lakehouse.read(GHARCHIVE_FILES)
        .where(F.col("source_file").isin(paths))
        .select("source_file", "bytes", "modified_ms")
        .collect()
    }
    todo = [f for f in files if (f.path, f.size, f.modified_ms) not in loaded]
    return todo, len(files) - len(todo)


def ledger_rows(files: list[FileInfo], counts: list) -> list[tuple]:
    """One ledger row per file, from the per-file counts of kinds and the file's own report."""
    loaded_at = dt.datetime.now(dt.timezone.utc)
    rows = []
    for f in files:
        mine = [c for c in counts if c.source_file == f.path]
        report = next(c for c in mine if c.kind == "file")
        pushes = sum(c["count"] for c in mine if c.kind == "push")
        damaged = sum(c["count"] for c in mine if c.kind == "quarantine") + (report.file_status != "complete")
        rows.append(
            (
                f.path,
                file_name_hour(f.path),
                f.size,
                f.modified_ms,
                report.file_status,
                report.file_lines,
                report.file_push_lines,
                pushes,
                damaged,
                loaded_at,
            )
        )
    return rows


def gap_rows(spark, gaps: list[dt.datetime]) -> DataFrame:
    return spark.createDataFrame(
        [
            (
                hour_file_name(h),
                None,
                0,
                "missing_hour",
                "no file for this hour between the first and last hour loaded that day",
                None,
            )
            for h in gaps
        ],
        GHARCHIVE_QUARANTINE.schema,
    )


def loaded_hours(lakehouse, files: list[FileInfo]) -> list[dt.datetime]:
    """The hours of the files being loaded and of every file loaded before."""
    hours = [file_name_hour(f.path) for f in files]
    if lakehouse.exists(GHARCHIVE_FILES):
        hours += [r.hour for r in lakehouse.read(GHARCHIVE_FILES).select("hour").collect()]
    return [h for h in hours if h is not None]


def run(spark, cfg, lakehouse, args) -> StageSummary:
    summary = StageSummary(COMMAND)
    files, skipped = files_to_load(lakehouse, list_inputs(spark, "--input", args.input))
    summary.details["files"] = f"{len(files)} to load, {skipped} already loaded"
    if not files:
        return summary.finish()
    progress(COMMAND, f"decoding {len(files)} files ({sum(f.size for f in files) / 1e6:,.1f} MB compressed)")
    raw = spark.read.format("binaryFile").load([f.path for f in files])
    # One pass over the files, kept for the writes and the counts.
    local = all(f.path.startswith("file:") for f in files)
    rows = records(
        classify(parse(decode(raw, cfg.gharchive.lines_per_batch, local))), cfg.gharchive.quarantine_excerpt_chars
    ).localCheckpoint(eager=True)
    counts = (
        rows.groupBy("source_file", "kind", "reason", "event_date")
        .agg(
            F.count(F.lit(1)).alias("count"),
            F.max("file_status").alias("file_status"),
            F.max("file_lines").alias("file_lines"),
            F.max("file_push_lines").alias("file_push_lines"),
        )
        .collect()
    )
    repeated = repeated_events(rows).localCheckpoint()
    dates = sorted({(c.event_date,) for c in counts if c.kind == "push"})
    written = lakehouse.merge(GHARCHIVE_PUSHES, pushes(rows, repeated), partitions=dates)
    gaps = missing_hours(loaded_hours(lakehouse, files))
    # Reloaded files replace their own quarantine rows (a truncated file may now be whole), and
    # the missing hours are recomputed over every day loaded so far.
    replaced = f"source_file IN ({', '.join(sql_literal(f.path) for f in files)}) OR reason = 'missing_hour'"
    damaged = any(c.kind == "quarantine" or (c.kind == "file" and c.file_status != "complete") for c in counts)
    if (
        damaged
        or gaps
        or (
            lakehouse.exists(GHARCHIVE_QUARANTINE)
            and not lakehouse.read(GHARCHIVE_QUARANTINE).where(replaced).isEmpty()
        )
    ):
        lakehouse.replace(GHARCHIVE_QUARANTINE, quarantine(rows).unionByName(gap_rows(spark, gaps)), where=replaced)
    ledger = ledger_rows(files, counts)
    lakehouse.merge(GHARCHIVE_FILES, spark.createDataFrame(ledger, GHARCHIVE_FILES.schema), update_when="true")

    lines = sum(r[5] for r in ledger)
    parsed = sum(c["count"] for c in counts if c.kind != "file")
    # Lines that do not mention PushEvent are not parsed; a glued line yields two records.
    unparsed = lines - sum(r[6] for r in ledger)
    summary.rows_in = unparsed + parsed
    summary.rows_out = sum(c["count"] for c in counts if c.kind == "push")
    summary.dropped["not_a_push_event"] = unparsed + sum(c["count"] for c in counts if c.kind == "other")
    for c in counts:
        if c.kind == "quarantine":
            key = f"quarantine:{c.reason}"
            summary.dropped[key] = summary.dropped.get(key, 0) + c["count"]
    summary.details["new pushes in bronze"] = str(written["inserted"])
    summary.details["damaged files"] = str(sum(1 for r in ledger if r[4] != "complete"))
    summary.details["missing hours"] = str(len(gaps))
    return summary.finish()


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
