"""Files on any filesystem Spark can reach, through Hadoop's FileSystem: local paths, file:,
s3a://, s3://, gs://, abfss://, dbfs:/ … The one place that talks to it: input listing, the
export's files and the data-quality reports all go through here.

Needs a classic (py4j) session; under Spark Connect, give local paths.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from commitpack.jobs.runtime.errors import UsageError, describe

_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_WINDOWS_DRIVE = re.compile(r"^[a-zA-Z]:[\\/]")


def is_uri(path: str) -> bool:
    """A URI Spark resolves itself (s3://, gs://, dbfs:/ …); ``file:`` counts as a local path."""
    return bool(_URI.match(path)) and not _WINDOWS_DRIVE.match(path) and not path.startswith("file:")


def normalize_root(root: str) -> str:
    """Local paths become absolute; URIs (s3://, gs://, dbfs:/, file:/…) are kept as given."""
    if _URI.match(root) and not _WINDOWS_DRIVE.match(root):
        return root.rstrip("/")
    return os.path.abspath(os.path.expanduser(root))


def qualified(path: str) -> str:
    """A path as Hadoop should see it: URIs as given, local paths absolute."""
    return path if is_uri(path) or path.startswith("file:") else os.path.abspath(os.path.expanduser(path))


@dataclass(frozen=True)
class FileInfo:
    path: str  # fully qualified (file:/…, s3a://…)
    size: int
    modified_ms: int


class FileSystem:
    """Hadoop's FileSystem for one root; with ``raw``, a checksummed filesystem (the local one)
    is used without its checksums, so no ``.crc`` file is published beside each file."""

    def __init__(self, spark, root: str, raw: bool = False):
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self.root = qualified(root).rstrip("/")
        fs = self._path(self.root).getFileSystem(self._conf)
        checksummed = self._jvm.java.lang.Class.forName("org.apache.hadoop.fs.ChecksumFileSystem").isInstance(fs)
        self.fs = fs.getRawFileSystem() if raw and checksummed else fs

    def _path(self, path: str):
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def child(self, relative: str) -> str:
        return f"{self.root}/{relative}" if relative else self.root

    def exists(self, relative: str = "") -> bool:
        return bool(self.fs.exists(self._path(self.child(relative))))

    def delete(self, relative: str) -> None:
        self.fs.delete(self._path(self.child(relative)), True)

    def files(self, relative: str, suffix: str = "") -> list[str]:
        """The files directly under ``relative`` whose names end with ``suffix``, sorted."""
        path = self._path(self.child(relative))
        if not self.fs.exists(path):
            return []
        return sorted(
            s.getPath().toString()
            for s in self.fs.listStatus(path)
            if s.isFile() and s.getPath().getName().endswith(suffix)
        )

    def folders(self, relative: str = "") -> list[str]:
        """The names of the folders directly under ``relative``, sorted."""
        path = self._path(self.child(relative))
        if not self.fs.exists(path):
            return []
        return sorted(s.getPath().getName() for s in self.fs.listStatus(path) if s.isDirectory())

    def read_text(self, relative: str) -> str | None:
        """A file's text (UTF-8), or None when there is no such file."""
        path = self._path(self.child(relative))
        if not self.fs.exists(path):
            return None
        stream = self.fs.open(path)
        try:
            data = self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream)
        finally:
            stream.close()
        return bytes(data).decode("utf-8")

    def publish(self, local: Path | str, relative: str) -> None:
        """A local file at ``relative``, replacing what is there so that a reader sees the old file
        or the new one, never a part: written beside it, then renamed over it (an atomic rename on
        a local or HDFS filesystem); an object store that does not rename onto an existing object
        gets it in one upload instead, which it shows whole or not at all."""
        staged = f"{relative}.{os.getpid()}.tmp"
        self.put(local, staged)
        if not self.fs.rename(self._path(self.child(staged)), self._path(self.child(relative))):
            self.delete(staged)
            self.put(local, relative)

    def move(self, source: str, relative: str) -> None:
        target = self._path(self.child(relative))
        self.fs.mkdirs(target.getParent())
        if not self.fs.rename(self._path(source), target):
            raise OSError(f"could not move {source} to {target}")

    def sizes(self, paths: list[str]) -> dict[str, int]:
        """The size of each file (fully qualified paths), one listing per folder."""
        found: dict[str, int] = {}
        for folder in sorted({path.rsplit("/", 1)[0] for path in paths}):
            for status in self.fs.listStatus(self._path(folder)):
                found[status.getPath().toString()] = int(status.getLen())
        return {path: found[path] for path in paths}

    def size(self, relative: str) -> int:
        return int(self.fs.getContentSummary(self._path(self.child(relative))).getLength())

    def put(self, local: Path | str, relative: str) -> None:
        """A local file (or directory, recursively) copied to ``relative``, replacing it."""
        self.fs.copyFromLocalFile(
            False, True, self._path(Path(local).resolve().as_uri()), self._path(self.child(relative))
        )

    def put_tree(self, local: Path | str) -> None:
        """Every file under a local directory, at the same relative place under the root."""
        for folder, _, names in os.walk(local):
            for name in names:
                path = Path(folder) / name
                self.put(path, str(path.relative_to(local)))


def list_inputs(spark, option: str, patterns: list[str]) -> list[FileInfo]:
    """Files matching paths, globs and directories (one level), for an option's error messages."""
    found: dict[str, FileInfo] = {}
    for pattern in patterns:
        try:
            fs = FileSystem(spark, pattern)
            statuses = fs.fs.globStatus(fs._path(fs.root)) or []
        except Exception as exc:  # unknown scheme, missing credentials, unreachable store
            raise UsageError(f"{option} {pattern}: cannot list ({describe(exc, 300)})") from None
        matched = 0
        for status in statuses:
            children = fs.fs.listStatus(status.getPath()) if status.isDirectory() else [status]
            for child in children:
                if child.isFile() and not child.getPath().getName().startswith(("_", ".")):
                    path = child.getPath().toString()
                    found[path] = FileInfo(path, int(child.getLen()), int(child.getModificationTime()))
                    matched += 1
        if not matched:
            raise UsageError(f"{option} {pattern}: no such file or directory")
    return sorted(found.values(), key=lambda f: f.path)


def check_local(option: str, patterns: list[str]) -> None:
    """A local path or glob that matches nothing is a usage error, reported before Spark starts."""
    for pattern in patterns:
        if is_uri(pattern):
            continue
        local = pattern.removeprefix("file://").removeprefix("file:")
        if not glob.glob(os.path.expanduser(local), recursive=True):
            raise UsageError(f"{option} {pattern}: no such file or directory")
