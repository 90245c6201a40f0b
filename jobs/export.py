"""Export the CommitPackFT gold table as JSONL and Parquet shards with a dataset card."""

import sys

from commitpack.jobs.cli import job_main
from commitpack.jobs.errors import JobError

COMMAND = "export"
HELP = "write CommitPackFT as JSONL/Parquet shards with a dataset card"


def add_arguments(parser, within_pipeline: bool = False) -> None:
    parser.add_argument("--output", metavar="DIR", required=not within_pipeline,
                        help="directory for the dataset (Hugging Face datasets layout)")


def run(spark, cfg, lakehouse, args):
    raise JobError(f"`{COMMAND}` is not implemented yet")


def main(argv=None) -> int:
    return job_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
