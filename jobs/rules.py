"""Named row rules as Spark columns, and the first rule a row fails.

A rule is ``(name, keep)`` where ``keep`` is a boolean column that is true for rows the rule
keeps. A null ``keep`` counts as a failure: a rule that cannot be evaluated does not admit a row.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

Rule = tuple[str, Column]


def first_failure(rules: list[Rule]) -> Column:
    """The name of the first rule whose ``keep`` is not true, or null when every rule keeps the row."""
    reason = F.lit(None).cast("string")
    for name, keep in reversed(rules):
        reason = F.when(~F.coalesce(keep, F.lit(False)), F.lit(name)).otherwise(reason)
    return reason


def stripped(text: Column) -> Column:
    """Leading and trailing whitespace removed, newlines included (Spark's trim takes only spaces)."""
    return F.regexp_replace(text, r"^\s+|\s+$", "")


def normalized(text: Column) -> Column:
    """Stripped and lower-cased, as the message rules compare text."""
    return F.lower(stripped(text))


def basename(path: Column) -> Column:
    return F.regexp_extract(path, r"[^/]+$", 0)


def message_rules(message: Column, cfg) -> list[Rule]:
    """SPEC 3.3 on the full commit message: length bounds, junk messages, merge messages."""
    section = cfg.section("index.message")
    text = normalized(message)
    length = F.length(message)
    prefixes = [p.lower() for p in section["junk_prefixes"]]
    return [
        ("message_length", (length > section["min_length"]) & (length < section["max_length"])),
        ("message_junk", ~text.isin([m.lower() for m in section["junk"]])),
        ("message_merge", ~F.exists(F.array(*[F.lit(p) for p in prefixes]), lambda p: text.startswith(p))
         if prefixes else F.lit(True)),
    ]


def update_filename_rule(message: Column, path: Column, cfg) -> list[Rule]:
    """SPEC 3.3: "Update <file>" says nothing beyond the file it changed."""
    if not cfg.get("index.message.drop_update_filename"):
        return []
    text = normalized(message)
    return [("message_update_filename",
             (text != F.concat(F.lit("update "), F.lower(basename(path)))) & (text != F.concat(F.lit("update "), F.lower(path))))]
