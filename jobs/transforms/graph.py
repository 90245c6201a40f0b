"""Connected components of a graph given as an edge DataFrame.

Large-star / small-star (Kiveris et al., "Connected Components in MapReduce and Beyond",
SoCC 2014): every round links each node to the smallest node of its neighbourhood, until
nothing changes. Each component's label is its smallest node, so the result does not depend
on partitioning or on the order of the edges. A graph of at most ``DRIVER_EDGES`` edges (an
increment's links) whose nodes Python orders as Spark does is collected and solved by union-find
on the driver instead: a round costs several Spark jobs whatever the graph's size. Used for clusters of near-duplicate changes (dedup).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, IntegralType, StringType, StructField, StructType

MAX_ROUNDS = 64
DRIVER_EDGES = 200_000


def _canonical(edges: DataFrame) -> DataFrame:
    """Undirected edges as (a, b) with a < b, distinct, without self-loops."""
    return (
        edges.where(F.col("src") != F.col("dst"))
        .select(F.least("src", "dst").alias("a"), F.greatest("src", "dst").alias("b"))
        .distinct()
    )


def _large_star(edges: DataFrame) -> DataFrame:
    """Each node's larger neighbours are linked to the smallest node of its neighbourhood."""
    both = edges.select(F.col("a").alias("u"), F.col("b").alias("v")).unionByName(
        edges.select(F.col("b").alias("u"), F.col("a").alias("v"))
    )
    smallest = both.groupBy("u").agg(F.least(F.min("v"), F.first("u")).alias("m"))
    return (
        both.where(F.col("v") > F.col("u")).join(smallest, "u").select(F.col("v").alias("src"), F.col("m").alias("dst"))
    )


def _small_star(edges: DataFrame) -> DataFrame:
    """Each node's smaller neighbours are linked to the smallest of them."""
    down = edges.select(F.col("b").alias("u"), F.col("a").alias("v"))  # v < u
    smallest = down.groupBy("u").agg(F.min("v").alias("m"))
    return down.join(smallest, "u").select(
        F.when(F.col("v") == F.col("m"), F.col("u")).otherwise(F.col("v")).alias("src"), F.col("m").alias("dst")
    )


def _is_star_forest(edges: DataFrame) -> bool:
    """True when every component is a star around its smallest node, large-star/small-star's fixed
    point: no node has two smaller neighbours, and no node with a smaller neighbour has a larger one."""
    roles = edges.select(F.col("a").alias("node"), F.lit(1).alias("center"), F.lit(0).alias("leaf")).unionByName(
        edges.select(F.col("b").alias("node"), F.lit(0).alias("center"), F.lit(1).alias("leaf"))
    )
    return (
        roles.groupBy("node")
        .agg(F.max("center").alias("center"), F.sum("leaf").alias("leaf"))
        .where((F.col("leaf") > 1) | ((F.col("leaf") == 1) & (F.col("center") == 1)))
        .isEmpty()
    )


def _orders_as_spark(kind: DataType) -> bool:
    """True when Python orders collected values of ``kind`` as Spark does: integers, strings of
    the binary collation (by code point, as Spark compares their UTF-8 bytes) and structs of these
    field by field. Not collated strings (``UTF8_LCASE`` makes "A" equal "a"), binary (collected
    as bytes or, by a Spark setting, as unhashable bytearrays), arrays (lists), floats (NaN,
    -0.0) or the rest."""
    if isinstance(kind, StructType):
        return all(_orders_as_spark(field.dataType) for field in kind.fields)
    return isinstance(kind, IntegralType) or (isinstance(kind, StringType) and kind.isUTF8BinaryCollation())


def _has_null_field(value) -> bool:
    """True when a collected struct holds a null at any depth (Spark orders it first; Python
    cannot compare it)."""
    return isinstance(value, tuple) and any(part is None or _has_null_field(part) for part in value)


def _components_on_driver(edges: DataFrame, pairs: list) -> DataFrame:
    """(node, component) of the canonical ``edges``, collected as ``pairs``, by union-find, with
    the same smallest-node labels as Spark (``_orders_as_spark``)."""
    parent: dict = {}

    def root(node):
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    kind = edges.schema["a"].dataType
    schema = StructType([StructField("node", kind, False), StructField("component", kind, False)])
    return edges.sparkSession.createDataFrame([(node, root(node)) for node in parent], schema)


def connected_components(edges: DataFrame, driver_edges: int = DRIVER_EDGES) -> DataFrame:
    """``edges`` (src, dst) → (node, component) for every node that has an edge; a component is
    labelled by its smallest node. Node type: any orderable column type. Graphs of at most
    ``driver_edges`` edges are solved on the driver when Python orders their nodes as Spark does
    (``_orders_as_spark``: integers, strings, structs of these; a null field, known only once
    the nodes are collected, sends them to Spark's rounds too)."""
    current = _canonical(edges).localCheckpoint()
    if driver_edges and _orders_as_spark(current.schema["a"].dataType) and current.count() <= driver_edges:
        pairs = current.collect()
        if not any(_has_null_field(node) for pair in pairs for node in pair):
            return _components_on_driver(current, pairs)
    rounds = 0
    while not _is_star_forest(current):  # near-duplicate pairs usually are stars already
        if rounds == MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
        current = _canonical(
            _small_star(_canonical(_large_star(current)))
        ).localCheckpoint()  # keeps each round's plan short
        rounds += 1
    # At convergence every edge is (component root, member).
    roots = current.groupBy("b").agg(F.min("a").alias("component")).select(F.col("b").alias("node"), "component")
    leaders = (
        current.select(F.col("a").alias("node"))
        .distinct()
        .join(roots, "node", "left_anti")
        .select("node", F.col("node").alias("component"))
    )
    return roots.unionByName(leaders)
