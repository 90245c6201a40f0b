import pytest
from pyspark.sql import functions as F

from commitpack.jobs.rules import first_failure
from commitpack.jobs.rules.commitpack import message_rules, update_filename_rule
from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.stages import index

CFG = load_settings(overrides=["opt_out.owners=[OptOut]"])


@pytest.mark.parametrize(
    "message, path, reason",
    [
        ("Fix off-by-one in the pager", "src/pager.py", None),
        ("Fixes.", "a.py", None),  # 6 characters: 5 < len
        ("Fix.", "a.py", "message_length"),
        ("12345", "a.py", "message_length"),  # not more than 5
        ("x" * 10000, "a.py", "message_length"),
        ("x" * 9999, "a.py", None),
        ("  Update README.md \n", "README.md", "message_junk"),  # stripped, lower-cased
        ("Initial commit", "a.py", "message_junk"),
        ("Add files via upload", "a.py", "message_junk"),
        ("  WIP \n\n", "a.py", "message_junk"),
        ("wip: half of the parser", "a.py", None),  # junk only when the whole message is junk
        ("Merge branch 'dev' into main", "a.py", "message_merge"),
        ("merged the helpers", "a.py", "message_merge"),
        ("Update pager.py", "src/pager.py", "message_update_filename"),
        ("update src/pager.py", "src/pager.py", "message_update_filename"),
        ("Update pager.py to yield lazily", "src/pager.py", None),
        ("Update pager.py", "src/other.py", None),
    ],
)
def test_message_rules_keep_and_drop(spark, message, path, reason):
    df = spark.createDataFrame([(message, path)], "message string, path string")
    rules = message_rules(F.col("message"), CFG.index.message) + update_filename_rule(
        F.col("message"), F.col("path"), CFG.index.message
    )
    assert df.select(first_failure(rules).alias("r")).first().r == reason


def test_a_rule_that_cannot_be_evaluated_does_not_admit(spark):
    df = spark.createDataFrame([(None, "a.py")], "message string, path string")
    assert (
        df.select(first_failure(message_rules(F.col("message"), CFG.index.message)).alias("r")).first().r
        == "message_length"
    )


def candidate(
    commit, repos, message="Fix the parser for empty input", changes=(("a.py", "a.py"),), parents=("p",), found=True
):
    return (
        commit,
        list(repos),
        found,
        list(parents),
        message,
        [
            {"old_path": o, "new_path": n, "old_blob": "1", "new_blob": "2", "old_mode": 0o100644, "new_mode": 0o100644}
            for o, n in changes
        ],
        len(changes),
        False,
    )


CANDIDATE_DDL = (
    "commit string, repos array<string>, found boolean, parents array<string>, message string, "
    "changes array<struct<old_path:string,new_path:string,old_blob:string,new_blob:string,old_mode:bigint,new_mode:bigint>>, "
    "change_count int, truncated boolean"
)


def judge(spark, candidates, licenses, languages=None):
    commits = spark.createDataFrame(candidates, CANDIDATE_DDL)
    lic = index.repository_licenses(spark.createDataFrame(licenses, "repo_name string, license string"), None)
    lang = (
        spark.createDataFrame(languages, "repo_name string, language array<struct<name:string,bytes:bigint>>")
        if languages
        else None
    )
    judged = index.judge(index.attach_language(index.attach_license(commits, lic), lang), CFG)
    return {r.commit: r for r in judged.collect()}


def test_license_comes_from_the_first_repository_that_has_one(spark):
    got = judge(
        spark,
        [
            candidate("c1", ["a/none", "b/gpl", "c/mit"]),
            candidate("c2", ["a/none", "c/mit"]),
            candidate("c3", ["a/none"]),
            candidate("c4", ["c/mit", "optout/thing"]),
            candidate("c5", ["c/mit"], changes=(("a.py", "a.py"), ("b.py", "b.py"))),
            candidate("c6", ["c/mit"], parents=("p1", "p2")),
            candidate("c7", ["c/mit"], changes=(("a.py", "b.py"),)),
            candidate("c8", ["c/mit"], changes=(("notes.zzz", "notes.zzz"),)),
            candidate("c9", ["c/mit"], found=False),
        ],
        [("b/gpl", "gpl-3.0"), ("c/mit", "mit")],
    )
    assert (got["c1"].repo, got["c1"].license, got["c1"].reason) == ("b/gpl", "gpl-3.0", "license_not_allowed")
    assert (got["c2"].repo, got["c2"].license_source, got["c2"].reason) == ("c/mit", "bigquery", None)
    assert (got["c3"].license, got["c3"].reason) == (None, "license_unknown")
    assert got["c4"].reason == "opt_out"  # owners compare case-insensitively
    assert got["c5"].reason == "not_single_file"
    assert got["c6"].reason == "merge_commit"
    assert got["c7"].reason == "not_modified_in_place"
    assert got["c8"].reason == "language_unknown"
    assert got["c9"].reason == "commit_not_found"


def test_ambiguous_extension_follows_the_repository_languages(spark):
    got = judge(
        spark,
        [
            candidate("c1", ["c/cpp"], changes=(("inc/x.h", "inc/x.h"),)),
            candidate("c2", ["c/plain"], changes=(("inc/x.h", "inc/x.h"),)),
            candidate("c3", ["c/none"], changes=(("inc/x.h", "inc/x.h"),)),
        ],
        [("c/cpp", "mit"), ("c/plain", "mit"), ("c/none", "mit")],
        [("c/cpp", [("C++", 900), ("C", 100)]), ("c/plain", [("Python", 5)])],
    )
    assert got["c1"].lang == "c++"  # the repository is mostly C++
    assert got["c2"].lang == "c" and got["c3"].lang == "c"  # Linguist's default for .h
    assert got["c1"].lang_candidates[:3] == ["c", "c++", "objective-c"]


def test_language_allow_list_is_config(spark):
    cfg = load_settings(overrides=["languages.allow=[python]"])
    commits = spark.createDataFrame([candidate("c1", ["c/mit"], changes=(("a.go", "a.go"),))], CANDIDATE_DDL)
    lic = index.repository_licenses(spark.createDataFrame([("c/mit", "mit")], "repo_name string, license string"), None)
    judged = index.judge(index.attach_language(index.attach_license(commits, lic), None), cfg).first()
    assert (judged.lang, judged.reason) == ("go", "language_not_allowed")
