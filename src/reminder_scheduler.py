"""AppointmentsTable stream consumer: keeps each appointment's reminders in step with it.

Records are handled one by one; a record that fails is reported as a partial batch failure, so
Lambda retries it (and, past the mapping's retry limit, sends it to the dead-letter queue). The
logic is ``ReminderScheduling``: idempotent, so a replayed record does no harm.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from appointments.codecs import appointment_images
from appointments.notifications import NotSent
from appointments.reminders import ReminderScheduling
from appointments.settings import SchedulerSettings
from appointments.telemetry import count_deliveries, log_deliveries, logger, metrics
from appointments.wiring import Lazy, aws_client, build_scheduling

# A wholly failed batch is reported item by item, like a partly failed one: one retry path.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def from_environment() -> ReminderScheduling:
    return build_scheduling(aws_client("scheduler"), aws_client("dynamodb"), aws_client("sns"), aws_client("sesv2"),
                            SchedulerSettings.from_environment())


scheduling = Lazy(from_environment)
use = scheduling.use  # hand in the ReminderScheduling to apply changes with (tests, local mode)


def record_handler(record: DynamoDBRecord) -> None:
    old, new = appointment_images(record.raw_event["dynamodb"])
    try:
        applied = scheduling().apply(old, new)
    except NotSent as error:  # the record is retried; only what was not sent goes out again
        count_deliveries(error.deliveries)
        log_deliveries(error.deliveries)
        raise
    count_deliveries(applied.messages)
    log_deliveries(applied.messages)
    if applied.sent_count:
        metrics.add_metric(name="RemindersSentAtOnce", unit=MetricUnit.Count, value=applied.sent_count)
    if applied.changes.late:
        metrics.add_metric(name="RemindersSkippedLate", unit=MetricUnit.Count, value=len(applied.changes.late))
    if applied.did_anything:
        changes = applied.changes
        logger.info("reminders changed", appointment_id=(new or old).appointment_id, event=record.event_name.name,
                    put=[r.minutes_before for r in changes.put], deleted=list(changes.delete),
                    sent_at_once=applied.sent, skipped_late=[r.minutes_before for r in changes.late])


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
