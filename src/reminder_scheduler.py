"""AppointmentsTable stream consumer: keeps each appointment's reminder schedules in step with it.

Records are handled one by one; a record that fails is reported as a partial batch failure, so
Lambda retries it (and, past the mapping's retry limit, sends it to the dead-letter queue).
Every action is idempotent: schedules are created-or-moved and deleted-if-present.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from appointments.domain import UTC, schedule_changes
from appointments.reminders import ReminderSchedules, ScheduleTarget
from appointments.settings import SchedulerSettings
from appointments.store import appointment_from_item
from appointments.wiring import Lazy

logger = Logger()
# A wholly failed batch is reported item by item, like a partly failed one: one retry path.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def build_schedules() -> ReminderSchedules:
    import boto3

    settings = SchedulerSettings.from_environment()
    return ReminderSchedules(boto3.client("scheduler"), settings.schedule_group, ScheduleTarget(
        settings.reminder_function_arn, settings.scheduler_role_arn, settings.dead_letter_queue_arn))


def utc_now() -> datetime:
    return datetime.now(UTC)


schedules = Lazy(build_schedules)
_clock: Lazy[Callable[[], datetime]] = Lazy(lambda: utc_now)


def use(adapter: ReminderSchedules, clock: Callable[[], datetime] | None = None) -> None:
    """Hand in the schedules adapter, and optionally a clock (tests, local mode)."""
    schedules.use(adapter)
    if clock:
        _clock.use(clock)


def now() -> datetime:
    return _clock()()


def record_handler(record: DynamoDBRecord) -> None:
    images = record.raw_event["dynamodb"]
    old = appointment_from_item(images["OldImage"]) if "OldImage" in images else None
    new = appointment_from_item(images["NewImage"]) if "NewImage" in images else None
    to_put, to_delete = schedule_changes(old, new, now())
    appointment_id = (new or old).appointment_id
    for reminder in to_put:
        schedules().put(new, reminder)
    for minutes in to_delete:
        schedules().delete(appointment_id, minutes)
    if to_put or to_delete:
        logger.info("reminder schedules changed", appointment_id=appointment_id, event=record.event_name.name,
                    put=[r.minutes_before for r in to_put], deleted=to_delete)


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
