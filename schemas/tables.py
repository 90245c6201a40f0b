"""Every lakehouse table, declared once: name, schema, keys and partitioning.

Readers, writers, tests, data-quality suites and the README's table list all come from here.
A table's location is ``<lakehouse>/<layer>/<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql.types import (
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


@dataclass(frozen=True)
class Table:
    name: str  # "<layer>.<table>"
    schema: StructType
    keys: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    description: str = ""
    # The CLI stage that writes the table, named in "run it first" errors.
    produced_by: str = ""
    # Columns that must never be null (besides the keys), checked by the table's quality suite.
    required: tuple[str, ...] = field(default=())

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def relative_path(self) -> str:
        return self.name.replace(".", "/", 1)

    @property
    def columns(self) -> list[str]:
        return self.schema.fieldNames()


def _fields(*fields: StructField) -> StructType:
    return StructType(list(fields))


def _required(name: str, dtype) -> StructField:
    return StructField(name, dtype, nullable=False)


def _optional(name: str, dtype) -> StructField:
    return StructField(name, dtype, nullable=True)


STAGE_RUNS = Table(
    name="meta.stage_runs",
    description="One row per stage run: counts in, out and dropped per reason, with the config used.",
    keys=("run_id", "stage"),
    schema=_fields(
        _required("run_id", StringType()),
        _required("stage", StringType()),
        _required("started_at", TimestampType()),
        _required("finished_at", TimestampType()),
        _required("rows_in", LongType()),
        _required("rows_out", LongType()),
        _required("dropped", MapType(StringType(), LongType())),
        _optional("details", MapType(StringType(), StringType())),
        _required("config_fingerprint", StringType()),
        _required("commitpack_version", StringType()),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in [STAGE_RUNS]}


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no table named {name!r}; known: {', '.join(sorted(TABLES))}") from None
