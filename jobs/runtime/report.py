"""Per-stage accounting: rows in, rows out and rows dropped per reason, printed and recorded.

Every stage ends with a ``StageSummary``; the CLI prints it and appends it to the
``meta.stage_runs`` table, so the funnel of every run stays queryable.
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from dataclasses import dataclass, field
from importlib import metadata

from pyspark.sql import SparkSession

from commitpack.schemas.meta import STAGE_RUNS


@dataclass
class StageSummary:
    stage: str
    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    # Free-form facts worth a line: tables written, files read, where the output is.
    details: dict[str, str] = field(default_factory=dict)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    finished_at: dt.datetime | None = None

    def finish(self) -> StageSummary:
        self.finished_at = dt.datetime.now(dt.timezone.utc)
        return self

    @property
    def seconds(self) -> float:
        end = self.finished_at or dt.datetime.now(dt.timezone.utc)
        return (end - self.started_at).total_seconds()

    def render(self) -> str:
        lines = [
            f"[{self.stage}] rows in {self.rows_in:,}  out {self.rows_out:,}  "
            f"dropped {sum(self.dropped.values()):,}  ({self.seconds:.1f}s)"
        ]
        width = max((len(r) for r in self.dropped), default=0)
        for reason, count in sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"    {reason:<{width}}  {count:>10,}")
        for key, value in self.details.items():
            lines.append(f"    {key}: {value}")
        return "\n".join(lines)


def version() -> str:
    try:
        return metadata.version("commitpack")
    except metadata.PackageNotFoundError:
        return "unknown"


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def stage_run_rows(spark: SparkSession, run_id: str, summary: StageSummary, fingerprint: str):
    row = (
        run_id,
        summary.stage,
        summary.started_at,
        summary.finished_at or dt.datetime.now(dt.timezone.utc),
        int(summary.rows_in),
        int(summary.rows_out),
        {k: int(v) for k, v in summary.dropped.items()},
        {k: str(v) for k, v in summary.details.items()},
        fingerprint,
        version(),
    )
    return spark.createDataFrame([row], STAGE_RUNS.schema)


def progress(stage: str, message: str) -> None:
    """A status line on stderr while a stage works (the summary goes to stdout at the end)."""
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"{stamp} [{stage}] {message}", file=sys.stderr, flush=True)
