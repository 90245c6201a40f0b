"""Run the commitpack pipeline on Google Dataproc: one workflow with one PySpark job per stage,
on a cluster the workflow creates (and deletes) or on a running one.

Builds the wheel, uploads it with the stages' scripts and the initialization action (which
installs the wheel on every node) under --artifacts, then instantiates an inline workflow
template whose jobs run in pipeline order. The template is also written as YAML for
`gcloud dataproc workflow-templates instantiate-from-file`. --dry-run prints the requests
(Cloud Storage uploads, the Dataproc request body as JSON) instead of making them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python deploy/dataproc/dataproc.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import yaml

from commitpack.jobs.runtime.errors import JobError, UsageError
from deploy import common

PROG = "deploy/dataproc/dataproc.py"
INIT_ACTION = Path(__file__).with_name("init-action.sh")
TEMPLATE_FILE = "dataproc-workflow-template.yaml"
# Dataproc labels every cluster with its name: a workflow on a running cluster selects it so.
CLUSTER_NAME_LABEL = "goog-dataproc-cluster-name"


def build_parser():
    parser = common.parser(PROG, " ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument(
        "--artifacts",
        metavar="GS_URI",
        required=True,
        help="gs://bucket/prefix for the wheel, the stage scripts and the initialization action",
    )
    parser.add_argument("--project", required=True, help="Google Cloud project")
    parser.add_argument("--region", required=True, help="Dataproc region, e.g. europe-west1")
    parser.add_argument("--cluster", metavar="NAME", help="run on this running cluster instead of creating one")
    parser.add_argument(
        "--python",
        default="/opt/conda/default/bin/python",
        help="the Python the initialization action installs into and Spark runs "
        "(Python 3.10+; default /opt/conda/default/bin/python, the image's)",
    )

    new = parser.add_argument_group("a cluster created for the workflow")
    new.add_argument("--name", default="commitpack", help="its name (default commitpack)")
    new.add_argument(
        "--image-version",
        metavar="VERSION",
        help="Dataproc image; its Spark must be the line the Delta jars are built for",
    )
    new.add_argument(
        "--machine-type", default="n2-standard-4", help="of the master and workers (default n2-standard-4)"
    )
    new.add_argument("--workers", type=int, default=2, help="number of workers (default 2)")
    new.add_argument("--zone", help="Compute Engine zone (default: Dataproc chooses one in the region)")
    return parser


def check(args) -> None:
    common.check(args, "gs")
    common.split_uri("--artifacts", args.artifacts, "gs")
    if not args.cluster and not args.image_version:
        raise UsageError("a new cluster needs --image-version (or give --cluster to run on a running one)")
    if args.workers < 2:
        raise UsageError("--workers must be at least 2 (a standard Dataproc cluster)")


# ----------------------------------------------------------------------------- the plan


def plan(args, wheel: Path | None) -> common.Plan:
    """Uploads, then one InstantiateInlineWorkflowTemplate request; ``wheel`` is None on a
    running cluster, which has commitpack installed already."""
    bucket, prefix = common.split_uri("--artifacts", args.artifacts, "gs")
    result = common.Plan()

    def upload(path: Path, *key: str) -> str:
        name = "/".join(p for p in (prefix, *key) if p)
        result.add("storage", "upload_from_filename", bucket=bucket, name=name, filename=str(path))
        return common.join_uri("gs", bucket, name)

    stages = common.stages(args)
    scripts = {stage.command: upload(stage.script, "jobs", stage.script.name) for stage in stages}
    properties = common.spark_properties(args.python)
    jobs = []
    for number, stage in enumerate(stages):
        job: dict[str, Any] = {
            "stepId": stage.command,
            "pysparkJob": {
                "mainPythonFileUri": scripts[stage.command],
                "args": stage.arguments,
                "properties": dict(properties),
            },
        }
        if number:
            job["prerequisiteStepIds"] = [stages[number - 1].command]
        jobs.append(job)

    if args.cluster:
        placement = {"clusterSelector": {"clusterLabels": {CLUSTER_NAME_LABEL: args.cluster}}}
    else:
        gce: dict[str, Any] = {
            "metadata": {"commitpack-wheel": upload(wheel, wheel.name), "commitpack-python": args.python}
        }
        if args.zone:
            gce["zoneUri"] = args.zone
        placement = {
            "managedCluster": {
                "clusterName": args.name,
                "config": {
                    "gceClusterConfig": gce,
                    "softwareConfig": {"imageVersion": args.image_version},
                    "initializationActions": [{"executableFile": upload(INIT_ACTION, INIT_ACTION.name)}],
                    "masterConfig": {"numInstances": 1, "machineTypeUri": args.machine_type},
                    "workerConfig": {"numInstances": args.workers, "machineTypeUri": args.machine_type},
                },
            }
        }
    result.add(
        "dataproc",
        "instantiate_inline_workflow_template",
        wait_for="DONE",
        parent=f"projects/{args.project}/regions/{args.region}",
        template={"jobs": jobs, "placement": placement},
    )
    return result


def write_template(calls: common.Plan, path: Path) -> None:
    """The workflow template as YAML, for `gcloud dataproc workflow-templates instantiate-from-file`."""
    [request] = [c.params for c in calls.calls if c.service == "dataproc"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(request["template"], sort_keys=False))


# ----------------------------------------------------------------------------- carrying it out


class Executor:
    """Makes a plan's calls with the Google Cloud client libraries (Application Default
    Credentials); a workflow is waited for until its last job has finished."""

    def __init__(self, project: str, region: str):
        try:
            from google.cloud import dataproc_v1, storage
        except ImportError:
            raise UsageError("the Google Cloud clients are missing: pip install -e '.[dataproc]'") from None
        self._dataproc = dataproc_v1
        self._clients: dict[str, Any] = {}
        self._factories = {
            "storage": lambda: storage.Client(project=project),
            # Dataproc's API is regional: a region's jobs are reached at its own endpoint.
            "dataproc": lambda: dataproc_v1.WorkflowTemplateServiceClient(
                client_options={"api_endpoint": f"{region}-dataproc.googleapis.com:443"}
            ),
        }

    def client(self, service: str):
        from google.auth.exceptions import DefaultCredentialsError

        if service not in self._clients:
            try:
                self._clients[service] = self._factories[service]()
            except DefaultCredentialsError as exc:
                raise UsageError(
                    f"no Google Cloud credentials ({' '.join(str(exc).split())}): "
                    "run `gcloud auth application-default login`"
                ) from None
        return self._clients[service]

    def __call__(self, call: common.Call) -> dict[str, Any]:
        from google.api_core.exceptions import GoogleAPIError

        client = self.client(call.service)
        params = call.params
        try:
            if call.service == "storage":
                client.bucket(params["bucket"]).blob(params["name"]).upload_from_filename(params["filename"])
                return {}
            request = self._dataproc.InstantiateInlineWorkflowTemplateRequest.from_json(json.dumps(params))
            client.instantiate_inline_workflow_template(request=request).result(timeout=None)
        except GoogleAPIError as exc:
            raise JobError(f"{call.service} {call.operation}: {' '.join(str(exc).split())}") from None
        return {}


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    check(args)
    calls = plan(args, None if args.cluster else common.wheel(args))
    template = Path(args.dist) / TEMPLATE_FILE
    write_template(calls, template)
    if args.dry_run:
        print(calls.render())
        print(f"wrote the workflow template to {template}", file=sys.stderr)
        return 0
    calls.run(Executor(args.project, args.region))
    print(f"every stage succeeded (workflow template: {template})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return common.main(run, PROG, argv)


if __name__ == "__main__":
    sys.exit(main())
