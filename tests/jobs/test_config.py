import pytest

from commitpack.jobs.config import Config
from commitpack.jobs.errors import UsageError


def test_defaults_carry_the_spec_thresholds():
    cfg = Config.load()
    assert cfg.get("index.message.min_length") == 5
    assert cfg.get("index.message.max_length") == 10000
    assert "apache-2.0" in cfg.get("licenses.allow") and len(cfg.get("licenses.allow")) == 12
    assert cfg.get("git.remote_template") == "https://github.com/{repo}.git"


def test_file_then_set_then_options_override_in_that_order(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("lakehouse: s3://bucket/lh\nindex:\n  message:\n    max_length: 500\nspark:\n  conf:\n    spark.driver.memory: 4g\n")
    cfg = Config.load(str(file), ["index.message.max_length=700", "licenses.allow=[mit]"],
                      **{"git.mirror_dir": "/m", "lakehouse": None})
    assert cfg.get("lakehouse") == "s3://bucket/lh"  # None = option not given
    assert cfg.get("index.message.max_length") == 700
    assert cfg.get("index.message.min_length") == 5  # siblings of an overridden key survive
    assert cfg.get("licenses.allow") == ["mit"]
    assert cfg.get("git.mirror_dir") == "/m"
    assert cfg.get("spark.conf") == {"spark.driver.memory": "4g"}


@pytest.mark.parametrize("content, message", [
    ("index:\n  mesage: {}\n", "unknown setting 'index.mesage'"),
    ("- a\n- b\n", "expected a mapping"),
    ("index: [unclosed\n", "not valid YAML"),
])
def test_bad_config_files_are_one_line_usage_errors(tmp_path, content, message):
    file = tmp_path / "c.yaml"
    file.write_text(content)
    with pytest.raises(UsageError, match=message) as err:
        Config.load(str(file))
    assert "\n" not in str(err.value)


def test_bad_overrides_name_the_fix():
    with pytest.raises(UsageError, match="unknown setting 'fetch.max_blob'"):
        Config.load(overrides=["fetch.max_blob=3"])
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        Config.load(overrides=["fetch.max_blob_bytes"])
    with pytest.raises(UsageError, match="no such file"):
        Config.load("/nonexistent/commitpack.yaml")


def test_fingerprint_follows_settings():
    assert Config.load().fingerprint() == Config.load().fingerprint()
    assert Config.load().fingerprint() != Config.load(overrides=["index.max_commits_per_push=1"]).fingerprint()
