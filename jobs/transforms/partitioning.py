"""Rows placed in exactly the tasks they are meant for.

``DataFrame.repartition(n, column)`` sends a row to ``pmod(murmur3(column), n)``: two different
values may share a task while another task stays empty. ``spread`` picks, for each wanted task
number, a key that hashes to it, so rows tagged with task number ``i`` all land in task ``i``.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def spread(rows: DataFrame, slot: str, partitions: int) -> DataFrame:
    """``rows`` in ``partitions`` tasks, the rows whose ``slot`` column is ``i`` (0 ≤ i < n) in task i."""
    # Spark's hash partitioning is Murmur3 with seed 42 (F.hash) modulo the partitions.
    found = (
        rows.sparkSession.range(partitions * 64)
        .select("id", F.pmod(F.hash("id"), F.lit(partitions)).alias("task"))
        .groupBy("task")
        .agg(F.min("id").alias("key"))
        .collect()
    )
    keys = {row.task: row.key for row in found}
    missing = sorted(set(range(partitions)) - set(keys))
    if missing:  # pragma: no cover - 64 candidates per task leave none without a key in practice
        raise RuntimeError(f"no hash key found for tasks {missing}")
    # Long keys, as range() made them: Murmur3 of an int differs from that of the same long.
    mapping = F.create_map(*[x for task, key in sorted(keys.items()) for x in (F.lit(task), F.lit(key).cast("long"))])
    placed = rows.withColumn("_task_key", F.element_at(mapping, F.col(slot).cast("int")))
    return placed.repartition(partitions, "_task_key").drop("_task_key")
