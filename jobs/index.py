"""Build the silver commit index: one row per single-file commit worth fetching.

Merges BigQuery and GH Archive commits (forks become one row with every repository),
enumerates pushes from the repositories themselves where GH Archive does not list their
commits, applies the license gate, the opt-out list, the message rules, the single-file rule
and the language-from-file-name rule, and keeps every excluded commit with its reason.
"""

import sys

from commitpack.jobs.cli import add_git_options, job_main
from commitpack.jobs.errors import JobError

COMMAND = "index"
HELP = "build the silver commit index from the bronze tables"


def add_arguments(parser, within_pipeline: bool = False) -> None:
    if not within_pipeline:
        add_git_options(parser)


def run(spark, cfg, lakehouse, args):
    raise JobError(f"`{COMMAND}` is not implemented yet")


def main(argv=None) -> int:
    return job_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
