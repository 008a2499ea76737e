"""The AWS adapters: EventBridge Scheduler one-time schedules and SNS messages for reminders, and the
EventBridge bus for appointment events.

Only these classes call Scheduler, SNS and EventBridge; what to schedule, send or publish is decided
in ``reminders.py`` and ``events.py``. ``ReminderRequest`` is the Input a schedule hands the sender.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from appointments.appointment import Appointment
from appointments.errors import ValidationError
from appointments.events import SOURCE, AppointmentEvent
from appointments.reminder_plan import Reminder, reminder_message, reminder_subject, reminder_type
from appointments.times import UTC, format_instant

SCHEDULE_NAME_LIMIT = 64
SCHEDULE_RETRY = {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}


def schedule_name(appointment_id: str, minutes: int) -> str:
    """Deterministic, so replays and moves address the same schedule; at most 64 characters."""
    name = f"reminder-{appointment_id}-{minutes}"
    if len(name) > SCHEDULE_NAME_LIMIT:
        name = f"reminder-{hashlib.sha256(appointment_id.encode()).hexdigest()[:40]}-{minutes}"
    return name


@dataclass(frozen=True)
class ReminderRequest:
    """What a schedule hands the sender: enough to find the appointment and to notice staleness."""

    appointment_id: str
    minutes_before: int
    start_time: str

    @property
    def marker(self) -> str:
        return f"{self.minutes_before}@{self.start_time}"

    def to_input(self, user_id: str) -> dict:
        return {"appointmentId": self.appointment_id, "userId": user_id, "minutesBefore": self.minutes_before,
                "startTime": self.start_time, "reminderType": reminder_type(self.minutes_before)}

    @classmethod
    def from_event(cls, event: dict) -> ReminderRequest:
        try:
            request = cls(str(event["appointmentId"]), int(event["minutesBefore"]), str(event["startTime"]))
        except (KeyError, TypeError, ValueError):
            raise ValidationError(f"Not a reminder event: {json.dumps(event)[:200]}") from None
        return request


@dataclass(frozen=True)
class ScheduleTarget:
    function_arn: str
    role_arn: str
    dead_letter_arn: str


class ReminderSchedules:
    def __init__(self, scheduler, group: str, target: ScheduleTarget):
        self.scheduler = scheduler
        self.group = group
        self.target = target

    def put(self, appointment: Appointment, reminder: Reminder) -> None:
        """Create the schedule, or move it if it already exists (a replay or a reschedule)."""
        request = ReminderRequest(appointment.appointment_id, reminder.minutes_before,
                                  format_instant(appointment.interval.start))
        schedule = {
            "Name": schedule_name(appointment.appointment_id, reminder.minutes_before),
            "GroupName": self.group,
            "ScheduleExpression": f"at({reminder.fire_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "Target": {
                "Arn": self.target.function_arn,
                "RoleArn": self.target.role_arn,
                "Input": json.dumps(request.to_input(appointment.user_id)),
                "RetryPolicy": SCHEDULE_RETRY,
                "DeadLetterConfig": {"Arn": self.target.dead_letter_arn},
            },
        }
        try:
            self.scheduler.create_schedule(**schedule)
        except self.scheduler.exceptions.ConflictException:
            self.scheduler.update_schedule(**schedule)

    def delete(self, appointment_id: str, minutes: int) -> None:
        # Not found means never created, already fired or already deleted: the goal is met.
        with contextlib.suppress(self.scheduler.exceptions.ResourceNotFoundException):
            self.scheduler.delete_schedule(Name=schedule_name(appointment_id, minutes), GroupName=self.group)


class ReminderPublisher:
    def __init__(self, sns, topic_arn: str):
        self.sns = sns
        self.topic_arn = topic_arn

    def publish(self, appointment: Appointment, minutes: int) -> str:
        attributes = {k: {"DataType": "String", "StringValue": v} for k, v in {
            "userId": appointment.user_id, "appointmentId": appointment.appointment_id,
            "reminderType": reminder_type(minutes)}.items()}
        # A provider or a room subscribes with the filter policy {"calendars": ["dr-smith"]}.
        attributes["calendars"] = {"DataType": "String.Array", "StringValue": json.dumps(appointment.calendars)}
        response = self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=reminder_subject(minutes),
            Message=reminder_message(appointment, minutes),
            MessageAttributes=attributes,
        )
        return response["MessageId"]


class EventBus:
    def __init__(self, events, bus_name: str):
        self.events = events
        self.bus_name = bus_name

    def entry(self, event: AppointmentEvent) -> dict:
        # UTF-8, not \u escapes: details' 4 KB limit is counted the same way, so ten of the largest
        # events stay within PutEvents' 256 KB a request (tested).
        return {"Source": SOURCE, "DetailType": event.detail_type, "Time": event.time, "EventBusName": self.bus_name,
                "Detail": json.dumps(event.detail(), ensure_ascii=False, separators=(",", ":"))}

    def put(self, events: Sequence[AppointmentEvent]) -> list[int]:
        response = self.events.put_events(Entries=[self.entry(event) for event in events])
        if not response.get("FailedEntryCount"):
            return []
        return [i for i, entry in enumerate(response["Entries"]) if entry.get("ErrorCode")]
