"""AppointmentsTable stream consumer: keeps each appointment's reminder schedules in step with it.

Records are handled one by one; a record that fails is reported as a partial batch failure, so
Lambda retries it (and, past the mapping's retry limit, sends it to the dead-letter queue).
Every action is idempotent: schedules are created-or-moved and deleted-if-present, and a reminder
due within a minute is delivered at once through the same at-most-once path as the sender's.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from appointments.domain import UTC, format_instant, schedule_changes
from appointments.reminders import ReminderRequest, Reminders, ReminderSchedules, ScheduleTarget
from appointments.settings import SchedulerSettings
from appointments.store import appointment_from_item
from appointments.wiring import Lazy, reminder_delivery

logger = Logger()
metrics = Metrics()
warnings.filterwarnings("ignore", message="No application metrics to publish")
# A wholly failed batch is reported item by item, like a partly failed one: one retry path.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def build_schedules() -> ReminderSchedules:
    import boto3

    settings = SchedulerSettings.from_environment()
    return ReminderSchedules(boto3.client("scheduler"), settings.schedule_group, ScheduleTarget(
        settings.reminder_function_arn, settings.scheduler_role_arn, settings.dead_letter_queue_arn))


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_delivery() -> Reminders:
    settings = SchedulerSettings.from_environment()
    return reminder_delivery(settings.table_name, settings.topic_arn)


schedules = Lazy(build_schedules)
delivery = Lazy(build_delivery)
_clock: Lazy[Callable[[], datetime]] = Lazy(lambda: utc_now)


def use(adapter: ReminderSchedules, clock: Callable[[], datetime] | None = None,
        deliver_with: Reminders | None = None) -> None:
    """Hand in the schedules adapter, and optionally a clock and the delivery (tests, local mode)."""
    schedules.use(adapter)
    if clock:
        _clock.use(clock)
    if deliver_with:
        delivery.use(deliver_with)


def now() -> datetime:
    return _clock()()


def record_handler(record: DynamoDBRecord) -> None:
    images = record.raw_event["dynamodb"]
    old = appointment_from_item(images["OldImage"]) if "OldImage" in images else None
    new = appointment_from_item(images["NewImage"]) if "NewImage" in images else None
    changes = schedule_changes(old, new, now())
    appointment_id = (new or old).appointment_id
    for reminder in changes.put:
        schedules().put(new, reminder)
    for minutes in changes.delete:
        schedules().delete(appointment_id, minutes)
    sent = {}  # offset -> outcome; a replayed record finds its reminder already sent
    for reminder in changes.send_now:
        request = ReminderRequest(appointment_id, reminder.minutes_before, format_instant(new.interval.start))
        sent[reminder.minutes_before] = delivery().deliver(request)
    if "sent" in sent.values():
        metrics.add_metric(name="RemindersSentAtOnce", unit=MetricUnit.Count,
                           value=list(sent.values()).count("sent"))
    if changes.late:
        metrics.add_metric(name="RemindersSkippedLate", unit=MetricUnit.Count, value=len(changes.late))
    if changes.put or changes.delete or sent or changes.late:
        logger.info("reminders changed", appointment_id=appointment_id, event=record.event_name.name,
                    put=[r.minutes_before for r in changes.put], deleted=list(changes.delete), sent_at_once=sent,
                    skipped_late=[r.minutes_before for r in changes.late])


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
