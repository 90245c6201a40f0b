"""The one Spark session factory.

Three cases:
* a session already exists (Databricks, a notebook, a job started by ``spark-submit``): it is
  reused exactly as configured; Delta must already be on it;
* no session and no master given: an embedded ``local[*]`` Spark with Delta;
* an explicit master URL (``spark://``, ``yarn``, ``k8s://``…): a new session against it.

When commitpack starts the JVM itself, the JVM's console output (Ivy resolution, log4j, task
stack traces) goes to a log file and only Spark's progress bar reaches the terminal, so a user
sees one-line errors, not Java stack traces.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

from commitpack.jobs.runtime.errors import JobError, describe
from commitpack.schemas.settings import Settings

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
MIN_JAVA = 17
# Where the JVM's console output of the current process's session went.
_log_path: Path | None = None


def log_path() -> Path | None:
    """The Spark log file of the session this process started, if it started one."""
    return _log_path


def get_session(cfg: Settings, master: str | None = None):
    """Return a SparkSession with Delta Lake, creating one only when none exists."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is None and ("PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ):
        # Started by spark-submit or a Databricks job: the launcher already chose master,
        # jars and settings; a builder without options picks them up unchanged.
        active = SparkSession.builder.getOrCreate()
    if active is None:
        return _create_session(cfg, master or cfg.spark.master)
    _require_delta(active)
    for key, value in RESULT_SETTINGS.items():
        active.conf.set(key, value)
    return active


def spark_packages() -> list[str]:
    """Maven coordinates of the jars an embedded session needs, matching the installed pyspark."""
    import pyspark

    spark_version = pyspark.__version__
    try:
        delta_version = metadata.version("delta-spark")
    except metadata.PackageNotFoundError:
        raise JobError(
            "Delta Lake's Python package is missing: install commitpack with the local extra "
            "(pip install 'commitpack[local]') or run under spark-submit with --packages io.delta:…"
        ) from None
    spark_minor = ".".join(spark_version.split(".")[:2])
    delta_major_minor = tuple(int(p) for p in re.findall(r"\d+", delta_version)[:2])
    # From Delta 4.1 on, artifacts carry the Spark line they were built for.
    artifact = f"delta-spark_{spark_minor}_2.13" if delta_major_minor >= (4, 1) else "delta-spark_2.13"
    return [
        f"io.delta:{artifact}:{delta_version}",
        f"org.apache.spark:spark-avro_2.13:{spark_version}",
    ]


def _require_delta(session) -> None:
    if "DATABRICKS_RUNTIME_VERSION" in os.environ:
        return
    extensions = session.conf.get("spark.sql.extensions", "") or ""
    if DELTA_EXTENSION not in extensions:
        options = " ".join(spark_submit_options(delta_properties(spark_packages_hint())))
        raise JobError(f"this Spark session has no Delta Lake: start it with {options}")


def delta_properties(packages: list[str] | None = None) -> dict[str, str]:
    """Spark settings every commitpack session needs: the Delta (and Avro) jars (default: those
    matching the installed pyspark and delta-spark), Delta's SQL extension and its catalog."""
    return {
        "spark.jars.packages": ",".join(packages or spark_packages()),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
    }


def spark_submit_options(properties: dict[str, str]) -> list[str]:
    """``--packages … --conf k=v …``: Spark settings as spark-submit's options."""
    words = []
    for key, value in properties.items():
        words += ["--packages", value] if key == "spark.jars.packages" else ["--conf", f"{key}={value}"]
    return words


def spark_packages_hint() -> list[str]:
    try:
        return spark_packages()
    except JobError:
        return ["io.delta:delta-spark_<spark-minor>_2.13:<delta-version>"]


