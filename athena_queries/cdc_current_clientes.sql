-- The clientes table as it is now (id, nombre, email), rebuilt from its Debezium change log (CDC).
-- The same rule as cdc_current_state (latest change per key by source position, deletes removed, snapshot rows
-- included), with the row's columns extracted from the JSON image: a column added to the table later is NULL in
-- rows whose last change predates it. `-o csv` prints what the old consumer's final clientes table held.
-- @param source_table string = pgserver1.public.clientes  captured table: <connector>.<schema or database>.<table>
SELECT
    CAST(json_extract_scalar(after, '$.id') AS bigint) AS id,
    json_extract_scalar(after, '$.nombre') AS nombre,
    json_extract_scalar(after, '$.email') AS email
FROM (
    SELECT
        op,
        after,
        row_number() OVER (PARTITION BY row_key ORDER BY source_position DESC, event_id) AS recency
    FROM table_changes
    WHERE source_table = {{source_table}}
) AS latest
WHERE recency = 1
  AND op <> 'd'
ORDER BY id;
