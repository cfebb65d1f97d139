-- Temperature or humidity readings more than z standard deviations away from the sensor's previous readings.
-- Each reading is scored against the `window` readings of the same sensor just before it (a rolling window,
-- the reading itself excluded); a reading needs a full window of history inside [since, until) to be scored.
-- @param since timestamp = now-24h  first event time included (UTC)
-- @param until timestamp = now  first event time excluded (UTC)
-- @param window int = 20  previous readings of the same sensor the reading is compared with
-- @param z float = 3.0  how many sample standard deviations from the rolling mean make an anomaly
WITH readings AS (
    SELECT sensor_id, location, timestamp, temperature, humidity
    FROM sensor_data
    WHERE concat(year, month, day, hour) BETWEEN date_format({{since}}, '%Y%m%d%H')
                                             AND date_format({{until}} + INTERVAL '1' HOUR, '%Y%m%d%H')
      AND from_iso8601_timestamp(timestamp) >= {{since}}
      AND from_iso8601_timestamp(timestamp) < {{until}}
),
scored AS (
    SELECT
        sensor_id,
        location,
        timestamp,
        temperature,
        humidity,
        count(*) OVER (
            PARTITION BY sensor_id ORDER BY timestamp ROWS BETWEEN {{window}} PRECEDING AND 1 PRECEDING
        ) AS history,
        avg(temperature) OVER (
            PARTITION BY sensor_id ORDER BY timestamp ROWS BETWEEN {{window}} PRECEDING AND 1 PRECEDING
        ) AS temp_mean,
        stddev_samp(temperature) OVER (
            PARTITION BY sensor_id ORDER BY timestamp ROWS BETWEEN {{window}} PRECEDING AND 1 PRECEDING
        ) AS temp_sd,
        avg(humidity) OVER (
            PARTITION BY sensor_id ORDER BY timestamp ROWS BETWEEN {{window}} PRECEDING AND 1 PRECEDING
        ) AS humidity_mean,
        stddev_samp(humidity) OVER (
            PARTITION BY sensor_id ORDER BY timestamp ROWS BETWEEN {{window}} PRECEDING AND 1 PRECEDING
        ) AS humidity_sd
    FROM readings
)
SELECT
    sensor_id,
    location,
    timestamp,
    temperature,
    round(temp_mean, 2) AS temp_mean,
    round((temperature - temp_mean) / temp_sd, 2) AS temp_z,
    humidity,
    round(humidity_mean, 2) AS humidity_mean,
    round((humidity - humidity_mean) / humidity_sd, 2) AS humidity_z
FROM scored
WHERE history = {{window}}
  AND temp_sd > 0
  AND humidity_sd > 0
  AND (abs(temperature - temp_mean) > {{z}} * temp_sd OR abs(humidity - humidity_mean) > {{z}} * humidity_sd)
ORDER BY timestamp, sensor_id;
