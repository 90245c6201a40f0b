"""Data-quality expectations of every lakehouse table, declared next to the table schemas.

``expectations(spec, cfg)`` is a table's suite (great-expectations), built from three layers:

* generic, for every table, from its declaration: keys unique (compound keys too), NOT NULL
  columns without nulls, an enumerated column (declared with ``values``, from
  ``schemas.vocabulary``) within those values;
* gated, for the tables downstream of the index's gate (``silver.commit_index`` and every gold
  table), from the configuration: licenses in ``licenses.allow``, languages in
  ``languages.allow``, no repository of an owner in ``opt_out.owners``;
* specific, for the tables listed in ``SPECIFIC``.

A table without specific expectations still gets the other two layers. Each expectation is
``critical`` (a failure stops the run) or ``warning`` (reported only); its description is the
sentence a failure report shows.

Driver-side only: nothing here is imported by the executors.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.row_conditions import Column
from pyspark.sql.types import ArrayType

from commitpack.schemas.settings import Settings
from commitpack.schemas.table import Table, declared_values, sql_literal
from commitpack.schemas.vocabulary import RETRIED

CRITICAL = "critical"
WARNING = "warning"
# What the index admits (its gate: license, opt-out, language) holds in everything after it.
GATED_TABLES = ("silver.commit_index",)
GATED_LAYERS = ("gold",)


def is_gated(spec: Table) -> bool:
    return spec.name in GATED_TABLES or spec.layer in GATED_LAYERS


def generic(spec: Table) -> list[Expectation]:
    keys = ", ".join(spec.keys)
    found: list[Expectation] = [
        gxe.ExpectColumnValuesToBeUnique(
            column=spec.keys[0], severity=CRITICAL, description=f"{keys} is unique (the table's key)"
        )
        if len(spec.keys) == 1
        else gxe.ExpectCompoundColumnsToBeUnique(
            column_list=list(spec.keys), severity=CRITICAL, description=f"({keys}) is unique (the table's key)"
        ),
    ]
    found += [
        gxe.ExpectColumnValuesToNotBeNull(
            column=column, severity=CRITICAL, description=f"{column} is never null (declared NOT NULL)"
        )
        for column in spec.required
    ]
    for field in spec.schema.fields:
        values = declared_values(field)
        if values:
            found.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=field.name,
                    value_set=list(values),
                    severity=CRITICAL,
                    description=f"{field.name} is one of the declared values: {', '.join(values)}",
                )
            )
    return found


def _alternatives(values: list[str]) -> str:
    """A regex group matching any of ``values`` literally."""
    return "(" + "|".join(re.escape(value) for value in values) + ")"


def gated(spec: Table, cfg: Settings) -> list[Expectation]:
    """What the index's gate admitted stays admitted (with the configuration as it is now)."""
    if not is_gated(spec):
        return []
    types = {f.name: f.dataType for f in spec.schema.fields}
    found: list[Expectation] = []
    if "license" in types:
        allowed = [license.lower() for license in cfg.licenses.allow]
        # The index compares lower-cased: so does this (a Java regex, as Spark evaluates it).
        found.append(
            gxe.ExpectColumnValuesToMatchRegex(
                column="license",
                regex=f"(?i)^{_alternatives(allowed)}$",
                severity=CRITICAL,
                description=f"license is in licenses.allow ({', '.join(allowed)}), compared case-insensitively",
            )
        )
        if "license" not in spec.required:
            found.append(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="license",
                    severity=CRITICAL,
                    description="license is never null (the gate admits licensed commits only)",
                )
            )
    languages = cfg.languages.allow
    if "lang" in types and languages != "all":
        allowed = [lang.lower() for lang in languages]
        found.append(
            gxe.ExpectColumnValuesToBeInSet(
                column="lang",
                value_set=allowed,
                severity=CRITICAL,
                description=f"lang is in languages.allow ({', '.join(allowed)})",
            )
        )
    owners = cfg.opt_out.owners
    if owners:
        listed = ", ".join(owners)
        if "repo" in types:
            found.append(
                gxe.ExpectColumnValuesToNotMatchRegex(
                    column="repo",
                    regex=f"(?i)^{_alternatives(owners)}/",
                    severity=CRITICAL,
                    description=f"repo belongs to no owner in opt_out.owners ({listed})",
                )
            )
        if isinstance(types.get("repos"), ArrayType):
            quoted = ", ".join(sql_literal(owner.lower()) for owner in owners)
            found.append(
                gxe.UnexpectedRowsExpectation(
                    unexpected_rows_query=f"SELECT {', '.join(spec.keys)}, repos FROM {{batch}} "
                    f"WHERE exists(repos, r -> lower(split(r, '/')[0]) IN ({quoted}))",
                    severity=CRITICAL,
                    description=f"no repository in repos belongs to an owner in opt_out.owners ({listed})",
                )
            )
        elif "repos" in types:  # comma-joined, as in the datasets
            found.append(
                gxe.ExpectColumnValuesToNotMatchRegex(
                    column="repos",
                    regex=f"(?i)(^|,){_alternatives(owners)}/",
                    severity=CRITICAL,
                    description=f"no repository in repos belongs to an owner in opt_out.owners ({listed})",
                )
            )
    found.append(
        gxe.ExpectTableRowCountToBeBetween(
            min_value=1, severity=WARNING, description="the table has rows (the gate admitted something)"
        )
    )
    return found


def _commitpack(spec: Table, cfg: Settings) -> list[Expectation]:
    cap = cfg.fetch.max_blob_bytes
    ok = Column("status") == "ok"
    return [
        *[
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                max_value=cap,
                row_condition=ok,
                severity=CRITICAL,
                description=f"{column} of a row with status ok is within fetch.max_blob_bytes ({cap:,} bytes)",
            )
            for column in ("old_size", "new_size")
        ],
        gxe.ExpectColumnValuesToNotBeInSet(
            column="status",
            value_set=list(RETRIED),
            severity=WARNING,
            description=f"no row waits for a retried fetch ({', '.join(RETRIED)}; the next fetch retries them)",
        ),
    ]


def _commitpackft(spec: Table, cfg: Settings) -> list[Expectation]:
    found: list[Expectation] = [
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="new_contents", min_value=1, severity=CRITICAL, description="new_contents is not empty"
        )
    ]
    if "new_contents" not in spec.required:
        found.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column="new_contents", severity=CRITICAL, description="new_contents is never null"
            )
        )
    return found


def _gharchive_files(spec: Table, cfg: Settings) -> list[Expectation]:
    return [
        gxe.ExpectColumnValuesToBeInSet(
            column="status",
            value_set=["complete"],
            severity=WARNING,
            description="every GH Archive file was complete (see bronze.gharchive_quarantine for the damage)",
        )
    ]


# Table-specific expectations, by table name.
SPECIFIC: dict[str, Callable[[Table, Settings], list[Expectation]]] = {
    "gold.commitpack": _commitpack,
    "gold.commitpackft": _commitpackft,
    "bronze.gharchive_files": _gharchive_files,
}


def expectations(spec: Table, cfg: Settings) -> list[Expectation]:
    specific = SPECIFIC.get(spec.name)
    return [*generic(spec), *gated(spec, cfg), *(specific(spec, cfg) if specific else [])]
