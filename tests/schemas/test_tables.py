from commitpack.schemas.tables import TABLES


def test_every_table_declares_keys_and_partitions_that_exist():
    for name, spec in TABLES.items():
        assert name == spec.name and spec.layer in {"bronze", "silver", "gold", "meta"}
        assert spec.keys, name
        for column in (*spec.keys, *spec.partition_by):
            assert column in spec.columns, (name, column)
        assert spec.description, name
