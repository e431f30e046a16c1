"""Joins xcomply's results against any Spark-readable Parquet dataset into a manifest with
exactly the schema and semantics of `xcomply join`, for datasets beyond one machine.

    spark-submit scripts/spark/compliance_join.py --results RUN/results --dataset /data/posts \
        --out /data/manifests [--tweet-id-column id] [--user-id-column author_id]

Semantics (the same as `xcomply join`):
- post results match the post ID column, user results the author ID column; one manifest row per
  affected dataset row, with both reasons when both apply;
- each results event's action is its `action` column, except that a `delete` of a post with reason
  `scrub_geo` (results from before September 2026) is a `scrub_geo`; results without an `action`
  column are all `delete`; a `users` event other than `delete` is refused;
- an ID with several events keeps the strongest action, delete > unknown > rehydrate > scrub_geo
  (unknown actions by name), then the alphabetically first reason, and the latest `redacted_at`
  among the events of that action;
- a row's `action` is `delete` when its author is flagged, else its post's action (`delete`,
  `rehydrate`, `scrub_geo`, or an unknown action verbatim, which `xcomply apply` and
  apply_manifest.py refuse); `redacted_at` is the deciding event's, else the other one's;
- ID columns may be int64, uint64 (Spark reads them as DECIMAL(20,0)) or decimal strings; values
  that are not IDs (negative, too large, not digits) never match and are written as null;
- `file_path` is the file's path below `--dataset`, prefixed with `--dataset` exactly as given,
  which is what xcomply records; `pos` is Spark's `_metadata.row_index` (0-based row in the file).

The flagged IDs are broadcast (a few million IDs are tens of megabytes), so the dataset is read
once, only its two ID columns and file metadata, without a shuffle of the dataset. The output is a
directory of Parquet files sorted by (`file_path`, `pos`) across the files in name order, plus
`_xcomply_summary.json` with the manifest's row counts per action and `_rehydrate-ids.txt` with
the post IDs of the rehydrate rows, ascending, once each (xcomply's `rehydrate-ids.txt`; both
names start with `_` so that Parquet readers of the directory skip them).
"""

import argparse
import json
import os
import sys
from urllib.parse import unquote, urlparse

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

MANIFEST_COLUMNS = ["file_path", "pos", "id", "author_id", "action", "tweet_reason", "user_reason", "redacted_at"]


