"""Fetch each indexed repository once and build the raw CommitPack table.

For every commit in the silver index, reads the changed file before and after from a bare
repository cache on the executors and computes the diff; every row keeps a fetch status.
"""

import sys

from commitpack.jobs.cli import add_git_options, job_main
from commitpack.jobs.errors import JobError

COMMAND = "fetch"
HELP = "read file contents and diffs from git into the raw CommitPack table"


def add_arguments(parser, within_pipeline: bool = False) -> None:
    if not within_pipeline:
        add_git_options(parser)


def run(spark, cfg, lakehouse, args):
    raise JobError(f"`{COMMAND}` is not implemented yet")


def main(argv=None) -> int:
    return job_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
