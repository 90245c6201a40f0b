"""Arrow forms of declared Spark schemas, for the executors' ``mapInArrow`` bodies.

Spark takes the declared ``StructType`` itself as a UDF's output schema; the executors build
their batches against the Arrow schema derived here, so a shape is never written down twice.
"""

from __future__ import annotations

import pyarrow as pa
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

_SCALARS = {
    LongType(): pa.int64(),
    IntegerType(): pa.int32(),
    DoubleType(): pa.float64(),
    BooleanType(): pa.bool_(),
    TimestampType(): pa.timestamp("us", tz="UTC"),
    DateType(): pa.date32(),
    # Binary is built as large_binary: pyarrow builds it several times faster from Python bytes.
    BinaryType(): pa.large_binary(),
}


def arrow_type(dtype: DataType, large_text: bool = False) -> pa.DataType:
    if isinstance(dtype, StringType):
        # large_string is built several times faster from Python str values; Spark reads either.
        return pa.large_string() if large_text else pa.string()
    if isinstance(dtype, ArrayType):
        return pa.list_(arrow_type(dtype.elementType))
    if isinstance(dtype, StructType):
        return pa.struct([arrow_field(f) for f in dtype.fields])
    return _SCALARS[dtype]


def arrow_field(field: StructField, large_text: bool = False) -> pa.Field:
    return pa.field(field.name, arrow_type(field.dataType, large_text), nullable=True)


def arrow_schema(schema: StructType, large_text: tuple[str, ...] = ()) -> pa.Schema:
    """``schema`` in Arrow; the top-level string columns named in ``large_text`` as large_string."""
    return pa.schema([arrow_field(f, f.name in large_text) for f in schema.fields])


def nullable(schema: StructType) -> StructType:
    """The same columns, every one nullable: the shape of rows a UDF returns (Delta enforces
    NOT NULL when they are written to their table)."""
    return StructType([StructField(f.name, f.dataType, True, f.metadata) for f in schema.fields])
