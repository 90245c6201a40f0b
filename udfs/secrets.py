"""PII and secrets in commit contents and messages: found, counted and replaced by placeholders.

* keys and tokens: the patterns of detect-secrets' plugins (AWS, GitHub, GitLab, Slack, Stripe,
  JWT, private key blocks, …), each match confirmed by its plugin (a JWT must decode), run over a
  whole text at once instead of line by line; a private key's whole block is replaced;
* passwords: detect-secrets' ``KeywordDetector`` patterns for the file's type (``password =
  "…"``, ``api_key: …``) and ``BasicAuthDetector`` (``https://user:secret@host``), without the
  values detect-secrets' own heuristics call placeholders (``"${PASSWORD}"``, ``"<password>"``);
* emails and IP addresses: precise patterns of our own. Addresses at documentation and test
  domains (``example.com``) stay, as do ``git@host:`` remotes and ``icon@2x.png``; an IP address
  must be a global one (not private, loopback, link-local or a documentation range) and not read
  as a version (``v1.2.3.4``, ``==1.2.3.4``).

High-entropy plugins are not used: they flag hashes and ids, which must survive.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from typing import NamedTuple

import pandas as pd

from commitpack.schemas.executors import REDACTED
from commitpack.schemas.gold import REDACTION_COUNTS
from commitpack.schemas.vocabulary import REDACTION_KINDS

PLACEHOLDERS = {"email": "<EMAIL>", "ip_address": "<IP_ADDRESS>", "key": "<KEY>", "password": "<PASSWORD>"}
PASSWORD_PLUGINS = ("KeywordDetector", "BasicAuthDetector")
# At one place a key wins over a password (``api_key = "sk_live_…"``), and both over an address
# (``https://user:secret@host``).
_PRIORITY = {"key": 0, "password": 1, "email": 2, "ip_address": 3}

EMAIL = re.compile(
    r"(?<![\w.%+-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"([A-Za-z]{2,24}))(?![A-Za-z0-9-])"
)
# Top-level "domains" that are file extensions: icon@2x.png, lib@1x.js.
_FILE_SUFFIXES = frozenset("png jpg jpeg gif svg webp bmp js ts css html json yml yaml txt lock".split())
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
IPV6 = re.compile(
    r"(?<![\w:.])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:){0,5}"
    r"[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4})(?![\w:])"
)
# What before a dotted quad makes it a version: v1.2.3.4, version 1.2.3.4, ==1.2.3.4, pkg@1.2.3.4.
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|version|\bver|release|==|[<>~]=?|\^|@)\s*[:=]?\s*[\"']?$")
# A private key block's body starts with base64 or a PEM header (a line merely naming the armor does not).
_KEY_BODY = re.compile(r"[ \t]*(?:[A-Za-z0-9+/=]{20,}|Proc-Type:|Encryption:|Comment:)")
_KEY_END = re.compile(r"^.*(?:-----END [A-Z ]*-----|Private-MAC:).*$", re.M)


class Finding(NamedTuple):
    kind: str
    start: int
    end: int


@functools.lru_cache(maxsize=8)
def _plugins(names: tuple[str, ...]):
    """The named detect-secrets plugins, each with its kind (key or password)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    classes = {cls.__name__: cls for cls in get_mapping_from_secret_type_to_class().values()}
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise ValueError(f"unknown detect-secrets plugin(s) {', '.join(unknown)}; known: {', '.join(sorted(classes))}")
    return tuple((classes[name](), "password" if name in PASSWORD_PLUGINS else "key") for name in names)


@functools.lru_cache(maxsize=1)
def _keyword_support():
    from detect_secrets.filters import heuristic
    from detect_secrets.plugins import keyword
    from detect_secrets.util.filetype import determine_file_type

    keywords = re.compile("|".join(keyword.DENYLIST), re.IGNORECASE)
    placeholder_checks = (
        heuristic.is_templated_secret,
        heuristic.is_prefixed_with_dollar_sign,
        heuristic.is_sequential_string,
        heuristic.is_potential_uuid,
        heuristic.is_not_alphanumeric_string,
    )
    return keyword, determine_file_type, keywords, placeholder_checks, heuristic.is_indirect_reference


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    # Some patterns take a delimiter on either side (Artifactory's): the secret is without it.
    while start < end and text[start] in " \t=:\"'":
        start += 1
    while end > start and text[end - 1] in " \t\"'\n":
        end -= 1
    return start, end


def _secret_span(match: re.Match) -> tuple[int, int]:
    """Where a plugin's match holds the secret: its first group when only delimiters follow it in
    the match (``://user:(secret)@``, ``"(key)"``), else the whole match (a group that is a
    prefix, as in ``(ghp|gho)_…``, or a part of the token)."""
    for i in range(1, (match.lastindex or 0) + 1):
        if match.group(i):
            if not re.search(r"\w", match.string[match.end(i) : match.end()]):
                return match.span(i)
            break
    return match.span()


