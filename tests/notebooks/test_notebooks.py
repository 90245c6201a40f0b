"""The notebooks of notebooks/, run end to end on the sample's lakehouse after every stage (the
`finetuned` fixture), the way Databricks runs a notebook: cell after cell in one namespace that
already holds `spark`; markdown cells (`# MAGIC %md`) are skipped. Their figures are checked against
the stages' own summaries and the tables, and their plots are read back as images."""

from __future__ import annotations

import re
import traceback
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pyspark.sql import functions as F

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))
HEADER = "# Databricks notebook source\n"
CELL_SEPARATOR = re.compile(r"^# COMMAND ----------$", re.M)
PLOTS = {"01_index", "02_commitpack", "03_funnel", "03_rules", "03_languages"}


def cells(path: Path) -> list[tuple[str, str]]:
    """(kind, source) of each cell: ``markdown`` or ``code``."""
    text = path.read_text()
    assert text.startswith(HEADER), f"{path.name}: not a Databricks notebook source file"
    result = []
    for chunk in CELL_SEPARATOR.split(text[len(HEADER) :]):
        lines = [line for line in chunk.strip("\n").splitlines() if line.strip()]
        magic = [line for line in lines if line.startswith("# MAGIC")]
        if magic:
            assert magic == lines and lines[0].startswith("# MAGIC %md"), f"{path.name}: a cell mixes code and # MAGIC"
            result.append(("markdown", chunk))
        elif lines:
            result.append(("code", chunk))
    return result


def run_notebook(path: Path, spark) -> dict:
    namespace = {"__name__": "__main__", "spark": spark}
    for number, (kind, source) in enumerate(cells(path), start=1):
        if kind != "code":
            continue
        try:
            exec(compile(source, f"{path.name} (cell {number})", "exec"), namespace)
        except Exception:
            pytest.fail(f"{path.name}: cell {number} failed\n{traceback.format_exc()}")
    return namespace


@pytest.fixture(scope="module")
def ran(spark, finetuned, tmp_path_factory):
    """Every notebook run once; yields ({notebook stem: its namespace}, the plots directory)."""
    lakehouse = finetuned[0]
    plots = tmp_path_factory.mktemp("notebook-plots")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMMITPACK_LAKEHOUSE", lakehouse.root)
        patch.setenv("COMMITPACK_NOTEBOOK_PLOTS", str(plots))
        patch.syspath_prepend(str(NOTEBOOKS_DIR))
        yield {path.stem: run_notebook(path, spark) for path in NOTEBOOKS}, plots


def test_every_notebook_is_databricks_source_with_markdown_and_code_cells():
    assert [p.name for p in NOTEBOOKS] == ["01_bronze_and_silver.py", "02_commitpack.py", "03_commitpackft.py"]
    for path in NOTEBOOKS:
        kinds = [kind for kind, _ in cells(path)]
        assert kinds[0] == "markdown" and "code" in kinds
        compile(path.read_text(), str(path), "exec")  # also runs as a plain script


def test_the_notebooks_read_the_lakehouse_they_are_given(ran, finetuned):
    namespaces, _ = ran
    for namespace in namespaces.values():
        assert namespace["lakehouse"].root == finetuned[0].root
        assert namespace["env"].display is None  # not on Databricks: figures go to files


