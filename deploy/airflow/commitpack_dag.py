"""The commitpack pipeline as an Airflow DAG: one task per stage, run hourly with catchup.

Each run loads the GH Archive hour of its data interval (the run for 20:00-21:00 UTC loads
``2025-10-06-20.json.gz``), ingests the BigQuery export, then indexes, fetches, filters,
deduplicates and exports whatever is new in the lakehouse. Every stage is incremental and
idempotent, so a retried task or a re-run hour changes nothing that is already done.

Settings come from ``commitpack_dag.yaml`` beside this file, or from the file named by the
``COMMITPACK_AIRFLOW_CONFIG`` environment variable; its ``mode`` picks how a stage runs:

* ``local``: ``commitpack <stage> …`` on the Airflow worker (BashOperator);
* ``spark-submit``: ``spark-submit … jobs/<stage>.py …`` on the worker (BashOperator);
* ``emr``: a spark-submit step on a running EMR cluster (EmrAddStepsOperator, which waits for it);
* ``dataproc``: a PySpark job on a running Dataproc cluster (DataprocSubmitJobOperator).

A provider's operators are imported only in its mode, so the DAG loads without the others.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from airflow.sdk import DAG, CronDataIntervalTimetable, chain

import commitpack.jobs
from commitpack.jobs.config import _merge
from commitpack.jobs.errors import UsageError
from commitpack.jobs.pipeline import STAGES
from commitpack.jobs.session import delta_properties, spark_submit_options

CONFIG_ENV = "COMMITPACK_AIRFLOW_CONFIG"
MODES = ("local", "spark-submit", "emr", "dataproc")
# The run's GH Archive hour as the archive names its files: 2025-10-06-20 (UTC, no leading zero).
HOUR = "{{ data_interval_start | ds }}-{{ data_interval_start.hour }}"

DEFAULTS = {
    "mode": "local",
    "start_date": None,
    "end_date": None,
    "retries": 2,
    "retry_delay_minutes": 15,
    "lakehouse": None,
    # The jobs' own --config file and --set KEY=VALUE settings.
    "commitpack_config": None,
    "settings": {},
    # The stages' own options (input, commits, licenses, languages, output, remote-template,
    # mirror-dir): each goes to the stages that declare it; "{hour}" becomes the run's hour.
    "options": {},
    # local and spark-submit modes: the program (default: found on the worker's PATH), the
    # Spark master, and environment variables added to the worker's.
    "executable": None,
    "master": None,
    "env": {},
    # spark-submit, emr and dataproc modes.
    "spark": {
        # Directory or URI holding the job scripts (<stage module>.py); spark-submit mode
        # defaults to the installed commitpack.jobs package.
        "jobs": None,
        # Maven coordinates; default: the Delta and Avro jars matching the installed pyspark.
        "packages": None,
        "conf": {},
    },
    "emr": {"cluster_id": None, "aws_conn_id": "aws_default", "deploy_mode": "cluster",
            "timeout_minutes": 720, "deferrable": False},
    "dataproc": {"project_id": None, "region": None, "cluster_name": None,
                 "gcp_conn_id": "google_cloud_default", "deferrable": False},
}


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or Path(__file__).with_name("commitpack_dag.yaml"))


def load_config(path: Path) -> dict:
    """The DAG's settings: DEFAULTS overridden by the YAML file (an unknown key is an error)."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file (set {CONFIG_ENV} or put commitpack_dag.yaml beside the DAG)")
    cfg = copy.deepcopy(DEFAULTS)
    _merge(cfg, yaml.safe_load(path.read_text("utf-8")) or {}, origin=str(path))
    if cfg["mode"] not in MODES:
        raise UsageError(f"{path}: mode {cfg['mode']!r} is not one of {', '.join(MODES)}")
    required = ["start_date", "lakehouse"] + {
        "emr": ["spark.jobs", "emr.cluster_id"],
        "dataproc": ["spark.jobs", "dataproc.project_id", "dataproc.region", "dataproc.cluster_name"],
    }.get(cfg["mode"], [])
    missing = [key for key in required if setting(cfg, key) in (None, "")]
    if missing:
        raise UsageError(f"{path}: set {', '.join(missing)}")
    return cfg


def setting(cfg: dict, dotted: str):
    for part in dotted.split("."):
        cfg = cfg[part]
    return cfg


def utc(value) -> datetime | None:
    """A YAML timestamp or ISO string; without an offset it is UTC, as GH Archive's hours are."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# ----------------------------------------------------------------------------- job arguments

def declared_options(stage) -> list[argparse.Action]:
    """The options ``commitpack <stage>`` declares, read from the stage's own parser setup."""
    parser = argparse.ArgumentParser(add_help=False)
    stage.add_arguments(parser)
    return parser._actions


def job_arguments(stage, cfg: dict, path: Path) -> list[str]:
    """The arguments after ``commitpack <stage>`` (or ``jobs/<stage>.py``)."""
    args = ["--lakehouse", cfg["lakehouse"]]
    if cfg["commitpack_config"]:
        args += ["--config", cfg["commitpack_config"]]
    for key, value in cfg["settings"].items():
        # JSON is YAML, which is how --set reads a value: lists and strings arrive as written.
        args += ["--set", f"{key}={json.dumps(value)}"]
    for action in declared_options(stage):
        option = action.option_strings[0]
        value = cfg["options"].get(option.removeprefix("--"))
        if value is None:
            if action.required:
                raise UsageError(f"{path}: set options.{option.removeprefix('--')} "
                                 f"(required by `commitpack {stage.COMMAND}`)")
            continue
        for item in value if isinstance(value, list) else [value]:
            args += [option, str(item).replace("{hour}", HOUR)]
    return args


