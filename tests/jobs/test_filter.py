"""CommitPackFT rules: for each, rows it must keep and rows it must drop (README "CommitPackFT")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from commitpack.jobs.rules.commitpackft import clean_subject, token_counter
from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.stages import filter as ft
from commitpack.udfs import decontamination

CODE_OLD = "".join(
    f"def read_{i}(path):\n    with open(path) as handle:\n        return handle.read()\n\n" for i in range(4)
)
CODE_NEW = CODE_OLD + "def read_all(paths):\n    return [read_0(p) for p in paths]\n"
BASE = {
    "commit": None,
    "lang": "python",
    "repo": "octo/kit",
    "status": "ok",
    "detail": None,
    "old_contents": CODE_OLD,
    "new_contents": CODE_NEW,
    "new_file": "src/reader.py",
    "subject": "Fix the crash on empty input files",
    "message": None,
}


def rows_of(spark, cases: list[dict]):
    rows = []
    for i, case in enumerate(cases):
        row = {**BASE, "commit": f"{i:040x}", **case}
        row["message"] = row["message"] or row["subject"]
        rows.append(row)
    return spark.createDataFrame(
        rows,
        "commit string, lang string, repo string, status string, detail string, "
        "old_contents string, new_contents string, new_file string, subject string, message string",
    )


def decide(spark, cases, *overrides, grams=None):
    cfg = load_settings(overrides=list(overrides))
    found = ft.decide(rows_of(spark, cases), cfg, token_counter(cfg.filter.tokens.tokenizer), grams)
    return [r.asDict() for r in found.orderBy("commit").collect()]


def reasons(spark, cases, *overrides, grams=None):
    return [r["reason"] for r in decide(spark, cases, *overrides, grams=grams)]


CASES = {
    "contents_new_empty": ([{"new_contents": ""}], [{}]),
    "contents_unchanged": ([{"new_contents": CODE_OLD}], [{}]),
    "subject_has_hash": ([{"subject": "Fix the crash on empty input (see #12)"}], [{}]),
    "subject_names_file": (
        [
            {"subject": "Fix the crash in the Reader on empty input"},
            {"subject": "Fix the crash in reader.py on empty input"},
            {"subject": "Add the missing sections to the README file", "new_file": "README.md"},
        ],
        [
            {"subject": "Fix the crash in the Reader on empty input", "new_file": "src/parser.py"},
            # The stem inside a word, or an acronym in capitals, does not name the file (found on real history).
            {"subject": "Trim down OAuth1 callable logic for now", "new_file": "oauthlib/auth.py"},
            {"subject": "Add authentication classes to the API document", "new_file": "docs/api.rst"},
            {"subject": "Fix the readers of empty input files"},
        ],
    ),
    "subject_length": ([{"subject": "Fix ab c d"}, {"subject": "Fix " + "long " * 250}], [{"subject": "Fix a b c d"}]),
    "subject_word_count": ([{"subject": "Fix crashing parsers"}], [{"subject": "Fix the crash on input"}]),
    "subject_not_capitalized": ([{"subject": "fix the crash on empty input files"}], [{}]),
    "subject_not_imperative": (
        [{"subject": "Fixed the crash on empty input files"}, {"subject": "Speedup the loader for big inputs"}],
        [
            {"subject": "Speed up the loader for big inputs"},
            {"subject": "Deal with empty input files gracefully"},
            {"subject": "Brush up the loader for big inputs"},
        ],
    ),
    "subject_junk_phrase": (
        [
            {"subject": "Merge branch 'main' into the loader"},
            {"subject": "Add link to https://example.com for docs"},
            {"subject": "Add WIP support for the loader code"},
            {"subject": "Update code review notes for the team"},
        ],
        [{"subject": "Add wiping of temporary files on exit"}],
    ),
    "subject_version_or_hash": (
        [{"subject": "Revert 1234567890abcdef1234567890abcdef12345678 since it broke builds"}],
        [{"subject": "Revert the change that broke the builds"}],
    ),
    "subject_issue_reference": (
        [{"subject": "Fix issue 42 in the input loader"}, {"subject": "Fix bug 7 in the input loader"}],
        [{"subject": "Fix the issue with the input loader"}],
    ),
    "subject_first_person": (
        [
            {"subject": "Fix what i broke in the loader"},
            {"subject": "Fix the loader i've broken yesterday"},
            {"subject": "Add the tests i'm sure we need"},
        ],
        [{"subject": "Fix the loader in interactive mode"}],
    ),
    "subject_thanks": (
        [{"subject": "Fix the loader crash, thanks to Bob for the report"}],
        [{"subject": "Fix the loader crash, thanks all"}],
    ),
    "token_length": ([{"old_contents": "a = 1\n", "new_contents": "a = 2\n"}, {"new_contents": CODE_NEW * 20}], [{}]),
    "message_language": (
        [
            {
                "message": "Fix the crash on empty input files\n\nSe corrige el error del lector cuando la entrada "
                "está vacía y se añaden pruebas para todos los casos que faltaban."
            }
        ],
        [
            {
                "message": "Fix the crash on empty input files\n\nThe reader now returns an empty list when the "
                "file has no lines, and the tests cover it."
            },
            # Short technical English that lid.176 alone puts in another language (found on real history).
            {"subject": "Add tox envs to gitignore for the tests"},
            {"subject": "Add .eggs dir to .gitignore", "message": "Add .eggs dir to .gitignore"},
        ],
    ),
}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_rule_drops_its_rows_and_keeps_others(spark, rule):
    drop, keep = CASES[rule]
    got = reasons(spark, drop + keep)
    assert got[: len(drop)] == [rule] * len(drop)
    assert got[len(drop) :] == [None] * len(keep)


def test_contents_too_long_counts_characters_of_the_old_file(spark):
    # The token rule would drop such files anyway: switched off to see this rule alone.
    got = reasons(
        spark, [{"old_contents": "x" * 50_000}, {"old_contents": "x" * 49_999}], "filter.disable=[token_length]"
    )
    assert got == ["contents_too_long", None]


def test_junk_subjects_are_dropped_when_short_subjects_are_admitted(spark):
    # With the default thresholds every exact junk subject is too short: relax them to reach the rule.
    got = reasons(
        spark, [{"subject": "Update readme"}, {"subject": "Update readme files"}], "filter.disable=[subject_word_count]"
    )
    assert got == ["subject_junk", None]


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("[skip ci] Fix the crash on empty input", "Fix the crash on empty input"),
        ("Fix the crash on empty input [ci skip]", "Fix the crash on empty input"),
        ("[core] Fix the crash on empty input", "Fix the crash on empty input"),
        ("docs/api.py: Fix the crash on empty input", "Fix the crash on empty input"),
        ("Fix the crash on empty input [wip]", "Fix the crash on empty input"),
        ("Fix the crash on empty input (#123)", "Fix the crash on empty input"),
        ("  Fix the crash: on empty input  ", "Fix the crash: on empty input"),
    ],
)
def test_subjects_are_cleaned_before_the_rules(spark, raw, clean):
    got = spark.createDataFrame([(raw,)], "s string").select(clean_subject(F.col("s")).alias("c")).first().c
    assert got == clean


def test_a_cleaned_subject_passes_where_the_raw_one_would_not(spark):
    assert reasons(spark, [{"subject": "docs: Fix the crash on empty input files"}]) == [None]
    assert (
        decide(spark, [{"subject": "[ci skip] Fix the crash on empty input files"}])[0]["subject"]
        == "Fix the crash on empty input files"
    )


def test_the_bump_sample_is_about_a_tenth_and_the_same_on_every_run(spark):
    cases = [{"subject": f"Bump the loader version to 1.{i}.0 now"} for i in range(400)]
    cfg = load_settings()
    rows = rows_of(spark, cases)
    first = {
        r.commit
        for r in ft.decide(rows.repartition(7), cfg, token_counter(None), None).where("reason IS NULL").collect()
    }
    again = {
        r.commit
        for r in ft.decide(rows.repartition(2), cfg, token_counter(None), None).where("reason IS NULL").collect()
    }
    assert first == again
    assert 20 <= len(first) <= 60
    other_seed = reasons(spark, cases, "filter.bump.seed=7")
    assert {f"{i:040x}" for i, r in enumerate(other_seed) if r is None} != first
    dropped = reasons(spark, cases)
    assert set(dropped) == {None, "bump_sampled_out"}
    # Not a bump: never sampled.
    assert reasons(spark, [{"subject": "Update the version check of the loader"}]) == [None]


def test_a_rule_can_be_switched_off_and_unknown_names_are_refused(spark):
    assert reasons(
        spark, [{"subject": "Fixed the crash on empty input files"}], "filter.disable=[subject_not_imperative]"
    ) == [None]
    with pytest.raises(Exception, match="unknown rule"):
        ft.validate(load_settings(overrides=["filter.disable=[no_such_rule]"]))


def test_unfetched_rows_keep_their_fetch_status_as_reason(spark):
    got = decide(spark, [{"status": "binary", "old_contents": None, "new_contents": None, "detail": "NUL byte"}])[0]
    assert (got["step"], got["reason"], got["detail"]) == ("fetch", "fetch:binary", "NUL byte")


def test_the_message_language_and_score_are_kept(spark):
    got = decide(spark, [{}])[0]
    assert got["message_lang"] == "en" and 0.3 < got["message_lang_score"] <= 1.0
    assert got["tokens"] > 50


def test_message_language_rule_on_a_labelled_set_of_subjects(spark):
    """Precision and recall of dropping non-English messages, on real-looking subjects (short
    technical English among them), through the filter's own UDF and rule; lid.176's top label
    alone (the rule before) is measured on the same set for comparison."""
    from commitpack.jobs.rules.commitpackft import message_language_keeps
    from commitpack.udfs import langid
    from commitpack.udfs.messages import checks_udf

    labelled = [
        line.split("\t", 1)
        for line in (Path(__file__).parents[1] / "udfs" / "data" / "message_languages.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    labelled = [(label, text.replace("\\n", "\n")) for label, text in labelled]
    section = load_settings().filter.message_language
    rows = spark.createDataFrame([(i, text) for i, (_, text) in enumerate(labelled)], "i int, message string")
    checked = rows.select("i", checks_udf(section, None, 10)("message", F.lit(None).cast("string")).alias("c"))
    dropped = {r.i for r in checked.where(~message_language_keeps(F.col("c"), section)).collect()}
    model = langid._model()
    before = {i for i, (_, text) in enumerate(labelled) if model.predict(" ".join(text.split()))[0][0] != "__label__en"}

    def precision_recall(found: set[int]) -> tuple[float, float]:
        foreign = {i for i, (label, _) in enumerate(labelled) if label == "xx"}
        return len(found & foreign) / len(found), len(found & foreign) / len(foreign)

    (p, r), (p0, r0) = precision_recall(dropped), precision_recall(before)
    print(
        f"\nmessage language on {len(labelled)} subjects: P {p:.3f} R {r:.3f} (top label alone: P {p0:.3f} R {r0:.3f})"
    )
    assert p >= 0.95 and r >= 0.95 and p > p0


def test_a_given_tokenizer_json_counts_the_tokens(spark, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    # A word-level tokenizer splitting on whitespace only: "a,b" is one token (GPT-2 pieces: three).
    words = ["def", "read(path):", "return", "[UNK]"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    old = "x,y,z " * 20
    case = [{"old_contents": old, "new_contents": old + "w "}]
    default = decide(spark, case)[0]
    assert default["reason"] is None and default["tokens"] > 100
    spark.sparkContext.addFile(str(path))
    given = decide(spark, case, f"filter.tokens.tokenizer={path}")[0]
    assert given["tokens"] == 41 and given["reason"] == "token_length"


def test_a_planted_humaneval_solution_is_decontaminated(spark, tmp_path):
    problems = decontamination.humaneval_problems()
    solution = problems[12]["text"].split("\n    assert")[0]  # prompt and solution, without the tests
    mine = tmp_path / "mine.jsonl"
    mine.write_text(
        json.dumps(
            {
                "task_id": "loader/1",
                "prompt": "def load_config(path):\n    return parse_yaml_file(path, strict=True, "
                "allow_duplicates=False, encoding='utf-8')\n",
            }
        )
        + "\n"
    )
    cfg = load_settings(overrides=[f"filter.decontaminate.benchmarks=[{mine}]"])
    grams, names = ft.evaluation_grams(cfg)
    assert len(names) == 2
    got = decide(
        spark,
        [
            {"new_contents": CODE_OLD + solution},
            {},
            {
                "new_contents": CODE_OLD + "def load_config(path):\n    return parse_yaml_file(path, strict=True, "
                "allow_duplicates=False, encoding='utf-8')\n"
            },
        ],
        grams=grams,
    )
    assert [(g["reason"], g["detail"]) for g in got] == [
        ("contaminated", "new_contents:HumanEval/12"),
        (None, None),
        ("contaminated", "new_contents:mine:loader/1"),
    ]


def test_language_and_decontamination_each_decide_alone_and_in_order(spark):
    """Both run in one pass through Python: a row is dropped by the first of them that fails, its
    detail names an overlap only when contamination dropped it, and either rule can be off."""
    solution = decontamination.humaneval_problems()[12]["text"].split("\n    assert")[0]
    grams, _ = ft.evaluation_grams(load_settings())
    spanish = "Corrige el error del lector cuando la entrada está vacía y el archivo no existe en el disco"
    cases = [
        {"new_contents": CODE_OLD + solution, "message": spanish},
        {"new_contents": CODE_OLD + solution},
        {"message": spanish},
    ]
    both = decide(spark, cases, grams=grams)
    assert [(g["reason"], g["detail"]) for g in both] == [
        ("message_language", None),
        ("contaminated", "new_contents:HumanEval/12"),
        ("message_language", None),
    ]
    no_language = decide(spark, cases, "filter.disable=[message_language]", grams=grams)
    assert [(g["reason"], g["message_lang"]) for g in no_language] == [
        ("contaminated", None),
        ("contaminated", None),
        (None, None),
    ]
    no_contamination = decide(spark, cases, "filter.disable=[contaminated]", grams=grams)
    assert [g["reason"] for g in no_contamination] == ["message_language", None, "message_language"]
    assert no_contamination[1]["message_lang"] == "en"


def test_filter_stage_writes_decisions_that_the_funnel_adds_up(spark, lakehouse):
    from commitpack.jobs.runtime.report import StageSummary
    from commitpack.jobs.stages.dedup import update_funnel
    from commitpack.schemas.gold import COMMITPACK, COMMITPACKFT_DECISIONS, COMMITPACKFT_FUNNEL

    cases = [
        {},
        {"subject": "fixed it"},
        {"lang": "go", "new_file": "main.go"},
        {"status": "too_large", "new_contents": None},
    ]
    raw = rows_of(spark, cases).withColumn("old_file", F.col("new_file"))
    for column in set(COMMITPACK.columns) - set(raw.columns):
        raw = raw.withColumn(column, F.lit(None))
    lakehouse.replace(COMMITPACK, raw)
    summary = ft.run(spark, load_settings(), lakehouse, None)
    assert isinstance(summary, StageSummary)
    assert (summary.rows_in, summary.rows_out) == (4, 2)
    assert summary.dropped == {"subject_length": 1, "fetch:too_large": 1}
    update_funnel(lakehouse)  # as dedup does
    funnel = {(r.step, r.reason, r.lang): (r.rows, r.bytes) for r in lakehouse.read(COMMITPACKFT_FUNNEL).collect()}
    size = len(CODE_OLD.encode()) + len(CODE_NEW.encode())
    assert funnel == {
        (None, None, "python"): (1, size),
        (None, None, "go"): (1, size),
        ("filter", "subject_length", "python"): (1, size),
        ("fetch", "fetch:too_large", "python"): (1, len(CODE_OLD)),
    }
    assert lakehouse.read(COMMITPACKFT_DECISIONS).count() == 4
    # A rerun replaces, it does not append.
    ft.run(spark, load_settings(), lakehouse, None)
    assert lakehouse.read(COMMITPACKFT_DECISIONS).count() == 4


def test_pii_and_secrets_are_counted_in_kept_rows_and_dropped_in_drop_mode(spark):
    from commitpack.jobs.sample.planted import planted_set

    key = next(c for c in planted_set() if c.name == "aws access key id")
    email = next(c for c in planted_set() if c.name == "email in a message")
    cases = [
        {"new_contents": CODE_NEW + key.text},
        {"message": "Fix the crash on empty input files\n\n" + email.text},
        {},
        {"subject": "fixed it", "new_contents": CODE_NEW + key.text},  # dropped earlier: not scanned
    ]
    counts = [
        {"email": 0, "ip_address": 0, "key": 1, "password": 0},
        {"email": 1, "ip_address": 0, "key": 0, "password": 0},
        {"email": 0, "ip_address": 0, "key": 0, "password": 0},
        None,
    ]
    kept = decide(spark, cases)
    assert [g["reason"] for g in kept] == [None, None, None, "subject_length"]
    assert [g["redactions"] and g["redactions"].asDict() for g in kept] == counts
    dropped = decide(spark, cases, "redact.mode=drop")
    assert [(g["reason"], g["detail"]) for g in dropped] == [
        ("sensitive_data", "key 1"),
        ("sensitive_data", "email 1"),
        (None, None),
        ("subject_length", None),
    ]
    off = decide(spark, cases, "redact.mode=drop", "filter.disable=[sensitive_data]")
    assert [g["reason"] for g in off] == [None, None, None, "subject_length"]
    assert all(g["redactions"] is None for g in off)


def test_evaluation_sets_load_from_parquet_save_to_disk_and_jsonl_and_a_bad_source_is_a_usage_error(
    spark, tmp_path, monkeypatch
):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    from commitpack.jobs.runtime.errors import UsageError

    code = "def load_config(path):\n    return parse_yaml_file(path, strict=True, allow_duplicates=False, encoding='utf-8')\n"
    mbpp_like = {"task_id": 11, "text": "Load a configuration file.", "code": code, "test_list": ["assert True"]}
    pq.write_table(pa.Table.from_pylist([mbpp_like]), tmp_path / "mbpp.parquet")
    datasets.DatasetDict({"test": datasets.Dataset.from_list([mbpp_like | {"task_id": 12}])}).save_to_disk(
        str(tmp_path / "saved")
    )
    (tmp_path / "set.jsonl").write_text(json.dumps(mbpp_like | {"task_id": 13}) + "\n")
    sources = [str(tmp_path / "mbpp.parquet"), str(tmp_path / "saved"), str(tmp_path / "set.jsonl")]
    cfg = load_settings(
        overrides=[f"filter.decontaminate.benchmarks=[{', '.join(sources)}]", "filter.decontaminate.humaneval=false"]
    )
    grams, names = ft.evaluation_grams(cfg)
    assert names == sources
    got = decide(spark, [{"new_contents": CODE_OLD + code}, {}], grams=grams)
    assert [(g["reason"], g["detail"]) for g in got] == [("contaminated", "new_contents:mbpp:11"), (None, None)]
    assert {p for p in grams.values()} == {"mbpp:11"}  # the first set that has an n-gram names it

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for bad in (str(tmp_path / "missing.jsonl"), "no-such-owner/no-such-set"):
        with pytest.raises(UsageError, match="filter.decontaminate.benchmarks"):
            ft.evaluation_grams(load_settings(overrides=[f"filter.decontaminate.benchmarks=[{bad}]"]))
