"""AppointmentsTable stream consumer: publishes each new version of an appointment to the event bus.

A consumer of its own (its own event source mapping, retries and dead-letter queue), so events never
wait on reminders, nor reminders on events. A batch's events go out in stream order, ten to a
``PutEvents`` call (``EventPublishing``); when a call or an entry fails, every record from the first
unpublished one on is reported as a batch item failure, and the stream retries from there. Events
published twice carry the same ``eventId``.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from appointments.events import Change, EventPublishing, change_of
from appointments.settings import PublisherSettings
from appointments.telemetry import logger, metrics
from appointments.wiring import Lazy, aws_client, build_publishing


def from_environment() -> EventPublishing:
    return build_publishing(aws_client("events"), PublisherSettings.from_environment())


publishing = Lazy(from_environment)
use = publishing.use  # hand in the EventPublishing to publish with (tests, local mode)


def changes_of(records: list) -> tuple[list[Change], str | None]:
    """The batch's changes, up to the first record that is not an appointment's images (it is retried,
    and past the retries sent to the dead-letter queue); and that record's sequence number."""
    changes = []
    for record in records:
        try:
            changes.append(change_of(record.raw_event["dynamodb"]))
        except (KeyError, TypeError, ValueError):
            logger.exception("unreadable stream record", sequence_number=record.dynamodb.sequence_number)
            return changes, record.dynamodb.sequence_number
    return changes, None


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    records = list(DynamoDBStreamEvent(event).records)
    changes, unreadable = changes_of(records)
    published = publishing().publish(changes)
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=published.events)
    metrics.add_metric(name="PutEventsCalls", unit=MetricUnit.Count, value=published.calls)
    retry_from = published.retry_from or unreadable
    if retry_from is None:
        return {"batchItemFailures": []}
    metrics.add_metric(name="EventPublishFailures", unit=MetricUnit.Count, value=1)
    logger.warning("events not published; the stream retries from this record", sequence_number=retry_from,
                   reason=published.reason or "unreadable record")
    sequence_numbers = [r.dynamodb.sequence_number for r in records]
    return {"batchItemFailures": [{"itemIdentifier": s} for s in sequence_numbers[sequence_numbers.index(retry_from):]]}
