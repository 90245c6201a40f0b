"""MinHash band keys and the exact shingle Jaccard that verifies LSH candidates, without Spark."""

import random

import numpy as np
import pyarrow as pa
import pytest

from commitpack.jobs.runtime.config import load_settings
from commitpack.udfs.minhash import band_batches, jaccard, parameters

SETTINGS = load_settings(
    overrides=[
        "dedup.minhash.num_perm=128",
        "dedup.minhash.bands=32",
        "dedup.minhash.shingle_words=5",
        "dedup.minhash.seed=1",
    ]
).dedup.minhash
WORD_MULT = parameters(SETTINGS)[0]


def string_shingles(text, k=5):
    words = (text or "").lower().split()
    return {" ".join(words[i : i + k]) for i in range(max(len(words) - k + 1, 1))}


def texts(seed=4, n=60):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(50)]
    base = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 40))) for _ in range(n)]
    edited = [" ".join(rng.choice(vocab) if rng.random() < 0.1 else w for w in t.split()) for t in base]
    return base, edited


def test_jaccard_equals_the_exact_similarity_of_string_shingles():
    a, b = texts()
    a += ["Same Words here", None, "", "  \n\t", "one two three four five six"]
    b += ["same   words\nHERE", None, "", "", "one two three four five seven"]
    got = jaccard(pa.array(a, pa.string()), pa.array(b, pa.string()), 5, WORD_MULT)
    for x, y, value in zip(a, b, got):
        sx, sy = string_shingles(x), string_shingles(y)
        assert value == pytest.approx(len(sx & sy) / len(sx | sy)), (x, y)
    assert got[-5] == 1.0 and got[-1] == pytest.approx(1 / 3)


def keys_of(batch_texts):
    batch = pa.RecordBatch.from_arrays(
        [pa.array([str(i) for i in range(len(batch_texts))]), pa.array(batch_texts, pa.string())], ["id", "text"]
    )
    (out,) = list(band_batches(iter([batch]), SETTINGS))
    assert out.schema.names == ["id", "bands"] and out.column("id").to_pylist() == batch.column("id").to_pylist()
    return np.array(out.column("bands").to_pylist())


def test_band_keys_depend_only_on_the_text_and_differ_between_bands():
    a, _ = texts()
    alone = keys_of(a)
    among_others = keys_of(["unrelated words " * 20] + a[::-1])
    assert alone.shape == (len(a), SETTINGS.bands)
    np.testing.assert_array_equal(alone, among_others[1:][::-1])
    assert len(set(alone[0])) == SETTINGS.bands  # the band's number is part of its key


def test_similar_texts_share_bands_and_unrelated_ones_do_not():
    a, b = texts(n=200)
    x, y = keys_of(a), keys_of(b)
    similar = jaccard(pa.array(a), pa.array(b), 5, WORD_MULT)
    shared = (x == y).any(axis=1)
    assert shared[similar >= 0.8].all()
    assert not (x[:, None, :] == keys_of(["alpha beta gamma delta epsilon zeta eta theta"])[None, :, :]).any()
