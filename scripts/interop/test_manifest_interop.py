"""Manifests (and results) read without casts in pyarrow, DuckDB and polars, and the DuckDB SQL in
scripts/duckdb/apply_manifest.sql gives the same compliant copy as `xcomply apply`."""

import os
import subprocess
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gendata import GEO_COLUMNS, make_dataset, write_results

ROOT = Path(__file__).resolve().parents[2]
XCOMPLY = os.environ.get("XCOMPLY_BIN", str(ROOT / "target" / "release" / "xcomply"))


def xcomply(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([XCOMPLY, "-q", *args], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("interop")
    data, results, manifest, copy = tmp / "data", tmp / "results", tmp / "manifest", tmp / "copy"
    ids = make_dataset(data, seed=21, files=3, rows=2500, row_group=600)
    write_results(results, ids, seed=22)
    xcomply("join", "--dataset", str(data), "--results", str(results), "--out", str(manifest))
    xcomply("apply", "--manifest", str(manifest), "--dataset", str(data), "--out", str(copy),
            "--geo-columns", ",".join(GEO_COLUMNS))
    return tmp, data, results, manifest, copy


def test_manifest_types_without_casts(run):
    _, _, _, manifest, _ = run
    path = manifest / "manifest.parquet"
    schema = pq.read_schema(path)
    assert schema.names == ["file_path", "pos", "id", "author_id", "action", "tweet_reason", "user_reason", "redacted_at"]
    assert [schema.field(n).type for n in schema.names] == [
        pa.string(), pa.int64(), pa.int64(), pa.int64(), pa.string(), pa.string(), pa.string(),
        pa.timestamp("ms", tz="UTC"),
    ]
    assert not schema.field("file_path").nullable and not schema.field("pos").nullable
    types = duckdb.sql(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{path}')").fetchall()
    assert types == [
        ("file_path", "VARCHAR"), ("pos", "BIGINT"), ("id", "BIGINT"), ("author_id", "BIGINT"),
        ("action", "VARCHAR"), ("tweet_reason", "VARCHAR"), ("user_reason", "VARCHAR"),
        ("redacted_at", "TIMESTAMP WITH TIME ZONE"),
    ]
    frame = pl.read_parquet(path)
    assert frame.schema["pos"] == pl.Int64 and frame.schema["id"] == pl.Int64
    assert frame.schema["file_path"] == pl.String
    assert frame.schema["redacted_at"] == pl.Datetime("ms", "UTC")
    assert frame.height > 0 and frame["action"].unique().sort().to_list() == ["delete", "scrub_geo"]


def test_results_types_in_polars(run):
    _, _, results, _, _ = run
    # Results written in the contract (here by pyarrow, as `xcomply decode` writes them) read as
    # plain INT64 and UTC timestamps, the reason as a categorical string.
    frame = pl.read_parquet(results / "tweets-00001.parquet")
    assert frame.schema["id"] == pl.Int64
    assert frame.schema["created_at"] == pl.Datetime("ms", "UTC")
    assert frame["reason"].cast(pl.String).is_in(["deleted", "scrub_geo", "protected", "suspended", "bounced"]).all()


def test_duckdb_sql_apply_equals_xcomply_apply(run):
    tmp, data, _, manifest, copy = run
    out = tmp / "duckdb-apply"
    out.mkdir()
    con = duckdb.connect()
    con.execute(f"SET VARIABLE dataset = '{data}/**/*.parquet'")
    con.execute(f"SET VARIABLE manifest = '{manifest}/manifest.parquet'")
    con.execute(f"SET VARIABLE geo_columns = {GEO_COLUMNS!r}")
    cwd = os.getcwd()
    try:
        os.chdir(out)
        con.execute((ROOT / "scripts" / "duckdb" / "apply_manifest.sql").read_text())
    finally:
        os.chdir(cwd)
    theirs = pq.read_table(out / "compliant.parquet")
    # xcomply's copy, file by file in path order, row by row: the same rows, values and types.
    ours = pa.concat_tables(
        pq.read_table(p) for p in sorted(copy.rglob("*.parquet"), key=lambda p: str(p.relative_to(copy)))
    )
    assert ours.schema.names == theirs.schema.names
    assert [f.type for f in ours.schema] == [f.type for f in theirs.schema]
    assert ours.num_rows == theirs.num_rows
    assert ours.to_pylist() == theirs.to_pylist()
    scrubbed = duckdb.sql(f"SELECT count(*) FROM '{manifest}/manifest.parquet' WHERE action = 'scrub_geo'").fetchall()[0][0]
    assert scrubbed > 0
