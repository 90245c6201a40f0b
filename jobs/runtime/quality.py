"""Data-quality checks: after each stage, the tables it writes are validated with great-expectations.

A table's suite is declared in ``schemas.expectations``; the tables a stage writes are those whose
declaration names it (``Table.produced_by``). The CLI runs the checks after each stage's summary
(``DataQuality.validate_stage``): results (JSON) and Data Docs (HTML) go to one folder per run,
``<quality.output>/<run id>/`` (default ``<lakehouse>/_quality/<run id>/``), the summary gains a
``quality`` line, warnings are listed, and a failed critical expectation stops the run with a
``JobError`` naming the table, the expectation, what was observed and a few unexpected values.

Validation is two passes over each table: every expectation with the cheapest result format
(counts only, which great-expectations computes in a few Spark jobs per table), then, only for the
expectations that failed, a second pass that collects examples of unexpected values.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import tempfile
import time
from dataclasses import dataclass

from commitpack.jobs.runtime.errors import JobError
from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.runtime.report import StageSummary
from commitpack.jobs.runtime.storage import FileSystem, normalize_root
from commitpack.schemas.settings import Settings
from commitpack.schemas.table import Table
from commitpack.schemas.tables import TABLES


@dataclass(frozen=True)
class Failure:
    table: str
    severity: str
    expectation: str  # the expectation's type and arguments, e.g. expect_column_values_to_be_unique(column=commit)
    description: str
    observed: str
    examples: tuple[str, ...] = ()

    def render(self) -> str:
        line = f"{self.table}: {self.description} [{self.expectation}]: {self.observed}"
        return line + (f"; e.g. {', '.join(self.examples)}" if self.examples else "")


@dataclass
class TableResult:
    table: str
    expectations: int
    failures: list[Failure]
    seconds: float
    results: str  # where the JSON results are


@dataclass
class QualityReport:
    """The checks of one stage's tables."""

    tables: list[TableResult]
    docs: str

    @property
    def failures(self) -> list[Failure]:
        return [f for t in self.tables for f in t.failures]

    @property
    def critical(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "critical"]

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if f.severity != "critical"]

    @property
    def seconds(self) -> float:
        return sum(t.seconds for t in self.tables)

    def headline(self) -> str:
        expectations = sum(t.expectations for t in self.tables)
        return (
            f"{len(self.tables)} table(s), {expectations} expectations, {len(self.critical)} critical "
            f"failure(s), {len(self.warnings)} warning(s) ({self.seconds:.1f}s); report {self.docs}"
        )

    def annotate(self, summary: StageSummary) -> None:
        """The headline and the warnings become lines of the stage's summary (and of meta.stage_runs)."""
        if not self.tables:
            return
        summary.details["quality"] = self.headline()
        if self.warnings:
            summary.details["quality warnings"] = "; ".join(f.render() for f in self.warnings)

    def raise_for_critical(self) -> None:
        if self.critical:
            lines = [
                f"data quality: {len(self.critical)} critical expectation(s) failed "
                f"(report {self.docs}; turn the checks off with --set quality.enabled=false):"
            ]
            lines += [f"  {f.render()}" for f in self.critical]
            raise JobError("\n".join(lines))


def written_by(stage: str) -> list[Table]:
    return [spec for spec in TABLES.values() if spec.produced_by == stage]


def is_local(path: str) -> bool:
    return path.startswith("/")


