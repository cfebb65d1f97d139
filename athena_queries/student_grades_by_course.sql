-- Grade distribution and failing rate per course: grades posted, average, letter bands and the share failing.
-- Bands: A >= 90, B 80-89, C 70-79, D 60-69, F < 60. Failing means below pass_mark (lambdas.schemas.PASS_MARK).
-- @param since timestamp = now-30d  first event time included (UTC)
-- @param until timestamp = now  first event time excluded (UTC)
-- @param pass_mark float = 60  lowest passing grade
SELECT
    course_id,
    count(*) AS grades,
    round(avg(grade), 2) AS avg_grade,
    min(grade) AS min_grade,
    max(grade) AS max_grade,
    count_if(grade >= 90) AS band_a,
    count_if(grade >= 80 AND grade < 90) AS band_b,
    count_if(grade >= 70 AND grade < 80) AS band_c,
    count_if(grade >= 60 AND grade < 70) AS band_d,
    count_if(grade < 60) AS band_f,
    count_if(grade < {{pass_mark}}) AS failing,
    round(CAST(count_if(grade < {{pass_mark}}) AS double) / count(*), 4) AS failing_rate
FROM student_events
WHERE event_type = 'grade_posted'
  AND grade IS NOT NULL
  AND concat(year, month, day, hour) BETWEEN date_format({{since}}, '%Y%m%d%H')
                                         AND date_format({{until}} + INTERVAL '1' HOUR, '%Y%m%d%H')
  AND from_iso8601_timestamp(timestamp) >= {{since}}
  AND from_iso8601_timestamp(timestamp) < {{until}}
GROUP BY course_id
ORDER BY failing_rate DESC, course_id;
