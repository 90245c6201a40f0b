import importlib
import sys
import zipfile
import zipimport

import pytest

from commitpack.udfs.pyworker import reread_zip_directories_only_when_changed

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="Python 3.12 re-reads zip directories lazily itself"
)


def write_zip(path, modules):
    with zipfile.ZipFile(path, "w") as archive:
        for name, source in modules.items():
            archive.writestr(f"{name}.py", source)


def test_an_unchanged_archive_is_not_reread_and_a_changed_one_is(tmp_path, monkeypatch):
    archive = tmp_path / "modules.zip"
    write_zip(archive, {"zipped_alpha": "VALUE = 1\n"})
    monkeypatch.syspath_prepend(str(archive))
    import zipped_alpha  # noqa: F401  (creates the archive's importer)

    importer = sys.path_importer_cache[str(archive)]
    assert isinstance(importer, zipimport.zipimporter)
    reread_zip_directories_only_when_changed()
    importlib.invalidate_caches()  # what PySpark's worker does before every task: the first reads
    directory = importer._files
    importlib.invalidate_caches()
    assert importer._files is directory

    write_zip(archive, {"zipped_alpha": "VALUE = 1\n", "zipped_beta": "VALUE = 2\n"})
    importlib.invalidate_caches()
    assert importer._files is not directory
    assert importlib.import_module("zipped_beta").VALUE == 2


def test_python_workers_run_with_the_fix(spark):
    def flags(batches):
        import zipimport

        import commitpack.udfs  # noqa: F401  (what every UDF of this package imports)

        for batch in batches:
            yield batch.assign(fixed=getattr(zipimport.zipimporter.invalidate_caches, "rereads_when_changed", False))

    rows = spark.range(4).repartition(4).mapInPandas(flags, "id long, fixed boolean").collect()
    assert len(rows) == 4 and all(row.fixed for row in rows)
