"""Two runs on one lakehouse at the same time (Airflow catchup with several active runs, a manual
rerun beside the hourly DAG): both run ingest-gharchive on overlapping hours, ingest-bigquery,
index and fetch, each stage starting at the same moment in both. Each stage's second run waits for
the first's lease, both succeed, and the final tables equal the sequential run's.

On the local disk the two runs are two processes (two drivers). On the object store they are two
runs in one driver: plain S3 gives Delta mutual exclusion only within one driver; between
drivers it takes Delta's DynamoDB log store (README "Overlapping runs")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.jvm import SHORT_LIVED_DRIVER

from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.sample import OPT_OUT_OWNER

HELPER = Path(__file__).with_name("overlapping_runs.py")
STAGES = ("ingest-gharchive", "ingest-bigquery", "index", "fetch")
# Every table those stages write, compared with the sequential run's (the `fetched` fixture).
TABLES = (
    "bronze.gharchive_pushes",
    "bronze.gharchive_quarantine",
    "bronze.gharchive_files",
    "bronze.bq_commits",
    "bronze.bq_licenses",
    "bronze.bq_languages",
    "silver.push_enumerations",
    "silver.git_commits",
    "silver.repo_licenses",
    "silver.commit_index",
    "silver.index_rejections",
    "gold.commitpack",
)


def run_stages(lakehouse: str, hours: list[str], bigquery: str, sample, cache: Path) -> list[list[str]]:
    common = [
        "--lakehouse",
        lakehouse,
        "--set",
        f"opt_out.owners=[{OPT_OUT_OWNER}]",
        "--set",
        "git.retries=1",
        "--set",
        f"git.cache_dir={cache}",
        "--set",
        f"git.remote_template={sample.remote_template}",
    ]
    return [
        ["ingest-gharchive", *[word for hour in hours for word in ("--input", hour)], *common],
        [
            "ingest-bigquery",
            *("--commits", f"{bigquery}/commits", "--licenses", f"{bigquery}/licenses"),
            *("--languages", f"{bigquery}/languages", *common),
        ],
        ["index", *common],
        ["fetch", *common],
    ]


def overlapping_hours(hours: list[str]) -> tuple[list[str], list[str]]:
    """The first two thirds and the last two thirds: the middle third is in both runs."""
    third = max(1, len(hours) // 3)
    return hours[: len(hours) - third], hours[third:]


def launch(tmp_path: Path, name: str, runs: dict, parties: int, config: Path | None, env: dict | None):
    spec = tmp_path / f"{name}.json"
    spec.write_text(
        json.dumps(
            {"config": str(config) if config else None, "barrier": str(tmp_path), "parties": parties, "runs": runs}
        )
    )
    out, err = open(tmp_path / f"{name}.out", "w"), open(tmp_path / f"{name}.err", "w")
    return subprocess.Popen([sys.executable, str(HELPER), str(spec)], stdout=out, stderr=err, env=env), out, err


def finish(launched, tmp_path: Path) -> tuple[dict, str]:
    codes, errors = {}, ""
    for proc, out, err in launched:
        proc.wait(timeout=2400)
        out.close()
        err.close()
    for proc, out, err in launched:
        text = Path(err.name).read_text()
        errors += text
        assert proc.returncode == 0, text[-3000:]
        codes.update(json.loads(Path(out.name).read_text().strip().splitlines()[-1]))
    return codes, errors


def assert_overlapped(codes: dict, errors: str, lakehouse: Lakehouse) -> None:
    assert codes == {"a": [0] * len(STAGES), "b": [0] * len(STAGES)}, errors[-3000:]
    # Each stage started at once in both runs: exactly one of the two found it held and waited.
    for stage in STAGES:
        assert errors.count(f"[{stage}] {stage} is held by run ") == 1, (stage, errors[-3000:])
    runs = lakehouse.read("meta.stage_runs").groupBy("stage").count().collect()
    assert {r.stage: r["count"] for r in runs} == dict.fromkeys(STAGES, 2)
    assert lakehouse.read("meta.stage_leases").isEmpty()  # every lease was given back


def test_two_processes_overlapping_on_a_local_lakehouse_end_as_one_sequential_run(
    sample, fetched, spark, tmp_path, same_tables
):
    sequential, _, _ = fetched
    hours = sorted(str(p) for p in sample.gharchive.glob("*.json.gz"))
    first, second = overlapping_hours(hours)
    root = tmp_path / "lakehouse"
    config = tmp_path / "local.yaml"
    config.write_text(yaml.safe_dump({"spark": {"conf": {"spark.driver.memory": "2g", **SHORT_LIVED_DRIVER}}}))
    launched = [
        launch(
            tmp_path,
            name,
            {name: run_stages(str(root), mine, str(sample.bigquery), sample, tmp_path / "cache")},
            2,
            config,
            None,
        )
        for name, mine in (("a", first), ("b", second))
    ]
    codes, errors = finish(launched, tmp_path)
    lakehouse = Lakehouse(spark, str(root))
    assert_overlapped(codes, errors, lakehouse)
    same_tables(lakehouse, sequential, TABLES)


@pytest.mark.object_store
def test_two_runs_overlapping_on_an_object_store_end_as_one_sequential_run(
    sample, fetched, spark, object_store, sample_on_object_store, tmp_path, same_tables
):
    sequential, _, _ = fetched
    inputs = sample_on_object_store
    hours = sorted(f"{inputs}/gharchive/{p.name}" for p in sample.gharchive.glob("*.json.gz"))
    first, second = overlapping_hours(hours)
    lakehouse_uri = object_store.uri("overlap/lakehouse")
    runs = {
        name: run_stages(lakehouse_uri, mine, f"{inputs}/bigquery", sample, tmp_path / "cache")
        for name, mine in (("a", first), ("b", second))
    }
    config = object_store.settings(tmp_path / "s3a.yaml")
    codes, errors = finish([launch(tmp_path, "ab", runs, 2, config, object_store.env())], tmp_path)
    lakehouse = Lakehouse(spark, str(object_store.download("overlap/lakehouse", tmp_path / "lakehouse")))
    assert_overlapped(codes, errors, lakehouse)
    same_tables(lakehouse, sequential, TABLES, {f"{inputs}/": f"file:{sample.root}/"})
