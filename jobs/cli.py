"""The ``commitpack`` command: one subcommand per stage of ``commitpack.jobs.stages``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from commitpack.jobs.runtime import command
from commitpack.jobs.runtime.stage import Stage
from commitpack.jobs.stages import MODULES


def stages() -> list[Stage]:
    return [importlib.import_module(f"commitpack.jobs.stages.{name}") for name in MODULES]


def build_parser():
    return command.build_parser(stages())


def main(argv: Sequence[str] | None = None) -> int:
    return command.main(stages(), argv)


if __name__ == "__main__":
    sys.exit(main())
