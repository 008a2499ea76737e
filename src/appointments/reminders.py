"""Reminder logic: keep an appointment's reminders in step with its changes, and deliver each at most once.

Each delivery is claimed in the message ledger (CalendarTable) before it is sent, so neither the sender
nor the stream consumer writes to AppointmentsTable.

``ReminderScheduling`` is the stream consumer's logic; ``Reminders`` is the delivery, used by the
sender (and by the consumer for a reminder due within a minute). Both take their clock, and reach
AWS only through the adapters in ``adapters.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from appointments.adapters import ReminderPublisher, ReminderRequest, ReminderSchedules
from appointments.appointment import Appointment
from appointments.ledger import ALL_SUBSCRIBERS, TOPIC, Claimed, MessageKey, MessageLedger, reminder_key
from appointments.notifications import CLAIM_LEASE, Delivery, Notifications
from appointments.reminder_plan import ScheduleChanges, schedule_changes
from appointments.store import Tables
from appointments.times import format_instant, utc_now

REMINDER = "reminder"


class Reminders:
    """Deliver one reminder at most once, and never for a cancelled or moved appointment: to the SNS topic,
    then (with ``notifications``) to every recipient's contact on each of its channels."""

    def __init__(self, tables: Tables, ledger: MessageLedger, publisher: ReminderPublisher,
                 notifications: Notifications | None = None, clock: Callable[[], datetime] = utc_now):
        self.tables = tables
        self.ledger = ledger
        self.publisher = publisher
        self.notifications = notifications
        self.clock = clock

    def deliver(self, request: ReminderRequest) -> str:
        """The topic's outcome (``sent`` or why not); see ``deliver_all``."""
        return self.deliver_all(request)[0]

    def deliver_all(self, request: ReminderRequest) -> tuple[str, list[Delivery]]:
        """The topic's outcome, and what became of each message to a person (``notifications.NotSent`` is
        raised when one was not sent, after the topic's and every other)."""
        appointment = self.tables.appointment(request.appointment_id)
        if appointment is None:
            return "skipped: the appointment no longer exists", []
        if not appointment.is_scheduled:
            return "skipped: the appointment is cancelled", []
        if format_instant(appointment.interval.start) != request.start_time:
            return "skipped: stale, the appointment was rescheduled", []
        if request.minutes_before not in appointment.reminders:
            return "skipped: this reminder was removed", []
        key = reminder_key(request.minutes_before, request.start_time)
        topic = self._publish(appointment, request.minutes_before, key)
        if self.notifications is None or self.clock() >= appointment.interval.start:
            return topic, []  # once it has started, "starts in an hour" would be false
        return topic, self.notifications.send(REMINDER, appointment, key, minutes_before=request.minutes_before)

    def _publish(self, appointment: Appointment, minutes_before: int, key: str) -> str:
        message = MessageKey(appointment.appointment_id, ALL_SUBSCRIBERS, TOPIC, REMINDER, key)
        if self.ledger.claim(message, self.clock(), CLAIM_LEASE, appointment.interval.end) is not Claimed.CLAIMED:
            return "skipped: already sent or being sent"
        self.publisher.publish(appointment, minutes_before)
        self.ledger.mark_sent(message, self.clock())
        return "sent"


@dataclass(frozen=True)
class Applied:
    """What one change did: the schedule changes, the topic's outcome of each reminder sent at once, and what
    became of its messages to people."""

    changes: ScheduleChanges
    sent: dict[int, str] = field(default_factory=dict)
    messages: tuple[Delivery, ...] = ()

    @property
    def sent_count(self) -> int:
        return list(self.sent.values()).count("sent")

    @property
    def did_anything(self) -> bool:
        return bool(self.changes.put or self.changes.delete or self.sent or self.changes.late)


class ReminderScheduling:
    """Apply one change of an appointment (a stream record's images) to its reminders. Idempotent:
    schedules are created-or-moved and deleted-if-present, and deliveries are at most once."""

    def __init__(self, schedules: ReminderSchedules, delivery: Reminders, clock: Callable[[], datetime] = utc_now):
        self.schedules = schedules
        self.delivery = delivery
        self.clock = clock

    def apply(self, old: Appointment | None, new: Appointment | None) -> Applied:
        changes = schedule_changes(old, new, self.clock())
        appointment_id = (new or old).appointment_id
        for reminder in changes.put:
            self.schedules.put(new, reminder)
        for minutes in changes.delete:
            self.schedules.delete(appointment_id, minutes)
        sent, messages = {}, []
        for reminder in changes.send_now:
            request = ReminderRequest(appointment_id, reminder.minutes_before, format_instant(new.interval.start))
            sent[reminder.minutes_before], delivered = self.delivery.deliver_all(request)
            messages += delivered
        return Applied(changes, sent, tuple(messages))
