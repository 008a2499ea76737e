"""EventBridge Scheduler target: sends one appointment reminder to SNS, and to each recipient's contact on
each of its channels (e-mail, SMS), each at most once.

A real failure raises, so Lambda retries the event and finally hands it to the dead-letter queue; a retry
sends only what was not sent yet.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from appointments.adapters import ReminderRequest
from appointments.notifications import NotSent
from appointments.reminder_plan import reminder_type
from appointments.reminders import Reminders
from appointments.settings import SenderSettings
from appointments.telemetry import count_deliveries, log_deliveries, logger, metrics
from appointments.wiring import Lazy, aws_client, build_delivery


def from_environment() -> Reminders:
    return build_delivery(aws_client("dynamodb"), aws_client("sns"), aws_client("sesv2"),
                          SenderSettings.from_environment())


reminders = Lazy(from_environment)
use = reminders.use  # hand in the Reminders to deliver with (tests, local mode)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    request = ReminderRequest.from_event(event)
    logger.append_keys(appointment_id=request.appointment_id, minutes_before=request.minutes_before)
    try:
        outcome, messages = reminders().deliver_all(request)
    except NotSent as error:
        count_deliveries(error.deliveries)
        log_deliveries(error.deliveries)
        metrics.add_metric(name="ReminderErrors", unit=MetricUnit.Count, value=1)
        logger.warning("some reminder messages were not sent; Lambda will retry, then dead-letter the reminder")
        raise
    except Exception:
        metrics.add_metric(name="ReminderErrors", unit=MetricUnit.Count, value=1)
        logger.exception("reminder failed; Lambda will retry, then dead-letter it")
        raise
    if outcome == "sent":
        metrics.add_dimension(name="ReminderType", value=reminder_type(request.minutes_before))
        metrics.add_metric(name="RemindersSent", unit=MetricUnit.Count, value=1)
    count_deliveries(messages)
    log_deliveries(messages)
    logger.info("reminder handled", outcome=outcome)
    return {"appointmentId": request.appointment_id, "outcome": outcome,
            "messages": [{"recipient": m.recipient, "channel": m.channel, "outcome": m.outcome} for m in messages]}
