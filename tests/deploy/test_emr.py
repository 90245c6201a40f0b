"""deploy/emr/emr.py against moto's server on 127.0.0.1: the wheel, the uploads, the EMR cluster,
its bootstrap action and steps, the EMR Serverless application and job runs are read back
through the AWS APIs, and the requests moto received are compared with the --dry-run plan."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from helpers.net import free_port

boto3 = pytest.importorskip("boto3")
from botocore import xform_name  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
EMR = REPO_ROOT / "deploy" / "emr" / "emr.py"
BUCKET = "commitpack-artifacts"
ARTIFACTS = f"s3://{BUCKET}/deploy"
LAKEHOUSE = "s3://commitpack-data/lakehouse"
ROLE = "arn:aws:iam::123456789012:role/commitpack-jobs"  # moto's account
# Delta 4.3.1's artifact for Spark 4.1 (identical to delta-spark_2.13:4.3.1 on Maven Central),
# and Avro for the installed pyspark 4.1.1.
PACKAGES = "io.delta:delta-spark_4.1_2.13:4.3.1,org.apache.spark:spark-avro_2.13:4.1.1"
DELTA_CONF = [
    "--conf",
    "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
    "--conf",
    "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
]
# Every stage: both ingests (their inputs given), index, fetch, filter, dedup, export (--output).
STAGE_OPTIONS = [
    "--input",
    "s3://commitpack-data/gharchive/2024-01-01-*.json.gz",
    "--input",
    "s3://commitpack-data/gharchive/2024-01-02-*.json.gz",
    "--commits",
    "s3://commitpack-data/bq/commits/",
    "--licenses",
    "s3://commitpack-data/bq/licenses/",
    "--output",
    "s3://commitpack-data/export/",
    "--set",
    "fetch.max_blob_bytes=2000000",
]
COMMON = "--lakehouse", LAKEHOUSE, "--set", "fetch.max_blob_bytes=2000000"
STAGES = [  # command, script, the stage's own arguments
    (
        "ingest-gharchive",
        "ingest_gharchive.py",
        [
            "--input",
            "s3://commitpack-data/gharchive/2024-01-01-*.json.gz",
            "--input",
            "s3://commitpack-data/gharchive/2024-01-02-*.json.gz",
            *COMMON,
        ],
    ),
    (
        "ingest-bigquery",
        "ingest_bigquery.py",
        ["--commits", "s3://commitpack-data/bq/commits/", "--licenses", "s3://commitpack-data/bq/licenses/", *COMMON],
    ),
    ("index", "index.py", [*COMMON]),
    ("fetch", "fetch.py", [*COMMON]),
    ("filter", "filter.py", [*COMMON]),
    ("dedup", "dedup.py", [*COMMON]),
    ("export", "export.py", ["--output", "s3://commitpack-data/export/", *COMMON]),
]


def expected_step_args(command: str, script: str, arguments: list[str], python: str = "python3") -> list[str]:
    return [
        "spark-submit",
        "--deploy-mode",
        "cluster",
        "--name",
        f"commitpack-{command}",
        "--packages",
        PACKAGES,
        *DELTA_CONF,
        "--conf",
        f"spark.pyspark.python={python}",
        f"{ARTIFACTS}/jobs/{script}",
        *arguments,
    ]


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    """moto's server in its own process; its recorder logs every request it receives."""
    work = tmp_path_factory.mktemp("moto")
    port = free_port()
    env = dict(os.environ, MOTO_RECORDER_FILEPATH=str(work / "recording.jsonl"))
    log = open(work / "moto.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=log, stderr=log
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"moto server did not start: {(work / 'moto.log').read_text()[-2000:]}")
            time.sleep(0.2)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture
def aws(moto_endpoint, tmp_path):
    """Environment of the deploy command (moto's endpoint, its fake account) and clients on it."""
    env = dict(
        os.environ,
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
    )
    env.pop("AWS_PROFILE", None)
    _moto_api(moto_endpoint, "reset")  # a fresh account for every test
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )

    class AWS:
        environ = env
        endpoint = moto_endpoint

        @staticmethod
        def client(service):
            return session.client(service, endpoint_url=moto_endpoint)

    AWS.client("s3").create_bucket(Bucket=BUCKET)
    return AWS


