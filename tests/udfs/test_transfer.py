"""Transfers against real git servers: `git daemon`, and `git http-backend` behind the tests' own
HTTP server, which injects the faults of a real server."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import replace

import pygit2
import pytest

from commitpack.udfs.cache import Cache, UnsafeName, directory_bytes
from commitpack.udfs.gitcli import Git, Outcome, classify


def blob_ids(sample, name: str, commit: str) -> list[str]:
    """Every blob of a sample commit's tree, read from the remote itself."""
    repo = pygit2.Repository(str(sample.remotes / f"{name}.git"))
    found = []

    def walk(tree):
        for entry in tree:
            if entry.type_str == "tree":
                walk(repo[entry.id])
            elif entry.type_str == "blob" and entry.filemode != 0o120000:
                found.append(str(entry.id))

    walk(repo[commit].tree)
    return found


def cat_file(sample, name: str, oid: str) -> bytes:
    git_dir = str(sample.remotes / f"{name}.git")
    return subprocess.run(
        ["git", "--git-dir", git_dir, "cat-file", "blob", oid], capture_output=True, check=True
    ).stdout


def test_blobs_by_id_travel_alone_and_are_byte_identical(remote, git_settings, sample, expected):
    head = expected["commits"]["tk-strip"]["sha"]
    wanted = blob_ids(sample, "text/kit", head)
    with remote(git_settings, "text/kit") as r:
        done = r.blobs(wanted)
        assert done.ok and done.requests == 1 and not done.missing
        for oid in wanted:
            assert r.repo.odb.read(pygit2.Oid(hex=oid))[1] == cat_file(sample, "text/kit", oid)
        # No commit and no tree came with them.
        assert not r.has(head) and not r.has(str(pygit2.Repository(str(sample.remotes / "text/kit.git"))[head].tree_id))
        # Asked again: everything is there, nothing travels.
        assert r.blobs(wanted).requests == 1


def test_history_brings_commits_and_trees_and_is_reused(remote, git_settings, expected):
    head = expected["commits"]["py-big"]["sha"]
    with remote(git_settings, "octo/pyutils") as r:
        done = r.history()
        assert done.ok and not done.filter_refused and r.has(head)
        assert not r.has(str(r.repo[head].tree["pyutils/pager.py"].id))
    with remote(git_settings, "octo/pyutils") as again:  # another stage, another run: same cache entry
        assert again.has(head)


def test_a_missing_repository_is_not_retried(remote, git_settings):
    with remote(git_settings, "nobody/nothing") as r:
        done = r.history()
    assert done.status == "repo_unavailable" and done.requests == 1


def test_an_unreachable_remote_is_retried_with_backoff(remote, git_settings):
    settings = replace(git_settings, remote_template="git://127.0.0.1:9/{repo}.git", retries=3, backoff_seconds=0.2)
    started = time.monotonic()
    with remote(settings, "octo/pyutils") as r:
        done = r.history()
    assert done.status == "fetch_failed" and done.requests == 3
    assert time.monotonic() - started >= (0.2 + 0.4) * 0.5  # backoff doubles between attempts, jitter ±50%


def test_the_time_budget_stops_a_repository(remote, git_settings):
    with remote(git_settings, "octo/pyutils", budget=0) as r:
        assert r.history().status == "budget_exceeded"


def test_credentials_never_reach_an_error_message(remote, git_settings, monkeypatch):
    monkeypatch.setenv("COMMITPACK_GIT_TOKEN", "ghp_secret_token_value")
    settings = replace(
        git_settings, retries=1, remote_template="http://user:ghp_secret_token_value@127.0.0.1:9/{repo}.git"
    )
    with remote(settings, "octo/pyutils") as r:
        done = r.history()
    assert done.status == "fetch_failed"
    assert "ghp_secret_token_value" not in done.detail and "127.0.0.1" in done.detail


# ----------------------------------------------------------------------------- a real server's faults


