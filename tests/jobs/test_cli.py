import os
import sys
from pathlib import Path

import pytest

from commitpack.jobs import cli as cli_module
from commitpack.jobs.cli import build_parser, main
from commitpack.jobs.stages import MODULES

COMMANDS = [name.replace("_", "-") for name in MODULES]


def test_every_job_module_is_a_subcommand_and_a_spark_submit_script():
    repo = Path(__file__).resolve().parents[2]
    for module in cli_module.stages():
        assert module.COMMAND in COMMANDS
        script = repo / "jobs" / "stages" / f"{module.__name__.rsplit('.', 1)[1]}.py"
        assert 'if __name__ == "__main__":' in script.read_text(), script


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommand_help_describes_the_job_and_global_options(command, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: commitpack {command}")
    assert "--lakehouse URI" in text and "--master URL" in text and "--config FILE" in text


def test_top_level_help_lists_every_command(cli):
    done = cli("--help")
    assert done.returncode == 0
    for command in COMMANDS:
        assert f"    {command}" in done.stdout


@pytest.mark.parametrize(
    "argv, exit_code, message",
    [
        (["fetch", "--bogus"], 2, "unrecognized arguments: --bogus"),
        (["nonsense"], 2, "invalid choice: 'nonsense'"),
        (["ingest-gharchive"], 2, "the following arguments are required: --input"),
        (
            ["ingest-gharchive", "--input", "/nonexistent/2024-01-01-*.json.gz"],
            2,
            "--input /nonexistent/2024-01-01-*.json.gz: no such file or directory",
        ),
        (
            ["ingest-bigquery", "--commits", "/nonexistent/commits", "--licenses", "/nonexistent/l"],
            2,
            "--commits /nonexistent/commits: no such file or directory",
        ),
        (["index", "--config", "/nonexistent.yaml"], 2, "--config /nonexistent.yaml: no such file"),
        (["index", "--set", "index.nope=1"], 2, "unknown setting 'index.nope'"),
        (["pipeline", "--commits", "x"], 2, "--commits and --licenses go together"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(argv, exit_code, message, capsys):
    assert main(argv) == exit_code
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1, err


def test_global_options_work_after_the_subcommand():
    args = build_parser().parse_args(["fetch", "--lakehouse", "s3://b/lh", "--set", "a.b=1", "--cache-dir", "/m"])
    cfg_settings = vars(args)
    assert cfg_settings["lakehouse"] == "s3://b/lh" and cfg_settings["set"] == ["a.b=1"]
    assert cfg_settings["git.cache_dir"] == "/m"


def test_missing_java_is_one_clear_line(cli, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # the venv, no java
    done = cli("--lakehouse", str(tmp_path / "lh"), "index", env=env, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "Spark needs Java 17+" in done.stderr and "no `java` on PATH" in done.stderr


def test_unresolvable_delta_jars_are_one_clear_line(cli, tmp_path):
    """An empty jar cache and an unreachable Maven repository: no Ivy dump, no Java trace."""
    env = dict(os.environ, HOME=str(tmp_path / "home"), COMMITPACK_IVY_DIR=str(tmp_path / "ivy"))
    done = cli(
        "--lakehouse",
        str(tmp_path / "lh"),
        "--set",
        "spark.maven_repository=http://127.0.0.1:9/maven2/",
        "index",
        env=env,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "could not resolve io.delta#delta-spark" in done.stderr
    assert "mvn dependency:get" in done.stderr
