"""Reminders: when each one is due, what a change of the appointment means for its schedules, and the text.

Pure: ``schedule_changes`` turns a stream record's two images into the schedules to put, move or
delete and the reminders to send at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from appointments.appointment import Appointment


@dataclass(frozen=True)
class Reminder:
    minutes_before: int
    fire_at: datetime


def _label(minutes: int) -> tuple[int, str]:
    return (minutes // 60, "Hour") if minutes % 60 == 0 else (minutes, "Minute")


def reminder_type(minutes: int) -> str:
    count, unit = _label(minutes)
    return f"{count}_{unit.lower()}"


def reminder_subject(minutes: int) -> str:
    count, unit = _label(minutes)
    return f"Appointment Reminder - {count} {unit}"


def reminder_plan(appointment: Appointment, after: datetime) -> list[Reminder]:
    """The reminders whose time is after ``after``; none if the appointment is cancelled."""
    if not appointment.is_scheduled:
        return []
    plan = [Reminder(m, appointment.interval.start - timedelta(minutes=m)) for m in appointment.reminders]
    return [r for r in plan if r.fire_at > after]


SEND_AT_ONCE_WITHIN = timedelta(minutes=1)  # closer than this, a reminder is sent, not scheduled


@dataclass(frozen=True)
class ScheduleChanges:
    """What one change of an appointment means for its reminders."""

    put: tuple[Reminder, ...] = ()  # one-time schedules to create, or move
    delete: tuple[int, ...] = ()  # offsets whose schedules go
    send_now: tuple[Reminder, ...] = ()  # due within a minute: sent at once, never an at() in the past
    late: tuple[Reminder, ...] = ()  # due, but the appointment has started: skipped, and counted


def schedule_changes(old: Appointment | None, new: Appointment | None, now: datetime) -> ScheduleChanges:
    """What a change to an appointment means for its reminders, as the stream consumer sees it at ``now``.

    ``old`` and ``new`` are the stream record's images. Only the start time, the offsets and the
    status matter; an edit of details or time zone leaves the schedules alone (the sender reads those
    when it sends). A reminder whose time had passed when the change was committed is skipped (API.md).
    One that was still ahead then but is due by now (the record is processed late, or the booking was
    made less than a minute before it) is sent at once while the appointment has not started, and
    skipped and counted once it has: it never becomes a schedule in the past.
    """
    before = set(old.reminders) if old and old.is_scheduled else set()
    if new is None or not new.is_scheduled:
        return ScheduleChanges(delete=tuple(sorted(before)))
    if old and old.is_scheduled and (old.interval.start, old.reminders) == (new.interval.start, new.reminders):
        return ScheduleChanges()
    moved = old is None or not old.is_scheduled or old.interval.start != new.interval.start
    fresh = [r for r in reminder_plan(new, new.updated_at or now) if moved or r.minutes_before not in before]
    put = tuple(r for r in fresh if r.fire_at > now + SEND_AT_ONCE_WITHIN)
    due = tuple(r for r in fresh if r.fire_at <= now + SEND_AT_ONCE_WITHIN)
    started = new.interval.start <= now
    # Moved: every old schedule is for the old start, so each one not put again goes. Not moved:
    # the schedules of offsets the appointment keeps are still right, however close they are.
    kept = {r.minutes_before for r in put} if moved else set(new.reminders)
    return ScheduleChanges(put=put, delete=tuple(sorted(before - kept)),
                           send_now=() if started else due, late=due if started else ())


def reminder_message(appointment: Appointment, minutes: int) -> str:
    zone = ZoneInfo(appointment.time_zone)
    local = appointment.interval.start.astimezone(zone)
    count, unit = _label(minutes)
    when = f"{local:%A %d %B %Y at %H:%M} {local.tzname()} ({zone.key})"
    lines = [f"Reminder: your appointment starts in {count} {unit.lower()}{'s' if count != 1 else ''}, "
             f"on {when}."]
    if appointment.details.get("location"):
        lines.append(f"Location: {appointment.details['location']}")
    if appointment.details.get("description"):
        lines.append(f"Description: {appointment.details['description']}")
    return "\n".join(lines)
