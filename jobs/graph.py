"""Connected components of a graph given as an edge DataFrame, without collecting it.

Large-star / small-star (Kiveris et al., "Connected Components in MapReduce and Beyond",
SoCC 2014): every round links each node to the smallest node of its neighbourhood, until
nothing changes. Each component's label is its smallest node, so the result does not depend
on partitioning or on the order of the edges. Used for fork networks (fetch) and for clusters
of near-duplicate changes (dedup).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

MAX_ROUNDS = 64


def _canonical(edges: DataFrame) -> DataFrame:
    """Undirected edges as (a, b) with a < b, distinct, without self-loops."""
    return (edges.where(F.col("src") != F.col("dst"))
            .select(F.least("src", "dst").alias("a"), F.greatest("src", "dst").alias("b")).distinct())


def _large_star(edges: DataFrame) -> DataFrame:
    """Each node's larger neighbours are linked to the smallest node of its neighbourhood."""
    both = edges.select(F.col("a").alias("u"), F.col("b").alias("v")).unionByName(
        edges.select(F.col("b").alias("u"), F.col("a").alias("v")))
    smallest = both.groupBy("u").agg(F.least(F.min("v"), F.first("u")).alias("m"))
    return (both.where(F.col("v") > F.col("u")).join(smallest, "u")
            .select(F.col("v").alias("src"), F.col("m").alias("dst")))


def _small_star(edges: DataFrame) -> DataFrame:
    """Each node's smaller neighbours are linked to the smallest of them."""
    down = edges.select(F.col("b").alias("u"), F.col("a").alias("v"))  # v < u
    smallest = down.groupBy("u").agg(F.min("v").alias("m"))
    return (down.join(smallest, "u")
            .select(F.when(F.col("v") == F.col("m"), F.col("u")).otherwise(F.col("v")).alias("src"),
                    F.col("m").alias("dst")))


def connected_components(edges: DataFrame, checkpoint_every: int = 1) -> DataFrame:
    """``edges`` (src, dst) → (node, component) for every node that has an edge; a component is
    labelled by its smallest node. Node type: any orderable column type."""
    current = _canonical(edges).localCheckpoint()
    for round_number in range(MAX_ROUNDS):
        updated = _canonical(_small_star(_canonical(_large_star(current))))
        if round_number % checkpoint_every == 0:
            updated = updated.localCheckpoint()  # keeps each round's plan short
        if updated.exceptAll(current).isEmpty() and current.exceptAll(updated).isEmpty():
            current = updated
            break
        current = updated
    else:
        raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    # At convergence every edge is (component root, member).
    roots = current.groupBy("b").agg(F.min("a").alias("component")).select(F.col("b").alias("node"), "component")
    leaders = current.select(F.col("a").alias("node")).distinct().join(roots, "node", "left_anti") \
        .select("node", F.col("node").alias("component"))
    return roots.unionByName(leaders)
