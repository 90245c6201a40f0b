"""Executor-side code: plain Python functions and their vectorized Spark wrappers."""

from commitpack.udfs.pyworker import reread_zip_directories_only_when_changed

reread_zip_directories_only_when_changed()
