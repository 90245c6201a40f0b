"""Tables about the runs themselves."""

from pyspark.sql.types import LongType, MapType, StringType, TimestampType

from commitpack.schemas.table import Table, optional, required, struct

STAGE_RUNS = Table(
    name="meta.stage_runs",
    description="One row per stage run: counts in, out and dropped per reason, with the config used.",
    keys=("run_id", "stage"),
    schema=struct(
        required("run_id", StringType()),
        required("stage", StringType()),
        required("started_at", TimestampType()),
        required("finished_at", TimestampType()),
        required("rows_in", LongType()),
        required("rows_out", LongType()),
        required("dropped", MapType(StringType(), LongType())),
        optional("details", MapType(StringType(), StringType())),
        required("config_fingerprint", StringType()),
        required("commitpack_version", StringType()),
    ),
)

WATERMARKS = Table(
    name="meta.watermarks",
    description="How far each derived table has read its source: target holds everything source held at version.",
    keys=("target", "source"),
    schema=struct(
        required("target", StringType()),
        required("source", StringType()),
        required("version", LongType(), "the source's Delta table version"),
        required("updated_at", TimestampType()),
    ),
)
