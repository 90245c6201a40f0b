"""Data-quality checks on real Delta tables: what passes, what fails critically, what only warns,
and what a run leaves behind (JSON results, Data Docs), through the CLI as well."""

import json
import shutil
import sys
from pathlib import Path

import pytest
from pyspark.sql.types import StructField, StructType

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.errors import JobError
from commitpack.jobs.runtime.quality import DataQuality, written_by
from commitpack.jobs.runtime.report import StageSummary
from commitpack.schemas.expectations import declared_values, expectations
from commitpack.schemas.gold import COMMITPACK, COMMITPACKFT, COMMITPACKFT_FUNNEL
from commitpack.schemas.silver import COMMIT_INDEX
from commitpack.schemas.tables import TABLES
from commitpack.schemas.vocabulary import FETCH_STATUSES

SHA = "0123456789abcdef0123456789abcdef"


def config(*overrides):
    return load_settings(overrides=["opt_out.owners=[optout]", "languages.allow=[python, go]", *overrides])


def index_row(n, **changes):
    row = {f: None for f in COMMIT_INDEX.columns}
    row.update(
        commit=f"{SHA}{n:08d}",
        repo="octo/pyutils",
        license="mit",
        license_source="bigquery",
        old_path="a.py",
        new_path="a.py",
        lang="python",
        repos=["octo/pyutils", "octo/fork"],
    )
    return {**row, **changes}


def commitpack_row(n, **changes):
    row = {f: None for f in COMMITPACK.columns}
    row.update(
        commit=f"{SHA}{n:08d}",
        lang="go",
        status="ok",
        repo="acme/web",
        repos="acme/web,acme/web-fork",
        license="apache-2.0",
        old_file="main.go",
        new_file="main.go",
        old_contents="package a\n",
        new_contents="package b\n",
        diff="-package a\n+package b\n",
        old_size=10,
        new_size=10,
    )
    return {**row, **changes}


def write(spark, lakehouse, spec, rows, enforce=True):
    """Rows into the table's Delta location: through the Lakehouse (NOT NULL enforced), or as an
    external writer would, without the declared constraints."""
    schema = spec.schema if enforce else StructType([StructField(f.name, f.dataType, True) for f in spec.schema.fields])
    frame = spark.createDataFrame([[row.get(c) for c in spec.columns] for row in rows], schema)
    if enforce:
        lakehouse.replace(spec, frame)
    else:
        frame.write.format("delta").save(lakehouse.path(spec))


def check(lakehouse, spec, cfg=None, run_id="run-1"):
    quality = DataQuality(cfg or config(), lakehouse, run_id)
    report = quality.validate([spec])
    quality.publish()
    return report


def test_a_clean_table_passes_and_leaves_json_results_and_data_docs(spark, lakehouse):
    write(spark, lakehouse, COMMIT_INDEX, [index_row(i) for i in range(3)])
    report = check(lakehouse, COMMIT_INDEX)
    report.raise_for_critical()
    assert report.failures == []
    [table] = report.tables
    assert table.table == "silver.commit_index" and table.expectations == len(expectations(COMMIT_INDEX, config()))
    out = Path(lakehouse.root) / "_quality" / "run-1"
    assert table.results == str(out / "results" / "silver.commit_index.json")
    results = json.loads(Path(table.results).read_text())
    assert results["success"] is True and results["suite_name"] == "silver.commit_index"
    assert results["statistics"]["evaluated_expectations"] == table.expectations
    assert report.docs == str(out / "docs" / "index.html")
    index = Path(report.docs).read_text()
    assert "silver.commit_index" in index
    pages = list((out / "docs" / "validations" / "silver" / "commit_index").rglob("*.html"))
    assert pages and "license is in licenses.allow" in pages[0].read_text()


def test_a_validated_table_is_left_out_of_sparks_cache(spark, lakehouse):
    """A cached read would answer the process's later reads of the table with the rows from
    before another run's commits (two overlapping runs: one's index missed the other's pushes)."""
    from pyspark import StorageLevel

    write(spark, lakehouse, COMMIT_INDEX, [index_row(1), index_row(1, repo="octo/other")])
    report = check(lakehouse, COMMIT_INDEX)
    assert report.failures  # the failed expectation's details were read too
    assert lakehouse.read(COMMIT_INDEX).storageLevel == StorageLevel.NONE


