"""deploy/databricks/databricks.yml, checked without a workspace (the `databricks` CLI is a Go
binary this machine cannot download): every job parses as the Jobs API's own models (the
`databricks-bundles` package, generated from the same schema as the CLI), the stages run in
pipeline order through the project's real CLI parser, and the artifact's build command builds the
wheel whose console script the tasks call."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from configparser import ConfigParser
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from databricks.bundles.jobs import Job
from packaging.requirements import Requirement

from commitpack.jobs import cli
from commitpack.jobs.runtime.command import settings_from_args
from commitpack.jobs.stages import pipeline

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLE_DIR = REPO_ROOT / "deploy" / "databricks"
BUNDLE_FILE = BUNDLE_DIR / "databricks.yml"
NOTEBOOK_HEADER = "# Databricks notebook source\n"
# Values for the variables without a default: URIs, as on a cluster.
VALUES = {
    "lakehouse": "s3://commitpack-data/lakehouse",
    "gharchive_input": "s3://commitpack-data/gharchive/2024-01-*.json.gz",
    "bigquery_commits": "s3://commitpack-data/bq/commits/",
    "bigquery_licenses": "s3://commitpack-data/bq/licenses/",
    "bigquery_languages": "s3://commitpack-data/bq/languages/",
    "output": "s3://commitpack-data/export/",
}
# Databricks Runtime major version -> its Apache Spark line (release notes of each runtime).
RUNTIME_SPARK = {"17": "4.0", "18": "4.1"}
VARIABLE = re.compile(r"\$\{var\.([a-zA-Z0-9_]+)\}")


@pytest.fixture(scope="module")
def bundle() -> dict:
    return yaml.safe_load(BUNDLE_FILE.read_text())


def variables(bundle: dict) -> dict[str, str]:
    declared = bundle["variables"]
    return {name: str(spec["default"]) if "default" in spec else VALUES[name] for name, spec in declared.items()}


def substitute(value, values: dict[str, str]):
    """The bundle's value with ``${var.x}`` replaced, as `databricks bundle deploy` does."""
    if isinstance(value, dict):
        return {k: substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    if isinstance(value, str):
        return VARIABLE.sub(lambda m: values[m.group(1)], value)
    return value


def pipeline_job(bundle: dict) -> dict:
    return bundle["resources"]["jobs"]["commitpack"]


def setup_cfg() -> ConfigParser:
    parser = ConfigParser()
    parser.read(REPO_ROOT / "setup.cfg")
    return parser


# ----------------------------------------------------------------------------- the definition


def test_every_job_is_a_valid_jobs_api_definition(bundle):
    for name, job in bundle["resources"]["jobs"].items():
        # Unknown fields, mistyped values and invalid enums (data_security_mode…) raise here.
        parsed = Job.from_dict(job)
        assert parsed.tasks, name
        keys = [task.task_key for task in parsed.tasks]
        assert len(keys) == len(set(keys))
        clusters = {c.job_cluster_key for c in parsed.job_clusters}
        assert {task.job_cluster_key for task in parsed.tasks} <= clusters


def test_every_variable_used_is_declared_and_every_declared_one_is_used(bundle):
    text = BUNDLE_FILE.read_text()
    used = set(VARIABLE.findall(text))
    assert used == set(bundle["variables"])
    assert set(VALUES) == {name for name, spec in bundle["variables"].items() if "default" not in spec}


def test_the_job_runs_every_stage_once_in_pipeline_order(bundle):
    tasks = pipeline_job(bundle)["tasks"]
    assert [task["task_key"] for task in tasks] == [stage.COMMAND for stage in pipeline.STAGES]
    for number, task in enumerate(tasks):
        expected = [{"task_key": tasks[number - 1]["task_key"]}] if number else None
        assert task.get("depends_on") == expected
        assert task["python_wheel_task"]["parameters"][0] == task["task_key"]


def test_each_task_runs_the_real_cli_with_its_stage_and_the_lakehouse(bundle):
    values = variables(bundle)
    parser = cli.build_parser()
    for task, stage in zip(pipeline_job(bundle)["tasks"], pipeline.STAGES):
        parameters = substitute(task["python_wheel_task"]["parameters"], values)
        args = parser.parse_args(parameters)  # a wrong or missing option raises UsageError
        assert args.stage is stage
        if hasattr(stage, "check"):
            stage.check(args)
        cfg = settings_from_args(args)
        assert cfg.lakehouse == VALUES["lakehouse"]
        if stage.COMMAND in ("index", "fetch"):
            assert cfg.git.cache_dir == values["cache_dir"]
    by_stage = {
        t["task_key"]: parser.parse_args(substitute(t["python_wheel_task"]["parameters"], values))
        for t in pipeline_job(bundle)["tasks"]
    }
    assert by_stage["ingest-gharchive"].input == [VALUES["gharchive_input"]]
    assert (
        by_stage["ingest-bigquery"].commits,
        by_stage["ingest-bigquery"].licenses,
        by_stage["ingest-bigquery"].languages,
    ) == (VALUES["bigquery_commits"], VALUES["bigquery_licenses"], VALUES["bigquery_languages"])
    assert settings_from_args(by_stage["export"]).export.output == VALUES["output"]


def test_the_tasks_call_the_commitpack_console_script_of_the_package(bundle):
    cfg = setup_cfg()
    scripts = dict(line.split("=", 1) for line in cfg["options.entry_points"]["console_scripts"].strip().splitlines())
    scripts = {k.strip(): v.strip() for k, v in scripts.items()}
    for task in pipeline_job(bundle)["tasks"]:
        wheel_task = task["python_wheel_task"]
        assert wheel_task["package_name"] == cfg["metadata"]["name"]
        assert scripts[wheel_task["entry_point"]] == "commitpack.jobs.cli:main"
    # What Databricks' wheel launcher looks up: the installed distribution's entry point by name.
    [entry] = [ep for ep in metadata.distribution("commitpack").entry_points if ep.name == "commitpack"]
    assert entry.load() is cli.main


def test_a_failing_stage_fails_its_task_when_run_as_databricks_runs_a_wheel(bundle, monkeypatch, capsys):
    # Databricks' wheel launcher calls the entry point and ignores its return value
    # (`entry[0].load()()`): a failed stage must raise.
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "18.0")
    export = pipeline_job(bundle)["tasks"][-1]["python_wheel_task"]
    parameters = [
        p for p in substitute(export["parameters"], variables(bundle)) if p not in ("--output", VALUES["output"])
    ]
    monkeypatch.setattr(sys, "argv", [export["package_name"], *parameters])  # how the launcher passes them
    [entry] = [
        ep for ep in metadata.distribution(export["package_name"]).entry_points if ep.name == export["entry_point"]
    ]
    with pytest.raises(SystemExit) as exited:
        entry.load()()
    assert exited.value.code == 2
    assert "--output" in capsys.readouterr().err


