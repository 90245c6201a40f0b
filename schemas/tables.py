"""The registry of every lakehouse table, declared once in the layer modules.

Readers, writers, tests, data-quality suites and the README's table list all come from here.
A table's location is ``<lakehouse>/<layer>/<name>``.
"""

from __future__ import annotations

from commitpack.schemas import bronze, gold, meta, silver
from commitpack.schemas.table import Table

TABLES: dict[str, Table] = {
    spec.name: spec
    for module in (bronze, silver, gold, meta)
    for spec in vars(module).values()
    if isinstance(spec, Table)
}


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no table named {name!r}; known: {', '.join(sorted(TABLES))}") from None
