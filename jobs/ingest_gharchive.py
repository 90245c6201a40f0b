"""Load GH Archive hourly event files (YYYY-MM-DD-H.json.gz) into the bronze push-event table.

Damaged input (cut lines, truncated gzip members, events without a repository) goes to a
quarantine table with its file and reason; the rest of the hour still loads. Reloading an
hour that is already loaded changes nothing.
"""

import sys

from commitpack.jobs.cli import job_main
from commitpack.jobs.errors import JobError
from commitpack.jobs.inputs import check_local

COMMAND = "ingest-gharchive"
HELP = "load GH Archive hourly files into bronze tables"


def add_arguments(parser, within_pipeline: bool = False) -> None:
    parser.add_argument("--input", metavar="GLOB", action="append", required=not within_pipeline,
                        help="GH Archive files: a path, glob or URI (s3://bucket/2024-01-01-*.json.gz); repeatable")


def check(args) -> None:
    check_local("--input", args.input or [])


def run(spark, cfg, lakehouse, args):
    raise JobError(f"`{COMMAND}` is not implemented yet")


def main(argv=None) -> int:
    return job_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
