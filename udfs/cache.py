"""The executor's cache of repositories, bounded, and the per-host limit on transfers.

One bare repository per remote repository, at a path derived from a digest of its validated
name, never from the name itself, and checked to lie inside the cache root. Each is a partial
clone of its remote (``extensions.partialClone``, a promisor remote, ``blob:none``), so git
fetches exactly what is asked for: blobs by id, or commits and trees without blobs. The
repository format stays version 0, where git honours the partial-clone extension and libgit2
(which does not know it) ignores it, so pygit2 reads the objects.

The processes of one machine share the cache: a repository is used under an exclusive lock, the
total size is one counter updated under a lock, and when a transfer would take the cache over
``git.cache_max_bytes`` the least recently used repositories that nobody holds are removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pygit2

from commitpack.schemas.names import is_repo_name
from commitpack.schemas.settings import GitSettings

REMOTE = "origin"
_USED = "commitpack-used"  # touched on every use: its mtime orders eviction
_SIZE = "commitpack-size"  # the repository's bytes, as last counted
_NAME = "commitpack-name"  # the repository's name, for people reading the cache


class UnsafeName(ValueError):
    """A repository name that is not ``owner/name`` as GitHub allows it."""


def directory_bytes(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _lock(path: Path, blocking: bool = True):
    """An exclusive advisory lock on ``path`` (created), or None when ``blocking`` is false and
    another process holds it."""
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.close()
        return None
    return handle


class Usage:
    """The cache's total size in bytes, one number shared by every process under a lock."""

    def __init__(self, root: Path):
        self.path = root / "usage"
        self.lock_path = root / "usage.lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[list[int]]:
        """The total as a one-element list; what the block leaves in it is written back."""
        handle = _lock(self.lock_path)
        try:
            try:
                value = [int(self.path.read_text() or 0)]
            except (OSError, ValueError):
                value = [sum(_recorded_size(p) for p in self.root_repositories())]
            yield value
            self.path.write_text(str(max(0, value[0])))
        finally:
            handle.close()

    def root_repositories(self) -> list[Path]:
        return sorted((self.path.parent / "repos").glob("*/*.git"))


class Cache:
    def __init__(self, settings: GitSettings):
        self.settings = settings
        self.root = Path(settings.cache_root).resolve()
        self.max_bytes = settings.cache_max_bytes
        # Room made before each transfer, so that what arrives stays under the bound.
        self.reserve = self.max_bytes // 10
        for sub in ("repos", "hosts", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.usage = Usage(self.root)

    @property
    def home(self) -> str:
        return str(self.root / "home")

    def path_for(self, repo_name: str) -> Path:
        """``<root>/repos/<2 hex>/<sha256 of the name>.git``, for a valid name only."""
        if not is_repo_name(repo_name):
            raise UnsafeName(f"not a repository name: {repo_name!r}")
        digest = hashlib.sha256(repo_name.encode()).hexdigest()
        path = (self.root / "repos" / digest[:2] / f"{digest}.git").resolve()
        if self.root not in path.parents:  # cannot happen with a digest; checked all the same
            raise UnsafeName(f"{repo_name!r} resolves outside the cache")
        return path

    @contextlib.contextmanager
    def repository(self, repo_name: str, url: str) -> Iterator[Path]:
        """The repository's directory, created if needed, held under an exclusive lock."""
        path = self.path_for(repo_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = _lock(path.with_suffix(".lock"))
        before = _recorded_size(path)
        try:
            if not (path / "HEAD").exists():
                _init(path, repo_name)
            _configure_remote(path, url)
            (path / _USED).touch()
            yield path
        finally:
            if not _holds_objects(path):  # e.g. blobs read and removed: nothing worth keeping
                shutil.rmtree(path, ignore_errors=True)
            self.account(path, before)
            self.make_room(0, keep=path)  # what arrived may have taken the cache over its bound
            handle.close()

    def account(self, path: Path, before: int) -> None:
        """Count a repository's size again (a removed one counts nothing) and update the total."""
        size = directory_bytes(path) if path.exists() else 0
        if path.exists():
            (path / _SIZE).write_text(str(size))
        if size != before:
            with self.usage.locked() as total:
                total[0] += size - before

    def make_room(self, needed: int, keep: Path | None = None) -> None:
        """Remove the least recently used repositories nobody holds until ``needed`` more bytes
        fit under the bound."""
        with self.usage.locked() as total:
            if total[0] + needed <= self.max_bytes:
                return
            candidates = sorted(self.usage.root_repositories(), key=lambda p: _mtime(p / _USED))
            for path in candidates:
                if total[0] + needed <= self.max_bytes:
                    break
                if keep is not None and path == keep:
                    continue
                handle = _lock(path.with_suffix(".lock"), blocking=False)
                if handle is None:  # in use by a task
                    continue
                try:
                    size = _recorded_size(path)
                    shutil.rmtree(path, ignore_errors=True)
                    total[0] -= size
                finally:
                    handle.close()

    @contextlib.contextmanager
    def host_slot(self, host: str, deadline: float) -> Iterator[bool]:
        """One of ``git.max_per_host`` transfer slots for ``host`` on this machine (shared by every
        process); yields False when none came free before ``deadline``."""
        folder = self.root / "hosts" / hashlib.sha256(host.encode()).hexdigest()[:16]
        folder.mkdir(parents=True, exist_ok=True)
        slots = list(range(self.settings.max_per_host))
        handle = None
        while handle is None:
            random.shuffle(slots)
            for slot in slots:
                handle = _lock(folder / f"slot-{slot}", blocking=False)
                if handle is not None:
                    break
            if handle is None:
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(random.uniform(0.01, 0.05))
        try:
            yield True
        finally:
            handle.close()


def _recorded_size(path: Path) -> int:
    try:
        return int((path / _SIZE).read_text() or 0)
    except (OSError, ValueError):
        return 0


def _holds_objects(path: Path) -> bool:
    objects = path / "objects"
    if any((objects / "pack").glob("*.pack")):
        return True
    return any(len(folder.name) == 2 and any(folder.iterdir()) for folder in objects.glob("??"))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _init(path: Path, repo_name: str) -> None:
    """A bare repository, format version 0, with no hooks or templates."""
    tmp = path.with_name(path.name + f".new-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    repo = pygit2.init_repository(str(tmp), bare=True)
    hooks = tmp / "hooks"
    shutil.rmtree(hooks, ignore_errors=True)
    repo.config["core.repositoryformatversion"] = 0
    repo.config["extensions.partialClone"] = REMOTE
    repo.config[f"remote.{REMOTE}.promisor"] = True
    repo.config[f"remote.{REMOTE}.partialCloneFilter"] = "blob:none"
    repo.config["gc.auto"] = 0  # a cache is never repacked behind our back
    repo.config["fetch.writeCommitGraph"] = False
    (tmp / _NAME).write_text(repo_name)
    try:
        os.rename(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise


def _configure_remote(path: Path, url: str) -> None:
    """The remote's URL lives in the repository's config (written by libgit2, no command line)."""
    config = pygit2.Config(str(path / "config"))
    key = f"remote.{REMOTE}.url"
    if key not in config or config[key] != url:
        config[key] = url