@pytest.mark.parametrize(
    "spec, rows, enforce, expectation, description, example",
    [
        (
            COMMIT_INDEX,
            [index_row(1), index_row(1, repo="octo/other")],
            True,
            "expect_column_values_to_be_unique(column=commit)",
            "commit is unique (the table's key)",
            f"'{SHA}00000001'",
        ),
        (
            COMMITPACKFT_FUNNEL,
            [
                dict(step=None, reason=None, lang="go", rows=3, bytes=9),
                dict(step="filter", reason=None, lang="go", rows=1, bytes=2),
                dict(step=None, reason=None, lang="go", rows=1, bytes=2),
            ],
            True,
            "expect_compound_columns_to_be_unique(column_list=['step', 'reason', 'lang'])",
            "(step, reason, lang) is unique (the table's key)",
            "'step': None, 'reason': None, 'lang': 'go'",
        ),
        (
            COMMIT_INDEX,
            [index_row(1), index_row(2, lang=None)],
            False,
            "expect_column_values_to_not_be_null(column=lang)",
            "lang is never null (declared NOT NULL)",
            "None",
        ),
        (
            COMMIT_INDEX,
            [index_row(1), index_row(2, license="gpl-3.0")],
            True,
            "expect_column_values_to_match_regex(column=license)",
            "license is in licenses.allow",
            "'gpl-3.0'",
        ),
        (
            COMMIT_INDEX,
            [index_row(1), index_row(2, repos=["acme/x", "OptOut/private"])],
            True,
            "unexpected_rows_expectation()",
            "no repository in repos belongs to an owner in opt_out.owners (optout)",
            "OptOut/private",
        ),
        (
            COMMITPACK,
            [commitpack_row(1), commitpack_row(2, repo="optout/private", repos="acme/web")],
            True,
            "expect_column_values_to_not_match_regex(column=repo)",
            "repo belongs to no owner in opt_out.owners (optout)",
            "'optout/private'",
        ),
        (
            COMMITPACK,
            [commitpack_row(1), commitpack_row(2, lang="cobol")],
            True,
            "expect_column_values_to_be_in_set(column=lang)",
            "lang is in languages.allow (python, go)",
            "'cobol'",
        ),
        (
            COMMITPACK,
            [commitpack_row(1, new_size=2_000_000), commitpack_row(2, status="too_large", new_size=3_000_000)],
            True,
            "expect_column_values_to_be_between(column=new_size, where status == 'ok')",
            "new_size of a row with status ok is within fetch.max_blob_bytes",
            "2000000",
        ),
        (
            COMMITPACK,
            [commitpack_row(1, status="lost")],
            True,
            "expect_column_values_to_be_in_set(column=status)",
            "status is one of the declared values: ok, binary",
            "'lost'",
        ),
    ],
)
def test_a_broken_table_fails_critically_naming_the_expectation(
    spark, lakehouse, spec, rows, enforce, expectation, description, example
):
    write(spark, lakehouse, spec, rows, enforce)
    report = check(lakehouse, spec)
    with pytest.raises(JobError) as failed:
        report.raise_for_critical()
    message = str(failed.value)
    lines = message.splitlines()
    assert lines[0].startswith("data quality: 1 critical expectation(s) failed (report ") and report.docs in lines[0]
    [line] = lines[1:]
    assert line.startswith(f"  {spec.name}: {description}")
    assert expectation in line and example in line
    assert any(f"of {n} rows unexpected" in line for n in (1, 2, 3)) or "observed 1" in line


def test_a_warning_is_reported_without_failing(spark, lakehouse):
    write(
        spark,
        lakehouse,
        COMMITPACK,
        [commitpack_row(1), commitpack_row(2, status="fetch_failed", old_contents=None, new_contents=None, diff=None)],
    )
    report = check(lakehouse, COMMITPACK)
    report.raise_for_critical()
    [warning] = report.warnings
    assert warning.severity == "warning" and "no row waits for a retried fetch" in warning.description
    assert warning.observed == "1 of 2 rows unexpected" and warning.examples == ("'fetch_failed'",)
    summary = StageSummary("fetch")
    report.annotate(summary)
    assert (
        "1 table(s)" in summary.details["quality"]
        and "0 critical failure(s), 1 warning(s)" in summary.details["quality"]
    )
    assert summary.details["quality warnings"].startswith("gold.commitpack: no row waits for a retried fetch")


def test_commitpackft_new_contents_must_not_be_empty(spark, lakehouse):
    row = {c: None for c in COMMITPACKFT.columns}
    row.update(
        commit=SHA,
        lang="python",
        old_file="a.py",
        new_file="a.py",
        new_contents="",
        subject="Fix the pager",
        license="mit",
        repos="octo/pyutils",
        cluster=SHA,
        cluster_size=1,
    )
    write(spark, lakehouse, COMMITPACKFT, [row])
    with pytest.raises(JobError, match=r"gold.commitpackft: new_contents is not empty \[expect_column_value_lengths"):
        check(lakehouse, COMMITPACKFT).raise_for_critical()


