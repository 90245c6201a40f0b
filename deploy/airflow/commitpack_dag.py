"""The commitpack pipeline as an Airflow DAG: one task per stage, run hourly with catchup.

Each run loads the GH Archive hour of its data interval (the run for 20:00-21:00 UTC loads
``2025-10-06-20.json.gz``), ingests the BigQuery export, then indexes, fetches, filters,
deduplicates and exports what is new in the lakehouse: the ingest stages skip the files and
rows they recorded, index and fetch the commits they have not seen, and filter, dedup and export
read their source tables' Delta change feeds since the version they last read (recorded in
their own tables' properties; export's in its dataset card, and an hour's inserted rows become a
new layer of their languages' files), so an hour that adds no raw rows leaves their tables and
the export as they are. A changed filter or dedup configuration, or export settings, make that stage redo
everything once (its summary's ``mode`` says why). Any sequence of hourly runs ends with the
CommitPackFT of one run over the same hours, so a retried task or a re-run hour changes nothing
that is already done.

Settings come from ``commitpack_dag.yaml`` beside this file, or from the file named by the
``COMMITPACK_AIRFLOW_CONFIG`` environment variable; its ``mode`` picks how a stage runs:

* ``local``: ``commitpack <stage> …`` on the Airflow worker (BashOperator);
* ``spark-submit``: ``spark-submit … jobs/stages/<stage>.py …`` on the worker (BashOperator);
* ``emr``: a spark-submit step on a running EMR cluster (EmrAddStepsOperator, which waits for it);
* ``dataproc``: a PySpark job on a running Dataproc cluster (DataprocSubmitJobOperator).

A provider's operators are imported only in its mode, so the DAG loads without the others.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from airflow.sdk import DAG, CronDataIntervalTimetable, chain

import commitpack.jobs.stages
from commitpack.jobs.runtime.config import Layers, build, read_yaml
from commitpack.jobs.runtime.errors import UsageError
from commitpack.jobs.runtime.session import delta_properties, spark_submit_options
from commitpack.jobs.runtime.stage import Option, options
from commitpack.jobs.stages.pipeline import STAGES

CONFIG_ENV = "COMMITPACK_AIRFLOW_CONFIG"
# The run's GH Archive hour as the archive names its files: 2025-10-06-20 (UTC, no leading zero).
HOUR = "{{ data_interval_start | ds }}-{{ data_interval_start.hour }}"


@dataclass(frozen=True)
class SparkJobSettings:
    """spark-submit, emr and dataproc modes."""

    # Directory or URI holding the stage scripts (jobs/stages/<stage>.py); spark-submit mode
    # defaults to the installed commitpack.jobs.stages package.
    jobs: str | None = None
    # Maven coordinates; default: the Delta and Avro jars matching the installed pyspark.
    packages: tuple[str, ...] | None = None
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EmrSettings:
    cluster_id: str | None = None
    aws_conn_id: str = "aws_default"
    deploy_mode: str = "cluster"
    timeout_minutes: int = 720
    deferrable: bool = False


@dataclass(frozen=True)
class DataprocSettings:
    project_id: str | None = None
    region: str | None = None
    cluster_name: str | None = None
    gcp_conn_id: str = "google_cloud_default"
    deferrable: bool = False


@dataclass(frozen=True)
class DagSettings:
    """The DAG's settings (``commitpack_dag.yaml`` documents each), loaded and checked by the same
    loader as commitpack's own."""

    mode: Literal["local", "spark-submit", "emr", "dataproc"] = "local"
    start_date: datetime | date | None = None
    end_date: datetime | date | None = None
    retries: int = 2
    retry_delay_minutes: float = 15
    lakehouse: str | None = None
    # The jobs' own --config file and --set KEY=VALUE settings.
    commitpack_config: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    # The stages' own options (input, commits, licenses, languages, output, remote-template,
    # cache-dir): each goes to the stages that declare it; "{hour}" becomes the run's hour.
    options: dict[str, Any] = field(default_factory=dict)
    # local and spark-submit modes: the program (default: found on the worker's PATH), the
    # Spark master, and environment variables added to the worker's.
    executable: str | None = None
    master: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    spark: SparkJobSettings = field(default_factory=SparkJobSettings)
    emr: EmrSettings = field(default_factory=EmrSettings)
    dataproc: DataprocSettings = field(default_factory=DataprocSettings)


# What each mode needs set.
REQUIRED = {
    "emr": ["spark.jobs", "emr.cluster_id"],
    "dataproc": ["spark.jobs", "dataproc.project_id", "dataproc.region", "dataproc.cluster_name"],
}


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or Path(__file__).with_name("commitpack_dag.yaml"))


def load_config(path: Path) -> DagSettings:
    """The defaults overridden by the YAML file (an unknown key or a wrong type is an error)."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file (set {CONFIG_ENV} or put commitpack_dag.yaml beside the DAG)")
    layers = Layers(dataclasses.asdict(DagSettings()))
    layers.merge(read_yaml(path, option=""), origin=str(path))
    cfg = build(DagSettings, layers)
    missing = [
        key for key in ["start_date", "lakehouse", *REQUIRED.get(cfg.mode, [])] if setting(cfg, key) in (None, "")
    ]
    if missing:
        raise UsageError(f"{path}: set {', '.join(missing)}")
    return cfg


def setting(cfg, dotted: str):
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def utc(value: datetime | date | None) -> datetime | None:
    """Without an offset a moment is UTC, as GH Archive's hours are."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time())
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# ----------------------------------------------------------------------------- job arguments


def option_name(option: Option) -> str:
    return option.flag.removeprefix("--")