def test_bronze_and_silver_counts_match_what_the_stages_reported(ran, indexed):
    notebook = ran[0]["01_bronze_and_silver"]
    summaries = indexed[2]
    rejections = dict(zip(notebook["rejections_by_reason"]["reason"], notebook["rejections_by_reason"]["commits"]))
    assert rejections == summaries["index"].dropped and rejections
    assert abs(notebook["rejections_by_reason"]["share"].sum() - 1) < 0.01
    quarantined = dict(zip(notebook["quarantine_by_reason"]["reason"], notebook["quarantine_by_reason"]["rows"]))
    ingest = summaries["ingest-gharchive"]
    # Damaged lines are rows the ingest dropped; a damaged or missing file is one row of its own.
    lines = {
        reason.removeprefix("quarantine:"): n
        for reason, n in ingest.dropped.items()
        if reason.startswith("quarantine:")
    }
    assert lines and {reason: quarantined.get(reason) for reason in lines} == lines
    whole_files = {reason: n for reason, n in quarantined.items() if reason not in lines}
    assert whole_files.pop("missing_hour", 0) == int(ingest.details["missing hours"])
    assert sum(whole_files.values()) == int(ingest.details["damaged files"])
    index_rows = dict(zip(notebook["index_by_language"]["lang"], notebook["index_by_language"]["commits"]))
    assert sum(index_rows.values()) == summaries["index"].rows_out
    inventory = notebook["inventory"].set_index("table")["rows"]
    assert inventory["silver.commit_index"] == summaries["index"].rows_out
    assert inventory["gold.commitpackft_funnel"] > 0


def test_commitpack_statuses_match_the_fetch_summary(ran, fetched):
    notebook = ran[0]["02_commitpack"]
    summary = fetched[2]
    statuses = dict(zip(notebook["statuses"]["status"], notebook["statuses"]["rows"]))
    assert statuses == {"ok": summary.rows_out, **summary.dropped}
    assert not notebook["statuses"]["retried"].any()  # the sample's repositories are all reachable
    assert int(notebook["languages"]["rows"].sum()) == summary.rows_out
    assert (notebook["languages"]["MB"] > 0).all()


def test_the_funnel_figures_equal_the_funnel_table_and_the_stage_summaries(ran, finetuned):
    notebook = ran[0]["03_commitpackft"]
    lakehouse, _, summaries, _ = finetuned
    by_rule = notebook["funnel_by_rule"]
    computed = {(step, rule): rows for step, rule, rows in zip(by_rule["step"], by_rule["rule"], by_rule["rows"])}

    table = (
        lakehouse.read("gold.commitpackft_funnel").groupBy("step", "reason").agg(F.sum("rows").alias("rows")).collect()
    )
    assert computed == {(r.step or "kept", r.reason or ""): r.rows for r in table}
    # filter reports the rows fetch left without contents (fetch:<status>) and its own rules; dedup its own.
    dropped = {**summaries["filter"].dropped, **summaries["dedup"].dropped}
    assert {rule: rows for (step, rule), rows in computed.items() if step != "kept"} == dropped
    assert computed[("kept", "")] == summaries["dedup"].rows_out
    assert list(notebook["funnel_steps"]["rows"]) == [
        summaries["filter"].rows_in,
        summaries["filter"].rows_in - sum(v for k, v in dropped.items() if k.startswith("fetch:")),
        summaries["filter"].rows_out,
        summaries["dedup"].rows_out,
    ]

    kept = lakehouse.read("gold.commitpackft").groupBy("lang").count().collect()
    by_language = notebook["funnel_by_language"].set_index("lang")
    assert {lang: n for lang, n in by_language["kept"].items() if n} == {r.lang: r["count"] for r in kept}
    assert (by_language["raw"] == by_language[["fetch", "filter", "dedup", "kept"]].sum(axis=1)).all()
    assert notebook["checks"]["ok"].all()


def test_the_duplicate_clusters_account_for_every_row_dedup_dropped(ran, finetuned):
    notebook = ran[0]["03_commitpackft"]
    dedup = finetuned[2]["dedup"]
    clusters = notebook["duplicate_clusters"]
    assert len(clusters) > 0
    assert int((clusters["size"] - 1).sum()) == sum(dedup.dropped.values())
    assert sum(len(members) for members in clusters["dropped"]) == sum(dedup.dropped.values())
    assert clusters["kept"].notna().all()  # every cluster keeps one row


def test_every_plot_is_written_as_a_png_image_with_content(ran):
    _, plots = ran
    assert {p.stem for p in plots.glob("*.png")} == PLOTS
    for name in PLOTS:
        path = plots / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        assert min(image.size) >= 200
        assert pixels.std() > 10  # bars, labels, not a blank canvas
