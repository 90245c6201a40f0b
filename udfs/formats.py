"""Training formats of a CommitPackFT row (SPEC section 6, the OctoPack paper's appendix): the
answer as a unified diff or as OctoPack's line diff, the question's old contents numbered, and a
window of context lines around the change instead of the whole file.

A line is the text up to and including its "\\n"; the last line of a file that does not end in
one has none, and both diff forms mark it as ``git diff`` does (``\\ No newline at end of file``),
so applying a diff to the old contents gives the new contents byte for byte. A window is a
view of the question only: the diffs are those of the whole files (their line numbers are the
file's own, a window starting at line 41 numbers its lines from 41), with no more context than
the window shows.

``view_frame`` is the pandas body of the export's views UDF (``transforms.views``).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

import pandas as pd

from commitpack.schemas.executors import VIEW_ANSWER

NO_NEWLINE = "\\ No newline at end of file\n"
# A line diff's line: its sign, the line number (at least 3 wide), a space, the line.
_LINE_DIFF_ENTRY = re.compile(r"([+-]) *(\d+) ")


class PatchError(ValueError):
    """A diff that does not apply to the text it was given."""


def lines(text: str) -> list[str]:
    """The lines of ``text``, each with its "\\n" (split on "\\n" only: a "\\r" stays in its line)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _changes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    # autojunk off: its popularity heuristic would give long files a worse diff than short ones.
    return SequenceMatcher(None, a, b, autojunk=False).get_opcodes()


def _marked(prefix: str, line: str) -> str:
    return prefix + line if line.endswith("\n") else prefix + line + "\n" + NO_NEWLINE


def number_lines(text: str, start: int = 1) -> str:
    """Every line prefixed with its number, 3 wide, and a space (OctoPack's line diff input)."""
    return "".join(f"{start + i:>3} {line}" for i, line in enumerate(lines(text)))


def _unified_range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return f"{start + 1}"
    return f"{start + (1 if length else 0)},{length}"


def unified_diff(old: str, new: str, old_file: str, new_file: str, context: int = 3) -> str:
    """``old`` → ``new`` as a unified diff with ``context`` lines around each change (``git apply``
    and ``patch`` read it)."""
    a, b = lines(old), lines(new)
    out = [f"--- a/{old_file}\n", f"+++ b/{new_file}\n"]
    for group in SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        out.append(f"@@ -{_unified_range(first[1], last[2])} +{_unified_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(_marked(" ", line) for line in a[i1:i2])
                continue
            out.extend(_marked("-", line) for line in a[i1:i2])
            out.extend(_marked("+", line) for line in b[j1:j2])
    return "".join(out) if len(out) > 2 else ""


def line_diff(old: str, new: str) -> str:
    """OctoPack's line diff: only the removed lines (numbered as in ``old``) and the added lines
    (numbered as in ``new``), no headers, no hunks, no context."""
    a, b = lines(old), lines(new)
    out = []
    for tag, i1, i2, j1, j2 in _changes(a, b):
        if tag == "equal":
            continue
        out.extend(_marked(f"-{i + 1:>3} ", a[i]) for i in range(i1, i2))
        out.extend(_marked(f"+{j + 1:>3} ", b[j]) for j in range(j1, j2))
    return "".join(out)


def apply_line_diff(old: str, diff: str) -> str:
    """The new text from ``old`` and its line diff: the old lines not removed keep their order and
    fill every line number no added line takes. Raises ``PatchError`` if a removed line is not
    the old text's line of that number."""
    removed: dict[int, str] = {}
    added: dict[int, str] = {}
    last: tuple[dict[int, str], int] | None = None
    for entry in lines(diff):
        if entry == NO_NEWLINE:
            if last is None:
                raise PatchError("a no-newline mark before any line")
            table, number = last
            table[number] = table[number][:-1]
            continue
        match = _LINE_DIFF_ENTRY.match(entry)
        if not match:
            raise PatchError(f"not a line diff line: {entry!r}")
        table = removed if match.group(1) == "-" else added
        number = int(match.group(2)) - 1
        text = entry[match.end() :]
        table[number] = text if text.endswith("\n") else text + "\n"
        last = (table, number)
    a = lines(old)
    for number, text in removed.items():
        if not 0 <= number < len(a) or a[number] != text:
            raise PatchError(f"line {number + 1} is not the removed line {text!r}")
    kept = iter(line for i, line in enumerate(a) if i not in removed)
    total = len(a) - len(removed) + len(added)
    try:
        return "".join(added[i] if i in added else next(kept) for i in range(total))
    except StopIteration:
        raise PatchError("added lines are numbered past the end of the new text") from None


def window(old: str, new: str, context_lines: int) -> tuple[int, str, str]:
    """(first line number, old window, new window): the changed lines of ``old`` and ``new`` with
    ``context_lines`` unchanged lines on either side. Before the first change the two files are
    equal, so both windows start at the same line."""
    a, b = lines(old), lines(new)
    changed = [op for op in _changes(a, b) if op[0] != "equal"]
    if not changed:
        return 1, old, new
    first, last = changed[0], changed[-1]
    begin = max(first[1] - context_lines, 0)
    a_end = min(last[2] + context_lines, len(a))
    b_end = last[4] + (a_end - last[2])
    return begin + 1, "".join(a[begin:a_end]), "".join(b[begin:b_end])


def view_answer(
    old: str, new: str, old_file: str, new_file: str, answer: str, context_lines: int | None, diff_context: int
) -> tuple[int, str, str]:
    """(first line number, the old contents the question shows, the answer) of one row; ``answer``
    is ``full``, ``unified-diff`` or ``line-diff`` (whose question numbers its lines);
    ``context_lines`` None shows the whole file."""
    if answer == "unified-diff" and context_lines is not None:
        # The hunks' context comes from the window, so they show nothing the question did not; at
        # least one line, as `git apply` reads zero-context hunks only when told to.
        context_lines = max(context_lines, 1)
        diff_context = min(diff_context, context_lines)
    start, shown_old, shown_new = (1, old, new) if context_lines is None else window(old, new, context_lines)
    if answer == "full":
        return start, shown_old, shown_new
    if answer == "unified-diff":
        return start, shown_old, unified_diff(old, new, old_file, new_file, diff_context)
    return start, number_lines(shown_old, start), line_diff(old, new)


def view_frame(
    old: pd.Series,
    new: pd.Series,
    old_file: pd.Series,
    new_file: pd.Series,
    context_lines: pd.Series,
    answer: str,
    diff_context: int,
) -> pd.DataFrame:
    """pandas_udf body: (question, answer) per row (``schemas.executors.VIEW_ANSWER``)."""
    rows = [
        view_answer(o or "", n or "", of, nf, answer, None if pd.isna(k) else int(k), diff_context)[1:]
        for o, n, of, nf, k in zip(old.tolist(), new.tolist(), old_file.tolist(), new_file.tolist(), context_lines)
    ]
    return pd.DataFrame(rows, columns=["question", "answer"], dtype=object)


def answer_udf(answer: str, diff_context: int):
    """(old_contents, new_contents, old_file, new_file, context lines or null) →
    ``VIEW_ANSWER``, as a vectorized Spark UDF."""
    from pyspark.sql import functions as F

    @F.pandas_udf(VIEW_ANSWER)
    def answered(old, new, old_file, new_file, context_lines):
        return view_frame(old, new, old_file, new_file, context_lines, answer, diff_context)

    return answered
