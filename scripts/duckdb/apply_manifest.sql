-- Applies an xcomply manifest with DuckDB: the dataset without the rows whose action is `delete`,
-- with the geo columns set to NULL in the rows whose action is `scrub_geo`, in the dataset's row
-- order (file by file), written to `compliant.parquet` in the current directory.
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
-- The column list, types and order of the output are the dataset's (hive partition columns are
-- not added: `hive_partitioning = false`).

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
             AND list_contains(getvariable('geo_columns'), alias(COLUMNS(* EXCLUDE (filename, file_row_number, xcomply_action))))
        THEN NULL
        ELSE COLUMNS(* EXCLUDE (filename, file_row_number, xcomply_action))
    END
FROM marked
WHERE xcomply_action IS DISTINCT FROM 'delete'
ORDER BY filename, file_row_number;

COPY (SELECT * FROM compliant) TO 'compliant.parquet' (FORMAT parquet, COMPRESSION zstd);