def test_the_job_cluster_runs_spark_4_1_the_line_of_the_installed_pyspark(bundle):
    import pyspark

    runtime = bundle["variables"]["spark_version"]["default"]
    assert re.fullmatch(r"\d+(\.\d+)?\.x-scala2\.13", runtime)
    assert RUNTIME_SPARK[runtime.split(".")[0]] == ".".join(pyspark.__version__.split(".")[:2]) == "4.1"
    for job in bundle["resources"]["jobs"].values():
        for cluster in job["job_clusters"]:
            assert cluster["new_cluster"]["spark_version"] == "${var.spark_version}"
            assert cluster["new_cluster"]["data_security_mode"] == "SINGLE_USER"


def test_every_task_installs_the_built_wheel_and_the_pipeline_tasks_the_quality_extra(bundle):
    [artifact] = bundle["artifacts"].values()
    [wheel_files] = [f["source"] for f in artifact["files"]]
    quality = {
        str(Requirement(line)) for line in setup_cfg()["options.extras_require"]["quality"].split("\n") if line.strip()
    }
    for task in pipeline_job(bundle)["tasks"]:
        whl = [lib["whl"] for lib in task["libraries"] if "whl" in lib]
        pypi = {str(Requirement(lib["pypi"]["package"])) for lib in task["libraries"] if "pypi" in lib}
        assert whl == [wheel_files]
        assert pypi == quality  # data-quality checks are on by default (quality.enabled)
    for task in bundle["resources"]["jobs"]["commitpack_notebooks"]["tasks"]:
        assert [lib["whl"] for lib in task["libraries"]] == [wheel_files]


def test_the_notebook_tasks_run_the_notebooks_with_the_lakehouse_widget(bundle):
    sync_roots = [(BUNDLE_DIR / path).resolve() for path in bundle["sync"]["paths"]]
    notebooks_dir = REPO_ROOT / "notebooks"
    tasks = bundle["resources"]["jobs"]["commitpack_notebooks"]["tasks"]
    paths = [(BUNDLE_DIR / task["notebook_task"]["notebook_path"]).resolve() for task in tasks]
    assert sorted(paths) == sorted(p for p in notebooks_dir.glob("*.py") if p.read_text().startswith(NOTEBOOK_HEADER))
    for task, path in zip(tasks, paths):
        assert any(root in path.parents for root in sync_roots)  # deployed with the bundle's files
        assert task["notebook_task"]["base_parameters"] == {"lakehouse": "${var.lakehouse}"}
    sys.path.insert(0, str(notebooks_dir))
    try:
        import notebook_env
    finally:
        sys.path.remove(str(notebooks_dir))
    assert notebook_env.LAKEHOUSE_WIDGET == "lakehouse"


# ----------------------------------------------------------------------------- the artifact


def test_the_artifact_build_makes_the_one_wheel_the_tasks_install(bundle, tmp_path):
    """The build command, run as the CLI runs it (a shell in the artifact's path), in a copy of the
    checkout's files; then the `files` glob resolved against the configuration's folder."""
    [artifact] = bundle["artifacts"].values()
    assert artifact["type"] == "whl"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    checkout = tmp_path / "checkout"
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / name)
    bundle_dir = checkout / BUNDLE_DIR.relative_to(REPO_ROOT)
    env = dict(
        os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )  # `python` = this venv
    built = subprocess.run(
        artifact["build"],
        shell=True,
        cwd=(bundle_dir / artifact["path"]).resolve(),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [pattern] = [f["source"] for f in artifact["files"]]
    [wheel] = sorted((bundle_dir / Path(pattern).parent).resolve().glob(Path(pattern).name))

    task = pipeline_job(bundle)["tasks"][0]["python_wheel_task"]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [info] = {n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")}
        meta = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert meta["Name"] == task["package_name"]
    assert f"{task['entry_point']} = commitpack.jobs.cli:main" in entry_points
    assert {"commitpack/jobs/cli.py", "commitpack/jobs/runtime/defaults.yaml", "commitpack/udfs/__init__.py"} <= set(
        names
    )
    # The runtime brings Spark and Delta: installing the wheel must not replace them.
    required = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    assert not [r for r in required if r.name in ("pyspark", "delta-spark") and r.marker is None]
