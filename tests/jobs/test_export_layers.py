"""The export in layers: an increment that only inserts rows adds one layer to each language it
touches and leaves the other languages' files as they were; an update or a delete rewrites its
language as one layer; ``export.max_layers`` bounds the layers; a card without layers is
rewritten whole. After every export the dataset loads with datasets, per language and per view,
and holds every row of gold.commitpackft exactly once."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from commitpack.jobs.runtime.lakehouse import Lakehouse
from commitpack.jobs.stages import export
from commitpack.jobs.transforms.views import config_name
from commitpack.schemas.gold import COMMITPACKFT, COMMITPACKFT_FUNNEL

_caches = itertools.count()


@pytest.fixture(scope="module")
def sample_gold(finetuned):
    """The sample's gold.commitpackft and funnel, the commits of each language (sorted) and its
    configuration."""
    lakehouse, cfg, _, _ = finetuned
    rows = lakehouse.read(COMMITPACKFT).localCheckpoint()
    funnel = lakehouse.read(COMMITPACKFT_FUNNEL).localCheckpoint()
    commits: dict[str, list[str]] = {}
    for row in rows.select("lang", "commit").orderBy("commit").collect():
        commits.setdefault(row.lang, []).append(row.commit)
    return rows, funnel, commits, cfg


def seeded(spark, root: Path, rows, funnel, held: list[str]) -> Lakehouse:
    """A lakehouse holding the sample's gold.commitpackft but the ``held`` commits, and its funnel."""
    lakehouse = Lakehouse(spark, str(root))
    lakehouse.append(COMMITPACKFT, rows.where(~F.col("commit").isin(held)))
    lakehouse.append(COMMITPACKFT_FUNNEL, funnel)
    return lakehouse


def run_export(spark, lakehouse, cfg, out: Path, max_layers: int = 8):
    section = dataclasses.replace(cfg.export, output=str(out), max_layers=max_layers)
    return export.run(spark, dataclasses.replace(cfg, export=section), lakehouse, argparse.Namespace())


def record(out: Path) -> dict:
    text = (out / "README.md").read_text()
    return yaml.safe_load(text[4 : text.index("\n---\n", 4)])[export.STATE_KEY]


def layers(out: Path) -> dict[str, list[str]]:
    """Each language's layers (their releases, oldest first), as the card records them."""
    return {lang: [layer["release"] for layer in entry["layers"]] for lang, entry in record(out)["languages"].items()}


def roots(cfg) -> list[str]:
    return ["data", "parquet", *(f"views/{spec.name}" for spec in cfg.export.views.specs)]


def language_files(out: Path, cfg, lang: str) -> dict[str, int]:
    """Every file of a language, in every format and view, with its modification time."""
    return {
        str(path.relative_to(out)): path.stat().st_mtime_ns
        for root in roots(cfg)
        for path in sorted((out / root / config_name(lang)).rglob("*"))
        if path.is_file()
    }


def assert_folders_are_the_layers(out: Path, cfg) -> None:
    """Each format's and view's folders are the card's layers, no more (no stale folder)."""
    named = {config_name(lang): sorted(kept) for lang, kept in layers(out).items()}
    assert sorted(p.name for p in (out / "views").iterdir()) == sorted(s.name for s in cfg.export.views.specs)
    for root in roots(cfg):
        found = {p.name: sorted(q.name for q in p.iterdir()) for p in (out / root).iterdir()}
        assert found == named, root