def job_arguments(stage, cfg: DagSettings, path: Path) -> list[str]:
    """The arguments after ``commitpack <stage>`` (or ``jobs/stages/<stage>.py``)."""
    args = ["--lakehouse", cfg.lakehouse]
    if cfg.commitpack_config:
        args += ["--config", cfg.commitpack_config]
    for key, value in cfg.settings.items():
        # JSON is YAML, which is how --set reads a value: lists and strings arrive as written.
        args += ["--set", f"{key}={json.dumps(value)}"]
    for option in options(stage):
        value = cfg.options.get(option_name(option))
        if value is None:
            if option.required:
                raise UsageError(
                    f"{path}: set options.{option_name(option)} (required by `commitpack {stage.COMMAND}`)"
                )
            continue
        for item in value if isinstance(value, list) else [value]:
            args += [option.flag, str(item).replace("{hour}", HOUR)]
    return args


def check_options(cfg: DagSettings, path: Path) -> None:
    known = {option_name(option) for stage in STAGES for option in options(stage)}
    unknown = sorted(set(cfg.options) - known)
    if unknown:
        raise UsageError(
            f"{path}: options.{unknown[0]} is not an option of any stage (known: {', '.join(sorted(known))})"
        )


def script_name(stage) -> str:
    """``ingest_gharchive.py``: the stage's module file (in jobs/stages/), which spark-submit runs as a script."""
    return stage.__name__.rpartition(".")[2] + ".py"


def spark_settings(cfg: DagSettings) -> dict[str, str]:
    """Spark properties every job needs (the Delta and Avro jars, Delta's catalog) and the DAG's own."""
    packages = list(cfg.spark.packages) if cfg.spark.packages else None
    return delta_properties(packages) | cfg.spark.conf


# ----------------------------------------------------------------------------- one task per mode


def local_task(stage, cfg: DagSettings, args: list[str]):
    from airflow.providers.standard.operators.bash import BashOperator

    master = ["--master", cfg.master] if cfg.master else []
    command = [cfg.executable or "commitpack", stage.COMMAND, *args, *master]
    return BashOperator(task_id=stage.COMMAND, bash_command=shlex.join(command), env=cfg.env or None, append_env=True)


def spark_submit_task(stage, cfg: DagSettings, args: list[str]):
    from airflow.providers.standard.operators.bash import BashOperator

    jobs = cfg.spark.jobs or str(Path(commitpack.jobs.stages.__file__).parent)
    master = ["--master", cfg.master] if cfg.master else []
    command = [
        cfg.executable or "spark-submit",
        *master,
        *spark_submit_options(spark_settings(cfg)),
        f"{jobs.rstrip('/')}/{script_name(stage)}",
        *args,
    ]
    return BashOperator(task_id=stage.COMMAND, bash_command=shlex.join(command), env=cfg.env or None, append_env=True)


def emr_task(stage, cfg: DagSettings, args: list[str]):
    # One task adds the step and waits for it, so a retry submits the stage again (a separate
    # EmrStepSensor's retry would only watch the failed step once more).
    from airflow.providers.amazon.aws.operators.emr import EmrAddStepsOperator

    emr = cfg.emr
    step = {
        "Name": f"commitpack {stage.COMMAND} {HOUR}",
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": [
                "spark-submit",
                "--deploy-mode",
                emr.deploy_mode,
                *spark_submit_options(spark_settings(cfg)),
                f"{cfg.spark.jobs.rstrip('/')}/{script_name(stage)}",
                *args,
            ],
        },
    }
    return EmrAddStepsOperator(
        task_id=stage.COMMAND,
        job_flow_id=emr.cluster_id,
        steps=[step],
        aws_conn_id=emr.aws_conn_id,
        wait_for_completion=True,
        waiter_delay=60,
        waiter_max_attempts=emr.timeout_minutes,
        deferrable=emr.deferrable,
    )


def dataproc_task(stage, cfg: DagSettings, args: list[str]):
    from airflow.providers.google.cloud.operators.dataproc import DataprocSubmitJobOperator

    dataproc = cfg.dataproc
    job = {
        "placement": {"cluster_name": dataproc.cluster_name},
        "pyspark_job": {
            "main_python_file_uri": f"{cfg.spark.jobs.rstrip('/')}/{script_name(stage)}",
            "args": args,
            "properties": spark_settings(cfg),
        },
    }
    return DataprocSubmitJobOperator(
        task_id=stage.COMMAND,
        job=job,
        project_id=dataproc.project_id,
        region=dataproc.region,
        gcp_conn_id=dataproc.gcp_conn_id,
        deferrable=dataproc.deferrable,
    )


TASK_FACTORIES = {"local": local_task, "spark-submit": spark_submit_task, "emr": emr_task, "dataproc": dataproc_task}


def build_dag(path: Path) -> DAG:
    cfg = load_config(path)
    check_options(cfg, path)
    with DAG(
        dag_id="commitpack",
        description="GH Archive and BigQuery exports to CommitPack / CommitPackFT, one GH Archive hour per run",
        doc_md=__doc__,
        schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
        start_date=utc(cfg.start_date),
        end_date=utc(cfg.end_date),
        catchup=True,
        # Every run writes the same lakehouse, and a backfill must load its hours in order.
        max_active_runs=1,
        default_args={"retries": cfg.retries, "retry_delay": timedelta(minutes=cfg.retry_delay_minutes)},
        tags=["commitpack", cfg.mode],
    ) as dag:
        make = TASK_FACTORIES[cfg.mode]
        # In the pipeline's order, one after another: stages share the lakehouse's meta tables.
        chain(*[make(stage, cfg, job_arguments(stage, cfg, path)) for stage in STAGES])
    return dag


dag = build_dag(config_path())