def _check_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        where = f"JAVA_HOME={java_home} has no bin/java" if java_home else "no `java` on PATH"
        raise JobError(f"Spark needs Java {MIN_JAVA}+ and {where}: install a JDK (e.g. openjdk-17) or set JAVA_HOME")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JobError(f"could not run {java} -version: {exc}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match:
        major = int(match.group(1))
        major = int(match.group(2)) if major == 1 and match.group(2) else major
        if major < MIN_JAVA:
            raise JobError(
                f"Spark 4 needs Java {MIN_JAVA}+, but {java} is Java {major}: install a newer JDK or set JAVA_HOME"
            )


def _is_local_machine(master: str) -> bool:
    if master.startswith("local"):
        return True
    host = urlparse(master).hostname or ""
    return host in {"127.0.0.1", "localhost", "::1"}


def _local_heap_gb() -> int:
    """A quarter of the machine's memory, between 1 and 8 GB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1
    return max(1, min(8, total // 4 // 2**30))


def _ivy_settings(ivy_dir: Path, repository: str) -> Path:
    """Resolve from ~/.m2 (where `mvn dependency:get` puts jars) and then one Maven repository."""
    m2 = Path.home() / ".m2" / "repository"
    settings = ivy_dir / "commitpack-ivysettings.xml"
    text = f"""<ivysettings>
  <settings defaultResolver="commitpack"/>
  <resolvers>
    <chain name="commitpack" returnFirst="true">
      <ibiblio name="local-m2" m2compatible="true" root="{m2.as_uri()}"/>
      <ibiblio name="maven" m2compatible="true" root="{repository}"/>
    </chain>
  </resolvers>
</ivysettings>
"""
    ivy_dir.mkdir(parents=True, exist_ok=True)
    if not settings.exists() or settings.read_text() != text:
        settings.write_text(text)
    return settings


# Session settings the tables' contents depend on, applied to reused sessions as well (they are
# session-scoped: the cluster's own settings stay as they are). Dates such as a GH Archive
# event's event_date are UTC dates whatever the machine's or cluster's zone.
RESULT_SETTINGS = {"spark.sql.session.timeZone": "UTC"}


def _session_conf(cfg: Settings, master: str, show_progress: bool) -> dict[str, str]:
    ivy_dir = Path(os.environ.get("COMMITPACK_IVY_DIR", Path.home() / ".ivy2.5.2"))
    conf = {
        "spark.master": master,
        "spark.app.name": cfg.spark.app_name,
        **delta_properties([*spark_packages(), *cfg.spark.packages]),
        "spark.jars.ivy": str(ivy_dir),
        "spark.jars.ivySettings": str(_ivy_settings(ivy_dir, cfg.spark.maven_repository)),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": str(show_progress).lower(),
        **RESULT_SETTINGS,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # A merge's new rows usually fall in a few partitions (one hour is one event_date):
        # repartitioning by partition column before writing would put them all on one core.
        "spark.databricks.delta.merge.repartitionBeforeWrite.enabled": "false",
        # Partitioned writes keep a file open per partition value instead of sorting every row
        # (contents included) by it first.
        "spark.sql.maxConcurrentOutputFileWriters": "64",
    }
    if master.startswith("local"):
        # Local executors live in the driver's JVM: its heap (1 GB by default) is theirs too.
        conf["spark.driver.memory"] = f"{_local_heap_gb()}g"
    if _is_local_machine(master):
        cores = os.cpu_count() or 2
        conf.update(
            {
                # Small local data: a few shuffle partitions and Delta log partitions, not 200 and 50.
                "spark.sql.shuffle.partitions": str(max(4, 2 * cores)),
                "spark.databricks.delta.snapshotPartitions": "2",
                "spark.pyspark.python": sys.executable,
            }
        )
    conf.update(cfg.spark.conf)
    return conf


def _create_session(cfg: Settings, master: str):
    global _log_path
    from pyspark import SparkConf, SparkContext
    from pyspark.errors import PySparkException
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    _check_java()
    if _is_local_machine(master):
        # pyspark starts its Python workers with $PYSPARK_PYTHON (default `python3`), not with
        # spark.pyspark.python; on this machine they must be this interpreter, with this install.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    progress = cfg.spark.progress
    show_progress = sys.stderr.isatty() if progress == "auto" else bool(progress)
    conf = SparkConf(loadDefaults=False).setAll(_session_conf(cfg, master, show_progress).items())

    log_dir = Path(os.environ.get("COMMITPACK_LOG_DIR", Path(tempfile.gettempdir()) / "commitpack-logs"))
    log_dir.mkdir(parents=True, exist_ok=True)
    _log_path = log_dir / f"spark-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    read_fd, write_fd = os.pipe()
    pump = _ConsolePump(read_fd, _log_path, show_progress)
    pump.start()
    try:
        gateway = launch_gateway(conf, popen_kwargs={"stdout": write_fd, "stderr": write_fd})
    except PySparkException:
        os.close(write_fd)
        pump.join(timeout=10)
        raise JobError(_startup_failure(_log_path, master)) from None
    os.close(write_fd)
    _log_python_errors_to(_log_path)
    SparkContext._ensure_initialized(gateway=gateway, conf=conf)
    try:
        session = SparkSession.builder.config(conf=conf).getOrCreate()
    except Exception as exc:  # the JVM is up but the context failed: an unreachable master, say
        raise JobError(f"Spark could not start against {master}: {describe(exc)} (log: {_log_path})") from None
    session.sparkContext.setLogLevel("WARN")
    # py4j reports every closed gateway connection at INFO: under a host that logs INFO to the
    # terminal (Airflow, pytest with Airflow imported) that is noise, and at interpreter exit an
    # error about a closed stream.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    return session


def _log_python_errors_to(path: Path) -> None:
    """pyspark's own logger of failed queries prints each error with its JVM trace to the
    terminal; it goes to the Spark log with the rest."""
    from pyspark.logger import PySparkLogger

    query_logger = PySparkLogger.getLogger("DataFrameQueryContextLogger")
    query_logger.handlers = [logging.FileHandler(path)]
    query_logger.propagate = False


def _startup_failure(log: Path, master: str) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    unresolved = re.findall(r"unresolved dependency: (\S+)", text)
    if unresolved or "java.lang.RuntimeException: [unresolved dependency" in text:
        names = ", ".join(dict.fromkeys(unresolved)) or "the Delta jars"
        return (
            f"could not resolve {names} from Maven: check the network or spark.maven_repository, "
            f"or pre-fetch with `mvn dependency:get -Dartifact=<group>:<artifact>:<version>` (log: {log})"
        )
    for line in text.splitlines():
        if "Exception" in line or "Error" in line:
            return f"Spark could not start ({master}): {line.strip()} (log: {log})"
    return f"Spark could not start ({master}); see {log}"


class _ConsolePump(threading.Thread):
    """Copies the JVM's console output to a log file; forwards the progress bar to stderr.

    Spark's ConsoleProgressBar prints ``\\r[Stage …]\\r`` and clears with ``\\r<spaces>\\r``;
    everything else is a log line ending in ``\\n``.
    """

    def __init__(self, fd: int, path: Path, show_progress: bool):
        super().__init__(name="commitpack-spark-console", daemon=True)
        self._fd = fd
        self._path = path
        self._show_progress = show_progress

    def run(self) -> None:
        pending = b""
        with open(self._path, "ab", buffering=0) as log:
            while True:
                try:
                    chunk = os.read(self._fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                pending += chunk
                pending = self._dispatch(pending, log)
            if pending:
                log.write(pending)
        os.close(self._fd)

    def _dispatch(self, data: bytes, log) -> bytes:
        while True:
            cut = min((i for i in (data.find(b"\r"), data.find(b"\n")) if i >= 0), default=-1)
            if cut < 0:
                return data
            segment, delimiter, data = data[:cut], data[cut : cut + 1], data[cut + 1 :]
            if delimiter == b"\r" and (segment.startswith(b"[Stage") or (segment and not segment.strip())):
                if self._show_progress:
                    sys.stderr.write("\r" + segment.decode(errors="replace") + "\r")
                    sys.stderr.flush()
            elif segment:
                log.write(segment + b"\n")
