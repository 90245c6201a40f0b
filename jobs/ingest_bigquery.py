"""Load exports of BigQuery's github_repos tables (commits, licenses, languages) into bronze tables.

Reads Parquet, Avro or JSON exports (one export is many files); JSON's INT64-as-string and
older exports' TIMESTAMP author dates are normalized to the declared schemas. Reloading is
idempotent.
"""

import sys

from commitpack.jobs.cli import job_main
from commitpack.jobs.errors import JobError
from commitpack.jobs.inputs import check_local

COMMAND = "ingest-bigquery"
HELP = "load BigQuery github_repos exports (commits, licenses, languages) into bronze tables"


def add_arguments(parser, within_pipeline: bool = False) -> None:
    parser.add_argument("--commits", metavar="PATH", required=not within_pipeline,
                        help="export of github_repos.commits: a file, directory or glob (Parquet, Avro or JSON)")
    parser.add_argument("--licenses", metavar="PATH", required=not within_pipeline,
                        help="export of github_repos.licenses")
    parser.add_argument("--languages", metavar="PATH", help="export of github_repos.languages (optional)")


def check(args) -> None:
    for option in ("commits", "licenses", "languages"):
        value = getattr(args, option, None)
        if value:
            check_local(f"--{option}", [value])


def run(spark, cfg, lakehouse, args):
    raise JobError(f"`{COMMAND}` is not implemented yet")


def main(argv=None) -> int:
    return job_main(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
