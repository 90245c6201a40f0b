"""What the executors' code returns to Spark: the output shapes of the UDFs in ``udfs/``.

Spark is given these ``StructType``s as the UDFs' output schemas; the UDFs build their Arrow
batches against the forms ``schemas.arrow`` derives from them.
"""

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

from commitpack.schemas.arrow import nullable
from commitpack.schemas.gold import COMMITPACK
from commitpack.schemas.silver import CHANGE
from commitpack.schemas.table import optional, struct

# What one work unit's transfers cost, on one row per unit of a UDF's output (the stage summary
# sums them; the tables do not keep them).
TRANSFER_STATS = struct(
    optional("requests", LongType()),
    optional("received_bytes", LongType(), "pack bytes that arrived"),
    optional(
        "full_fetches", IntegerType(), "servers that refused fetching by id: everything their branches reach came"
    ),
    optional("filter_refused", IntegerType(), "servers that ignored blob:none: blobs came with the history"),
)

# udfs.gharchive.decode_files: a GH Archive file's lines that mention PushEvent, then one row
# (line_no null) with the file's report.
GHARCHIVE_LINES = struct(
    optional("source_file", StringType()),
    optional("line_no", LongType(), "1-based"),
    optional("line", BinaryType()),
    optional("file_status", StringType()),
    optional("file_detail", StringType()),
    optional("file_lines", LongType()),
    optional("file_push_lines", LongType()),
)

# udfs.pushes.resolve_pushes: one repository's pushes resolved, as rows of four kinds: `push`
# (silver.push_enumerations), `commit` (silver.git_commits), `license` (silver.repo_licenses) and
# `transfer` (its TRANSFER_STATS).
PUSH_RESOLUTIONS = struct(
    optional("kind", StringType(), "push | commit | license"),
    optional("repo_name", StringType()),
    optional("event_id", StringType()),
    optional("status", StringType()),
    optional("detail", StringType()),
    optional("commits", ArrayType(StringType())),
    optional("commit", StringType()),
    optional("parents", ArrayType(StringType())),
    optional("message", StringType()),
    optional("committed_at", TimestampType()),
    optional("changes", ArrayType(CHANGE)),
    optional("change_count", IntegerType()),
    optional("license", StringType()),
    optional("license_file", StringType()),
    optional("head", StringType()),
    optional("transfer", TRANSFER_STATS),
)

# udfs.contents.fetch_partition: the raw CommitPack rows, as the table declares them, and on the
# first row of each work unit what its transfers cost.
FETCHED = StructType([*nullable(COMMITPACK.schema).fields, optional("transfer", TRANSFER_STATS)])

# udfs.minhash.band_batches: a row's MinHash LSH band keys.
MINHASH_BANDS = struct(optional("id", StringType()), optional("bands", ArrayType(LongType())))

# udfs.messages: message language (fasttext lid.176: the most likely language of the message's
# words, its probability, the allowed languages' summed probability) and the first
# evaluation-set overlap. (No column comments: Spark compares a UDF's result type with them.)
MESSAGE_CHECKS = struct(
    optional("lang", StringType()),
    optional("score", DoubleType()),
    optional("allowed_score", DoubleType()),
    optional("overlap", StringType()),
)

# udfs.formats.answer_udf: a training view's question (the old contents as shown) and answer.
VIEW_ANSWER = struct(optional("question", StringType()), optional("answer", StringType()))

# udfs.secrets: findings per kind in a row's contents and message (gold.REDACTION_COUNTS), and
# the texts with their findings replaced by placeholders.
REDACTED = struct(*(optional(name, StringType()) for name in ("old_contents", "new_contents", "message", "subject")))
