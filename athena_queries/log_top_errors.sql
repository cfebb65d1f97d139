-- Top error messages: the most frequent ERROR/CRITICAL messages, how many services logged them, first and last seen.
-- @param since timestamp = now-24h  first event time included (UTC)
-- @param until timestamp = now  first event time excluded (UTC)
-- @param top int = 10  how many messages to list
SELECT
    message,
    count(*) AS occurrences,
    count(DISTINCT service) AS services,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen
FROM system_logs
WHERE level IN ('ERROR', 'CRITICAL')
  AND concat(year, month, day, hour) BETWEEN date_format({{since}}, '%Y%m%d%H')
                                         AND date_format({{until}} + INTERVAL '1' HOUR, '%Y%m%d%H')
  AND from_iso8601_timestamp(timestamp) >= {{since}}
  AND from_iso8601_timestamp(timestamp) < {{until}}
GROUP BY message
ORDER BY occurrences DESC, message
LIMIT {{top}};
