"""What travels, and how fast: fetch and the index's push enumeration against `git http-backend`
behind the tests' own HTTP server (which counts every byte it sends and can delay every response).

(a) bytes received per row: the new transfer vs today's full mirror vs the floor (a pack of
    exactly the needed blobs, from `git pack-objects`), on realistic histories and on one with
    heavy binary history;
(b) repositories/s for fetch and for the index's push enumeration on 2,000 small repositories,
    with and without 100 ms of latency per response;
(c) CommitPackFT first: rows transferred vs rows that pass the metadata rules;
(d) peak cache disk vs git.cache_max_bytes.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from commitpack.jobs.rules.commitpackft import token_counter
from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.runtime.report import StageSummary
from commitpack.jobs.sample.bigquery import LICENSES_ARROW, write_parquet_export
from commitpack.jobs.sample.gharchive import compact, push
from commitpack.jobs.sample.repos import RepoBuilder, Sample
from commitpack.jobs.stages import fetch, index, ingest_bigquery, ingest_gharchive
from commitpack.jobs.stages import filter as ft
from commitpack.schemas.silver import COMMIT_INDEX
from commitpack.schemas.vocabulary import FILTER_METADATA_REASONS
from commitpack.udfs.cache import directory_bytes
from commitpack.udfs.gitrepo import change_list
from commitpack.udfs.linguist import candidates

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.gitserver import GitHttpServer  # noqa: E402

pytestmark = pytest.mark.benchmark

SUBJECTS = [
    "Fix the {a} handling when the {b} is empty",
    "Add a {a} option to the {b} command",
    "Refactor {a} parsing into its own function",
    "update",
    "Updated {a}",
    "WIP {a}",
    "fix typo",
    "Bump version to 1.{n}.0",
    "Merge pull request #{n} from someone/{a}",
    "Improve the {a} error message for {b}",
    "{a}: tweak",
    "Use {a} instead of {b} in the cache",
]
NOUNS = ["parser", "cache", "config", "loader", "token", "socket", "index", "buffer", "session", "path"]
EXTENSIONS = [".py", ".js", ".md", ".go", ".rb", ".yaml"]


def code(rng: random.Random, lines: int) -> str:
    return "".join(f"value_{i} = compute({rng.randrange(10**6)}, '{rng.choice(NOUNS)}')\n" for i in range(lines))


def realistic(
    sample: Sample, name: str, rng: random.Random, commits: int, files: int, binary_mb: float = 0
) -> RepoBuilder:
    """A history shaped like a real project's: files of a few KB to tens of KB that grow and
    change, commits touching one to four files (about half one), new files now and then,
    messages of every kind; optionally binary assets (``binary_mb`` in all, over the history)."""
    b = RepoBuilder(sample, name)
    state = {f"src/m{i}{rng.choice(EXTENSIONS)}": code(rng, rng.randrange(40, 600)) for i in range(files)}
    b.commit(f"{name}-0", "Initial commit", state)
    asset_every = max(1, commits // 50) if binary_mb else 0
    for k in range(1, commits):
        changes = {}
        for path in rng.sample(sorted(state), k=min(len(state), rng.choice([1, 1, 1, 2, 3, 4]))):
            lines = state[path].splitlines(keepends=True)
            for _ in range(rng.randrange(1, 6)):
                lines[rng.randrange(len(lines))] = code(rng, 1)
            state[path] = "".join(lines) + (code(rng, rng.randrange(0, 8)))
            changes[path] = state[path]
        if rng.random() < 0.05:
            path = f"src/new{k}{rng.choice(EXTENSIONS)}"
            state[path] = changes[path] = code(rng, rng.randrange(20, 200))
        if asset_every and k % asset_every == 0:
            changes[f"assets/a{k}.bin"] = os.urandom(int(binary_mb * 2**20 / 50))
        subject = rng.choice(SUBJECTS).format(a=rng.choice(NOUNS), b=rng.choice(NOUNS), n=k)
        b.commit(f"{name}-{k}", subject, changes)
    return b


def index_rows(sample: Sample, builder: RepoBuilder) -> list[dict]:
    """The commits the index would keep: one file modified in place, in a known language."""
    rows = []
    for entry in sample.commits.values():
        if entry.repo != builder.name or not entry.parents:
            continue
        commit = builder.repo[entry.sha]
        changes, total = change_list(builder.repo, commit)
        if total != 1 or changes[0]["old_path"] != changes[0]["new_path"] or not candidates(changes[0]["new_path"]):
            continue
        rows.append({"commit": entry.sha, "repo": builder.name, "license": "mit", "license_source": "bigquery",
                     "parent": entry.parents[0], **changes[0], "lang": candidates(changes[0]["new_path"])[0],
                     "repos": [builder.name], "sources": ["bigquery"], "provenance": [],
                     "subject": entry.message.split("\n")[0], "message": entry.message, "committed_at": None})  # fmt: skip
    return rows


def floor_bytes(sample: Sample, rows: list[dict]) -> int:
    """The size of packs holding exactly the needed blobs, one per repository, as git packs them."""
    total = 0
    by_repo: dict[str, set[str]] = {}
    for row in rows:
        by_repo.setdefault(row["repo"], set()).update({row["old_blob"], row["new_blob"]})
    for repo, oids in by_repo.items():
        packed = subprocess.run(["git", "--git-dir", str(sample.remotes / f"{repo}.git"), "pack-objects", "--stdout", "-q"],
                                input="\n".join(sorted(oids)).encode() + b"\n", capture_output=True, check=True)  # fmt: skip
        total += len(packed.stdout)
    return total


def full_mirror_bytes(server: GitHttpServer, repos: list[str], root: Path) -> int:
    """Today's transfer: every branch's full history, fetched over the same server."""
    server.reset_stats()
    for repo in repos:
        target = root / f"{repo}.git"
        subprocess.run(["git", "init", "-q", "--bare", str(target)], check=True)
        subprocess.run(["git", "--git-dir", str(target), "fetch", "-q", "--no-tags", server.template.format(repo=repo),
                        "+refs/heads/*:refs/heads/*"], check=True)  # fmt: skip
    return server.stats.total_bytes


def run_fetch(spark, run_stage, root: Path, rows: list[dict], server: GitHttpServer, *overrides: str):
    cfg = load_settings(
        overrides=[f"git.remote_template={server.template}", f"git.cache_dir={root / 'cache'}", *overrides]
    )
    lakehouse = Lakehouse(spark, str(root / "lakehouse"))
    lakehouse.merge(COMMIT_INDEX, spark.createDataFrame(rows, COMMIT_INDEX.schema))
    server.reset_stats()
    started = time.perf_counter()
    summary = run_stage(fetch, spark, lakehouse, cfg)
    return summary, time.perf_counter() - started, server.stats.total_bytes, lakehouse


def test_bytes_received_per_row(spark, tmp_path, bench_scale, run_stage, report):
    rng = random.Random(7)
    sample = Sample(tmp_path / "sample")
    commits = int(400 * bench_scale)
    realistic_repos = [realistic(sample, f"real/p{i}", rng, commits, files=30) for i in range(3)]
    heavy = realistic(sample, "heavy/assets", rng, commits=int(100 / 0.45) + 1, files=10, binary_mb=200 * bench_scale)
    server = GitHttpServer(sample.remotes)
    figures = []
    try:
        # Warm the JVM and the Python workers on a few rows of other repositories first.
        warm = realistic(sample, "warm/up", rng, 20, files=5)
        run_fetch(spark, run_stage, tmp_path / "warm", index_rows(sample, warm), server)
        for label, builders in (("realistic", realistic_repos), ("heavy binary", [heavy])):
            rows = [row for b in builders for row in index_rows(sample, b)]
            names = [b.name for b in builders]
            summary, seconds, new_bytes, _ = run_fetch(
                spark, run_stage, tmp_path / label.replace(" ", "-"), rows, server
            )
            assert summary.rows_out == len(rows), summary.render()
            full = full_mirror_bytes(server, names, tmp_path / f"full-{label.replace(' ', '-')}")
            floor = floor_bytes(sample, rows)
            figures.append((label, len(rows), new_bytes, full, floor, seconds))
    finally:
        server.stop()
    lines = []
    for label, n, new, full, floor, seconds in figures:
        lines += [
            (f"{label}: rows", f"{n:,} ({seconds:.1f} s)"),
            (f"{label}: new transfer", f"{new / 1e6:,.2f} MB, {new / n:,.0f} B/row"),
            (f"{label}: today's full mirror", f"{full / 1e6:,.2f} MB, {full / n:,.0f} B/row"),
            (f"{label}: floor (pack of the needed blobs)", f"{floor / 1e6:,.2f} MB, {floor / n:,.0f} B/row"),
            (f"{label}: new / floor", f"{new / floor:.2f}x (goal <= 1.25x)"),
            (f"{label}: full mirror / new", f"{full / new:,.1f}x (goal >= {'100' if 'heavy' in label else '4'}x)"),
        ]
    report("transfer: bytes received per row", lines)


def small_repos(sample: Sample, count: int, rng: random.Random) -> list[RepoBuilder]:
    """The shape of most of GitHub: a handful of files and commits."""
    builders = []
    for i in range(count):
        b = RepoBuilder(sample, f"small{i // 1000}/r{i}")
        state = {f"lib/f{j}.py": code(rng, rng.randrange(5, 40)) for j in range(3)}
        b.commit(f"s{i}-0", "Create the project", state)
        for k in range(1, 6):
            path = f"lib/f{k % 3}.py"
            state[path] += code(rng, 2)
            b.commit(f"s{i}-{k}", f"Add more values to the module number {k}", {path: state[path]})
        builders.append(b)
    return builders


def gharchive_pushes(sample: Sample, builders: list[RepoBuilder], path: Path) -> None:
    """One 2025-style push per repository (no commit list): the index must enumerate it."""
    lines = []
    for i, b in enumerate(builders):
        first = sample.commits[f"s{i}-0"].sha
        event = push(b, 10_000 + i, "2025-10-08T10:00:00Z", first, b.head(), [], with_commits=False)
        lines.append(compact(event))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))


class DiskPeak:
    """Polls a directory's size; ``peak`` is the largest seen."""

    def __init__(self, root: Path, interval: float = 0.05):
        self.root, self.interval, self.peak = root, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _poll(self):
        while not self._stop.is_set():
            if (self.root / "repos").exists():
                self.peak = max(self.peak, directory_bytes(self.root / "repos"))
            time.sleep(self.interval)


