"""The sample through filter, dedup and export: the planted cases come out as the sample says,
and the export loads with Hugging Face datasets as its users will load it."""

from __future__ import annotations

import subprocess

import pyarrow.parquet as pq

from commitpack.schemas.gold import COMMITPACK, COMMITPACKFT, COMMITPACKFT_DECISIONS, COMMITPACKFT_FUNNEL


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

    from commitpack.jobs.transforms.views import config_name

    lakehouse, _, _, out = finetuned
    gold = {r.commit: r for r in lakehouse.read(COMMITPACKFT).collect()}
    langs = sorted({config_name(r.lang) for r in gold.values()})
    assert "ignore-list" in langs  # the sample's .gitignore change, named as the Hub names it
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
    layers = {config_name(lang): entry["layers"] for lang, entry in published_state(out)["languages"].items()}
    assert all(len(kept) == 1 for kept in layers.values())  # a first export: one layer per language
    assert names == [f"data/{lang}/{layers[lang][0]['release']}/train-00000-of-00001.jsonl" for lang in langs]


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


def test_each_view_loads_with_datasets_and_follows_its_template(finetuned, tmp_path):
    """Every view of the export loads by its config name; each row is its template filled from the
    CommitPackFT row, and every diff applied to the old contents gives the new contents."""
    import datasets

    from commitpack.udfs import formats

    lakehouse, cfg, _, out = finetuned
    gold = {r.commit: r for r in lakehouse.read(COMMITPACKFT).collect()}
    specs = cfg.export.views.specs
    assert {s.template for s in specs} == {"qa", "commit", "chat", "seeds"}
    assert {s.answer for s in specs} == {"full", "unified-diff", "line-diff"} and any(s.window for s in specs)
    for spec in specs:
        ds = datasets.load_dataset(str(out), spec.name, split="train", cache_dir=str(tmp_path / "cache"))
        assert sorted(ds["commit"]) == sorted(gold), spec.name
        for row in ds:
            g = gold[row["commit"]]
            assert (row["lang"], row["new_file"], row["license"], row["repos"]) == (
                g.lang,
                g.new_file,
                g.license,
                g.repos,
            )
            if spec.template == "seeds":
                lines = g.new_contents.split("\n")
                assert row["seed"] == "\n".join(lines[row["start_line"] - 1 : row["end_line"]])
                assert 1 <= row["end_line"] - row["start_line"] + 1 <= 15
                continue
            if spec.template == "qa":
                prompt, answer = row["prompt"], row["completion"]
                assert prompt.startswith(f"Question: {g.subject}\n") and prompt.endswith("\n\nAnswer:\n")
                question = prompt[len(f"Question: {g.subject}\n") : -len("\n\nAnswer:\n")]
            elif spec.template == "commit":
                head = f"<filename>{g.new_file}<commit_before>"
                text = row["text"]
                assert text.startswith(head) and f"<commit_msg>{g.subject}<commit_after>" in text
                question, answer = text[len(head) :].split(f"<commit_msg>{g.subject}<commit_after>")
            else:
                user, assistant = row["messages"]
                assert (user["role"], assistant["role"]) == ("user", "assistant")
                assert user["content"].startswith(f"{g.subject}\n")
                question, answer = user["content"][len(g.subject) + 1 :], assistant["content"]
            shown = formats.number_lines(g.old_contents) if spec.answer == "line-diff" else g.old_contents
            if spec.window:
                assert question in shown
            else:
                assert question == shown
            if spec.answer == "full":
                assert answer == g.new_contents if not spec.window else answer in g.new_contents
            elif spec.answer == "line-diff":
                assert formats.apply_line_diff(g.old_contents, answer) == g.new_contents
            else:
                path = tmp_path / "applied" / g.new_file
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(g.old_contents)
                done = subprocess.run(["git", "apply", "-"], input=answer.encode(), cwd=tmp_path / "applied")
                assert done.returncode == 0 and path.read_text() == g.new_contents


