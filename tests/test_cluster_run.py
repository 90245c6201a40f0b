"""The real cluster run: the whole pipeline submitted with spark-submit to a standalone cluster
(a master and two one-core workers on 127.0.0.1) writes the same tables and export files as the
local run of the same sample in this session (the ``finetuned`` fixture, stage by stage with the
same settings: the object store test holds it to one `commitpack pipeline` run too)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.testing import assertDataFrameEqual

from commitpack.jobs.runtime.session import delta_properties, spark_submit_options
from commitpack.jobs.sample import OPT_OUT_OWNER

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPARED_TABLES = (
    # event_date is the UTC date of a push: the table that shows a session in another zone.
    "bronze.gharchive_pushes",
    "silver.commit_index",
    "gold.commitpack",
    "gold.commitpackft_decisions",
    "gold.commitpackft",
    "gold.commitpackft_funnel",
)


def pipeline_options(sample, workdir: Path) -> list[str]:
    """The settings of the ``finetuned`` fixture's run (the sample's remotes, opt-out owner, one
    retry) with a lakehouse, git cache and export of its own."""
    return [
        "--lakehouse",
        str(workdir / "lakehouse"),
        "--input",
        str(sample.gharchive / "*.json.gz"),
        "--commits",
        str(sample.bigquery / "commits"),
        "--licenses",
        str(sample.bigquery / "licenses"),
        "--languages",
        str(sample.bigquery / "languages"),
        "--remote-template",
        sample.remote_template,
        "--cache-dir",
        str(workdir / "git-cache"),
        "--output",
        str(workdir / "export"),
        "--set",
        f"opt_out.owners=[{OPT_OUT_OWNER}]",
        "--set",
        "git.retries=1",
    ]


def spark_submit_command(
    master: str, script: Path, args: list[str], events: Path, shuffle_partitions: int
) -> list[str]:
    """pyspark's own ``spark-submit`` with the Delta jars and catalog, as a user runs it."""
    import pyspark

    return [
        str(Path(pyspark.__file__).parent / "bin" / "spark-submit"),
        "--master",
        master,
        *spark_submit_options(delta_properties()),
        # Small data on two cores: a few shuffle partitions and 2 for Delta's log instead of 200
        # and 50 tiny tasks.
        "--conf",
        f"spark.sql.shuffle.partitions={shuffle_partitions}",
        "--conf",
        "spark.databricks.delta.snapshotPartitions=2",
        # Executors in another zone than the local run (the driver's comes from TZ as well).
        "--conf",
        "spark.executorEnv.TZ=America/Los_Angeles",
        "--conf",
        "spark.log.level=WARN",
        # The event log shows which executors ran the tasks.
        "--conf",
        "spark.eventLog.enabled=true",
        "--conf",
        f"spark.eventLog.dir={events.as_uri()}",
        "--conf",
        "spark.eventLog.compress=false",
        str(script),
        *args,
    ]


def tasks_per_executor(events: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for log in events.rglob("events_*"):
        with log.open() as lines:
            for line in lines:
                if line.startswith('{"Event":"SparkListenerTaskEnd"'):
                    executor = json.loads(line)["Task Info"]["Executor ID"]
                    counts[executor] = counts.get(executor, 0) + 1
    return counts


@pytest.mark.cluster
def test_the_pipeline_submitted_to_a_standalone_cluster_matches_a_local_run(
    standalone_cluster, sample, finetuned, spark, tmp_path, same_export
):
    from commitpack.jobs.runtime.lakehouse import Lakehouse

    local_lh, _, _, local_export = finetuned
    cluster_dir, events = tmp_path / "cluster", tmp_path / "events"
    events.mkdir()
    # The driver (TZ) and the executors (spark.executorEnv.TZ) in another zone than the local run:
    # a session left in the driver's zone would file pushes under other event dates.
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, TZ="America/Los_Angeles")
    # Twice the local run's shuffle partitions: the same rows, partitioned differently.
    shuffle_partitions = 2 * int(spark.conf.get("spark.sql.shuffle.partitions"))
    command = spark_submit_command(
        standalone_cluster,
        REPO_ROOT / "jobs" / "stages" / "pipeline.py",
        pipeline_options(sample, cluster_dir),
        events,
        shuffle_partitions,
    )
    started = time.monotonic()
    with open(tmp_path / "spark-submit.out", "w") as out, open(tmp_path / "spark-submit.err", "w") as err:
        submitted = subprocess.run(command, stdout=out, stderr=err, env=env, timeout=1200)
    cluster_seconds = time.monotonic() - started
    print(f"cluster run {cluster_seconds:.0f} s")
    output = (tmp_path / "spark-submit.out").read_text()
    assert submitted.returncode == 0, (tmp_path / "spark-submit.err").read_text()[-3000:]

    # Every stage ran under spark-submit's session, and its tasks ran on both workers' executors.
    for stage in ("ingest-gharchive", "ingest-bigquery", "index", "fetch", "filter", "dedup", "export"):
        assert f"[{stage}] rows in" in output, output
    executors = tasks_per_executor(events)
    assert sorted(executors) == ["0", "1"], executors

    cluster_lh = Lakehouse(spark, str(cluster_dir / "lakehouse"))
    for table in COMPARED_TABLES:
        expected = local_lh.read(table)
        actual = cluster_lh.read(table).select(*expected.columns)
        assert expected.count() > 0, table
        assertDataFrameEqual(actual, expected)

    same_export(cluster_dir / "export", local_export)
