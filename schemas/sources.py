"""Schemas of the public inputs, as their producers write them (README "Inputs").

These are read schemas: only the fields the pipeline uses, typed so that every published
variant of the format parses.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from commitpack.schemas.table import optional, struct

# ---------------------------------------------------------------------------- GH Archive
# One event per line. Three payload shapes of PushEvent are in the archive:
#   2011-2014 timeline: "repository": {owner, name}, "actor": "<login>", payload.shas = [[sha, email, message, name, distinct]]
#   2015-2025 events API: "repo": {id, name "owner/name"}, "actor": {...}, payload.commits (at most 20), size
#   since 2025-10-07: payload = {repository_id, push_id, ref, head, before}; commits and size are gone
GHARCHIVE_CORRUPT = "_corrupt_record"
GHARCHIVE_COMMIT = struct(
    optional("sha", StringType()),
    optional("author", struct(optional("email", StringType()), optional("name", StringType()))),
    optional("message", StringType()),
    optional("distinct", BooleanType()),
)


def gharchive_event(actor: DataType) -> StructType:
    return struct(
        optional("id", StringType()),
        optional("type", StringType()),
        optional("actor", actor),
        optional("repo", struct(optional("id", LongType()), optional("name", StringType()))),
        optional(
            "repository",
            struct(optional("id", LongType()), optional("name", StringType()), optional("owner", StringType())),
        ),
        optional(
            "payload",
            struct(
                optional("repository_id", LongType()),
                optional("push_id", LongType()),
                optional("size", LongType()),
                optional("distinct_size", LongType()),
                optional("ref", StringType()),
                optional("head", StringType()),
                optional("before", StringType()),
                optional("commits", ArrayType(GHARCHIVE_COMMIT)),
                optional("shas", ArrayType(ArrayType(StringType()))),
            ),
        ),
        optional("created_at", StringType()),
        optional(GHARCHIVE_CORRUPT, StringType()),
    )


# Since 2015 the actor is an object; a timeline event's actor is the bare login, so a timeline
# line fails the first schema and is read with the second.
GHARCHIVE_EVENT = gharchive_event(struct(optional("login", StringType())))
GHARCHIVE_TIMELINE_EVENT = gharchive_event(StringType())

# ---------------------------------------------------------------------------- BigQuery github_repos
# As exported to Parquet or Avro (INT64 stays a number). `date` is the newer {seconds, nanos}
# record; older exports carry a plain TIMESTAMP there.
BQ_DATE_RECORD = struct(optional("seconds", LongType()), optional("nanos", LongType()))


def bq_signature(date_type: DataType) -> StructType:
    return struct(
        optional("name", StringType()),
        optional("email", StringType()),
        optional("time_sec", LongType()),
        optional("tz_offset", LongType()),
        optional("date", date_type),
    )


BQ_DIFFERENCE = struct(
    optional("old_mode", LongType()),
    optional("new_mode", LongType()),
    optional("old_path", StringType()),
    optional("new_path", StringType()),
    optional("old_sha1", StringType()),
    optional("new_sha1", StringType()),
    optional("old_repo", StringType()),
    optional("new_repo", StringType()),
)
BQ_TRAILER = struct(optional("key", StringType()), optional("value", StringType()), optional("email", StringType()))


def bq_commits(date_type: DataType = BQ_DATE_RECORD) -> StructType:
    return struct(
        optional("commit", StringType()),
        optional("tree", StringType()),
        optional("parent", ArrayType(StringType())),
        optional("author", bq_signature(date_type)),
        optional("committer", bq_signature(date_type)),
        optional("subject", StringType()),
        optional("message", StringType()),
        optional("trailer", ArrayType(BQ_TRAILER)),
        optional("difference", ArrayType(BQ_DIFFERENCE)),
        optional("difference_truncated", BooleanType()),
        optional("repo_name", ArrayType(StringType())),
        optional("encoding", StringType()),
    )


BQ_COMMITS = bq_commits()
BQ_COMMITS_OLD = bq_commits(TimestampType())
BQ_LICENSES = struct(optional("repo_name", StringType()), optional("license", StringType()))
BQ_LANGUAGES = struct(
    optional("repo_name", StringType()),
    optional("language", ArrayType(struct(optional("name", StringType()), optional("bytes", LongType())))),
)


def json_export_schema(schema: StructType) -> StructType:
    """The same export as JSON: BigQuery writes every INT64 as a JSON string, and `date` is
    read as raw text because it may be either a record or a timestamp string."""

    def convert(dtype: DataType, name: str = "") -> DataType:
        if name == "date":
            return StringType()
        if isinstance(dtype, LongType):
            return StringType()
        if isinstance(dtype, StructType):
            return StructType([StructField(f.name, convert(f.dataType, f.name), True) for f in dtype.fields])
        if isinstance(dtype, ArrayType):
            return ArrayType(convert(dtype.elementType), True)
        return dtype

    return convert(schema)  # type: ignore[return-value]
