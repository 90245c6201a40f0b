"""The sample the demo and the tests run on, generated on the spot: real git repositories, GH
Archive hours and a BigQuery export in their real formats pointing at them, and for every commit
what the pipeline must decide (``expected.json``).

* ``repos``: the repository builder; ``scenario``: the repositories, hours and export, as data;
* ``gharchive`` and ``bigquery``: the writers of the two formats.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from commitpack.jobs.sample.repos import Sample
from commitpack.jobs.sample.scenario import OPT_OUT_OWNER, build_bigquery, build_gharchive, build_repositories

__all__ = ["OPT_OUT_OWNER", "Sample", "build_sample"]


def build_sample(root: str | Path) -> Sample:
    """(Re)create the sample under ``root``; the same files and commit ids every time."""
    root = Path(root)
    for part in ("remotes", "gharchive", "bigquery"):
        shutil.rmtree(root / part, ignore_errors=True)
    sample = Sample(root)
    repos = build_repositories(sample)
    build_gharchive(sample, repos)
    build_bigquery(sample, repos)
    expected = {
        "commits": {
            k: {
                "repo": v.repo,
                "sha": v.sha,
                "expect": v.expect,
                "lang": v.lang,
                "ft": v.ft,
                "fetch": v.fetch,
                "redactions": v.redactions,
                "secrets": list(v.secrets),
            }
            for k, v in sample.commits.items()
        },
        "push_status": sample.push_status,
    }
    (root / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True))
    return sample