def test_language_configs_and_folders_are_named_as_the_hub_names_them(spark, tmp_path):
    """`c#` and `ignore list` as bigcode's datasets name them (`c#`, `ignore-list`), and their rows
    keep their language; no view is named like a language."""
    import datasets

    from commitpack.jobs.runtime.storage import FileSystem
    from commitpack.jobs.stages import export
    from commitpack.jobs.transforms.views import config_name
    from commitpack.schemas.settings import ViewSpec
    from commitpack.schemas.vocabulary import SEEDS_VIEW, VIEW_ANSWERS, VIEW_TEMPLATES
    from commitpack.udfs import linguist

    assert [config_name(n) for n in ("ignore list", "c#", "c++", "graphviz (dot)", "cap'n proto")] == [
        "ignore-list",
        "c#",
        "c++",
        "graphviz-dot",
        "capn-proto",
    ]
    rows = spark.createDataFrame(
        [{c: f"{c} {i}" for c in export.COLUMNS} | {"lang": lang} for i, lang in enumerate(["c#", "ignore list"])]
    ).select(*export.COLUMNS)
    shards = {"c#": 1, "ignore list": 1}
    out = FileSystem(spark, str(tmp_path / "out"), raw=True)
    export.write_shards(export.sharded(rows, shards), out, "jsonl", shards, dict.fromkeys(shards, "r1"), "data")
    sizes = [{"lang": lang, "rows": 1, "mb": 0.0, "layers": ["r1"]} for lang in shards]
    (tmp_path / "out" / "README.md").write_text(export.card(sizes, [], {}, "x"))
    assert sorted(p.parent.parent.name for p in (tmp_path / "out" / "data").rglob("*.jsonl")) == ["c#", "ignore-list"]
    for lang in shards:
        ds = datasets.load_dataset(
            str(tmp_path / "out"), config_name(lang), split="train", cache_dir=str(tmp_path / "c")
        )
        assert ds["lang"] == [lang]
    names = [ViewSpec.parse(SEEDS_VIEW).name] + [
        f"{t}{'' if a == 'full' else '-' + a}{w}" for t in VIEW_TEMPLATES for a in VIEW_ANSWERS for w in ("", "-window")
    ]
    assert not {config_name(n.lower()) for n in linguist.load()["languages"]} & set(names)


def test_planted_secrets_are_redacted_in_commitpackft_and_the_export_and_kept_in_the_raw_table(finetuned, expected):
    lakehouse, _, summaries, out = finetuned
    planted = [e for e in expected["commits"].values() if e["redactions"]]
    assert planted
    decisions = {r.commit: r for r in lakehouse.read(COMMITPACKFT_DECISIONS).collect()}
    raw = {r.commit: r for r in lakehouse.read(COMMITPACK).collect()}
    gold = {r.commit: r for r in lakehouse.read(COMMITPACKFT).collect()}
    published = "".join(p.read_text() for p in out.rglob("*.jsonl"))
    for e in planted:
        assert decisions[e["sha"]].redactions.asDict() == e["redactions"]
        original, row = raw[e["sha"]], gold[e["sha"]]
        for secret in e["secrets"]:
            assert secret in original.new_contents + original.message  # the raw table is byte-exact
            assert secret not in row.new_contents + row.message + row.subject and secret not in published
        for placeholder in ("<EMAIL>", "<IP_ADDRESS>", "<KEY>", "<PASSWORD>"):
            assert placeholder in row.new_contents
        assert "<EMAIL>" in row.message
        # Look-alikes survive.
        assert "support@example.com" in row.new_contents and '"1.4.2.0"' in row.new_contents
    funnel = lakehouse.read(COMMITPACKFT_FUNNEL).where("reason IS NULL").collect()
    kept_totals = {k: sum(r.redactions[k] or 0 for r in funnel) for k in ("email", "ip_address", "key", "password")}
    assert kept_totals == {k: sum(e["redactions"][k] for e in planted) for k in kept_totals}
    assert summaries["dedup"].details["PII and secrets in kept rows"] == "email 2, ip_address 1, key 1, password 1"
    card = (out / "README.md").read_text()
    assert "## PII and secrets" in card and "| key | 1 | 0 |" in card
