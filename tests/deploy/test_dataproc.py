"""deploy/dataproc/dataproc.py as a dry run (no Google Cloud endpoint is reachable here): the
uploads, the Dataproc request (parsed strictly as the API's own message, the way the real run
sends it), the workflow-template YAML for gcloud and the initialization action."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from google.cloud import dataproc_v1

REPO_ROOT = Path(__file__).resolve().parents[2]
DATAPROC = REPO_ROOT / "deploy" / "dataproc" / "dataproc.py"
INIT_ACTION = REPO_ROOT / "deploy" / "dataproc" / "init-action.sh"
ARTIFACTS = "gs://commitpack-artifacts/deploy"
LAKEHOUSE = "gs://commitpack-data/lakehouse"
PYTHON = "/opt/conda/default/bin/python"
# Delta 4.3.1's artifact for Spark 4.1, and Avro for the installed pyspark 4.1.1.
PROPERTIES = {
    "spark.jars.packages": "io.delta:delta-spark_4.1_2.13:4.3.1,org.apache.spark:spark-avro_2.13:4.1.1",
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.pyspark.python": PYTHON,
}
TARGET = [
    "--artifacts",
    ARTIFACTS,
    "--project",
    "commitpack-test",
    "--region",
    "europe-west1",
    "--lakehouse",
    LAKEHOUSE,
]
STAGE_OPTIONS = [
    "--input",
    "gs://commitpack-data/gharchive/2024-01-01-*.json.gz",
    "--commits",
    "gs://commitpack-data/bq/commits/",
    "--licenses",
    "gs://commitpack-data/bq/licenses/",
    "--languages",
    "gs://commitpack-data/bq/languages/",
    "--output",
    "gs://commitpack-data/export/",
    "--cache-dir",
    "/mnt/mirrors",
]
COMMON = ["--lakehouse", LAKEHOUSE]
STAGES = [  # step id, script, arguments
    (
        "ingest-gharchive",
        "ingest_gharchive.py",
        ["--input", "gs://commitpack-data/gharchive/2024-01-01-*.json.gz", *COMMON],
    ),
    (
        "ingest-bigquery",
        "ingest_bigquery.py",
        [
            "--commits",
            "gs://commitpack-data/bq/commits/",
            "--licenses",
            "gs://commitpack-data/bq/licenses/",
            "--languages",
            "gs://commitpack-data/bq/languages/",
            *COMMON,
        ],
    ),
    ("index", "index.py", ["--cache-dir", "/mnt/mirrors", *COMMON]),
    ("fetch", "fetch.py", ["--cache-dir", "/mnt/mirrors", *COMMON]),
    ("filter", "filter.py", COMMON),
    ("dedup", "dedup.py", COMMON),
    ("export", "export.py", ["--output", "gs://commitpack-data/export/", *COMMON]),
]


def deploy(*args: str, expect: int = 0, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(DATAPROC), *args], capture_output=True, text=True, timeout=600, env=env
    )
    assert result.returncode == expect, result.stderr
    return result


@pytest.fixture(scope="module")
def new_cluster(tmp_path_factory):
    """A dry run for a cluster the workflow creates; builds the wheel into its own dist/."""
    dist = tmp_path_factory.mktemp("dist")
    result = deploy(
        *TARGET,
        *STAGE_OPTIONS,
        "--image-version",
        "3.0-debian12",
        "--workers",
        "3",
        "--zone",
        "europe-west1-b",
        "--dist",
        str(dist),
        "--dry-run",
    )
    return json.loads(result.stdout), dist, result.stderr


def dataproc_request(calls: list) -> dict:
    [call] = [c for c in calls if c["service"] == "dataproc"]
    assert call["operation"] == "instantiate_inline_workflow_template" and call is calls[-1]
    return call["params"]


def test_uploads_are_the_scripts_the_wheel_and_the_initialization_action(new_cluster):
    calls, dist, _ = new_cluster
    uploads = {c["params"]["name"]: Path(c["params"]["filename"]) for c in calls if c["service"] == "storage"}
    assert {c["params"]["bucket"] for c in calls if c["service"] == "storage"} == {"commitpack-artifacts"}
    [wheel] = dist.glob("commitpack-*-py3-none-any.whl")
    assert uploads == {
        **{f"deploy/jobs/{script}": REPO_ROOT / "jobs" / "stages" / script for _, script, _ in STAGES},
        f"deploy/{wheel.name}": wheel.resolve(),
        "deploy/init-action.sh": INIT_ACTION,
    }
    assert all(c["operation"] == "upload_from_filename" for c in calls if c["service"] == "storage")


def test_the_request_is_a_valid_workflow_with_one_pyspark_job_per_stage_in_order(new_cluster):
    calls, dist, _ = new_cluster
    params = dataproc_request(calls)
    # The real run parses the printed body into the API's message the same way: unknown or
    # mistyped fields fail here.
    request = dataproc_v1.InstantiateInlineWorkflowTemplateRequest.from_json(json.dumps(params))
    assert request.parent == "projects/commitpack-test/regions/europe-west1"

    jobs = params["template"]["jobs"]
    assert [job["stepId"] for job in jobs] == [step for step, _, _ in STAGES]
    for number, (job, (_, script, arguments)) in enumerate(zip(jobs, STAGES)):
        assert job["pysparkJob"] == {
            "mainPythonFileUri": f"{ARTIFACTS}/jobs/{script}",
            "args": arguments,
            "properties": PROPERTIES,
        }
        assert job.get("prerequisiteStepIds") == ([STAGES[number - 1][0]] if number else None)

    [wheel] = dist.glob("commitpack-*-py3-none-any.whl")
    cluster = params["template"]["placement"]["managedCluster"]
    assert cluster["clusterName"] == "commitpack"
    config = request.template.placement.managed_cluster.config
    assert config.software_config.image_version == "3.0-debian12"
    assert [a.executable_file for a in config.initialization_actions] == [f"{ARTIFACTS}/init-action.sh"]
    assert dict(config.gce_cluster_config.metadata) == {
        "commitpack-wheel": f"{ARTIFACTS}/{wheel.name}",
        "commitpack-python": PYTHON,
    }
    assert config.gce_cluster_config.zone_uri == "europe-west1-b"
    assert (config.master_config.num_instances, config.worker_config.num_instances) == (1, 3)


def test_the_yaml_for_gcloud_is_the_same_template(new_cluster):
    calls, dist, stderr = new_cluster
    path = dist / "dataproc-workflow-template.yaml"
    assert str(path) in stderr
    text = path.read_text()
    assert "&" not in text and "*id" not in text  # no YAML anchors: plain values gcloud reads as they are
    template = yaml.safe_load(text)
    assert template == dataproc_request(calls)["template"]
    dataproc_v1.WorkflowTemplate.from_json(json.dumps(template))


def test_the_initialization_action_is_a_valid_shell_script():
    subprocess.run(["bash", "-n", str(INIT_ACTION)], check=True)
    text = INIT_ACTION.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and os.access(INIT_ACTION, os.X_OK)
    # it reads the metadata keys the request sets
    assert "metadata commitpack-wheel" in text and "metadata commitpack-python" in text


def test_a_running_cluster_is_selected_by_name_and_gets_only_the_scripts(tmp_path):
    calls = json.loads(deploy(*TARGET, "--cluster", "etl-7", "--dist", str(tmp_path), "--dry-run").stdout)
    assert list(tmp_path.glob("*.whl")) == []  # its nodes have commitpack already
    assert {c["params"]["name"] for c in calls if c["service"] == "storage"} == {
        f"deploy/jobs/{script}" for step, script, _ in STAGES if step in ("index", "fetch", "filter", "dedup")
    }
    template = dataproc_request(calls)["template"]
    assert template["placement"] == {"clusterSelector": {"clusterLabels": {"goog-dataproc-cluster-name": "etl-7"}}}
    assert [job["stepId"] for job in template["jobs"]] == ["index", "fetch", "filter", "dedup"]
    dataproc_v1.WorkflowTemplate.from_json(json.dumps(template))


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--lakehouse", "s3://data/lakehouse", "--cluster", "c"],
            "--lakehouse s3://data/lakehouse: the cluster writes to gs://",
        ),
        (["--lakehouse", LAKEHOUSE], "a new cluster needs --image-version"),
        (["--lakehouse", LAKEHOUSE, "--cluster", "c", "--workers", "1"], "--workers must be at least 2"),
        (
            ["--lakehouse", LAKEHOUSE, "--cluster", "c", "--licenses", "gs://x/l"],
            "--commits and --licenses go together",
        ),
    ],
)
def test_bad_options_are_one_line_errors(args, message):
    result = deploy(
        "--artifacts", ARTIFACTS, "--project", "p", "--region", "europe-west1", *args, "--dry-run", expect=2
    )
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_without_credentials_the_real_run_stops_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    env.update(
        GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "missing.json"),
        HOME=str(tmp_path),
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
        NO_GCE_CHECK="True",
    )
    result = deploy(*TARGET, "--cluster", "c", "--dist", str(tmp_path), expect=2, env=env)
    assert result.stderr.startswith("deploy/dataproc/dataproc.py: error: no Google Cloud credentials (")
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
