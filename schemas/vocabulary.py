"""Every status and reason a table can hold, declared once.

Table declarations name these as a column's values (``schemas.table.required(..., values=...)``),
the data-quality suites check them, the rules and the executors write them. A value that is
not here cannot reach a table without failing its table's critical expectations.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------- bronze
GHARCHIVE_FILE_STATUSES = ("complete", "truncated", "corrupt")
PAYLOAD_FORMATS = ("timeline", "events", "events-2025")
# Why a piece of a GH Archive hour went to the quarantine instead of the push table.
QUARANTINE_REASONS = (
    "cut_line",
    "bad_json",
    "missing_repo",
    "bad_repo_name",
    "bad_payload",
    "bad_timestamp",
    "truncated_gzip",
    "corrupt_gzip",
    "missing_hour",
)

# Why a record of a BigQuery export (or one repository name in it) was not loaded.
BQ_QUARANTINE_REASONS = ("bad_repo_name",)

# ---------------------------------------------------------------------------- silver
SOURCES = ("bigquery", "gharchive")
LICENSE_SOURCES = ("bigquery", "detected")
LICENSE_STATUSES = ("detected", "no_license_file", "unavailable")
GIT_COMMIT_STATUSES = ("ok", "missing")
# Outcomes that a later run tries again: every other status is final. object_unavailable: the
# remote could not produce an object the row needs (a server fault, or an object gone from it).
RETRIED = ("fetch_failed", "budget_exceeded", "error", "disk_full", "object_unavailable")
# Pushes nothing was transferred for, because what is already known excludes every commit they
# could bring; every run decides them again, without the network.
PUSH_SKIPPED = ("license_excluded", "opted_out")
PUSH_STATUSES = ("ok", "walk_truncated", "head_missing", "repo_unavailable", *PUSH_SKIPPED, *RETRIED)

# The index's rules, in the order a rejection names the first one failed (README "CommitPack rules").
INDEX_REASONS = (
    "commit_not_found",
    "opt_out",
    "license_unknown",
    "license_not_allowed",
    "message_length",
    "message_junk",
    "message_merge",
    "merge_commit",
    "not_single_file",
    "not_modified_in_place",
    "message_update_filename",
    "language_unknown",
    "language_not_allowed",
)

# ---------------------------------------------------------------------------- gold
# The CommitPackFT rules, in the order they are applied; the first that fails names the row.
# Metadata rules read only the subject, the file name and the commit id, so they can run before
# any contents are read (and before any are fetched: a row the fetch skipped for one of them has
# the status ``pruned:<rule>``).
FILTER_METADATA_REASONS = (
    "subject_has_hash",
    "subject_names_file",
    "subject_length",
    "subject_word_count",
    "subject_not_capitalized",
    "subject_not_imperative",
    "subject_junk",
    "subject_junk_phrase",
    "subject_version_or_hash",
    "subject_issue_reference",
    "subject_first_person",
    "subject_thanks",
    "bump_sampled_out",
)
FILTER_CONTENTS_REASONS = ("contents_too_long", "contents_new_empty", "contents_unchanged")
FILTER_REASONS = (
    *FILTER_METADATA_REASONS,
    *FILTER_CONTENTS_REASONS,
    "token_length",
    "message_language",
    "contaminated",
    "sensitive_data",
)
# What redaction finds in contents and messages (udfs.secrets), each replaced by its placeholder,
# or the row dropped as `sensitive_data` (redact.mode).
REDACTION_KINDS = ("email", "ip_address", "key", "password")

# A raw row's fetch status: ``ok``, a final reason it has no contents, a retried one, or
# pruned:<rule> where fetch.commitpackft_first transferred nothing because that metadata rule
# drops it.
FETCH_FINAL = ("binary", "too_large", "symlink", "submodule", "blob_missing", "commit_missing", "repo_unavailable")
FETCH_PRUNED = tuple(f"pruned:{rule}" for rule in FILTER_METADATA_REASONS)
FETCH_STATUSES = ("ok", *FETCH_FINAL, *RETRIED, *FETCH_PRUNED)

DEDUP_REASONS = ("exact_duplicate", "near_duplicate")
DECISION_STEPS = ("fetch", "filter", "dedup")
# A decision's reason: the fetch status of a row without contents, or the rule that dropped it.
DECISION_REASONS = (
    *(f"fetch:{status}" for status in FETCH_STATUSES if status != "ok"),
    *FILTER_REASONS,
    *DEDUP_REASONS,
)

# ---------------------------------------------------------------------------- export
# Training views of the export (README "Training views"): a view is named
# <template>[-<answer>][-window], or is the seeds view.
VIEW_TEMPLATES = ("qa", "commit", "chat")
VIEW_ANSWERS = ("full", "unified-diff", "line-diff")
SEEDS_VIEW = "seeds"
