"""The two kinds of failure a user sees: bad input (exit 2) and a job that could not finish (exit 1).

Both carry a one-line message that says what to fix; the CLI prints it and never a stack trace.
"""


class CommitpackError(Exception):
    exit_code = 1


class UsageError(CommitpackError):
    """A wrong option, path or setting."""

    exit_code = 2


class JobError(CommitpackError):
    """The environment or the data stopped a job (no Java, jars not resolvable, failed checks)."""


def describe(exc: BaseException, limit: int = 500) -> str:
    """One line for any exception, including one raised from the JVM: its first meaningful
    line, without py4j's preamble or the Java stack trace."""
    for line in str(exc).strip().splitlines():
        line = line.strip()
        if line and not line.startswith(("An error occurred while calling", "at ", "JVM stacktrace")):
            return line.removeprefix(": ")[:limit]
    return type(exc).__name__
