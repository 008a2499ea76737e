"""Reminder logic: keep an appointment's reminders in step with its changes, and deliver each at most once.

``ReminderScheduling`` is the stream consumer's logic; ``Reminders`` is the delivery, used by the
sender (and by the consumer for a reminder due within a minute). Both take their clock, and reach
AWS only through the adapters in ``adapters.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from appointments.adapters import ReminderPublisher, ReminderRequest, ReminderSchedules
from appointments.appointment import Appointment
from appointments.ledger import ReminderLedger
from appointments.reminder_plan import ScheduleChanges, schedule_changes
from appointments.times import format_instant, utc_now

CLAIM_LEASE = timedelta(seconds=30)  # shorter than Lambda's first async retry delay (about a minute)


class Reminders:
    """Deliver one reminder at most once, and never for a cancelled or moved appointment."""

    def __init__(self, ledger: ReminderLedger, publisher: ReminderPublisher,
                 clock: Callable[[], datetime] = utc_now):
        self.ledger = ledger
        self.publisher = publisher
        self.clock = clock

    def deliver(self, request: ReminderRequest) -> str:
        appointment = self.ledger.appointment(request.appointment_id)
        if appointment is None:
            return "skipped: the appointment no longer exists"
        if not appointment.is_scheduled:
            return "skipped: the appointment is cancelled"
        if format_instant(appointment.interval.start) != request.start_time:
            return "skipped: stale, the appointment was rescheduled"
        if request.minutes_before not in appointment.reminders:
            return "skipped: this reminder was removed"
        if not self.ledger.claim(appointment, request.marker, self.clock(), CLAIM_LEASE):
            return "skipped: already sent or being sent"
        self.publisher.publish(appointment, request.minutes_before)
        self.ledger.mark_sent(appointment.appointment_id, request.marker)
        return "sent"


@dataclass(frozen=True)
class Applied:
    """What one change did: the schedule changes, and the outcome of each reminder sent at once."""

    changes: ScheduleChanges
    sent: dict[int, str] = field(default_factory=dict)

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
        sent = {}
        for reminder in changes.send_now:
            request = ReminderRequest(appointment_id, reminder.minutes_before, format_instant(new.interval.start))
            sent[reminder.minutes_before] = self.delivery.deliver(request)
        return Applied(changes, sent)
