"""Run every stage in order with one Spark session: ingest (for the inputs given), index,
fetch, filter, dedup and export (when --output is given)."""

import sys

from commitpack.jobs.runtime.command import add_git_options, stage_main
from commitpack.jobs.runtime.errors import UsageError
from commitpack.jobs.stages import dedup, export, fetch, filter, index, ingest_bigquery, ingest_gharchive

COMMAND = "pipeline"
HELP = "run all stages in order (same options as the stages)"
STAGES = (ingest_gharchive, ingest_bigquery, index, fetch, filter, dedup, export)


def add_arguments(parser) -> None:
    for stage in STAGES:
        stage.add_arguments(parser.add_argument_group(f"{stage.COMMAND} options"), within_pipeline=True)
    add_git_options(parser.add_argument_group("repository options (index, fetch)"))


def check(args) -> None:
    if bool(args.commits) != bool(args.licenses):
        raise UsageError("--commits and --licenses go together")
    for stage in (ingest_gharchive, ingest_bigquery):
        stage.check(args)


def stages_to_run(args) -> list:
    chosen = []
    for stage in STAGES:
        if stage is ingest_gharchive and not args.input:
            continue
        if stage is ingest_bigquery and not args.commits:
            continue
        if stage is export and not getattr(args, "export.output", None):
            continue
        chosen.append(stage)
    return chosen


def leased_stages(args) -> list[str]:
    return [stage.COMMAND for stage in stages_to_run(args)]


def run(spark, cfg, lakehouse, args):
    for stage in stages_to_run(args):
        yield stage.run(spark, cfg, lakehouse, args)


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
