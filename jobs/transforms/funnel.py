"""The CommitPackFT funnel: rows and bytes per step, rule and language, from the decisions."""

from __future__ import annotations

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from commitpack.jobs.runtime.report import StageSummary
from commitpack.jobs.transforms import redaction
from commitpack.schemas.vocabulary import REDACTION_KINDS


def funnel(decisions: DataFrame) -> DataFrame:
    """Rows, bytes and PII and secrets found per (step, reason, language); reason null = kept."""
    return decisions.groupBy("step", "reason", "lang").agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum("bytes").cast("long").alias("bytes"),
        redaction.totals(F.col("redactions")).alias("redactions"),
    )


def summarize(summary: StageSummary, rows: list[Row], steps: tuple[str, ...]) -> StageSummary:
    """Fill a summary from the funnel's rows: rows dropped by ``steps`` per reason, kept per language."""
    for row in sorted(rows, key=lambda r: (r.step or "", r.reason or "", r.lang)):
        if row.step in steps:
            summary.dropped[row.reason] = summary.dropped.get(row.reason, 0) + row.rows
    kept = sorted((r for r in rows if r.reason is None), key=lambda r: (-r.rows, r.lang))
    summary.rows_out = sum(r.rows for r in kept)
    summary.details["kept per language"] = (
        ", ".join(f"{r.lang} {r.rows:,} ({r.bytes / 1e6:.2f} MB)" for r in kept) or "none"
    )
    found = {k: sum(r.redactions[k] or 0 for r in kept if r.redactions is not None) for k in REDACTION_KINDS}
    summary.details["PII and secrets in kept rows"] = redaction.describe(found)
    return summary
