"""Fetch: the job against (a) a single-process pygit2 loop over the same commits (each repository's
full history fetched once with libgit2, as fetch did before blob-level transfers, then every commit
read and diffed), (b) the original per-commit recipe (git init; git fetch --depth 2; two checkouts) on
the same commits from the same local remote, and (c) peak memory reading a 200 MB blob."""

import os
import random
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import pygit2
import pytest

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.sample.repos import RepoBuilder, Sample
from commitpack.jobs.stages import fetch
from commitpack.schemas.silver import COMMIT_INDEX
from commitpack.udfs.contents import read_change
from commitpack.udfs.gitrepo import change_list

pytestmark = pytest.mark.benchmark
FILES = 12


def module_text(rng, n):
    return "".join(
        f"def f_{i}_{rng.randrange(1000)}(x):\n    return x * {rng.randrange(100)} + {i}\n\n" for i in range(n)
    )


def build_repos(root, repos, commits_each, seed=5):
    """`repos` repositories of `commits_each` single-file edits to Python modules of 10-40 KB
    (CommitPack's files average a few tens of KB)."""
    rng = random.Random(seed)
    sample = Sample(root)
    rows = []
    for r in range(repos):
        name = f"bench/repo{r:03d}"
        b = RepoBuilder(sample, name)
        state = {f"pkg/mod{i}.py": module_text(rng, 200 + i * 50) for i in range(FILES)}
        b.commit(f"{name}-0", "Start", state)
        for k in range(1, commits_each):
            path = f"pkg/mod{rng.randrange(FILES)}.py"
            lines = state[path].splitlines(keepends=True)
            at = rng.randrange(len(lines))
            lines[at] = f"    return x + {rng.randrange(10**6)}\n" if lines[at].startswith("    return") else lines[at]
            state[path] = "".join(lines) + f"# revision {k}\n"  # every commit changes its file
            sha = b.commit(f"{name}-{k}", f"Change {path} number {k}", {path: state[path]})
            commit = b.repo[sha]
            (change,), _ = change_list(b.repo, commit)
            rows.append(
                {
                    "commit": sha,
                    "repo": name,
                    "license": "mit",
                    "license_source": "bigquery",
                    "parent": str(commit.parent_ids[0]),
                    **change,
                    "lang": "python",
                    "repos": [name],
                    "sources": ["bigquery"],
                    "provenance": [],
                    "subject": f"Change {path} number {k}",
                    "message": f"Change {path} number {k}",
                    "committed_at": None,
                }
            )
    return sample, rows


def original_recipe(remote, row, workdir):
    """OctoPack's scraper, one commit per network round trip."""
    run = lambda *a: subprocess.run(a, cwd=workdir, capture_output=True, check=True)  # noqa: E731
    run("git", "init", "-q")
    run("git", "fetch", "-q", "--depth", "2", remote, row["commit"])
    run("git", "checkout", "-q", "FETCH_HEAD", "--", row["new_path"])
    new = (workdir / row["new_path"]).read_bytes()
    run("git", "checkout", "-q", "FETCH_HEAD^", "--", row["old_path"])
    old = (workdir / row["old_path"]).read_bytes()
    return old, new