def test_repositories_per_second_with_and_without_latency(spark, tmp_path, bench_scale, run_stage, report):
    count = int(2000 * bench_scale)
    rng = random.Random(3)
    sample = Sample(tmp_path / "sample")
    started = time.perf_counter()
    builders = small_repos(sample, count, rng)
    build_seconds = time.perf_counter() - started
    rows = [row for b in builders for row in index_rows(sample, b)]
    gharchive_pushes(sample, builders, sample.gharchive / "2025-10-08-10.json.gz")
    write_parquet_export([{"repo_name": b.name, "license": "mit"} for b in builders], LICENSES_ARROW,
                         sample.bigquery / "licenses", "licenses")  # fmt: skip
    server = GitHttpServer(sample.remotes)
    results = {}
    try:
        run_fetch(spark, run_stage, tmp_path / "warm", rows[:250], server)  # JVM and Python workers warm
        for latency in (0.0, 0.1):
            server.latency = latency
            tag = f"latency-{int(latency * 1000)}"
            summary, seconds, _, _ = run_fetch(spark, run_stage, tmp_path / f"fetch-{tag}", rows, server)
            assert summary.rows_out == len(rows), summary.render()
            results[("fetch", latency)] = seconds
            # The index: ingest the pushes and the licenses, then time the index alone.
            root = tmp_path / f"index-{tag}"
            cache = root / "cache"
            # (d): the run without latency bounds the cache at about a fifth of what it would hold.
            bound = count * 4_000 if latency == 0.0 else 20_000_000_000
            cfg = load_settings(overrides=[f"git.remote_template={server.template}", f"git.cache_dir={cache}",
                                           f"git.cache_max_bytes={bound}"])  # fmt: skip
            lakehouse = Lakehouse(spark, str(root / "lakehouse"))
            run_stage(ingest_gharchive, spark, lakehouse, cfg, input=[str(sample.gharchive / "*.json.gz")])
            run_stage(ingest_bigquery, spark, lakehouse, cfg, commits=None, licenses=str(sample.bigquery / "licenses"),
                      languages=None)  # fmt: skip
            server.reset_stats()
            summary = StageSummary("index")
            started = time.perf_counter()
            with DiskPeak(cache) as disk:  # the push enumeration alone: the rest of the index reads no git
                index.resolve_new_pushes(spark, cfg, lakehouse, summary)
            results[("index", latency)] = time.perf_counter() - started
            assert summary.details["pushes"] == f"ok {count}", summary.render()
            if latency == 0.0:
                results["peak"], results["bound"], results["unbounded"] = disk.peak, bound, None
            else:
                results["unbounded"] = disk.peak
    finally:
        server.stop()
    lines = [("repositories", f"{count:,} ({len(rows):,} rows; built in {build_seconds:.0f} s)")]
    for stage in ("fetch", "index"):
        fast, slow = count / results[(stage, 0.0)], count / results[(stage, 0.1)]
        lines += [
            (f"{stage}: no latency", f"{results[(stage, 0.0)]:.1f} s, {fast:,.1f} repositories/s (goal >= 30)"),
            (f"{stage}: 100 ms per response", f"{results[(stage, 0.1)]:.1f} s, {slow:,.1f} repositories/s"),
            (f"{stage}: with / without latency", f"{slow / fast:.2f}x (goal >= 0.8x)"),
        ]
    lines.append(("(d) peak cache disk / git.cache_max_bytes",
                  f"{results['peak'] / 1e6:.1f} MB / {results['bound'] / 1e6:.1f} MB = {results['peak'] / results['bound']:.2f} "
                  f"(unbounded, the same run peaks at {results['unbounded'] / 1e6:.1f} MB)"))  # fmt: skip
    report("transfer: repositories per second", lines)


