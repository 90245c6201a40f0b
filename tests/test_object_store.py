"""The lakehouse on a real S3-compatible object store: SeaweedFS's S3 gateway on 127.0.0.1
(started and stopped by the tests), reached through s3a:// with hadoop-aws at pyspark's Hadoop
version and credentials from the environment. The whole demo pipeline with its inputs, its
lakehouse and its export on the store matches the local run table for table and file for file."""

from __future__ import annotations

import pytest

from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.sample import OPT_OUT_OWNER
from commitpack.schemas.tables import TABLES

STAGES = ("ingest-gharchive", "ingest-bigquery", "index", "fetch", "filter", "dedup", "export")
# meta.* record the runs themselves (times, run ids), not what they found.
COMPARED = sorted(name for name in TABLES if not name.startswith("meta."))
pytestmark = pytest.mark.object_store


def test_the_pipeline_on_an_object_store_matches_a_local_run(
    object_store, sample_on_object_store, sample, finetuned, spark, cli, tmp_path, same_tables, same_export
):
    local_lakehouse, _, _, local_export = finetuned
    inputs = sample_on_object_store
    logs = tmp_path / "logs"
    done = cli(
        "pipeline",
        "--config",
        str(object_store.settings(tmp_path / "s3a.yaml")),
        "--lakehouse",
        object_store.uri("pipeline/lakehouse"),
        "--input",
        f"{inputs}/gharchive/*.json.gz",
        "--commits",
        f"{inputs}/bigquery/commits",
        "--licenses",
        f"{inputs}/bigquery/licenses",
        "--languages",
        f"{inputs}/bigquery/languages",
        "--output",
        object_store.uri("pipeline/export"),
        "--remote-template",
        sample.remote_template,
        "--mirror-dir",
        str(tmp_path / "mirrors"),
        "--set",
        f"opt_out.owners=[{OPT_OUT_OWNER}]",
        "--set",
        "git.retries=1",
        env=dict(object_store.env(), COMMITPACK_LOG_DIR=str(logs)),
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for stage in STAGES:
        assert f"[{stage}] rows in" in done.stdout, done.stdout

    lakehouse = Lakehouse(spark, str(object_store.download("pipeline/lakehouse", tmp_path / "lakehouse")))
    same_tables(lakehouse, local_lakehouse, COMPARED, {f"{inputs}/": f"file:{sample.root}/"})
    same_export(object_store.download("pipeline/export", tmp_path / "export"), local_export)

    # The credentials came from the environment: no output, log or file the run wrote holds them.
    secret = object_store.SECRET_KEY.encode()
    written = [p for p in [*logs.rglob("*"), *(tmp_path / "lakehouse").rglob("*")] if p.is_file()]
    assert written and not [p for p in written if secret in p.read_bytes()]
    assert secret.decode() not in done.stdout + done.stderr


def test_a_wrong_secret_is_one_line_naming_the_lakehouse(object_store, sample_on_object_store, cli, tmp_path):
    env = dict(object_store.env(), AWS_SECRET_ACCESS_KEY="not-the-secret", COMMITPACK_LOG_DIR=str(tmp_path))
    lakehouse = object_store.uri("refused/lakehouse")
    done = cli(
        "ingest-gharchive",
        "--config",
        str(object_store.settings(tmp_path / "s3a.yaml")),
        "--lakehouse",
        lakehouse,
        "--input",
        f"{sample_on_object_store}/gharchive/*.json.gz",
        env=env,
    )
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"commitpack ingest-gharchive: error: --lakehouse {lakehouse}: cannot read or write it (")
    assert "AccessDeniedException" in line and "403" in line
    settings = (tmp_path / "s3a.yaml").read_text()
    assert object_store.ACCESS_KEY not in settings and object_store.SECRET_KEY not in settings
