-- Sensors silent for more than N minutes: seen since `since` but with no reading in the last N minutes before `as_of`.
-- A sensor with no reading at all since `since` is not listed (the lake cannot know a sensor it never heard from).
-- @param silent_minutes int = 15  minutes without a reading that make a sensor silent
-- @param since timestamp = now-24h  how far back to look for each sensor's last reading (bounds the scan)
-- @param as_of timestamp = now  the moment silence is measured at (UTC)
WITH last_seen AS (
    SELECT
        sensor_id,
        max_by(location, timestamp) AS location,
        max(timestamp) AS last_reading
    FROM sensor_data
    WHERE concat(year, month, day, hour) BETWEEN date_format({{since}}, '%Y%m%d%H')
                                             AND date_format({{as_of}} + INTERVAL '1' HOUR, '%Y%m%d%H')
      AND from_iso8601_timestamp(timestamp) >= {{since}}
      AND from_iso8601_timestamp(timestamp) <= {{as_of}}
    GROUP BY sensor_id
)
SELECT
    sensor_id,
    location,
    last_reading,
    round((to_unixtime({{as_of}}) - to_unixtime(from_iso8601_timestamp(last_reading))) / 60, 1) AS minutes_silent
FROM last_seen
WHERE to_unixtime(from_iso8601_timestamp(last_reading)) < to_unixtime({{as_of}}) - {{silent_minutes}} * 60
ORDER BY minutes_silent DESC, sensor_id;
