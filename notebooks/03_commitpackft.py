# Databricks notebook source
# MAGIC %md
# MAGIC # Gold: CommitPackFT and its funnel
# MAGIC
# MAGIC From raw CommitPack to CommitPackFT every row is either kept or dropped by one step (`fetch`: no
# MAGIC contents; `filter`: a CommitPackFT rule, message language or decontamination; `dedup`: an exact or near
# MAGIC duplicate) and the first rule that dropped it. `gold.commitpackft_decisions` has that decision per row,
# MAGIC `gold.commitpackft_funnel` the rows and bytes per step, rule and language, `gold.commitpackft` the rows kept.
# MAGIC
# MAGIC On Databricks, set the `lakehouse` widget to the lakehouse root; elsewhere set `COMMITPACK_LAKEHOUSE`
# MAGIC (figures are then saved into `COMMITPACK_NOTEBOOK_PLOTS`).

# COMMAND ----------

import matplotlib.pyplot as plt
import pandas as pd
from pyspark.sql import functions as F

from commitpack.jobs.stages.export import funnel_table
from commitpack.schemas.gold import COMMITPACK, COMMITPACKFT, COMMITPACKFT_DECISIONS, COMMITPACKFT_FUNNEL
from notebook_env import connect

env = connect(globals())
spark, lakehouse = env.spark, env.lakehouse
funnel = lakehouse.read(COMMITPACKFT_FUNNEL)
decisions = lakehouse.read(COMMITPACKFT_DECISIONS)
commitpackft = lakehouse.read(COMMITPACKFT)
print(f"lakehouse: {lakehouse.root}")

STEPS = ["fetch", "filter", "dedup", "kept"]  # pipeline order; `kept`: the rows of CommitPackFT
COLORS = {"fetch": "#dd8452", "filter": "#c44e52", "dedup": "#8172b3", "kept": "#55a868"}
step_of = F.coalesce("step", F.lit("kept"))
step_rank = F.create_map(*[x for i, s in enumerate(STEPS) for x in (F.lit(s), F.lit(i))])[step_of]

# COMMAND ----------

# MAGIC %md
# MAGIC ## The funnel per rule
# MAGIC Rows and MB (UTF-8 contents, old + new) dropped by each step and rule, over all languages. The same table
# MAGIC as in the export's dataset card follows it.

# COMMAND ----------

funnel_by_rule = (
    funnel.groupBy(step_of.alias("step"), F.coalesce("reason", F.lit("")).alias("rule"), step_rank.alias("rank"))
    .agg(F.sum("rows").alias("rows"), (F.sum("bytes") / 1e6).alias("MB"))
    .orderBy("rank", F.desc("rows"), "rule")
    .drop("rank")
    .toPandas()
)
raw_rows = int(funnel_by_rule["rows"].sum())
funnel_by_rule["share of raw rows"] = (funnel_by_rule["rows"] / max(1, raw_rows)).round(3)
env.show(funnel_by_rule, limit=len(funnel_by_rule))
print(funnel_table([row.asDict() for row in funnel.collect()]))

# COMMAND ----------

# MAGIC %md
# MAGIC ## The funnel per step and language
# MAGIC Rows of raw CommitPack per language, how many each step dropped, and how many CommitPackFT kept.

# COMMAND ----------

funnel_by_language = (
    funnel.withColumn("outcome", step_of)
    .groupBy("lang")
    .pivot("outcome", STEPS)
    .agg(F.sum("rows"))
    .na.fill(0)
    .toPandas()
)
funnel_by_language.insert(1, "raw", funnel_by_language[STEPS].sum(axis=1))
funnel_by_language["kept share"] = (funnel_by_language["kept"] / funnel_by_language["raw"]).round(3)
funnel_by_language = funnel_by_language.sort_values(["raw", "lang"], ascending=[False, True], ignore_index=True)
env.show(funnel_by_language, limit=len(funnel_by_language))

# Rows remaining after each step, all languages together.
funnel_steps = pd.DataFrame(
    {
        "stage": ["raw CommitPack", "after fetch", "after filter", "after dedup (CommitPackFT)"],
        "rows": [raw_rows]
        + [
            raw_rows - int(funnel_by_rule.loc[funnel_by_rule["step"].isin(STEPS[: i + 1]), "rows"].sum())
            for i in range(3)
        ],
    }
)
env.show(funnel_steps)

# COMMAND ----------

# MAGIC %md
# MAGIC ### Do the tables agree?
# MAGIC The funnel is the decisions counted, CommitPackFT is the rows the funnel calls kept, and raw CommitPack is
# MAGIC every row the funnel counts: a difference here means a stage was rerun without the ones after it.

# COMMAND ----------

counted = decisions.groupBy("step", "reason", "lang").agg(
    F.count("*").cast("long").alias("rows"), F.sum("bytes").cast("long").alias("bytes")
)
table = funnel.select("step", "reason", "lang", "rows", "bytes")
mismatched = counted.exceptAll(table).union(table.exceptAll(counted)).count()
content_bytes = F.octet_length(F.coalesce("old_contents", F.lit(""))) + F.octet_length("new_contents")
# Bytes as the filter saw them (the funnel's): gold.commitpackft holds placeholders for PII and secrets since.
raw_bytes = lakehouse.read(COMMITPACK).select("commit", content_bytes.alias("raw_bytes"))
commitpackft_languages = (
    commitpackft.join(raw_bytes, "commit")
    .groupBy("lang")
    .agg(
        F.count("*").alias("rows"),
        F.sum("raw_bytes").alias("bytes"),
        F.countDistinct("cluster").alias("clusters"),
        F.percentile_approx("tokens", 0.5).alias("median tokens"),
    )
    .orderBy(F.desc("rows"), "lang")
    .toPandas()
)
commitpackft_languages.insert(2, "MB", commitpackft_languages["bytes"] / 1e6)
kept = (
    funnel.where(F.col("step").isNull())
    .groupBy("lang")
    .agg(F.sum("rows").alias("rows"), F.sum("bytes").alias("bytes"))
    .toPandas()
)
checks = pd.DataFrame(
    [
        {"check": "funnel = decisions counted per step, rule and language", "ok": mismatched == 0},
        {
            "check": "kept rows and bytes per language = gold.commitpackft",
            "ok": kept.set_index("lang")
            .sort_index()
            .equals(commitpackft_languages.set_index("lang")[["rows", "bytes"]].sort_index()),
        },
        {"check": "raw rows = gold.commitpack", "ok": raw_rows == lakehouse.read(COMMITPACK).count()},
    ]
)
env.show(checks)
assert checks["ok"].all(), checks[~checks["ok"]]

