"""Run the commitpack pipeline on Amazon EMR: one spark-submit step per stage on a new or a running
cluster, or one job run per stage on EMR Serverless.

Builds the wheel, uploads it with the stages' scripts and the bootstrap action (which installs
the wheel on every node) under --artifacts, then submits the stages in pipeline order.
--dry-run prints the boto3 calls (service, operation, parameters) as JSON instead of making them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python deploy/emr/emr.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from commitpack.jobs.runtime.errors import JobError, UsageError
from commitpack.jobs.runtime.session import spark_submit_options
from deploy import common

PROG = "deploy/emr/emr.py"
BOOTSTRAP = Path(__file__).with_name("bootstrap.sh")
# How often a job run or a new application is polled, and the states that end a wait.
POLL_SECONDS = 15
WAITS = {
    # operation: (state reached, states that will never reach it)
    "create_application": ({"CREATED", "STARTED"}, {"TERMINATED", "STOPPED"}),
    "start_job_run": ({"SUCCESS"}, {"FAILED", "CANCELLED"}),
}
# The Python environment packed for EMR Serverless (spark.archives … #environment).
SERVERLESS_PYTHON = "./environment/bin/python"


def build_parser():
    parser = common.parser(PROG, " ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument(
        "--artifacts",
        metavar="S3_URI",
        required=True,
        help="s3://bucket/prefix for the wheel, the stage scripts, the bootstrap action and logs",
    )
    parser.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    parser.add_argument(
        "--name", default="commitpack", help="name of a new cluster or application (default commitpack)"
    )
    parser.add_argument(
        "--release-label",
        metavar="LABEL",
        help="EMR release of a new cluster or application; its Spark must be the line the Delta jars are built for",
    )
    parser.add_argument("--log-uri", metavar="S3_URI", help="where EMR writes logs (default <artifacts>/logs/)")

    ec2 = parser.add_argument_group("EMR on EC2")
    ec2.add_argument("--cluster-id", metavar="ID", help="add the steps to this running cluster instead of starting one")
    ec2.add_argument(
        "--python",
        default="python3",
        help="the Python the bootstrap action installs into and Spark runs (Python 3.10+; default python3)",
    )
    ec2.add_argument("--instance-type", default="m5.xlarge", help="of the primary and core nodes (default m5.xlarge)")
    ec2.add_argument("--core-nodes", type=int, default=2, help="number of core nodes (default 2)")
    ec2.add_argument("--subnet-id", help="EC2 subnet of a new cluster")
    ec2.add_argument("--service-role", default="EMR_DefaultRole", help="default EMR_DefaultRole")
    ec2.add_argument("--instance-profile", default="EMR_EC2_DefaultRole", help="default EMR_EC2_DefaultRole")
    ec2.add_argument("--keep-alive", action="store_true", help="keep a new cluster running after the last step")

    serverless = parser.add_argument_group("EMR Serverless")
    serverless.add_argument("--serverless", action="store_true", help="run each stage as an EMR Serverless job run")
    serverless.add_argument(
        "--application-id", metavar="ID", help="an existing Spark application (default: create one)"
    )
    serverless.add_argument("--execution-role-arn", metavar="ARN", help="IAM role the job runs assume")
    serverless.add_argument(
        "--python-env",
        metavar="S3_URI",
        help="packed Python environment (.tar.gz) with commitpack installed; see deploy/emr/README.md",
    )
    return parser


def check(args) -> None:
    common.check(args, "s3")
    common.split_uri("--artifacts", args.artifacts, "s3")
    if args.serverless:
        if args.cluster_id:
            raise UsageError("--cluster-id is for EMR on EC2, not with --serverless")
        for option in ("execution_role_arn", "python_env"):
            if not getattr(args, option):
                raise UsageError(f"--serverless needs --{option.replace('_', '-')}")
        common.split_uri("--python-env", args.python_env, "s3")
    elif args.application_id:
        raise UsageError("--application-id is for EMR Serverless: add --serverless")
    if not (args.cluster_id or args.application_id or args.release_label):
        raise UsageError("a new cluster or application needs --release-label (or give --cluster-id / --application-id)")
    if args.core_nodes < 1:
        raise UsageError("--core-nodes must be at least 1")


# ----------------------------------------------------------------------------- the plan


def plan(args, wheel: Path | None) -> common.Plan:
    """The calls that deploy and run the stages; ``wheel`` (with the bootstrap action that
    installs it) is for a new cluster: a running one has it already, and EMR Serverless has it in
    the packed Python environment (--python-env)."""
    bucket, prefix = common.split_uri("--artifacts", args.artifacts, "s3")
    log_uri = args.log_uri or common.join_uri("s3", bucket, prefix, "logs/")
    stages = common.stages(args)
    result = common.Plan()

    def upload(path: Path, *key: str) -> str:
        name = "/".join(p for p in (prefix, *key) if p)
        result.add("s3", "upload_file", Filename=str(path), Bucket=bucket, Key=name)
        return common.join_uri("s3", bucket, name)

    scripts = {stage.command: upload(stage.script, "jobs", stage.script.name) for stage in stages}
    if args.serverless:
        _serverless(result, args, stages, scripts, log_uri)
        return result

    keep_waiting = args.cluster_id or args.keep_alive
    options = spark_submit_options(common.spark_properties(args.python))
    steps = [
        {
            "Name": f"commitpack {stage.command}",
            "ActionOnFailure": "CANCEL_AND_WAIT" if keep_waiting else "TERMINATE_CLUSTER",
            "HadoopJarStep": {
                "Jar": "command-runner.jar",
                "Args": [
                    "spark-submit",
                    "--deploy-mode",
                    "cluster",
                    "--name",
                    f"commitpack-{stage.command}",
                    *options,
                    scripts[stage.command],
                    *stage.arguments,
                ],
            },
        }
        for stage in stages
    ]
    if args.cluster_id:
        result.add("emr", "add_job_flow_steps", JobFlowId=args.cluster_id, Steps=steps)
        return result
    instances: dict[str, Any] = {
        "InstanceGroups": [
            {"Name": "primary", "InstanceRole": "MASTER", "InstanceType": args.instance_type, "InstanceCount": 1},
            {
                "Name": "core",
                "InstanceRole": "CORE",
                "InstanceType": args.instance_type,
                "InstanceCount": args.core_nodes,
            },
        ],
        "KeepJobFlowAliveWhenNoSteps": args.keep_alive,
    }
    if args.subnet_id:
        instances["Ec2SubnetId"] = args.subnet_id
    wheel_uri = upload(wheel, wheel.name)
    bootstrap_uri = upload(BOOTSTRAP, BOOTSTRAP.name)
    result.add(
        "emr",
        "run_job_flow",
        Name=args.name,
        ReleaseLabel=args.release_label,
        LogUri=log_uri,
        Applications=[{"Name": "Spark"}],
        Instances=instances,
        BootstrapActions=[
            {
                "Name": "install commitpack",
                "ScriptBootstrapAction": {"Path": bootstrap_uri, "Args": [wheel_uri, args.python]},
            }
        ],
        Steps=steps,
        JobFlowRole=args.instance_profile,
        ServiceRole=args.service_role,
        VisibleToAllUsers=True,
    )
    return result


def _serverless(result: common.Plan, args, stages, scripts: dict[str, str], log_uri: str) -> None:
    """One job run per stage, each started when the one before has succeeded."""
    application = args.application_id
    if not application:
        result.add(
            "emr-serverless",
            "create_application",
            wait_for="CREATED",
            name=args.name,
            releaseLabel=args.release_label,
            type="SPARK",
        )
        application = common.reference("create_application", "applicationId")
    result.add("emr-serverless", "start_application", applicationId=application)
    properties = common.spark_properties(None) | {
        "spark.archives": f"{args.python_env}#environment",
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": SERVERLESS_PYTHON,
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": SERVERLESS_PYTHON,
        "spark.executorEnv.PYSPARK_PYTHON": SERVERLESS_PYTHON,
    }
    parameters = " ".join(spark_submit_options(properties))
    for stage in stages:
        result.add(
            "emr-serverless",
            "start_job_run",
            wait_for="SUCCESS",
            applicationId=application,
            executionRoleArn=args.execution_role_arn,
            name=f"commitpack {stage.command}",
            jobDriver={
                "sparkSubmit": {
                    "entryPoint": scripts[stage.command],
                    "entryPointArguments": stage.arguments,
                    "sparkSubmitParameters": parameters,
                }
            },
            configurationOverrides={"monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": log_uri}}},
        )


# ----------------------------------------------------------------------------- carrying it out


class Executor:
    """Makes a plan's calls with boto3 (credentials, region and endpoint as boto3 finds them,
    e.g. AWS_ENDPOINT_URL)."""

    def __init__(self, region: str | None):
        import boto3

        self._session = boto3.session.Session(region_name=region)
        self._clients: dict[str, Any] = {}

    def client(self, service: str):
        from botocore.exceptions import NoRegionError

        if service not in self._clients:
            try:
                self._clients[service] = self._session.client(service)
            except NoRegionError:
                raise UsageError("no AWS region: pass --region or set AWS_DEFAULT_REGION") from None
        return self._clients[service]

    def __call__(self, call: common.Call) -> dict[str, Any]:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client(call.service)
        try:
            response = getattr(client, call.operation)(**call.params) or {}
            if call.wait_for:
                self._wait(client, call, response)
        except (Boto3Error, BotoCoreError, ClientError) as exc:
            raise JobError(f"{call.service} {call.operation}: {exc}") from None
        return response

    def _wait(self, client, call: common.Call, response: dict[str, Any]) -> None:
        reached, failed = WAITS[call.operation]
        if call.operation == "create_application":
            what = f"application {response['applicationId']}"
            poll = lambda: client.get_application(applicationId=response["applicationId"])["application"]  # noqa: E731
        else:
            what = f"{call.params['name']} (job run {response['jobRunId']})"
            poll = lambda: client.get_job_run(  # noqa: E731
                applicationId=call.params["applicationId"], jobRunId=response["jobRunId"]
            )["jobRun"]
        while True:
            state = poll()
            if state["state"] in reached:
                print(f"{what}: {state['state']}", flush=True)
                return
            if state["state"] in failed:
                raise JobError(f"{what} ended {state['state']}: {state.get('stateDetails') or 'no details'}")
            time.sleep(POLL_SECONDS)


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    check(args)
    calls = plan(args, None if args.serverless or args.cluster_id else common.wheel(args))
    if args.dry_run:
        print(calls.render())
        return 0
    responses = calls.run(Executor(args.region))
    uploads = sum(call.operation == "upload_file" for call in calls.calls)
    print(f"uploaded {uploads} files to {args.artifacts}")
    if "run_job_flow" in responses:
        print(f"started cluster {responses['run_job_flow']['JobFlowId']} with {len(common.stages(args))} steps")
    elif "add_job_flow_steps" in responses:
        print(f"added steps {' '.join(responses['add_job_flow_steps']['StepIds'])} to cluster {args.cluster_id}")
    else:
        print("every stage succeeded")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return common.main(run, PROG, argv)


if __name__ == "__main__":
    sys.exit(main())
