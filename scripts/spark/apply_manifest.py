"""Writes a compliant copy of a Parquet dataset from an xcomply manifest, with Spark: the rows whose
action is `delete` removed, the geo columns set to null in the rows whose action is `scrub_geo`,
the rows whose action is `rehydrate` (edited posts, to fetch again) kept unchanged and counted.
A manifest with any other action is refused, as by `xcomply apply`.

    spark-submit scripts/spark/apply_manifest.py --manifest MANIFEST --dataset /data/posts \
        --out /data/posts-compliant [--geo-columns geo_lat,geo_lon,place_id | --geo-columns none]

`--geo-columns none` says that the dataset has no location columns: the scrub_geo rows are then kept
as they are. Without `--geo-columns`, a manifest with scrub_geo rows is refused.

MANIFEST is `xcomply join`'s manifest (its directory or `manifest.parquet`) or the output
directory of compliance_join.py; `--dataset` must be spelled as it was for the join, because
manifest rows name files by that spelling. Rows are matched on (file path, `_metadata.row_index`),
an anti-join for deletes and a left join for scrubs. The copy keeps the dataset's columns and
types and its hive partition columns (written with `partitionBy`), but not its file names or
row-group sizes: Spark chooses those.

It fails, and writes nothing, when the number of rows removed differs from the manifest's number of
`delete` rows (a manifest from another dataset, or a dataset spelled differently).
"""

import argparse
import json
import os
import sys

from pyspark.sql import functions as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compliance_join import dataset_with_positions, session  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--geo-columns", default="",
                   help="comma-separated columns to null in scrub_geo rows, or `none` to keep those rows as they are")
    a = p.parse_args()
    geo = [c for c in a.geo_columns.split(",") if c]
    no_geo = "none" in geo
    if no_geo and len(geo) > 1:
        sys.exit(f"--geo-columns none was given with column names {geo}; expected either the geo columns or none")
    if no_geo:
        geo = []

    spark = session("xcomply-apply-manifest")
    manifest_path = a.manifest
    if os.path.isdir(manifest_path) and os.path.exists(os.path.join(manifest_path, "manifest.parquet")):
        manifest_path = os.path.join(manifest_path, "manifest.parquet")
    m = spark.read.parquet(manifest_path).select(
        F.col("file_path").alias("m_file"), F.col("pos").alias("m_pos"), F.col("action").alias("m_action"))
    counts = {r["m_action"]: r["count"] for r in m.groupBy("m_action").count().collect()}
    unknown = {k: v for k, v in counts.items() if k not in ("delete", "rehydrate", "scrub_geo")}
    if unknown:
        sys.exit(f"the manifest has actions this script does not know: {unknown}; "
                 "expected delete, rehydrate or scrub_geo. Nothing was written")
    deletes = m.where(F.col("m_action") == "delete")
    scrubs = m.where(F.col("m_action") == "scrub_geo")
    n_delete, n_scrub, n_rehydrate = (counts.get(k, 0) for k in ("delete", "scrub_geo", "rehydrate"))
    if n_scrub and not geo and not no_geo:
        sys.exit(f"the manifest has {n_scrub} scrub_geo rows but no --geo-columns were given "
                 "(--geo-columns none keeps them as they are, for a dataset without location data)")

    d = dataset_with_positions(spark, a.dataset)
    columns = [c for c in d.columns if c not in ("xcomply_file_path", "xcomply_pos")]
    missing = [c for c in geo if c not in columns]
    if missing:
        sys.exit(f"geo columns {missing} not found; the dataset has {columns}")
    on_delete = (d["xcomply_file_path"] == deletes["m_file"]) & (d["xcomply_pos"] == deletes["m_pos"])
    kept = d.join(deletes, on_delete, "left_anti")
    on_scrub = (kept["xcomply_file_path"] == scrubs["m_file"]) & (kept["xcomply_pos"] == scrubs["m_pos"])
    marked = kept.join(scrubs, on_scrub, "left")
    out = marked.select(*[
        F.when(F.col("m_action").isNotNull(), F.lit(None).cast(d.schema[c].dataType)).otherwise(F.col(c)).alias(c)
        if c in geo else F.col(c)
        for c in columns
    ])
    total = d.count()
    kept_rows = out.count()
    if total - kept_rows != n_delete:
        sys.exit(f"removed {total - kept_rows} rows but the manifest has {n_delete} delete rows; "
                 "is --dataset spelled as it was for the join? Nothing was written")
    # Hive partition columns are those Spark discovered from the directory names.
    file_columns = set(spark.read.parquet(*d.inputFiles()[:1]).columns)
    partitions = [c for c in columns if c not in file_columns]
    writer = out.write.mode("errorifexists")
    if partitions:
        writer = writer.partitionBy(*partitions)
    writer.parquet(a.out)
    print(json.dumps({
        "rows_in": total, "rows_out": kept_rows, "rows_deleted": n_delete,
        "rows_scrubbed": 0 if no_geo else n_scrub, "rows_to_rehydrate": n_rehydrate,
        "rows_scrub_geo_kept": n_scrub if no_geo else 0,
    }))
    spark.stop()


if __name__ == "__main__":
    main()
