"""Exact and near-duplicate changes: planted cherry-picks and vendored copies are found,
distinct commits to one file survive, and the survivors do not depend on the partitioning."""

from __future__ import annotations

import datetime as dt
import difflib

import pytest
from pyspark.sql import functions as F

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.stages import dedup

MODULE = "".join(
    f"def handler_{i}(request):\n    value = request.args.get('v{i}', {i})\n    return render(value * {i})\n\n"
    for i in range(30)
)
FEATURE = (
    'def paginate(items, page, size=20):\n    """One page of items, with whether more pages follow."""\n'
    "    if page < 1:\n        raise ValueError('pages are numbered from one')\n"
    "    start = (page - 1) * size\n    chunk = items[start:start + size]\n"
    "    more = start + size < len(items)\n    total = (len(items) + size - 1) // size\n"
    "    return {'items': chunk, 'page': page, 'more': more, 'pages': total}\n\n\n"
    'def page_links(page, total):\n    """Links to the previous and next pages, when they exist."""\n'
    "    previous = page - 1 if page > 1 else None\n    following = page + 1 if page < total else None\n"
    "    return {'previous': previous, 'next': following}\n\n"
)


def unified(old: str, new: str, path: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


def change(commit, subject, old, new, path="app/views.py", minute=0):
    return {
        "commit": commit,
        "subject": subject,
        "old_contents": old,
        "new_contents": new,
        "diff": unified(old, new, path),
        "committed_at": dt.datetime(2024, 1, 1, 12, minute),
    }


def planted():
    edited = MODULE.replace("handler_3(request)", "handler_3(request, strict=False)")
    other = MODULE.replace("render(value * 20)", "render(value * 21)")
    fork = "# fork header\n" + MODULE
    rows = [
        change("a" * 40, "Add pagination helper for list views", MODULE, MODULE + FEATURE, minute=1),
        # Cherry-pick onto a fork whose file differs elsewhere: the same changed lines and subject.
        change("b" * 40, "Add pagination helper for list views", fork, fork + FEATURE, minute=5),
        # Vendored copy: the same file before and after, under another path.
        change(
            "c" * 40,
            "Vendor the pagination helper for list views",
            MODULE,
            MODULE + FEATURE,
            "vendor/app/views.py",
            minute=9,
        ),
        # A cherry-pick with a tweak and a reworded subject: a near duplicate.
        change(
            "d" * 40,
            "Add a pagination helper for the list views",
            other,
            other + FEATURE.replace("size=20", "size=25"),
            minute=7,
        ),
        # Successive distinct commits to the same file: most contents shared, different changes.
        change("e" * 40, "Allow a strict mode in the third handler", MODULE + FEATURE, edited + FEATURE, minute=20),
        change(
            "f" * 40,
            "Multiply the twentieth handler by one more",
            edited + FEATURE,
            edited.replace("value * 20", "value * 21") + FEATURE,
            minute=30,
        ),
    ]
    return rows


def found(spark, rows, partitions, *overrides):
    df = spark.createDataFrame(
        rows,
        "commit string, subject string, old_contents string, new_contents string, diff string, committed_at timestamp",
    ).repartition(partitions)
    return {
        r.commit: (r.cluster, r.cluster_size, r.dedup_reason)
        for r in dedup.deduplicate(df, load_settings(overrides=list(overrides)).dedup).collect()
    }


def test_cherry_picks_and_vendored_copies_are_found_and_distinct_commits_survive(spark):
    got = found(spark, planted(), 3)
    a, b, c, d, e, f = (ch * 40 for ch in "abcdef")
    assert got[a] == (a, 4, None)  # the earliest of its cluster is kept
    assert got[b] == (a, 4, "exact_duplicate")
    assert got[c] == (a, 4, "exact_duplicate")
    assert got[d] == (a, 4, "near_duplicate")
    assert got[e] == (e, 1, None) and got[f] == (f, 1, None)


def test_the_survivors_do_not_depend_on_partitioning_or_order(spark):
    rows = planted()
    assert found(spark, rows, 1) == found(spark, rows[::-1], 7)


def test_near_duplicates_need_minhash_and_exact_ones_do_not(spark):
    a, d = "a" * 40, "d" * 40
    got = found(spark, planted(), 2, "dedup.near=false")
    assert got[d] == (d, 1, None) and got["b" * 40][2] == "exact_duplicate"
    got = found(spark, planted(), 2, "dedup.exact=false")
    # The cherry-pick is a near duplicate as well; the vendored copy (same change, another subject) too.
    assert got[d][2] == "near_duplicate" and got["b" * 40][2] == "near_duplicate" and got[a][2] is None


@pytest.mark.parametrize(
    "diff,lines",
    [
        ("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n keep\n-old\n+new\n", "-old\n+new"),
        ("--- a/x.sql\n+++ b/x.sql\n@@ -1 +1 @@\n--- a comment\n+--- the comment\n", "--- a comment\n+--- the comment"),
        ("Binary files differ\n", ""),
    ],
)
def test_changed_lines_drop_headers_and_context(spark, diff, lines):
    got = spark.createDataFrame([(diff,)], "d string").select(dedup.changed_lines(F.col("d")).alias("c")).first().c
    assert got == lines