# COMMAND ----------

fig, (left, right) = plt.subplots(1, 2, figsize=(13, max(3.5, 0.35 * len(funnel_by_language) + 1.5)))
left.bar(funnel_steps["stage"].str.replace(" (", "\n("), funnel_steps["rows"], color=["#4c72b0"] * 3 + [COLORS["kept"]])
for x, rows in enumerate(funnel_steps["rows"]):
    left.annotate(f"{rows:,}", (x, rows), ha="center", va="bottom")
left.set_ylabel("rows remaining")
left.set_title("From raw CommitPack to CommitPackFT")
start = pd.Series(0, index=funnel_by_language.index)
for step in STEPS:
    right.barh(funnel_by_language["lang"], funnel_by_language[step], left=start, color=COLORS[step], label=step)
    start = start + funnel_by_language[step]
right.invert_yaxis()
right.set_xlabel("rows of raw CommitPack")
right.set_title("Per language: kept, or the step that dropped the row")
right.legend(loc="lower right")
fig.tight_layout()
env.figure(fig, "03_funnel")

# COMMAND ----------

dropped = funnel_by_rule[funnel_by_rule["step"] != "kept"]
fig, ax = plt.subplots(figsize=(9, max(3, 0.3 * len(dropped) + 1)))
labels = [
    rule if rule.startswith(f"{step}:") else f"{step}: {rule}" for step, rule in zip(dropped["step"], dropped["rule"])
]
ax.barh(labels, dropped["rows"], color=[COLORS[step] for step in dropped["step"]])
ax.invert_yaxis()
ax.set_xlabel("rows dropped (first rule that dropped them)")
ax.set_title("Rows dropped per rule")
fig.tight_layout()
env.figure(fig, "03_rules")

# COMMAND ----------

# MAGIC %md
# MAGIC ## CommitPackFT per language
# MAGIC Rows, MB of contents, duplicate clusters the rows stand for, and the median token count.

# COMMAND ----------

env.show(commitpackft_languages, limit=len(commitpackft_languages))
fig, (left, right) = plt.subplots(1, 2, figsize=(11, max(2.5, 0.35 * len(commitpackft_languages) + 1.5)))
left.barh(commitpackft_languages["lang"], commitpackft_languages["rows"], color="#4c72b0")
left.set_xlabel("rows")
right.barh(commitpackft_languages["lang"], commitpackft_languages["MB"], color="#55a868")
right.set_xlabel("MB")
for ax in (left, right):
    ax.invert_yaxis()
fig.suptitle("CommitPackFT per language")
fig.tight_layout()
env.figure(fig, "03_languages")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Duplicate clusters
# MAGIC Rows that dedup linked as exact or near duplicates (MinHash): one row per cluster is kept, the others are
# MAGIC dropped with the reason that linked them. Then every member with its subject.

# COMMAND ----------

members = decisions.where(F.col("cluster_size") > 1)
duplicate_clusters = (
    members.groupBy("cluster", "lang")
    .agg(
        F.max("cluster_size").alias("size"),
        F.max(F.when(F.col("step").isNull(), F.col("commit"))).alias("kept"),
        F.sort_array(
            F.collect_list(F.when(F.col("step") == "dedup", F.concat_ws(" ", F.substring("commit", 1, 12), "reason")))
        ).alias("dropped"),
    )
    .orderBy(F.desc("size"), "cluster")
    .toPandas()
)
print(
    f"{len(duplicate_clusters):,} clusters with duplicates, {int((duplicate_clusters['size'] - 1).sum()):,} rows dropped as duplicates"
)
env.show(duplicate_clusters)
env.show(
    members.select(
        "cluster", "commit", F.coalesce("reason", F.lit("kept")).alias("decision"), "repo", "subject"
    ).orderBy("cluster", "decision", "commit"),
    limit=50,
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Decontamination
# MAGIC Rows dropped because their change contains an evaluation problem, with the problem they matched.

# COMMAND ----------

env.show(
    decisions.where(F.col("reason") == "contaminated")
    .select("commit", "lang", "repo", "subject", "detail")
    .orderBy("commit")
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Sample rows
# MAGIC The subject is the instruction, the old contents the input, the new contents the answer.

# COMMAND ----------

env.show(
    commitpackft.select("lang", "subject", "old_file", "message_lang", "tokens", "license").orderBy("lang", "commit"),
    limit=10,
)
sample = commitpackft.orderBy("lang", "commit").first()
if sample is not None:
    print(
        f"## {sample.lang}: {sample.subject}\n--- {sample.old_file}\n{(sample.old_contents or '')[:1500]}\n"
        f"+++ {sample.new_file}\n{sample.new_contents[:1500]}"
    )