@pytest.fixture
def http_settings(git_settings, http_git):
    return replace(git_settings, remote_template=http_git.template, retries=3, backoff_seconds=0.2, stall_seconds=2)


def wanted_of(sample, expected, key="tk-strip", name="text/kit"):
    return blob_ids(sample, name, expected["commits"][key]["sha"])


def test_http_429_is_retried_after_the_time_the_server_asks(remote, http_settings, http_git, sample, expected):
    asked = []

    def policy(repo, kind, number):
        if kind == "pack" and not asked:
            asked.append(time.monotonic())
            from helpers.gitserver import Fault

            return Fault("status", 429, retry_after="2")
        return None

    http_git.policy = policy
    started = time.monotonic()
    with remote(http_settings, "text/kit") as r:
        done = r.blobs(wanted_of(sample, expected))
    assert done.ok and not done.missing
    assert time.monotonic() - started >= 2.0  # Retry-After: 2 honoured, though the backoff is 0.2 s
    assert http_git.stats.statuses[429] == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_then_the_transfer_succeeds(
    remote, http_settings, http_git, sample, expected, status
):
    from helpers.gitserver import Fault

    failures = []

    def policy(repo, kind, number):
        if kind == "pack" and len(failures) < 2:
            failures.append(number)
            return Fault("status", status)
        return None

    http_git.policy = policy
    with remote(http_settings, "text/kit") as r:
        done = r.blobs(wanted_of(sample, expected))
    assert done.ok and done.requests == 3 and len(failures) == 2


def test_a_server_that_keeps_failing_is_a_transient_failure_never_a_missing_repository(
    remote, http_settings, http_git, sample, expected
):
    from helpers.gitserver import Fault

    http_git.policy = lambda repo, kind, number: Fault("status", 503) if kind == "pack" else None
    with remote(http_settings, "text/kit") as r:
        done = r.blobs(wanted_of(sample, expected))
    assert done.status == "fetch_failed" and done.requests == 3
    assert "503" in done.detail


@pytest.mark.parametrize("kind", ["reset", "stall"])
def test_a_connection_reset_or_stalled_mid_pack_is_retried(remote, http_settings, http_git, sample, expected, kind):
    from helpers.gitserver import Fault

    hits = []

    def policy(repo, what, number):
        if what == "pack" and not hits:
            hits.append(number)
            return Fault(kind, after_bytes=60, stall_seconds=30)
        return None

    http_git.policy = policy
    started = time.monotonic()
    with remote(http_settings, "text/kit") as r:
        done = r.blobs(wanted_of(sample, expected))
    assert done.ok and done.requests == 2 and hits
    assert time.monotonic() - started < 25  # a stall is cut by the low-speed limit, not waited out


def test_a_server_refusing_fetch_by_id_gets_a_full_fetch_instead(remote, http_settings, http_git, sample, expected):
    http_git.v2 = False  # protocol v0 without uploadpack.allowAnySHA1InWant: only advertised refs
    wanted = wanted_of(sample, expected)
    with remote(http_settings, "text/kit") as r:
        done = r.blobs(wanted)
        assert done.ok and done.full_fetch
        assert all(r.has(oid) for oid in wanted)


def test_objects_the_remote_cannot_produce_are_set_aside_and_the_rest_arrive(remote, git_settings, sample, expected):
    wanted = wanted_of(sample, expected)
    absent = "cd" * 20
    with remote(git_settings, "text/kit") as r:
        done = r.blobs([*wanted, absent])
        assert done.ok and list(done.missing) == [absent] and "not our ref" in done.missing[absent]
        assert all(r.has(oid) for oid in wanted)
    assert done.requests == 2  # the first named the object, the second brought the rest


