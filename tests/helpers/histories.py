"""Raw CommitPack rows from generated repository histories, for the benchmarks: every commit
changes one file a little (a few lines replaced, added or removed), so successive versions of a
file are nearly identical, as in real histories; a few commits are cherry-picks of another
repository's change (exact duplicates) or the same change reworded (near duplicates).

``history_rows(n, seed)`` gives ``n`` rows in the gold.commitpack shape, in commit order per
file (with ``real_code``, files that start as modules of Python's standard library: real code of
real sizes, for measuring storage); ``more_rows`` continues the same histories (an increment of new commits); ``append_in_waves``
writes rows to a lakehouse as fetch appends them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from commitpack.schemas.arrow import arrow_schema
from commitpack.schemas.gold import COMMITPACK

# Language, file extension and share of the repositories, roughly CommitPack's mix.
LANGUAGES = [
    ("python", "py", 18),
    ("javascript", "js", 14),
    ("java", "java", 10),
    ("go", "go", 8),
    ("typescript", "ts", 8),
    ("ruby", "rb", 6),
    ("php", "php", 6),
    ("c++", "cpp", 5),
    ("c", "c", 5),
    ("rust", "rs", 4),
    ("shell", "sh", 4),
    ("yaml", "yml", 4),
    ("markdown", "md", 4),
    ("c#", "cs", 2),
    ("kotlin", "kt", 2),
]
NOUNS = (
    "parser config cache client server token stream buffer request response schema queue worker "
    "session handler router loader writer reader index record batch window metric signal"
).split()
VERBS = "get set load save parse build check update create remove merge split".split()
SUBJECTS = [
    "Fix the {a} handling when the {b} is empty",
    "Add support for {a} in the {b} module",
    "Update {a} to use the new {b} API",
    "Refactor {a} into a separate {b} helper",
    "Remove the unused {a} from the {b} code",
    "Improve the {a} error message for {b} users",
    "Use {a} instead of {b} for the cache lookups",
    "Handle a missing {a} in the {b} loader",
    "fixed {a}",
    "WIP {a}",
    "Merge branch '{a}' into {b}",
    "Bump {a} from 1.2.3 to 1.2.4 in the {b}",
    "{a}: tweak {b}",
    "Fixes #12 {a} {b}",
    "Update README.md",
    "Added {a} to the {b} module",
]


def line(rng: random.Random) -> str:
    a, b, c = rng.choice(NOUNS), rng.choice(VERBS), rng.choice(NOUNS)
    return f"    {a}_{rng.randrange(100)} = {b}_{c}({rng.choice(NOUNS)}, {rng.randrange(1000)})\n"


@dataclass
class File:
    repo: str
    path: str
    lang: str
    lines: list[str]
    clock: dt.datetime


@dataclass
class Histories:
    """The repositories' files as they stand, to continue their histories."""

    rng: random.Random
    files: list[File]
    changes: list[dict] = field(default_factory=list)  # earlier changes, for duplicates
    count: int = 0


