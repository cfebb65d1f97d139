-- Lab query 3: readings above 30 degrees Celsius.
SELECT * FROM sensor_data WHERE temperature > 30;
