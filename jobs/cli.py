"""The ``commitpack`` command: one subcommand per job.

Each job module declares ``COMMAND``, ``HELP``, ``add_arguments(parser)`` and
``run(spark, cfg, lakehouse, args)``; it may declare ``check(args)`` to validate its options
before Spark starts. An option whose ``dest`` is a dotted config key (``git.remote_template``)
overrides that setting. Global options work before or after the subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType
from typing import Sequence

from commitpack.jobs.config import Config
from commitpack.jobs.errors import CommitpackError, UsageError, describe
from commitpack.jobs.report import StageSummary, new_run_id, stage_run_rows, version

JOB_MODULES = (
    "ingest_gharchive",
    "ingest_bigquery",
    "index",
    "fetch",
    "filter",
    "dedup",
    "export",
    "pipeline",
    "demo",
)


def job_modules() -> list[ModuleType]:
    return [importlib.import_module(f"commitpack.jobs.{name}") for name in JOB_MODULES]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``commitpack fetch: error: … (see --help)``."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("global options")
    group.add_argument("--lakehouse", metavar="URI", default=default,
                       help="root of the Delta lakehouse: a path, s3://, gs://, abfss:// or dbfs:/ URI (default ./lakehouse)")
    group.add_argument("--config", metavar="FILE", default=default,
                       help="YAML file overriding the shipped defaults (any subset of their keys)")
    group.add_argument("--master", metavar="URL", default=default,
                       help="Spark master (local[*], spark://host:7077, yarn, k8s://…); ignored when a "
                            "session already exists (spark-submit, Databricks)")
    group.add_argument("--set", metavar="KEY=VALUE", action="append", default=default if suppress else [],
                       help="override one setting, e.g. --set fetch.max_blob_bytes=2000000 (repeatable)")


def add_git_options(parser) -> None:
    """Options of the stages that read repositories (index, fetch, pipeline)."""
    parser.add_argument("--remote-template", metavar="T", dest="git.remote_template",
                        help="URL of a repository, {repo} = owner/name (default https://github.com/{repo}.git); "
                             "file://, git:// and local mirror paths work the same")
    parser.add_argument("--mirror-dir", metavar="DIR", dest="git.mirror_dir",
                        help="where bare repository mirrors are cached, reused across stages and runs")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="commitpack",
        description="Build CommitPack and CommitPackFT from GH Archive and BigQuery github_repos "
                    "exports with Spark and Delta Lake.",
        epilog="Run `commitpack demo` for a complete run on a generated sample; "
               "`commitpack COMMAND --help` for a job's options.",
    )
    parser.add_argument("--version", action="version", version=f"commitpack {version()}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for module in job_modules():
        sub = commands.add_parser(
            module.COMMAND,
            help=module.HELP,
            description=(module.__doc__ or module.HELP).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        _global_options(sub, suppress=True)
        sub.set_defaults(job=module)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    """Defaults, a job's own defaults (``settings(args)``, e.g. demo's work directory), the
    --config file, --set, then the options given on the command line."""
    job_defaults = args.job.settings(args) if hasattr(args.job, "settings") else {}
    given = {key: value for key, value in vars(args).items() if "." in key}
    given["lakehouse"] = args.lakehouse
    given["spark.master"] = args.master
    overrides = [f"{key}={value}" for key, value in job_defaults.items()] + list(args.set or ())
    return Config.load(args.config, overrides, **given)


def run_job(module: ModuleType, args: argparse.Namespace, cfg: Config) -> int:
    """Start (or reuse) the session and run the job; validate the tables each stage wrote
    (``quality``), print and record each stage's summary as it finishes (a pipeline yields one per
    stage); a failed critical data-quality check stops the run after its stage is recorded."""
    from commitpack.jobs.lakehouse import Lakehouse
    from commitpack.jobs.session import get_session

    spark = get_session(cfg, cfg.get("spark.master"))
    lakehouse = Lakehouse(spark, cfg.get("lakehouse"))
    run_id = new_run_id()
    quality = None
    if cfg.get("quality.enabled"):
        from commitpack.jobs.quality import DataQuality

        quality = DataQuality(cfg, lakehouse, run_id)
    result = module.run(spark, cfg, lakehouse, args)
    stages = 0
    try:
        for summary in [result] if isinstance(result, StageSummary) else result:
            summary.finished_at = summary.finished_at or summary.finish().finished_at
            checks = quality.validate_stage(summary) if quality else None
            print(summary.render(), flush=True)
            lakehouse.merge("meta.stage_runs", stage_run_rows(spark, run_id, summary, cfg.fingerprint()))
            if checks:
                checks.raise_for_critical()
            stages += 1
    finally:
        if quality:
            quality.publish()
    return stages


def main(argv: Sequence[str] | None = None) -> int:
    code = _main(argv)
    if code and "DATABRICKS_RUNTIME_VERSION" in os.environ:
        # Databricks' wheel task calls the entry point and ignores what it returns: only an
        # exception marks the task failed (and keeps the next stage from starting).
        raise SystemExit(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = "commitpack"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        prog = f"commitpack {args.command}"
        check = getattr(args.job, "check", None)
        if check is not None:
            check(args)
        run_job(args.job, args, config_from_args(args))
        return 0
    except CommitpackError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a failure inside Spark: one line here, the trace in the Spark log
        if not _from_spark(exc):
            raise
        from commitpack.jobs.session import log_path

        where = f" (Spark log: {log_path()})" if log_path() else ""
        print(f"{prog}: failed: {describe(exc)}{where}", file=sys.stderr)
        return 1


def _from_spark(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.startswith(("pyspark", "py4j", "delta"))


def job_main(command: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of ``spark-submit jobs/<job>.py …``: the same as ``commitpack <command> …``."""
    return main([command, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