def test_a_remote_with_a_corrupt_copy_is_a_server_fault(remote, git_settings, tmp_path, sample, expected):
    """The remote's copy lacks an object its history needs: upload-pack dies on it. That is the
    server's fault (retried by the next run), never a missing repository."""
    broken = tmp_path / "broken"
    subprocess.run(["git", "clone", "-q", "--bare", "--no-local", str(sample.remotes / "text/kit.git"),
                    str(broken / "text/kit.git")], check=True)  # fmt: skip
    git_dir = broken / "text/kit.git"
    subprocess.run(["git", "--git-dir", str(git_dir), "config", "uploadpack.allowFilter", "true"], check=True)
    pack = next((git_dir / "objects" / "pack").glob("*.pack")).read_bytes()
    for packed in (git_dir / "objects" / "pack").iterdir():  # unpack-objects skips what a pack holds
        packed.unlink()
    subprocess.run(["git", "--git-dir", str(git_dir), "unpack-objects", "-q"], input=pack, check=True)
    head = expected["commits"]["tk-strip"]["sha"]
    tree = str(pygit2.Repository(str(sample.remotes / "text/kit.git"))[head].tree_id)
    (git_dir / "objects" / tree[:2] / tree[2:]).unlink()
    settings = replace(git_settings, remote_template=f"file://{broken}/{{repo}}.git", retries=2)
    with remote(settings, "text/kit") as r:
        done = r.history()
    assert done.status == "fetch_failed", done
    assert "corruption" in done.detail or "unable to read" in done.detail


def test_classification_of_what_git_says():
    def kind(stderr):
        return classify(Outcome(128, stderr, 0.1)).kind

    # libgit2's message that once made a whole repository final: about one object, not the repository.
    assert kind("object not found - cannot read header for (ab12)") == "transient"
    assert kind("fatal: remote error: access denied or repository not exported: /x.git") == "missing_repo"
    assert kind("fatal: repository 'https://github.com/a/b.git/' not found") == "missing_repo"
    assert kind("error: RPC failed; HTTP 500 curl 22 The requested URL returned error: 500") == "server_fault"
    assert kind("error: RPC failed; HTTP 429 curl 22 The requested URL returned error: 429") == "rate_limited"
    assert kind("fatal: remote error: upload-pack: not our ref " + "cd" * 20) == "objects_unavailable"
    assert kind("error: Server does not allow request for unadvertised object " + "ab" * 20) == "refused_by_id"
    assert kind("fatal: write error: No space left on device") == "disk_full"
    assert kind("error: RPC failed; curl 56 Recv failure: Connection reset by peer") == "transient"
    named = classify(Outcome(128, "remote: fatal: unable to read " + "ef" * 20 + "\nremote: aborting", 0.1))
    assert named.kind == "server_fault" and named.objects == ("ef" * 20,)


# ----------------------------------------------------------------------------- limits of one executor


