"""Leases and commit retries on a real Delta table: one run of a stage at a time, commits that
lose a race made again, a second run that waits or stops with one line naming the first."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time

import pytest

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.errors import JobError
from commitpack.jobs.runtime.lease import Leases, held
from commitpack.schemas.meta import STAGE_LEASES
from commitpack.schemas.silver import REPO_LICENSES


def settings(**changes):
    return dataclasses.replace(load_settings().concurrency, **changes)


def holders(lakehouse):
    return {r.stage: r.run_id for r in lakehouse.read(STAGE_LEASES).collect()}


def test_a_second_run_of_a_stage_stops_with_one_line_naming_the_run_that_holds_it(lakehouse):
    with held(lakehouse, "run-a", "fetch", ["fetch"], settings()):
        assert holders(lakehouse) == {"fetch": "run-a"}
        with pytest.raises(JobError) as stopped:
            Leases(lakehouse, "run-b", "fetch", ["fetch"], settings(wait_seconds=0)).acquire()
        message = str(stopped.value)
        assert "\n" not in message
        assert message.startswith(
            "fetch (which writes the tables gold.commitpack) is held by run run-a (commitpack fetch on "
        )
        assert "waited 0 s (concurrency.wait_seconds)" in message
        # Another stage is free meanwhile.
        with held(lakehouse, "run-b", "index", ["index"], settings(wait_seconds=0)):
            assert holders(lakehouse) == {"fetch": "run-a", "index": "run-b"}
    assert holders(lakehouse) == {}


def test_a_pipeline_takes_all_its_stages_or_none(lakehouse):
    with held(lakehouse, "run-a", "dedup", ["dedup"], settings()):
        with pytest.raises(JobError, match="^dedup .* is held by run run-a"):
            Leases(lakehouse, "run-b", "pipeline", ["index", "fetch", "dedup"], settings(wait_seconds=0)).acquire()
        assert holders(lakehouse) == {"dedup": "run-a"}


def test_a_waiting_run_starts_when_the_holder_finishes(lakehouse):
    first = Leases(lakehouse, "run-a", "index", ["index"], settings())
    first.acquire()
    releaser = threading.Timer(3, first.release)
    releaser.start()
    started = time.monotonic()
    with held(lakehouse, "run-b", "index", ["index"], settings(wait_seconds=120)):
        assert holders(lakehouse) == {"index": "run-b"}
    assert time.monotonic() - started >= 3
    releaser.join()


def test_the_lease_of_a_run_that_died_is_taken_over(spark, lakehouse):
    now = dt.datetime.now(dt.timezone.utc)
    dead = (
        "fetch",
        "run-dead",
        "fetch",
        "elsewhere pid 1",
        now - dt.timedelta(hours=1),
        now - dt.timedelta(minutes=1),  # not renewed since its driver died
    )
    lakehouse.merge(STAGE_LEASES, spark.createDataFrame([dead], STAGE_LEASES.schema))
    with held(lakehouse, "run-b", "fetch", ["fetch"], settings(wait_seconds=0)):
        assert holders(lakehouse) == {"fetch": "run-b"}


def test_a_live_lease_is_renewed_while_its_run_works(lakehouse):
    with held(lakehouse, "run-a", "fetch", ["fetch"], settings(lease_seconds=6)):
        time.sleep(10)  # past the first expiry
        (lease,) = lakehouse.read(STAGE_LEASES).collect()
        assert lease.expires_at - lease.acquired_at > dt.timedelta(seconds=6)


def test_of_two_runs_taking_a_lease_at_once_exactly_one_gets_it(lakehouse):
    lakehouse.ensure(STAGE_LEASES)
    start, outcomes = threading.Barrier(2), {}

    def take(run_id):
        lease = Leases(lakehouse, run_id, "ingest-gharchive", ["ingest-gharchive"], settings(wait_seconds=0))
        start.wait()
        try:
            lease.acquire()
            outcomes[run_id] = "held"
        except JobError as exc:
            outcomes[run_id] = str(exc)

    threads = [threading.Thread(target=take, args=(run_id,)) for run_id in ("run-a", "run-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [run_id for run_id, outcome in outcomes.items() if outcome == "held"]
    assert len(winners) == 1, outcomes
    (loser,) = set(outcomes) - set(winners)
    assert f"is held by run {winners[0]}" in outcomes[loser]
    assert holders(lakehouse) == {"ingest-gharchive": winners[0]}


def test_concurrent_merges_into_one_table_all_land(spark, lakehouse):
    """Merges into the same (unpartitioned) table conflict in Delta; each loser is made again."""
    lakehouse.ensure(REPO_LICENSES)
    start, errors = threading.Barrier(3), []

    def merge(i):
        rows = spark.createDataFrame([(f"o/r{i}", "detected", "mit", None, None)], REPO_LICENSES.schema)
        start.wait()
        try:
            lakehouse.merge(REPO_LICENSES, rows)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=merge, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(r.repo_name for r in lakehouse.read(REPO_LICENSES).collect()) == ["o/r0", "o/r1", "o/r2"]


def test_a_cli_run_stops_with_one_line_while_another_run_holds_its_stage(lakehouse, capsys):
    from commitpack.jobs.cli import main

    with held(lakehouse, "run-a", "pipeline", ["index", "fetch"], settings()):
        code = main(["index", "--lakehouse", lakehouse.root, "--set", "concurrency.wait_seconds=0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("commitpack index: error: index (which writes the tables silver.commit_index")
    assert "is held by run run-a (commitpack pipeline on " in err[-1]
