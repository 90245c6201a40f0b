"""The CommitPackFT rules that Spark's own column functions express (OctoPack paper, appendix;
README "CommitPackFT: filter, dedup, export"), in two groups the filter applies in order:

* ``metadata_rules`` read only ``raw_subject`` (the commit's first line), ``subject`` (cleaned by
  ``clean_subject``), ``new_file`` and ``commit``: they run before anything about the contents is
  known, so a fetch can apply them before transferring a blob (status ``pruned:<rule>``);
* ``contents_rules`` read ``old_contents`` and ``new_contents``.

Between them the filter applies the row's fetch status; after them come the rules computed in
Python (token length with a tokenizer, message language, decontamination); see ``stages.filter``.
"""

from __future__ import annotations

import os

from pyspark.sql import Column
from pyspark.sql import functions as F

from commitpack.jobs.rules import Rule, basename, stripped
from commitpack.schemas.settings import FilterSettings, MessageLanguageSettings
from commitpack.udfs import tokens


def clean_subject(subject: Column) -> Column:
    """Strip; drop [skip ci]/[ci skip], a leading [tag] or `word:`, a trailing [tag] or (#123)."""
    text = stripped(F.regexp_replace(subject, r"(?i)\[(skip ci|ci skip)\]", ""))
    text = F.regexp_replace(text, r"^\[[^\]]*\]\s*", "")
    text = F.regexp_replace(text, r"^\S+:\s+(?=\S)", "")
    text = F.regexp_replace(text, r"\s+(\[[^\]]*\]|\(#\d+\))$", "")
    return stripped(text)


def file_stem(path: Column) -> Column:
    return F.regexp_replace(basename(path), r"\.[^.]*$", "")


# A word's edges: no letter, digit or underscore on either side.
_NOT_AFTER_WORD, _NOT_BEFORE_WORD = r"(?<![\p{L}\p{N}_])", r"(?![\p{L}\p{N}_])"
# A word in capitals (API, URL, OAUTH2): an acronym, not a file's name, unless the stem is one (README).
_CAPITALS_WORD = (
    rf"{_NOT_AFTER_WORD}(?=[\p{{Lu}}\p{{N}}]{{2}})[\p{{Lu}}\p{{N}}]*\p{{Lu}}[\p{{Lu}}\p{{N}}]*{_NOT_BEFORE_WORD}"
)


def names_file(subject: Column, path: Column) -> Column:
    """The subject names the file: the file's stem (``pager`` for ``src/pager.py``) is a word of the
    subject, in any case ("Trim down OAuth1 logic" does not name ``auth.py``); a word in capitals
    names only a stem in capitals ("the API document" does not name ``api.rst``, "README" names
    ``README.md``)."""
    stem = file_stem(path)
    words = F.when(stem == F.upper(stem), subject).otherwise(F.regexp_replace(subject, _CAPITALS_WORD, " "))
    # The stem is matched literally (\Q…\E); a stem holding "\E" itself loses it.
    pattern = F.concat(
        F.lit(f"(?i){_NOT_AFTER_WORD}\\Q"), F.regexp_replace(stem, r"\\E", ""), F.lit(f"\\E{_NOT_BEFORE_WORD}")
    )
    return (stem != "") & F.regexp(words, pattern)


def _any_prefix(text: Column, prefixes: list[str]) -> Column:
    return F.exists(F.array(*[F.lit(p) for p in prefixes]), lambda p: text.startswith(p)) if prefixes else F.lit(False)


def bump_keep(commit: Column, seed: int, keep_percent: float) -> Column:
    """A seeded draw per commit: the same rows are kept on every run, whatever the partitioning."""
    return F.pmod(F.xxhash64(F.lit(seed), commit), F.lit(10_000)) < F.lit(int(round(keep_percent * 100)))


def metadata_rules(section: FilterSettings) -> list[Rule]:
    """The subject rules, then the bump sample."""
    raw, subject = F.coalesce("raw_subject", F.lit("")), F.coalesce("subject", F.lit(""))
    lowered = F.lower(subject)
    padded = F.concat(F.lit(" "), lowered, F.lit(" "))
    length = F.length(subject)
    limits = section.subject
    verbs = "|".join(sorted((v.lower().replace(" ", r"\s") for v in section.verbs), key=len, reverse=True))
    bump = section.bump
    return [
        ("subject_has_hash", ~raw.contains("#")),
        ("subject_names_file", ~names_file(raw, F.coalesce("new_file", F.lit("")))),
        ("subject_length", (length > limits.min_chars) & (length < limits.max_chars)),
        ("subject_word_count", F.size(F.split(subject, r"\s+")) >= limits.min_words),
        ("subject_not_capitalized", subject.rlike(r"^\p{Lu}")),
        ("subject_not_imperative", lowered.rlike(rf"^({verbs}) ")),
        ("subject_junk", ~lowered.isin([j.lower() for j in section.junk_exact])),
        (
            "subject_junk_phrase",
            ~F.exists(F.array(*[F.lit(p.lower()) for p in section.junk_phrases]), lambda p: lowered.contains(p))
            & ~lowered.rlike(r"\bwip\b"),
        ),
        (
            "subject_version_or_hash",
            ~lowered.rlike(r"^v?\d+(\.\d+)+\S*$|^[0-9a-f]{7,40}$|(^|[^0-9a-f])[0-9a-f]{40}([^0-9a-f]|$)"),
        ),
        ("subject_issue_reference", ~lowered.rlike(r"\b(issue|bug|feature) #?\d+")),
        (
            "subject_first_person",
            ~padded.rlike(r"\si('ve|'m)?\s") & ~lowered.contains("i've") & ~lowered.contains("i'm"),
        ),
        ("subject_thanks", ~lowered.rlike(r"thanks to .+ for")),
        (
            "bump_sampled_out",
            ~_any_prefix(lowered, [p.lower() for p in bump.prefixes])
            | bump_keep(F.col("commit"), bump.seed, bump.keep_percent),
        ),
    ]


def contents_rules(section: FilterSettings) -> list[Rule]:
    """The old file's length, the new file not empty, the contents changed."""
    old, new = F.coalesce("old_contents", F.lit("")), F.coalesce("new_contents", F.lit(""))
    return [
        ("contents_too_long", F.length(old) < section.max_old_chars),
        ("contents_new_empty", F.length(new) > 0),
        ("contents_unchanged", old != new),
    ]


def message_language_keeps(checked: Column, section: MessageLanguageSettings) -> Column:
    """The message language rule over ``checked`` (``schemas.executors.MESSAGE_CHECKS``): kept unless
    lid.176 is confident the message is in a language not allowed (see ``defaults.yaml``). A message
    with no words left to identify is kept: there is nothing to judge."""
    return (
        checked.lang.isNull()
        | checked.lang.isin(list(section.allow))
        | (checked.score < section.min_foreign_score)
        | (checked.allowed_score >= section.min_allowed_score)
    )


def token_counter(tokenizer: str | None):
    """tokens(old, new) as a Column function: GPT-2 pre-token pieces counted by Spark's regex by
    default, else the tokenizer's count in a vectorized UDF."""
    if tokenizer is None:
        # Every character is in some piece, so replacing each piece by one character counts them
        # without building them (regexp_count collects every piece into an array first).
        return lambda old, new: F.length(
            F.regexp_replace(
                F.concat(F.coalesce(old, F.lit("")), F.coalesce(new, F.lit(""))), tokens.PRETOKEN_PATTERN, "x"
            )
        )
    return tokens.count_udf(os.path.basename(tokenizer))
