"""Running stages from a command line: the parser, the global options, settings from the options,
the session, the data-quality checks and the summaries.

``commitpack.jobs.cli`` runs it over every stage (``commitpack <stage> …``); a stage's own script
runs it over that stage alone (``spark-submit jobs/stages/index.py …``). An option whose ``dest``
is a dotted settings key (``git.remote_template``) sets that setting. Global options work before
or after the subcommand.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.errors import CommitpackError, UsageError, describe
from commitpack.jobs.runtime.report import StageSummary, new_run_id, stage_run_rows, version
from commitpack.jobs.runtime.stage import Stage
from commitpack.schemas.settings import Settings


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``commitpack fetch: error: … (see --help)``."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--lakehouse",
        metavar="URI",
        default=default,
        help="root of the Delta lakehouse: a path, s3://, gs://, abfss:// or dbfs:/ URI (default ./lakehouse)",
    )
    group.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help="YAML file overriding the shipped defaults (any subset of their keys)",
    )
    group.add_argument(
        "--master",
        metavar="URL",
        default=default,
        help="Spark master (local[*], spark://host:7077, yarn, k8s://…); ignored when a "
        "session already exists (spark-submit, Databricks)",
    )
    group.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=default if suppress else [],
        help="override one setting, e.g. --set fetch.max_blob_bytes=2000000 (repeatable)",
    )


def add_git_options(parser) -> None:
    """Options of the stages that read repositories (index, fetch, pipeline)."""
    parser.add_argument(
        "--remote-template",
        metavar="T",
        dest="git.remote_template",
        help="URL of a repository, {repo} = owner/name (default https://github.com/{repo}.git); "
        "file://, git://, ssh:// and local paths work the same",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        dest="git.cache_dir",
        help="where repositories are cached on each executor (partial clones, bounded by git.cache_max_bytes)",
    )


def build_parser(stages: Sequence[Stage]) -> argparse.ArgumentParser:
    parser = Parser(
        prog="commitpack",
        description="Build CommitPack and CommitPackFT from GH Archive and BigQuery github_repos "
        "exports with Spark and Delta Lake.",
        epilog="Run `commitpack demo` for a complete run on a generated sample; "
        "`commitpack COMMAND --help` for a job's options.",
    )
    parser.add_argument("--version", action="version", version=f"commitpack {version()}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for stage in stages:
        sub = commands.add_parser(
            stage.COMMAND,
            help=stage.HELP,
            description=(stage.__doc__ or stage.HELP).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        stage.add_arguments(sub)
        _global_options(sub, suppress=True)
        sub.set_defaults(stage=stage)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Defaults, the stage's own defaults (``defaults(args)``, e.g. demo's work directory), the
    --config file, --set, then the options given on the command line."""
    implied = args.stage.defaults(args) if hasattr(args.stage, "defaults") else {}
    given = {key: value for key, value in vars(args).items() if "." in key}
    given["lakehouse"] = args.lakehouse
    given["spark.master"] = args.master
    overrides = [f"{key}={value}" for key, value in implied.items()] + list(args.set or ())
    return load_settings(args.config, overrides, **given)


def run_stage(stage: Stage, args: argparse.Namespace, cfg: Settings) -> int:
    """Start (or reuse) the session and run the stage while holding its leases (``lease``: one
    run of a stage at a time on a lakehouse); validate the tables each stage wrote (``quality``),
    print and record each stage's summary as it finishes (a pipeline yields one per stage); a
    failed critical data-quality check stops the run after its stage is recorded."""
    from commitpack.jobs.runtime.lakehouse import Lakehouse
    from commitpack.jobs.runtime.lease import held
    from commitpack.jobs.runtime.session import get_session

    spark = get_session(cfg, cfg.spark.master)
    lakehouse = Lakehouse(spark, cfg.lakehouse, cfg.concurrency.commit_retries)
    run_id = new_run_id()
    leased = stage.leased_stages(args) if hasattr(stage, "leased_stages") else [stage.COMMAND]
    with held(lakehouse, run_id, stage.COMMAND, leased, cfg.concurrency):
        quality = None
        if cfg.quality.enabled:
            from commitpack.jobs.runtime.quality import DataQuality

            quality = DataQuality(cfg, lakehouse, run_id)
        result = stage.run(spark, cfg, lakehouse, args)
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


def main(stages: Sequence[Stage], argv: Sequence[str] | None = None) -> int:
    code = _main(stages, argv)
    if code and "DATABRICKS_RUNTIME_VERSION" in os.environ:
        # Databricks' wheel task calls the entry point and ignores what it returns: only an
        # exception marks the task failed (and keeps the next stage from starting).
        raise SystemExit(code)
    return code


def _main(stages: Sequence[Stage], argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = "commitpack"
    try:
        args = build_parser(stages).parse_args(argv)
        prog = f"commitpack {args.command}"
        check = getattr(args.stage, "check", None)
        if check is not None:
            check(args)
        run_stage(args.stage, args, settings_from_args(args))
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
        from commitpack.jobs.runtime.session import log_path

        where = f" (Spark log: {log_path()})" if log_path() else ""
        print(f"{prog}: failed: {describe(exc)}{where}", file=sys.stderr)
        return 1


def _from_spark(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.startswith(("pyspark", "py4j", "delta"))


def stage_main(stage: Stage, argv: Sequence[str] | None = None) -> int:
    """Entry point of ``spark-submit jobs/stages/<stage>.py …``: the same as ``commitpack <stage> …``."""
    return main([stage], [stage.COMMAND, *(sys.argv[1:] if argv is None else argv)])