def _key_block(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The body of the private key block whose armor line holds ``start``, or None if the line is
    followed by no key (code that names the armor)."""
    body = text.find("\n", end)
    if body < 0 or not _KEY_BODY.match(text, body + 1):
        return None
    close = _KEY_END.search(text, body + 1)
    return body + 1, (close.start() - 1 if close else len(text))


def _keywords(text: str, filename: str) -> Iterable[Finding]:
    keyword, determine_file_type, keywords, placeholder_checks, is_indirect_reference = _keyword_support()
    if not keywords.search(text):
        return
    patterns = keyword.REGEX_BY_FILETYPE.get(
        determine_file_type(filename or ""), keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
    )
    for pattern, group in patterns.items():
        for match in pattern.finditer(text):
            value = match.group(group)
            line_start = text.rfind("\n", 0, match.start()) + 1
            line_end = text.find("\n", match.end())
            line = text[line_start : line_end if line_end >= 0 else len(text)]
            if not value or any(check(value) for check in placeholder_checks) or is_indirect_reference(line):
                continue
            yield Finding("password", *match.span(group))


def _secrets(text: str, filename: str, plugins: tuple[str, ...]) -> Iterable[Finding]:
    for plugin, kind in _plugins(plugins):
        if type(plugin).__name__ == "KeywordDetector":
            yield from _keywords(text, filename)
            continue
        for pattern in plugin.denylist:
            for match in pattern.finditer(text):
                if not any(plugin.analyze_string(match.group(0))):  # the plugin's own checks (a JWT decodes)
                    continue
                start, end = _trimmed(text, *_secret_span(match))
                if type(plugin).__name__ == "PrivateKeyDetector":
                    block = _key_block(text, start, end)
                    if block is None:
                        continue
                    start, end = block
                if end > start:
                    yield Finding(kind, start, end)


def _emails(text: str, allow_domains: tuple[str, ...]) -> Iterable[Finding]:
    if "@" not in text:
        return
    for match in EMAIL.finditer(text):
        local, domain, top = match.group(1), match.group(2).lower(), match.group(3).lower()
        if top in _FILE_SUFFIXES or any(domain == d or domain.endswith("." + d) for d in allow_domains):
            continue
        if local == "git" and text.startswith(":", match.end()):  # an scp-style git remote
            continue
        yield Finding("email", *match.span())


def _global(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def _ip_addresses(text: str) -> Iterable[Finding]:
    if "." in text:
        for match in IPV4.finditer(text):
            if _global(match.group(0)) and not _VERSION_BEFORE.search(text, max(0, match.start() - 12), match.start()):
                yield Finding("ip_address", *match.span())
    if "::" in text or text.count(":") >= 7:
        for match in IPV6.finditer(text):
            if _global(match.group(0)):
                yield Finding("ip_address", *match.span())


def find(
    text: str | None, filename: str = "", plugins: tuple[str, ...] = (), allow_email_domains: tuple[str, ...] = ()
) -> list[Finding]:
    """Every finding in ``text``, in order, none overlapping (a key or password wins over an
    address at the same place, then the longer finding)."""
    if not text:
        return []
    found = sorted(
        [*_secrets(text, filename, plugins), *_emails(text, allow_email_domains), *_ip_addresses(text)],
        key=lambda f: (f.start, _PRIORITY[f.kind], f.start - f.end),
    )
    kept: list[Finding] = []
    for finding in found:
        if not kept or finding.start >= kept[-1].end:
            kept.append(finding)
    return kept


def redact(text: str | None, findings: list[Finding]) -> str | None:
    """``text`` with every finding replaced by its kind's placeholder."""
    if not findings:
        return text
    parts, at = [], 0
    for finding in findings:
        parts += [text[at : finding.start], PLACEHOLDERS[finding.kind]]
        at = finding.end
    return "".join(parts) + text[at:]


def count(findings: Iterable[Finding]) -> dict[str, int]:
    totals = dict.fromkeys(REDACTION_KINDS, 0)
    for finding in findings:
        totals[finding.kind] += 1
    return totals


# ----------------------------------------------------------------------------- vectorized bodies


def count_frame(
    texts: list[pd.Series], filenames: pd.Series, plugins: tuple[str, ...], allow_email_domains: tuple[str, ...]
) -> pd.DataFrame:
    """pandas_udf body: findings per kind over all of a row's texts (``REDACTION_COUNTS``); null
    for a row whose texts are all null (not scanned)."""
    rows = []
    for values in zip(filenames.tolist(), *(t.tolist() for t in texts)):
        filename, fields = values[0], values[1:]
        if all(v is None for v in fields):
            rows.append(dict.fromkeys(REDACTION_KINDS))
            continue
        totals = dict.fromkeys(REDACTION_KINDS, 0)
        for text in fields:
            for kind, n in count(find(text, filename, plugins, allow_email_domains)).items():
                totals[kind] += n
        rows.append(totals)
    return pd.DataFrame(rows, columns=list(REDACTION_KINDS), dtype="Int32")


def redact_frame(
    texts: list[pd.Series], filenames: pd.Series, plugins: tuple[str, ...], allow_email_domains: tuple[str, ...]
) -> pd.DataFrame:
    """pandas_udf body: each text with its findings replaced (``REDACTED``)."""
    out = {}
    for name, series in zip([f.name for f in REDACTED.fields], texts):
        out[name] = [
            redact(text, find(text, filename, plugins, allow_email_domains))
            for text, filename in zip(series.tolist(), filenames.tolist())
        ]
    return pd.DataFrame(out, dtype=object)


def count_udf(plugins: tuple[str, ...], allow_email_domains: tuple[str, ...]):
    """(new_file, old_contents, new_contents, message) → ``REDACTION_COUNTS``, vectorized."""
    from pyspark.sql import functions as F

    _plugins(plugins)  # an unknown plugin fails here, on the driver

    @F.pandas_udf(REDACTION_COUNTS)
    def counted(new_file, old, new, message):
        return count_frame([old, new, message], new_file, plugins, allow_email_domains)

    return counted


def redact_udf(plugins: tuple[str, ...], allow_email_domains: tuple[str, ...]):
    """(new_file, old_contents, new_contents, message, subject) → ``REDACTED``, vectorized."""
    from pyspark.sql import functions as F

    @F.pandas_udf(REDACTED)
    def redacted(new_file, old, new, message, subject):
        return redact_frame([old, new, message, subject], new_file, plugins, allow_email_domains)

    return redacted
