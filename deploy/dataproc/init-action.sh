#!/usr/bin/env bash
# Dataproc initialization action: installs the commitpack wheel on this node. Dataproc runs it as
# root on every node when the cluster is created, so the executors have commitpack and its native
# dependencies (pygit2, pyarrow) too. The wheel's gs:// URI and the Python that Spark runs come
# from the cluster's metadata (commitpack-wheel, commitpack-python), which
# deploy/dataproc/dataproc.py sets; its jobs name the same Python in spark.pyspark.python.
set -euo pipefail

metadata() { /usr/share/google/get_metadata_value "attributes/$1"; }
wheel_uri="$(metadata commitpack-wheel)"
python="$(metadata commitpack-python)"

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
gcloud storage cp "$wheel_uri" "$workdir/"
"$python" -m pip install --quiet "$workdir/${wheel_uri##*/}"
