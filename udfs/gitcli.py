"""Running the ``git`` command line for transfers, safely, and reading what went wrong.

libgit2 (pygit2) has no partial clone, so objects travel with git itself (protocol v2: blobs by
id, commit and tree history without blobs); pygit2 reads them from the local object store.

Every command is an argument list (no shell); options are never built from data (object ids go
on stdin, the remote's URL into the repository's config); git reads no configuration from the
user's home or the system, prompts for nothing, starts no credential helper, and may use only
the transport of the configured remote template (``protocol.allow``: never ``ext::`` or ``fd::``).
A token for private https remotes is handed over in an environment variable, never on a
command line, and never appears in a message.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from commitpack.schemas.names import remote_transport
from commitpack.schemas.settings import GitSettings

_OID = re.compile(r"\b[0-9a-f]{40}\b")


def redact(text: str, token: str = "") -> str:
    text = re.sub(r"(://)[^/@\s]+@", r"\1***@", text)  # credentials embedded in a URL
    return text.replace(token, "***") if token else text


@dataclass(frozen=True)
class Outcome:
    """A finished git command."""

    returncode: int
    stderr: str
    seconds: float
    # Response headers of the HTTP requests it made (lower-cased names), when traced.
    headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Git:
    """git for one remote template: the environment and the transport limits every command shares."""

    def __init__(self, settings: GitSettings, home: str):
        self.settings = settings
        self.transport = remote_transport(settings.remote_template)
        self.token = os.environ.get(settings.token_env) or ""
        os.makedirs(home, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,  # an empty home: no ~/.gitconfig, no credential store
            "LANG": "C",
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
            # A stalled body: curl gives up below 1 KB/s for this long.
            "GIT_HTTP_LOW_SPEED_LIMIT": "1000",
            "GIT_HTTP_LOW_SPEED_TIME": str(int(settings.stall_seconds)),
        }
        config = [
            ("protocol.allow", "never"),
            (f"protocol.{self.transport}.allow", "always"),
            ("credential.helper", ""),
            ("core.hooksPath", os.devnull),
            ("protocol.version", "2"),
            ("core.askPass", ""),
            ("http.followRedirects", "initial"),
        ]
        if self.token and self.transport in ("http", "https"):
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            config.append(("http.extraHeader", f"Authorization: Basic {basic}"))
        # Configuration through the environment, so that nothing of it (the token least of all)
        # is on a command line that `ps` shows.
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for i, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{i}"] = key
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        self.env = env

    def url(self, repo_name: str) -> str:
        return self.settings.remote_url(repo_name)

    def run(
        self,
        args: list[str],
        git_dir: str,
        stdin: str | None = None,
        timeout: float | None = None,
        trace_http: bool = False,
    ) -> Outcome:
        """``git --git-dir <git_dir> <args>``; never raises for git's own failures (a timeout is
        a failure too), only for a programming error."""
        env = dict(self.env)
        trace = None
        if trace_http and self.transport in ("http", "https"):
            trace = tempfile.NamedTemporaryFile(prefix="commitpack-curl-", suffix=".log", delete=False)
            trace.close()
            env.update({"GIT_TRACE_CURL": trace.name, "GIT_TRACE_CURL_NO_DATA": "1"})
        started = time.monotonic()
        try:
            done = subprocess.run(
                ["git", f"--git-dir={git_dir}", *args],
                input=stdin,
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout,
                errors="replace",
            )
            code, stderr = done.returncode, done.stderr
        except subprocess.TimeoutExpired as exc:
            code, stderr = -9, f"timed out after {timeout:.0f}s; {_text(exc.stderr)}"
        except OSError as exc:  # no git, or a full disk before it starts
            code, stderr = -1, str(exc)
        headers = _read_headers(trace.name) if trace else []
        return Outcome(code, redact(stderr, self.token), time.monotonic() - started, headers)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""


def _read_headers(path: str) -> list[dict[str, str]]:
    """Response headers per response from a GIT_TRACE_CURL log (``<= Recv header: Name: value``)."""
    responses: list[dict[str, str]] = []
    try:
        with open(path, errors="replace") as log:
            for line in log:
                _, sep, rest = line.partition("<= Recv header: ")
                if not sep:
                    continue
                rest = rest.strip()
                if rest.startswith("HTTP/"):
                    responses.append({":status": rest.split()[1] if len(rest.split()) > 1 else ""})
                elif ":" in rest and responses:
                    name, _, value = rest.partition(":")
                    responses[-1][name.strip().lower()] = value.strip()
    finally:
        os.unlink(path)
    return responses


# ----------------------------------------------------------------------------- what went wrong


@dataclass(frozen=True)
class Failure:
    """Why a transfer failed, as far as git's messages and the responses say."""

    kind: (
        str  # missing_repo | refused_by_id | objects_unavailable | server_fault | rate_limited | disk_full | transient
    )
    detail: str
    objects: tuple[str, ...] = ()  # the objects the remote named as the ones it could not produce
    retry_after: float | None = None

    @property
    def permanent(self) -> bool:
        return self.kind == "missing_repo"


