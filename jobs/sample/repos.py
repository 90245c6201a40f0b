"""Real bare git repositories for the sample, built with pygit2 at fixed clock times so that
commit ids are the same on every run; every commit records what the pipeline must decide about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pygit2

EPOCH = 1759777200  # 2025-10-06T19:00:00Z: every sample commit happens after this
REGULAR, EXECUTABLE, SYMLINK, GITLINK = 0o100644, 0o100755, 0o120000, 0o160000


@dataclass
class SampleCommit:
    key: str
    repo: str
    sha: str
    message: str
    time: int
    parents: list[str]
    # What the index must decide: None = kept, else the rejection reason.
    expect: str | None = None
    lang: str | None = None
    # What CommitPackFT must decide for it: "kept", or the filter/dedup reason (None = not checked).
    ft: str | None = None
    # What the fetch must record for it (a commit the index keeps): "ok" unless given.
    fetch: str | None = None
    # PII and secrets planted in it: kind -> count the filter must find, and the values that
    # gold.commitpackft and the export must not hold (the raw table keeps them).
    redactions: dict[str, int] | None = None
    secrets: tuple[str, ...] = ()


@dataclass
class Sample:
    root: Path
    commits: dict[str, SampleCommit] = field(default_factory=dict)
    # Pushes the index cannot enumerate: event id -> expected push status.
    push_status: dict[str, str] = field(default_factory=dict)

    @property
    def remotes(self) -> Path:
        return self.root / "remotes"

    @property
    def remote_template(self) -> str:
        return self.remotes.as_uri() + "/{repo}.git"

    @property
    def gharchive(self) -> Path:
        return self.root / "gharchive"

    @property
    def bigquery(self) -> Path:
        return self.root / "bigquery"

    def sha(self, key: str) -> str:
        return self.commits[key].sha


class RepoBuilder:
    """Commits to a bare repository with fixed signatures and clock times."""

    def __init__(self, sample: Sample, name: str, clone_of: RepoBuilder | None = None):
        self.sample = sample
        self.name = name
        path = sample.remotes / f"{name}.git"
        path.parent.mkdir(parents=True, exist_ok=True)
        if clone_of is None:
            self.repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
            self.files: dict[str, dict[str, tuple[bytes, int]]] = {"main": {}}
            self.clock = EPOCH
        else:
            self.repo = pygit2.clone_repository(str(clone_of.repo.path), str(path), bare=True)
            self.files = {branch: dict(files) for branch, files in clone_of.files.items() if branch == "main"}
            self.clock = clone_of.clock
        # Served as GitHub serves repositories: partial clones (blob:none) allowed.
        self.repo.config["uploadpack.allowFilter"] = True
        self.owner = name.split("/")[0]

    def commit(
        self,
        key: str,
        message: str,
        set_files: dict[str, bytes | str] | None = None,
        delete: tuple[str, ...] = (),
        modes: dict[str, int] | None = None,
        branch: str = "main",
        merge_from: str | None = None,
        expect: str | None = None,
        lang: str | None = None,
        ft: str | None = None,
        fetch: str | None = None,
        redactions: dict[str, int] | None = None,
        secrets: tuple[str, ...] = (),
    ) -> str:
        files = self.files.setdefault(branch, dict(self.files["main"]))
        for path, content in (set_files or {}).items():
            data = content.encode() if isinstance(content, str) else content
            files[path] = (data, (modes or {}).get(path, REGULAR))
        for path in delete:
            files.pop(path)
        index = pygit2.Index()
        for path, (data, mode) in sorted(files.items()):
            oid = pygit2.Oid(hex=data.decode()) if mode == GITLINK else self.repo.create_blob(data)
            index.add(pygit2.IndexEntry(path, oid, mode))
        tree = index.write_tree(self.repo)
        self.clock += 60
        author = pygit2.Signature(f"{self.owner} dev", f"{self.owner}@users.noreply.example.com", self.clock, 0)
        ref = f"refs/heads/{branch}"
        # A new branch starts from main's head (and main's first commit from nothing).
        start = ref if ref in self.repo.references else "refs/heads/main"
        parents = [self.repo.references[start].target] if start in self.repo.references else []
        if merge_from is not None:
            parents.append(self.repo.references[f"refs/heads/{merge_from}"].target)
        oid = self.repo.create_commit(ref, author, author, message, tree, parents)
        sha = str(oid)
        self.sample.commits[key] = SampleCommit(
            key,
            self.name,
            sha,
            message,
            self.clock,
            [str(p) for p in parents],
            expect,
            lang,
            ft,
            fetch or ("ok" if expect is None else None),
            redactions,
            secrets,
        )
        return sha

    def head(self, branch: str = "main") -> str:
        return str(self.repo.references[f"refs/heads/{branch}"].target)
