-- Activity per course: enrolments, submissions, grades posted and distinct active students.
-- @param since timestamp = now-7d  first event time included (UTC)
-- @param until timestamp = now  first event time excluded (UTC)
SELECT
    course_id,
    count_if(event_type = 'course_enrolled') AS enrolments,
    count_if(event_type = 'assignment_submitted') AS submissions,
    count_if(event_type = 'grade_posted') AS grades_posted,
    count(DISTINCT student_id) AS active_students
FROM student_events
WHERE course_id IS NOT NULL
  AND concat(year, month, day, hour) BETWEEN date_format({{since}}, '%Y%m%d%H')
                                         AND date_format({{until}} + INTERVAL '1' HOUR, '%Y%m%d%H')
  AND from_iso8601_timestamp(timestamp) >= {{since}}
  AND from_iso8601_timestamp(timestamp) < {{until}}
GROUP BY course_id
ORDER BY active_students DESC, course_id;
