import json
import os
import subprocess
import sys
import textwrap

import pytest

from commitpack.jobs.runtime.config import load_settings
from commitpack.jobs.runtime.lakehouse import Lakehouse, normalize_root
from commitpack.jobs.runtime.report import StageSummary, stage_run_rows
from commitpack.jobs.runtime.session import _ConsolePump, get_session, spark_packages


def test_local_session_has_delta_utc_and_quiet_ui(spark):
    assert "io.delta.sql.DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.sparkContext.getConf().get("spark.ui.enabled") == "false"
    assert spark.sparkContext.master == "local[2]"


def test_existing_session_is_reused_without_overriding_its_settings(spark):
    again = get_session(
        load_settings(overrides=["spark.master=local[1]", "spark.conf={spark.sql.shuffle.partitions: 99}"])
    )
    assert again is spark
    assert spark.sparkContext.master == "local[2]"
    assert spark.conf.get("spark.sql.shuffle.partitions") != "99"


def test_jar_coordinates_match_the_installed_spark():
    import pyspark

    delta, avro = spark_packages()
    minor = ".".join(pyspark.__version__.split(".")[:2])
    assert delta.startswith(f"io.delta:delta-spark_{minor}_2.13:")
    assert avro == f"org.apache.spark:spark-avro_2.13:{pyspark.__version__}"


def test_delta_round_trip_merge_is_idempotent(lakehouse, spark):
    summary = StageSummary("ingest-gharchive", rows_in=10, rows_out=7, dropped={"damaged": 3}).finish()
    rows = stage_run_rows(spark, "run-1", summary, "abc")
    assert lakehouse.merge("meta.stage_runs", rows) == {"inserted": 1, "updated": 0, "deleted": 0}
    assert lakehouse.merge("meta.stage_runs", rows) == {"inserted": 0, "updated": 0, "deleted": 0}
    back = lakehouse.read("meta.stage_runs").collect()
    assert len(back) == 1
    assert back[0].dropped == {"damaged": 3} and back[0].rows_out == 7 and back[0].stage == "ingest-gharchive"
    assert os.path.isdir(os.path.join(lakehouse.root, "meta", "stage_runs", "_delta_log"))


def test_missing_table_names_the_stage_to_run(lakehouse):
    from commitpack.jobs.runtime.errors import JobError
    from commitpack.schemas.meta import STAGE_RUNS

    assert not lakehouse.exists(STAGE_RUNS)
    with pytest.raises(JobError, match="meta.stage_runs does not exist"):
        lakehouse.read(STAGE_RUNS)


def test_roots_keep_uris_and_absolutize_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalize_root("s3://bucket/lh/") == "s3://bucket/lh"
    assert normalize_root("dbfs:/commitpack") == "dbfs:/commitpack"
    assert normalize_root("gs://b/x") == "gs://b/x"
    assert normalize_root("lh") == str(tmp_path / "lh")


def test_console_pump_sends_progress_to_stderr_and_the_rest_to_the_log(tmp_path, capsys):
    read_fd, write_fd = os.pipe()
    log = tmp_path / "spark.log"
    pump = _ConsolePump(read_fd, log, show_progress=True)
    pump.start()
    os.write(write_fd, b"26/01/01 WARN NativeCodeLoader: no native\n\r[Stage 0:>   (0 + 2) / 2]\r")
    os.write(write_fd, b"\r" + b" " * 10 + b"\rjava.lang.RuntimeException: boom\n\tat Foo.bar(Foo.java:1)\n")
    os.close(write_fd)
    pump.join(timeout=10)
    assert log.read_text().splitlines() == [
        "26/01/01 WARN NativeCodeLoader: no native",
        "java.lang.RuntimeException: boom",
        "\tat Foo.bar(Foo.java:1)",
    ]
    assert capsys.readouterr().err == "\r[Stage 0:>   (0 + 2) / 2]\r\r" + " " * 10 + "\r"


@pytest.mark.cluster
def test_delta_round_trip_on_a_standalone_cluster(standalone_cluster, tmp_path, spark):
    script = textwrap.dedent(f"""
        import json
        from commitpack.jobs.runtime.config import load_settings
        from commitpack.jobs.runtime.lakehouse import Lakehouse
        from commitpack.jobs.runtime.report import StageSummary, stage_run_rows
        from commitpack.jobs.runtime.session import get_session
        cfg = load_settings(overrides=["spark.progress=false"])
        spark = get_session(cfg, {standalone_cluster!r})
        lh = Lakehouse(spark, {str(tmp_path / "lh")!r})
        rows = spark.range(0, 40, numPartitions=4).selectExpr(
            "concat('run-', id) as run_id", "'cluster' as stage", "current_timestamp() as started_at",
            "current_timestamp() as finished_at", "id as rows_in", "id * 2 as rows_out",
            "map('x', id) as dropped", "cast(null as map<string,string>) as details",
            "'fp' as config_fingerprint", "'test' as commitpack_version")
        first = lh.merge("meta.stage_runs", rows)
        again = lh.merge("meta.stage_runs", rows)
        executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
        total = lh.read("meta.stage_runs").groupBy().sum("rows_out").first()[0]
        print(json.dumps({{"master": spark.sparkContext.master, "executors": executors,
                           "first": first, "again": again, "total": total}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["master"] == standalone_cluster
    assert result["executors"] == 3  # the driver and the two workers' executors
    assert result["first"] == {"inserted": 40, "updated": 0, "deleted": 0}
    assert result["again"] == {"inserted": 0, "updated": 0, "deleted": 0}
    assert result["total"] == 2 * sum(range(40))
    # The table the cluster wrote reads back the same in the local session.
    local = Lakehouse(spark, str(tmp_path / "lh")).read("meta.stage_runs")
    assert local.count() == 40


def test_a_reused_session_gets_the_settings_results_depend_on(spark):
    spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
    try:
        assert get_session(load_settings()) is spark
        assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
