"""Reading commits, trees and the license file with pygit2 from what the transfers brought: a
store with commits and trees and no blobs, as the index leaves it."""

import pygit2
import pytest

from commitpack.udfs.gitrepo import branch_heads, change_list, decode_message, has, license_at, push_commits


@pytest.fixture
def newstyle(blobless):
    """gh/newstyle's commits and trees, no blobs."""
    return blobless("gh/newstyle")


def test_a_blobless_store_holds_commits_and_trees_but_no_blob(blobless, expected):
    repo = blobless("octo/pyutils")
    head = expected["commits"]["py-big"]["sha"]
    assert has(repo, head) and branch_heads(repo)["refs/heads/main"] == head
    blob = repo[head].tree["pyutils/pager.py"].id
    assert not has(repo, str(blob))  # what fetch transfers by id later


def test_push_commits_uses_a_complete_list_and_walks_an_incomplete_one(newstyle, expected):
    c = expected["commits"]
    routes = [c[f"new-route-{i}"]["sha"] for i in range(25)]
    listed = push_commits(newstyle, "refs/heads/main", c["new-initial"]["sha"], routes[-1], routes[-2:], 2, 100)
    assert (listed.status, listed.shas) == ("ok", routes[-2:])
    walked = push_commits(newstyle, "refs/heads/main", c["new-initial"]["sha"], routes[-1], routes[-20:], 25, 100)
    assert walked.status == "ok" and sorted(walked.shas) == sorted(routes)
    cut = push_commits(newstyle, "refs/heads/main", c["new-initial"]["sha"], routes[-1], None, None, 5)
    assert cut.status == "walk_truncated" and cut.shas == routes[::-1][:5]


def test_a_new_branch_brings_only_what_no_other_branch_reaches(newstyle, expected):
    c = expected["commits"]
    features = [c[f"new-feature-{i}"]["sha"] for i in range(3)]
    branch = push_commits(newstyle, "refs/heads/feature/flags", "0" * 40, features[-1], None, None, 100)
    assert branch.status == "ok" and sorted(branch.shas) == sorted(features)
    gone = push_commits(newstyle, "refs/heads/main", features[0], "feed" * 10, None, None, 100)
    assert gone.status == "head_missing"


def test_change_list_detects_renames_as_bigquery_does_from_trees_alone(blobless, expected):
    repo = blobless("octo/pyutils")
    c = expected["commits"]
    (rename,), total = change_list(repo, repo[c["py-rename"]["sha"]])
    assert total == 1 and (rename["old_path"], rename["new_path"]) == ("pyutils/strings.py", "pyutils/text.py")
    (deleted,), _ = change_list(repo, repo[c["py-delete"]["sha"]])
    assert (deleted["old_path"], deleted["new_path"], deleted["new_blob"]) == ("pyutils/legacy.py", None, None)
    root, total = change_list(repo, repo[c["py-initial"]["sha"]], limit=2)
    assert total == 6 and len(root) == 2 and all(ch["old_path"] is None for ch in root)
    (single,), _ = change_list(repo, repo[c["py-fix-pager"]["sha"]])
    assert (
        single["old_path"] == single["new_path"] == "pyutils/pager.py"
        and single["old_mode"] == single["new_mode"] == 0o100644
    )
    assert str(repo[c["py-fix-pager"]["sha"]].tree["pyutils/pager.py"].id) == single["new_blob"]


def test_license_file_at_the_head(sample, expected):  # the remotes hold every blob
    pyutils = pygit2.Repository(str(sample.remotes / "octo/pyutils.git"))
    assert license_at(pyutils, expected["commits"]["py-big"]["sha"]) == ("mit", "LICENSE")
    secret = pygit2.Repository(str(sample.remotes / "noreply/secret.git"))
    assert license_at(secret, expected["commits"]["secret-fix"]["sha"]) == (None, None)


def test_messages_decode_by_declared_encoding_then_utf8_then_latin1(tmp_path):
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    sig = pygit2.Signature("a", "a@example.com", 0, 0)
    tree = repo.TreeBuilder().write()
    latin = repo[repo.create_commit(None, sig, sig, "Caf\xe9 au lait", tree, [], "iso-8859-1")]
    assert decode_message(latin) == "Caf\xe9 au lait"
    raw = repo.odb.write(
        pygit2.enums.ObjectType.COMMIT,
        f"tree {tree}\nauthor a <a@x> 0 +0000\ncommitter a <a@x> 0 +0000\n\nCaf\xe9 sans encodage\n".encode("latin-1"),
    )
    assert decode_message(repo[raw]) == "Caf\xe9 sans encodage\n"
