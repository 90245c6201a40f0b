"""Load exports of BigQuery's github_repos tables (commits, licenses, languages) into bronze tables.

Reads Parquet, Avro or JSON exports (one export is many files, e.g. commits-000000000042.json);
JSON's INT64-as-string and older exports' TIMESTAMP author dates are normalized to the declared
schemas. Rows merge on their key, so reloading an export changes nothing.
"""

from __future__ import annotations

import re
import sys

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, StructType, TimestampType

from commitpack.jobs.rules import valid_repo_name
from commitpack.jobs.runtime.command import stage_main
from commitpack.jobs.runtime.errors import UsageError
from commitpack.jobs.runtime.report import StageSummary, progress
from commitpack.jobs.runtime.storage import FileInfo, check_local, list_inputs
from commitpack.schemas import bronze, sources
from commitpack.schemas.table import Table

COMMAND = "ingest-bigquery"
HELP = "load BigQuery github_repos exports (commits, licenses, languages) into bronze tables"
FORMATS = {"parquet": r"\.parquet$", "avro": r"\.avro$", "json": r"\.(json|jsonl|ndjson)(\.gz)?$"}
# Export schema, bronze table and what a changed row looks like, per BigQuery table.
EXPORTS = {
    "commits": (
        sources.BQ_COMMITS,
        bronze.BQ_COMMITS,
        "NOT (t.repo_name <=> s.repo_name AND t.difference <=> s.difference)",
    ),
    "licenses": (sources.BQ_LICENSES, bronze.BQ_LICENSES, "NOT (t.license <=> s.license)"),
    "languages": (sources.BQ_LANGUAGES, bronze.BQ_LANGUAGES, "NOT (t.language <=> s.language)"),
}


def add_arguments(parser, within_pipeline: bool = False) -> None:
    parser.add_argument(
        "--commits",
        metavar="PATH",
        required=not within_pipeline,
        help="export of github_repos.commits: a file, directory or glob (Parquet, Avro or JSON)",
    )
    parser.add_argument(
        "--licenses", metavar="PATH", required=not within_pipeline, help="export of github_repos.licenses"
    )
    parser.add_argument("--languages", metavar="PATH", help="export of github_repos.languages (optional)")


def check(args) -> None:
    for option in EXPORTS:
        value = getattr(args, option, None)
        if value:
            check_local(f"--{option}", [value])


# ----------------------------------------------------------------------------- transforms


def export_format(option: str, files: list[FileInfo]) -> str:
    """The one format of an export's files, from their names."""
    found = {name for f in files for name, pattern in FORMATS.items() if re.search(pattern, f.path, re.I)}
    unknown = [f.path for f in files if not any(re.search(p, f.path, re.I) for p in FORMATS.values())]
    if unknown:
        raise UsageError(f"{option}: {unknown[0]} is not .parquet, .avro or .json")
    if len(found) != 1:
        raise UsageError(f"{option}: one export must be in one format, found {', '.join(sorted(found))}")
    return found.pop()


def _micros(seconds: Column, nanos: Column) -> Column:
    return F.timestamp_micros(
        seconds.cast("long") * 1_000_000 + (F.coalesce(nanos.cast("long"), F.lit(0)) / 1000).cast("long")
    )


def _date(column: Column, dtype: DataType) -> Column:
    """`date` in any published shape → TIMESTAMP: a {seconds, nanos} record, a TIMESTAMP, or (JSON)
    the raw text of either."""
    if isinstance(dtype, TimestampType):
        return column
    if isinstance(dtype, StructType):
        return _micros(column["seconds"], column["nanos"])
    record = F.from_json(column, sources.json_export_schema(sources.BQ_DATE_RECORD))
    return F.when(F.ltrim(column).startswith("{"), _micros(record["seconds"], record["nanos"])).otherwise(
        column.cast("timestamp")
    )


def normalize(column: Column, actual: DataType, target: DataType, name: str = "") -> Column:
    """Convert a column of an export (as read) to the declared bronze type, field by field."""
    if name == "date":
        return _date(column, actual)
    if isinstance(target, StructType):
        if not isinstance(actual, StructType):
            raise UsageError(f"field {name!r} is {actual.simpleString()}, expected a record")
        present = {f.name: f.dataType for f in actual.fields}
        return F.when(column.isNull(), F.lit(None)).otherwise(
            F.struct(
                *[
                    (
                        normalize(column[f.name], present[f.name], f.dataType, f.name)
                        if f.name in present
                        else F.lit(None).cast(f.dataType)
                    ).alias(f.name)
                    for f in target.fields
                ]
            )
        )
    if isinstance(target, ArrayType):
        if not isinstance(actual, ArrayType):
            raise UsageError(f"field {name!r} is {actual.simpleString()}, expected an array")
        return F.transform(column, lambda item: normalize(item, actual.elementType, target.elementType, name))
    return column.cast(target) if actual != target else column


