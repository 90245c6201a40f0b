"""Overlapping commitpack runs on one lakehouse, driven by tests/test_overlapping_runs.py.

    python overlapping_runs.py SPEC.json

SPEC.json: ``{"config": FILE or null, "barrier": DIR, "parties": N, "runs": {NAME: [ARGV, …]}}``.
Each run is a thread of this process that runs its stages in order (``commitpack ARGV`` each, in
this process's one Spark session, started before any stage). Before each stage every run of
every process (``parties`` in all) meets at a barrier of files in DIR, so that the same stage
starts at the same moment in all of them. The last line printed is ``{NAME: [exit code, …]}``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from pyspark.sql import SparkSession

from commitpack.jobs.cli import main
from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.session import get_session

BARRIER_TIMEOUT = 1800


def meet(barrier: Path, step: int, name: str, parties: int) -> None:
    (barrier / f"{step}.{name}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while len(list(barrier.glob(f"{step}.*"))) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}: the other runs did not reach stage {step}")
        time.sleep(0.2)


def run(name: str, stages: list[list[str]], barrier: Path, parties: int, codes: dict) -> None:
    SparkSession.builder.getOrCreate()  # this thread's active session: the process's one session
    for step, argv in enumerate(stages):
        meet(barrier, step, name, parties)
        codes[name].append(main(argv))


def overlap(spec: dict) -> dict[str, list[int]]:
    get_session(load_settings(spec["config"], ["spark.progress=false"]))
    barrier = Path(spec["barrier"])
    codes: dict[str, list[int]] = {name: [] for name in spec["runs"]}
    threads = [
        threading.Thread(target=run, args=(name, stages, barrier, spec["parties"], codes), name=name)
        for name, stages in spec["runs"].items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


if __name__ == "__main__":
    print(json.dumps(overlap(json.loads(Path(sys.argv[1]).read_text()))), flush=True)
