from delta.tables import DeltaTable

from commitpack.schemas.silver import REPO_LICENSES


def rows(spark, *items):
    return spark.createDataFrame([(r, "detected", lic, None, None) for r, lic in items], REPO_LICENSES.schema)


def table(lakehouse):
    return sorted((r.repo_name, r.license) for r in lakehouse.read(REPO_LICENSES).collect())


def test_sync_writes_only_the_difference(spark, lakehouse):
    assert lakehouse.sync(REPO_LICENSES, rows(spark, ("a/x", "mit"), ("b/y", "isc"))) == {
        "inserted": 2,
        "updated": 0,
        "deleted": 0,
    }
    version = DeltaTable.forPath(spark, lakehouse.path(REPO_LICENSES)).history(1).first().version
    assert lakehouse.sync(REPO_LICENSES, rows(spark, ("b/y", "isc"), ("a/x", "mit"))) == {
        "inserted": 0,
        "updated": 0,
        "deleted": 0,
    }
    assert DeltaTable.forPath(spark, lakehouse.path(REPO_LICENSES)).history(1).first().version == version
    assert lakehouse.sync(REPO_LICENSES, rows(spark, ("a/x", "apache-2.0"), ("c/z", "mit"))) == {
        "inserted": 1,
        "updated": 1,
        "deleted": 1,
    }
    assert table(lakehouse) == [("a/x", "apache-2.0"), ("c/z", "mit")]


def test_merge_inserts_new_keys_and_updates_only_when_asked(spark, lakehouse):
    lakehouse.merge(REPO_LICENSES, rows(spark, ("a/x", "mit")))
    assert lakehouse.merge(REPO_LICENSES, rows(spark, ("a/x", "isc"), ("b/y", "mit"))) == {
        "inserted": 1,
        "updated": 0,
        "deleted": 0,
    }
    assert table(lakehouse) == [("a/x", "mit"), ("b/y", "mit")]
    assert lakehouse.merge(REPO_LICENSES, rows(spark, ("a/x", "isc"), ("b/y", "mit")), update_when="changed") == {
        "inserted": 0,
        "updated": 1,
        "deleted": 0,
    }
    assert table(lakehouse) == [("a/x", "isc"), ("b/y", "mit")]