def _moto_api(endpoint: str, path: str, method: str = "POST") -> bytes:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/{path}", method=method, data=b"" if method == "POST" else None
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel deploy/emr/emr.py builds itself (a dry run builds it and names it)."""
    dist = tmp_path_factory.mktemp("dist")
    env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1")
    calls = json.loads(
        deploy(
            env,
            "--artifacts",
            ARTIFACTS,
            "--lakehouse",
            LAKEHOUSE,
            "--release-label",
            "emr-spark-8.1.0",
            "--dist",
            str(dist),
            "--dry-run",
        ).stdout
    )
    [path] = [Path(c["params"]["Filename"]) for c in calls if c["params"].get("Key", "").endswith(".whl")]
    assert path.parent == dist.resolve()
    return path


def deploy(env: dict, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(EMR), *args], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == expect, result.stderr
    return result


def recorded_calls(endpoint: str) -> list[tuple[str, str, dict]]:
    """The requests moto received, as (service, operation, parameters); reads and waits (GET)
    are left out: a dry run lists the calls that change something."""
    calls = []
    for line in _moto_api(endpoint, "recorder/download-recording", "GET").decode().splitlines():
        entry = json.loads(line)
        headers = {k.lower(): v for k, v in entry["headers"].items()}
        service = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers["authorization"]).group(1)
        body = base64.b64decode(entry["body"]) if entry["body_encoded"] else (entry["body"] or "").encode()
        path = entry["url"].split("://", 1)[1].split("/", 1)[1].split("?")[0]
        if entry["method"] == "GET":
            continue
        if service == "s3":
            bucket, _, key = path.partition("/")
            calls.append(("s3", "upload_file", {"Bucket": bucket, "Key": key}))
        elif service == "elasticmapreduce":
            operation = xform_name(headers["x-amz-target"].split(".")[1])
            calls.append(("emr", operation, json.loads(body)))
        elif service == "emr-serverless":
            params = json.loads(body) if body else {}
            params.pop("clientToken", None)  # an idempotency token boto3 adds to every create/start
            parts = path.split("/")
            if parts == ["applications"]:
                calls.append(("emr-serverless", "create_application", params))
            elif parts[2:] == ["start"]:
                calls.append(("emr-serverless", "start_application", {"applicationId": parts[1]}))
            elif parts[2:] == ["jobruns"]:
                calls.append(("emr-serverless", "start_job_run", {"applicationId": parts[1], **params}))
            else:
                raise AssertionError(f"unexpected request {entry['method']} {path}")
        else:
            raise AssertionError(f"unexpected service {service}")
    return calls


def planned_calls(dry_run_stdout: str, **references: str) -> list[tuple[str, str, dict]]:
    """The --dry-run plan in the same form: uploads by bucket and key, references filled in."""
    text = dry_run_stdout
    for name, value in references.items():
        text = text.replace("${" + name + "}", value)
    calls = []
    for call in json.loads(text):
        params = call["params"]
        if call["operation"] == "upload_file":
            params = {"Bucket": params["Bucket"], "Key": params["Key"]}
        calls.append((call["service"], call["operation"], params))
    return calls


def run_both(aws, *args: str) -> tuple[list, str]:
    """A dry run, then the real run with moto recording; returns the dry run's plan (parsed)
    and the real run's stdout, after checking that moto received exactly the planned calls."""
    dry = deploy(aws.environ, *args, "--dry-run")
    assert aws.client("s3").list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0, "a dry run uploaded something"
    _moto_api(aws.endpoint, "recorder/reset-recording")
    _moto_api(aws.endpoint, "recorder/start-recording")
    try:
        real = deploy(aws.environ, *args)
    finally:
        _moto_api(aws.endpoint, "recorder/stop-recording")
    references = {}
    if '"${create_application.applicationId}"' in dry.stdout:
        [app] = aws.client("emr-serverless").list_applications()["applications"]
        references["create_application.applicationId"] = app["id"]
    assert recorded_calls(aws.endpoint) == planned_calls(dry.stdout, **references)
    return json.loads(dry.stdout), real.stdout


def assert_uploaded(aws, plan: list, extra: dict[str, Path]) -> None:
    """Every planned upload is in the bucket with the local file's bytes, and nothing else."""
    s3 = aws.client("s3")
    uploads = {c["params"]["Key"]: Path(c["params"]["Filename"]) for c in plan if c["operation"] == "upload_file"}
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == set(uploads)
    expected = {f"deploy/jobs/{script}": REPO_ROOT / "jobs" / "stages" / script for _, script, _ in STAGES} | extra
    assert {key: path.resolve() for key, path in uploads.items()} == {k: p.resolve() for k, p in expected.items()}
    for key, path in uploads.items():
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == path.read_bytes(), key


# ----------------------------------------------------------------------------- the wheel