# A repository that does not exist or refuses us: retrying cannot help. Only messages that say so
# about the repository itself: "object not found" and the like are about one object.
_MISSING_REPO = re.compile(
    r"repository '[^']*' not found|access denied or repository not exported|does not appear to be a git repository|"
    r"Authentication failed|could not read Username|terminal prompts disabled|"
    r"The requested URL returned error: (401|403|404|410)\b|Repository not found",
    re.I,
)
_REFUSED_BY_ID = re.compile(r"Server does not allow request for unadvertised object|not allowed: want", re.I)
_NOT_OURS = re.compile(r"not our ref ([0-9a-f]{40})")
_SERVER_FAULT = re.compile(
    r"repository corruption on the remote side|remote: fatal|unable to read [0-9a-f]{40}|"
    r"pack-objects died|upload-pack: .*(died|failed)|returned error: 5\d\d|HTTP 5\d\d",
    re.I,
)
_RATE_LIMITED = re.compile(r"returned error: 429|HTTP 429", re.I)
_DISK_FULL = re.compile(r"No space left on device|ENOSPC|Disk quota exceeded", re.I)


def classify(outcome: Outcome) -> Failure:
    text = outcome.stderr
    detail = (
        " ".join(line.strip() for line in text.strip().splitlines() if line.strip())[-600:]
        or f"git exited with {outcome.returncode}"
    )
    statuses = [r.get(":status", "") for r in outcome.headers]
    if _DISK_FULL.search(text):
        return Failure("disk_full", detail)
    if "429" in statuses or _RATE_LIMITED.search(text):
        return Failure("rate_limited", detail, retry_after=_retry_after(outcome.headers))
    not_ours = tuple(dict.fromkeys(_NOT_OURS.findall(text)))
    if not_ours:
        return Failure("objects_unavailable", detail, objects=not_ours)
    if _REFUSED_BY_ID.search(text):
        return Failure("refused_by_id", detail)
    if _SERVER_FAULT.search(text) or any(s.startswith("5") for s in statuses):
        named = tuple(
            dict.fromkeys(o for line in text.splitlines() if "unable to read" in line for o in _OID.findall(line))
        )
        return Failure("server_fault", detail, objects=named, retry_after=_retry_after(outcome.headers))
    if _MISSING_REPO.search(text):
        return Failure("missing_repo", detail)
    return Failure("transient", detail)


def _retry_after(headers: list[dict[str, str]]) -> float | None:
    """The last response's Retry-After, in seconds (delta-seconds or an HTTP date)."""
    for response in reversed(headers):
        value = response.get("retry-after")
        if not value:
            continue
        if value.strip().isdigit():
            return float(value.strip())
        try:
            from email.utils import parsedate_to_datetime

            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
    return None
