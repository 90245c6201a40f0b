"""Benchmarks: each prints its figures and the ratio to a baseline measured in the same run.

Run them with `pytest tests/benchmarks -m benchmark -s`; the default test run skips them.
"""

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if "benchmark" not in (config.getoption("-m") or ""):
        skip = pytest.mark.skip(reason="benchmark: run with -m benchmark")
        for item in items:
            if "benchmark" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def bench_scale():
    """COMMITPACK_BENCH_SCALE multiplies every benchmark's input size (default 1)."""
    return float(os.environ.get("COMMITPACK_BENCH_SCALE", "1"))


@pytest.fixture(scope="session")
def report():
    """Print a benchmark's figures as an aligned block (run pytest with -s to see them)."""

    def show(title: str, rows: list[tuple[str, str]]) -> str:
        width = max(len(k) for k, _ in rows)
        text = "\n".join([f"== {title}", *[f"   {k:<{width}}  {v}" for k, v in rows]])
        print("\n" + text, flush=True)
        return text

    return show
