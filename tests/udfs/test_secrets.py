"""PII and secrets: precision and recall on the planted set, placeholders, counts."""

from __future__ import annotations

import pandas as pd

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.sample.planted import planted_set
from commitpack.udfs import secrets

SETTINGS = load_settings().redact


def redacted(case) -> str:
    return secrets.redact(
        case.text, secrets.find(case.text, case.filename, SETTINGS.plugins, SETTINGS.allow_email_domains)
    )


def detect_secrets_flags(case, folder) -> bool:
    """Whether detect-secrets, all plugins and its default filters, flags the case's file."""
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    path = folder / case.name.replace(" ", "_") / (case.filename or "COMMIT_EDITMSG")
    path.parent.mkdir(parents=True)
    path.write_text(case.text)
    with default_settings():
        return any(True for _ in scan_file(str(path)))


def test_precision_and_recall_on_the_planted_set(tmp_path):
    """A secret case is found when every planted value is gone and its kind's placeholder is in
    its place; a look-alike is a false positive when anything in it changed. detect-secrets
    scanning each case's file (all plugins) is measured on the same texts: a flagged case counts
    as found."""

    cases = planted_set()
    found = {
        c.name
        for c in cases
        if c.secrets
        and all(value not in redacted(c) for _, value in c.secrets)
        and all(secrets.PLACEHOLDERS[kind] in redacted(c) for kind, _ in c.secrets)
    }
    changed = {c.name for c in cases if not c.secrets and redacted(c) != c.text}
    planted = {c.name for c in cases if c.secrets}
    precision, recall = len(found) / (len(found) + len(changed)), len(found) / len(planted)
    flagged = {c.name for c in cases if detect_secrets_flags(c, tmp_path)}
    ds_precision, ds_recall = len(flagged & planted) / len(flagged), len(flagged & planted) / len(planted)
    print(
        f"\nredaction on {len(planted)} planted secrets and {len(cases) - len(planted)} look-alikes: "
        f"P {precision:.3f} R {recall:.3f}; detect-secrets scanning the files: "
        f"P {ds_precision:.3f} R {ds_recall:.3f}, flagged {sorted(flagged - planted)}, missed {sorted(planted - flagged)}"
    )
    assert not changed, changed
    assert found == planted, planted - found


def test_each_kind_has_its_placeholder_and_a_private_key_block_is_replaced_whole():
    text = 'mail = "ops.lead@acme-corp.io"\nhost = "52.14.7.9"\npassword = "Tr0ub4dor&3x"\n'
    assert redacted(type("C", (), {"text": text, "filename": "app.py"})) == (
        'mail = "<EMAIL>"\nhost = "<IP_ADDRESS>"\npassword = "<PASSWORD>"\n'
    )
    key = next(c for c in planted_set() if c.name == "private key")
    assert redacted(key) == "-----BEGIN RSA PRIVATE KEY-----\n<KEY>\n-----END RSA PRIVATE KEY-----\n"


def test_counts_per_row_over_its_texts_and_null_for_rows_not_scanned():
    old = pd.Series(['token = "ghp_' + "a1B2" * 9 + '"\n', None])
    new = pd.Series(["see me@acme-corp.io\n", None])
    message = pd.Series(["Fix it\n\nCc: me@acme-corp.io", None])
    got = secrets.count_frame([old, new, message], pd.Series(["x.py", "y.py"]), SETTINGS.plugins, ())
    assert got.iloc[0].to_dict() == {"email": 2, "ip_address": 0, "key": 1, "password": 0}
    assert got.iloc[1].isna().all()