def session(app: str) -> SparkSession:
    spark = (
        SparkSession.builder.appName(app)
        # Millisecond UTC timestamps, as xcomply writes them, rather than INT96.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MILLIS")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def as_id(col) -> "F.Column":
    """An ID column of any supported type as BIGINT, null when the value is not an ID."""
    v = F.expr(f"try_cast({col} AS BIGINT)") if isinstance(col, str) else col
    return F.when(v >= 0, v)


def flagged(spark: SparkSession, results: str, job_type: str) -> DataFrame:
    r = spark.read.parquet(results)
    # The results contract, as Spark sees it without casts; anything else is not xcomply's output.
    types = dict(r.dtypes)
    expected = {"id": "bigint", "reason": "string", "redacted_at": "timestamp", "job_type": "string"}
    wrong = {c: types.get(c) for c, t in expected.items() if types.get(c) != t}
    if types.get("action", "string") != "string":
        wrong["action"] = types["action"]
    if wrong:
        sys.exit(f"{results}: columns {wrong} do not have the results types {expected} (and action: string)")
    r = r.where(F.col("job_type") == job_type)
    # Results older than the `action` column: every event was a deletion.
    action = F.col("action") if "action" in types else F.lit("delete")
    if job_type == "users":
        odd = r.where(action != "delete").select("id", action.alias("action")).first()
        if odd is not None:
            sys.exit(f"{results}: action {odd['action']!r} on user {odd['id']}; expected \"delete\", "
                     "the only action of users results")
    else:
        # A geo scrub before the cutover: a `delete` whose reason is `scrub_geo`.
        action = F.when((action == "delete") & (F.col("reason") == "scrub_geo"), F.lit("scrub_geo")).otherwise(action)
    # No casts: results IDs are INT64 (Spark's bigint), reasons plain strings, times UTC timestamps.
    r = r.select(F.col("id").alias("fid"), action.alias("action"), "reason", "redacted_at")
    # One row per ID: the strongest action, then by action name and reason; the latest redaction
    # among the events of that action.
    rank = (F.when(F.col("action") == "delete", 0).when(F.col("action") == "rehydrate", 2)
            .when(F.col("action") == "scrub_geo", 3).otherwise(1))
    w = Window.partitionBy("fid").orderBy(rank.asc(), F.col("action").asc(), F.col("reason").asc())
    latest = Window.partitionBy("fid", "action")
    return (
        r.withColumn("rank", F.row_number().over(w))
        .withColumn("redacted", F.max("redacted_at").over(latest))
        .where(F.col("rank") == 1)
        .select("fid", "action", "reason", F.col("redacted").alias("redacted_at"))
    )


def xcomply_path(root: str, uri: str) -> str:
    """Spark's `_metadata.file_path` is a URI; xcomply records the path as found under the argument."""
    base = os.path.abspath(root)
    path = unquote(urlparse(uri).path)
    if os.path.abspath(path) == base:
        return root
    return os.path.join(root, os.path.relpath(path, base))


def dataset_with_positions(spark: SparkSession, dataset: str) -> DataFrame:
    """The dataset's columns plus `xcomply_file_path` and `xcomply_pos` (the 0-based row in the file).

    The URI-to-path mapping is computed once per file in the driver (a metadata-only pass lists the
    files) and broadcast, rather than by a Python function called on every row.
    """
    df = spark.read.parquet(dataset).select(
        "*",
        F.col("_metadata.file_path").alias("xcomply_uri"),
        F.col("_metadata.row_index").alias("xcomply_pos"),
    )
    uris = [r[0] for r in df.select("xcomply_uri").distinct().collect()]
    mapping = spark.createDataFrame([(u, xcomply_path(dataset, u)) for u in uris], "xcomply_uri string, xcomply_file_path string")
    return df.join(F.broadcast(mapping), "xcomply_uri").drop("xcomply_uri")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", required=True, help="directory of xcomply results Parquet files")
    p.add_argument("--dataset", required=True, help="Parquet dataset directory (hive partitions allowed)")
    p.add_argument("--out", required=True, help="output directory of the manifest")
    p.add_argument("--tweet-id-column", default="id")
    p.add_argument("--user-id-column", default="author_id")
    a = p.parse_args()

    spark = session("xcomply-compliance-join")
    posts = flagged(spark, a.results, "tweets")
    users = flagged(spark, a.results, "users")
    d = dataset_with_positions(spark, a.dataset).select(
        "xcomply_file_path", "xcomply_pos",
        as_id(a.tweet_id_column).alias("pid"), as_id(a.user_id_column).alias("uid"),
    )
    p_ = posts.select(F.col("fid").alias("pid"), F.col("action").alias("p_action"), F.col("reason").alias("tweet_reason"),
                      F.col("redacted_at").alias("p_red"))
    u_ = users.select(F.col("fid").alias("uid"), F.col("reason").alias("user_reason"), F.col("redacted_at").alias("u_red"))
    # An author's deletion outranks anything its post has; otherwise the post's action decides.
    row_action = F.when(F.col("user_reason").isNotNull(), F.lit("delete")).otherwise(F.col("p_action"))
    m = (
        d.join(F.broadcast(p_), "pid", "left")
        .join(F.broadcast(u_), "uid", "left")
        .where(F.col("tweet_reason").isNotNull() | F.col("user_reason").isNotNull())
        .select(
            F.col("xcomply_file_path").alias("file_path"),
            F.col("xcomply_pos").cast("bigint").alias("pos"),
            F.col("pid").alias("id"),
            F.col("uid").alias("author_id"),
            row_action.alias("action"),
            "tweet_reason",
            "user_reason",
            F.when(F.col("p_action") == row_action, F.coalesce("p_red", "u_red"))
            .otherwise(F.coalesce("u_red", "p_red")).alias("redacted_at"),
        )
        .orderBy("file_path", "pos")
    )
    m.write.mode("overwrite").parquet(a.out)
    counts = spark.read.parquet(a.out).groupBy("action").count().collect()
    by_action = {r["action"]: r["count"] for r in counts}
    rehydrate = (spark.read.parquet(a.out).where(F.col("action") == "rehydrate")
                 .select("id").distinct().orderBy("id"))
    # `_`-prefixed, so that Spark, DuckDB and pyarrow reading the directory skip them.
    lines = 0
    with open(os.path.join(a.out, "_rehydrate-ids.txt.tmp"), "w") as f:
        for row in rehydrate.toLocalIterator():
            f.write(f"{row['id']}\n")
            lines += 1
    os.replace(os.path.join(a.out, "_rehydrate-ids.txt.tmp"), os.path.join(a.out, "_rehydrate-ids.txt"))
    summary = {
        "manifest_rows": sum(by_action.values()),
        "delete_rows": by_action.get("delete", 0),
        "scrub_geo_rows": by_action.get("scrub_geo", 0),
        "rehydrate_rows": by_action.get("rehydrate", 0),
        "actions": dict(sorted(by_action.items())),
        "rehydrate_ids": lines,
    }
    with open(os.path.join(a.out, "_xcomply_summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary))
    spark.stop()


if __name__ == "__main__":
    main()
