"""Gold: the CommitPack datasets."""

from pyspark.sql.types import IntegerType, LongType, StringType, TimestampType

from commitpack.schemas.table import Table, optional, required, struct

COMMITPACK = Table(
    name="gold.commitpack",
    produced_by="fetch",
    description="Raw CommitPack: every indexed commit with the changed file before and after, its diff and a fetch status.",
    keys=("commit",),
    partition_by=("lang",),
    schema=struct(
        required("commit", StringType()),
        required("lang", StringType(), "GitHub Linguist's name, lower-cased"),
        required("status", StringType(),
                 "ok | binary | too_large | symlink | submodule | blob_missing | commit_missing | repo_unavailable "
                 "(final) | fetch_failed | budget_exceeded | error (retried by the next run)"),
        optional("detail", StringType()),
        required("repo", StringType(), "the repository the contents were read from"),
        optional("repos", StringType(), "every repository the commit was seen in, comma-joined (SPEC section 1)"),
        optional("license", StringType()),
        required("old_file", StringType()),
        required("new_file", StringType()),
        optional("subject", StringType()),
        optional("message", StringType()),
        optional("old_contents", StringType(), "text as git stores it: old_contents.encode(old_encoding) is the blob"),
        optional("new_contents", StringType()),
        optional("old_encoding", StringType(), "the declared encoding (utf-8 by default), or latin-1 when it does not decode"),
        optional("new_encoding", StringType()),
        optional("old_blob", StringType()),
        optional("new_blob", StringType()),
        optional("old_size", LongType(), "bytes, from the object header"),
        optional("new_size", LongType()),
        optional("diff", StringType(), "unified diff of the two contents"),
        optional("lines_added", IntegerType()),
        optional("lines_removed", IntegerType()),
        optional("hunks", IntegerType()),
        optional("committed_at", TimestampType()),
    ),
)