def test_commitpackft_first_transfers_only_rows_that_pass_the_metadata_rules(spark, tmp_path, run_stage, report):
    rng = random.Random(11)
    sample = Sample(tmp_path / "sample")
    builders = [realistic(sample, f"ft/p{i}", rng, 300, files=20) for i in range(2)]
    rows = [row for b in builders for row in index_rows(sample, b)]
    server = GitHttpServer(sample.remotes)
    try:
        full, _, full_bytes, full_lakehouse = run_fetch(spark, run_stage, tmp_path / "all", rows, server)
        first, _, first_bytes, lakehouse = run_fetch(spark, run_stage, tmp_path / "first", rows, server,
                                                     "fetch.commitpackft_first=true")  # fmt: skip
    finally:
        server.stop()
    table = lakehouse.read("gold.commitpack")
    pruned = table.where("status LIKE 'pruned:%'").count()
    transferred = table.where("status NOT LIKE 'pruned:%'").count()
    # Rows that pass the metadata rules, as the filter decides them on the rows fetched in full.
    decided = ft.decide(full_lakehouse.read("gold.commitpack"), load_settings(), token_counter(None), None)
    passing = decided.where(~F.col("reason").isin(*FILTER_METADATA_REASONS) | F.col("reason").isNull()).count()
    report("transfer: CommitPackFT first", [
        ("rows", f"{len(rows):,}: {pruned:,} pruned ({pruned / len(rows):.0%}), {transferred:,} transferred"),
        ("rows transferred / rows passing the metadata rules", f"{transferred / passing:.2f}x (goal <= 1.1x)"),
        ("bytes received", f"{first_bytes / 1e6:.2f} MB vs {full_bytes / 1e6:.2f} MB without ({full_bytes / first_bytes:.1f}x less)"),
    ])  # fmt: skip
    assert full.rows_out == len(rows) and json.dumps(first.details)
