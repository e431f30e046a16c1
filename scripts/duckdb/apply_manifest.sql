-- Applies an xcomply manifest with DuckDB: the dataset without the rows whose action is `delete`,
-- with the geo columns set to NULL in the rows whose action is `scrub_geo`, and the rows whose
-- action is `rehydrate` (edited posts: fetch them again from rehydrate-ids.txt) unchanged, in the
-- dataset's row order (file by file), written to `compliant.parquet` in the current directory.
-- A manifest with any other action is refused (an error, nothing written): its meaning is unknown,
-- and keeping or removing such rows would both be a guess. This is the rule of `xcomply apply`.
--
-- The manifest says which rows by file name and 0-based row number, which is exactly what
-- `read_parquet(..., filename = true, file_row_number = true)` exposes, so this is an anti-join
-- on (filename, file_row_number). Set three variables first, then run this file:
--
--   SET VARIABLE dataset = '/data/posts/**/*.parquet';  -- spelled so that DuckDB's `filename`
--                                                        -- equals the manifest's `file_path`
--   SET VARIABLE manifest = '/runs/1/manifests/manifest.parquet';
--   SET VARIABLE geo_columns = ['geo_lat', 'geo_lon', 'place_id'];
--
-- For a dataset without location columns, `SET VARIABLE geo_columns = []` keeps the scrub_geo
-- rows as they are (as `xcomply apply --geo-columns none`); leaving geo_columns unset refuses a
-- manifest that has scrub_geo rows.
--
-- The column list, types and order of the output are the dataset's (hive partition columns are
-- not added: `hive_partitioning = false`).

-- Refusals first: they fail the script before anything is written.
SELECT CASE WHEN count(*) > 0 THEN error(printf(
    '%d manifest rows have an action this script does not know, the first %s at %s row %d; expected delete, rehydrate or scrub_geo',
    count(*), first(action ORDER BY file_path, pos), first(file_path ORDER BY file_path, pos), first(pos ORDER BY file_path, pos))) END
FROM read_parquet(getvariable('manifest'))
WHERE action NOT IN ('delete', 'rehydrate', 'scrub_geo');

SELECT CASE WHEN count(*) > 0 AND getvariable('geo_columns') IS NULL THEN error(printf(
    'the manifest has %d scrub_geo rows but geo_columns is not set; expected SET VARIABLE geo_columns = [...], or [] for a dataset without location data',
    count(*))) END
FROM read_parquet(getvariable('manifest'))
WHERE action = 'scrub_geo';

CREATE OR REPLACE TEMP VIEW compliant AS
WITH manifest AS (
    SELECT file_path, pos, action FROM read_parquet(getvariable('manifest'))
),
dataset AS (
    SELECT * FROM read_parquet(getvariable('dataset'), filename = true, file_row_number = true, hive_partitioning = false)
),
marked AS (
    SELECT dataset.*, manifest.action AS xcomply_action
    FROM dataset LEFT JOIN manifest
      ON dataset.filename = manifest.file_path AND dataset.file_row_number = manifest.pos
)
SELECT
    -- Every dataset column, in order; the geo columns become NULL on scrub_geo rows.
    CASE
        WHEN xcomply_action = 'scrub_geo'
             AND list_contains(coalesce(getvariable('geo_columns'), []), alias(COLUMNS(* EXCLUDE (filename, file_row_number, xcomply_action))))
        THEN NULL
        ELSE COLUMNS(* EXCLUDE (filename, file_row_number, xcomply_action))
    END
FROM marked
WHERE xcomply_action IS DISTINCT FROM 'delete'
ORDER BY filename, file_row_number;

COPY (SELECT * FROM compliant) TO 'compliant.parquet' (FORMAT parquet, COMPRESSION zstd);
