-- Pipeline freshness per family: events landed, newest event time and its lag behind `as_of` (largest lag first).
-- A lag above the data freshness alarm threshold (config data_freshness_seconds) means a family stopped arriving.
-- @param since timestamp = now-24h  oldest arrival hour looked at (bounds the scan; older data is not fresh anyway)
-- @param as_of timestamp = now  the moment the lag is measured at (UTC)
SELECT
    family,
    count(*) AS events,
    max(timestamp) AS newest_event,
    round(to_unixtime({{as_of}}) - to_unixtime(from_iso8601_timestamp(max(timestamp))), 1) AS lag_seconds,
    max(concat(year, '-', month, '-', day, 'T', hour)) AS newest_arrival_hour
FROM all_events
WHERE concat(year, month, day, hour) BETWEEN date_format({{since}}, '%Y%m%d%H')
                                         AND date_format({{as_of}} + INTERVAL '1' HOUR, '%Y%m%d%H')
  AND from_iso8601_timestamp(timestamp) <= {{as_of}}
GROUP BY family
ORDER BY lag_seconds DESC, family;
