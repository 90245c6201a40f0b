"""What every cluster deployment shares: the wheel, the stages to run with their options, the
Spark settings that put Delta Lake on a submitted job, and a plan of API calls that is either
printed (``--dry-run``) or carried out.

A deployment submits each stage's own script (``jobs/stages/<stage>.py``, the same entry point as
``spark-submit jobs/stages/index.py``), so a stage is one cluster step and a failed stage is
visible as such; the stages, their options and their order come from
``commitpack.jobs.stages.pipeline``, and each stage's options from its declaration
(``commitpack.jobs.runtime.stage``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.errors import CommitpackError, JobError, UsageError
from commitpack.jobs.runtime.session import delta_properties

REPO_ROOT = Path(__file__).resolve().parents[1]
# A value "${operation.field}" in a call's parameters is a field of an earlier call's response
# (an id the service assigns), filled in when the plan runs.
_REFERENCE = re.compile(r"^\$\{(\w+)\.(\w+)\}$")


@dataclass(frozen=True)
class Stage:
    command: str  # ingest-gharchive, index, …
    script: Path  # its spark-submit entry point in this checkout
    arguments: list[str]  # the stage's own options, then --lakehouse and --set


@dataclass
class Call:
    """One API call: ``service`` client, ``operation`` method, keyword ``params``. ``wait_for``
    names the state the created resource must reach before the next call runs."""

    service: str
    operation: str
    params: dict[str, Any]
    wait_for: str | None = None

    def as_json(self) -> dict[str, Any]:
        shown = {"service": self.service, "operation": self.operation, "params": self.params}
        if self.wait_for:
            shown["wait_for"] = self.wait_for
        return shown


@dataclass
class Plan:
    calls: list[Call] = field(default_factory=list)

    def add(self, service: str, operation: str, wait_for: str | None = None, **params: Any) -> None:
        self.calls.append(Call(service, operation, params, wait_for))

    def render(self) -> str:
        return json.dumps([call.as_json() for call in self.calls], indent=2)

    def run(self, execute: Callable[[Call], dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Carry out the calls in order; returns each operation's last response."""
        responses: dict[str, dict[str, Any]] = {}

        def resolve(value):
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            if isinstance(value, list):
                return [resolve(v) for v in value]
            match = _REFERENCE.match(value) if isinstance(value, str) else None
            return responses[match.group(1)][match.group(2)] if match else value

        for call in self.calls:
            responses[call.operation] = execute(Call(call.service, call.operation, resolve(call.params), call.wait_for))
        return responses


def reference(operation: str, name: str) -> str:
    return f"${{{operation}.{name}}}"


# ----------------------------------------------------------------------------- command line


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The deployment's parser: one-line errors, --lakehouse, --set, --dry-run and the
    pipeline's own stage options (--input, --commits, --output, --remote-template…)."""
    pipeline = _pipeline()
    from commitpack.jobs.runtime.command import Parser  # imports pyspark too: after _pipeline()'s check

    result = Parser(prog=prog, description=description)
    result.add_argument(
        "--lakehouse", metavar="URI", required=True, help="root of the Delta lakehouse the stages write"
    )
    result.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a setting passed to every stage, e.g. --set fetch.max_blob_bytes=2000000 (repeatable)",
    )
    result.add_argument("--wheel", metavar="FILE", help="a wheel built before (default: build one into --dist)")
    result.add_argument(
        "--dist",
        metavar="DIR",
        default=str(REPO_ROOT / "dist"),
        help="where the wheel is built (default: dist/ of this checkout)",
    )
    result.add_argument("--dry-run", action="store_true", help="print the calls as JSON instead of making them")
    pipeline.add_arguments(result.add_argument_group("stage options (as for `commitpack pipeline`)"))
    return result


def _pipeline():
    """``commitpack.jobs.stages.pipeline``, imported when needed: its stages import pyspark, whose
    version (with delta-spark's) also chooses the Delta jars."""
    try:
        from commitpack.jobs.stages import pipeline
    except ImportError as exc:
        raise UsageError(
            f"{exc.name or exc} is not installed here: install commitpack with its local extra "
            "(pip install -e '.[local,emr]' or '.[local,dataproc]')"
        ) from None
    return pipeline


def check(args: argparse.Namespace, scheme: str) -> None:
    """Errors the user can fix before anything is built or uploaded."""
    if not args.lakehouse.startswith(f"{scheme}://"):
        raise UsageError(
            f"--lakehouse {args.lakehouse}: the cluster writes to {scheme}:// (e.g. {scheme}://bucket/commitpack)"
        )
    _pipeline().check(args)
    load_settings(overrides=args.set)  # a misspelt --set fails here, not in the first stage


def split_uri(option: str, uri: str, scheme: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` → (``bucket``, ``a/b``)."""
    match = re.match(rf"^{scheme}://([^/]+)/?(.*)$", uri)
    if not match:
        raise UsageError(f"{option} {uri}: expected {scheme}://bucket/prefix")
    return match.group(1), match.group(2).strip("/")


def join_uri(scheme: str, bucket: str, *parts: str) -> str:
    return f"{scheme}://" + "/".join([bucket, *(p for p in parts if p)])


def main(run: Callable[[Sequence[str]], int], prog: str, argv: Sequence[str] | None = None) -> int:
    """A deployment's entry point: a usage error or a failed call is one line on stderr."""
    try:
        return run(list(sys.argv[1:] if argv is None else argv))
    except CommitpackError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code


# ----------------------------------------------------------------------------- stages


def stages(args: argparse.Namespace) -> list[Stage]:
    """The stages ``commitpack pipeline`` would run with these options, each with its own."""
    from commitpack.jobs.runtime.stage import words

    chosen = []
    for module in _pipeline().stages_to_run(args):
        arguments = words(module, args) + ["--lakehouse", args.lakehouse]
        for item in args.set:
            arguments += ["--set", item]
        chosen.append(Stage(module.COMMAND, Path(module.__file__), arguments))
    return chosen


def spark_properties(python: str | None) -> dict[str, str]:
    """Spark settings of every submitted stage: Delta's (see ``delta_properties``) and the
    Python that has commitpack installed (None: the platform chooses it, e.g. a packed
    environment)."""
    return delta_properties() | ({"spark.pyspark.python": python} if python else {})


# ----------------------------------------------------------------------------- the wheel


def wheel(args: argparse.Namespace) -> Path:
    """The wheel to install on the cluster: --wheel as given, or one built now."""
    if args.wheel:
        path = Path(args.wheel).resolve()
        if not path.is_file() or path.suffix != ".whl":
            raise UsageError(f"--wheel {args.wheel}: no such wheel file")
        return path
    return build_wheel(Path(args.dist))


def build_wheel(dist: Path) -> Path:
    """``pip wheel --no-deps`` of this checkout into ``dist``; returns the wheel's path."""
    dist.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dist) as fresh:  # the one file pip writes is ours
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", fresh, str(REPO_ROOT)],
            capture_output=True,
            text=True,
        )
        built = list(Path(fresh).glob("*.whl"))
        if result.returncode != 0 or len(built) != 1:
            last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
            raise JobError(f"building the wheel failed: {last}")
        return built[0].replace(dist / built[0].name).resolve()
