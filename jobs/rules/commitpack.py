"""The CommitPack rules (OctoPack paper, section 2 and appendix; README "CommitPack rules"): the
index keeps a commit only if every rule keeps it, and a rejection names the first that did not.

``index_rules`` reads these columns of a merged commit: ``found``, ``repos``, ``license``,
``message``, ``parents``, ``truncated``, ``change_count``, ``changes`` (the first changes against
the first parent) and ``lang``.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from commitpack.jobs.rules import Rule, basename, normalized
from commitpack.schemas.settings import MessageSettings, Settings


def message_rules(message: Column, section: MessageSettings) -> list[Rule]:
    """On the full commit message: length bounds, junk messages, merge messages."""
    text = normalized(message)
    length = F.length(message)
    prefixes = [p.lower() for p in section.junk_prefixes]
    return [
        ("message_length", (length > section.min_length) & (length < section.max_length)),
        ("message_junk", ~text.isin([m.lower() for m in section.junk])),
        (
            "message_merge",
            ~F.exists(F.array(*[F.lit(p) for p in prefixes]), lambda p: text.startswith(p))
            if prefixes
            else F.lit(True),
        ),
    ]


def update_filename_rule(message: Column, path: Column, section: MessageSettings) -> list[Rule]:
    """ "Update <file>" says nothing beyond the file it changed."""
    if not section.drop_update_filename:
        return []
    text = normalized(message)
    return [
        (
            "message_update_filename",
            (text != F.concat(F.lit("update "), F.lower(basename(path))))
            & (text != F.concat(F.lit("update "), F.lower(path))),
        )
    ]


def index_rules(cfg: Settings) -> list[Rule]:
    """Every CommitPack rule in the order a rejection names the first one failed."""
    change = F.get("changes", 0)
    opted_out = [o.lower() for o in cfg.opt_out.owners]
    allowed_licenses = [license.lower() for license in cfg.licenses.allow]
    message = cfg.index.message
    rules: list[Rule] = [
        ("commit_not_found", F.col("found")),
        (
            "opt_out",
            ~F.exists("repos", lambda r: F.lower(F.split(r, "/")[0]).isin(opted_out)) if opted_out else F.lit(True),
        ),
        ("license_unknown", F.col("license").isNotNull()),
        ("license_not_allowed", F.lower("license").isin(allowed_licenses)),
        *message_rules(F.col("message"), message),
        ("merge_commit", F.size("parents") <= 1),
        ("not_single_file", ~F.col("truncated") & (F.col("change_count") == 1)),
        ("not_modified_in_place", change["old_path"].isNotNull() & (change["old_path"] == change["new_path"])),
        *update_filename_rule(F.col("message"), change["new_path"], message),
        ("language_unknown", F.col("lang").isNotNull()),
    ]
    if cfg.languages.allow != "all":
        rules.append(("language_not_allowed", F.col("lang").isin([lang.lower() for lang in cfg.languages.allow])))
    return rules
