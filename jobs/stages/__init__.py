"""The pipeline's stages, one module per ``commitpack`` subcommand (see ``runtime.stage.Stage``).

Each stage is also a script for ``spark-submit`` (``spark-submit jobs/stages/index.py …`` takes
the same options as ``commitpack index …``). ``pipeline`` and ``demo`` compose the others.
"""

# In the pipeline's order, then the composites.
MODULES = ("ingest_gharchive", "ingest_bigquery", "index", "fetch", "filter", "dedup", "export", "pipeline", "demo")
