"""The Airflow DAG (deploy/airflow) as Airflow itself loads and runs it.

Airflow runs in subprocesses (this file run as a script: ``describe`` loads a dags folder with
``DagBag``, ``run`` calls ``dag.test()``) with an AIRFLOW_HOME and SQLite metadata DB of the
test's own, so Airflow's settings and logging never reach the rest of the test session. Each
dags folder is what a deployment ships: the DAG file and a ``commitpack_dag.yaml`` beside it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy" / "airflow"
BIN = Path(sys.executable).parent
# dag.test(logical_date=21:00) infers the data interval 20:00-21:00, so the run loads hour 20.
RUN_DATE, RUN_HOUR = "2025-10-06T21:00:00+00:00", "2025-10-06-20"
HOUR_20_PUSHES = {"2", "4", "5"}  # the sample's push events in 2025-10-06-20.json.gz
HOUR_21_PUSHES = {"11", "12"}
EMR_OPERATORS = "airflow.providers.amazon.aws.operators"
DATAPROC_OPERATORS = "airflow.providers.google.cloud.operators"
PROVIDER_OPERATORS = (EMR_OPERATORS, DATAPROC_OPERATORS)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("airflow") is None, reason="Airflow is not installed: pip install -e '.[dev,airflow]'"
)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """Run this file's ``arguments`` / ``describe`` / ``run`` against a dags folder; returns their JSON result."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        COMMITPACK_LOG_DIR=str(home / "spark-logs"),
    )
    migrate = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]

    def call(command: str, dags: Path, *args: str, timeout: int = 300, **extra_env: str) -> dict:
        result = dags.parent / f"{dags.name}-{command}.json"
        proc = subprocess.run(
            [sys.executable, __file__, command, str(dags), str(result), *args],
            env={**env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags), **extra_env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert proc.returncode == 0, f"{command} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        return json.loads(result.read_text())

    return call


def dags_folder(root: Path, config: dict | None = None) -> Path:
    """The DAG file with ``config`` as its commitpack_dag.yaml (default: the shipped one)."""
    root.mkdir(parents=True)
    shutil.copy(DEPLOY / "commitpack_dag.py", root)
    if config is None:
        shutil.copy(DEPLOY / "commitpack_dag.yaml", root)
    else:
        (root / "commitpack_dag.yaml").write_text(yaml.safe_dump(config))
    return root


def stage_commands() -> list[str]:
    from commitpack.jobs.stages.pipeline import STAGES

    return [stage.COMMAND for stage in STAGES]


@pytest.fixture(scope="module")
def demo_run(airflow, tmp_path_factory):
    """One dag.test() run in local mode on the demo's sample, as `commitpack demo` sets it up:
    the sample's repositories as remotes, a mirror dir, the sample's opt-out owner."""
    from helpers.jvm import SHORT_LIVED_DRIVER  # here, not above: this file also runs as Airflow's script

    from commitpack.jobs.sample import OPT_OUT_OWNER, build_sample

    root = tmp_path_factory.mktemp("airflow-demo")
    sample = build_sample(root / "sample")
    (root / "commitpack.yaml").write_text(
        yaml.safe_dump({"git": {"remote_template": sample.remote_template}, "spark": {"conf": SHORT_LIVED_DRIVER}})
    )
    config = {
        "mode": "local",
        "start_date": "2025-10-06T20:00:00+00:00",
        "retries": 0,
        "lakehouse": str(root / "lakehouse"),
        "commitpack_config": str(root / "commitpack.yaml"),
        # A list and a boolean, as --set must pass them; quality checks are tested elsewhere.
        "settings": {"opt_out.owners": [OPT_OUT_OWNER], "quality.enabled": False},
        "options": {
            "input": str(sample.gharchive / "{hour}.json.gz"),
            "commits": str(sample.bigquery / "commits"),
            "licenses": str(sample.bigquery / "licenses"),
            "languages": str(sample.bigquery / "languages"),
            "output": str(root / "export"),
            "cache-dir": str(root / "git-cache"),
        },
        "executable": str(BIN / "commitpack"),
        "master": "local[2]",
    }
    result = airflow("run", dags_folder(root / "dags-local", config), RUN_DATE, timeout=3600)
    # The lakehouse and export as this first hourly run left them: other tests run later hours.
    for name in ("lakehouse", "export"):
        shutil.copytree(root / name, root / "first-hour" / name)
    return root, config, result


# ----------------------------------------------------------------------------- loading the DAG


def test_shipped_dag_loads_with_one_task_per_stage_in_pipeline_order(airflow, tmp_path):
    result = airflow("describe", dags_folder(tmp_path / "dags"))
    assert result["import_errors"] == {}
    dag = result["dags"]["commitpack"]
    commands = stage_commands()
    assert [t["task_id"] for t in dag["tasks"]] == commands
    assert [t["upstream"] for t in dag["tasks"]] == [[]] + [[c] for c in commands[:-1]]
    assert dag["timetable"] == {"class": "CronDataIntervalTimetable", "expression": "0 * * * *", "timezone": "UTC"}
    assert dag["catchup"] is True and dag["max_active_runs"] == 1
    assert dag["start_date"] == "2025-10-06T20:00:00+00:00"
    for task in dag["tasks"]:
        assert task["operator"] == "BashOperator"
        assert (task["retries"], task["retry_delay_seconds"]) == (2, timedelta(minutes=15).total_seconds())
        assert task["command"].startswith(f"commitpack {task['task_id']} --lakehouse /data/commitpack/lakehouse")
    ingest = dag["tasks"][0]["command"]
    assert "--input '/data/gharchive/{{ data_interval_start | ds }}-{{ data_interval_start.hour }}.json.gz'" in ingest
    # Local mode needs no cloud provider: their operators are imported only in their modes.
    assert result["providers"] == []


def test_spark_submit_mode_submits_each_stage_script_with_the_delta_jars(airflow, tmp_path):
    from commitpack.jobs.runtime.session import DELTA_CATALOG, DELTA_EXTENSION, spark_packages

    config = {
        "mode": "spark-submit",
        "start_date": "2025-01-01",
        "lakehouse": "/lh",
        "master": "spark://h:7077",
        "options": {"input": "/gh/{hour}.json.gz", "commits": "/bq/c", "licenses": "/bq/l", "output": "/out"},
        "spark": {"conf": {"spark.executor.memory": "8g"}},
    }
    dag = airflow("describe", dags_folder(tmp_path / "dags", config))["dags"]["commitpack"]
    index = next(t for t in dag["tasks"] if t["task_id"] == "index")
    jobs = REPO_ROOT / "jobs" / "stages"  # the editable install's commitpack.jobs.stages package
    assert index["command"] == (
        f"spark-submit --master spark://h:7077 --packages {','.join(spark_packages())} "
        f"--conf spark.sql.extensions={DELTA_EXTENSION} --conf spark.sql.catalog.spark_catalog={DELTA_CATALOG} "
        f"--conf spark.executor.memory=8g {jobs}/index.py --lakehouse /lh"
    )
    assert dag["start_date"] == "2025-01-01T00:00:00+00:00"


def test_emr_mode_adds_a_spark_submit_step_and_waits_for_it(airflow, tmp_path):
    pytest.importorskip("airflow.providers.amazon", reason="pip install -e '.[airflow]'")
    config = {
        "mode": "emr",
        "start_date": "2025-01-01",
        "lakehouse": "s3://b/lh",
        "options": {
            "input": "s3://b/gh/{hour}.json.gz",
            "commits": "s3://b/bq/c",
            "licenses": "s3://b/bq/l",
            "output": "s3://b/out",
        },
        "spark": {"jobs": "s3://b/jobs/", "packages": ["io.delta:delta-spark_4.1_2.13:4.3.1"]},
        "emr": {"cluster_id": "j-123", "timeout_minutes": 90},
    }
    result = airflow("describe", dags_folder(tmp_path / "dags", config))
    assert result["import_errors"] == {}
    tasks = result["dags"]["commitpack"]["tasks"]
    assert [t["task_id"] for t in tasks] == stage_commands()
    ingest = tasks[0]
    assert ingest["operator"] == "EmrAddStepsOperator"
    assert (ingest["job_flow_id"], ingest["wait_for_completion"], ingest["waiter_max_attempts"]) == ("j-123", True, 90)
    [step] = ingest["steps"]
    assert step["HadoopJarStep"]["Jar"] == "command-runner.jar"
    assert step["HadoopJarStep"]["Args"] == [
        "spark-submit",
        "--deploy-mode",
        "cluster",
        "--packages",
        "io.delta:delta-spark_4.1_2.13:4.3.1",
        "--conf",
        "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
        "--conf",
        "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "s3://b/jobs/ingest_gharchive.py",
        "--lakehouse",
        "s3://b/lh",
        "--input",
        "s3://b/gh/{{ data_interval_start | ds }}-{{ data_interval_start.hour }}.json.gz",
    ]
    assert f"{EMR_OPERATORS}.emr" in result["providers"]
    assert not [name for name in result["providers"] if name.startswith(DATAPROC_OPERATORS)]


def test_dataproc_mode_submits_a_pyspark_job_per_stage(airflow, tmp_path):
    pytest.importorskip("airflow.providers.google", reason="pip install -e '.[airflow]'")
    config = {
        "mode": "dataproc",
        "start_date": "2025-01-01",
        "lakehouse": "gs://b/lh",
        "options": {
            "input": "gs://b/gh/{hour}.json.gz",
            "commits": "gs://b/bq/c",
            "licenses": "gs://b/bq/l",
            "output": "gs://b/out",
        },
        "spark": {"jobs": "gs://b/jobs", "packages": ["io.delta:delta-spark_4.1_2.13:4.3.1"]},
        "dataproc": {"project_id": "p", "region": "europe-west1", "cluster_name": "c"},
    }
    result = airflow("describe", dags_folder(tmp_path / "dags", config))
    assert result["import_errors"] == {}
    export = result["dags"]["commitpack"]["tasks"][-1]
    assert export["operator"] == "DataprocSubmitJobOperator"
    assert (export["project_id"], export["region"]) == ("p", "europe-west1")
    assert export["job"] == {
        "placement": {"cluster_name": "c"},
        "pyspark_job": {
            "main_python_file_uri": "gs://b/jobs/export.py",
            "args": ["--lakehouse", "gs://b/lh", "--output", "gs://b/out"],
            "properties": {
                "spark.jars.packages": "io.delta:delta-spark_4.1_2.13:4.3.1",
                "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
                "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
            },
        },
    }
    assert f"{DATAPROC_OPERATORS}.dataproc" in result["providers"]
    assert not [name for name in result["providers"] if name.startswith(EMR_OPERATORS)]


@pytest.mark.parametrize(
    "config, error",
    [
        (
            {"mode": "local", "start_date": "2025-01-01", "lakehouse": "/lh", "emr": {"clustr_id": "j-1"}},
            "unknown setting 'emr.clustr_id'",
        ),
        (
            {
                "mode": "local",
                "start_date": "2025-01-01",
                "lakehouse": "/lh",
                "options": {"commits": "/c", "licenses": "/l"},
            },
            "set options.input (required by `commitpack ingest-gharchive`)",
        ),
        (
            {"mode": "local", "start_date": "2025-01-01", "lakehouse": "/lh", "options": {"inputs": "/x"}},
            "options.inputs is not an option of any stage",
        ),
        ({"mode": "emr", "start_date": "2025-01-01", "lakehouse": "/lh"}, "set spark.jobs, emr.cluster_id"),
        ({"mode": "yarn", "start_date": "2025-01-01", "lakehouse": "/lh"}, "mode 'yarn' is not one of"),
    ],
)
def test_a_wrong_config_is_the_dag_files_import_error(airflow, tmp_path, config, error):
    result = airflow("describe", dags_folder(tmp_path / "dags", config))
    assert result["dags"] == {}
    [message] = result["import_errors"].values()
    assert error in message


def test_config_file_named_by_the_environment_variable_wins(airflow, tmp_path):
    other = tmp_path / "elsewhere.yaml"
    other.write_text(
        yaml.safe_dump(
            {
                "start_date": "2024-02-03T04:00:00",
                "lakehouse": "/other",
                "options": {"input": "/i", "commits": "/c", "licenses": "/l", "output": "/o"},
            }
        )
    )
    result = airflow("describe", dags_folder(tmp_path / "dags"), COMMITPACK_AIRFLOW_CONFIG=str(other))
    dag = result["dags"]["commitpack"]
    assert dag["start_date"] == "2024-02-03T04:00:00+00:00"
    assert "--lakehouse /other" in dag["tasks"][0]["command"]


# ----------------------------------------------------------------------------- running it


def test_dag_test_runs_every_stage_locally_on_the_demo_sample(demo_run, spark):
    from commitpack.jobs.runtime.lakehouse import Lakehouse

    root, config, result = demo_run
    assert result["state"] == "success", result
    assert result["tasks"] == {command: "success" for command in stage_commands()}
    lakehouse = Lakehouse(spark, config["lakehouse"])
    # The run's data interval picked its GH Archive hour, and only that hour.
    pushes = {r.event_id for r in lakehouse.read("bronze.gharchive_pushes").select("event_id").collect()}
    assert pushes == HOUR_20_PUSHES
    files = [r.source_file for r in lakehouse.read("bronze.gharchive_files").select("source_file").collect()]
    assert [Path(f).name for f in files] == [f"{RUN_HOUR}.json.gz"]
    for table in (
        "bronze.bq_commits",
        "silver.commit_index",
        "gold.commitpack",
        "gold.commitpackft_decisions",
        "gold.commitpackft",
    ):
        assert lakehouse.read(table).count() > 0, table
    stages = {r.stage for r in lakehouse.read("meta.stage_runs").select("stage").collect()}
    assert stages == set(stage_commands())
    assert list((root / "export" / "data").rglob("*.jsonl")) and (root / "export" / "README.md").is_file()


def test_spark_submit_mode_loads_the_next_hour(airflow, demo_run, spark, tmp_path):
    """The same lakehouse one hour later, ingest-gharchive run by spark-submit (the other tasks
    marked successful without running): hour 21's pushes join hour 20's."""
    from commitpack.jobs.runtime.lakehouse import Lakehouse

    _, local, _ = demo_run
    config = {
        **local,
        "mode": "spark-submit",
        "executable": str(BIN / "spark-submit"),
        "env": {"PYSPARK_PYTHON": sys.executable},
    }
    dags = dags_folder(tmp_path / "dags-spark-submit", config)
    result = airflow("run", dags, "2025-10-06T22:00:00+00:00", "(?!ingest-gharchive$).*", timeout=1800)
    assert result["tasks"]["ingest-gharchive"] == "success", result
    pushes = {
        r.event_id
        for r in Lakehouse(spark, config["lakehouse"]).read("bronze.gharchive_pushes").select("event_id").collect()
    }
    assert pushes == HOUR_20_PUSHES | HOUR_21_PUSHES


def test_three_hourly_runs_give_the_commitpackft_of_one_run_over_the_three_hours(airflow, demo_run, spark, tmp_path):
    """The DAG's runs for hours 20 (the demo run), 21 and 22 (no pushes: an empty increment), one
    after the other on one lakehouse, filter, dedup and export taking their incremental path, end
    with the CommitPackFT, funnel and export rows of one `commitpack pipeline` loading the three
    hours at once (run in this process: a fourth DAG run would only add a dozen Spark start-ups)."""
    from commitpack.jobs.cli import main
    from commitpack.jobs.runtime.lakehouse import Lakehouse
    from commitpack.schemas.gold import COMMITPACKFT, COMMITPACKFT_FUNNEL

    root, demo, first = demo_run
    assert first["state"] == "success", first
    hours = ["2025-10-06-20", "2025-10-06-21", "2025-10-06-22"]

    def config(name: str, inputs) -> dict:
        options = {**demo["options"], "input": inputs, "output": str(tmp_path / name / "export")}
        return {**demo, "lakehouse": str(tmp_path / name / "lakehouse"), "options": options}

    for name in ("lakehouse", "export"):  # where the demo's run of hour 20 left them
        shutil.copytree(root / "first-hour" / name, tmp_path / "hourly" / name)
    hourly = dags_folder(tmp_path / "dags-hourly", config("hourly", demo["options"]["input"]))
    for logical_date in ("2025-10-06T22:00:00+00:00", "2025-10-06T23:00:00+00:00"):
        result = airflow("run", hourly, logical_date, timeout=3600)
        assert result["state"] == "success", (logical_date, result)
    gharchive = Path(demo["options"]["input"]).parent
    at_once = dags_folder(
        tmp_path / "dags-at-once", config("at-once", [str(gharchive / f"{h}.json.gz") for h in hours])
    )
    assert main(["pipeline", *airflow("arguments", at_once)["arguments"]]) == 0

    def rows(name: str, spec) -> list[str]:
        found = Lakehouse(spark, str(tmp_path / name / "lakehouse")).read(spec).collect()
        return sorted(json.dumps(r.asDict(recursive=True), default=str, sort_keys=True) for r in found)

    for spec in (COMMITPACKFT, COMMITPACKFT_FUNNEL):
        assert rows("hourly", spec) == rows("at-once", spec), spec.name
    assert rows("hourly", COMMITPACKFT)  # the hours hold commits CommitPackFT keeps

    def exported(name: str) -> list[str]:
        files = (tmp_path / name / "export" / "data").rglob("*.jsonl")
        return sorted(line for path in files for line in path.read_text().splitlines())

    assert exported("hourly") == exported("at-once") != []


# ----------------------------------------------------------------------------- the Airflow side


def _describe_task(task) -> dict:
    described = {
        "task_id": task.task_id,
        "operator": type(task).__name__,
        "upstream": sorted(task.upstream_task_ids),
        "retries": task.retries,
        "retry_delay_seconds": task.retry_delay.total_seconds(),
    }
    for attribute in (
        "bash_command",
        "steps",
        "job_flow_id",
        "wait_for_completion",
        "waiter_max_attempts",
        "job",
        "project_id",
        "region",
    ):
        if hasattr(task, attribute):
            described["command" if attribute == "bash_command" else attribute] = getattr(task, attribute)
    return described


def describe(dags: str, out: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags)
    dags_found = {}
    for dag_id, dag in bag.dags.items():
        dags_found[dag_id] = {
            "tasks": [_describe_task(task) for task in dag.tasks],
            "timetable": {
                "class": type(dag.timetable).__name__,
                "expression": dag.timetable.expression,
                "timezone": str(dag.timetable.timezone),
            },
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "start_date": dag.start_date.isoformat(),
        }
    # Airflow itself reads every installed provider's metadata; the operators are what a mode imports.
    providers = sorted(name for name in sys.modules if name.startswith(PROVIDER_OPERATORS))
    Path(out).write_text(
        json.dumps(
            {
                "import_errors": {Path(f).name: e for f, e in bag.import_errors.items()},
                "dags": dags_found,
                "providers": providers,
            },
            default=str,
        )
    )


def arguments(dags: str, out: str) -> None:
    """What the DAG file gives each stage of its config, for `commitpack pipeline`."""
    spec = importlib.util.spec_from_file_location("commitpack_dag", Path(dags) / "commitpack_dag.py")
    dag_file = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
    spec.loader.exec_module(dag_file)
    from commitpack.jobs.stages import pipeline

    path = Path(dags) / "commitpack_dag.yaml"
    Path(out).write_text(json.dumps({"arguments": dag_file.job_arguments(pipeline, dag_file.load_config(path), path)}))


def run(dags: str, out: str, logical_date: str, mark_success_pattern: str | None = None) -> None:
    from datetime import datetime

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags)
    assert not bag.import_errors, bag.import_errors
    dag_run = bag.dags["commitpack"].test(
        logical_date=datetime.fromisoformat(logical_date), mark_success_pattern=mark_success_pattern
    )
    Path(out).write_text(
        json.dumps(
            {"state": str(dag_run.state), "tasks": {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}}
        )
    )


if __name__ == "__main__":
    {"arguments": arguments, "describe": describe, "run": run}[sys.argv[1]](*sys.argv[2:])