class DataQuality:
    """The checks of one run: one great-expectations context, one Data Docs site for all its stages."""

    def __init__(self, cfg: Settings, lakehouse: Lakehouse, run_id: str):
        if importlib.util.find_spec("great_expectations") is None:
            raise JobError(
                "data-quality checks need great-expectations: pip install 'commitpack[quality]' "
                "(or turn the checks off with --set quality.enabled=false)"
            )
        # Imported here, not at the top: it takes seconds, and only runs with checks need it.
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        self.gx = gx
        self.cfg = cfg
        self.lakehouse = lakehouse
        self.run_id = run_id
        self.examples = cfg.quality.examples
        root = normalize_root(cfg.quality.output or f"{lakehouse.root}/_quality")
        self.output = f"{root}/{run_id}"
        # Remote outputs are written locally first, then copied through Hadoop's FileSystem.
        self._staging = None if is_local(self.output) else tempfile.TemporaryDirectory(prefix="commitpack-quality-")
        self.local = self._staging.name if self._staging else self.output
        # Stores in memory; the one Data Docs site is the run's docs/ folder.
        self.context = gx.get_context(
            mode="ephemeral",
            project_config=DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(),
                data_docs_sites={
                    "commitpack": {
                        "class_name": "SiteBuilder",
                        "store_backend": {
                            "class_name": "TupleFilesystemStoreBackend",
                            "base_directory": f"{self.local}/docs",
                        },
                        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    }
                },
                progress_bars=ProgressBarsConfig(globally=False),
                analytics_enabled=False,
            ),
        )
        # Great Expectations would persist each table it reads and never unpersist it: Spark's
        # cache would then answer this process's later reads of that Delta table with the rows
        # from before another run's commits. _validate_table caches and releases it itself.
        self.datasource = self.context.data_sources.add_spark("lakehouse", persist=False)

    @property
    def docs(self) -> str:
        return f"{self.output}/docs/index.html"

    def validate(self, tables: list[Table]) -> QualityReport:
        """Validate the tables that exist (a stage may skip some); their JSON results are written
        at once, the Data Docs by ``publish``."""
        return QualityReport([self._validate_table(spec) for spec in tables if self.lakehouse.exists(spec)], self.docs)

    def validate_stage(self, summary: StageSummary) -> QualityReport:
        """The checks of the tables a stage writes, noted in its summary."""
        report = self.validate(written_by(summary.stage))
        report.annotate(summary)
        return report

    def _validate_table(self, spec: Table) -> TableResult:
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        from commitpack.schemas.expectations import expectations

        started = time.monotonic()
        run = RunIdentifier(run_name=self.run_id, run_time=dt.datetime.now(dt.timezone.utc))
        suite = self.context.suites.add_or_update(
            self.gx.ExpectationSuite(name=spec.name, expectations=expectations(spec, self.cfg))
        )
        asset = (
            self.datasource.add_dataframe_asset(spec.name)
            if spec.name not in self.datasource.get_asset_names()
            else self.datasource.get_asset(spec.name)
        )
        rows = self.lakehouse.read(spec).persist()
        try:
            batch = asset.add_batch_definition_whole_dataframe(run.run_time.isoformat()).get_batch(
                batch_parameters={"dataframe": rows}
            )
            result = batch.validate(suite, result_format="BOOLEAN_ONLY")
            by_id = {e.id: e for e in suite.expectations}
            for i, outcome in enumerate(result.results):
                if not outcome.success:
                    result.results[i] = self._detail(batch, by_id[outcome.expectation_config.id])
        finally:
            rows.unpersist()
        key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name=spec.name), run, spec.name)
        self.context.validation_results_store.set(key, result)
        path = f"{self.local}/results/{spec.name}.json"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            json.dump(result.to_json_dict(), out, indent=2, default=str)
        failures = [failure(spec.name, outcome, self.examples) for outcome in result.results if not outcome.success]
        return TableResult(
            spec.name,
            len(result.results),
            failures,
            time.monotonic() - started,
            f"{self.output}/results/{spec.name}.json",
        )

    def _detail(self, batch, expectation):
        """A failed expectation again, with counts and examples of what it did not expect."""
        # An unexpected-rows query (Spark SQL) shows its rows only in the COMPLETE format (at most 200).
        query = expectation.expectation_type == "unexpected_rows_expectation"
        return batch.validate(
            expectation,
            result_format={
                "result_format": "COMPLETE" if query else "SUMMARY",
                "partial_unexpected_count": self.examples,
            },
        )

    def publish(self) -> None:
        """Build the run's Data Docs (once per run: rendering costs seconds however few tables
        changed) and copy the run's folder to a remote output."""
        if self.context.validation_results_store.list_keys():
            self.context.build_data_docs()
            if not is_local(self.output):
                self._copy_to_output()

    def _copy_to_output(self) -> None:
        """Through Hadoop's FileSystem, as Spark writes the lakehouse (s3a://, gs://, abfss://, dbfs:/ …)."""
        FileSystem(self.lakehouse.spark, self.output).put_tree(self.local)


def failure(table: str, outcome, examples: int) -> Failure:
    """What a report says about one failed expectation."""
    config = outcome.expectation_config
    kwargs = config.kwargs
    arguments = ", ".join(f"{k}={kwargs[k]}" for k in ("column", "column_list") if kwargs.get(k) is not None)
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict) and condition.get("type") == "comparison":
        arguments += f", where {condition['column']['name']} {condition['operator']} {condition['parameter']!r}"
    elif condition:
        arguments += f", where {condition}"
    result = outcome.result or {}
    error = _error(outcome.exception_info)
    if error:
        observed = f"could not be evaluated: {error}"
    elif "unexpected_count" in result:
        observed = f"{result['unexpected_count']:,} of {result.get('element_count', 0):,} rows unexpected"
    else:
        observed = f"observed {result.get('observed_value')!r}"
    unexpected = result.get("partial_unexpected_list") or (result.get("details") or {}).get("unexpected_rows") or []
    return Failure(
        table,
        getattr(config.severity, "value", config.severity),
        f"{config.type}({arguments})",
        config.description or config.type,
        observed,
        tuple(repr(value) for value in unexpected[:examples]),
    )


def _error(info: dict | None) -> str:
    """The message of an error raised while evaluating an expectation: great-expectations reports
    it flat, or keyed by the metric that raised it."""
    info = info or {}
    raised = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    return "; ".join(sorted({str(e.get("exception_message")) for e in raised if e.get("raised_exception")}))
