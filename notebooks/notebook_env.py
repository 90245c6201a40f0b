"""What the notebooks beside this file need from the place they run in: a Spark session with Delta,
the lakehouse, and a way to show a table or a figure.

* On Databricks (the notebook UI, or the notebook tasks of deploy/databricks) the session,
  ``dbutils`` and ``display`` are the notebook's globals, and the lakehouse root is the
  ``lakehouse`` widget. This plain module (no notebook header) is a workspace file beside the
  notebooks, importable from them on Databricks Runtime 14 and later.
* Anywhere else (a laptop, the tests) the session comes from commitpack's own session factory
  (reused when one is already active), the root from ``$COMMITPACK_LAKEHOUSE`` (default: the CLI's
  default, ``./lakehouse``); tables are printed and figures are saved as PNG files into
  ``$COMMITPACK_NOTEBOOK_PLOTS`` (default ``./notebook-plots``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.lakehouse import Lakehouse

LAKEHOUSE_WIDGET = "lakehouse"
LAKEHOUSE_ENV = "COMMITPACK_LAKEHOUSE"
PLOTS_ENV = "COMMITPACK_NOTEBOOK_PLOTS"
ROWS_SHOWN = 20


@dataclass
class NotebookEnv:
    spark: Any
    lakehouse: Lakehouse
    display: Callable | None  # Databricks' display(); None elsewhere
    plots: Path | None  # where figures are saved when there is no display()

    def show(self, rows, limit: int = ROWS_SHOWN) -> None:
        """A Spark or pandas DataFrame: Databricks' table view, or its first rows printed."""
        if self.display is not None:
            self.display(rows)
            return
        frame = (rows.limit(limit).toPandas() if hasattr(rows, "toPandas") else rows.head(limit)).convert_dtypes()
        print(frame.to_string(index=False, max_colwidth=60) if len(frame) else "(no rows)")

    def figure(self, fig, name: str) -> Path | None:
        """Show a matplotlib figure; without display() save it as <plots>/<name>.png."""
        import matplotlib.pyplot as plt

        if self.display is not None:
            self.display(fig)
            return None
        self.plots.mkdir(parents=True, exist_ok=True)
        path = self.plots / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        print(f"figure saved: {path}")
        return path


def connect(namespace: dict) -> NotebookEnv:
    """The environment of the notebook whose globals are ``namespace``."""
    cfg = load_settings()
    dbutils = namespace.get("dbutils")
    if dbutils is not None:
        dbutils.widgets.text(LAKEHOUSE_WIDGET, "", "Lakehouse root")
        root = dbutils.widgets.get(LAKEHOUSE_WIDGET)
        if not root:
            raise ValueError(f"set the `{LAKEHOUSE_WIDGET}` widget to the lakehouse root (s3://…, abfss://…, dbfs:/…)")
    else:
        root = os.environ.get(LAKEHOUSE_ENV) or cfg.lakehouse
    spark = namespace.get("spark")
    if spark is None:
        from commitpack.jobs.runtime.session import get_session

        spark = get_session(cfg)
    display = namespace.get("display") if dbutils is not None else None
    plots = None
    if display is None:
        import matplotlib

        matplotlib.use("Agg")  # files only: no window, no notebook frontend
        plots = Path(os.environ.get(PLOTS_ENV) or "notebook-plots").resolve()
    return NotebookEnv(spark, Lakehouse(spark, root), display, plots)
