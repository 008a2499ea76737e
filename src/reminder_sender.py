"""EventBridge Scheduler target: sends one appointment reminder to SNS, at most once.

A real failure raises, so Lambda retries the event and finally hands it to the dead-letter queue.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from appointments.adapters import ReminderRequest
from appointments.reminder_plan import reminder_type
from appointments.reminders import Reminders
from appointments.settings import SenderSettings
from appointments.telemetry import logger, metrics
from appointments.wiring import Lazy, aws_client, build_delivery


def from_environment() -> Reminders:
    settings = SenderSettings.from_environment()
    return build_delivery(aws_client("dynamodb"), aws_client("sns"), table_name=settings.table_name,
                          topic_arn=settings.topic_arn)


reminders = Lazy(from_environment)
use = reminders.use  # hand in the Reminders to deliver with (tests, local mode)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    request = ReminderRequest.from_event(event)
    logger.append_keys(appointment_id=request.appointment_id, minutes_before=request.minutes_before)
    try:
        outcome = reminders().deliver(request)
    except Exception:
        metrics.add_metric(name="ReminderErrors", unit=MetricUnit.Count, value=1)
        logger.exception("reminder failed; Lambda will retry, then dead-letter it")
        raise
    if outcome == "sent":
        metrics.add_dimension(name="ReminderType", value=reminder_type(request.minutes_before))
        metrics.add_metric(name="RemindersSent", unit=MetricUnit.Count, value=1)
    logger.info("reminder handled", outcome=outcome)
    return {"appointmentId": request.appointment_id, "outcome": outcome}
