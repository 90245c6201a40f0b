import subprocess
from dataclasses import replace

import pytest

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.sample.repos import GITLINK, SYMLINK, RepoBuilder, Sample
from commitpack.udfs.contents import decode, read_change
from commitpack.udfs.gitrepo import change_list

SETTINGS = replace(load_settings().fetch, max_blob_bytes=10_000)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    sample = Sample(tmp_path_factory.mktemp("contents"))
    b = RepoBuilder(sample, "t/faults")
    b.commit(
        "base",
        "Start",
        {
            "a.py": "x = 1\n",
            "notes.txt": "plain\n",
            "data.bin": b"\x00\x01",
            "big.json": "[]",
            "link.py": b"a.py",
            "vendor/lib": "1" * 40,
        },
        modes={"link.py": SYMLINK, "vendor/lib": GITLINK},
    )
    b.commit("text", "Change a", {"a.py": "x = 2\ny = 3\n"})
    b.commit("latin1", "Accent", {"notes.txt": "Caf\xe9 cr\xe8me\n".encode("latin-1")})
    b.commit("binary", "Bin", {"data.bin": b"\x00\x02\x03"})
    b.commit("big", "Big", {"big.json": "[" + "1," * 20000 + "1]"})
    b.commit("link", "Link", {"link.py": b"notes.txt"}, modes={"link.py": SYMLINK})
    b.commit("gitlink", "Bump vendored lib", {"vendor/lib": "2" * 40}, modes={"vendor/lib": GITLINK})
    return sample, b.repo


def row(repo, sample, key, **overrides):
    commit = repo[sample.sha(key)]
    (change,), _ = change_list(repo, commit)
    base = {"commit": str(commit.id), **change}
    return {**base, **overrides}


def cat_file(repo, blob):
    return subprocess.run(
        ["git", "--git-dir", repo.path, "cat-file", "blob", blob], capture_output=True, check=True
    ).stdout


def test_text_change_is_byte_exact_with_its_diff(repo):
    sample, r = repo
    out = read_change(r, row(r, sample, "text"), SETTINGS)
    assert out["status"] == "ok"
    assert out["old_contents"].encode(out["old_encoding"]) == cat_file(r, out["old_blob"]) == b"x = 1\n"
    assert out["new_contents"].encode(out["new_encoding"]) == cat_file(r, out["new_blob"])
    assert (out["lines_added"], out["lines_removed"], out["hunks"]) == (2, 1, 1)
    assert out["diff"].startswith("diff --git a/a.py b/a.py") and "+y = 3\n" in out["diff"]
    assert out["old_size"] == 6


def test_non_utf8_falls_back_to_latin1_and_stays_exact(repo):
    sample, r = repo
    out = read_change(r, row(r, sample, "latin1"), SETTINGS)
    assert (out["status"], out["old_encoding"], out["new_encoding"]) == ("ok", "utf-8", "latin-1")
    assert out["new_contents"] == "Caf\xe9 cr\xe8me\n"
    assert out["new_contents"].encode("latin-1") == cat_file(r, out["new_blob"])


@pytest.mark.parametrize(
    "key, status", [("binary", "binary"), ("big", "too_large"), ("link", "symlink"), ("gitlink", "submodule")]
)
def test_faults_are_statuses_without_contents(repo, key, status):
    sample, r = repo
    out = read_change(r, row(r, sample, key), SETTINGS)
    assert out["status"] == status
    assert "old_contents" not in out and "diff" not in out
    if status == "too_large":
        assert out["new_size"] > SETTINGS.max_blob_bytes and "over 10000 bytes" in out["detail"]


def test_missing_blob_and_lookup_by_path(repo):
    sample, r = repo
    assert read_change(r, row(r, sample, "text", new_blob="ab" * 20), SETTINGS)["status"] == "blob_missing"
    by_path = read_change(r, row(r, sample, "text", old_blob=None, new_blob=None), SETTINGS)
    assert by_path["status"] == "ok" and by_path["new_contents"] == "x = 2\ny = 3\n"
    assert by_path["new_blob"] == row(r, sample, "text")["new_blob"]


def test_decode_is_lossless_for_any_bytes():
    every_byte = bytes(range(256))
    text, encoding = decode(every_byte, "utf-8")
    assert encoding == "latin-1" and text.encode(encoding) == every_byte
    assert decode("héllo".encode(), "utf-8") == ("héllo", "utf-8")
    assert decode(b"x", "no-such-codec")[1] == "latin-1"
