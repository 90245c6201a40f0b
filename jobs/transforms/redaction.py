"""PII and secrets in CommitPackFT (README "PII and secrets"; ``udfs.secrets`` finds them).

The filter counts what every row it kept holds (``with_findings``) and, in ``drop`` mode, drops
those rows as ``sensitive_data``; dedup writes gold.commitpackft with the findings replaced by
placeholders (``redacted``), scanning again only the rows whose decision counted some. The raw
table is never rewritten. The counts per kind reach the funnel (``totals``), the stage summaries
and the dataset card.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from commitpack.jobs.runtime.errors import UsageError
from commitpack.schemas.settings import RedactSettings
from commitpack.schemas.vocabulary import REDACTION_KINDS
from commitpack.udfs.secrets import PLACEHOLDERS, count_udf, redact_udf

REDACTED_TEXTS = ("old_contents", "new_contents", "message", "subject")


def with_findings(rows: DataFrame, section: RedactSettings, scanned: Column) -> DataFrame:
    """``rows`` (new_file, old_contents, new_contents, message) with ``redactions``: the findings
    per kind where ``scanned`` holds, null elsewhere (a UDF given nulls does no work)."""
    try:
        counted = count_udf(section.plugins, section.allow_email_domains)
    except ValueError as exc:  # an unknown plugin name
        raise UsageError(f"redact.plugins: {exc}") from None
    only = [F.when(scanned, F.col(c)) for c in ("old_contents", "new_contents", "message")]
    return rows.withColumn("redactions", F.when(scanned, counted(F.col("new_file"), *only)))


def found(redactions: Column) -> Column:
    """How many findings, all kinds together."""
    return reduce(lambda a, b: a + b, [F.coalesce(redactions[k], F.lit(0)) for k in REDACTION_KINDS])


def keeps(redactions: Column, section: RedactSettings) -> Column:
    """The `sensitive_data` rule: in drop mode a row with any finding is dropped."""
    return F.lit(True) if section.mode == "placeholder" else found(redactions) == 0


def detail(redactions: Column) -> Column:
    """What was found, e.g. ``email 1, key 2``."""
    return F.concat_ws(
        ", ",
        *[F.when(redactions[k] > 0, F.concat(F.lit(f"{k} "), redactions[k].cast("string"))) for k in REDACTION_KINDS],
    )


def redacted(rows: DataFrame, section: RedactSettings) -> DataFrame:
    """CommitPackFT rows with ``redactions`` → the same rows, every finding in their texts replaced
    by its placeholder, without ``redactions``."""
    some = found(F.col("redactions")) > 0
    replaced = redact_udf(section.plugins, section.allow_email_domains)(
        F.col("new_file"), *[F.when(some, F.col(c)) for c in REDACTED_TEXTS]
    )
    out = rows.withColumn("_redacted", replaced)
    return out.select(
        *[
            F.when(some, F.col(f"_redacted.{c}")).otherwise(F.col(c)).alias(c) if c in REDACTED_TEXTS else F.col(c)
            for c in rows.columns
            if c != "redactions"
        ]
    )


def totals(redactions: Column, sign: Column | int = 1) -> Column:
    """The funnel's sums per kind over a group's rows (a row not scanned counts 0), each row's
    counts times ``sign`` (-1: a change feed's row that left the group)."""
    return F.struct(*[F.sum(sign * F.coalesce(redactions[k], F.lit(0))).cast("long").alias(k) for k in REDACTION_KINDS])


def describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {counts.get(k) or 0:,}" for k in REDACTION_KINDS)


def card_section(funnel: list[dict], section: RedactSettings) -> list[str]:
    """The dataset card's lines on PII and secrets: what was done and how many of each kind."""
    kept = dict.fromkeys(REDACTION_KINDS, 0)
    dropped = dict.fromkeys(REDACTION_KINDS, 0)
    for row in funnel:
        target = kept if row["reason"] is None else dropped if row["reason"] == "sensitive_data" else None
        for kind, n in (row.get("redactions") or {}).items():
            if target is not None and n:
                target[kind] += n
    action = (
        "replaced by placeholders (" + ", ".join(f"`{PLACEHOLDERS[k]}`" for k in REDACTION_KINDS) + ")"
        if section.mode == "placeholder"
        else "dropped (rule `sensitive_data`)"
    )
    return [
        "## PII and secrets",
        "",
        "Emails, IP addresses, keys and tokens (detect-secrets' plugins: "
        + ", ".join(section.plugins)
        + ") and passwords in assignments and URLs",
        f"found in the contents and messages of the rows were {action}.",
        "",
        "| kind | in the rows published | in rows dropped for them |",
        "| --- | ---: | ---: |",
        *(f"| {k} | {kept[k]:,} | {dropped[k]:,} |" for k in REDACTION_KINDS),
        "",
    ]
