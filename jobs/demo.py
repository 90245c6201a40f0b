"""Run the whole pipeline on a small sample that commitpack generates on the spot: real git
repositories, GH Archive hours and a BigQuery export in their real formats pointing at them.
Results go to a local lakehouse under --workdir."""

import sys

from commitpack.jobs.cli import job_main
from commitpack.jobs.errors import JobError

COMMAND = "demo"
HELP = "generate a sample and run the whole pipeline on it"


def add_arguments(parser, within_pipeline: bool = False) -> None:
    parser.add_argument("--workdir", metavar="DIR", default="commitpack-demo",
                        help="where the sample, the git mirrors, the lakehouse and the export go (default ./commitpack-demo)")


def run(spark, cfg, lakehouse, args):
    raise JobError(f"`{COMMAND}` is not implemented yet")


def main(argv=None) -> int:
    return job_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
