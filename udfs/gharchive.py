"""Decoding GH Archive hour files on the executors.

``decode_hour`` inflates a ``.json.gz`` file (several gzip members allowed), splits it into
lines and keeps the lines that mention ``"PushEvent"``; JSON parsing happens afterwards in the
JVM with the declared schema. A truncated or corrupt gzip stream is not an exception: the lines
before the damage are kept and the file's report says what happened.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa

from commitpack.schemas.arrow import arrow_schema
from commitpack.schemas.executors import GHARCHIVE_LINES

PUSH_MARKER = b'"PushEvent"'
_CHUNK = 1 << 22  # compressed bytes inflated per step: bounds memory for any file size


@dataclass
class LineBatch:
    line_numbers: np.ndarray  # 1-based, int64
    lines: list[bytes]


@dataclass
class FileReport:
    status: str  # complete | truncated | corrupt
    detail: str
    lines: int
    push_lines: int


def _inflate(content: memoryview) -> Iterator[bytes | tuple[str, str]]:
    """Yield decompressed chunks, then one (status, detail) tuple."""
    decompressor = zlib.decompressobj(wbits=31)
    position = 0
    fed_member = False
    while position < len(content):
        chunk = content[position : position + _CHUNK]
        position += len(chunk)
        data = bytes(chunk)
        while data:
            try:
                out = decompressor.decompress(data)
            except zlib.error as exc:
                yield ("corrupt", f"gzip data corrupt near compressed byte {position - len(data)}: {exc}")
                return
            fed_member = True
            if out:
                yield out
            if decompressor.eof:
                # Another gzip member may follow (concatenated .gz files are valid gzip).
                data = decompressor.unused_data
                if data.strip(b"\x00"):
                    decompressor = zlib.decompressobj(wbits=31)
                    fed_member = False
                else:
                    data = b""
            else:
                data = b""
    if fed_member and not decompressor.eof:
        yield ("truncated", f"gzip stream ends early, after {len(content)} compressed bytes")
        return
    yield ("complete", "")


def decode_hour(
    content: bytes | memoryview, lines_per_batch: int = 20000, marker: bytes = PUSH_MARKER
) -> Iterator[LineBatch | FileReport]:
    """Yield batches of the lines that contain ``marker`` (with their 1-based numbers), then a
    ``FileReport``. The incomplete last line of a damaged file is not yielded.

    Only the lines around a marker are delimited (``bytes`` searches in C); the rest of the text
    is counted for line numbers, never split."""
    pending = b""  # the start of a line whose newline has not arrived yet
    line_base = 0  # lines completed before ``pending``
    push_lines = 0
    numbers: list[int] = []
    lines: list[bytes] = []

    def select(buffer: bytes) -> int:
        """Keep the lines of ``buffer`` (whole lines, ending in a newline) that contain the
        marker; returns how many lines the buffer holds."""
        nonlocal push_lines
        counted_to, counted = 0, 0
        hit = buffer.find(marker)
        while hit >= 0:
            start = buffer.rfind(b"\n", 0, hit) + 1
            end = buffer.find(b"\n", hit)
            counted += buffer.count(b"\n", counted_to, start)
            counted_to = start
            numbers.append(line_base + counted + 1)
            lines.append(buffer[start:end])
            push_lines += 1
            hit = buffer.find(marker, end)
        return counted + buffer.count(b"\n", counted_to)

    def flush() -> LineBatch:
        batch = LineBatch(np.asarray(numbers, dtype=np.int64), list(lines))
        numbers.clear()
        lines.clear()
        return batch

    status = ("complete", "")
    for item in _inflate(memoryview(content)):
        if isinstance(item, tuple):
            status = item
            break
        buffer = pending + item
        last = buffer.rfind(b"\n")
        if last < 0:
            pending = buffer
            continue
        pending = buffer[last + 1 :]
        line_base += select(buffer[: last + 1])
        if len(lines) >= lines_per_batch:
            yield flush()
    if status[0] == "complete" and pending:
        # A final line without a newline is still a whole line in an intact file.
        line_base += select(pending + b"\n")
        pending = b""
    if lines:
        yield flush()
    detail = status[1]
    if pending:
        detail += f"; last line incomplete after line {line_base}"
    yield FileReport(status[0], detail.strip("; "), line_base, push_lines)


DECODED_SCHEMA = arrow_schema(GHARCHIVE_LINES)


def read_local(uri: str) -> bytes:
    """The bytes of a ``file:`` URI as Spark lists it (``file:/a/b`` or ``file:///a/b``)."""
    with open(unquote(urlparse(uri).path), "rb") as handle:
        return handle.read()


def decode_files(batches: Iterator[pa.RecordBatch], lines_per_batch: int) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body over Spark's ``binaryFile`` rows (output ``GHARCHIVE_LINES``): for each
    file, its push lines, then one row with the file's report (``line_no`` null). Without a ``content`` column the files are local
    and read here, which spares a copy through the JVM."""
    for batch in batches:
        paths = batch.column("path").to_pylist()
        contents = batch.column("content") if "content" in batch.schema.names else None
        for i, path in enumerate(paths):
            if contents is None:
                content = read_local(path)
            else:
                buffer = contents[i].as_buffer()
                content = memoryview(buffer) if buffer is not None else b""
            for item in decode_hour(content, lines_per_batch):
                if isinstance(item, LineBatch):
                    n = len(item.lines)
                    yield pa.RecordBatch.from_arrays(
                        [
                            pa.array([path] * n, pa.string()),
                            pa.array(item.line_numbers, pa.int64()),
                            pa.array(item.lines, pa.large_binary()),
                            pa.nulls(n, pa.string()),
                            pa.nulls(n, pa.string()),
                            pa.nulls(n, pa.int64()),
                            pa.nulls(n, pa.int64()),
                        ],
                        schema=DECODED_SCHEMA,
                    )
                else:
                    yield pa.RecordBatch.from_arrays(
                        [
                            pa.array([path]),
                            pa.nulls(1, pa.int64()),
                            pa.nulls(1, pa.large_binary()),
                            pa.array([item.status]),
                            pa.array([item.detail]),
                            pa.array([item.lines], pa.int64()),
                            pa.array([item.push_lines], pa.int64()),
                        ],
                        schema=DECODED_SCHEMA,
                    )
