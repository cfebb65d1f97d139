-- Student logins per hour and per course, with distinct students (logins that name no course count as '(none)').
-- @param since timestamp = now-24h  first event time included (UTC)
-- @param until timestamp = now  first event time excluded (UTC)
SELECT
    date_trunc('hour', from_iso8601_timestamp(timestamp)) AS hour_start,
    coalesce(course_id, '(none)') AS course,
    count(*) AS logins,
    count(DISTINCT student_id) AS students
FROM student_events
WHERE event_type = 'login'
  AND concat(year, month, day, hour) BETWEEN date_format({{since}}, '%Y%m%d%H')
                                         AND date_format({{until}} + INTERVAL '1' HOUR, '%Y%m%d%H')
  AND from_iso8601_timestamp(timestamp) >= {{since}}
  AND from_iso8601_timestamp(timestamp) < {{until}}
GROUP BY date_trunc('hour', from_iso8601_timestamp(timestamp)), coalesce(course_id, '(none)')
ORDER BY hour_start, course;