def serve(sample, root):
    """The repositories packed as a hosting server keeps them, behind `git daemon` on 127.0.0.1."""
    for repo in sample.remotes.glob("*/*.git"):
        subprocess.run(["git", "--git-dir", str(repo), "repack", "-adq"], check=True)
    port_socket = __import__("socket").socket()
    port_socket.bind(("127.0.0.1", 0))
    port = port_socket.getsockname()[1]
    port_socket.close()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={sample.remotes}",
            str(sample.remotes),
        ],
        stdout=open(root / "daemon.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    time.sleep(1)
    return daemon, f"git://127.0.0.1:{port}/{{repo}}.git"


def pygit2_mirror(url: str, path) -> pygit2.Repository:
    """What fetch did before blob-level transfers: every branch's whole history, with libgit2."""
    repo = pygit2.init_repository(str(path), bare=True)
    repo.remotes.create_anonymous(url).fetch(["+refs/heads/*:refs/heads/*"])
    return repo


def test_fetch_job_vs_pygit2_loop_and_original_recipe(spark, tmp_path, bench_scale, run_stage, report):
    repos, per_repo = 40, int(500 * bench_scale)
    started = time.perf_counter()
    sample, rows = build_repos(tmp_path / "sample", repos, per_repo + 1)
    daemon, remote = serve(sample, tmp_path)
    build_seconds = time.perf_counter() - started
    n = len(rows)
    defaults = load_settings()
    settings = replace(defaults.fetch, max_blob_bytes=1 << 20)
    git = replace(defaults.git, cache_dir=str(tmp_path / "loop-mirrors"), remote_template=remote)
    try:
        # (a) the floor: one process, each repository fetched once with pygit2, then every
        # commit read and diffed: the git work the job does, without Spark or Delta.
        started = time.perf_counter()
        opened = {}
        for row in rows:
            if row["repo"] not in opened:
                opened[row["repo"]] = pygit2_mirror(
                    git.remote_url(row["repo"]), tmp_path / "loop-mirrors" / row["repo"]
                )
        fetch_seconds = time.perf_counter() - started
        for row in rows:
            assert read_change(opened[row["repo"]], row, settings)["status"] == "ok"
        loop_seconds = time.perf_counter() - started
        read_seconds = loop_seconds - fetch_seconds

        # The JVM warmed on 500 rows (other mirrors, other table); the measured run's mirrors are cold.
        warmup = Lakehouse(spark, str(tmp_path / "warmup"))
        warmup.merge(COMMIT_INDEX, spark.createDataFrame(rows[:500], COMMIT_INDEX.schema))
        run_stage(
            fetch,
            spark,
            warmup,
            load_settings(overrides=[f"git.remote_template={remote}", f"git.cache_dir={tmp_path / 'warmup-mirrors'}"]),
        )
        cfg = load_settings(overrides=[f"git.remote_template={remote}", f"git.cache_dir={tmp_path / 'mirrors'}"])
        lakehouse = Lakehouse(spark, str(tmp_path / "lh"))
        lakehouse.merge(COMMIT_INDEX, spark.createDataFrame(rows, COMMIT_INDEX.schema))
        started = time.perf_counter()
        cold = run_stage(fetch, spark, lakehouse, cfg)  # the blobs of every unit, then the reads
        cold_seconds = time.perf_counter() - started
        assert cold.rows_out == n

        # (b) the original recipe against the same server, on an evenly spread subset (it is slow).
        subset = rows[:: max(1, n // 100)][:100]
        started = time.perf_counter()
        for i, row in enumerate(subset):
            workdir = tmp_path / "scrape" / str(i)
            workdir.mkdir(parents=True)
            original_recipe(remote.format(repo=row["repo"]), row, workdir)
        recipe_rate = len(subset) / (time.perf_counter() - started)
    finally:
        daemon.terminate()

    cores = spark.sparkContext.defaultParallelism
    report(
        "fetch: job vs pygit2 loop vs original recipe (git daemon on 127.0.0.1)",
        [
            (
                "input",
                f"{n:,} single-file commits of 10-40 KB files in {repos} repositories (built and packed in {build_seconds:.0f} s)",
            ),
            (
                "pygit2 loop, 1 process",
                f"{loop_seconds:.1f} s = {n / loop_seconds:,.0f} rows/s "
                f"(fetches {fetch_seconds:.1f} s, reads and diffs {read_seconds:.1f} s)",
            ),
            (f"fetch job, {cores} cores", f"{cold_seconds:.1f} s = {n / cold_seconds:,.0f} rows/s, written to Delta"),
            ("original recipe (per commit, 100 sampled)", f"{recipe_rate:,.1f} rows/s"),
            ("(a) job / pygit2 loop", f"{loop_seconds / cold_seconds:.2f}x  (goal >= 1.5x)"),
            ("(b) job / original recipe", f"{(n / cold_seconds) / recipe_rate:,.0f}x  (goal >= 200x)"),
            ("job's transfers", cold.details["transfers"]),
        ],
    )


PEAK_RSS = textwrap.dedent("""
    import sys, pygit2
    from dataclasses import replace
    from commitpack.jobs.runtime.config import load_settings
    from commitpack.udfs.contents import read_change

    def peak_mb():  # VmHWM resets at exec, unlike getrusage's ru_maxrss
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) // 1024

    repo = pygit2.Repository(sys.argv[1])
    row = dict(commit=sys.argv[2], old_path="blob.bin", new_path="blob.bin", old_blob=sys.argv[3], new_blob=sys.argv[4],
               old_mode=0o100644, new_mode=0o100644)
    before = peak_mb()
    out = read_change(repo, row, replace(load_settings().fetch, max_blob_bytes=int(sys.argv[5])))
    print(out["status"], before, peak_mb())
""")


def test_peak_memory_with_a_200mb_blob(tmp_path, report):
    sample = Sample(tmp_path)
    b = RepoBuilder(sample, "bench/huge")
    b.commit("small", "Start", {"blob.bin": b"text\\n"})
    b.commit("huge", "Add the recorded data", {"blob.bin": os.urandom(200 << 20)})
    commit = b.repo[sample.sha("huge")]
    (change,), _ = change_list(b.repo, commit)
    # Read from a mirror, as the job does: a file:// clone packs the objects, as a fetch does.
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", f"file://{b.repo.path}", str(mirror)], check=True)
    results = {}
    for cap in (1 << 20, 1 << 30):
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                PEAK_RSS,
                str(mirror),
                str(commit.id),
                change["old_blob"],
                change["new_blob"],
                str(cap),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        status, before, after = done.stdout.split()
        results[cap] = (status, int(before), int(after))
    capped, uncapped = results[1 << 20], results[1 << 30]
    report(
        "fetch: peak memory of one read with a 200 MB blob",
        [
            ("cap 1 MB", f"status {capped[0]}, peak RSS {capped[2]:.0f} MB (process at start {capped[1]:.0f} MB)"),
            ("cap 1 GB", f"status {uncapped[0]}, peak RSS {uncapped[2]:.0f} MB"),
        ],
    )
    assert capped[0] == "too_large" and capped[2] - capped[1] < 50
    assert uncapped[2] - uncapped[1] > 200
