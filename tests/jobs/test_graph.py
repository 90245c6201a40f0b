import random

import pytest

from commitpack.jobs.transforms.graph import connected_components


def reference(edges):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    nodes = {n for e in edges for n in e}
    groups = {}
    for n in nodes:
        groups.setdefault(find(n), []).append(n)
    return {n: min(members) for members in groups.values() for n in members}


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


@pytest.mark.parametrize("name", list(graphs()))
def test_components_match_union_find(spark, name):
    edges = graphs()[name]
    got = {
        r.node: r.component for r in connected_components(spark.createDataFrame(edges, "src long, dst long")).collect()
    }
    expected = {n: c for n, c in reference([e for e in edges if e[0] != e[1]]).items()}
    assert got == expected


def test_string_nodes_and_partitioning_do_not_change_labels(spark):
    edges = [("octo/b", "octo/a"), ("octo/c", "octo/b"), ("zed/x", "acme/y")]
    one = spark.createDataFrame(edges, "src string, dst string").coalesce(1)
    many = spark.createDataFrame(edges * 3, "src string, dst string").repartition(7)
    label = lambda df: sorted((r.node, r.component) for r in connected_components(df).collect())  # noqa: E731
    assert (
        label(one)
        == label(many)
        == [("acme/y", "acme/y"), ("octo/a", "octo/a"), ("octo/b", "octo/a"), ("octo/c", "octo/a"), ("zed/x", "acme/y")]
    )
