"""Names of the metrics the stream processor emits (EMF, namespace `Streamlake`, dimension `service=processor`).

The handler, the CDK dashboard and alarms (stacks/, streamlake/alarms.py) and local mode all import them from here.
"""

NAMESPACE = "Streamlake"
SERVICE = "processor"

# Valid records processed, one metric per family.
FAMILY_RECORDS: dict[str, str] = {"sensor": "SensorRecords", "student": "StudentRecords", "log": "LogRecords"}
INVALID_RECORDS = "InvalidRecords"  # written to quarantine/
# Of those, records quarantined because the processor's own code raised on them (reason `internal error: <type>`):
# a bug to fix, not bad data.
INTERNAL_ERRORS = "InternalErrors"
ALERTS_PUBLISHED = "AlertsPublished"  # alerts and notifications sent to the alerts topic (after de-duplication)
DUPLICATE_ALERTS_SKIPPED = "DuplicateAlertsSkipped"  # alerts already sent by an earlier attempt of the batch
RECORDS_RETRIED = "RecordsRetried"  # records reported in batchItemFailures because a side effect failed
END_TO_END_LAG = "EndToEndLag"  # milliseconds from the event's `timestamp` to processing, maximum of the batch
