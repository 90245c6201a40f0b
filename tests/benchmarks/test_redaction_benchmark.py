"""PII and secrets: commitpack's scan (udfs.secrets) vs. detect-secrets scanning the same texts,
both in this one process.

The texts are real code: the files of Python's standard library, in name order, up to 6 MB (x
COMMITPACK_BENCH_SCALE), with the planted secrets (jobs/sample/planted.py) inserted in every
tenth file. commitpack runs the same detect-secrets plugins (redact.plugins) over each whole
text and its email and IP patterns too; detect-secrets scans each text's file with those
plugins and its default filters (the files are written before either clock starts). Both
sides' findings of the planted secrets are counted.
"""

from __future__ import annotations

import random
import sysconfig
import time
from pathlib import Path

import pytest

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.sample.planted import planted_set
from commitpack.udfs import secrets

pytestmark = pytest.mark.benchmark


def corpus(limit_bytes: int) -> list[tuple[str, str]]:
    """(file name, text) of standard library files with the planted cases inserted."""
    rng = random.Random(14)
    planted = [c for c in planted_set() if c.secrets]
    texts, total = [], 0
    for i, path in enumerate(sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if i % 10 == 0:
            lines = text.splitlines(keepends=True)
            at = rng.randint(0, len(lines))
            text = "".join(lines[:at]) + planted[(i // 10) % len(planted)].text + "".join(lines[at:])
        texts.append((path.name, text))
        total += len(text.encode())
        if total >= limit_bytes:
            break
    return texts


def test_scan_vs_detect_secrets(tmp_path, report, bench_scale):
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import transient_settings

    section = load_settings().redact
    texts = corpus(int(6_000_000 * bench_scale))
    size = sum(len(t.encode()) for _, t in texts)
    paths = []
    for i, (name, text) in enumerate(texts):
        path = tmp_path / str(i) / name
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    secrets.find("warm up: AKIA0000000000000000 me@acme-corp.io", "x.py", section.plugins, section.allow_email_domains)

    start = time.perf_counter()
    ours = [secrets.find(text, name, section.plugins, section.allow_email_domains) for name, text in texts]
    ours_s = time.perf_counter() - start

    with transient_settings({"plugins_used": [{"name": name} for name in section.plugins]}):
        start = time.perf_counter()
        theirs = [list(scan_file(path)) for path in paths]
        theirs_s = time.perf_counter() - start

    planted_values = {value for c in planted_set() for _, value in c.secrets}
    ours_planted = {
        text[f.start : f.end]
        for (_, text), found in zip(texts, ours)
        for f in found
        if text[f.start : f.end] in planted_values
    }
    theirs_planted = {s.secret_value for found in theirs for s in found if s.secret_value in planted_values}
    mb = size / 1e6
    report(
        "PII and secrets scan",
        [
            ("texts", f"{len(texts):,} files of Python's standard library, {mb:.1f} MB, planted cases in every tenth"),
            ("commitpack (udfs.secrets)", f"{ours_s:.2f} s, {mb / ours_s:.2f} MB/s, {sum(map(len, ours)):,} findings"),
            (
                "detect-secrets scan_file",
                f"{theirs_s:.2f} s, {mb / theirs_s:.2f} MB/s, {sum(map(len, theirs)):,} findings",
            ),
            ("planted values found", f"commitpack {len(ours_planted)}, detect-secrets {len(theirs_planted)}"),
            ("ratio", f"{theirs_s / ours_s:.1f}x detect-secrets' throughput"),
        ],
    )
    assert theirs_s / ours_s >= 2
