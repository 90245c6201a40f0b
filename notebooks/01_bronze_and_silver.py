# Databricks notebook source
# MAGIC %md
# MAGIC # Bronze and silver: what was loaded, what was set aside, and why
# MAGIC
# MAGIC The inputs as loaded (GH Archive push events, BigQuery `github_repos` exports), the damaged GH Archive
# MAGIC input kept in quarantine, and the commit index with the first rule that excluded each rejected commit.
# MAGIC
# MAGIC On Databricks, set the `lakehouse` widget to the lakehouse root; elsewhere set `COMMITPACK_LAKEHOUSE`
# MAGIC (figures are then saved into `COMMITPACK_NOTEBOOK_PLOTS`).

# COMMAND ----------

import matplotlib.pyplot as plt
import pandas as pd
from pyspark.sql import Window
from pyspark.sql import functions as F

from commitpack.jobs.stages.pipeline import STAGES
from commitpack.schemas.tables import TABLES
from notebook_env import connect

env = connect(globals())
spark, lakehouse = env.spark, env.lakehouse
print(f"lakehouse: {lakehouse.root}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Every table of the lakehouse
# MAGIC Declared once in `schemas/`; `rows` is empty for a table no stage has written yet.

# COMMAND ----------

inventory = pd.DataFrame(
    [
        {
            "table": name,
            "rows": lakehouse.read(spec).count() if lakehouse.exists(spec) else None,
            "written by": spec.produced_by or "every stage",
            "description": spec.description,
        }
        for name, spec in sorted(TABLES.items())
    ]
).astype({"rows": "Int64"})
env.show(inventory, limit=len(inventory))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Stage runs
# MAGIC The last run of each stage as the CLI recorded it in `meta.stage_runs`: rows in, out and dropped per reason.

# COMMAND ----------

if lakehouse.exists("meta.stage_runs"):
    order = F.create_map(*[x for i, stage in enumerate(STAGES) for x in (F.lit(stage.COMMAND), F.lit(i))])
    runs = lakehouse.read("meta.stage_runs")
    last = runs.groupBy("stage").agg(F.max("finished_at").alias("finished_at"))
    env.show(
        runs.join(last, ["stage", "finished_at"])
        .select("stage", "finished_at", "rows_in", "rows_out", "dropped", "run_id")
        .orderBy(F.coalesce(order[F.col("stage")], F.lit(len(STAGES))))
    )
else:
    print("no stage runs recorded: the tables were written without the `commitpack` CLI")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Bronze: GH Archive
# MAGIC The file ledger (a truncated or corrupt file still loads up to the damage), the push events per day and
# MAGIC payload format, and the quarantine: every damaged line with its reason.

# COMMAND ----------

files = lakehouse.read("bronze.gharchive_files")
env.show(
    files.groupBy("status")
    .agg(
        F.count("*").alias("files"),
        F.sum("lines").alias("lines"),
        F.sum("push_lines").alias("push lines"),
        F.sum("pushes").alias("pushes"),
        F.sum("quarantined").alias("quarantined"),
    )
    .orderBy("status")
)

pushes = lakehouse.read("bronze.gharchive_pushes")
env.show(
    pushes.groupBy("event_date", "payload_format")
    .agg(F.count("*").alias("pushes"), F.countDistinct("repo_name").alias("repositories"))
    .orderBy("event_date", "payload_format")
)

# COMMAND ----------

quarantine = lakehouse.read("bronze.gharchive_quarantine")
quarantine_by_reason = (
    quarantine.groupBy("reason")
    .agg(F.count("*").alias("rows"), F.countDistinct("source_file").alias("files"))
    .orderBy(F.desc("rows"), "reason")
    .toPandas()
)
env.show(quarantine_by_reason)
env.show(
    quarantine.select(
        "reason", "source_file", "source_line", "detail", F.substring("excerpt", 1, 120).alias("excerpt")
    ).orderBy("source_file", "source_line")
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Bronze: BigQuery exports

# COMMAND ----------

exports = pd.DataFrame(
    [
        {"table": name, "rows": lakehouse.read(name).count() if lakehouse.exists(name) else None}
        for name in ("bronze.bq_commits", "bronze.bq_licenses", "bronze.bq_languages")
    ]
).astype({"rows": "Int64"})
env.show(exports)
env.show(lakehouse.read("bronze.bq_licenses").groupBy("license").count().orderBy(F.desc("count"), "license"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Silver: pushes resolved against their repositories

# COMMAND ----------

env.show(lakehouse.read("silver.push_enumerations").groupBy("status").count().orderBy(F.desc("count"), "status"))
env.show(lakehouse.read("silver.repo_licenses").groupBy("status", "license").count().orderBy("status", "license"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Silver: the commit index and its rejections
# MAGIC Every commit seen is either in `silver.commit_index` or in `silver.index_rejections` with the first
# MAGIC CommitPack rule it failed.

# COMMAND ----------

index = lakehouse.read("silver.commit_index")
rejections = lakehouse.read("silver.index_rejections")
indexed, rejected = index.count(), rejections.count()
print(f"{indexed:,} commits indexed, {rejected:,} rejected ({rejected / max(1, indexed + rejected):.0%} of those seen)")

rejections_by_reason = (
    rejections.groupBy("reason").agg(F.count("*").alias("commits")).orderBy(F.desc("commits"), "reason").toPandas()
)
rejections_by_reason["share"] = (rejections_by_reason["commits"] / max(1, rejected)).round(3)
env.show(rejections_by_reason)

index_by_language = (
    index.groupBy("lang")
    .agg(F.count("*").alias("commits"), F.countDistinct("repo").alias("repositories"))
    .orderBy(F.desc("commits"), "lang")
    .toPandas()
)
env.show(index_by_language)
env.show(index.groupBy("license", "license_source").count().orderBy(F.desc("count"), "license"))

# COMMAND ----------

# MAGIC %md One rejected commit per reason, to see what each rule catches.

# COMMAND ----------

first = F.row_number().over(Window.partitionBy("reason").orderBy("commit"))
env.show(
    rejections.withColumn("n", first)
    .where("n = 1")
    .select("reason", "commit", "subject", "old_path", "new_path", "change_count", "license")
    .orderBy("reason")
)

# COMMAND ----------

fig, (left, right) = plt.subplots(
    1, 2, figsize=(12, max(3, 0.35 * max(len(rejections_by_reason), len(index_by_language)) + 1.5))
)
left.barh(rejections_by_reason["reason"], rejections_by_reason["commits"], color="#c44e52")
left.set_title("Commits rejected by the index, per first rule")
right.barh(index_by_language["lang"], index_by_language["commits"], color="#4c72b0")
right.set_title("Commits in the index, per language")
for ax in (left, right):
    ax.invert_yaxis()
    ax.set_xlabel("commits")
fig.tight_layout()
env.figure(fig, "01_index")
