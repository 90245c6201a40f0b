"""What a stage is: the contract every module in ``commitpack.jobs.stages`` fulfils.

A stage module declares its command, its options and a ``run`` that takes the session, the
settings and the lakehouse and returns its summary (or, for a composite stage such as
``pipeline``, yields one summary per stage it ran). The CLI, ``spark-submit`` scripts, the
deployments and the Airflow DAG all drive stages through this contract only.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # the runtime types, without importing pyspark for a type check
    from pyspark.sql import SparkSession

    from commitpack.jobs.runtime.lakehouse import Lakehouse
    from commitpack.jobs.runtime.report import StageSummary
    from commitpack.schemas.settings import Settings


@runtime_checkable
class Stage(Protocol):
    COMMAND: str  # the subcommand: ``commitpack <COMMAND>``
    HELP: str  # one line for ``commitpack --help``

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The stage's own options. A stage the pipeline runs also takes ``within_pipeline``: when
        true it requires none of them (the pipeline decides which stages run)."""

    def run(
        self, spark: SparkSession, cfg: Settings, lakehouse: Lakehouse, args: argparse.Namespace
    ) -> StageSummary | Iterable[StageSummary]:
        """Do the work; every row in is accounted for in the summary."""


# Optional members a stage may declare:
#   check(args) -> None               validate options before Spark starts (raise UsageError)
#   defaults(args) -> dict[str, Any]  settings this stage's options imply (dotted key -> value),
#                                     applied under --config and --set (the demo's work directory)
#   leased_stages(args) -> list[str]  the stages a run holds leases on (``lease``; default: COMMAND):
#                                     a pipeline holds every stage it runs


@dataclass(frozen=True)
class Option:
    """One command-line option a stage declares."""

    flag: str  # --input
    dest: str  # the attribute of the parsed namespace (a dotted key sets that setting)
    takes_value: bool
    repeatable: bool
    required: bool
    default: Any


def options(stage: Stage, within_pipeline: bool = False) -> list[Option]:
    """The options ``stage.add_arguments`` declares, in order."""
    recorder = _Recorder()
    if within_pipeline:
        stage.add_arguments(recorder, within_pipeline=True)
    else:
        stage.add_arguments(recorder)
    return recorder.options


class _Recorder:
    """Stands in for a parser or an argument group and records what is added to it."""

    def __init__(self):
        self.options: list[Option] = []

    def add_argument(self, *flags: str, **kwargs: Any) -> None:
        action = kwargs.get("action")
        long = next((f for f in flags if f.startswith("--")), flags[0])
        self.options.append(
            Option(
                flag=long,
                dest=kwargs.get("dest") or long.lstrip("-").replace("-", "_"),
                takes_value=action not in ("store_true", "store_false"),
                repeatable=action == "append",
                required=bool(kwargs.get("required")),
                default=kwargs.get("default"),
            )
        )

    def add_argument_group(self, *args: Any, **kwargs: Any) -> _Recorder:
        return self


def words(stage: Stage, args: argparse.Namespace) -> list[str]:
    """The options of ``args`` that ``stage`` declares, as command-line words (for a stage's own
    script: ``spark-submit jobs/stages/index.py <words>``)."""
    found: list[str] = []
    for option in options(stage):
        value = getattr(args, option.dest, None)
        if value is None or value == option.default or value is False:
            continue
        if not option.takes_value:
            found.append(option.flag)
            continue
        for item in value if isinstance(value, list) else [value]:
            found += [option.flag, str(item)]
    return found
