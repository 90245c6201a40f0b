import gzip
import json

import pyarrow as pa

from commitpack.udfs import gharchive
from commitpack.udfs.gharchive import FileReport, LineBatch, decode_files, decode_hour


def events(n, push_every=3):
    return [
        json.dumps({"id": str(i), "type": "PushEvent" if i % push_every == 0 else "WatchEvent", "pad": "x" * (i % 50)})
        for i in range(n)
    ]


def decoded(data, **kw):
    items = list(decode_hour(data, **kw))
    lines = [(int(n), line) for b in items if isinstance(b, LineBatch) for n, line in zip(b.line_numbers, b.lines)]
    return lines, items[-1]


def test_keeps_push_lines_with_their_line_numbers_across_many_chunks(monkeypatch):
    monkeypatch.setattr(gharchive, "_CHUNK", 97)  # force lines to straddle inflate steps
    source = events(2000)
    lines, report = decoded(gzip.compress(("\n".join(source) + "\n").encode()), lines_per_batch=50)
    assert report == FileReport("complete", "", 2000, 667)
    assert lines == [(i + 1, source[i].encode()) for i in range(0, 2000, 3)]


def test_concatenated_gzip_members_and_a_final_line_without_newline():
    data = gzip.compress(b'{"type":"PushEvent","id":"a"}\n') + gzip.compress(
        b'{"type":"WatchEvent"}\n{"type":"PushEvent","id":"b"}'
    )
    lines, report = decoded(data)
    assert lines == [(1, b'{"type":"PushEvent","id":"a"}'), (3, b'{"type":"PushEvent","id":"b"}')]
    assert (report.status, report.lines) == ("complete", 3)


def test_truncated_file_keeps_the_complete_lines_before_the_cut():
    source = events(3000)
    whole = gzip.compress(("\n".join(source) + "\n").encode())
    lines, report = decoded(whole[: len(whole) // 2])
    assert report.status == "truncated" and "gzip stream ends early" in report.detail
    assert "last line incomplete" in report.detail
    assert 0 < report.lines < 3000
    # Every kept line is whole and in place; the partial last line is not among them.
    assert all(source[n - 1].encode() == line for n, line in lines)
    assert lines[-1][0] <= report.lines


def test_corrupt_and_empty_files_are_reports_not_exceptions():
    _, report = decoded(b"this is not gzip at all")
    assert report.status == "corrupt" and "incorrect header check" in report.detail
    assert decoded(b"") == ([], FileReport("complete", "", 0, 0))


def test_arrow_wrapper_emits_lines_then_one_report_row_per_file():
    good = gzip.compress(b'{"type":"PushEvent"}\n{"type":"X"}\n')
    batch = pa.RecordBatch.from_pydict({"path": ["a.json.gz", "b.json.gz"], "content": [good, good[:10]]})
    rows = [r for out in decode_files(iter([batch]), 100) for r in out.to_pylist()]
    assert rows[0] == {
        "source_file": "a.json.gz",
        "line_no": 1,
        "line": b'{"type":"PushEvent"}',
        "file_status": None,
        "file_detail": None,
        "file_lines": None,
        "file_push_lines": None,
    }
    assert rows[1]["line_no"] is None and rows[1]["file_status"] == "complete" and rows[1]["file_lines"] == 2
    assert rows[2]["source_file"] == "b.json.gz" and rows[2]["file_status"] == "truncated"
    assert len(rows) == 3


def test_local_files_are_read_by_path(tmp_path):
    data = gzip.compress(b'{"type":"PushEvent","id":"1"}\n')
    (tmp_path / "my hour.json.gz").write_bytes(data)
    uri = (tmp_path / "my hour.json.gz").as_uri().replace("file:///", "file:/")  # as Spark lists it
    rows = [r for out in decode_files(iter([pa.RecordBatch.from_pydict({"path": [uri]})]), 10) for r in out.to_pylist()]
    assert rows[0]["line"] == b'{"type":"PushEvent","id":"1"}' and rows[1]["file_status"] == "complete"
