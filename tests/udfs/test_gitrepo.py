import time
from dataclasses import replace

import pygit2
import pytest

from commitpack.jobs.runtime.config import load_settings
from commitpack.udfs.gitrepo import Mirror, change_list, decode_message, license_at, push_commits

GIT = load_settings().git


@pytest.fixture
def settings(tmp_path, git_daemon):
    return replace(
        GIT, mirror_dir=str(tmp_path / "mirrors"), remote_template=git_daemon, retries=2, backoff_seconds=0.2
    )


def test_fetch_over_git_protocol_then_reuse_the_cache(settings, expected):
    mirror = Mirror(settings, "octo/pyutils")
    head = expected["commits"]["py-big"]["sha"]
    assert not mirror.has(head)
    assert mirror.ensure([head]).status == "ok"
    assert mirror.has(head) and mirror.branch_heads()["refs/heads/main"] == head
    # Another stage, another run: the objects are there, no network.
    again = Mirror(settings, "octo/pyutils")
    assert again.ensure([head]).status == "cached"


def test_a_missing_repository_is_not_retried(settings):
    outcome = Mirror(settings, "nobody/nothing").ensure(["a" * 40])
    assert outcome.status == "repo_unavailable" and outcome.attempts == 1


def test_an_unreachable_remote_is_retried_with_backoff(tmp_path):
    settings = replace(
        GIT, mirror_dir=str(tmp_path), remote_template="git://127.0.0.1:9/{repo}.git", retries=3, backoff_seconds=0.2
    )
    started = time.monotonic()
    outcome = Mirror(settings, "octo/pyutils").fetch()
    assert outcome.status == "fetch_failed" and outcome.attempts == 3
    assert time.monotonic() - started >= 0.2 + 0.4  # backoff doubles between attempts


def test_the_time_budget_stops_a_repository(tmp_path, git_daemon):
    settings = replace(GIT, mirror_dir=str(tmp_path), remote_template=git_daemon, repo_time_budget_seconds=0)
    assert Mirror(settings, "octo/pyutils").fetch().status == "budget_exceeded"


def test_credentials_never_reach_an_error_message(tmp_path, monkeypatch):
    monkeypatch.setenv("COMMITPACK_GIT_TOKEN", "ghp_secret_token_value")
    settings = replace(
        GIT,
        mirror_dir=str(tmp_path),
        retries=1,
        remote_template="http://user:ghp_secret_token_value@127.0.0.1:9/{repo}.git",
    )
    outcome = Mirror(settings, "octo/pyutils").fetch()
    assert outcome.status == "fetch_failed"
    assert "ghp_secret_token_value" not in outcome.detail and "127.0.0.1" in outcome.detail


@pytest.fixture
def newstyle(settings):
    mirror = Mirror(settings, "gh/newstyle")
    assert mirror.fetch().status == "ok"
    return mirror


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


def test_change_list_detects_renames_as_bigquery_does(sample, expected):
    repo = pygit2.Repository(str(sample.remotes / "octo/pyutils.git"))
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


def test_license_file_at_the_head(sample, expected):
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