def test_the_per_host_cap_holds_across_the_processes_of_an_executor(git_settings, http_git):
    settings = replace(git_settings, remote_template=http_git.template, max_per_host=2)
    http_git.latency = 0.3
    script = (
        "import sys, time, dataclasses, json\n"
        "from commitpack.schemas.settings import GitSettings\n"
        "from commitpack.udfs.cache import Cache\n"
        "from commitpack.udfs.gitcli import Git\n"
        "from commitpack.udfs.transfer import Remote, completed\n"
        "s = GitSettings(**json.loads(sys.argv[1]))\n"
        "cache = Cache(s); git = Git(s, cache.home)\n"
        "def one(name):\n"
        "    with cache.repository(name, git.url(name)) as path:\n"
        "        return Remote(git, cache, name, path, time.monotonic() + 60).history().status\n"
        "print(list(completed(sys.argv[2:], one, 4)))\n"
    )
    import json
    import sys
    from dataclasses import asdict

    names = ["octo/pyutils", "acme/webapp", "gh/newstyle", "gh/oldtimer", "text/kit", "other/app"]
    procs = [
        subprocess.Popen([sys.executable, "-c", script, json.dumps(asdict(settings)), *names[i::2]], stdout=subprocess.PIPE,
                         text=True)
        for i in range(2)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all("'ok'" in out and "fetch_failed" not in out for out in outputs), outputs
    assert http_git.stats.max_in_flight <= 2  # two processes, four threads each, two slots for the host


def test_the_cache_stays_within_its_bound_and_evicts_the_least_recently_used(remote, git_settings):
    names = ["octo/pyutils", "acme/webapp", "gh/newstyle", "text/kit", "other/app"]
    with remote(git_settings, names[0]) as r:
        r.history()
        one = directory_bytes(r.path)
    settings = replace(git_settings, cache_max_bytes=int(one * 2.5))
    cache = Cache(settings)
    for name in names:
        with remote(settings, name) as r:
            assert r.history().ok
        with cache.usage.locked() as total:
            assert total[0] <= settings.cache_max_bytes
    held = [p for p in cache.usage.root_repositories() if (p / "HEAD").exists()]
    assert 1 <= len(held) < len(names)
    assert (held[-1] / "commitpack-name").exists()
    kept = {(p / "commitpack-name").read_text() for p in held}
    assert names[-1] in kept and names[0] not in kept  # the least recently used went first


def test_a_repository_in_use_is_never_evicted(remote, git_settings):
    settings = replace(git_settings, cache_max_bytes=1)
    with remote(settings, "octo/pyutils") as r:
        assert r.history().ok
        path = r.path
        other = threading.Thread(target=lambda: remote(settings, "acme/webapp").__enter__().history())
        other.start()
        other.join(timeout=60)
        assert (path / "HEAD").exists()  # held: the other transfer could not remove it


def test_cache_locations_come_from_a_digest_of_a_valid_name(git_settings):
    cache = Cache(git_settings)
    path = cache.path_for("octo/pyutils")
    assert path.parent.parent == cache.root / "repos" and "octo" not in str(path)
    for bad in ["../../tmp/evil-repo", "owner/--upload-pack=touch$IFS/tmp/pwned", "a/b\n", "/abs/x", "a/.."]:
        with pytest.raises(UnsafeName):
            cache.path_for(bad)


def test_git_runs_with_no_configuration_prompt_or_helper_of_the_users(git_settings, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[core]\n\tsshCommand = touch /tmp/commitpack-should-not-exist\n")
    monkeypatch.setenv("HOME", str(home))
    git = Git(git_settings, str(tmp_path / "git-home"))
    env = git.env
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null" and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["HOME"] != str(home)
    configured = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))}
    assert configured["protocol.allow"] == "never" and configured["protocol.git.allow"] == "always"
    assert configured["credential.helper"] == "" and configured["core.hooksPath"] == "/dev/null"
    shown = subprocess.run(["git", "config", "--show-origin", "--list"], capture_output=True, text=True, env=env).stdout
    assert "sshCommand" not in shown


def test_only_the_templates_transport_is_allowed(git_settings, tmp_path):
    git = Git(git_settings, str(tmp_path / "home"))  # git:// template
    target = tmp_path / "ext-ran"
    repo = tmp_path / "r.git"
    pygit2.init_repository(str(repo), bare=True)
    pygit2.Repository(str(repo)).config["remote.origin.url"] = f"ext::sh -c touch% {target}"
    done = git.run(["fetch", "origin"], str(repo))
    assert not done.ok and "transport 'ext' not allowed" in done.stderr
    assert not target.exists()


def test_an_entry_left_without_objects_is_not_kept(remote, git_settings, sample, expected):
    """fetch removes the blobs it read; an entry holding nothing else goes with them."""
    with remote(git_settings, "text/kit") as r:
        assert r.blobs(wanted_of(sample, expected)).ok
        for pack in (r.path / "objects" / "pack").iterdir():
            pack.unlink()
        path = r.path
    cache = Cache(git_settings)
    assert not path.exists()
    with cache.usage.locked() as total:
        assert total[0] == 0