def test_the_wheel_is_valid_and_holds_the_package(wheel):
    with zipfile.ZipFile(wheel) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
        [info] = {n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")}
        metadata = archive.read(f"{info}/METADATA").decode()
        record = archive.read(f"{info}/RECORD").decode().splitlines()
        for line in record:  # every file's hash and size as the wheel declares them
            path, digest, size = line.rsplit(",", 2)
            if not digest:
                continue
            data = archive.read(path)
            algorithm, _, value = digest.partition("=")
            assert base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).rstrip(b"=").decode() == value, path
            assert int(size) == len(data), path
        assert {line.rsplit(",", 2)[0] for line in record} == names
        for module in ("cli.py", "stages/pipeline.py", "runtime/session.py", "stages/index.py", "stages/fetch.py"):
            assert archive.read(f"commitpack/jobs/{module}") == (REPO_ROOT / "jobs" / module).read_bytes()
        assert "commitpack/jobs/runtime/defaults.yaml" in names
        assert any(n.startswith("commitpack/udfs/") and n.endswith(".json") for n in names)
        assert any(n.startswith("commitpack/schemas/") for n in names)
    assert re.search(r"^Name: commitpack$", metadata, re.M)
    assert re.search(r"^Requires-Dist: pygit2", metadata, re.M)
    assert re.fullmatch(r"commitpack-[\d.]+-py3-none-any\.whl", wheel.name)


# ----------------------------------------------------------------------------- EMR on EC2


def test_new_cluster_runs_every_stage_as_a_step_after_the_bootstrap_action(aws, wheel):
    plan, out = run_both(
        aws,
        "--artifacts",
        ARTIFACTS,
        "--lakehouse",
        LAKEHOUSE,
        *STAGE_OPTIONS,
        "--release-label",
        "emr-spark-8.1.0",
        "--python",
        "python3.11",
        "--core-nodes",
        "3",
        "--wheel",
        str(wheel),
    )
    assert_uploaded(
        aws, plan, {f"deploy/{wheel.name}": wheel, "deploy/bootstrap.sh": REPO_ROOT / "deploy" / "emr" / "bootstrap.sh"}
    )

    emr = aws.client("emr")
    [summary] = emr.list_clusters()["Clusters"]
    assert f"started cluster {summary['Id']} with 7 steps" in out
    cluster = emr.describe_cluster(ClusterId=summary["Id"])["Cluster"]
    assert cluster["Name"] == "commitpack"
    assert cluster["ReleaseLabel"] == "emr-spark-8.1.0"
    assert [a["Name"] for a in cluster["Applications"]] == ["Spark"]
    assert cluster["LogUri"] == f"{ARTIFACTS}/logs/"
    assert cluster["AutoTerminate"] is True  # no --keep-alive: it ends after the last step
    groups = {g["InstanceGroupType"]: g for g in emr.list_instance_groups(ClusterId=summary["Id"])["InstanceGroups"]}
    assert groups["MASTER"]["RequestedInstanceCount"] == 1 and groups["CORE"]["RequestedInstanceCount"] == 3
    [bootstrap] = emr.list_bootstrap_actions(ClusterId=summary["Id"])["BootstrapActions"]
    assert bootstrap["ScriptPath"] == f"{ARTIFACTS}/bootstrap.sh"
    assert bootstrap["Args"] == [f"{ARTIFACTS}/{wheel.name}", "python3.11"]

    steps = list(reversed(emr.list_steps(ClusterId=summary["Id"])["Steps"]))  # newest first
    assert [s["Name"] for s in steps] == [f"commitpack {command}" for command, _, _ in STAGES]
    for step, (command, script, arguments) in zip(steps, STAGES):
        assert step["Config"]["Jar"] == "command-runner.jar"
        assert step["Config"]["Args"] == expected_step_args(command, script, arguments, "python3.11")
        assert step["ActionOnFailure"] == "TERMINATE_CLUSTER"


