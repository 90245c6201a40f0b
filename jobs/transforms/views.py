"""The export's training views of CommitPackFT (README "Training views", SPEC section 6): each
view a DataFrame of its own fields and the row's provenance, built from gold.commitpackft's rows.

* ``qa``: OctoPack's question/answer format, as OctoCoder was tuned, split into ``prompt`` and
  ``completion`` (TRL's SFT trainer masks the prompt's tokens from the loss);
* ``commit``: OctoPack's commit format for pretraining-style use, one ``text``;
* ``chat``: a ``messages`` list (user, assistant) that TRL's SFT trainer and axolotl read as is;
* the answer as the full new file, a unified diff or OctoPack's line diff, the question showing
  the whole old file or a seeded window around the change (``udfs.formats``);
* ``seeds``: OSS-Instruct seed snippets, consecutive lines of the new contents.

Every draw (window size, snippet) is a hash of a seed and the commit: the same rows on every run.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from commitpack.schemas.settings import SeedSettings, ViewSettings, ViewSpec, WindowSettings
from commitpack.schemas.vocabulary import SEEDS_VIEW
from commitpack.udfs.formats import answer_udf

# Every view keeps where its row came from (the license asks for attribution).
PROVENANCE = ("commit", "lang", "new_file", "license", "repos")


def config_name(lang: str) -> str:
    """A language's config and folder name as bigcode's datasets on the Hub write them: lower
    case, no quotes or parentheses, spaces as hyphens (``ignore list`` → ``ignore-list``,
    ``graphviz (dot)`` → ``graphviz-dot``; ``c++`` and ``c#`` stay)."""
    return "-".join(lang.lower().replace("'", "").replace("(", "").replace(")", "").split())


def _draw(seed: int, modulus: Column | int) -> Column:
    """0 ≤ draw < modulus, the same for a commit on every run."""
    return F.pmod(F.xxhash64(F.lit(seed), F.col("commit")), modulus if isinstance(modulus, Column) else F.lit(modulus))


def window_lines(section: WindowSettings) -> Column:
    """Context lines of a row's window, or null (the whole file) for ``full_fraction`` of the rows."""
    whole = _draw(section.seed, 10_000) < F.lit(int(round(section.full_fraction * 10_000)))
    lines = F.lit(section.min_lines) + _draw(section.seed + 1, section.max_lines - section.min_lines + 1)
    return F.when(~whole, lines.cast("int"))


def with_answer(rows: DataFrame, spec: ViewSpec, settings: ViewSettings) -> DataFrame:
    """``rows`` with ``question`` (the old contents as the question shows them) and ``answer``."""
    if spec.answer == "full" and not spec.window:  # nothing to compute: Spark passes them through
        return rows.withColumn("question", F.col("old_contents")).withColumn("answer", F.col("new_contents"))
    context = window_lines(settings.window) if spec.window else F.lit(None).cast("int")
    answered = answer_udf(spec.answer, settings.diff_context_lines)(
        F.coalesce("old_contents", F.lit("")), "new_contents", "old_file", "new_file", context
    )
    return rows.withColumn("_view", answered).select("*", "_view.question", "_view.answer").drop("_view")


def seeds(rows: DataFrame, section: SeedSettings) -> DataFrame:
    """One OSS-Instruct seed per row: ``min_lines``..``max_lines`` consecutive lines of the new
    contents (fewer in a shorter file), at a drawn place, with their line numbers."""
    lines = F.split(F.regexp_replace("new_contents", r"\n$", ""), "\n")
    count = F.least(
        F.size(lines), F.lit(section.min_lines) + _draw(section.seed, section.max_lines - section.min_lines + 1)
    )
    start = _draw(section.seed + 1, F.size(lines) - count + 1)
    return rows.select(
        *PROVENANCE,
        F.array_join(F.slice(lines, start + 1, count), "\n").alias("seed"),
        (start + 1).cast("int").alias("start_line"),
        (start + count).cast("int").alias("end_line"),
    )


def view(rows: DataFrame, spec: ViewSpec, settings: ViewSettings) -> DataFrame:
    """The view ``spec`` of CommitPackFT rows (``gold.commitpackft``'s columns)."""
    if spec.template == SEEDS_VIEW:
        return seeds(rows, settings.seeds)
    answered = with_answer(rows, spec, settings)
    question, answer, subject = F.col("question"), F.col("answer"), F.col("subject")
    if spec.template == "qa":
        fields = [
            F.concat(F.lit("Question: "), subject, F.lit("\n"), question, F.lit("\n\nAnswer:\n")).alias("prompt"),
            answer.alias("completion"),
        ]
    elif spec.template == "commit":
        name = [F.lit("<filename>"), F.col("new_file")] if settings.commit_file_name else []
        fields = [
            F.concat(
                *name,
                F.lit("<commit_before>"),
                question,
                F.lit("<commit_msg>"),
                subject,
                F.lit("<commit_after>"),
                answer,
            ).alias("text")
        ]
    else:
        fields = [
            F.array(
                F.struct(F.lit("user").alias("role"), F.concat(subject, F.lit("\n"), question).alias("content")),
                F.struct(F.lit("assistant").alias("role"), answer.alias("content")),
            ).alias("messages")
        ]
    return answered.select(*PROVENANCE, *fields)


def describe(spec: ViewSpec, settings: ViewSettings) -> str:
    """The view's template, as the dataset card states it (one markdown table row)."""
    question = {
        "full": "{old_contents}",
        "unified-diff": "{old_contents}",
        "line-diff": "{old_contents, each line numbered: 3-wide number, a space}",
    }[spec.answer]
    if spec.window:
        question = question.replace("old_contents", "old_contents: a window around the change")
    answer = {
        "full": "{new_contents}" + (" (the window's lines)" if spec.window else ""),
        "unified-diff": "{unified diff of old → new contents}",
        "line-diff": "{line diff: removed lines numbered as in the old file, added as in the new, no hunks or context}",
    }[spec.answer]
    if spec.template == SEEDS_VIEW:
        seeds = settings.seeds
        fields, template = (
            "`seed`, `start_line`, `end_line`",
            f"{seeds.min_lines}–{seeds.max_lines} consecutive lines of `new_contents`",
        )
    elif spec.template == "qa":
        fields, template = (
            "`prompt`, `completion`",
            f"`Question: {{subject}}\\n{question}\\n\\nAnswer:\\n` + `{answer}`",
        )
    elif spec.template == "commit":
        name = "<filename>{new_file}" if settings.commit_file_name else ""
        fields, template = "`text`", f"`{name}<commit_before>{question}<commit_msg>{{subject}}<commit_after>{answer}`"
    else:
        fields, template = (
            "`messages`",
            f"`[{{role: user, content: {{subject}}\\n{question}}}, {{role: assistant, content: {answer}}}]`",
        )
    provenance = ", ".join(f"`{c}`" for c in PROVENANCE)
    return f"| `{spec.name}` | {fields}, {provenance} | {template} |"


def card_section(settings: ViewSettings) -> list[str]:
    """The dataset card's lines on the training views: how to load one, each view's template."""
    specs = settings.specs
    window = settings.window
    lines = [
        "## Training views",
        "",
        "Besides the raw fields per language, the rows are given in training formats, each a config of its own",
        "(all languages; `lang` says which), built from the same rows:",
        "",
        "```python",
        f'ds = load_dataset("<this directory>", "{specs[0].name}", split="train")',
        "```",
        "",
        "| view | fields | template |",
        "| --- | --- | --- |",
        *(describe(spec, settings) for spec in specs),
        "",
        "`qa` is OctoPack's format (OctoCoder was tuned on it with the question's tokens masked from the loss:",
        "TRL's SFT trainer does so for `prompt`/`completion`); `commit` is its commit format for",
        "pretraining-style use; `chat`'s `messages` read as they are in TRL's SFT trainer and axolotl.",
        "A unified diff applies to `old_contents` with `git apply` or `patch`; a line diff lists the removed",
        "lines with their numbers in the old file and the added lines with their numbers in the new one.",
    ]
    if any(spec.window for spec in specs):
        lines += [
            f"In `-window` views {window.full_fraction:.0%} of the rows show the whole file and the others "
            f"{window.min_lines} to {window.max_lines} unchanged lines",
            "on either side of the change (drawn by a hash of a seed and the commit; numbered lines keep the file's",
            "numbers); diffs carry no more context than the window shows.",
        ]
    if any(spec.template == SEEDS_VIEW for spec in specs):
        lines += [
            "`seeds` are OSS-Instruct (Magicoder) seed snippets: consecutive lines of the new contents, with",
            "their language, lines and provenance.",
        ]
    return [*lines, ""]