def test_a_remote_output_is_written_through_hadoop_filesystem(spark, lakehouse, tmp_path):
    write(spark, lakehouse, COMMIT_INDEX, [index_row(1)])
    report = check(lakehouse, COMMIT_INDEX, config(f"quality.output=file://{tmp_path}/remote"), run_id="run-2")
    assert report.docs == f"file://{tmp_path}/remote/run-2/docs/index.html"
    assert (tmp_path / "remote" / "run-2" / "docs" / "index.html").is_file()
    assert json.loads((tmp_path / "remote" / "run-2" / "results" / "silver.commit_index.json").read_text())["success"]


def test_every_table_gets_a_suite_over_its_own_columns(spark):
    cfg = config()
    for spec in TABLES.values():
        suite = expectations(spec, cfg)
        assert any(
            e.expectation_type in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
            for e in suite
        ), spec.name
        for e in suite:
            kwargs = e.configuration.kwargs
            for column in [kwargs.get("column"), *(kwargs.get("column_list") or [])]:
                assert column is None or column in spec.columns, (spec.name, e.expectation_type, column)
            assert e.description and e.severity in ("critical", "warning"), (spec.name, e)
    # Every stage that writes a table has its tables validated.
    assert {t.name for t in written_by("index")} >= {"silver.commit_index", "silver.index_rejections"}
    # The status doc of gold.commitpack is the set fetch writes.
    assert declared_values(COMMITPACK.schema["status"]) == FETCH_STATUSES


def _copy(lakehouse, target: Path) -> Path:
    shutil.copytree(lakehouse.root, target)
    return target


def test_run_job_validates_what_each_stage_wrote(fetched, tmp_path, capsys):
    """`commitpack fetch` through the CLI on the fetched sample: nothing left to fetch, gold.commitpack
    validated; then with an owner opted out after the fact, the same run fails and says why."""
    from commitpack.jobs.cli import main

    lakehouse, cfg, _ = fetched
    root = _copy(lakehouse, tmp_path / "lakehouse")
    common = [
        "--lakehouse",
        str(root),
        "--set",
        f"git.remote_template={cfg.git.remote_template}",
        "--set",
        f"git.cache_dir={cfg.git.cache_dir}",
    ]
    assert main([*common, "fetch"]) == 0
    out = capsys.readouterr().out
    assert "    quality: 1 table(s)" in out and "0 critical failure(s)" in out
    [run] = list((root / "_quality").iterdir())
    assert json.loads((run / "results" / "gold.commitpack.json").read_text())["success"] is not None
    assert (run / "docs" / "index.html").is_file()

    assert main([*common, "--set", "opt_out.owners=[Octo]", "fetch"]) == 1
    err = capsys.readouterr().err
    assert "commitpack fetch: error: data quality: 2 critical expectation(s) failed" in err
    assert "gold.commitpack: repo belongs to no owner in opt_out.owners (Octo)" in err and "'octo/pyutils" in err
    stage_runs = lakehouse.spark.read.format("delta").load(str(root / "meta" / "stage_runs"))
    recorded = [r.details["quality"] for r in stage_runs.where("stage = 'fetch'").collect()]
    assert len(recorded) == 2 and any("2 critical failure(s)" in q for q in recorded)


def test_an_expectation_that_cannot_be_evaluated_fails_saying_why(spark, lakehouse):
    """A table written before a column was declared: the check says which column is missing."""
    row = commitpack_row(1)
    spark.createDataFrame([[row[c] for c in COMMITPACK.columns]], COMMITPACK.schema).drop("new_size").write.format(
        "delta"
    ).save(lakehouse.path(COMMITPACK))
    with pytest.raises(JobError, match=r'new_size .*could not be evaluated: .*column "new_size" .*does not exist'):
        check(lakehouse, COMMITPACK).raise_for_critical()


def test_checks_without_great_expectations_installed_stop_before_the_stage_in_one_line(
    spark, tmp_path, monkeypatch, capsys
):
    """The check comes before the stage runs (index would otherwise say there are no bronze commits)."""
    from commitpack.jobs.cli import main

    monkeypatch.setitem(sys.modules, "great_expectations", None)  # as if not installed
    assert main(["--lakehouse", str(tmp_path / "lakehouse"), "index"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "commitpack index: error: data-quality checks need great-expectations: pip install "
        "'commitpack[quality]' (or turn the checks off with --set quality.enabled=false)\n"
    )
