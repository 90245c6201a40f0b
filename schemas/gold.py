"""Gold: the CommitPack datasets."""

from pyspark.sql.types import ArrayType, DoubleType, IntegerType, LongType, StringType, TimestampType

from commitpack.schemas.table import CHANGE_FEED, DELETION_VECTORS, Table, optional, required, struct
from commitpack.schemas.vocabulary import DECISION_REASONS, DECISION_STEPS, FETCH_STATUSES, REDACTION_KINDS, RETRIED

# PII and secrets found per kind (udfs.secrets): in a decision, the row's contents and message
# (null: not scanned); in the funnel, summed over its rows. No field comments: the filter's UDF
# returns this type, and Spark compares comments too.
REDACTION_COUNTS = struct(*(optional(kind, IntegerType()) for kind in REDACTION_KINDS))
REDACTION_TOTALS = struct(*(optional(kind, LongType()) for kind in REDACTION_KINDS))

COMMITPACK = Table(
    name="gold.commitpack",
    produced_by="fetch",
    description="Raw CommitPack: every indexed commit with the changed file before and after, its diff and a fetch status.",
    keys=("commit",),
    partition_by=("lang",),
    # Min/max statistics of file contents cost more to collect than they save when reading.
    properties=(
        ("delta.dataSkippingStatsColumns", "commit,status,repo,license,old_size,new_size,committed_at"),
        *CHANGE_FEED,
        *DELETION_VECTORS,
    ),
    long_text=("old_contents", "new_contents", "diff", "message"),
    # Successive versions of a file side by side: one commit's new contents are the next one's old.
    order_by=("repo", "new_file", "committed_at", "commit"),
    compact_writes=4,
    schema=struct(
        required("commit", StringType()),
        required("lang", StringType(), "GitHub Linguist's name, lower-cased"),
        required(
            "status",
            StringType(),
            f"{', '.join(RETRIED)}: retried by the next run; the others are final",
            values=FETCH_STATUSES,
        ),
        optional("detail", StringType()),
        required("repo", StringType(), "the repository the contents were read from"),
        optional("repos", StringType(), "every repository the commit was seen in, comma-joined, as in CommitPack"),
        optional("license", StringType()),
        required("old_file", StringType()),
        required("new_file", StringType()),
        optional("subject", StringType()),
        optional("message", StringType()),
        optional("old_contents", StringType(), "text as git stores it: old_contents.encode(old_encoding) is the blob"),
        optional("new_contents", StringType()),
        optional(
            "old_encoding", StringType(), "the declared encoding (utf-8 by default), or latin-1 when it does not decode"
        ),
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

COMMITPACKFT_DECISIONS = Table(
    name="gold.commitpackft_decisions",
    produced_by="filter",
    description="Every raw CommitPack row with what became of it on the way to CommitPackFT: the step and "
    "the first rule that dropped it (null when kept), the cleaned subject, message language, "
    "token count and near-duplicate cluster.",
    keys=("commit",),
    # The funnel follows the decisions' change feed.
    properties=(*CHANGE_FEED, *DELETION_VECTORS),
    schema=struct(
        required("commit", StringType()),
        required("lang", StringType()),
        required("repo", StringType()),
        optional("step", StringType(), "the stage whose rule dropped the row; null when kept", values=DECISION_STEPS),
        optional(
            "reason",
            StringType(),
            "the first rule that dropped the row (fetch:<status> for unfetched rows)",
            values=DECISION_REASONS,
        ),
        optional("detail", StringType(), "what the rule matched, e.g. the evaluation problem for `contaminated`"),
        optional("subject", StringType(), "the subject after cleaning (rules.commitpackft.clean_subject)"),
        optional("message_lang", StringType(), "fasttext lid.176 language of the message"),
        optional("message_lang_score", DoubleType()),
        optional("tokens", IntegerType(), "tokens of old + new contents (see the dataset card for the tokenizer)"),
        required("bytes", LongType(), "UTF-8 bytes of old + new contents"),
        optional("cluster", StringType(), "dedup: the smallest commit of the row's duplicate cluster"),
        optional("cluster_size", IntegerType()),
        optional(
            "redactions",
            REDACTION_COUNTS,
            "PII and secrets found per kind in the contents and message (rows every other filter rule kept)",
        ),
        required(
            "filter_fingerprint",
            StringType(),
            "the configuration (filter and redaction settings, evaluation sets, tokenizer) the decision was made under",
        ),
    ),
)

# The columns a CommitPackFT row has, candidate (filter) or chosen (dedup).
COMMITPACKFT_ROW = (
    required("commit", StringType()),
    required("lang", StringType()),
    required("old_file", StringType()),
    required("new_file", StringType()),
    optional("old_contents", StringType()),
    required("new_contents", StringType()),
    required("subject", StringType(), "the cleaned subject: the instruction"),
    optional("message", StringType()),
    optional("license", StringType()),
    optional("repos", StringType()),
    optional("committed_at", TimestampType()),
    optional("message_lang", StringType()),
    optional("tokens", IntegerType()),
)

COMMITPACKFT_CANDIDATES = Table(
    name="gold.commitpackft_candidates",
    produced_by="filter",
    description="The raw rows every CommitPackFT rule kept, with what dedup needs to choose CommitPackFT from them.",
    keys=("commit",),
    properties=(*CHANGE_FEED, *DELETION_VECTORS),
    long_text=("old_contents", "new_contents", "message", "diff"),
    schema=struct(
        *COMMITPACKFT_ROW,
        optional("diff", StringType()),
        optional("redactions", REDACTION_COUNTS, "what the filter found, replaced by placeholders in CommitPackFT"),
    ),
)

DEDUP_KEYS = Table(
    name="gold.dedup_keys",
    produced_by="dedup",
    description="dedup's state: every candidate's exact-duplicate keys, the key of its change text and its cluster.",
    keys=("commit",),
    properties=DELETION_VECTORS,
    schema=struct(
        required("commit", StringType()),
        optional("committed_at", TimestampType()),
        required("contents_key", StringType(), "sha256 of the normalized old and new contents"),
        required("change_key", StringType(), "sha256 of the lower-cased subject and the changed lines"),
        required("text_key", StringType(), "sha256 of the change text (subject and changed lines) MinHash reads"),
        required("cluster", StringType(), "the smallest commit of the row's duplicate cluster (itself when unique)"),
        required("dedup_fingerprint", StringType(), "the dedup settings the row was linked under"),
    ),
)

DEDUP_BANDS = Table(
    name="gold.dedup_bands",
    produced_by="dedup",
    description="dedup's state: every distinct change text of the candidates with its MinHash LSH band keys.",
    keys=("text_key",),
    properties=DELETION_VECTORS,
    long_text=("text",),
    schema=struct(
        required("text_key", StringType()),
        required("text", StringType(), "the subject and the changed lines"),
        required("bands", ArrayType(LongType()), "one key per LSH band"),
    ),
)

COMMITPACKFT_FUNNEL = Table(
    name="gold.commitpackft_funnel",
    # Counted from the decisions' change feed by dedup, whose verdicts end the way.
    produced_by="dedup",
    description="Rows and bytes dropped per step, rule and language on the way from CommitPack to CommitPackFT "
    "(reason null: the rows kept).",
    keys=("step", "reason", "lang"),
    schema=struct(
        optional("step", StringType(), values=DECISION_STEPS),
        optional("reason", StringType(), values=DECISION_REASONS),
        required("lang", StringType()),
        required("rows", LongType()),
        required("bytes", LongType()),
        optional("redactions", REDACTION_TOTALS, "PII and secrets found per kind in these rows (0 where not scanned)"),
    ),
)

COMMITPACKFT = Table(
    name="gold.commitpackft",
    produced_by="dedup",
    description="CommitPackFT: the raw rows that pass every filter, deduplicated and decontaminated.",
    keys=("commit",),
    partition_by=("lang",),
    # The export rewrites the languages its change feed names.
    properties=(*CHANGE_FEED, *DELETION_VECTORS),
    long_text=("old_contents", "new_contents", "message"),
    schema=struct(
        *COMMITPACKFT_ROW,
        required("cluster", StringType(), "the smallest commit of its duplicate cluster (itself when unique)"),
        required("cluster_size", IntegerType()),
    ),
)
