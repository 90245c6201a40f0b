"""One run of a stage at a time on a lakehouse: leases in ``meta.stage_leases``.

Delta's optimistic concurrency keeps each commit whole when runs overlap (a commit that loses a
race is made again, ``lakehouse.retry_conflicts``), but a stage is more than one commit: fetch
appends the rows it found pending, so two overlapping fetch runs would append the same rows twice,
and two ingest runs would each list missing hours without the other's files. So a run holds a
lease on every stage it runs, for as long as it runs them.

A lease is a row per stage. A run takes all of its stages in one MERGE: each row is inserted, or
taken over when it has expired or is already this run's. Such a MERGE reads the whole (small,
unpartitioned) table, so of two runs taking leases at once Delta commits one MERGE and fails the
other with a conflict; made again, the loser's MERGE finds the winner's rows and takes none.
The mutual exclusion is Delta's commit protocol: on S3 across clusters it holds with Delta's
DynamoDB log store (README "Overlapping runs").

A run that finds a stage held waits (``concurrency.wait_seconds``), then stops with one line
naming the run that holds it and the tables that stage writes. While a run works, a daemon thread
renews its leases; a lease not renewed for ``concurrency.lease_seconds`` belongs to a run that
died, and the next run takes it over.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator

from pyspark.sql import functions as F

from commitpack.jobs.runtime.errors import JobError, UsageError, describe
from commitpack.jobs.runtime.lakehouse import Lakehouse, retry_conflicts
from commitpack.jobs.runtime.report import progress
from commitpack.schemas.meta import STAGE_LEASES
from commitpack.schemas.settings import ConcurrencySettings
from commitpack.schemas.tables import TABLES

# How often a waiting run looks at the leases again.
POLL_SECONDS = 5.0


@contextlib.contextmanager
def held(
    lakehouse: Lakehouse, run_id: str, command: str, stages: list[str], settings: ConcurrencySettings
) -> Iterator[None]:
    """Hold the leases of ``stages`` for run ``run_id`` (of ``commitpack <command>``) inside the block."""
    lease = Leases(lakehouse, run_id, command, stages, settings)
    lease.acquire()
    try:
        yield
    finally:
        lease.release()


class Leases:
    def __init__(
        self, lakehouse: Lakehouse, run_id: str, command: str, stages: list[str], settings: ConcurrencySettings
    ):
        self.lakehouse = lakehouse
        self.run_id = run_id
        self.command = command
        self.stages = sorted(set(stages))
        self.settings = settings
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> None:
        """Take every stage's lease, waiting while another run holds one of them."""
        try:
            self.lakehouse.ensure(STAGE_LEASES)
        except Exception as exc:  # the first access to the lakehouse: a wrong URI, no credentials
            raise UsageError(
                f"--lakehouse {self.lakehouse.root}: cannot read or write it ({describe(exc, 300)})"
            ) from None
        started = time.monotonic()
        announced = False
        while True:
            blocking = self._take()
            if not blocking:
                break
            waited = time.monotonic() - started
            if waited >= self.settings.wait_seconds:
                raise JobError(busy_message(blocking[0], self.settings.wait_seconds))
            if not announced:
                other = blocking[0]
                progress(
                    self.command,
                    f"{other.stage} is held by run {other.run_id} (commitpack {other.command}); "
                    f"waiting for it, up to {self.settings.wait_seconds:g} s",
                )
                announced = True
            time.sleep(min(POLL_SECONDS, self.settings.wait_seconds - waited))
        self._renewer = threading.Thread(target=self._renew, name="commitpack-lease", daemon=True)
        self._renewer.start()

    def release(self) -> None:
        """Give the leases back; a failure here only costs the next run the lease's expiry."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            retry_conflicts(lambda: self._table().delete(self._mine()), self.lakehouse.commit_retries)
        except Exception as exc:
            progress(self.command, f"could not release the lease (it expires by itself): {describe(exc)}")

    def _take(self) -> list:
        """Take the leases if no other run holds one; returns the rows of those that hold them."""
        blocking = [lease for lease in self._current() if lease.run_id != self.run_id and lease.live]
        if blocking:
            return blocking
        spark = self.lakehouse.spark
        rows = spark.createDataFrame(
            [(stage, self.run_id, self.command, f"{socket.gethostname()} pid {os.getpid()}") for stage in self.stages],
            "stage string, run_id string, command string, holder string",
        ).select("*", F.current_timestamp().alias("acquired_at"), self._expiry().alias("expires_at"))
        self.lakehouse.merge(STAGE_LEASES, rows, update_when="t.run_id = s.run_id OR t.expires_at <= s.acquired_at")
        blocking = [lease for lease in self._current() if lease.run_id != self.run_id]
        if blocking:  # another run took some of them first: hold none, or two runs could wait on each other
            retry_conflicts(lambda: self._table().delete(self._mine()), self.lakehouse.commit_retries)
        return blocking

    def _current(self) -> list:
        return (
            self.lakehouse.read(STAGE_LEASES)
            .where(F.col("stage").isin(self.stages))
            .select(
                "stage",
                "run_id",
                "command",
                "holder",
                # The session's zone is UTC (session.RESULT_SETTINGS).
                F.date_format("acquired_at", "yyyy-MM-dd HH:mm:ss").alias("since"),
                (F.col("expires_at") > F.current_timestamp()).alias("live"),
            )
            .collect()
        )

    def _renew(self) -> None:
        while not self._stop.wait(self.settings.lease_seconds / 3):
            try:
                retry_conflicts(
                    lambda: self._table().update(self._mine(), {"expires_at": self._expiry()}),
                    self.lakehouse.commit_retries,
                )
            except Exception as exc:  # the stage goes on; its lease may expire
                progress(self.command, f"could not renew the lease: {describe(exc)}")

    def _expiry(self):
        return F.current_timestamp() + F.make_dt_interval(secs=F.lit(self.settings.lease_seconds))

    def _mine(self):
        return F.col("run_id") == F.lit(self.run_id)

    def _table(self):
        from delta.tables import DeltaTable

        return DeltaTable.forPath(self.lakehouse.spark, self.lakehouse.path(STAGE_LEASES))


def busy_message(lease, waited: float) -> str:
    tables = [name for name, spec in sorted(TABLES.items()) if spec.produced_by == lease.stage]
    writes = f"the tables {', '.join(tables)}" if tables else "its output"
    return (
        f"{lease.stage} (which writes {writes}) is held by run {lease.run_id} "
        f"(commitpack {lease.command} on {lease.holder}, since {lease.since} UTC); waited {waited:g} s "
        f"(concurrency.wait_seconds): run again when it has finished"
    )
