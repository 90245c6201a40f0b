"""What a Delta change feed (``Lakehouse.changes``) says became of each key over its versions.

A feed has a row per inserted row, deleted row and updated row (its pre- and post-image), each
with ``_change_type`` and ``_commit_version``. A key changed several times in the feed's versions
has several rows; these functions reduce them to the key's state before and after them.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

PRESENT_AFTER = ("insert", "update_postimage")
PRESENT_BEFORE = ("update_preimage", "delete")


def _order() -> Column:
    """Within one version an update's pre-image comes before its post-image."""
    return F.when(F.col("_change_type") == "update_preimage", 0).otherwise(1)


def latest(changes: DataFrame, keys: tuple[str, ...]) -> DataFrame:
    """One row per key: its row after the feed's last version, ``_present`` false when it was
    deleted then (its other columns are then those it had)."""
    last = Window.partitionBy(*keys).orderBy(F.desc("_commit_version"), F.desc(_order()))
    return (
        changes.withColumn("_rank", F.row_number().over(last))
        .where(F.col("_rank") == 1)
        .withColumn("_present", F.col("_change_type").isin(*PRESENT_AFTER))
        .drop("_rank", "_change_type", "_commit_version")
    )


def changed_values(changes: DataFrame, keys: tuple[str, ...], columns: tuple[str, ...]) -> DataFrame:
    """The keys whose ``columns`` differ between before the feed's first version and after its
    last (present on one side only counts), with those columns' values on both sides as
    ``before`` and ``after`` structs (null on the side where the key is absent)."""
    values = F.struct(*columns)
    events = changes.select(
        *keys,
        F.struct(F.col("_commit_version"), _order()).alias("_at"),
        F.when(F.col("_change_type").isin(*PRESENT_BEFORE), values).alias("_before"),
        F.when(F.col("_change_type").isin(*PRESENT_AFTER), values).alias("_after"),
        F.col("_change_type").isin(*PRESENT_BEFORE).alias("_was"),
        F.col("_change_type").isin(*PRESENT_AFTER).alias("_is"),
    )
    net = events.groupBy(*keys).agg(
        F.min_by("_before", "_at").alias("before"),
        F.max_by("_after", "_at").alias("after"),
        F.min_by("_was", "_at").alias("_was"),
        F.max_by("_is", "_at").alias("_is"),
    )
    return net.where((F.col("_was") != F.col("_is")) | ~F.col("before").eqNullSafe(F.col("after"))).drop("_was", "_is")


def other_value(rows: DataFrame, column: str, value: str) -> str | None:
    """A value of ``column`` other than ``value`` in ``rows`` (None: every row has ``value``), in
    one job; a Delta table's files whose statistics show only ``value`` are not read."""
    return rows.where(F.col(column) != value).agg(F.max(column)).first()[0]
