"""The CommitPackFT funnel: rows and bytes per step, rule and language, from the decisions, and
how it changes with them."""

from __future__ import annotations

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from commitpack.jobs.runtime.report import StageSummary
from commitpack.jobs.transforms import redaction
from commitpack.jobs.transforms.changes import PRESENT_AFTER
from commitpack.schemas.vocabulary import REDACTION_KINDS


def funnel(decisions: DataFrame) -> DataFrame:
    """Rows, bytes and PII and secrets found per (step, reason, language); reason null = kept."""
    return decisions.groupBy("step", "reason", "lang").agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum("bytes").cast("long").alias("bytes"),
        redaction.totals(F.col("redactions")).alias("redactions"),
    )


def funnel_changes(feed: DataFrame) -> DataFrame:
    """What the decisions' change feed adds to each funnel row (negative: takes away): a row
    inserted or an update's post-image counts once, a row deleted or an update's pre-image
    counts minus once."""
    sign = F.when(F.col("_change_type").isin(*PRESENT_AFTER), 1).otherwise(-1)
    return feed.groupBy("step", "reason", "lang").agg(
        F.sum(sign).cast("long").alias("rows"),
        F.sum(sign * F.col("bytes")).cast("long").alias("bytes"),
        redaction.totals(F.col("redactions"), sign).alias("redactions"),
    )


def with_changes(funnel: DataFrame, changes: DataFrame) -> DataFrame:
    """The funnel after ``funnel_changes``: each row's counts plus its changes; a row whose
    rows all left is gone."""
    return (
        funnel.unionByName(changes)
        .groupBy("step", "reason", "lang")
        .agg(
            F.sum("rows").cast("long").alias("rows"),
            F.sum("bytes").cast("long").alias("bytes"),
            redaction.totals(F.col("redactions")).alias("redactions"),
        )
        .where(F.col("rows") > 0)
    )


def summarize(summary: StageSummary, rows: list[Row], steps: tuple[str, ...]) -> StageSummary:
    """Fill a summary from funnel rows: rows dropped by ``steps`` per reason, kept per language."""
    for row in sorted(rows, key=lambda r: (r.step or "", r.reason or "", r.lang)):
        if row.step in steps:
            summary.dropped[row.reason] = summary.dropped.get(row.reason, 0) + row.rows
    summary.rows_out = sum(r.rows for r in rows if r.reason is None)
    summary.details["kept per language"] = kept_per_language(rows)
    summary.details["PII and secrets in kept rows"] = kept_redactions(rows)
    return summary


def kept_per_language(rows: list[Row]) -> str:
    """The kept rows and MB of funnel rows per language, largest first."""
    kept = sorted((r for r in rows if r.reason is None), key=lambda r: (-r.rows, r.lang))
    return ", ".join(f"{r.lang} {r.rows:,} ({r.bytes / 1e6:.2f} MB)" for r in kept) or "none"


def kept_redactions(rows: list[Row]) -> str:
    """The PII and secrets found in the kept rows of funnel rows, per kind."""
    kept = [r.redactions for r in rows if r.reason is None and r.redactions is not None]
    return redaction.describe({k: sum(found[k] or 0 for found in kept) for k in REDACTION_KINDS})
