"""A repository's license, read off its root-level license file.

BigQuery's github_repos.licenses table has no record for many repositories; for those the
license is detected from the file itself. The keys are the lower-case keys that BigQuery and
GitHub's licensee use (``LICENSE_KEYS``), so detected and recorded licenses share one column;
``OTHER`` marks a license file that matches none of them.

``detect`` is the entry point; ``is_license_file``, ``pick_license_file`` and ``classify`` are
its steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable

OTHER = "other"
LICENSE_KEYS = (
    "mit",
    "apache-2.0",
    "bsd-2-clause",
    "bsd-3-clause",
    "isc",
    "cc0-1.0",
    "unlicense",
    "mpl-2.0",
    "epl-1.0",
    "epl-2.0",
    "artistic-2.0",
    "agpl-3.0",
    "lgpl-2.1",
    "lgpl-3.0",
    "gpl-2.0",
    "gpl-3.0",
    "bsl-1.0",
    "wtfpl",
    "zlib",
)

# A license id qualifying a file name: "mit", "apache", "gpl-3.0", "2.0". Free-form words
# ("LICENSE-THIRD-PARTY") are left out: such files hold notices of bundled code.
_LICENSE_ID = r"[a-z0-9]+(?:[-.][0-9]+)*"
_LICENSE_FILE_NAME = re.compile(
    rf"""
    (?:
        (?:un)?licen[cs]e (?:[-_]{_LICENSE_ID})?      # LICENSE, LICENCE, UNLICENSE, LICENSE-MIT
      | {_LICENSE_ID} [-_] licen[cs]e                 # MIT-LICENSE
      | copying (?:\.lesser | \.lib | [-_]{_LICENSE_ID})?   # COPYING, GNU's COPYING.LESSER
      | copyright
    )
    (?:\.(?:md|markdown|txt|rst))?
    """,
    re.IGNORECASE | re.VERBOSE,
)


def is_license_file(name: str) -> bool:
    """Whether a root-level file name is a license file, case-insensitively: LICENSE, LICENCE,
    COPYING, UNLICENSE, COPYRIGHT, LICENSE-MIT, MIT-LICENSE, COPYING.LESSER and the like,
    bare or with a .md, .markdown, .txt or .rst extension."""
    return _LICENSE_FILE_NAME.fullmatch(name) is not None


def _preference(name: str) -> tuple:
    lowered = name.lower()
    family = 0 if lowered.startswith("licen") else 1 if lowered.startswith("copying") else 2
    return (family, len(name), lowered, name)


def pick_license_file(names: list[str]) -> str | None:
    """The license file to read among ``names``, or None when there is none: LICENSE* before
    COPYING* before the rest, then the shortest name, then the alphabetically first."""
    return min(filter(is_license_file, names), key=_preference, default=None)


_MARKDOWN_LINK_TARGET = re.compile(r"\]\([^)\s]*\)")
_NON_WORD = re.compile(r"[^a-z0-9.]+")
_DOT_OUTSIDE_NUMBER = re.compile(r"(?<![0-9])\.|\.(?![0-9])")


def _words(text: str) -> str:
    """``text`` as lower-case words joined by single spaces.

    Every character that is not a letter or digit becomes a word break: markdown and comment
    markers (#, *, _, >, //, /*), quotes and dashes of every style, line breaks and indentation.
    So formatting, wrapping and typography do not matter, and the patterns below are written in
    this form. Dots survive only inside numbers, which keeps versions such as 2.1 whole."""
    text = _MARKDOWN_LINK_TARGET.sub("]", text.lower())  # a link's URL is not license text
    text = _DOT_OUTSIDE_NUMBER.sub(" ", _NON_WORD.sub(" ", text))
    return " ".join(text.split())


# A rule looks for one license in the normalized text: (where its text starts, key) or None.
_Rule = Callable[[str], "tuple[int, str] | None"]


def _all_of(key: str, *patterns: str) -> _Rule:
    """A rule that finds ``key`` where all ``patterns`` (regexes over ``_words`` text) occur."""
    compiled = [re.compile(rf"\b(?:{pattern})\b") for pattern in patterns]

    def rule(words: str) -> tuple[int, str] | None:
        starts = []
        for pattern in compiled:
            match = pattern.search(words)
            if match is None:
                return None
            starts.append(match.start())
        return min(starts), key

    return rule


# The name of a GNU license with its version, as in a heading ("GNU LESSER GENERAL PUBLIC
# LICENSE Version 2.1") or a notice ("... GNU General Public License as published by the Free
# Software Foundation, either version 3 of the License ...").
_GNU_LICENSE_NAME = re.compile(
    r"\bgnu (?:(affero|lesser|library) )?general public licen[cs]e (?:[al]?gpl )?"
    r"(?:as published by the free software foundation (?:either )?)?(?:version |v ?)(\d+(?:\.\d+)?)\b"
)
_GNU_KEYS = {
    (None, "2"): "gpl-2.0",
    (None, "3"): "gpl-3.0",
    ("lesser", "2.1"): "lgpl-2.1",
    ("lesser", "3"): "lgpl-3.0",
    ("affero", "3"): "agpl-3.0",
}


def _gnu_license_name(words: str) -> tuple[int, str] | None:
    # Only the first GNU name counts: each GNU text names its relatives further on (LGPL 2.1
    # says "the ordinary GNU General Public License, version 2"). A GNU license outside the
    # key set (GPL 1, the Library GPL 2.0) is a license, just not one of ours.
    match = _GNU_LICENSE_NAME.search(words)
    if match is None:
        return None
    variant, version = match.groups()
    return match.start(), _GNU_KEYS.get((variant, version.removesuffix(".0")), OTHER)


_BSD_2_CLAUSE = (
    "redistribution and use in source and binary forms with or without modification are permitted provided that",
    "redistributions in binary form must reproduce the above copyright notice",
)

# Listed from specific to general: where several rules match at the same place, the first wins.
_RULES: tuple[_Rule, ...] = (
    _all_of("unlicense", "this is free and unencumbered software released into the public domain"),
    _all_of("cc0-1.0", r"cc0 1\.0"),
    _all_of("wtfpl", r"do what the f\w*(?: \w+)? you want to public licen[cs]e"),
    _all_of("bsl-1.0", "boost software license"),
    _all_of("artistic-2.0", r"artistic license (?:version )?2\.0"),
    _all_of(
        "zlib",
        "the origin of this software must not be misrepresented "
        "you must not claim that you wrote the original software",
    ),
    _all_of("mpl-2.0", r"mozilla public license (?:version |v ?)?2\.0"),
    _all_of("epl-2.0", r"eclipse public license (?:version |v ?)?2\.0"),
    _all_of("epl-1.0", r"eclipse public license (?:version |v ?)?1\.0"),
    _all_of("apache-2.0", r"apache license (?:version |v ?)?2\.0"),
    _gnu_license_name,
    # GNU preambles, for license files whose heading was cut off.
    _all_of("agpl-3.0", "gnu affero general public license is a free copyleft license"),
    _all_of("gpl-3.0", "gnu general public license is a free copyleft license"),
    _all_of(
        "gpl-2.0", "gnu general public license is intended to guarantee your freedom to share and change free software"
    ),
    # ISC and MIT each need their notice condition; without it the text is 0BSD or MIT-0.
    _all_of(
        "isc",
        "permission to use copy modify and(?: or)? distribute this software for any purpose "
        "with or without fee is hereby granted provided that the above copyright notice "
        "and this permission notice appear in all copies",
    ),
    _all_of(
        "mit",
        "permission is hereby granted free of charge to any person obtaining a copy of this software",
        "the above copyright notice and this permission notice shall be included in all copies "
        "or substantial portions of the software",
    ),
    # BSD variants outside the key set contain the 2-clause text: the 4-clause and the Clear one.
    _all_of(
        OTHER,
        *_BSD_2_CLAUSE,
        "all advertising materials mentioning features or use of this software "
        "must display the following acknowledge?ment",
    ),
    _all_of(OTHER, *_BSD_2_CLAUSE, "no express or implied licenses to any party s patent rights are granted"),
    _all_of("bsd-3-clause", *_BSD_2_CLAUSE, "used to endorse or promote products derived from this software"),
    _all_of("bsd-2-clause", *_BSD_2_CLAUSE),
)


def classify(text: str) -> str:
    """The license key of a license file's text: one of ``LICENSE_KEYS``, or ``OTHER`` when it
    matches none (also for empty text).

    This is a phrase classifier, not a port of licensee (which scores the whole text against
    each license template): after normalizing the text (``_words``) it looks for phrases found
    in one license only, plus version-bearing names such as "apache license version 2.0" or
    "gnu lesser general public license version 2.1", so short license headers count too.

    A file may hold several licenses, typically the project's own followed by notices of bundled
    code; the license whose text starts first is the file's. Where rules match at the same place
    (BSD 3-clause contains BSD 2-clause), the more specific one, listed first, wins.
    """
    words = _words(text)
    found = []
    for priority, rule in enumerate(_RULES):
        match = rule(words)
        if match is not None:
            start, key = match
            found.append((start, priority, key))
    return min(found)[2] if found else OTHER


def detect(files: dict[str, bytes]) -> tuple[str | None, str | None]:
    """``(license key, license file name)`` for a repository's root-level files (name →
    contents), or ``(None, None)`` when it has no license file."""
    name = pick_license_file(list(files))
    if name is None:
        return None, None
    return classify(files[name].decode("utf-8", errors="replace")), name
