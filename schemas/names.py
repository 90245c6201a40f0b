"""Repository names and owner logins as GitHub allows them: the only names admitted anywhere.

Names come from outside (GH Archive events, BigQuery exports, the configuration) and become
URLs and cache locations, so every ingest checks them with ``REPO_NAME`` (a Java- and
Python-compatible regular expression, used by Spark's ``rlike`` and by ``re``), and the
executors check them again before anything touches a filesystem.

* owner: letters, digits and single hyphens, at most 39 characters, not starting with a hyphen;
* name: letters, digits, ``.``, ``_`` and ``-``, at most 100 characters, neither ``.`` nor ``..``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

OWNER = r"(?=[A-Za-z0-9-]{1,39}/)[A-Za-z0-9](?:-?[A-Za-z0-9])*-?"
NAME = r"(?!\.\.?$)[A-Za-z0-9._-]{1,100}"
REPO_NAME = rf"^{OWNER}/{NAME}$"
LOGIN = r"^(?=[A-Za-z0-9-]{1,39}$)[A-Za-z0-9](?:-?[A-Za-z0-9])*-?$"

_REPO_NAME = re.compile(REPO_NAME)
_LOGIN = re.compile(LOGIN)


def is_repo_name(name: object) -> bool:
    # fullmatch-like: ``$`` also matches before a final newline, which no name may hold.
    return isinstance(name, str) and "\n" not in name and _REPO_NAME.match(name) is not None


def is_login(login: object) -> bool:
    return isinstance(login, str) and "\n" not in login and _LOGIN.match(login) is not None


# Transports a remote template may select, by URL scheme; ``user@host:path`` is ssh and an
# absolute path is file. Nothing else: no remote helpers (``ext::``, ``fd::``, ``name::``).
TRANSPORTS = ("https", "http", "git", "ssh", "file")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:")


def remote_transport(template: str) -> str:
    """The one git transport a remote URL template uses; ValueError for anything else."""
    if "::" in template:
        raise ValueError("remote helpers (`name::address`, e.g. ext::) are not allowed")
    parts = urlsplit(template.replace("{repo}", "o/n"))
    scheme = parts.scheme.lower()
    if scheme in TRANSPORTS:
        found, where = scheme, parts.path
    elif not scheme and template.startswith("/"):
        found, where = "file", template
    elif not scheme and _SCP_LIKE.match(template):
        found, where = "ssh", template.split(":", 1)[1]
    else:
        raise ValueError(f"the transport of {template!r} is not one of {', '.join(TRANSPORTS)} or a local path")
    if "{repo}" not in where.replace("o/n", "{repo}"):
        raise ValueError("{repo} must be in the path of the URL, not its scheme or host")
    return found


def url_host(url: str) -> str:
    """What a per-host limit counts: the URL's host, ``local`` for local paths."""
    if _SCP_LIKE.match(url):
        return url.split("@", 1)[1].split(":", 1)[0].lower()
    return (urlsplit(url).hostname or "local").lower()
