"""Reading and writing the lakehouse's Delta tables, as declared in ``schemas.tables``.

Writes never append blindly: a rerun either merges on the table's keys (insert what is new,
optionally update what changed) or replaces what it recomputed.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from typing import TypeVar

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from commitpack.jobs.runtime.errors import JobError
from commitpack.jobs.runtime.storage import normalize_root
from commitpack.schemas.table import Table, sql_literal
from commitpack.schemas.tables import table

MAX_PRUNED_PARTITIONS = 1000
# Commits made again after losing a race with another writer (``concurrency.commit_retries``).
COMMIT_RETRIES = 5
T = TypeVar("T")


class Lakehouse:
    def __init__(self, spark: SparkSession, root: str, commit_retries: int = COMMIT_RETRIES):
        self.spark = spark
        self.root = normalize_root(root)
        self.commit_retries = commit_retries

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
            for key, value in spec.properties:
                builder = builder.property(key, value)

            def create() -> None:
                try:
                    builder.execute()
                except Exception as exc:
                    # Another run creating it at once: its files may be there before its first
                    # commit is; the next attempt finds the table created.
                    if "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION" in str(exc) and not self.exists(spec):
                        raise TableCreationRace(spec.name) from exc
                    if not self.exists(spec):
                        raise

            retry_conflicts(create, self.commit_retries)
        return spec

    def merge(
        self, name: str | Table, rows: DataFrame, update_when: str | None = None, partitions: list[tuple] | None = None
    ) -> dict[str, int]:
        """Insert rows whose keys are new. With ``update_when`` (a condition over ``t`` = the
        table and ``s`` = the new rows, or "changed" = any non-key column differs), also replace
        matched rows for which it holds. ``partitions`` (values of the partition columns the
        rows fall in), when the caller knows them, saves a pass over the rows. Returns Delta's counts."""
        from delta.tables import DeltaTable

        spec = self.ensure(name)
        source = conform(rows, spec)
        on = self._key_match(spec) + self._partition_filter(spec, source, partitions)
        if update_when == "changed":
            update_when = (
                "NOT (" + " AND ".join(f"t.`{c}` <=> s.`{c}`" for c in spec.columns if c not in spec.keys) + ")"
            )

        def commit():
            merge = DeltaTable.forPath(self.spark, self.path(spec)).alias("t").merge(source.alias("s"), on)
            if update_when is not None:
                merge = merge.whenMatchedUpdateAll(condition=update_when)
            return merge.whenNotMatchedInsertAll().execute().first()

        with self._writing(spec):
            done = retry_conflicts(commit, self.commit_retries)
        return {"inserted": int(done.num_inserted_rows), "updated": int(done.num_updated_rows)}

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
            done = retry_conflicts(
                lambda: (
                    DeltaTable.forPath(self.spark, self.path(spec))
                    .alias("t")
                    .merge(gone.alias("s"), self._key_match(spec))
                    .whenMatchedDelete()
                    .execute()
                    .first()
                ),
                self.commit_retries,
            )
            counts["deleted"] = int(done.num_deleted_rows)
        return counts

    @contextlib.contextmanager
    def _writing(self, spec: Table):
        """Parquet settings for one table's write (per-column keys reach Parquet's writer)."""
        keys = [f"parquet.enable.dictionary#{column}" for column in spec.long_text]
        for key in keys:
            self.spark.conf.set(key, "false")
        try:
            yield
        finally:
            for key in keys:
                self.spark.conf.unset(key)

    @staticmethod
    def _key_match(spec: Table) -> str:
        return " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in spec.keys)

    def _partition_filter(self, spec: Table, source: DataFrame, partitions: list[tuple] | None = None) -> str:
        """Restrict a merge to the partitions the new rows touch, so Delta skips the others."""
        if not spec.partition_by:
            return ""
        if partitions is None:
            partitions = [
                tuple(r)
                for r in source.select(*spec.partition_by).distinct().limit(MAX_PRUNED_PARTITIONS + 1).collect()
            ]
        if len(partitions) > MAX_PRUNED_PARTITIONS:
            return ""
        if not partitions:
            return " AND false"
        if any(value is None for values in partitions for value in values):
            return ""  # IN never matches NULL: a null partition would be inserted twice
        return "".join(
            f" AND t.`{column}` IN ({', '.join(sorted({sql_literal(values[i]) for values in partitions}))})"
            for i, column in enumerate(spec.partition_by)
        )

    def append(self, name: str | Table, rows: DataFrame) -> None:
        """Append rows the caller knows to be new (their keys are absent), in one pass over them."""
        spec = self.ensure(name)
        writer = conform(rows, spec).write.format("delta").mode("append")
        with self._writing(spec):
            retry_conflicts(lambda: writer.save(self.path(spec)), self.commit_retries)

    def replace(self, name: str | Table, rows: DataFrame, where: str | None = None) -> None:
        """Overwrite the table, or with ``where`` only the rows matching that predicate."""
        spec = self.ensure(name)
        writer = conform(rows, spec).write.format("delta").mode("overwrite")
        if where is not None:
            writer = writer.option("replaceWhere", where)
        with self._writing(spec):
            retry_conflicts(lambda: writer.save(self.path(spec)), self.commit_retries)


class TableCreationRace(Exception):
    """Another run was creating the same table at the same moment."""


def retry_conflicts(commit: Callable[[], T], retries: int) -> T:
    """Run a Delta commit; when it lost a race with a concurrent writer's commit, run it again
    (Delta then reads the table's new version), after a random pause that grows each time, so
    two writers do not collide again in step."""
    attempt = 0
    while True:
        try:
            return commit()
        except Exception as exc:
            if attempt == retries or not is_write_conflict(exc):
                raise
        time.sleep(random.uniform(0.5, 1.5) * 2**attempt)
        attempt += 1


def is_write_conflict(exc: BaseException) -> bool:
    """Delta's commit conflicts (ConcurrentAppendException, MetadataChangedException …): all
    are ``java.util.ConcurrentModificationException``s, which pyspark raises as Py4JJavaError
    (or, where Delta's converter is in the path, as ``delta.exceptions`` classes)."""
    from delta import exceptions
    from pyspark import SparkContext

    if isinstance(exc, (TableCreationRace, *(getattr(exceptions, name) for name in exceptions.__all__))):
        return True
    java = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    jvm = SparkContext._jvm
    if java is None or jvm is None:
        return False
    conflict = jvm.java.lang.Class.forName("java.util.ConcurrentModificationException")
    while java is not None:
        if conflict.isInstance(java):
            return True
        java = java.getCause()
    return False


def conform(rows: DataFrame, spec: Table) -> DataFrame:
    """The table's columns, in its order and types; a missing column is a programming error."""
    present = set(rows.columns)
    missing = [f.name for f in spec.schema.fields if f.name not in present]
    if missing:
        raise ValueError(f"rows for {spec.name} lack columns {missing}")
    return rows.select([F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) for f in spec.schema.fields])
