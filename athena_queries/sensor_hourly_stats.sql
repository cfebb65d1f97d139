-- Per sensor and hour: readings, min/avg/max and p95 of temperature, and avg/p95 of humidity.
-- p95 is approx_percentile: a t-digest estimate on Athena; locally the exact nearest-rank value it estimates.
-- Reads only the hour partitions that can hold events in [since, until): data is partitioned by arrival hour,
-- which is never before the event's hour, so the scan runs to the hour after `until` to catch late arrivals.
-- @param since timestamp = now-24h  first event time included (UTC; ISO-8601 or now-<n>m|h|d)
-- @param until timestamp = now  first event time excluded (UTC)
SELECT
    sensor_id,
    date_trunc('hour', from_iso8601_timestamp(timestamp)) AS hour_start,
    count(*) AS readings,
    round(min(temperature), 2) AS min_temp,
    round(avg(temperature), 2) AS avg_temp,
    round(max(temperature), 2) AS max_temp,
    round(approx_percentile(temperature, 0.95), 2) AS p95_temp,
    round(avg(humidity), 2) AS avg_humidity,
    round(approx_percentile(humidity, 0.95), 2) AS p95_humidity
FROM sensor_data
WHERE concat(year, month, day, hour) BETWEEN date_format({{since}}, '%Y%m%d%H')
                                         AND date_format({{until}} + INTERVAL '1' HOUR, '%Y%m%d%H')
  AND from_iso8601_timestamp(timestamp) >= {{since}}
  AND from_iso8601_timestamp(timestamp) < {{until}}
GROUP BY sensor_id, date_trunc('hour', from_iso8601_timestamp(timestamp))
ORDER BY sensor_id, hour_start;
