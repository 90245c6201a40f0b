"""Reading and writing the lakehouse's Delta tables, as declared in ``schemas.tables``.

Writes never append blindly: a rerun either merges on the table's keys (insert what is new,
optionally update what changed) or replaces what it recomputed.
"""

from __future__ import annotations

import os
import re

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from commitpack.jobs.errors import JobError
from commitpack.schemas.table import Table
from commitpack.schemas.tables import table

MAX_PRUNED_PARTITIONS = 1000
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def normalize_root(root: str) -> str:
    """Local paths become absolute; URIs (s3://, gs://, dbfs:/, file:/…) are kept as given."""
    if _URI.match(root) and not re.match(r"^[a-zA-Z]:[\\/]", root):
        return root.rstrip("/")
    return os.path.abspath(os.path.expanduser(root))


class Lakehouse:
    def __init__(self, spark: SparkSession, root: str):
        self.spark = spark
        self.root = normalize_root(root)

    def path(self, name: str | Table) -> str:
        spec = name if isinstance(name, Table) else table(name)
        return f"{self.root}/{spec.relative_path}"

    def exists(self, name: str | Table) -> bool:
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, self.path(name))

    def read(self, name: str | Table) -> DataFrame:
        spec = name if isinstance(name, Table) else table(name)
        if not self.exists(spec):
            hint = f": run `commitpack {spec.produced_by}` first" if spec.produced_by else ""
            raise JobError(f"table {spec.name} does not exist at {self.path(spec)}{hint}")
        return self.spark.read.format("delta").load(self.path(spec))

    def ensure(self, name: str | Table) -> Table:
        """Create the table with its declared schema and partitioning unless it exists."""
        from delta.tables import DeltaTable

        spec = name if isinstance(name, Table) else table(name)
        if not self.exists(spec):
            builder = DeltaTable.createIfNotExists(self.spark).location(self.path(spec)).addColumns(spec.schema)
            if spec.partition_by:
                builder = builder.partitionedBy(*spec.partition_by)
            builder.execute()
        return spec

    def merge(self, name: str | Table, rows: DataFrame, update_when: str | None = None) -> dict[str, int]:
        """Insert rows whose keys are new. With ``update_when`` (a condition over ``t`` = the
        table and ``s`` = the new rows, or "changed" = any non-key column differs), also replace
        matched rows for which it holds. Returns Delta's counts."""
        from delta.tables import DeltaTable

        spec = self.ensure(name)
        before = self._version(spec)
        source = conform(rows, spec)
        on = self._key_match(spec) + self._partition_filter(spec, source)
        if update_when == "changed":
            update_when = "NOT (" + " AND ".join(f"t.`{c}` <=> s.`{c}`" for c in spec.columns if c not in spec.keys) + ")"
        merge = DeltaTable.forPath(self.spark, self.path(spec)).alias("t").merge(source.alias("s"), on)
        if update_when is not None:
            merge = merge.whenMatchedUpdateAll(condition=update_when)
        merge.whenNotMatchedInsertAll().execute()
        return self._counts_since(spec, before, {"numTargetRowsInserted": "inserted", "numTargetRowsUpdated": "updated"})

    def sync(self, name: str | Table, rows: DataFrame) -> dict[str, int]:
        """Make the table hold exactly ``rows`` (a full recomputation): upsert the rows that
        differ, delete the keys that are gone. Only the difference is written; when there is
        none, nothing is committed."""
        from delta.tables import DeltaTable

        spec = self.ensure(name)
        source = conform(rows, spec).localCheckpoint()
        current = self.read(spec)
        changed = source.subtract(current).localCheckpoint()
        gone = current.select(*spec.keys).subtract(source.select(*spec.keys)).localCheckpoint()
        counts = {"inserted": 0, "updated": 0, "deleted": 0}
        if not changed.isEmpty():
            counts.update(self.merge(spec, changed, update_when="true"))
        if not gone.isEmpty():
            before = self._version(spec)
            DeltaTable.forPath(self.spark, self.path(spec)).alias("t").merge(gone.alias("s"), self._key_match(spec)) \
                .whenMatchedDelete().execute()
            counts.update(self._counts_since(spec, before, {"numTargetRowsDeleted": "deleted"}))
        return counts

    @staticmethod
    def _key_match(spec: Table) -> str:
        return " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in spec.keys)

    def _partition_filter(self, spec: Table, source: DataFrame) -> str:
        """Restrict a merge to the partitions the new rows touch, so Delta skips the others."""
        if not spec.partition_by:
            return ""
        values = source.select(*spec.partition_by).distinct().limit(MAX_PRUNED_PARTITIONS + 1).collect()
        if len(values) > MAX_PRUNED_PARTITIONS:
            return ""
        if not values:
            return " AND false"
        if any(row[c] is None for row in values for c in spec.partition_by):
            return ""  # IN never matches NULL: a null partition would be inserted twice
        clauses = []
        for column in spec.partition_by:
            literals = sorted({sql_literal(row[column]) for row in values})
            clauses.append(f" AND t.`{column}` IN ({', '.join(literals)})")
        return "".join(clauses)

    def replace(self, name: str | Table, rows: DataFrame, where: str | None = None) -> dict[str, int]:
        """Overwrite the table, or with ``where`` only the rows matching that predicate."""
        spec = self.ensure(name)
        before = self._version(spec)
        writer = conform(rows, spec).write.format("delta").mode("overwrite")
        if where is not None:
            writer = writer.option("replaceWhere", where)
        writer.save(self.path(spec))
        return self._counts_since(spec, before, {"numOutputRows": "written"})

    def _version(self, spec: Table) -> int:
        from delta.tables import DeltaTable

        return DeltaTable.forPath(self.spark, self.path(spec)).history(1).select("version").first().version

    def _counts_since(self, spec: Table, before: int, wanted: dict[str, str]) -> dict[str, int]:
        """Delta's metrics of the write that followed version ``before``; zeros when the
        write committed nothing (a merge that matched everything)."""
        from delta.tables import DeltaTable

        last = DeltaTable.forPath(self.spark, self.path(spec)).history(1).select("version", "operationMetrics").first()
        metrics = (last.operationMetrics or {}) if last.version > before else {}
        return {label: int(metrics.get(key, 0)) for key, label in wanted.items()}


def conform(rows: DataFrame, spec: Table) -> DataFrame:
    """The table's columns, in its order and types; a missing column is a programming error."""
    present = set(rows.columns)
    missing = [f.name for f in spec.schema.fields if f.name not in present]
    if missing:
        raise ValueError(f"rows for {spec.name} lack columns {missing}")
    return rows.select([F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) for f in spec.schema.fields])


def sql_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
