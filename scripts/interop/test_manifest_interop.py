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
    assert frame.height > 0 and frame["action"].unique().sort().to_list() == ["delete", "rehydrate", "scrub_geo"]


def test_results_types_in_polars(run):
    _, _, results, _, _ = run
    # Results written in the contract (here by pyarrow, as `xcomply decode` writes them) read as
    # plain INT64 and UTC timestamps, the action and reason as categorical strings.
    frame = pl.read_parquet(results / "tweets-00001.parquet")
    assert frame.schema["id"] == pl.Int64
    assert frame.schema["created_at"] == pl.Datetime("ms", "UTC")
    assert frame["action"].cast(pl.String).is_in(["delete", "rehydrate", "scrub_geo"]).all()
    assert frame["reason"].cast(pl.String).is_in(["deleted", "tweet_edited", "geo_scrubbed", "protected", "suspended"]).all()


def duckdb_apply(out: Path, data: Path, manifest: Path, geo_columns) -> None:
    """Runs scripts/duckdb/apply_manifest.sql in `out` (geo_columns None leaves the variable unset)."""
    out.mkdir()
    con = duckdb.connect()
    con.execute(f"SET VARIABLE dataset = '{data}/**/*.parquet'")
    con.execute(f"SET VARIABLE manifest = '{manifest}/manifest.parquet'")
    if geo_columns is not None:
        con.execute(f"SET VARIABLE geo_columns = {geo_columns!r}::VARCHAR[]")
    cwd = os.getcwd()
    try:
        os.chdir(out)
        con.execute((ROOT / "scripts" / "duckdb" / "apply_manifest.sql").read_text())
    finally:
        os.chdir(cwd)


def copy_table(copy: Path) -> pa.Table:
    """xcomply's copy, file by file in path order."""
    return pa.concat_tables(
        pq.read_table(p) for p in sorted(copy.rglob("*.parquet"), key=lambda p: str(p.relative_to(copy)))
    )


def test_duckdb_sql_apply_equals_xcomply_apply(run):
    tmp, data, _, manifest, copy = run
    out = tmp / "duckdb-apply"
    duckdb_apply(out, data, manifest, GEO_COLUMNS)
    theirs = pq.read_table(out / "compliant.parquet")
    # xcomply's copy, file by file in path order, row by row: the same rows, values and types.
    ours = copy_table(copy)
    assert ours.schema.names == theirs.schema.names
    assert [f.type for f in ours.schema] == [f.type for f in theirs.schema]
    assert ours.num_rows == theirs.num_rows
    assert ours.to_pylist() == theirs.to_pylist()
    counts = dict(duckdb.sql(f"SELECT action, count(*) FROM '{manifest}/manifest.parquet' GROUP BY action").fetchall())
    assert counts["scrub_geo"] > 0 and counts["rehydrate"] > 0


def test_duckdb_sql_and_xcomply_keep_scrub_geo_rows_without_geo_columns(run):
    tmp, data, _, manifest, _ = run
    copy, out = tmp / "copy-none", tmp / "duckdb-none"
    done = xcomply("apply", "--manifest", str(manifest), "--dataset", str(data), "--out", str(copy),
                   "--geo-columns", "none")
    assert '"rows_scrub_geo_kept":' in done.stdout
    duckdb_apply(out, data, manifest, [])
    ours, theirs = copy_table(copy), pq.read_table(out / "compliant.parquet")
    assert ours.to_pylist() == theirs.to_pylist()
    # Nothing was nulled: every kept row has its original geo data.
    original = duckdb.sql(f"SELECT count(geo_lat) FROM read_parquet('{data}/**/*.parquet', filename = true, file_row_number = true) d "
                          f"ANTI JOIN (SELECT * FROM '{manifest}/manifest.parquet' WHERE action = 'delete') m "
                          "ON d.filename = m.file_path AND d.file_row_number = m.pos").fetchall()[0][0]
    assert theirs.column("geo_lat").null_count == theirs.num_rows - original
    # Without geo columns named at all, a manifest with scrub_geo rows is refused.
    with pytest.raises(duckdb.Error, match="geo_columns is not set"):
        duckdb_apply(tmp / "duckdb-unset", data, manifest, None)
    assert not (tmp / "duckdb-unset" / "compliant.parquet").exists()


def test_duckdb_sql_refuses_an_unknown_action(run, tmp_path):
    _, data, _, manifest, _ = run
    table = pq.read_table(manifest / "manifest.parquet")
    actions = table.column("action").to_pylist()
    first = actions.index("scrub_geo")
    actions = ["geo_blur" if a == "scrub_geo" else a for a in actions]
    odd = tmp_path / "m"
    odd.mkdir()
    pq.write_table(table.set_column(table.schema.get_field_index("action"), "action", pa.array(actions, pa.string())),
                   odd / "manifest.parquet")
    with pytest.raises(duckdb.Error, match=f"rows have an action this script does not know, the first geo_blur at .* row {table.column('pos')[first]}"):
        duckdb_apply(tmp_path / "out", data, odd, GEO_COLUMNS)
    assert not (tmp_path / "out" / "compliant.parquet").exists()
