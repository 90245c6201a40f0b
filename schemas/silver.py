"""Silver: commits resolved against their repositories, and the commit index built from them."""

from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
)

from commitpack.schemas.table import Table, optional, required, struct
from commitpack.schemas.vocabulary import (
    GIT_COMMIT_STATUSES,
    INDEX_REASONS,
    LICENSE_SOURCES,
    LICENSE_STATUSES,
    PUSH_STATUSES,
    RETRIED,
    SOURCES,
)

CHANGE = struct(
    optional("old_path", StringType()),
    optional("new_path", StringType()),
    optional("old_blob", StringType()),
    optional("new_blob", StringType()),
    optional("old_mode", LongType()),
    optional("new_mode", LongType()),
)
# Nested fields stay nullable: Delta enforces NOT NULL only on top-level columns.
PROVENANCE = struct(
    optional("source", StringType(), values=SOURCES),
    optional("file", StringType()),
    optional("record", StringType(), "the commit id in an export; 'line N event E' in an hour file"),
)

PUSH_ENUMERATIONS = Table(
    name="silver.push_enumerations",
    produced_by="index",
    description="Every GH Archive push resolved against its repository: the commits it brought, or why not.",
    keys=("event_id",),
    schema=struct(
        required("event_id", StringType()),
        required("repo_name", StringType()),
        required("status", StringType(), f"{', '.join(RETRIED)}: retried by the next run", values=PUSH_STATUSES),
        optional("detail", StringType()),
        optional("commits", ArrayType(StringType())),
    ),
)

GIT_COMMITS = Table(
    name="silver.git_commits",
    produced_by="index",
    description="Commits named by GH Archive, described from their repository as BigQuery describes its commits.",
    keys=("commit",),
    schema=struct(
        required("commit", StringType()),
        required(
            "status", StringType(), "missing: named by an event, absent from the repository", values=GIT_COMMIT_STATUSES
        ),
        optional("parents", ArrayType(StringType())),
        optional("message", StringType()),
        optional("committed_at", TimestampType()),
        optional("changes", ArrayType(CHANGE), "the first changes against the first parent, renames detected"),
        optional("change_count", IntegerType(), "all changes against the first parent"),
    ),
)

REPO_LICENSES = Table(
    name="silver.repo_licenses",
    produced_by="index",
    description="Licenses detected from the license file at the pushed head, for repositories BigQuery has no record of.",
    keys=("repo_name",),
    schema=struct(
        required("repo_name", StringType()),
        required("status", StringType(), values=LICENSE_STATUSES),
        optional("license", StringType()),
        optional("license_file", StringType()),
        optional("head", StringType()),
    ),
)

_COMMIT_FIELDS = (
    optional("repos", ArrayType(StringType()), "every repository the commit was seen in, sorted"),
    optional("sources", ArrayType(StringType()), "bigquery, gharchive"),
    optional("provenance", ArrayType(PROVENANCE), "the source records the row was built from"),
    optional("subject", StringType()),
    optional("message", StringType()),
    optional("committed_at", TimestampType()),
)

COMMIT_INDEX = Table(
    name="silver.commit_index",
    produced_by="index",
    description="One row per commit that passed every CommitPack rule: a single file modified in place, licensed, in a known language.",
    keys=("commit",),
    partition_by=("lang",),
    schema=struct(
        required("commit", StringType()),
        required("repo", StringType(), "the repository whose license admits the commit"),
        required("license", StringType()),
        required("license_source", StringType(), values=LICENSE_SOURCES),
        optional("parent", StringType()),
        required("old_path", StringType()),
        required("new_path", StringType()),
        optional("old_blob", StringType()),
        optional("new_blob", StringType()),
        optional("old_mode", LongType()),
        optional("new_mode", LongType()),
        required("lang", StringType(), "GitHub Linguist's name, lower-cased"),
        *_COMMIT_FIELDS,
    ),
)

INDEX_REJECTIONS = Table(
    name="silver.index_rejections",
    produced_by="index",
    description="Every commit the index excluded, with the first rule that excluded it.",
    keys=("commit",),
    partition_by=("reason",),
    schema=struct(
        required("commit", StringType()),
        required("reason", StringType(), "the first CommitPack rule the commit failed", values=INDEX_REASONS),
        optional("license", StringType()),
        optional("old_path", StringType()),
        optional("new_path", StringType()),
        optional("change_count", IntegerType()),
        *_COMMIT_FIELDS,
    ),
)
