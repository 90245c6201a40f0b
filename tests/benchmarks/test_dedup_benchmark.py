"""Near-duplicate detection: commitpack's MinHash LSH on Spark vs. datasketch's MinHashLSH in one
process, on the same 100k documents, with precision and recall against exact Jaccard.

Documents are change texts (a subject and changed code lines); a fifth of them are planted
variants of others with 0–15% of their words replaced, so their Jaccard similarity to the
original spreads across the threshold. Both sides use 128 permutations, 5-word shingles and
threshold 0.7. The labelled set is every planted (variant, original) pair plus as many random
pairs; a pair is a duplicate when its exact shingle Jaccard is >= 0.7. commitpack predicts a
pair when both documents fall in one cluster (LSH candidates verified by exact shingle
Jaccard); datasketch when one is among the other's LSH query results. Spark is warmed up on
a tenth as many other documents first.
"""

import random
import time
from dataclasses import replace

import pytest

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.stages.dedup import near_edges
from commitpack.jobs.transforms.graph import connected_components

pytestmark = pytest.mark.benchmark
THRESHOLD = 0.7
VOCAB = [
    f"{stem}{i}"
    for stem in ("value", "item", "self.", "return", "handler", "config", "(", ")", "if", "for")
    for i in range(400)
]


def corpus(n: int, seed: int = 7):
    rng = random.Random(seed)
    docs, planted = [], []
    for i in range(n):
        if i >= 100 and rng.random() < 0.2:
            source = rng.randrange(i)
            edit = rng.uniform(0.0, 0.15)
            text = " ".join(rng.choice(VOCAB) if rng.random() < edit else w for w in docs[source].split())
            planted.append((i, source))
        else:
            text = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(40, 160)))
        docs.append(text)
    return docs, planted


def shingles(text: str, k: int = 5) -> set:
    w = text.lower().split()
    return {" ".join(w[i : i + k]) for i in range(max(len(w) - k + 1, 1))}


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def datasketch_pairs(docs, num_perm: int):
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=num_perm)
    hashes = []
    for i, text in enumerate(docs):
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([s.encode() for s in shingles(text)])
        lsh.insert(i, m)
        hashes.append(m)
    return {i: set(lsh.query(m)) for i, m in enumerate(hashes)}


def test_minhash_dedup_vs_datasketch(spark, report, bench_scale):
    n = int(100_000 * bench_scale)
    docs, planted = corpus(n)
    rng = random.Random(11)
    labelled = planted + [(rng.randrange(n), rng.randrange(n)) for _ in planted]
    truth = {pair: jaccard(docs[pair[0]], docs[pair[1]]) >= THRESHOLD for pair in labelled}

    settings = replace(
        load_settings().dedup.minhash, num_perm=128, bands=32, shingle_words=5, seed=1, threshold=THRESHOLD
    )

    def spark_clusters(texts):
        frame = spark.createDataFrame([(f"{i:07d}", t) for i, t in enumerate(texts)], "id string, text string")
        frame = frame.repartition(8).localCheckpoint()
        frame.count()
        start = time.perf_counter()
        clusters = connected_components(near_edges(frame, settings).localCheckpoint())
        return {int(r.node): r.component for r in clusters.collect()}, time.perf_counter() - start

    spark_clusters(corpus(n // 10, seed=8)[0])  # warms the JVM and the Python workers on other documents
    component, spark_seconds = spark_clusters(docs)

    start = time.perf_counter()
    candidates = datasketch_pairs(docs, 128)
    sketch_seconds = time.perf_counter() - start

    def score(predicted):
        tp = sum(1 for p in labelled if predicted(p) and truth[p])
        fp = sum(1 for p in labelled if predicted(p) and not truth[p])
        fn = sum(1 for p in labelled if not predicted(p) and truth[p])
        return tp / max(tp + fp, 1), tp / max(tp + fn, 1)

    ours = score(lambda p: component.get(p[0], p[0]) == component.get(p[1], p[1]) or p[0] == p[1])
    theirs = score(lambda p: p[1] in candidates[p[0]])
    report(
        "MinHash LSH dedup",
        [
            (
                "documents",
                f"{n:,} ({len(planted):,} planted variants; labelled pairs {len(labelled):,}, "
                f"{sum(truth.values()):,} with Jaccard >= {THRESHOLD})",
            ),
            (
                "commitpack (Spark local[2])",
                f"{spark_seconds:.1f} s  {n / spark_seconds:,.0f} docs/s  precision {ours[0]:.3f} recall {ours[1]:.3f}",
            ),
            (
                "datasketch (1 process)",
                f"{sketch_seconds:.1f} s  {n / sketch_seconds:,.0f} docs/s  "
                f"precision {theirs[0]:.3f} recall {theirs[1]:.3f}",
            ),
            ("ratio", f"{sketch_seconds / spark_seconds:.2f}x faster (goal >= 2x; P and R goal >= 0.95)"),
        ],
    )
    assert ours[0] >= 0.95 and ours[1] >= 0.95
