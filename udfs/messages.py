"""The filter's checks of a commit message and new contents in one pass through Python: the
message's language (``langid``) and the first overlap with an evaluation set (``decontamination``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from commitpack.schemas.executors import MESSAGE_CHECKS
from commitpack.schemas.settings import MessageLanguageSettings
from commitpack.udfs import decontamination, langid


def check_frame(
    message: pd.Series,
    contents: pd.Series,
    language: MessageLanguageSettings | None,
    grams: dict[str, str] | None,
    n: int,
) -> pd.DataFrame:
    """(lang, score, allowed_score, overlap) per row; a check that is off (None) gives nulls."""
    out = (
        langid.identify_series(message, language.allow, language.min_allowed_score)
        if language is not None
        else pd.DataFrame(
            {"lang": pd.Series([None] * len(message), dtype=object), "score": np.nan, "allowed_score": np.nan}
        )
    )
    out["overlap"] = decontamination.match_series(contents, message, grams, n) if grams is not None else None
    return out


def checks_udf(language: MessageLanguageSettings | None, grams: dict[str, str] | None, n: int):
    """(message, new_contents) → ``MESSAGE_CHECKS``, as a vectorized Spark UDF."""
    from pyspark.sql import functions as F

    @F.pandas_udf(MESSAGE_CHECKS)
    def checked(message, contents):
        return check_frame(message, contents, language, grams, n)

    return checked
