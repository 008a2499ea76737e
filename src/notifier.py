"""Target of the NotificationRule on AppointmentEventBus: turns appointment events into messages to people.

``AppointmentBooked`` sends confirmations, ``AppointmentRescheduled`` rescheduled notices and
``AppointmentCancelled`` cancelled notices (``notices.notice_of``), to each recipient's contact on each of
its channels, each at most once per version (``Notifications``), so a second delivery of an event sends
nothing. EventBridge invokes this function asynchronously: a message that could not be sent raises, Lambda
retries the event, and then hands it to the notification dead-letter queue; a retry sends only what was
not sent yet.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from appointments.notices import notice_of
from appointments.notifications import Notifications, NotSent
from appointments.settings import NotifierSettings
from appointments.telemetry import count_deliveries, log_deliveries, logger, metrics
from appointments.wiring import Lazy, aws_client, build_notifications


def from_environment() -> Notifications:
    return build_notifications(aws_client("dynamodb"), aws_client("sesv2"), aws_client("sns"),
                               NotifierSettings.from_environment())


notifications = Lazy(from_environment)
use = notifications.use  # hand in the Notifications to send with (tests, local mode)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    try:
        notice = notice_of(event)
    except (KeyError, TypeError, ValueError, AttributeError):
        metrics.add_metric(name="NotificationEventsUnreadable", unit=MetricUnit.Count, value=1)
        logger.exception("not an appointment event; it goes to the dead-letter queue after Lambda's retries",
                         event_id=event.get("id") if isinstance(event, dict) else None)
        raise
    if notice is None:
        logger.info("event sends nothing", detail_type=event.get("detail-type"))
        return {"sent": 0}
    logger.append_keys(appointment_id=notice.appointment.appointment_id)
    try:
        deliveries = notifications().send(notice.kind, notice.appointment, notice.key, previous=notice.previous,
                                          recipients=list(notice.recipients))
    except NotSent as error:
        count_deliveries(error.deliveries)
        log_deliveries(error.deliveries)
        logger.warning("some messages were not sent; Lambda retries the event, then dead-letters it")
        raise
    count_deliveries(deliveries)
    log_deliveries(deliveries)
    return {"sent": sum(d.outcome == "sent" for d in deliveries)}
