"""The sample lake the query tests run on is laid out and encoded as the local Firehose deliverer writes the lake."""

from __future__ import annotations

import duckdb

from local import firehose
from streamlake import lake


def _schema_and_codecs(con, path) -> tuple[list, set]:
    schema = con.execute("SELECT name, type FROM parquet_schema(?) ORDER BY name", [str(path)]).fetchall()
    codecs = {c for (c,) in con.execute("SELECT DISTINCT compression FROM parquet_metadata(?)", [str(path)]).fetchall()}
    return schema, codecs


def test_sample_files_have_the_firehose_deliverers_schema_and_compression(sample_lake, tmp_path):
    columns = lake.table_columns(None)
    delivered = tmp_path / "delivered.parquet"
    delivered.write_bytes(firehose._parquet([{name: None for name, _ in columns}], columns))
    sample = next(sample_lake.lake_dir.rglob(f"*{lake.PARQUET_EXTENSION}"))
    with duckdb.connect() as con:
        assert _schema_and_codecs(con, sample) == _schema_and_codecs(con, delivered)


def test_sample_files_sit_under_the_partition_paths_of_their_arrival_hour(sample_lake):
    expected = {lake.partition_path(e.family, e.arrival) for e in sample_lake.events}
    written = {
        path.parent.relative_to(sample_lake.lake_dir).as_posix() + "/"
        for path in sample_lake.lake_dir.rglob(f"*{lake.PARQUET_EXTENSION}")
    }
    assert written == expected
