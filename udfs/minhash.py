"""MinHash LSH band keys of changes, vectorized over a whole Arrow batch, and the exact shingle
Jaccard similarity that verifies the candidates LSH proposes.

A document is lower-cased and split on whitespace into words by Arrow, a batch at a time; its
shingles are the runs of ``shingle_words`` words (a shorter document is one shingle). Each
distinct word of the batch is hashed once by pandas' C hashing; a shingle's hash combines its
words' hashes with fixed odd multipliers; each of the ``num_perm`` permutations is a
multiply-shift hash of that (universal, all in uint64 arithmetic), and the signature is the
per-document minimum, taken with ``np.minimum.reduceat`` over every document of the batch in
one call. A band key hashes one band's rows of the signature together with the band's number,
so keys of different bands never meet. Everything is seeded, so a key depends only on the text.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from commitpack.schemas.settings import MinHashSettings

# Cells of the (num_perm x shingles) matrix per numpy call: 8 MB, small enough to stay in cache
# (measured 4x faster than one large matrix).
CHUNK_CELLS = 1 << 20


def parameters(settings: MinHashSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The seeded multipliers: per shingle word, per permutation (a and b), per band row."""
    rng = np.random.default_rng(settings.seed)
    word_mult = rng.integers(1, 2**63, size=settings.shingle_words, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    perm_a = rng.integers(1, 2**63, size=settings.num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    perm_b = rng.integers(0, 2**63, size=settings.num_perm, dtype=np.uint64)
    band_mult = rng.integers(1, 2**63, size=settings.rows_per_band, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    return word_mult, perm_a, perm_b, band_mult


def word_hashes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Every text's words (lower-cased, split on whitespace; a null text has none), hashed and
    concatenated, and each text's word count. Arrow splits the whole batch in C++, and pandas
    hashes each distinct word once."""
    split = pc.utf8_split_whitespace(pc.utf8_lower(texts))
    # Arrow keeps an empty word where a text starts or ends with whitespace (or is empty).
    words = pc.list_flatten(split)
    present = pc.greater(pc.binary_length(words), 0)
    flat = words.filter(present)
    counts = np.bincount(pc.list_parent_indices(split).filter(present).to_numpy(), minlength=len(texts)).astype(
        np.int64
    )
    if len(flat) == 0:
        return np.zeros(0, np.uint64), counts
    encoded = pc.dictionary_encode(flat)
    distinct = pd.util.hash_array(encoded.dictionary.to_numpy(zero_copy_only=False).astype(object))
    return distinct[encoded.indices.to_numpy()], counts


def shingle_hashes(texts: pa.Array, shingle_words: int, word_mult: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All texts' shingle hashes, concatenated, and each text's start offset in them."""
    hashed, counts = word_hashes(texts)
    word_starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    # A document of n words has max(n - k + 1, 1) shingles (an empty one has a single empty shingle).
    shingles = np.maximum(counts - shingle_words + 1, 1)
    starts = np.concatenate(([0], np.cumsum(shingles)[:-1]))
    # Index of each shingle's first word, and how many words it covers.
    first = np.repeat(word_starts, shingles) + (np.arange(shingles.sum()) - np.repeat(starts, shingles))
    width = np.repeat(np.minimum(counts, shingle_words), shingles)
    padded = np.concatenate((hashed, np.zeros(shingle_words, np.uint64)))
    out = np.zeros(len(first), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(shingle_words):
            out += np.where(j < width, padded[first + j], np.uint64(0)) * word_mult[j]
    return out, starts


def signatures(texts: pa.Array, settings: MinHashSettings, params=None) -> np.ndarray:
    """(documents x num_perm) uint32 MinHash signatures."""
    word_mult, perm_a, perm_b, _ = params or parameters(settings)
    hashes, starts = shingle_hashes(texts, settings.shingle_words, word_mult)
    out = np.empty((len(texts), settings.num_perm), dtype=np.uint32)
    per_chunk = max(CHUNK_CELLS // settings.num_perm, 1)
    bounds = np.append(starts, len(hashes))
    buffer = np.empty((settings.num_perm, per_chunk), dtype=np.uint64)
    doc = 0
    while doc < len(texts):
        # Whole documents per chunk, at least one (a longer document gets a buffer of its own).
        last = max(int(np.searchsorted(bounds, bounds[doc] + per_chunk, side="right")) - 1, doc + 1)
        lo, hi = bounds[doc], bounds[last]
        permuted = buffer[:, : hi - lo] if hi - lo <= per_chunk else np.empty((settings.num_perm, hi - lo), np.uint64)
        with np.errstate(over="ignore"):
            np.multiply(perm_a[:, None], hashes[None, lo:hi], out=permuted)
            permuted += perm_b[:, None]
        # The minimum's high half is the minimum of the high halves: shift after reducing.
        out[doc:last] = (np.minimum.reduceat(permuted, starts[doc:last] - lo, axis=1) >> np.uint64(32)).T
        doc = last
    return out


def band_keys(sigs: np.ndarray, settings: MinHashSettings, band_mult: np.ndarray) -> np.ndarray:
    """(documents x bands) int64 keys: a hash of each band's rows of the signature and of the band."""
    rows = settings.rows_per_band
    grouped = sigs.astype(np.uint64).reshape(len(sigs), settings.bands, rows)
    band_salt = np.arange(1, settings.bands + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        keys = (grouped * band_mult[None, None, :]).sum(axis=2, dtype=np.uint64) + band_salt[None, :]
    return keys.view(np.int64)


def band_batches(batches: Iterator[pa.RecordBatch], settings: MinHashSettings) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: (id, text) → ``MINHASH_BANDS`` (id, bands), the keys built in one flat buffer."""
    params = parameters(settings)
    for batch in batches:
        keys = band_keys(signatures(batch.column("text"), settings, params), settings, params[3])
        offsets = pa.array(np.arange(0, keys.size + 1, settings.bands, dtype=np.int32))
        bands = pa.ListArray.from_arrays(offsets, pa.array(keys.reshape(-1)))
        yield pa.RecordBatch.from_arrays([batch.column("id"), bands], ["id", "bands"])


def jaccard(texts_a: pa.Array, texts_b: pa.Array, shingle_words: int, word_mult: np.ndarray) -> np.ndarray:
    """Exact Jaccard similarity of the shingle sets of each pair (texts_a[i], texts_b[i])."""
    hashes, starts = shingle_hashes(pa.concat_arrays([texts_a, texts_b]), shingle_words, word_mult)
    bounds = np.append(starts, len(hashes)).tolist()
    n = len(texts_a)
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        a = set(hashes[bounds[i] : bounds[i + 1]].tolist())
        b = set(hashes[bounds[n + i] : bounds[n + i + 1]].tolist())
        out[i] = len(a & b) / len(a | b)
    return out


def jaccard_series(texts_a: pd.Series, texts_b: pd.Series, settings: MinHashSettings) -> pd.Series:
    """pandas_udf body: exact shingle Jaccard of each pair."""
    return pd.Series(
        jaccard(
            pa.array(texts_a, pa.string()),
            pa.array(texts_b, pa.string()),
            settings.shingle_words,
            parameters(settings)[0],
        )
    )


def jaccard_udf(settings: MinHashSettings):
    """(text a, text b) → their exact shingle Jaccard similarity, as a vectorized Spark UDF."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType

    @F.pandas_udf(DoubleType())
    def similarity(a, b):
        return jaccard_series(a, b, settings)

    return similarity