def check_options(cfg: dict, path: Path) -> None:
    known = {a.option_strings[0].removeprefix("--") for stage in STAGES for a in declared_options(stage)}
    unknown = sorted(set(cfg["options"]) - known)
    if unknown:
        raise UsageError(f"{path}: options.{unknown[0]} is not an option of any stage "
                         f"(known: {', '.join(sorted(known))})")


def script_name(stage) -> str:
    """``ingest_gharchive.py``: the stage's module file, which spark-submit runs as a script."""
    return stage.__name__.rpartition(".")[2] + ".py"


def spark_settings(cfg: dict) -> dict[str, str]:
    """Spark properties every job needs (the Delta and Avro jars, Delta's catalog) and the DAG's own."""
    return delta_properties(cfg["spark"]["packages"]) | cfg["spark"]["conf"]


# ----------------------------------------------------------------------------- one task per mode

def local_task(stage, cfg: dict, args: list[str]):
    from airflow.providers.standard.operators.bash import BashOperator

    master = ["--master", cfg["master"]] if cfg["master"] else []
    command = [cfg["executable"] or "commitpack", stage.COMMAND, *args, *master]
    return BashOperator(task_id=stage.COMMAND, bash_command=shlex.join(command),
                        env=cfg["env"] or None, append_env=True)


def spark_submit_task(stage, cfg: dict, args: list[str]):
    from airflow.providers.standard.operators.bash import BashOperator

    jobs = cfg["spark"]["jobs"] or str(Path(commitpack.jobs.__file__).parent)
    master = ["--master", cfg["master"]] if cfg["master"] else []
    command = [cfg["executable"] or "spark-submit", *master, *spark_submit_options(spark_settings(cfg)),
               f"{jobs.rstrip('/')}/{script_name(stage)}", *args]
    return BashOperator(task_id=stage.COMMAND, bash_command=shlex.join(command),
                        env=cfg["env"] or None, append_env=True)


def emr_task(stage, cfg: dict, args: list[str]):
    # One task adds the step and waits for it, so a retry submits the stage again (a separate
    # EmrStepSensor's retry would only watch the failed step once more).
    from airflow.providers.amazon.aws.operators.emr import EmrAddStepsOperator

    emr = cfg["emr"]
    step = {
        "Name": f"commitpack {stage.COMMAND} {HOUR}",
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": ["spark-submit", "--deploy-mode", emr["deploy_mode"], *spark_submit_options(spark_settings(cfg)),
                     f"{cfg['spark']['jobs'].rstrip('/')}/{script_name(stage)}", *args],
        },
    }
    return EmrAddStepsOperator(task_id=stage.COMMAND, job_flow_id=emr["cluster_id"], steps=[step],
                               aws_conn_id=emr["aws_conn_id"], wait_for_completion=True, waiter_delay=60,
                               waiter_max_attempts=emr["timeout_minutes"], deferrable=emr["deferrable"])


def dataproc_task(stage, cfg: dict, args: list[str]):
    from airflow.providers.google.cloud.operators.dataproc import DataprocSubmitJobOperator

    dataproc = cfg["dataproc"]
    job = {
        "placement": {"cluster_name": dataproc["cluster_name"]},
        "pyspark_job": {
            "main_python_file_uri": f"{cfg['spark']['jobs'].rstrip('/')}/{script_name(stage)}",
            "args": args,
            "properties": spark_settings(cfg),
        },
    }
    return DataprocSubmitJobOperator(task_id=stage.COMMAND, job=job, project_id=dataproc["project_id"],
                                     region=dataproc["region"], gcp_conn_id=dataproc["gcp_conn_id"],
                                     deferrable=dataproc["deferrable"])


TASK_FACTORIES = {"local": local_task, "spark-submit": spark_submit_task, "emr": emr_task, "dataproc": dataproc_task}


def build_dag(path: Path) -> DAG:
    cfg = load_config(path)
    check_options(cfg, path)
    with DAG(
        dag_id="commitpack",
        description="GH Archive and BigQuery exports to CommitPack / CommitPackFT, one GH Archive hour per run",
        doc_md=__doc__,
        schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
        start_date=utc(cfg["start_date"]),
        end_date=utc(cfg["end_date"]),
        catchup=True,
        # Every run writes the same lakehouse, and a backfill must load its hours in order.
        max_active_runs=1,
        default_args={"retries": cfg["retries"], "retry_delay": timedelta(minutes=cfg["retry_delay_minutes"])},
        tags=["commitpack", cfg["mode"]],
    ) as dag:
        make = TASK_FACTORIES[cfg["mode"]]
        # In the pipeline's order, one after another: stages share the lakehouse's meta tables.
        chain(*[make(stage, cfg, job_arguments(stage, cfg, path)) for stage in STAGES])
    return dag


dag = build_dag(config_path())
