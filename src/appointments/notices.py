"""Which message an appointment event asks for (API.md, "Contacts and notifications"): pure.

``AppointmentBooked`` is a confirmation, ``AppointmentRescheduled`` a rescheduled notice (with the previous
times), ``AppointmentCancelled`` a cancelled notice; every other event sends nothing (a change of details,
reminders, participants or zone only; a hold; an outcome). A hold was never confirmed, so a move of one
and its release send nothing either. Each notice is keyed by the version it reports, so a second delivery of
the same event is the same message.
"""

from __future__ import annotations

from dataclasses import dataclass

from appointments.appointment import HELD, Appointment
from appointments.events import APPOINTMENT_BOOKED, APPOINTMENT_CANCELLED, APPOINTMENT_RESCHEDULED
from appointments.ledger import change_key
from appointments.messages import CANCELLED, CONFIRMATION, RESCHEDULED
from appointments.times import Interval, parse_stored_instant

KIND_OF = {APPOINTMENT_BOOKED: CONFIRMATION, APPOINTMENT_RESCHEDULED: RESCHEDULED, APPOINTMENT_CANCELLED: CANCELLED}


@dataclass(frozen=True)
class Notice:
    kind: str
    appointment: Appointment
    key: str
    recipients: tuple[str, ...]
    previous: Interval | None = None


def _interval(shown: dict) -> Interval:
    return Interval(parse_stored_instant(shown["startTime"]), parse_stored_instant(shown["endTime"]))


def appointment_of(shown: dict) -> Appointment:
    """The appointment an event carries (its API JSON), as far as a message needs it."""
    return Appointment(
        appointment_id=str(shown["appointmentId"]), user_id=str(shown["userId"]), interval=_interval(shown),
        time_zone=shown.get("timeZone") or "UTC", participants=tuple(shown.get("participants") or ()),
        details={k: v for k, v in (shown.get("details") or {}).items() if isinstance(v, str)},
        reminders=tuple(shown.get("reminders") or ()), status=str(shown["status"]), version=int(shown["version"]))


def notice_of(event: dict) -> Notice | None:
    """The notice an EventBridge event (as a rule hands it to a target) asks for; None when it asks for none.
    Raises KeyError, TypeError or ValueError when the event is not an appointment event."""
    kind = KIND_OF.get(event["detail-type"])
    if kind is None:
        return None
    detail = event["detail"]
    shown, before = detail["appointment"], detail.get("previous")
    if shown.get("status") == HELD or (kind == CANCELLED and before and before.get("status") == HELD):
        return None  # a hold, moved or released: nothing was ever confirmed
    appointment = appointment_of(shown)
    calendars = [shown["userId"], *(shown.get("participants") or ()), shown.get("assigned")]
    recipients = tuple(c for c in dict.fromkeys(calendars) if c)
    previous = _interval(before) if kind == RESCHEDULED and before else None
    return Notice(kind, appointment, change_key(appointment.version), recipients, previous)
