import gzip
import shutil

import pytest
from delta.tables import DeltaTable

from commitpack.jobs.runtime.errors import UsageError
from commitpack.jobs.stages import ingest_gharchive


def name(path):
    return path.rsplit("/", 1)[-1]


def test_every_push_shape_loads_with_its_source_line(indexed, sample, expected):
    lakehouse, _, _ = indexed
    rows = {r.event_id: r for r in lakehouse.read("bronze.gharchive_pushes").collect()}
    assert sorted(k for k in rows if not k.startswith("tl-")) == sorted(
        ["2", "4", "5", "11", "12", "21", "31", "101", "111", "121", "122"]
    )
    # 2015+ events: the listed commits, in the event's order.
    py = rows["2"]
    assert (py.repo_name, py.payload_format, py.size, py.source_line, name(py.source_file)) == (
        "octo/pyutils",
        "events",
        10,
        2,
        "2025-10-06-20.json.gz",
    )
    assert [c.sha for c in py.commits][0] == expected["commits"]["py-fix-pager"]["sha"]
    # "actor": {} still loads; the login is simply unknown.
    assert rows["21"].actor_login is None and rows["21"].repo_name == "octo/pyutils"
    # The push glued behind a cut line is recovered.
    assert (rows["12"].repo_name, rows["12"].source_line, len(rows["12"].commits)) == ("acme/webapp", 3, 8)
    # Since 2025-10-07: no commit list, no size.
    new = rows["101"]
    assert (new.payload_format, new.size, new.commits, new.before) == (
        "events-2025",
        None,
        None,
        expected["commits"]["new-initial"]["sha"],
    )
    assert rows["111"].before == "0" * 40 and rows["111"].ref == "refs/heads/feature/flags"
    # 2013 timeline: repository {owner, name}, actor as a login, payload.shas.
    (timeline,) = [r for k, r in rows.items() if k.startswith("tl-")]
    assert (timeline.repo_name, timeline.actor_login, timeline.payload_format, timeline.before) == (
        "gh/oldtimer",
        "oldtimer",
        "timeline",
        None,
    )
    assert [c.sha for c in timeline.commits] == [
        expected["commits"]["old-initial"]["sha"],
        expected["commits"]["old-fix"]["sha"],
    ]
    assert str(timeline.created_at) == "2013-05-01 12:10:00"


def test_damage_is_quarantined_with_file_line_and_reason(indexed):
    lakehouse, _, summaries = indexed
    rows = sorted(
        (name(r.source_file), r.source_line, r.reason) for r in lakehouse.read("bronze.gharchive_quarantine").collect()
    )
    assert rows == [
        ("2025-10-06-21.json.gz", 3, "cut_line"),
        ("2025-10-06-22.json.gz", 2, "missing_repo"),
        ("2025-10-06-23.json.gz", None, "truncated_gzip"),
        ("2025-10-07-2.json.gz", None, "missing_hour"),
    ]
    cut = lakehouse.read("bronze.gharchive_quarantine").where("reason = 'cut_line'").first()
    assert cut.excerpt.startswith('{"id":"13","type":"IssuesEvent"') and '"PushEvent"' not in cut.excerpt
    summary = summaries["ingest-gharchive"]
    assert summary.rows_in == summary.rows_out + sum(summary.dropped.values())
    assert summary.rows_out == 12
    assert summary.dropped == {"not_a_push_event": 15, "quarantine:cut_line": 1, "quarantine:missing_repo": 1}


def test_ledger_records_each_file_with_its_status(indexed):
    lakehouse, _, _ = indexed
    ledger = {name(r.source_file): r for r in lakehouse.read("bronze.gharchive_files").collect()}
    assert len(ledger) == 8
    assert ledger["2025-10-06-23.json.gz"].status == "truncated" and ledger["2025-10-06-23.json.gz"].pushes == 1
    assert ledger["2025-10-06-21.json.gz"].quarantined == 1 and ledger["2025-10-06-21.json.gz"].lines == 4
    assert str(ledger["2025-10-07-3.json.gz"].hour) == "2025-10-07 03:00:00"


def versions(lakehouse, *tables):
    return {t: DeltaTable.forPath(lakehouse.spark, lakehouse.path(t)).history(1).first().version for t in tables}


TABLES = ("bronze.gharchive_pushes", "bronze.gharchive_quarantine", "bronze.gharchive_files")


def test_reloading_changes_nothing_and_a_repaired_file_is_reloaded(spark, lakehouse, sample, tmp_path, run_stage):
    hours = tmp_path / "hours"
    shutil.copytree(sample.gharchive, hours)
    run_stage(ingest_gharchive, spark, lakehouse, input=[str(hours / "*.json.gz")])
    before = versions(lakehouse, *TABLES)
    again = run_stage(ingest_gharchive, spark, lakehouse, input=[hours.as_uri() + "/*.json.gz"])
    assert again.rows_in == 0 and again.details["files"] == "0 to load, 8 already loaded"
    assert versions(lakehouse, *TABLES) == before  # not even an empty commit

    # The truncated hour is downloaded again, whole, with a push in the part that was lost.
    truncated = hours / "2025-10-06-23.json.gz"
    lines = gzip.open(sample.gharchive / "2025-10-06-22.json.gz").read().decode().splitlines()
    repaired = lines[0].replace('"id":"21"', '"id":"99"').replace("T22:00:00Z", "T23:59:00Z")
    truncated.write_bytes(gzip.compress((repaired + "\n").encode()))
    fixed = run_stage(ingest_gharchive, spark, lakehouse, input=[str(hours / "*.json.gz")])
    assert fixed.details["files"] == "1 to load, 7 already loaded" and fixed.rows_out == 1
    pushes = lakehouse.read("bronze.gharchive_pushes")
    assert pushes.count() == 13 and pushes.where("event_id = '99'").count() == 1
    reasons = {r.reason for r in lakehouse.read("bronze.gharchive_quarantine").collect()}
    assert (
        "truncated_gzip" not in reasons
        and lakehouse.read("bronze.gharchive_files").where("status = 'truncated'").count() == 0
    )


def test_a_glob_that_matches_nothing_is_a_usage_error(spark, lakehouse, tmp_path, run_stage):
    with pytest.raises(UsageError, match="no such file or directory"):
        run_stage(ingest_gharchive, spark, lakehouse, input=[(tmp_path / "2030-01-01-*.json.gz").as_uri()])


def test_missing_hours_are_gaps_within_a_day():
    import datetime as dt

    from commitpack.jobs.stages.ingest_gharchive import file_name_hour, missing_hours

    hours = [
        file_name_hour(f"s3://gharchive/2025-10-0{d}-{h}.json.gz")
        for d, h in [(6, 20), (6, 23), (7, 0), (7, 1), (7, 3), (9, 5)]
    ]
    assert missing_hours(hours) == [
        dt.datetime(2025, 10, 6, 21),
        dt.datetime(2025, 10, 6, 22),
        dt.datetime(2025, 10, 7, 2),
    ]
    assert file_name_hour("2013-05-01-12.json.gz") == dt.datetime(2013, 5, 1, 12)
    assert file_name_hour("notes.json.gz") is None
