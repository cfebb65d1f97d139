"""Names of the metrics the window-metrics function emits (EMF, namespace `Streamlake`, `service=window-metrics`).

The handler, the CDK dashboard (stacks/) and local mode import them from here. Per-entity metrics are kept to the
low-cardinality dimensions (location, service, student event type): every distinct dimension value is a custom
metric CloudWatch bills monthly, so per-sensor and per-course figures stay in DynamoDB and the lake.
"""

NAMESPACE = "Streamlake"
SERVICE = "window-metrics"

LATE_RECORDS = "LateRecords"  # dimension family: records older than the watermark (not aggregated; still in the lake)
WINDOWS_CLOSED = "WindowsClosed"  # windows emitted after the watermark passed their end
RECORDS_AGGREGATED = "RecordsAggregated"  # on-time records merged into windows
RECORDS_SKIPPED = "RecordsSkipped"  # records that fail the event contract (the processor quarantines them)
WATERMARK_DELAY = "WatermarkDelay"  # ms between now and the combined watermark: how far behind closing is

# Per closed window, with the window start as the metric's timestamp.
AVG_TEMPERATURE = "WindowAvgTemperature"  # dimension location
MAX_TEMPERATURE = "WindowMaxTemperature"  # dimension location
READINGS_ABOVE_THRESHOLD = "WindowReadingsAboveThreshold"  # dimension location
ERROR_RATE = "WindowErrorRate"  # dimension service, percent
LOG_RECORDS = "WindowLogRecords"  # dimension service
STUDENT_EVENTS = "WindowStudentEvents"  # dimension event_type
