"""The sample through filter, dedup and export: the planted cases come out as the sample says,
and the export loads with Hugging Face datasets as its users will load it."""

from __future__ import annotations

import pyarrow.parquet as pq

from commitpack.schemas.gold import COMMITPACKFT, COMMITPACKFT_DECISIONS


def published_state(out) -> dict:
    """The export's record in its card's header."""
    import yaml

    from commitpack.jobs.stages.export import STATE_KEY

    text = (out / "README.md").read_text()
    return yaml.safe_load(text[4 : text.index("\n---\n", 4)])[STATE_KEY]


def test_every_planted_commit_gets_the_decision_the_sample_expects(finetuned, expected):
    lakehouse, _, _, _ = finetuned
    decisions = {r.commit: r.reason or "kept" for r in lakehouse.read(COMMITPACKFT_DECISIONS).collect()}
    planted = {e["sha"]: e["ft"] for e in expected["commits"].values() if e["ft"]}
    # Every kind of case the sample plants is there.
    assert set(planted.values()) == {
        "kept",
        "bump_sampled_out",
        "contaminated",
        "message_language",
        "near_duplicate",
        "exact_duplicate",
    }
    assert {sha: decisions.get(sha) for sha in planted} == planted


def test_the_stage_summaries_add_up(finetuned):
    lakehouse, _, summaries, _ = finetuned
    filtered, deduped = summaries["filter"], summaries["dedup"]
    assert filtered.rows_in == lakehouse.read("gold.commitpack").count()
    assert filtered.rows_in == filtered.rows_out + sum(filtered.dropped.values())
    assert deduped.rows_in == filtered.rows_out
    assert deduped.rows_out == lakehouse.read(COMMITPACKFT).count() == deduped.rows_in - sum(deduped.dropped.values())
    assert set(deduped.dropped) == {"exact_duplicate", "near_duplicate"}


def test_the_export_loads_with_datasets_per_language(finetuned, tmp_path):
    import datasets

    lakehouse, _, _, out = finetuned
    gold = {r.commit: r for r in lakehouse.read(COMMITPACKFT).collect()}
    langs = sorted({r.lang for r in gold.values()})
    assert langs
    loaded = {}
    for lang in langs:
        # A cache of its own: datasets would serve an earlier export of the same name from its cache.
        ds = datasets.load_dataset(str(out), lang, split="train", cache_dir=str(tmp_path / "cache"))
        loaded.update({row["commit"]: row for row in ds})
    assert set(loaded) == set(gold)
    for commit, row in loaded.items():
        assert row["new_contents"] == gold[commit].new_contents and row["subject"] == gold[commit].subject
    parquet_rows = sum(pq.read_table(p).num_rows for p in (out / "parquet").rglob("*.parquet"))
    assert parquet_rows == len(gold)
    names = sorted(p.relative_to(out).as_posix() for p in (out / "data").rglob("*") if p.is_file())
    releases = {lang: entry["release"] for lang, entry in published_state(out)["languages"].items()}
    assert names == [f"data/{lang}/{releases[lang]}/train-00000-of-00001.jsonl" for lang in langs]


def test_the_card_has_the_tables_config_and_plots(finetuned):
    _, _, _, out = finetuned
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "config_name: python" in card
    assert "| language | rows | MB |" in card and "| step | rule | rows | MB |" in card
    assert "| dedup | exact_duplicate |" in card and "| filter | contaminated |" in card
    assert "GPT-2 pre-tokenizer pieces" in card  # the default tokenizer is stated
    assert "bump:" in card and "keep_percent: 10" in card  # the configuration used
    for plot in ("plots/languages.png", "plots/funnel.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_second_export_replaces_the_first(finetuned, spark):
    from commitpack.jobs.stages import export

    lakehouse, cfg, _, out = finetuned
    before = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    import argparse

    export.run(spark, cfg, lakehouse, argparse.Namespace())
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == before


def test_export_without_output_says_what_to_give(cli, tmp_path):
    done = cli("--lakehouse", str(tmp_path / "lh"), "export")
    assert done.returncode == 2 and "--output" in done.stderr
