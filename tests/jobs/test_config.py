import pytest

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.errors import UsageError


def test_defaults_carry_the_spec_thresholds():
    cfg = load_settings()
    assert cfg.index.message.min_length == 5
    assert cfg.index.message.max_length == 10000
    assert "apache-2.0" in cfg.licenses.allow and len(cfg.licenses.allow) == 12
    assert cfg.git.remote_template == "https://github.com/{repo}.git"


def test_file_then_set_then_options_override_in_that_order(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text(
        "lakehouse: s3://bucket/lh\nindex:\n  message:\n    max_length: 500\nspark:\n  conf:\n    spark.driver.memory: 4g\n"
    )
    cfg = load_settings(
        str(file),
        ["index.message.max_length=700", "licenses.allow=[mit]"],
        **{"git.cache_dir": "/m", "lakehouse": None},
    )
    assert cfg.lakehouse == "s3://bucket/lh"  # None = option not given
    assert cfg.index.message.max_length == 700
    assert cfg.index.message.min_length == 5  # siblings of an overridden key survive
    assert cfg.licenses.allow == ("mit",)
    assert cfg.git.cache_dir == "/m"
    assert cfg.spark.conf == {"spark.driver.memory": "4g"}


@pytest.mark.parametrize(
    "content, message",
    [
        ("index:\n  mesage: {}\n", "unknown setting 'index.mesage'"),
        ("- a\n- b\n", "expected a mapping"),
        ("index: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_files_are_one_line_usage_errors(tmp_path, content, message):
    file = tmp_path / "c.yaml"
    file.write_text(content)
    with pytest.raises(UsageError, match=message) as err:
        load_settings(str(file))
    assert "\n" not in str(err.value)


def test_bad_overrides_name_the_fix():
    with pytest.raises(UsageError, match="unknown setting 'fetch.max_blob'"):
        load_settings(overrides=["fetch.max_blob=3"])
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        load_settings(overrides=["fetch.max_blob_bytes"])
    with pytest.raises(UsageError, match="no such file"):
        load_settings("/nonexistent/commitpack.yaml")


def test_fingerprint_follows_settings():
    assert load_settings().fingerprint() == load_settings().fingerprint()
    assert load_settings().fingerprint() != load_settings(overrides=["index.max_commits_per_push=1"]).fingerprint()


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "fetch.max_blob_bytes=abc",
            "--set fetch.max_blob_bytes=abc: fetch.max_blob_bytes: expected an integer, got 'abc'",
        ),
        ("licenses.allow=mit", "licenses.allow: expected a list, each a string, got 'mit'"),
        ("spark.progress=sometimes", "spark.progress: expected 'auto' or true or false, got 'sometimes'"),
        (
            "dedup.minhash.bands=7",
            "--set dedup.minhash.bands=7: dedup.minhash.num_perm (128) must be a multiple of bands (7)",
        ),
        ("filter.disable=[no_such_rule]", "filter.disable unknown rule(s) no_such_rule"),
        ("git.remote_template=https://example.com/x.git", "git.remote_template must contain {repo}"),
        ("export.formats=[csv]", "export.formats: expected a list, each 'jsonl' or 'parquet', got ['csv']"),
        ("export.max_layers=0", "export.max_layers must be positive, got 0"),
    ],
)
def test_a_wrong_value_is_refused_when_the_settings_load(override, message):
    with pytest.raises(UsageError) as err:
        load_settings(overrides=[override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_settings_are_typed_sections():
    cfg = load_settings(overrides=["dedup.minhash.threshold=1", "spark.conf={spark.sql.shuffle.partitions: 8}"])
    assert cfg.dedup.minhash.threshold == 1.0 and isinstance(cfg.dedup.minhash.threshold, float)
    assert cfg.spark.conf == {"spark.sql.shuffle.partitions": "8"}  # Spark settings are text
    assert cfg.filter.verbs[:2] == ("abort", "accelerate")
