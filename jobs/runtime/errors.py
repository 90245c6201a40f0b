"""The two kinds of failure a user sees: bad input (exit 2) and a job that could not finish (exit 1).

Both carry a one-line message that says what to fix; the CLI prints it and never a stack trace.
"""

import re

# "ValueError: ..." as the last line of a Python traceback a worker sent back.
_PYTHON_ERROR = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt): ")


class CommitpackError(Exception):
    exit_code = 1


class UsageError(CommitpackError):
    """A wrong option, path or setting."""

    exit_code = 2


class JobError(CommitpackError):
    """The environment or the data stopped a job (no Java, jars not resolvable, failed checks)."""


def describe(exc: BaseException, limit: int = 500) -> str:
    """One line for any exception, including one raised from the JVM or a Python worker: the
    worker's own error line if there is one, else the first meaningful line, without py4j's
    preamble or the Java stack trace."""
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    worker_errors = [line for line in lines if _PYTHON_ERROR.match(line)]
    if worker_errors:
        return worker_errors[-1][:limit]
    for line in lines:
        if line and not line.startswith(("An error occurred while calling", "at ", "JVM stacktrace")):
            return line.removeprefix(": ")[:limit]
    return type(exc).__name__