def assert_loads(out: Path, lakehouse, cfg, tmp_path: Path) -> None:
    """Every language's config and a view's load with datasets and hold each gold row once."""
    import datasets

    gold = sorted((r.commit, r.subject) for r in lakehouse.read(COMMITPACKFT).select("commit", "subject").collect())
    # A cache of its own per load: datasets would serve an earlier export of the same name from its cache.
    cache = str(tmp_path / f"cache-{next(_caches)}")
    loaded = []
    for lang in layers(out):
        ds = datasets.load_dataset(str(out), config_name(lang), split="train", cache_dir=cache)
        assert set(ds["lang"]) == {lang}
        loaded += zip(ds["commit"], ds["subject"], strict=True)
    assert sorted(loaded) == gold
    view = cfg.export.views.specs[0].name
    ds = datasets.load_dataset(str(out), view, split="train", cache_dir=cache)
    assert sorted(ds["commit"]) == [commit for commit, _ in gold]


def layer_commits(out: Path, lang: str, release: str) -> list[str]:
    import json

    files = (out / "data" / config_name(lang) / release).glob("*.jsonl")
    return sorted(json.loads(line)["commit"] for path in files for line in path.read_text().splitlines())


def test_inserts_add_one_layer_to_their_languages_and_leave_the_others_untouched(spark, sample_gold, tmp_path):
    rows, funnel, commits, cfg = sample_gold
    most, *_, fewest = sorted(commits, key=lambda lang: (-len(commits[lang]), lang))
    assert len(commits[most]) >= 2
    # One new row in the largest language, and the smallest language's rows all new.
    held = {most: commits[most][-1:], fewest: commits[fewest]}
    lakehouse = seeded(spark, tmp_path / "lakehouse", rows, funnel, [c for cs in held.values() for c in cs])
    out = tmp_path / "export"
    first = run_export(spark, lakehouse, cfg, out)
    before = layers(out)
    assert first.details["mode"] == "full: no export of this pipeline there yet"
    assert fewest not in before and all(len(kept) == 1 for kept in before.values())
    others = {lang: language_files(out, cfg, lang) for lang in before if lang != most}

    lakehouse.append(COMMITPACKFT, rows.where(F.col("commit").isin([c for cs in held.values() for c in cs])))
    summary = run_export(spark, lakehouse, cfg, out)
    after = layers(out)
    assert summary.details["mode"].startswith("incremental: gold.commitpackft versions")
    assert summary.details["languages rewritten"] == "none"
    assert summary.details["languages appended to"] == ", ".join(
        f"{lang} {len(held[lang]):,} (layer {len(after[lang])})" for lang in sorted(held)
    )
    assert summary.rows_out == sum(len(cs) for cs in held.values())
    # One layer more in each language inserted into, holding only the inserted rows.
    assert after[most][:-1] == before[most] and len(after[most]) == 2 and len(after[fewest]) == 1
    for lang, new in held.items():
        assert layer_commits(out, lang, after[lang][-1]) == new
    # The other languages: the same layers, the same files, not written again.
    assert {lang: after[lang] for lang in others} == {lang: before[lang] for lang in others}
    assert {lang: language_files(out, cfg, lang) for lang in others} == others
    assert_folders_are_the_layers(out, cfg)
    assert_loads(out, lakehouse, cfg, tmp_path)
    # The card's table is the whole dataset's.
    assert f"| **total** | **{sum(len(cs) for cs in commits.values()):,}** |" in (out / "README.md").read_text()


