"""Bronze: the public inputs as loaded, one row per source record, with where it came from."""

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
)

from commitpack.schemas.sources import BQ_DIFFERENCE, BQ_TRAILER, bq_signature
from commitpack.schemas.table import Table, optional, required, struct
from commitpack.schemas.vocabulary import (
    BQ_QUARANTINE_REASONS,
    GHARCHIVE_FILE_STATUSES,
    PAYLOAD_FORMATS,
    QUARANTINE_REASONS,
)

PUSH_COMMIT = struct(
    optional("sha", StringType()),
    optional("author_name", StringType()),
    optional("author_email", StringType()),
    optional("message", StringType()),
    optional("distinct", BooleanType()),
)

GHARCHIVE_PUSHES = Table(
    name="bronze.gharchive_pushes",
    produced_by="ingest-gharchive",
    description="One row per GH Archive PushEvent, in every payload shape the archive has used.",
    keys=("event_id",),
    partition_by=("event_date",),
    schema=struct(
        required(
            "event_id", StringType(), "GH Archive event id; timeline events (no id) get tl-<hash of file name and line>"
        ),
        required("event_date", DateType()),
        required("created_at", TimestampType()),
        required("repo_name", StringType(), "owner/name"),
        optional("repo_id", LongType()),
        optional("actor_login", StringType()),
        optional("push_id", LongType()),
        optional("ref", StringType()),
        optional("before", StringType(), "null in timeline events; 40 zeros for a new branch"),
        optional("head", StringType()),
        optional("size", LongType(), "commits pushed; null since 2025-10-07"),
        optional("distinct_size", LongType()),
        optional("commits", ArrayType(PUSH_COMMIT), "as listed by the event (at most 20); null since 2025-10-07"),
        required(
            "payload_format",
            StringType(),
            "timeline: 2011-2014; events: 2015-; events-2025: no commit list",
            values=PAYLOAD_FORMATS,
        ),
        required("source_file", StringType()),
        required("source_line", LongType(), "1-based line in the decompressed file"),
    ),
)

GHARCHIVE_QUARANTINE = Table(
    name="bronze.gharchive_quarantine",
    produced_by="ingest-gharchive",
    description="Damaged GH Archive input with its file, line and reason; the rest of the hour still loads.",
    keys=("source_file", "source_line", "segment", "reason"),
    schema=struct(
        required("source_file", StringType()),
        optional("source_line", LongType(), "null for a problem of the whole file"),
        required("segment", IntegerType(), "0, or the piece of a line that held several glued events"),
        required("reason", StringType(), values=QUARANTINE_REASONS),
        optional("detail", StringType()),
        optional("excerpt", StringType(), "the damaged text, cut to gharchive.quarantine_excerpt_chars"),
    ),
)

GHARCHIVE_FILES = Table(
    name="bronze.gharchive_files",
    produced_by="ingest-gharchive",
    description="Ledger of loaded GH Archive files: a file already loaded with the same size and time is skipped.",
    keys=("source_file",),
    schema=struct(
        required("source_file", StringType()),
        optional("hour", TimestampType(), "from the YYYY-MM-DD-H name"),
        required("bytes", LongType()),
        required("modified_ms", LongType()),
        required("status", StringType(), values=GHARCHIVE_FILE_STATUSES),
        required("lines", LongType()),
        required("push_lines", LongType(), "lines that mention PushEvent, the ones parsed"),
        required("pushes", LongType()),
        required("quarantined", LongType()),
        required("loaded_at", TimestampType()),
    ),
)

BQ_COMMITS = Table(
    name="bronze.bq_commits",
    produced_by="ingest-bigquery",
    description="github_repos.commits as exported (any of Parquet, Avro, JSON), dates normalized to TIMESTAMP.",
    keys=("commit",),
    schema=struct(
        required("commit", StringType()),
        optional("tree", StringType()),
        optional("parent", ArrayType(StringType())),
        optional("author", bq_signature(TimestampType())),
        optional("committer", bq_signature(TimestampType())),
        optional("subject", StringType()),
        optional("message", StringType()),
        optional("trailer", ArrayType(BQ_TRAILER)),
        optional("difference", ArrayType(BQ_DIFFERENCE)),
        optional("difference_truncated", BooleanType()),
        optional("repo_name", ArrayType(StringType())),
        optional("encoding", StringType()),
        required("source_file", StringType()),
    ),
)

BQ_LICENSES = Table(
    name="bronze.bq_licenses",
    produced_by="ingest-bigquery",
    description="github_repos.licenses: one license key per repository.",
    keys=("repo_name",),
    schema=struct(
        required("repo_name", StringType()),
        optional("license", StringType()),
        required("source_file", StringType()),
    ),
)

BQ_LANGUAGES = Table(
    name="bronze.bq_languages",
    produced_by="ingest-bigquery",
    description="github_repos.languages: bytes per Linguist language per repository.",
    keys=("repo_name",),
    schema=struct(
        required("repo_name", StringType()),
        optional("language", ArrayType(struct(optional("name", StringType()), optional("bytes", LongType())))),
        required("source_file", StringType()),
    ),
)

BQ_QUARANTINE = Table(
    name="bronze.bq_quarantine",
    produced_by="ingest-bigquery",
    description="Repository names of BigQuery exports that were not loaded, with their record and reason; "
    "the rest of each record (a commit's other repositories) still loads.",
    keys=("source_file", "export", "record", "name"),
    schema=struct(
        required("source_file", StringType()),
        required("export", StringType(), values=("commits", "licenses", "languages")),
        required("record", StringType(), "the commit id, or the repository name for licenses and languages"),
        required("name", StringType(), "the name as the export has it, cut to 300 characters"),
        required("reason", StringType(), values=BQ_QUARANTINE_REASONS),
    ),
)
