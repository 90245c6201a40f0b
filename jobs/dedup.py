"""Remove exact and near-duplicate changes and evaluation-set contamination."""

import sys

from commitpack.jobs.cli import job_main
from commitpack.jobs.errors import JobError

COMMAND = "dedup"
HELP = "remove duplicate changes and benchmark contamination"


def add_arguments(parser, within_pipeline: bool = False) -> None:
    pass


def run(spark, cfg, lakehouse, args):
    raise JobError(f"`{COMMAND}` is not implemented yet")


def main(argv=None) -> int:
    return job_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
