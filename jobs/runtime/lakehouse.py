"""Reading and writing the lakehouse's Delta tables, as declared in ``schemas.tables``.

Writes never append blindly: a rerun either merges on the table's keys (insert what is new,
optionally update what changed) or replaces what it recomputed. Every write follows its table's
declared storage: Parquet codec, rows sorted within files (``Table.order_by``).

A derived table follows its source through the source's change feed: ``changes`` reads what
changed between two versions, and a target's table properties record the version of each source
it has read (``watermark``).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from commitpack.jobs.runtime.errors import JobError
from commitpack.jobs.runtime.storage import FileSystem, normalize_root
from commitpack.schemas.table import Table, sql_literal
from commitpack.schemas.tables import TABLES, table

MAX_PRUNED_PARTITIONS = 1000
# A compaction (``Table.compact_writes``) writes files of about this size.
COMPACTED_FILE_BYTES = 128 << 20
# Commits made again after losing a race with another writer (``concurrency.commit_retries``).
COMMIT_RETRIES = 5
T = TypeVar("T")

# The writes running now (``Lakehouse._writing``): how many, under which session settings, and
# the values those settings had before the first of them.
_writers = 0
_active: dict[str, str] | None = None
_restore: dict[str, str | None] = {}
_writers_changed = threading.Condition()


def write_settings(spec: Table) -> dict[str, str]:
    """The session settings a write of ``spec`` needs: its Parquet codec; no dictionary encoding
    for long text columns (per-column keys reach Parquet's writer), those of every declared table
    so that writes of different tables share their settings; and no materialization of a merge's
    source by Delta (``merge`` hands it a source already materialized, which Delta would
    otherwise copy once more)."""
    long_text = {column for declared in TABLES.values() for column in declared.long_text} | set(spec.long_text)
    return {
        "spark.sql.parquet.compression.codec": spec.compression,
        **{f"parquet.enable.dictionary#{column}": "false" for column in sorted(long_text)},
        "spark.databricks.delta.merge.materializeSource": "none",
    }


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
        self,
        name: str | Table,
        rows: DataFrame,
        update_when: str | None = None,
        partitions: list[tuple] | None = None,
        delete_when: str | None = None,
        assignments: dict[str, str] | None = None,
        insert_when: str | None = None,
    ) -> dict[str, int]:
        """Insert rows whose keys are new. With ``update_when`` (a condition over ``t`` = the
        table and ``s`` = the new rows, or "changed" = any non-key column differs), also replace
        matched rows for which it holds: every column, or with ``assignments`` (column → an
        expression over ``t`` and ``s``) those columns. With ``delete_when``, matched rows for
        which it holds are deleted instead; with ``insert_when`` (over ``s``), only new rows for
        which it holds are inserted. Conditions may read flags, the columns of ``rows`` named
        ``_…`` (the table has none).
        ``partitions`` (values of the partition columns the rows fall in), when the caller knows
        them, saves a pass over the rows. Returns the counts, all in one commit.

        When no key of the rows is in a table one stage writes (``Table.produced_by``; its lease
        keeps other writers out between the check and the write), the rows are appended instead:
        the same result as the merge for a fraction of its fixed cost (its scans for matches and
        rewrites), which an increment's new rows would otherwise pay on every table."""
        from delta.tables import DeltaTable

        spec = self.ensure(name)
        source = materialized(conform(rows, spec, flags=True))
        on = self._key_match(spec) + self._partition_filter(spec, source, partitions)
        if update_when == "changed":
            update_when = changed(spec)
        if spec.produced_by and self.read(spec).alias("t").join(source.alias("s"), F.expr(on), "left_semi").isEmpty():
            new = (source.alias("s").where(insert_when) if insert_when else source).select(*spec.columns)
            count = new.count()
            if count:
                self.append(spec, new)
            return {"inserted": count, "updated": 0, "deleted": 0}

        def commit():
            merge = DeltaTable.forPath(self.spark, self.path(spec)).alias("t").merge(source.alias("s"), on)
            if delete_when is not None:
                merge = merge.whenMatchedDelete(condition=delete_when)
            if update_when is not None:
                merge = (
                    merge.whenMatchedUpdate(condition=update_when, set=assignments)
                    if assignments
                    else merge.whenMatchedUpdateAll(condition=update_when)
                )
            return merge.whenNotMatchedInsertAll(condition=insert_when).execute().first()

        with self._writing(spec):
            done = retry_conflicts(commit, self.commit_retries)
        self._compact_written(spec)
        return {
            "inserted": int(done.num_inserted_rows),
            "updated": int(done.num_updated_rows),
            "deleted": int(done.num_deleted_rows),
        }

    def update(self, name: str | Table, rows: DataFrame, assignments: dict[str, str], when: str) -> int:
        """Set ``assignments`` (column → an expression over ``t`` = the table and ``s`` = ``rows``)
        in the rows whose keys ``rows`` holds and for which ``when`` holds; ``rows`` needs only
        the keys and the columns the expressions read. Returns how many rows changed."""
        from delta.tables import DeltaTable

        spec = self.ensure(name)
        rows = materialized(rows)

        def commit():
            return (
                DeltaTable.forPath(self.spark, self.path(spec))
                .alias("t")
                .merge(rows.alias("s"), self._key_match(spec))
                .whenMatchedUpdate(condition=when, set=assignments)
                .execute()
                .first()
            )

        with self._writing(spec):
            return int(retry_conflicts(commit, self.commit_retries).num_updated_rows)

    def delete(self, name: str | Table, keys: DataFrame) -> int:
        """Delete the rows whose keys are in ``keys``; returns how many."""
        from delta.tables import DeltaTable

        spec = self.ensure(name)
        keys = materialized(keys.select(*spec.keys))

        def commit():
            return (
                DeltaTable.forPath(self.spark, self.path(spec))
                .alias("t")
                .merge(keys.alias("s"), self._key_match(spec))
                .whenMatchedDelete()
                .execute()
                .first()
            )

        with self._writing(spec):
            return int(retry_conflicts(commit, self.commit_retries).num_deleted_rows)

    def sync(self, name: str | Table, rows: DataFrame) -> dict[str, int]:
        """Make the table hold exactly ``rows`` (a full recomputation): upsert the rows that
        differ, delete the keys that are gone. Only the difference is written; when there is
        none, nothing is committed."""
        spec = self.ensure(name)
        source = conform(rows, spec).localCheckpoint()
        current = self.read(spec)
        changed = source.subtract(current).localCheckpoint()
        gone = current.select(*spec.keys).subtract(source.select(*spec.keys)).localCheckpoint()
        counts = {"inserted": 0, "updated": 0, "deleted": 0}
        if not changed.isEmpty():
            counts.update(self.merge(spec, changed, update_when="true"))
        if not gone.isEmpty():
            counts["deleted"] = self.delete(spec, gone)
        return counts

    @contextlib.contextmanager
    def _writing(self, spec: Table):
        """The session settings a write of ``spec`` runs under (``write_settings``), set while it
        runs. Writes under the same settings (every table's, unless one declares another codec)
        run side by side: the settings are set by the first and restored by the last; a write
        under other settings waits for them to end."""
        global _writers, _active, _restore
        wanted = write_settings(spec)
        with _writers_changed:
            _writers_changed.wait_for(lambda: _writers == 0 or _active == wanted)
            if _writers == 0:
                _active = wanted
                _restore = {key: self.spark.conf.get(key, None) for key in wanted}
                for key, value in wanted.items():
                    self.spark.conf.set(key, value)
            _writers += 1
        try:
            yield
        finally:
            with _writers_changed:
                _writers -= 1
                if _writers == 0:
                    for key, value in _restore.items():
                        if value is None:
                            self.spark.conf.unset(key)
                        else:
                            self.spark.conf.set(key, value)
                    _active = None
                    _writers_changed.notify_all()

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
        writer = ordered(conform(rows, spec), spec).write.format("delta").mode("append")
        with self._writing(spec):
            retry_conflicts(lambda: writer.save(self.path(spec)), self.commit_retries)
        self._compact_written(spec)

    def replace(self, name: str | Table, rows: DataFrame, where: str | None = None) -> None:
        """Overwrite the table, or with ``where`` only the rows matching that predicate."""
        spec = self.ensure(name)
        writer = ordered(conform(rows, spec), spec).write.format("delta").mode("overwrite")
        if where is not None:
            writer = writer.option("replaceWhere", where)
        with self._writing(spec):
            retry_conflicts(lambda: writer.save(self.path(spec)), self.commit_retries)

    # ------------------------------------------------------------------------- compaction

    def _compact_written(self, spec: Table) -> None:
        """After a write, compact the partitions the table's last commit added files to."""
        if spec.compact_writes:
            log = FileSystem(self.spark, self.path(spec)).read_text(f"_delta_log/{self.version(spec):020d}.json")
            actions = [json.loads(line) for line in (log or "").splitlines() if line.strip()]
            written: dict[str, tuple[dict, int]] = {}  # partition folder → its values, files this write added
            for add in (a["add"] for a in actions if "add" in a):
                folder = partition_folder(add["path"], spec, in_log=True)
                values, added = written.get(folder, (add["partitionValues"], 0))
                written[folder] = (values, added + 1)
            self.compact(spec, dict(sorted(written.items())))

    def compact(self, name: str | Table, written: dict[str, tuple[dict[str, str | None], int]]) -> list[str]:
        """Rewrite the partitions of ``written`` (folder → the partition's values, partition column
        → value, and how many files the latest write added to it; folder "" and values ``{}`` for
        an unpartitioned table) that increments scattered: at least ``compact_writes`` times as
        many files under half of ``COMPACTED_FILE_BYTES`` as that write added, holding an eighth
        of its bytes or more. Counting writes, not files, leaves alone what one wide write (a file
        per task) left. Their rows are sorted by ``order_by`` into files of about that size, all
        in one write; the commit only rearranges rows (dataChange false), so a change feed shows
        nothing of it. Returns the partitions rewritten (their predicates)."""
        spec = name if isinstance(name, Table) else table(name)
        files = FileSystem(self.spark, self.path(spec))

        def rewrite() -> list[str]:
            # Read again on each attempt: a retry after a concurrent write must not put back an
            # older version's rows.
            current = self.read(spec)
            live: dict[str, list[str]] = {}  # one listing for every partition, not a query each
            for path in current.inputFiles():
                live.setdefault(partition_folder(path, spec), []).append(path)
            chosen: list[tuple[str, int]] = []  # predicate, files it is rewritten into
            for folder, (values, added) in written.items():
                enough = spec.compact_writes * added
                if len(live.get(folder, ())) < enough:
                    continue
                sizes = list(files.sizes(live[folder]).values())
                small = [size for size in sizes if size < COMPACTED_FILE_BYTES // 2]
                if len(small) < enough or 8 * sum(small) < sum(sizes):
                    continue
                chosen.append((partition_predicate(values), max(1, math.ceil(sum(sizes) / COMPACTED_FILE_BYTES))))
            if not chosen:
                return []
            where = " OR ".join(f"({p})" for p, _ in chosen if p)
            rows = current.where(where) if where else current
            writer = (
                compacted_layout(rows, spec, chosen)
                .write.format("delta")
                .mode("overwrite")
                .option("dataChange", "false")
            )
            if where:
                writer = writer.option("replaceWhere", where)
            with self._writing(spec):
                writer.save(self.path(spec))
            return [p or "all" for p, _ in chosen]

        return retry_conflicts(rewrite, self.commit_retries)

    # ------------------------------------------------------------------------- following a source

    def version(self, name: str | Table) -> int:
        """The table's current version."""
        from delta.tables import DeltaTable

        return int(DeltaTable.forPath(self.spark, self.path(name)).history(1).first().version)

    def read_version(self, name: str | Table, version: int) -> DataFrame:
        """The table as it was at ``version``."""
        return self.spark.read.format("delta").option("versionAsOf", version).load(self.path(name))

    def changes(self, name: str | Table, after: int, upto: int) -> DataFrame | None:
        """The table's change feed from version ``after`` (excluded) to ``upto``: a row per row
        inserted, deleted or updated (its pre- and post-image), with ``_change_type`` and
        ``_commit_version``. None when the feed does not hold those versions (it was off for some
        of them, or their log is gone): the declared properties are then set, so the next call
        finds a feed. None too when ``after`` is past ``upto`` (the table's latest version, as
        callers pass it): the table was made anew since."""
        spec = name if isinstance(name, Table) else table(name)
        if after > upto:
            return None
        feed = (
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", after + 1)
            .option("endingVersion", upto)
            .load(self.path(spec))
        )
        try:
            feed.select("_commit_version").limit(1).collect()  # a missing feed shows when a scan is planned
        except AnalysisException:
            self.declare_properties(spec)
            return None
        return feed.drop("_commit_timestamp")

    def declare_properties(self, name: str | Table) -> None:
        """Set the declared table properties an existing table lacks (one made by an older release)."""
        spec = name if isinstance(name, Table) else table(name)
        current = self.properties(spec)
        missing = {key: value for key, value in spec.properties if current.get(key) != value}
        if missing:
            self._set_properties(spec, missing)

    def properties(self, target: str | Table) -> dict[str, str]:
        """The table properties of ``target`` ({} when there is no such table)."""
        if not self.exists(target):
            return {}
        from delta.tables import DeltaTable

        return dict(DeltaTable.forPath(self.spark, self.path(target)).detail().first().properties)

    def watermark(self, target: str | Table, source: str | Table) -> int | None:
        """The version of ``source`` that ``target`` last read in full, or None."""
        found = self.properties(target).get(watermark_property(source))
        return None if found is None else int(found)

    def record_watermarks(self, *marks: tuple[str | Table, str | Table, int], configuration: str | None = None) -> None:
        """(target, source, version): target now holds everything source held at version, with
        ``configuration`` (a fingerprint of the settings its rows were made under), if given, as
        ``CONFIGURATION_PROPERTY``. Kept in the target's own table properties, one metadata-only
        commit per target: a fraction of a second, where a row in a table of its own cost a merge."""
        per_target: dict[str, dict[str, str]] = {}
        for target, source, version in marks:
            properties = per_target.setdefault(_name(target), {})
            properties[watermark_property(source)] = str(int(version))
            if configuration is not None:
                properties[CONFIGURATION_PROPERTY] = configuration
        for target, properties in per_target.items():
            self._set_properties(target, properties)

    def forget_watermarks(self, target: str | Table) -> None:
        """Remove what ``target`` records of its sources (before its rows are made again under
        another configuration: a run cut off halfway must not leave a record of the old one)."""
        recorded = [key for key in self.properties(target) if key.startswith(RECORD_PREFIX)]
        if recorded:
            self._alter(target, f"UNSET TBLPROPERTIES IF EXISTS ({', '.join(sql_literal(k) for k in recorded)})")

    def _set_properties(self, target: str | Table, properties: dict[str, str]) -> None:
        settings = ", ".join(f"{sql_literal(key)} = {sql_literal(value)}" for key, value in properties.items())
        self._alter(target, f"SET TBLPROPERTIES ({settings})")

    def _alter(self, target: str | Table, change: str) -> None:
        statement = f"ALTER TABLE delta.`{self.path(target)}` {change}"
        retry_conflicts(lambda: self.spark.sql(statement), self.commit_retries)


# What a table records of the sources it follows (``Lakehouse.record_watermarks``).
RECORD_PREFIX = "commitpack."
CONFIGURATION_PROPERTY = f"{RECORD_PREFIX}configuration"


def watermark_property(source: str | Table) -> str:
    """The table property in which a target records the version of ``source`` it has read."""
    return f"{RECORD_PREFIX}read.{_name(source)}"


def side_by_side(writes: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run writes of different tables at once, one thread each, and return their results by
    name (the first failure is raised once all have ended). A small write's time is mostly
    Delta's and Spark's fixed costs on the driver (planning, log replay, a few short jobs),
    which overlap well; writes under the same settings run side by side (``Lakehouse._writing``)."""
    with ThreadPoolExecutor(max_workers=len(writes)) as pool:
        running = {name: pool.submit(write) for name, write in writes.items()}
    return {name: future.result() for name, future in running.items()}


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


def _name(spec: str | Table) -> str:
    return spec.name if isinstance(spec, Table) else spec


def changed(spec: Table) -> str:
    """A merge condition: some non-key column of ``s`` differs from ``t``'s."""
    return "NOT (" + " AND ".join(f"t.`{c}` <=> s.`{c}`" for c in spec.columns if c not in spec.keys) + ")"


def conform(rows: DataFrame, spec: Table, flags: bool = False) -> DataFrame:
    """The table's columns, in its order and types (with ``flags``, then the columns named
    ``_…``); a missing column is a programming error."""
    present = set(rows.columns)
    missing = [f.name for f in spec.schema.fields if f.name not in present]
    if missing:
        raise ValueError(f"rows for {spec.name} lack columns {missing}")
    declared = [F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) for f in spec.schema.fields]
    extra = [F.col(f"`{c}`") for c in rows.columns if flags and c.startswith("_")]
    return rows.select(*declared, *extra)


def compacted_layout(rows: DataFrame, spec: Table, partitions: list[tuple[str, int]]) -> DataFrame:
    """``rows`` of ``partitions`` (predicate, files to write) laid out for one sorted write: each
    file is a slot that one task writes whole (the slot is the task's number, not hashed into
    one, so no two slots share a task). A partition of n files is split into n slots by a hash of
    its first sort column (a repository's rows stay together), so a small partition comes out as
    one file, not as pieces that would count as small files toward the next compaction (as range
    bounds over every partition's rows would cut it)."""
    spread = F.xxhash64(*(spec.order_by[:1] or spec.keys))
    slot, first = None, 0
    for predicate, files in partitions:
        value = F.lit(first) + F.pmod(spread, F.lit(files)) if files > 1 else F.lit(first)
        if not predicate:  # the whole (unpartitioned) table
            slot = value
        else:
            slot = F.when(F.expr(predicate), value) if slot is None else slot.when(F.expr(predicate), value)
        first += files
    return sorted_within(rows.repartitionById(first, slot.cast("int")), (*spec.partition_by, *spec.order_by))


def partition_predicate(values: dict[str, str | None]) -> str:
    """The SQL predicate of one partition (partition column → value); "" for the whole table."""
    return " AND ".join(
        f"`{column}` IS NULL" if value is None else f"`{column}` = {sql_literal(value)}"
        for column, value in sorted(values.items())
    )


def partition_folder(path: str, spec: Table, in_log: bool = False) -> str:
    """The partition folder of a data file as the file system names it (``lang=c%23`` for
    c#, "" when unpartitioned), from its path as ``inputFiles`` gives it, or (``in_log``) as the
    Delta log does: relative and URI-escaped once more (``lang=c%2523``)."""
    depth = len(spec.partition_by)
    if not depth:
        return ""
    folders = path.split("/")[-1 - depth : -1]
    return "/".join(unquote(name) if in_log else name for name in folders)


def materialized(rows: DataFrame) -> DataFrame:
    """A merge's source computed once (Delta reads it twice: for the matches, then to write),
    unless it is data on the driver already."""
    return rows if rows.isLocal() else rows.localCheckpoint()


def ordered(rows: DataFrame, spec: Table) -> DataFrame:
    """Rows sorted within each task as the table's files keep them."""
    return sorted_within(rows, spec.order_by)


def sorted_within(rows: DataFrame, columns: tuple[str, ...]) -> DataFrame:
    """Rows sorted by ``columns`` within each task; unchanged when there are none."""
    return rows.sortWithinPartitions(*columns) if columns else rows