@functools.cache
def stdlib_modules() -> list[Path]:
    """The standard library's modules of 2–60 KB (tests aside), in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found = (
        p
        for p in root.rglob("*.py")
        if not {"test", "tests", "idlelib", "site-packages", "dist-packages"} & set(p.relative_to(root).parts)
    )
    return sorted(p for p in found if 2_000 <= p.stat().st_size <= 60_000)


def start(seed: int, repos: int, real_code: bool = False) -> Histories:
    rng = random.Random(seed)
    weights = [w for _, _, w in LANGUAGES]
    files = []
    for r in range(repos):
        lang, ext, _ = rng.choices(LANGUAGES, weights)[0]
        repo = f"owner{r % 97}/project{r}"
        for f in range(rng.randint(3, 12)):
            if real_code:
                module = rng.choice(stdlib_modules())
                body = module.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
            else:
                body = [f"def {rng.choice(VERBS)}_{rng.choice(NOUNS)}_{i}(value):\n" for i in range(3)]
                body += [line(rng) for _ in range(rng.randint(8, 45))]
            clock = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=rng.randrange(20_000))
            files.append(File(repo, f"src/{rng.choice(NOUNS)}_{f}.{ext}", lang, body, clock))
    return Histories(rng, files)


def unified(path: str, old: list[str], at: int, removed: list[str], added: list[str]) -> str:
    """The unified diff of replacing ``removed`` (lines ``at``…) by ``added``, three lines of context."""
    lo = max(0, at - 3)
    before = old[lo:at]
    after = old[at + len(removed) : at + len(removed) + 3]
    header = (
        f"@@ -{lo + 1},{len(before) + len(removed) + len(after)} +{lo + 1},{len(before) + len(added) + len(after)} @@\n"
    )
    body = [f" {x}" for x in before] + [f"-{x}" for x in removed] + [f"+{x}" for x in added] + [f" {x}" for x in after]
    return f"--- a/{path}\n+++ b/{path}\n" + header + "".join(body)


def row(
    h: Histories, file: File, subject: str, old: list[str], new: list[str], diff: str, adds: int, dels: int
) -> dict:
    h.count += 1
    sha = hashlib.sha1(f"{file.repo}:{file.path}:{h.count}:{subject}".encode()).hexdigest()
    old_text, new_text = "".join(old), "".join(new)
    file.clock += dt.timedelta(minutes=h.rng.randint(5, 5000))
    return {
        "commit": sha,
        "lang": file.lang,
        "status": "ok",
        "detail": None,
        "repo": file.repo,
        "repos": file.repo,
        "license": "mit",
        "old_file": file.path,
        "new_file": file.path,
        "subject": subject,
        "message": subject + "\n\nThe change keeps the old behaviour for existing callers.",
        "old_contents": old_text,
        "new_contents": new_text,
        "old_encoding": "utf-8",
        "new_encoding": "utf-8",
        "old_blob": hashlib.sha1(old_text.encode()).hexdigest(),
        "new_blob": hashlib.sha1(new_text.encode()).hexdigest(),
        "old_size": len(old_text.encode()),
        "new_size": len(new_text.encode()),
        "diff": diff,
        "lines_added": adds,
        "lines_removed": dels,
        "hunks": 1,
        "committed_at": file.clock,
    }


def more_rows(h: Histories, n: int) -> list[dict]:
    """``n`` new commits continuing the histories; about 2% repeat an earlier change elsewhere."""
    rng = h.rng
    rows = []
    for _ in range(n):
        file = rng.choice(h.files)
        old = file.lines
        if h.changes and rng.random() < 0.02:
            # A cherry-pick or a vendored copy: another file takes an earlier change's lines
            # (half of them reworded: near duplicates).
            source = rng.choice(h.changes)
            subject = source["subject"] if rng.random() < 0.5 else source["subject"].replace(" the ", " a ", 1)
            cut, added = 0, source["added"]
        else:
            subject = rng.choice(SUBJECTS).format(a=rng.choice(NOUNS), b=rng.choice(NOUNS))
            cut = rng.randint(0, 3)
            added = [line(rng) for _ in range(rng.randint(0 if cut else 1, 4))]
        at = rng.randrange(3, len(old) + 1)
        removed = old[at : at + cut]
        new = old[:at] + added + old[at + len(removed) :]
        diff = unified(file.path, old, at, removed, added)
        rows.append(row(h, file, subject, old, new, diff, len(added), len(removed)))
        h.changes.append({"subject": subject, "added": added})
        if len(h.changes) > 5000:
            h.changes.pop(rng.randrange(len(h.changes)))
        file.lines = new
    return rows


def history_rows(n: int, seed: int = 5, real_code: bool = False) -> tuple[Histories, list[dict]]:
    """``n`` raw rows of generated histories (about 14 commits per file)."""
    h = start(seed, repos=max(1, n // 100), real_code=real_code)
    return h, more_rows(h, n)


def raw_frame(spark, rows: list[dict], path):
    """The rows as a DataFrame read from a Parquet file (pyarrow writes it much faster than Spark
    takes Python rows)."""
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(COMMITPACK.schema)), path)
    return spark.read.parquet(str(path))


def append_in_waves(spark, lakehouse, rows: list[dict], folder, waves: int, spec=COMMITPACK) -> None:
    """The rows appended to ``spec`` (default gold.commitpack) in ``waves`` appends, interleaved
    as fetch's waves interleave repositories."""
    folder.mkdir(parents=True, exist_ok=True)
    for wave in range(waves):
        lakehouse.append(spec, raw_frame(spark, rows[wave::waves], folder / f"wave-{wave}.parquet"))
