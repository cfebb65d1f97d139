-- Lab query 3: readings above 30 degrees Celsius, newest first.
SELECT sensor_id, temperature, timestamp FROM sensor_data WHERE temperature > 30.0 ORDER BY timestamp DESC;
