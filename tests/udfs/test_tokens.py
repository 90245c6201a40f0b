"""The pre-token pattern matches exactly GPT-2's pieces: in Python's `regex`, and as the filter's
default token count in Spark (Java's regex)."""

import random

import regex
from pyspark.sql import functions as F

from commitpack.jobs.rules.commitpackft import token_counter
from commitpack.udfs.tokens import PRETOKEN_PATTERN

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# Letters, digits, quotes, punctuation, every kind of white space, non-Latin scripts and digits,
# and characters outside the BMP: what makes the alternatives compete.
ALPHABET = (
    list("ab Zé中")
    + list("09١٢")
    + ["'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'x"]
    + list('.,;()[]{}_-+*/\\"')
    + [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\x0b", "\f"]
    + ["😀", "𝔘"]
)
SAMPLES = [
    "",
    " ",
    "  ",
    "\n",
    "a",
    "I'll don't it's we've they're I'm you'd",
    "x  = 1\n\n\ndef f(a, b):\n\treturn a+b  \n",
    "  leading and trailing  ",
    "'s'''t 're",
    "price: 12,50 € (approx.)",
    "naïve café 東京 123 ١٢٣",
    "a\u00a0b\u2003c",
]


def texts(seed, n):
    rng = random.Random(seed)
    return SAMPLES + ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 60))) for _ in range(n)]


def test_the_rewritten_pattern_finds_gpt2s_pieces():
    original, rewritten = regex.compile(GPT2), regex.compile(PRETOKEN_PATTERN)
    for text in texts(7, 5000):
        assert rewritten.findall(text) == original.findall(text), repr(text)


def test_the_default_token_count_is_the_number_of_gpt2_pieces_in_javas_regex(spark):
    rows = spark.createDataFrame(
        [(t[: len(t) // 2], t[len(t) // 2 :]) for t in texts(11, 2000)], "old string, new string"
    )
    counted = rows.select(
        token_counter(None)(F.col("old"), F.col("new")).alias("tokens"),
        F.regexp_count(F.concat("old", "new"), F.lit(GPT2)).alias("pieces"),
    )  # every piece collected
    assert counted.where("tokens <> pieces").count() == 0
    assert counted.agg(F.sum("tokens")).first()[0] > 10_000
