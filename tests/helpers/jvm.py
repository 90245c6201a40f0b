"""Settings for the Spark drivers tests start in processes of their own (DAG tasks, overlapping
runs): each lives minutes on a few rows, so the C1 compiler alone costs it about half the CPU
(C2's faster code never pays back) and the serial collector spares the parallel one's threads
on 2 cores. Not for the shared test session: it lives the whole run, and C2 pays back there."""

SHORT_LIVED_DRIVER = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
