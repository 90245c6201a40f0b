"""Executor-side code: plain Python functions and their vectorized Spark wrappers."""
