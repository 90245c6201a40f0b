"""The declaration of a lakehouse table, and shorthands for declaring fields."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import DataType, StructField, StructType


@dataclass(frozen=True)
class Table:
    name: str  # "<layer>.<table>"
    schema: StructType
    keys: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    description: str = ""
    # The CLI stage that writes the table, named in "run it first" errors.
    produced_by: str = ""
    # Delta table properties set when the table is created.
    properties: tuple[tuple[str, str], ...] = ()
    # Long text (file contents, diffs): written without Parquet's dictionary encoding, which
    # such values overflow after a few rows anyway.
    long_text: tuple[str, ...] = ()
    # Parquet codec of every file the lakehouse writes for the table.
    compression: str = "zstd"
    # Rows are written sorted by these columns within each file (appends, overwrites and
    # compactions), so that similar rows (versions of one file) sit in the same pages.
    order_by: tuple[str, ...] = ()
    # Increments scatter what ``order_by`` keeps together: a partition that an append or merge
    # leaves with this many times as many small files (under half the compacted size) as that
    # write added to it, about as many writes' files, holding an eighth of its bytes or more,
    # is rewritten whole, sorted (0: never).
    compact_writes: int = 0

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def relative_path(self) -> str:
        return self.name.replace(".", "/", 1)

    @property
    def columns(self) -> list[str]:
        return self.schema.fieldNames()

    @property
    def required(self) -> list[str]:
        """Columns declared NOT NULL (Delta enforces them on every write)."""
        return [f.name for f in self.schema.fields if not f.nullable]


# Table properties (``Table.properties``). A table whose consumers read only what changed since
# they last ran keeps Delta's change feed; a table updated by merges keeps deletion vectors, so a
# merge marks the rows it replaces instead of rewriting every file that holds one.
CHANGE_FEED = (("delta.enableChangeDataFeed", "true"),)
DELETION_VECTORS = (("delta.enableDeletionVectors", "true"),)


def struct(*fields: StructField) -> StructType:
    return StructType(list(fields))


def _metadata(doc: str, values: tuple[str, ...]) -> dict | None:
    metadata = {}
    if values:
        # The comment a reader of the Delta table sees lists the values too.
        doc = " | ".join(values) + (f": {doc}" if doc else "")
        metadata["values"] = list(values)
    if doc:
        metadata["comment"] = doc
    return metadata or None


def required(name: str, dtype: DataType, doc: str = "", values: tuple[str, ...] = ()) -> StructField:
    """A NOT NULL column; ``values``: every value it may hold (from ``schemas.vocabulary``)."""
    return StructField(name, dtype, nullable=False, metadata=_metadata(doc, values))


def optional(name: str, dtype: DataType, doc: str = "", values: tuple[str, ...] = ()) -> StructField:
    return StructField(name, dtype, nullable=True, metadata=_metadata(doc, values))


def declared_values(field: StructField) -> tuple[str, ...]:
    """The values an enumerated column may hold; empty when any value is allowed."""
    return tuple((field.metadata or {}).get("values", ()))


def sql_literal(value) -> str:
    """A value as a Spark SQL literal, for predicates on a table's columns (partition filters,
    replaceWhere, data-quality queries)."""
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
