-- Change history of a captured table (CDC): every change in order of source position, with the row before and after.
-- @param source_table string = pgserver1.public.clientes  captured table: <connector>.<schema or database>.<table>
-- @param limit int = 100  newest changes shown
SELECT
    source_position,
    op,
    row_key,
    before,
    after,
    timestamp AS committed_at
FROM table_changes
WHERE source_table = {{source_table}}
ORDER BY source_position DESC, row_key
LIMIT {{limit}};
