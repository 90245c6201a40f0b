"""Input paths: local paths and globs are checked before Spark starts; URIs (s3://, gs://…) are
listed through Hadoop's FileSystem once the session exists, so every scheme Spark can read works."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from commitpack.jobs.errors import UsageError, describe
from commitpack.jobs.lakehouse import _URI


@dataclass(frozen=True)
class InputFile:
    path: str  # a fully qualified URI (file:/…, s3a://…)
    size: int
    modified_ms: int


def is_uri(path: str) -> bool:
    return bool(_URI.match(path)) and not path.startswith("file:")


def check_local(option: str, patterns: list[str]) -> None:
    """A local path or glob that matches nothing is a usage error, reported before Spark starts."""
    for pattern in patterns:
        if is_uri(pattern):
            continue
        local = pattern.removeprefix("file://").removeprefix("file:")
        if not glob.glob(os.path.expanduser(local), recursive=True):
            raise UsageError(f"{option} {pattern}: no such file or directory")


def list_files(spark, option: str, patterns: list[str]) -> list[InputFile]:
    """Expand globs (and directories, one level of files) with Hadoop's FileSystem."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    found: dict[str, InputFile] = {}
    for pattern in patterns:
        qualified = pattern if is_uri(pattern) or pattern.startswith("file:") else os.path.abspath(os.path.expanduser(pattern))
        hpath = jvm.org.apache.hadoop.fs.Path(qualified)
        try:
            fs = hpath.getFileSystem(conf)
            statuses = fs.globStatus(hpath) or []
        except Exception as exc:  # unknown scheme, missing credentials, unreachable store
            raise UsageError(f"{option} {pattern}: cannot list ({describe(exc, 300)})") from None
        matched = 0
        for status in statuses:
            children = fs.listStatus(status.getPath()) if status.isDirectory() else [status]
            for child in children:
                if child.isFile() and not child.getPath().getName().startswith(("_", ".")):
                    path = child.getPath().toString()
                    found[path] = InputFile(path, int(child.getLen()), int(child.getModificationTime()))
                    matched += 1
        if not matched:
            raise UsageError(f"{option} {pattern}: no such file or directory")
    return sorted(found.values(), key=lambda f: f.path)
