#!/usr/bin/env bash
# EMR bootstrap action: installs the commitpack wheel on this node. EMR runs it on every node
# before Spark starts, so the executors have commitpack and its native dependencies (pygit2,
# pyarrow) too. Arguments: the wheel's s3:// URI, and the Python that Spark runs (the steps
# name the same one in spark.pyspark.python).
set -euo pipefail

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
  echo "usage: $0 s3://bucket/prefix/commitpack-VERSION-py3-none-any.whl [python]" >&2
  exit 2
fi
wheel_uri="$1"
python="${2:-python3}"

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
aws s3 cp --only-show-errors "$wheel_uri" "$workdir/"
sudo "$python" -m pip install --quiet "$workdir/$(basename "$wheel_uri")"
