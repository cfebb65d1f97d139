-- Current state of a captured table (CDC): per primary key the latest change by source position, deletes removed.
-- Snapshot reads (op r) count like inserts and updates; a redelivered change has its original's position and row,
-- so copies never change the answer. A primary-key update arrives as a delete of the old key and an insert of the
-- new one, so the old key disappears. The row is `row_json` (JSON text); see cdc_current_clientes for columns.
-- Reads only the table's own partition (source_table is an injected partition key on Athena: it must be named).
-- @param source_table string = pgserver1.public.clientes  captured table: <connector>.<schema or database>.<table>
SELECT
    row_key,
    after AS row_json,
    op AS last_op,
    source_position,
    ts_ms
FROM (
    SELECT
        row_key,
        op,
        after,
        source_position,
        ts_ms,
        row_number() OVER (PARTITION BY row_key ORDER BY source_position DESC, event_id) AS recency
    FROM table_changes
    WHERE source_table = {{source_table}}
) AS latest
WHERE recency = 1
  AND op <> 'd'
ORDER BY row_key;
