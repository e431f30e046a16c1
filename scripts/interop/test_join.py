"""Oracle tests of `xcomply join` and `xcomply apply` against the same operations in DuckDB.

The dataset and results are written by pyarrow (gendata.py); DuckDB computes the manifest with
`read_parquet(..., filename=true, file_row_number=true)`, a window that folds duplicate events and
two left joins, and the compliant copy with an anti-join on (file name, row number). xcomply must
agree row for row.
"""

import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from gendata import GEO_COLUMNS, make_dataset, write_results

ROOT = Path(__file__).resolve().parents[2]
XCOMPLY = os.environ.get("XCOMPLY_BIN", str(ROOT / "target" / "release" / "xcomply"))

MANIFEST_COLUMNS = "file_path, pos, id, author_id, action, tweet_reason, user_reason, epoch_ms(redacted_at)"


def xcomply(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([XCOMPLY, "-q", *args], check=True, capture_output=True, text=True)


# The manifest's action rule, restated in SQL from the words (not from xcomply's code):
# one event per ID after folding duplicates with delete > unknown > rehydrate > scrub_geo (then by
# action name, then by reason), a legacy `delete` with reason `scrub_geo` counting as scrub_geo,
# and the latest `redacted_at` among the events of the winning action. A row is `delete` when its
# author is flagged (users only have `delete`), else its post's action; its `redacted_at` is the
# deciding event's, else the other one's.
FOLDED = """
    WITH events AS (
        SELECT id, job_type, reason, redacted_at,
               CASE WHEN job_type = 'tweets' AND action = 'delete' AND reason = 'scrub_geo' THEN 'scrub_geo'
                    ELSE action END AS act
        FROM read_parquet('{results}/*.parquet')
    ),
    ranked AS (
        SELECT *,
               row_number() OVER (PARTITION BY job_type, id ORDER BY
                   CASE act WHEN 'delete' THEN 0 WHEN 'rehydrate' THEN 2 WHEN 'scrub_geo' THEN 3 ELSE 1 END,
                   act, reason) AS n,
               max(redacted_at) OVER (PARTITION BY job_type, id, act) AS latest
        FROM events
    )
    SELECT id, job_type, act, reason, latest AS redacted_at FROM ranked WHERE n = 1
"""


def duckdb_manifest(con, data: Path, results: Path, cast: str):
    """The manifest as DuckDB computes it: the reference the join must equal."""
    return con.sql(f"""
        WITH d AS (
            SELECT filename, file_row_number, TRY_CAST(id AS {cast}) AS id, TRY_CAST(author_id AS {cast}) AS author_id
            FROM read_parquet('{data}/**/*.parquet', filename = true, file_row_number = true, hive_partitioning = false)
        ),
        f AS ({FOLDED.format(results=results)}),
        p AS (SELECT * FROM f WHERE job_type = 'tweets'),
        u AS (SELECT * FROM f WHERE job_type = 'users'),
        m AS (
            SELECT d.*, p.act AS p_act, p.reason AS tweet_reason, u.reason AS user_reason,
                   p.redacted_at AS p_red, u.redacted_at AS u_red,
                   CASE WHEN u.id IS NOT NULL THEN 'delete' ELSE p.act END AS action
            FROM d LEFT JOIN p ON d.id = p.id LEFT JOIN u ON d.author_id = u.id
            WHERE p.id IS NOT NULL OR u.id IS NOT NULL
        )
        SELECT filename AS file_path, file_row_number AS pos, CAST(id AS BIGINT), CAST(author_id AS BIGINT),
               action, tweet_reason, user_reason,
               epoch_ms(CASE WHEN p_act = action THEN coalesce(p_red, u_red) ELSE coalesce(u_red, p_red) END)
        FROM m
        ORDER BY file_path, pos
    """).fetchall()


def rehydrate_ids(manifest_rows) -> str:
    """`rehydrate-ids.txt` as the manifest implies it: the post IDs of rehydrate rows, ascending, once each."""
    return "".join(f"{i}\n" for i in sorted({r[2] for r in manifest_rows if r[4] == "rehydrate"}))


@pytest.fixture(scope="module")
def joined(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("join")
    data, results, manifest = tmp / "data", tmp / "results", tmp / "manifest"
    ids = make_dataset(data)
    write_results(results, ids)
    xcomply("join", "--dataset", str(data), "--results", str(results), "--out", str(manifest))
    return tmp, data, results, manifest


def test_join_equals_duckdb(joined):
    _, data, results, manifest = joined
    con = duckdb.connect()
    ours = con.sql(f"SELECT {MANIFEST_COLUMNS} FROM read_parquet('{manifest}/manifest.parquet')").fetchall()
    theirs = duckdb_manifest(con, data, results, "BIGINT")
    assert len(theirs) > 500
    # Row for row, in the file's own order: xcomply writes the manifest sorted.
    assert ours == theirs
    # The test data covers what it must: both reasons on one row, each action, an author's
    # deletion over a post's edit, the repeated ID.
    assert any(r[5] is not None and r[6] is not None for r in ours)
    assert {r[4] for r in ours} == {"delete", "rehydrate", "scrub_geo"}
    assert any(r[4] == "delete" and r[5] == "tweet_edited" for r in ours)
    assert (manifest / "rehydrate-ids.txt").read_text() == rehydrate_ids(theirs)
    assert max(sum(1 for r in ours if r[2] == i) for i in {r[2] for r in ours if r[2] is not None}) >= 100
    assert len({r[0] for r in ours}) == 4


@pytest.mark.parametrize("id_type,vocabulary", [("uint64", "live"), ("string", "live"), ("int64", "legacy")])
def test_join_other_id_types_and_legacy_results_equal_duckdb(tmp_path, id_type, vocabulary):
    data, results, manifest = tmp_path / "data", tmp_path / "results", tmp_path / "manifest"
    ids = make_dataset(data, seed=3, files=2, rows=1500, row_group=400, id_type=id_type)
    write_results(results, ids, seed=5, vocabulary=vocabulary)
    xcomply("join", "--dataset", str(data), "--results", str(results), "--out", str(manifest))
    con = duckdb.connect()
    ours = con.sql(f"SELECT {MANIFEST_COLUMNS} FROM read_parquet('{manifest}/manifest.parquet')").fetchall()
    theirs = duckdb_manifest(con, data, results, "UBIGINT" if id_type == "uint64" else "BIGINT")
    assert ours and ours == theirs
    assert any(r[4] == "scrub_geo" for r in ours)
    assert (manifest / "rehydrate-ids.txt").read_text() == rehydrate_ids(theirs)


def test_apply_equals_duckdb_anti_join(joined):
    tmp, data, _, manifest = joined
    copy = tmp / "copy"
    xcomply("apply", "--manifest", str(manifest), "--dataset", str(data), "--out", str(copy),
            "--geo-columns", ",".join(GEO_COLUMNS))
    con = duckdb.connect()
    con.sql(f"CREATE VIEW m AS SELECT * FROM read_parquet('{manifest}/manifest.parquet')")
    # Kept rows, their ID checksum and their remaining geo data, per partition file.
    theirs = con.sql(f"""
        SELECT regexp_extract(d.filename, 'date=[^/]+/part-[0-9]+\\.parquet') AS f, count(*),
               sum(hash(d.id)), count(d.geo_lat) FILTER (WHERE s.pos IS NULL), count(d.place_id) FILTER (WHERE s.pos IS NULL)
        FROM read_parquet('{data}/**/*.parquet', filename = true, file_row_number = true, hive_partitioning = false) d
        ANTI JOIN (SELECT * FROM m WHERE action = 'delete') del ON d.filename = del.file_path AND d.file_row_number = del.pos
        -- rehydrate rows stay, geo data included: only scrub_geo rows lose it
        LEFT JOIN (SELECT * FROM m WHERE action = 'scrub_geo') s ON d.filename = s.file_path AND d.file_row_number = s.pos
        GROUP BY f ORDER BY f
    """).fetchall()
    ours = con.sql(f"""
        SELECT regexp_extract(filename, 'date=[^/]+/part-[0-9]+\\.parquet') AS f, count(*), sum(hash(id)),
               count(geo_lat), count(place_id)
        FROM read_parquet('{copy}/**/*.parquet', filename = true, hive_partitioning = false)
        GROUP BY f ORDER BY f
    """).fetchall()
    assert len(ours) == 4
    assert ours == theirs
    deleted = con.sql("SELECT count(*) FROM m WHERE action = 'delete'").fetchall()[0][0]
    before = con.sql(f"SELECT count(*) FROM read_parquet('{data}/**/*.parquet')").fetchall()[0][0]
    after = con.sql(f"SELECT count(*) FROM read_parquet('{copy}/**/*.parquet')").fetchall()[0][0]
    assert deleted > 0 and after == before - deleted
