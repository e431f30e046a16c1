"""`xcomply decode` output read by DuckDB and pyarrow: the results schema contract holds outside Rust."""

import os
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
XCOMPLY = os.environ.get("XCOMPLY_BIN", str(ROOT / "target" / "release" / "xcomply"))


def decode(tmp_path: Path, fixture: str, job_type: str, *extra: str) -> Path:
    out = tmp_path / f"{job_type}.parquet"
    subprocess.run(
        [XCOMPLY, "-q", "decode", str(ROOT / "fixtures" / fixture), "--type", job_type,
         "--out", str(out), *extra],
        check=True,
    )
    return out


def test_pyarrow_sees_the_contract_schema(tmp_path):
    out = decode(tmp_path, "results/docs-tweets.jsonl", "tweets", "--job-id", "1446017776678801409")
    schema = pq.read_schema(out)
    dictionary = pa.dictionary(pa.int32(), pa.string())
    ts = pa.timestamp("ms", tz="UTC")
    assert schema.names == ["id", "action", "reason", "created_at", "redacted_at", "job_id", "job_type"]
    assert [schema.field(n).type for n in schema.names] == [
        pa.int64(), dictionary, dictionary, ts, ts, pa.int64(), dictionary,
    ]
    assert not schema.field("id").nullable and schema.field("redacted_at").nullable
    meta = pq.ParquetFile(out).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    table = pq.read_table(out)
    assert table.column("id").to_pylist()[3] == 906972198136631298
    assert set(table.column("job_id").to_pylist()) == {1446017776678801409}


def test_duckdb_reads_users_with_both_timestamp_shapes(tmp_path):
    out = decode(tmp_path, "jsonl/messy.jsonl", "users")
    rows = duckdb.sql(
        f"""SELECT id, reason, epoch_ms(created_at), redacted_at IS NULL, job_id, job_type
            FROM '{out}' ORDER BY id"""
    ).fetchall()
    assert rows == [
        (783214, "deactivated", 1171982154000, False, None, "users"),
        (17874544, "memorialized", 1228416717000, True, None, "users"),
        (2244994945, "suspended", 1364265975000, True, None, "users"),
        (2244994945, "suspended", 1364265975000, True, None, "users"),
    ]
