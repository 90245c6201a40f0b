# Databricks notebook source
# MAGIC %md
# MAGIC # Gold: raw CommitPack
# MAGIC
# MAGIC `gold.commitpack` holds every indexed commit with the changed file before and after, its diff and a fetch
# MAGIC status: `ok` rows carry contents; the others say why not (final statuses), or that the next `fetch`
# MAGIC retries them. Sizes per language are the UTF-8 bytes of the contents the rows carry.
# MAGIC
# MAGIC On Databricks, set the `lakehouse` widget to the lakehouse root; elsewhere set `COMMITPACK_LAKEHOUSE`
# MAGIC (figures are then saved into `COMMITPACK_NOTEBOOK_PLOTS`).

# COMMAND ----------

import matplotlib.pyplot as plt
from pyspark.sql import functions as F

from commitpack.schemas.gold import COMMITPACK
from commitpack.schemas.vocabulary import FETCH_STATUSES, RETRIED
from notebook_env import connect

env = connect(globals())
spark, lakehouse = env.spark, env.lakehouse
commitpack = lakehouse.read(COMMITPACK)
print(f"lakehouse: {lakehouse.root}; {commitpack.count():,} rows in {COMMITPACK.name}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Fetch statuses
# MAGIC Rows per status; `retried` statuses (a fetch that failed, ran out of its time budget, or an error) are
# MAGIC fetched again by the next run, the others are final.

# COMMAND ----------

statuses = (
    commitpack.groupBy("status")
    .agg(F.count("*").alias("rows"), F.countDistinct("repo").alias("repositories"))
    .orderBy(F.desc("rows"), "status")
    .toPandas()
)
statuses["retried"] = statuses["status"].isin(RETRIED)
unknown = set(statuses["status"]) - set(FETCH_STATUSES)
assert not unknown, f"statuses outside the declared ones: {unknown}"
env.show(statuses)
env.show(
    commitpack.where(F.col("status") != "ok")
    .select("status", "detail", "repo", "lang", "new_file", "commit")
    .orderBy("status", "commit")
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Per language
# MAGIC Rows fetched, the MB of their contents (old + new, UTF-8), and how big a change is.

# COMMAND ----------

content_bytes = F.octet_length(F.coalesce("old_contents", F.lit(""))) + F.octet_length(
    F.coalesce("new_contents", F.lit(""))
)
languages = (
    commitpack.where(F.col("status") == "ok")
    .groupBy("lang")
    .agg(
        F.count("*").alias("rows"),
        (F.sum(content_bytes) / 1e6).alias("MB"),
        F.countDistinct("repo").alias("repositories"),
        F.percentile_approx("new_size", 0.5).alias("median new file bytes"),
        F.sum("lines_added").alias("lines added"),
        F.sum("lines_removed").alias("lines removed"),
    )
    .orderBy(F.desc("rows"), "lang")
    .toPandas()
)
env.show(languages, limit=len(languages))

# COMMAND ----------

fig, (left, middle, right) = plt.subplots(1, 3, figsize=(14, max(3, 0.35 * len(languages) + 1.5)))
left.barh(
    statuses["status"],
    statuses["rows"],
    color=[
        "#55a868" if s == "ok" else "#dd8452" if r else "#c44e52"
        for s, r in zip(statuses["status"], statuses["retried"])
    ],
)
left.set_title("Rows per fetch status")
middle.barh(languages["lang"], languages["rows"], color="#4c72b0")
middle.set_title("Fetched rows per language")
right.barh(languages["lang"], languages["MB"], color="#8172b3")
right.set_title("MB of contents per language")
for ax, label in ((left, "rows"), (middle, "rows"), (right, "MB")):
    ax.invert_yaxis()
    ax.set_xlabel(label)
fig.tight_layout()
env.figure(fig, "02_commitpack")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Sample rows
# MAGIC A few fetched commits, then one diff in full.

# COMMAND ----------

ok = commitpack.where(F.col("status") == "ok")
env.show(
    ok.select(
        "lang", "repo", "subject", "old_file", "new_file", "lines_added", "lines_removed", "hunks", "license"
    ).orderBy("lang", "commit"),
    limit=10,
)
example = ok.where(F.col("diff").isNotNull()).orderBy(F.desc("hunks"), "commit").first()
if example is not None:
    print(f"{example.repo} {example.commit[:12]} ({example.lang}): {example.subject}\n")
    print(example.diff[:4000])
