-- Lab query 1: the 10 most recent sensor readings.
SELECT * FROM sensor_data ORDER BY timestamp DESC LIMIT 10;
