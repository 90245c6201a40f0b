"""Training formats: OctoPack's line diff, unified diffs that `git apply` takes, windows."""

from __future__ import annotations

import random
import subprocess

import pytest

from commitpack.udfs import formats

OLD = "def area(r):\n    return 3.14 * r * r\n\n\ndef main():\n    print(area(2))\n"
NEW = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n\n\ndef main():\n    print(area(2))\n"


def git_apply(tmp_path, old: str, diff: str, name: str = "x.txt") -> str:
    """``diff`` applied to ``old`` by `git apply` (outside any repository, as `patch` would)."""
    path = tmp_path / name
    path.write_bytes(old.encode())
    done = subprocess.run(["git", "apply", "-"], input=diff.encode(), cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return path.read_bytes().decode()


def edits(seed: int, count: int):
    """(old, new) pairs with every kind of change: inserts, deletes, replacements, CRLF lines,
    blank lines, files with and without a final newline, changes at both ends."""
    rng = random.Random(seed)
    words = ["a", "b", "    x = 1", "return y", "", "\r", "}"]
    for _ in range(count):
        old = "".join(rng.choice(words) + rng.choice(["\n", "\n", "\r\n"]) for _ in range(rng.randint(0, 25)))
        if rng.random() < 0.3:
            old = old.rstrip("\n")
        new = formats.lines(old)
        for _ in range(rng.randint(1, 4)):
            at = rng.randint(0, len(new))
            kind = rng.random()
            if kind < 0.4:
                new.insert(at, rng.choice(["added\n", "z = 2\n"]))
            elif kind < 0.7 and new:
                new.pop(min(at, len(new) - 1))
            elif new:
                new[min(at, len(new) - 1)] = "changed\n"
        if rng.random() < 0.2:
            new.append("tail without newline")
        if "".join(new) != old:
            yield old, "".join(new)


def test_the_line_diff_is_octopacks_numbered_minus_plus_lines():
    assert formats.number_lines("a\nb") == "  1 a\n  2 b"
    assert formats.line_diff(OLD, NEW) == (
        "+  1 import math\n+  2 \n+  3 \n-  2     return 3.14 * r * r\n+  5     return math.pi * r * r\n"
    )
    assert formats.apply_line_diff(OLD, formats.line_diff(OLD, NEW)) == NEW


def test_a_missing_final_newline_is_marked_and_restored(tmp_path):
    old, new = "a\nb", "a\nb\n"
    assert formats.line_diff(old, new) == "-  2 b\n\\ No newline at end of file\n+  2 b\n"
    assert formats.apply_line_diff(old, formats.line_diff(old, new)) == new
    assert git_apply(tmp_path, old, formats.unified_diff(old, new, "x.txt", "x.txt")) == new


@pytest.mark.parametrize("context_lines", [None, 0, 1, 2, 5])
def test_every_diff_applied_to_the_old_contents_gives_the_new(tmp_path, context_lines):
    for old, new in edits(context_lines or 7, 60):
        _, _, line_answer = formats.view_answer(old, new, "x.txt", "x.txt", "line-diff", context_lines, 3)
        assert formats.apply_line_diff(old, line_answer) == new
        _, shown, unified = formats.view_answer(old, new, "x.txt", "x.txt", "unified-diff", context_lines, 3)
        assert git_apply(tmp_path, old, unified) == new
        # The hunks show no line the question did not.
        shown_lines = {line.rstrip("\n") for line in formats.lines(shown)}
        assert all(line[1:].rstrip("\n") in shown_lines for line in formats.lines(unified)[2:] if line[0] in " -")


def test_a_window_shows_the_change_with_its_context_and_the_files_numbers():
    old = "".join(f"line {i}\n" for i in range(1, 41))
    new = old.replace("line 20\n", "line twenty\n")
    start, shown, answer = formats.view_answer(old, new, "f", "f", "line-diff", 2, 3)
    assert start == 18
    assert shown == " 18 line 18\n 19 line 19\n 20 line 20\n 21 line 21\n 22 line 22\n"
    assert answer == "- 20 line 20\n+ 20 line twenty\n"
    start, shown_old, shown_new = formats.view_answer(old, new, "f", "f", "full", 2, 3)
    assert shown_new == "line 18\nline 19\nline twenty\nline 21\nline 22\n" and shown_new in new


def test_a_line_diff_that_does_not_match_the_old_text_is_refused():
    with pytest.raises(formats.PatchError):
        formats.apply_line_diff(OLD, "-  2     return 2 * r\n+  2     return r\n")
