-- Error rate per service per 5 minutes (or `window_minutes`): log lines, ERROR/CRITICAL lines and their share.
-- @param since timestamp = now-6h  first event time included (UTC)
-- @param until timestamp = now  first event time excluded (UTC)
-- @param window_minutes int = 5  width of each time bucket, aligned to the epoch (so 5 gives :00, :05, ...)
SELECT
    service,
    from_unixtime(
        floor(to_unixtime(from_iso8601_timestamp(timestamp)) / ({{window_minutes}} * 60)) * ({{window_minutes}} * 60)
    ) AS window_start,
    count(*) AS lines,
    count_if(level IN ('ERROR', 'CRITICAL')) AS errors,
    round(CAST(count_if(level IN ('ERROR', 'CRITICAL')) AS double) / count(*), 4) AS error_rate
FROM system_logs
WHERE concat(year, month, day, hour) BETWEEN date_format({{since}}, '%Y%m%d%H')
                                         AND date_format({{until}} + INTERVAL '1' HOUR, '%Y%m%d%H')
  AND from_iso8601_timestamp(timestamp) >= {{since}}
  AND from_iso8601_timestamp(timestamp) < {{until}}
GROUP BY
    service,
    from_unixtime(
        floor(to_unixtime(from_iso8601_timestamp(timestamp)) / ({{window_minutes}} * 60)) * ({{window_minutes}} * 60)
    )
ORDER BY window_start, service;
