-- Lab query 2: average temperature per sensor.
SELECT sensor_id, AVG(temperature) as avg_temp FROM sensor_data GROUP BY sensor_id;