def test_an_update_or_a_delete_rewrites_its_language_as_one_layer(spark, sample_gold, tmp_path):
    rows, funnel, commits, cfg = sample_gold
    updated, deleted = sorted(commits, key=lambda lang: (-len(commits[lang]), lang))[:2]
    assert len(commits[updated]) >= 2 and len(commits[deleted]) >= 2
    lakehouse = seeded(spark, tmp_path / "lakehouse", rows, funnel, [commits[updated][-1]])
    out = tmp_path / "export"
    run_export(spark, lakehouse, cfg, out)
    lakehouse.append(COMMITPACKFT, rows.where(F.col("commit") == commits[updated][-1]))
    run_export(spark, lakehouse, cfg, out)
    before = layers(out)
    assert len(before[updated]) == 2  # the update is of a row in the first layer
    others = {lang: language_files(out, cfg, lang) for lang in before if lang not in (updated, deleted)}

    changed = rows.where(F.col("commit") == commits[updated][0]).withColumn("subject", F.lit("Rewrite the parser"))
    lakehouse.merge(COMMITPACKFT, changed, update_when="true")
    lakehouse.delete(COMMITPACKFT, rows.where(F.col("commit") == commits[deleted][0]).select("commit"))
    summary = run_export(spark, lakehouse, cfg, out)
    after = layers(out)
    assert summary.details["languages appended to"] == "none"
    assert summary.details["languages rewritten"] == ", ".join(
        f"{lang} {len(commits[lang]) - (lang == deleted):,}" for lang in sorted((updated, deleted))
    )
    for lang in (updated, deleted):
        assert len(after[lang]) == 1 and after[lang][0] not in before[lang]
    assert {lang: language_files(out, cfg, lang) for lang in others} == others
    assert_folders_are_the_layers(out, cfg)
    assert_loads(out, lakehouse, cfg, tmp_path)


def test_max_layers_collapses_a_language_that_would_have_more(spark, sample_gold, tmp_path):
    rows, funnel, commits, cfg = sample_gold
    lang = min(commits, key=lambda name: (-len(commits[name]), name))
    assert len(commits[lang]) >= 4
    held = commits[lang][-3:]
    lakehouse = seeded(spark, tmp_path / "lakehouse", rows, funnel, held)
    out = tmp_path / "export"
    run_export(spark, lakehouse, cfg, out, max_layers=2)
    counts, rewritten = [len(layers(out)[lang])], []
    for commit in held:  # three increments, each one insert
        lakehouse.append(COMMITPACKFT, rows.where(F.col("commit") == commit))
        summary = run_export(spark, lakehouse, cfg, out, max_layers=2)
        counts.append(len(layers(out)[lang]))
        rewritten.append(summary.details["languages rewritten"])
        assert_folders_are_the_layers(out, cfg)
    # 1 layer; an insert adds a second; the next would make 3 > 2: rewritten as one; then 2 again.
    assert counts == [1, 2, 1, 2]
    assert rewritten == ["none", f"{lang} {len(commits[lang]) - 1:,}", "none"]
    assert_loads(out, lakehouse, cfg, tmp_path)


def test_a_card_without_layers_is_rewritten_whole(spark, sample_gold, tmp_path):
    """An export written before layers (one ``release`` per language in its record) is rewritten
    as one layer per language, and its folders are deleted."""
    rows, funnel, commits, cfg = sample_gold
    new = max(commits[lang][-1] for lang in commits)
    lakehouse = seeded(spark, tmp_path / "lakehouse", rows, funnel, [new])
    out = tmp_path / "export"
    run_export(spark, lakehouse, cfg, out)
    text = (out / "README.md").read_text()
    state = record(out)
    old = {
        lang: {
            "release": entry["layers"][0]["release"],
            "rows": entry["layers"][0]["rows"],
            "mb": entry["layers"][0]["mb"],
        }
        for lang, entry in state["languages"].items()
    }
    header = yaml.safe_load(text[4 : text.index("\n---\n", 4)])
    header[export.STATE_KEY] = state | {"languages": old}
    (out / "README.md").write_text(
        "---\n" + yaml.safe_dump(header, sort_keys=False) + text[text.index("\n---\n", 4) + 1 :]
    )
    lakehouse.append(COMMITPACKFT, rows.where(F.col("commit") == new))
    summary = run_export(spark, lakehouse, cfg, out)
    assert summary.details["mode"] == "full: the export there has one release per language, no layers"
    after = layers(out)
    assert all(len(kept) == 1 and kept[0] != old[lang]["release"] for lang, kept in after.items() if lang in old)
    assert int(summary.details["stale folders removed"]) == len(old) * len(roots(cfg))
    assert_folders_are_the_layers(out, cfg)
    assert_loads(out, lakehouse, cfg, tmp_path)
