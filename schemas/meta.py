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

STAGE_LEASES = Table(
    name="meta.stage_leases",
    description="The stages running on this lakehouse now: one row per stage, held by one run at a time.",
    keys=("stage",),
    schema=struct(
        required("stage", StringType(), "the stage a run is writing as (fetch, index …)"),
        required("run_id", StringType(), "the run holding it (meta.stage_runs.run_id)"),
        required("command", StringType(), "the command that run executes (a pipeline holds every stage it runs)"),
        required("holder", StringType(), "host and process id of that run's driver"),
        required("acquired_at", TimestampType()),
        required("expires_at", TimestampType(), "renewed while the run works; past it, the lease is free"),
    ),
)