def normalize_export(rows: DataFrame, table: Table, option: str) -> DataFrame:
    """The export's rows in the bronze table's schema, with the file each came from."""
    present = {f.name: f.dataType for f in rows.schema.fields}
    key = table.keys[0]
    if key not in present:
        raise UsageError(f"{option}: not a github_repos export for {table.name} (no `{key}` field)")
    columns = []
    for field in table.schema.fields:
        if field.name == "source_file":
            columns.append(F.col("_metadata.file_path").alias("source_file"))
        elif field.name in present:
            columns.append(
                normalize(F.col(f"`{field.name}`"), present[field.name], field.dataType, field.name).alias(field.name)
            )
        else:
            columns.append(F.lit(None).cast(field.dataType).alias(field.name))
    return rows.select(*columns)


def checked_names(rows: DataFrame, export: str) -> tuple[DataFrame, DataFrame]:
    """(rows, quarantine): only repository names as GitHub allows them load (README "Names"). A
    commit keeps its valid names and loads while it has one; a license or language record with a
    bad name does not load. Every name refused is a quarantine row."""
    key = "commit" if export == "commits" else "repo_name"
    if export == "commits":
        bad = F.coalesce(
            F.filter("repo_name", lambda name: ~F.coalesce(valid_repo_name(name), F.lit(False))),
            F.array().cast("array<string>"),
        )
        marked = rows.withColumn("_bad", bad).withColumn("repo_name", F.filter("repo_name", valid_repo_name))
        kept = marked.where((F.size("_bad") == 0) | (F.size("repo_name") > 0)).drop("_bad")
        refused = marked.select("source_file", F.col(key).alias("record"), F.explode("_bad").alias("name"))
    else:
        ok = F.coalesce(valid_repo_name(F.col("repo_name")), F.lit(True))  # a null key is counted apart
        kept = rows.where(ok)
        refused = rows.where(~ok).select("source_file", F.col(key).alias("record"), F.col("repo_name").alias("name"))
    quarantine = refused.select(
        "source_file",
        F.lit(export).alias("export"),
        F.substring(F.coalesce("record", F.lit("")), 1, 300).alias("record"),
        F.substring(F.coalesce("name", F.lit("")), 1, 300).alias("name"),
        F.lit("bad_repo_name").alias("reason"),
    )
    return kept, quarantine


def one_per_key(rows: DataFrame, table: Table) -> DataFrame:
    """Rows without a key dropped; of rows sharing a key, the one from the last file kept."""
    latest = Window.partitionBy(*table.keys).orderBy(F.col("source_file").desc())
    return (
        rows.where(F.col(table.keys[0]).isNotNull())
        .withColumn("_n", F.row_number().over(latest))
        .where("_n = 1")
        .drop("_n")
    )


# ----------------------------------------------------------------------------- the job


def read_export(spark, files: list[FileInfo], fmt: str, schema: StructType) -> DataFrame:
    paths = [f.path for f in files]
    if fmt == "json":
        # Declared, not inferred: INT64 arrives as strings and `date` in either shape.
        return spark.read.schema(sources.json_export_schema(schema)).json(paths)
    return spark.read.format(fmt).load(paths)


def load_export(spark, lakehouse, option: str, pattern: str, export: str, summary: StageSummary) -> None:
    schema, table, changed = EXPORTS[export]
    files = list_inputs(spark, option, [pattern])
    fmt = export_format(option, files)
    progress(COMMAND, f"{export}: {len(files)} {fmt} files")
    rows = normalize_export(read_export(spark, files, fmt, schema), table, option).localCheckpoint()
    named, refused = checked_names(rows, export)
    refused = refused.localCheckpoint()
    kept = one_per_key(named, table)
    written = lakehouse.merge(table, kept, update_when=changed)
    read, out = rows.count(), kept.count()
    bad_names = refused.count()
    if bad_names:
        lakehouse.merge(bronze.BQ_QUARANTINE, refused)
        summary.details[f"{export} names refused"] = f"{bad_names:,} (bronze.bq_quarantine)"
    unloaded = rows.count() - named.count()
    if unloaded:
        summary.dropped[f"{export}:bad_repo_name"] = unloaded
    summary.rows_in += read
    summary.rows_out += out
    missing_key = rows.where(F.col(table.keys[0]).isNull()).count()
    if missing_key:
        summary.dropped[f"{export}:no_{table.keys[0]}"] = missing_key
    if read - unloaded - out - missing_key:
        summary.dropped[f"{export}:duplicate_{table.keys[0]}"] = read - unloaded - out - missing_key
    summary.details[export] = f"{len(files)} {fmt} files, {written['inserted']} new rows, {written['updated']} updated"


def run(spark, cfg, lakehouse, args) -> StageSummary:
    summary = StageSummary(COMMAND)
    for export in EXPORTS:
        pattern = getattr(args, export, None)
        if pattern:
            load_export(spark, lakehouse, f"--{export}", pattern, export, summary)
    return summary.finish()


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
