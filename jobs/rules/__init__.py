"""Named row rules as Spark columns, and the first rule a row fails.

``commitpack``: the CommitPack rules the index applies; ``commitpackft``: the CommitPackFT rules
the filter applies. Each rule's name is the ``reason`` of the rows it drops, declared in
``schemas.vocabulary``.

A rule is ``(name, keep)`` where ``keep`` is a boolean column that is true for rows the rule
keeps. A null ``keep`` counts as a failure: a rule that cannot be evaluated does not admit a row.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from commitpack.schemas.names import REPO_NAME

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


def valid_repo_name(name: Column) -> Column:
    """``owner/name`` as GitHub allows them (``schemas.names``). Java's ``$`` also matches before a
    final line break, so line breaks are refused on their own."""
    return name.rlike(REPO_NAME) & ~name.rlike(r"[\r\n]")
