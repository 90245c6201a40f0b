"""Export CommitPackFT as JSONL and Parquet shards per language, with a dataset card.

The layout is the Hugging Face datasets one: ``data/<lang>/<release>/train-00000-of-00002.jsonl``
(and ``parquet/<lang>/<release>/…parquet``), ``<lang>`` named as the Hub names configs
(``transforms.views.config_name``), the training views in ``views/<view>/<lang>/<release>/…``
(``transforms.views``), and a README.md whose YAML header declares one config per language and
per view, pointing at every layer's files, so ``datasets.load_dataset(<output>, "<lang or view>")``
loads it. The card has the per-language table (rows, MB), the views' templates, the funnel, the
configuration used and PNG plots, always of the whole dataset. Works for any output URI Spark's
Hadoop FileSystem can write (local, s3://, gs://, dbfs:/).

Incremental, in layers: a language's data is a list of layers, each a release folder written
once (in every format and view), and the card's header records them with the version of
gold.commitpackft the export holds. A run reads the table's change feed since that version: a
language whose changes are only inserts gets one new layer holding the inserted rows; a language
with an update or a delete of an exported column, or that would then have more than
``export.max_layers`` layers, is rewritten as one layer. Both are the same write of (language →
rows) into a new release folder. Then the card is replaced in one step (``FileSystem.publish``),
so a reader sees the old dataset or the new one, never a mix; then every folder the card does not
name is deleted, so no stale shard stays behind. Other formats, shard sizes or views, or a card
without layers, rewrite every language.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from commitpack.jobs.runtime.command import stage_main
from commitpack.jobs.runtime.errors import UsageError
from commitpack.jobs.runtime.lakehouse import materialized
from commitpack.jobs.runtime.report import StageSummary, progress
from commitpack.jobs.runtime.storage import FileSystem
from commitpack.jobs.transforms import redaction, views
from commitpack.jobs.transforms.changes import changed_values
from commitpack.schemas.gold import COMMITPACKFT, COMMITPACKFT_FUNNEL
from commitpack.schemas.settings import ExportSettings, RedactSettings, ViewSettings, as_plain, fingerprint
from commitpack.udfs import tokens

COMMAND = "export"
HELP = "write CommitPackFT as JSONL/Parquet shards per language, with a dataset card"

COLUMNS = (
    "commit",
    "old_file",
    "new_file",
    "old_contents",
    "new_contents",
    "subject",
    "message",
    "lang",
    "license",
    "repos",
)
EXTENSIONS = {"jsonl": "jsonl", "parquet": "parquet"}
FOLDERS = {"jsonl": "data", "parquet": "parquet"}
STAGING = "_staging"  # where Spark writes a release's files before they are renamed into place


def add_arguments(parser, within_pipeline: bool = False) -> None:
    parser.add_argument(
        "--output",
        dest="export.output",
        metavar="DIR",
        required=not within_pipeline,
        help="directory (or URI) for the shards and the dataset card",
    )


# ----------------------------------------------------------------------------- transforms


def sharded(rows: DataFrame, shards_per_lang: dict[str, int], columns=COLUMNS) -> DataFrame:
    """Rows in export order with their language's position (``part``) and shard number: stable
    across runs and partitionings. Files are partitioned by the position, not the language, so
    the rows keep their ``lang`` and no name reaches a path (Spark escapes ``c#`` as ``c%23``)."""
    counts = F.create_map(*[x for lang, n in shards_per_lang.items() for x in (F.lit(lang), F.lit(n))])
    parts = F.create_map(*[x for i, lang in enumerate(shards_per_lang) for x in (F.lit(lang), F.lit(i))])
    return (
        rows.select(
            *columns,
            F.element_at(parts, F.col("lang")).alias("part"),
            F.pmod(F.xxhash64("commit"), F.element_at(counts, F.col("lang"))).alias("shard"),
        )
        .repartition("part", "shard")
        .sortWithinPartitions("part", "shard", "commit")
    )


def language_table(sizes: list[dict]) -> str:
    lines = ["| language | rows | MB |", "| --- | ---: | ---: |"]
    for row in sizes:
        lines.append(f"| {row['lang']} | {row['rows']:,} | {row['mb']:.2f} |")
    lines.append(f"| **total** | **{sum(r['rows'] for r in sizes):,}** | **{sum(r['mb'] for r in sizes):.2f}** |")
    return "\n".join(lines)


def funnel_table(funnel: list[dict]) -> str:
    """Rows, MB and PII and secrets found per (step, reason), in pipeline order, over all languages."""
    order = {"fetch": 0, "filter": 1, "dedup": 2, None: 3}
    totals: dict[tuple, list] = {}
    for row in funnel:
        key = (row["step"], row["reason"])
        total = totals.setdefault(key, [0, 0, {}])
        total[0] += row["rows"]
        total[1] += row["bytes"]
        found = row.get("redactions") or {}
        for kind, n in (found.asDict() if hasattr(found, "asDict") else found).items():  # a Row, or its dict
            total[2][kind] = total[2].get(kind, 0) + (n or 0)
    lines = ["| step | rule | rows | MB | PII and secrets found |", "| --- | --- | ---: | ---: | --- |"]
    for (step, reason), (count, size, found) in sorted(
        totals.items(), key=lambda kv: (order.get(kv[0][0], 9), -kv[1][0], kv[0][1] or "")
    ):
        shown = redaction.describe(found) if any(found.values()) else "—"
        lines.append(f"| {step or 'kept'} | {reason or '—'} | {count:,} | {size / 1e6:.2f} | {shown} |")
    return "\n".join(lines)


def card(
    sizes: list[dict],
    funnel: list[dict],
    settings: dict,
    tokenizer: str,
    fmt: str = "jsonl",
    view_settings: ViewSettings | None = None,
    redact: RedactSettings | None = None,
    state: dict | None = None,
) -> str:
    """The dataset card; ``sizes`` rows may name a language's ``layers`` (release folders), ``state``
    is the export's own record (``STATE_KEY`` in the header)."""
    specs = view_settings.specs if view_settings else []

    def globs(root: str, row: dict) -> list[str]:
        return [f"{release_folder(root, row['lang'], r)}/*.{EXTENSIONS[fmt]}" for r in row.get("layers") or [None]]

    header = {
        "pretty_name": "CommitPackFT (commitpack export)",
        "language": ["code", "en"],
        "task_categories": ["text-generation"],
        "configs": [
            {
                "config_name": views.config_name(r["lang"]),
                "data_files": [{"split": "train", "path": globs(FOLDERS[fmt], r)}],
            }
            for r in sizes
        ]
        + [
            {
                "config_name": spec.name,
                "data_files": [
                    {"split": "train", "path": [path for r in sizes for path in globs(view_folder(spec.name), r)]}
                ],
            }
            for spec in specs
        ],
    }
    if state is not None:
        header[STATE_KEY] = state
    return "\n".join(
        [
            "---",
            yaml.safe_dump(header, sort_keys=False).rstrip(),
            "---",
            "",
            "# CommitPackFT",
            "",
            "Git commits turned into instructions: the cleaned commit subject is the instruction, the file before",
            "the commit the input, the file after it the answer. Built by `commitpack` (OctoPack recipe, Delta Lake)",
            "from permissively licensed repositories, filtered by the CommitPackFT rules, deduplicated by exact",
            "and MinHash near-duplicate changes, and decontaminated against evaluation sets.",
            "",
            "Fields: " + ", ".join(f"`{c}`" for c in COLUMNS) + ".",
            "",
            "```python",
            "from datasets import load_dataset",
            f'ds = load_dataset("<this directory>", "{views.config_name(sizes[0]["lang"]) if sizes else "python"}")',
            "```",
            "",
            *(views.card_section(view_settings) if specs else []),
            "## Languages",
            "",
            language_table(sizes),
            "",
            "![rows and MB per language](plots/languages.png)",
            "",
            "## Funnel",
            "",
            "Rows and MB dropped at each step by the first rule that dropped them.",
            "",
            funnel_table(funnel),
            "",
            "![funnel](plots/funnel.png)",
            "",
            *(redaction.card_section(funnel, redact) if redact else []),
            "## Token counts",
            "",
            f"The token-length rule counted tokens with: {tokenizer}.",
            "",
            "## Configuration",
            "",
            "```yaml",
            yaml.safe_dump(settings, sort_keys=False).rstrip(),
            "```",
            "",
        ]
    )


def plots(sizes: list[dict], funnel: list[dict], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    langs = [r["lang"] for r in sizes]
    fig, axes = plt.subplots(1, 2, figsize=(10, max(2.5, 0.35 * len(langs) + 1)))
    axes[0].barh(langs, [r["rows"] for r in sizes], color="#4c72b0")
    axes[0].set_xlabel("rows")
    axes[1].barh(langs, [r["mb"] for r in sizes], color="#55a868")
    axes[1].set_xlabel("MB")
    for ax in axes:
        ax.invert_yaxis()
    fig.suptitle("CommitPackFT per language")
    fig.tight_layout()
    fig.savefig(folder / "languages.png", dpi=110)
    plt.close(fig)

    dropped: dict[str, int] = {}
    for row in funnel:
        label = f"{row['step']}: {row['reason']}" if row["reason"] else "kept"
        dropped[label] = dropped.get(label, 0) + row["rows"]
    items = sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.3 * len(items) + 1)))
    ax.barh(
        [k for k, _ in items], [v for _, v in items], color=["#55a868" if k == "kept" else "#c44e52" for k, _ in items]
    )
    ax.invert_yaxis()
    ax.set_xlabel("rows")
    ax.set_title("Rows per rule (first rule that dropped them) and kept")
    fig.tight_layout()
    fig.savefig(folder / "funnel.png", dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- files

# The card header's key for what the export holds: the gold.commitpackft version, the settings
# of its files and each language's layers (release, rows, MB), oldest first.
STATE_KEY = "commitpack_export"


def view_folder(name: str) -> str:
    return f"views/{name}"


def release_folder(root: str, lang: str, release: str | None) -> str:
    """A language's folder under ``root`` (a format's folder or a view's), in ``release``."""
    return f"{root}/{views.config_name(lang)}" + (f"/{release}" if release else "")


def write_shards(
    rows: DataFrame, out: FileSystem, fmt: str, shards: dict[str, int], releases: dict[str, str], root: str
) -> None:
    """One file per (language, shard) of ``sharded`` rows, renamed to the datasets layout in the
    language's release folder under ``root``."""
    ext = EXTENSIONS[fmt]
    staging = f"{STAGING}/{root}"
    out.delete(staging)
    writer = rows.write.partitionBy("part", "shard").mode("overwrite")
    if fmt == "jsonl":
        writer.option("compression", "none").option("ignoreNullFields", "false").json(out.child(staging))
    else:
        writer.option("compression", COMMITPACKFT.compression).parquet(out.child(staging))
    for position, (lang, count) in enumerate(shards.items()):
        folder = release_folder(root, lang, releases[lang])
        out.delete(folder)  # what a crashed run left there
        for shard in range(count):
            parts = out.files(f"{staging}/part={position}/shard={shard}", ".json" if fmt == "jsonl" else ".parquet")
            for i, part in enumerate(parts):  # one part per shard (the rows are partitioned by it)
                suffix = "" if i == 0 else f"-{i}"
                out.move(part, f"{folder}/train-{shard:05d}-of-{count:05d}{suffix}.{ext}")
    out.delete(staging)


def write_release(
    rows: DataFrame, out: FileSystem, section: ExportSettings, shards: dict[str, int], release: str
) -> None:
    """The languages' shards (``shards``: language → how many) in ``release``: every format,
    and the training views (transforms.views) in the first format. The writes run side by side:
    an increment's are small jobs whose fixed costs (planning, committing and renaming files)
    would otherwise add up one after another."""
    releases = dict.fromkeys(shards, release)
    writes = {f"{fmt} shards": (sharded(rows, shards), fmt, FOLDERS[fmt]) for fmt in section.formats}
    for spec in section.views.specs:
        shaped = views.view(rows, spec, section.views)
        writes[f"the {spec.name} view"] = (
            sharded(shaped, shards, shaped.columns),
            section.formats[0],
            view_folder(spec.name),
        )
    progress(COMMAND, f"writing {', '.join(writes)} for {len(shards)} language(s)")
    with ThreadPoolExecutor(max_workers=len(writes)) as pool:
        running = [
            pool.submit(write_shards, frame, out, fmt, shards, releases, root) for frame, fmt, root in writes.values()
        ]
        for write in running:
            write.result()  # raises the first failure
    out.delete(STAGING)  # each write removed its own folder; this removes their parents


def published(out: FileSystem) -> dict | None:
    """What the export at ``out`` holds, from its card's header (None: no card of ours)."""
    text = out.read_text("README.md")
    if not text or not text.startswith("---\n") or "\n---\n" not in text[4:]:
        return None
    header = yaml.safe_load(text[4 : text.index("\n---\n", 4)]) or {}
    return header.get(STATE_KEY)


def changed_languages(changed: DataFrame) -> tuple[set[str], set[str]]:
    """The languages of gold.commitpackft's changed rows (``changed_values`` of the exported
    columns): those with a row there before (updated or deleted, so a layer holds its old values;
    an update's old and new language), and the others, whose changes are all inserts."""
    rows = changed.select(F.col("before.lang").alias("before"), F.col("after.lang").alias("after")).distinct()
    pairs = [(row.before, row.after) for row in rows.collect()]
    rewritten = {lang for before, after in pairs if before is not None for lang in (before, after) if lang is not None}
    return rewritten, {after for _, after in pairs} - rewritten - {None}


def remove_stale(out: FileSystem, layers: dict[str, dict[str, list[str]]]) -> int:
    """Delete every folder the card does not name: formats and views not written (a whole
    folder), languages not in them and releases not among a language's layers (``layers``: a
    format's or a view's folder → language → its layers' releases); returns how many."""
    removed = 0
    roots = [*FOLDERS.values(), *(view_folder(name) for name in out.folders("views"))]
    for root in roots:
        if root not in layers:
            if out.exists(root):
                out.delete(root)
                removed += 1
            continue
        named = {views.config_name(lang): set(releases) for lang, releases in layers[root].items()}
        for lang in out.folders(root):
            stale = (
                [lang]
                if lang not in named
                else [f"{lang}/{name}" for name in out.folders(f"{root}/{lang}") if name not in named[lang]]
                + [f"{lang}/{Path(path).name}" for path in out.files(f"{root}/{lang}")]
            )  # files: a layout without releases
            for relative in stale:
                out.delete(f"{root}/{relative}")
            removed += len(stale)
    if out.exists("views") and not out.folders("views"):
        out.delete("views")
    return removed


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run writes and why (``mode``): the languages rewritten as one layer (None: every
    one) and those given a layer of their ``inserted`` rows (``changed_values`` rows)."""

    mode: str
    rewrite: frozenset[str] | None = None
    append: frozenset[str] = frozenset()
    inserted: DataFrame | None = None


def pending_languages(lakehouse, state: dict | None, version: int, files: str, max_layers: int) -> Plan:
    """The languages to write, and how, from what the export there holds (``state``)."""
    if state is None:
        return Plan("full: no export of this pipeline there yet")
    if any("layers" not in entry for entry in state["languages"].values()):
        return Plan("full: the export there has one release per language, no layers")
    if state.get("files") != files:
        return Plan("full: other formats, shard sizes or views than the export there")
    if state["version"] == version:
        return Plan(f"incremental: gold.commitpackft is unchanged since version {version}", frozenset())
    feed = lakehouse.changes(COMMITPACKFT, state["version"], version)
    if feed is None:
        return Plan(f"full: gold.commitpackft's change feed does not reach back to version {state['version']}")
    # Read once: its languages are collected here, its inserted rows written later.
    changed = materialized(changed_values(feed, COMMITPACKFT.keys, COLUMNS))
    rewritten, inserted = changed_languages(changed)
    # A layer more would leave these with more than max_layers: each is rewritten as one instead.
    crowded = {lang for lang in inserted if len(state["languages"].get(lang, {}).get("layers", ())) >= max_layers}
    return Plan(
        f"incremental: gold.commitpackft versions {state['version'] + 1}..{version}",
        frozenset(rewritten | crowded),
        frozenset(inserted - crowded),
        changed.where(F.col("before").isNull()),
    )


def layer_rows(table: DataFrame, plan: Plan) -> DataFrame | None:
    """The rows of the run's layers (None: none to write): every row of the languages rewritten
    (``table`` is gold.commitpackft at the run's version), the inserted rows of those appended to."""
    parts = []
    if plan.rewrite is None:
        parts.append(table)
    elif plan.rewrite:
        parts.append(table.where(F.col("lang").isin(sorted(plan.rewrite))))  # their partitions alone are read
    if plan.append:
        # From the change feed: the inserted rows alone, without reading their languages' partitions.
        parts.append(plan.inserted.where(F.col("after.lang").isin(sorted(plan.append))).select("after.*"))
    return functools.reduce(DataFrame.unionByName, (part.select(*COLUMNS) for part in parts)) if parts else None


def language_sizes(layers: dict[str, list[dict]]) -> list[dict]:
    """Each language's rows and MB over its layers, with its layers' releases, most rows first.
    MB from the layers' bytes (a layer's ``mb`` is bytes / 1e6): the figure of one folder of the
    same files, so a dataset exported in layers has the card of one exported at once."""
    sizes = [
        {
            "lang": lang,
            "rows": sum(layer["rows"] for layer in kept),
            "mb": sum(round(layer["mb"] * 1e6) for layer in kept) / 1e6,
            "layers": [layer["release"] for layer in kept],
        }
        for lang, kept in layers.items()
    ]
    return sorted(sizes, key=lambda r: (-r["rows"], r["lang"]))


def run(spark, cfg, lakehouse, args) -> StageSummary:
    summary = StageSummary(COMMAND)
    if not cfg.export.output:
        raise UsageError("export needs --output DIR (or export.output in the configuration)")
    # Raw: a checksummed filesystem (the local one) would publish a .crc file beside each file.
    out = FileSystem(spark, cfg.export.output, raw=True)
    lakehouse.read(COMMITPACKFT)  # names the stage to run first when it is missing
    version = lakehouse.version(COMMITPACKFT)
    formats = list(cfg.export.formats)
    # What the files hold: not where they go, nor how many layers a language may have.
    files = fingerprint(dataclasses.replace(cfg.export, output=None, max_layers=1))
    state = published(out)
    plan = pending_languages(lakehouse, state, version, files, cfg.export.max_layers)
    summary.details["mode"] = plan.mode
    # The layers that stay: every language's but those rewritten (an appended one's new layer comes after them).
    layers = (
        {} if plan.rewrite is None else {k: v["layers"] for k, v in state["languages"].items() if k not in plan.rewrite}
    )
    rows = layer_rows(lakehouse.read_version(COMMITPACKFT, version), plan)
    per_lang = {}
    # A layer is named by what it holds: a card naming it records this version and these files,
    # so a run that writes it finds no card naming it (a crashed run's folder is written again).
    release = f"v{version}-{files}"
    if rows is not None:
        # Counted and written from one copy: every format and view reads these rows.
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            per_lang = {r.lang: r["count"] for r in rows.groupBy("lang").count().collect()}
            shards = {lang: max(1, math.ceil(n / cfg.export.shard_rows)) for lang, n in sorted(per_lang.items())}
            if shards:
                write_release(rows, out, cfg.export, shards, release)
        finally:
            rows.unpersist()
    summary.rows_in = summary.rows_out = sum(per_lang.values())
    for lang, n in sorted(per_lang.items()):
        # MB as published: the size of the first format's files.
        mb = out.size(release_folder(FOLDERS[formats[0]], lang, release)) / 1e6
        layers[lang] = [*layers.get(lang, ()), {"release": release, "rows": n, "mb": mb}]
    sizes = language_sizes(layers)
    funnel = [r.asDict(recursive=True) for r in lakehouse.read(COMMITPACKFT_FUNNEL).collect()]
    settings = {
        "filter": as_plain(cfg.filter),
        "dedup": as_plain(cfg.dedup),
        "redact": as_plain(cfg.redact),
        "licenses": as_plain(cfg.licenses),
        "views": as_plain(cfg.export.views),
    }
    tokenizer = cfg.filter.tokens.tokenizer or tokens.DEFAULT_DESCRIPTION
    record = {
        "version": version,
        "files": files,
        "languages": {r["lang"]: {"layers": layers[r["lang"]]} for r in sizes},
    }
    text = card(sizes, funnel, settings, tokenizer, formats[0], cfg.export.views, cfg.redact, record)
    if text != out.read_text("README.md"):
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp)
            plots(sizes, funnel, local / "plots")
            (local / "README.md").write_text(text, encoding="utf-8")
            for name in (
                "plots/languages.png",
                "plots/funnel.png",
                "README.md",
            ):  # the card last: it names the layers
                out.publish(local / name, name)
    named = {r["lang"]: r["layers"] for r in sizes}
    roots = [FOLDERS[fmt] for fmt in formats] + [view_folder(s.name) for s in cfg.export.views.specs]
    appended = [lang for lang in sorted(per_lang) if lang in plan.append]
    summary.details["output"] = out.root
    summary.details["languages appended to"] = (
        ", ".join(f"{k} {per_lang[k]:,} (layer {len(layers[k])})" for k in appended) or "none"
    )
    summary.details["languages rewritten"] = (
        ", ".join(f"{k} {n:,}" for k, n in sorted(per_lang.items()) if k not in plan.append) or "none"
    )
    summary.details["stale folders removed"] = f"{remove_stale(out, dict.fromkeys(roots, named)):,}"
    summary.details["CommitPackFT"] = f"{sum(r['rows'] for r in sizes):,} rows in {len(sizes):,} language(s)"
    return summary.finish()


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
