"""Runs compliance_join.py and apply_manifest.py in Spark local mode on a generated dataset and
asserts that they agree with `xcomply join` and `xcomply apply`. Run by scripts/spark-check."""

import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "interop"))
from gendata import GEO_COLUMNS, make_dataset, write_results  # noqa: E402

FILE_COLUMNS = ["id", "author_id", "text", "geo_lat", "geo_lon", "place_id"]


def run(*args: str) -> None:
    t = time.monotonic()
    subprocess.run(list(args), check=True)
    print(f"  {Path(args[1]).name if args[0].endswith('python') else Path(args[0]).name} {args[2] if len(args) > 2 else ''}: {time.monotonic() - t:.1f} s", flush=True)


def manifest_rows(path: Path) -> list:
    table = ds.dataset(path, format="parquet").to_table()
    return table.select(["file_path", "pos", "id", "author_id", "action", "tweet_reason", "user_reason", "redacted_at"]).to_pylist()


def copy_rows(path: Path) -> list:
    table = ds.dataset(path, format="parquet", partitioning="hive").to_table(columns=FILE_COLUMNS)
    return sorted(table.to_pylist(), key=lambda r: tuple((v is None, v) for v in r.values()))


def main() -> None:
    xcomply, work = sys.argv[1], Path(sys.argv[2])
    py = sys.executable
    spark = ROOT / "scripts" / "spark"
    # Live results (delete, rehydrate, scrub_geo, duplicate events) on int64 IDs; results from
    # before the September 2026 cutover (scrub_geo as a reason of delete) on decimal-string IDs.
    for id_type, vocabulary in [("int64", "live"), ("string", "legacy")]:
        print(f"dataset with {id_type} IDs, {vocabulary} results", flush=True)
        base = work / id_type
        data, results = base / "data", base / "results"
        ids = make_dataset(data, seed=31, files=3, rows=3000, row_group=700, id_type=id_type)
        write_results(results, ids, seed=32, vocabulary=vocabulary)
        run(xcomply, "join", "--dataset", str(data), "--results", str(results), "--out", str(base / "x-manifest"))
        run(py, str(spark / "compliance_join.py"), "--results", str(results), "--dataset", str(data), "--out", str(base / "s-manifest"))

        ours = manifest_rows(base / "x-manifest" / "manifest.parquet")
        theirs = manifest_rows(base / "s-manifest")
        assert len(ours) > 100, len(ours)
        assert ours == theirs, "Spark's manifest differs from xcomply's"
        x_schema = pq.read_schema(base / "x-manifest" / "manifest.parquet")
        s_schema = ds.dataset(base / "s-manifest", format="parquet").schema
        assert [f.type for f in x_schema] == [s_schema.field(n).type for n in x_schema.names], (x_schema, s_schema)
        actions = {r["action"] for r in ours}
        assert actions == ({"delete", "rehydrate", "scrub_geo"} if vocabulary == "live" else {"delete", "scrub_geo"}), actions
        x_ids = (base / "x-manifest" / "rehydrate-ids.txt").read_text()
        assert x_ids == (base / "s-manifest" / "_rehydrate-ids.txt").read_text(), "rehydrate IDs differ"
        assert (x_ids != "") == (vocabulary == "live")
        print(f"  manifests equal: {len(ours)} rows, same types, actions {sorted(actions)}, "
              f"{len(x_ids.splitlines())} rehydrate IDs", flush=True)

        if id_type != "int64":
            continue
        geo = ",".join(GEO_COLUMNS)
        run(xcomply, "apply", "--manifest", str(base / "x-manifest"), "--dataset", str(data), "--out", str(base / "x-copy"), "--geo-columns", geo)
        run(py, str(spark / "apply_manifest.py"), "--manifest", str(base / "x-manifest"), "--dataset", str(data), "--out", str(base / "s-copy"), "--geo-columns", geo)
        run(py, str(spark / "apply_manifest.py"), "--manifest", str(base / "s-manifest"), "--dataset", str(data), "--out", str(base / "s-copy2"), "--geo-columns", geo)
        want = copy_rows(base / "x-copy")
        assert copy_rows(base / "s-copy") == want, "Spark's copy from xcomply's manifest differs from xcomply apply's"
        assert copy_rows(base / "s-copy2") == want, "Spark's copy from Spark's manifest differs from xcomply apply's"
        partitions = sorted(p.name for p in (base / "s-copy").iterdir() if p.is_dir())
        assert partitions == sorted(p.name for p in data.iterdir()), partitions
        print(f"  copies equal: {len(want)} rows, partitions {partitions}", flush=True)
        # A dataset without location data: scrub_geo rows kept as they are by both.
        run(xcomply, "apply", "--manifest", str(base / "x-manifest"), "--dataset", str(data), "--out", str(base / "x-none"), "--geo-columns", "none")
        run(py, str(spark / "apply_manifest.py"), "--manifest", str(base / "x-manifest"), "--dataset", str(data), "--out", str(base / "s-none"), "--geo-columns", "none")
        want = copy_rows(base / "x-none")
        assert copy_rows(base / "s-none") == want, "Spark's copy with --geo-columns none differs from xcomply apply's"
        print(f"  copies with --geo-columns none equal: {len(want)} rows", flush=True)
    print("spark-check: Spark and xcomply agree")


if __name__ == "__main__":
    main()
