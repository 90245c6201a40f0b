import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql.pandas.types import to_arrow_schema

from commitpack.jobs.runtime.errors import UsageError
from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.sample.bigquery import as_json_export, bigquery_commit_row
from commitpack.jobs.stages import ingest_bigquery
from commitpack.schemas import sources

COLUMNS = [
    "commit",
    "tree",
    "parent",
    "author",
    "committer",
    "subject",
    "message",
    "difference",
    "difference_truncated",
    "repo_name",
    "encoding",
]


@pytest.fixture(scope="module")
def export_rows(sample):
    import pygit2

    repo = pygit2.Repository(str(sample.remotes / "acme/webapp.git"))
    return [
        bigquery_commit_row(repo, c.sha, ["acme/webapp"]) for c in sample.commits.values() if c.repo == "acme/webapp"
    ]


def old_shape(row):
    """An older export: author.date / committer.date as a plain TIMESTAMP."""
    out = json.loads(json.dumps(row))
    for who in ("author", "committer"):
        out[who]["date"] = dt.datetime.fromtimestamp(out[who]["date"]["seconds"], dt.timezone.utc)
    return out


def bronze_rows(spark, tmp_path, fmt_dir, run_stage, licenses):
    lakehouse = Lakehouse(spark, str(tmp_path / f"lh-{fmt_dir.name}"))
    summary = run_stage(ingest_bigquery, spark, lakehouse, commits=str(fmt_dir), licenses=str(licenses), languages=None)
    rows = lakehouse.read("bronze.bq_commits").select(*COLUMNS).orderBy("commit").collect()
    return lakehouse, summary, rows


@pytest.fixture(scope="module")
def licenses(sample):
    return sample.bigquery / "licenses"


def test_json_parquet_and_avro_exports_load_to_identical_rows(spark, tmp_path, export_rows, licenses, run_stage):
    # JSON: INT64 as strings, dates as {seconds, nanos} records (written the way BigQuery does).
    json_dir = tmp_path / "json"
    json_dir.mkdir()
    (json_dir / "commits-000000000000.json").write_text(
        "\n".join(json.dumps(as_json_export(r)) for r in export_rows[:4]) + "\n"
    )
    (json_dir / "commits-000000000001.json").write_text(
        "\n".join(json.dumps(as_json_export(r)) for r in export_rows[4:]) + "\n"
    )
    # JSON of an older export: the date is a TIMESTAMP string.
    old_json = tmp_path / "oldjson"
    old_json.mkdir()
    (old_json / "commits-000000000000.json").write_text(
        "\n".join(
            json.dumps(
                as_json_export(
                    {
                        **r,
                        "author": {**r["author"], "date": f"{old_shape(r)['author']['date']:%Y-%m-%d %H:%M:%S} UTC"},
                        "committer": {
                            **r["committer"],
                            "date": f"{old_shape(r)['committer']['date']:%Y-%m-%d %H:%M:%S.%f} UTC",
                        },
                    }
                )
            )
            for r in export_rows
        )
        + "\n"
    )
    # Parquet keeps INT64 types and the {seconds, nanos} record.
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    pq.write_table(
        pa.Table.from_pylist(export_rows, schema=to_arrow_schema(sources.BQ_COMMITS)),
        parquet_dir / "commits-000000000000.parquet",
    )
    # Avro, from an older export (TIMESTAMP dates), written by Spark's Avro writer.
    avro_dir = tmp_path / "avro"
    spark.createDataFrame([old_shape(r) for r in export_rows], sources.BQ_COMMITS_OLD).coalesce(2).write.format(
        "avro"
    ).save(str(avro_dir))

    results = {
        d.name: bronze_rows(spark, tmp_path, d, run_stage, licenses)
        for d in (json_dir, old_json, parquet_dir, avro_dir)
    }
    reference = results["json"][2]
    assert len(reference) == len(export_rows) == 9
    for fmt, (_, summary, rows) in results.items():
        assert rows == reference, fmt
        assert summary.details["commits"].startswith(f"{2 if fmt in ('json', 'avro') else 1} ")
    first = reference[0]
    source = next(r for r in export_rows if r["commit"] == first.commit)
    assert first.author.time_sec == source["author"]["time_sec"]  # "1759777260" became a number
    assert first.author.date == dt.datetime.fromtimestamp(source["author"]["time_sec"], dt.timezone.utc).replace(
        tzinfo=None
    )
    assert first.difference[0].new_mode == source["difference"][0]["new_mode"]


def test_reloading_is_idempotent_and_duplicates_collapse(spark, tmp_path, export_rows, licenses, run_stage):
    export = tmp_path / "dup"
    export.mkdir()
    lines = [json.dumps(as_json_export(r)) for r in export_rows]
    (export / "commits-000000000000.json").write_text("\n".join(lines) + "\n")
    (export / "commits-000000000001.json").write_text(lines[0] + "\n" + json.dumps({"tree": "x"}) + "\n")
    lakehouse, first, _ = bronze_rows(spark, tmp_path, export, run_stage, licenses)
    license_rows = lakehouse.read("bronze.bq_licenses").count()
    assert first.rows_in == 11 + license_rows and first.rows_out == 9 + license_rows
    assert first.dropped == {"commits:no_commit": 1, "commits:duplicate_commit": 1}
    again = run_stage(ingest_bigquery, spark, lakehouse, commits=str(export), licenses=str(licenses), languages=None)
    assert again.details["commits"] == "2 json files, 0 new rows, 0 updated"
    assert again.details["licenses"] == "1 parquet files, 0 new rows, 0 updated"
    assert lakehouse.read("bronze.bq_commits").count() == 9


def test_wrong_exports_are_named_usage_errors(spark, tmp_path, licenses, run_stage, lakehouse):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.json").write_text("{}\n")
    (mixed / "b.parquet").write_bytes(b"")
    with pytest.raises(UsageError, match="one export must be in one format"):
        run_stage(ingest_bigquery, spark, lakehouse, commits=str(mixed), licenses=str(licenses), languages=None)
    with pytest.raises(UsageError, match="--commits: not a github_repos export for bronze.bq_commits"):
        run_stage(ingest_bigquery, spark, lakehouse, commits=str(licenses), licenses=str(licenses), languages=None)
