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

REPO_ROOT = Path(__file__).resolve().parents[1]
# assertDataFrameEqual imports pyspark.pandas, which warns unless this is set before Spark starts.
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from commitpack.jobs.runtime.config import load_settings
    from commitpack.jobs.runtime.session import get_session

    os.environ.setdefault("COMMITPACK_LOG_DIR", str(tmp_path_factory.mktemp("spark-logs")))
    cfg = load_settings(overrides=["spark.master=local[2]", "spark.progress=false"])
    session = get_session(cfg)
    yield session
    session.stop()


@pytest.fixture
def lakehouse(spark, tmp_path):
    from commitpack.jobs.runtime.lakehouse import Lakehouse

    return Lakehouse(spark, str(tmp_path / "lakehouse"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    cfg = sample_config(sample, root / "mirrors")
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

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers, for the tests' own git server


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
