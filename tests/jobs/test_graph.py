import random

import pytest

from commitpack.jobs.transforms import graph
from commitpack.jobs.transforms.graph import connected_components


def reference(edges):
    """Each node's smallest reachable node, by a search from every node not yet reached (another
    algorithm than either of the module's)."""
    neighbours = {}
    for a, b in edges:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    labels = {}
    for start in neighbours:
        if start in labels:
            continue
        reached, frontier = {start}, [start]
        while frontier:
            frontier = [n for node in frontier for n in neighbours[node] if n not in reached]
            reached.update(frontier)
        labels.update(dict.fromkeys(reached, min(reached)))
    return labels


def graphs():
    rng = random.Random(3)
    chain = [(i, i + 1) for i in range(40)]
    reversed_chain = [(i + 1, i) for i in range(40)]
    star = [(0, i) for i in range(1, 30)]
    cycles = [(i, (i + 1) % 10) for i in range(10)] + [(100 + i, 100 + (i + 1) % 7) for i in range(7)]
    sparse = [(rng.randrange(300), rng.randrange(300)) for _ in range(250)]
    with_loops = [(5, 5), (5, 6), (7, 7)]
    return {
        "chain": chain,
        "reversed_chain": reversed_chain,
        "star": star,
        "cycles": cycles,
        "sparse": sparse,
        "self_loops_only_count_with_an_edge": with_loops,
    }


# On the driver (the default for graphs this small), and in Spark's rounds (none on the driver).
PATHS = {"driver": {}, "spark": {"driver_edges": 0}}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("name", list(graphs()))
def test_components_match_union_find(spark, name, path):
    edges = graphs()[name]
    frame = spark.createDataFrame(edges, "src long, dst long")
    got = {r.node: r.component for r in connected_components(frame, **PATHS[path]).collect()}
    expected = {n: c for n, c in reference([e for e in edges if e[0] != e[1]]).items()}
    assert got == expected


@pytest.mark.parametrize("path", list(PATHS))
def test_string_nodes_and_partitioning_do_not_change_labels(spark, path):
    edges = [("octo/b", "octo/a"), ("octo/c", "octo/b"), ("zed/x", "acme/y")]
    one = spark.createDataFrame(edges, "src string, dst string").coalesce(1)
    many = spark.createDataFrame(edges * 3, "src string, dst string").repartition(7)
    label = lambda df: sorted((r.node, r.component) for r in connected_components(df, **PATHS[path]).collect())  # noqa: E731
    assert (
        label(one)
        == label(many)
        == [("acme/y", "acme/y"), ("octo/a", "octo/a"), ("octo/b", "octo/a"), ("octo/c", "octo/a"), ("zed/x", "acme/y")]
    )


def test_struct_nodes_get_the_same_labels_on_the_driver_as_in_spark(spark):
    """Nodes as dedup builds them, (kind, id) structs with ids whose code points sort differently
    from UTF-16 units (an astral character against one just below the surrogates)."""
    ids = ["b", "a", "\ufb01x", "\U0001f600y", "\u00e9", "c"]
    edges = [((i % 2, ids[i]), (j % 3, ids[j])) for i, j in [(0, 1), (2, 3), (3, 4), (5, 5), (1, 5)]]
    frame = spark.createDataFrame(edges, "src struct<kind:int,id:string>, dst struct<kind:int,id:string>")
    on_driver, in_spark = (
        sorted((tuple(r.node), tuple(r.component)) for r in connected_components(frame, **options).collect())
        for options in PATHS.values()
    )
    b, fi, smile, e = (0, "b"), (0, ids[2]), (0, ids[3]), (1, ids[4])
    assert (
        on_driver
        == in_spark
        == [(b, b), (fi, fi), (smile, fi), ((1, "a"), b), ((1, "c"), b), (e, e), ((1, ids[3]), e), ((2, "c"), b)]
    )


@pytest.mark.parametrize(
    "kind, edges, labels",
    [
        ("binary", [(b"\xff", b"a"), (b"a", b"\x00"), (b"q", b"r")], [b"\x00", b"q"]),
        (
            "struct<kind:int,id:string>",
            [((0, None), (0, "a")), ((0, "a"), (1, "b")), ((2, "x"), (1, None))],
            [(0, None), (1, None)],  # Spark orders a null field first
        ),
    ],
    ids=["binary", "struct-with-null"],
)
def test_nodes_python_orders_differently_from_spark_get_spark_labels(spark, kind, edges, labels, monkeypatch):
    """Binary nodes (collected as bytes or, by a Spark setting, unhashable bytearrays) and structs holding nulls (which Spark
    orders first and Python cannot compare) are not solved on the driver: small as the graph is,
    the labels are Spark's smallest nodes."""

    def plain(value):
        return bytes(value) if isinstance(value, (bytes, bytearray)) else tuple(value)

    def labelled(**options):
        return sorted(
            ((plain(r.node), plain(r.component)) for r in graph.connected_components(frame, **options).collect()),
            key=repr,
        )

    frame = spark.createDataFrame(edges, f"src {kind}, dst {kind}")
    in_spark = labelled(**PATHS["spark"])
    monkeypatch.setattr(graph, "_components_on_driver", lambda *_: pytest.fail("solved on the driver"))
    assert labelled() == in_spark
    assert sorted({component for _, component in in_spark}, key=repr) == sorted(labels, key=repr)