def test_running_cluster_gets_the_steps(aws, wheel):
    emr = aws.client("emr")
    cluster_id = emr.run_job_flow(
        Name="already-running",
        ReleaseLabel="emr-spark-8.1.0",
        Applications=[{"Name": "Spark"}],
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "SlaveInstanceType": "m5.xlarge",
            "InstanceCount": 3,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    plan, out = run_both(
        aws, "--artifacts", ARTIFACTS, "--lakehouse", LAKEHOUSE, "--cluster-id", cluster_id, "--wheel", str(wheel)
    )
    assert [c["operation"] for c in plan][-1] == "add_job_flow_steps"
    # its nodes have commitpack already: only the scripts of the stages it runs are uploaded
    keys = {o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {f"deploy/jobs/{name}.py" for name in ("index", "fetch", "filter", "dedup")}
    steps = list(reversed(emr.list_steps(ClusterId=cluster_id)["Steps"]))
    assert f"to cluster {cluster_id}" in out and all(s["Id"] in out for s in steps)
    # no ingest (no inputs given) and no export (no --output): the stages `commitpack pipeline` runs
    chosen = [stage for stage in STAGES if stage[0] in ("index", "fetch", "filter", "dedup")]
    assert [s["Name"] for s in steps] == [f"commitpack {command}" for command, _, _ in chosen]
    for step, (command, script, _) in zip(steps, chosen):
        assert step["Config"]["Args"] == expected_step_args(command, script, ["--lakehouse", LAKEHOUSE])
        assert step["ActionOnFailure"] == "CANCEL_AND_WAIT"
    assert len(emr.list_clusters()["Clusters"]) == 1


def test_the_bootstrap_action_is_a_valid_shell_script_that_checks_its_arguments(tmp_path):
    script = REPO_ROOT / "deploy" / "emr" / "bootstrap.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert os.access(script, os.X_OK)
    # without the wheel's URI it stops before touching anything
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("usage: ")


# ----------------------------------------------------------------------------- EMR Serverless


def test_serverless_application_runs_one_job_per_stage(aws):
    python_env = "s3://commitpack-artifacts/envs/commitpack-env.tar.gz"
    # moto accepts only emr-N.N.0 labels for EMR Serverless (AWS also has emr-spark-8.x.y).
    plan, out = run_both(
        aws,
        "--artifacts",
        ARTIFACTS,
        "--lakehouse",
        LAKEHOUSE,
        *STAGE_OPTIONS,
        "--serverless",
        "--release-label",
        "emr-7.12.0",
        "--execution-role-arn",
        ROLE,
        "--python-env",
        python_env,
    )
    assert_uploaded(aws, plan, {})
    serverless = aws.client("emr-serverless")
    [summary] = serverless.list_applications()["applications"]
    application = serverless.get_application(applicationId=summary["id"])["application"]
    assert (application["name"], application["releaseLabel"], application["state"]) == (
        "commitpack",
        "emr-7.12.0",
        "STARTED",
    )

    runs = serverless.list_job_runs(applicationId=summary["id"])["jobRuns"]
    assert sorted(r["name"] for r in runs) == sorted(f"commitpack {command}" for command, _, _ in STAGES)
    parameters = " ".join(
        [
            "--packages",
            PACKAGES,
            *DELTA_CONF,
            "--conf",
            f"spark.archives={python_env}#environment",
            "--conf",
            "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON=./environment/bin/python",
            "--conf",
            "spark.emr-serverless.driverEnv.PYSPARK_PYTHON=./environment/bin/python",
            "--conf",
            "spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python",
        ]
    )
    by_name = {r["name"]: r["id"] for r in runs}
    for command, script, arguments in STAGES:
        run = serverless.get_job_run(applicationId=summary["id"], jobRunId=by_name[f"commitpack {command}"])["jobRun"]
        assert run["executionRole"] == ROLE
        assert run["jobDriver"]["sparkSubmit"] == {
            "entryPoint": f"{ARTIFACTS}/jobs/{script}",
            "entryPointArguments": arguments,
            "sparkSubmitParameters": parameters,
        }
        assert (
            run["configurationOverrides"]["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"]
            == f"{ARTIFACTS}/logs/"
        )
        assert run["state"] == "SUCCESS"
        assert f"commitpack {command} (job run {run['jobRunId']}): SUCCESS" in out
    # the runs were started one after another, in pipeline order
    started = [c["params"]["name"] for c in plan if c["operation"] == "start_job_run"]
    assert started == [f"commitpack {command}" for command, _, _ in STAGES]


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--lakehouse", "/tmp/lakehouse", "--release-label", "emr-spark-8.1.0"],
            "--lakehouse /tmp/lakehouse: the cluster writes to s3://",
        ),
        (["--lakehouse", LAKEHOUSE], "needs --release-label"),
        (
            ["--lakehouse", LAKEHOUSE, "--serverless", "--release-label", "emr-7.12.0"],
            "--serverless needs --execution-role-arn",
        ),
        (["--lakehouse", LAKEHOUSE, "--application-id", "00f1"], "--application-id is for EMR Serverless"),
        (["--lakehouse", LAKEHOUSE, "--cluster-id", "j-1", "--set", "fetch.no_such_key=1"], "--set: unknown setting"),
        (
            ["--lakehouse", LAKEHOUSE, "--cluster-id", "j-1", "--commits", "s3://x/c"],
            "--commits and --licenses go together",
        ),
    ],
)
def test_bad_options_are_one_line_errors_before_anything_is_built(aws, args, message):
    result = deploy(aws.environ, "--artifacts", ARTIFACTS, *args, "--dist", "/nonexistent/dist", expect=2)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_a_failing_call_is_one_line_and_exit_1(aws, wheel):
    result = deploy(
        aws.environ,
        "--artifacts",
        "s3://no-such-bucket/deploy",
        "--lakehouse",
        LAKEHOUSE,
        "--cluster-id",
        "j-1",
        "--wheel",
        str(wheel),
        expect=1,
    )
    assert result.stderr.startswith("deploy/emr/emr.py: error: s3 upload_file: ")
    assert "NoSuchBucket" in result.stderr and len(result.stderr.strip().splitlines()) == 1
