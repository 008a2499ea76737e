"""What the API answers (API.md): the JSON of an appointment, a calendar's rules and contact, a conflict and an
interval, and the CORS headers of an answer.

Pure, and apart from the stored forms (``codecs``): the HTTP layer and the appointment events shape
their bodies here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from appointments.appointment import EXPIRED, HELD, Appointment
from appointments.availability import WEEKDAYS, Availability, Window
from appointments.contacts import Contact
from appointments.occupancy import CalendarConflict
from appointments.times import Interval, format_instant


def appointment_json(appointment: Appointment) -> dict:
    pool = {"anyOf": list(appointment.any_of), "assigned": appointment.assigned} if appointment.any_of else {}
    series = {"seriesId": appointment.series_id, "occurrence": appointment.occurrence} if appointment.series_id else {}
    held = ({"holdExpiresAt": format_instant(appointment.hold_expires_at)}
            if appointment.hold_expires_at and appointment.status in (HELD, EXPIRED) else {})
    outcome = {"outcome": appointment.outcome} if appointment.outcome else {}
    return {
        "appointmentId": appointment.appointment_id,
        "userId": appointment.user_id,
        "startTime": format_instant(appointment.interval.start),
        "endTime": format_instant(appointment.interval.end),
        "timeZone": appointment.time_zone,
        "participants": list(appointment.participants),
        "details": dict(appointment.details),
        "reminders": list(appointment.reminders),
        "status": appointment.status,
        "createdAt": format_instant(appointment.created_at) if appointment.created_at else None,
        "updatedAt": format_instant(appointment.updated_at) if appointment.updated_at else None,
        "version": appointment.version,
        **pool,
        **series,
        **held,
        **outcome,
    }


def _windows_json(windows: Iterable[Window]) -> list[dict]:
    return [{"start": f"{start // 60:02d}:{start % 60:02d}", "end": f"{end // 60:02d}:{end % 60:02d}"}
            for start, end in windows]


def availability_json(rules: Availability) -> dict:
    return {
        "timeZone": rules.time_zone,
        "weekly": {day: _windows_json(rules.weekly[day]) for day in WEEKDAYS if day in rules.weekly},
        "overrides": {day: _windows_json(windows) for day, windows in sorted(rules.overrides.items())},
        "bufferBefore": rules.buffer_before, "bufferAfter": rules.buffer_after,
        "minimumNotice": rules.minimum_notice, "maximumAdvance": rules.maximum_advance,
        "maxPerDay": rules.max_per_day, "version": rules.version,
    }


def contact_json(contact: Contact) -> dict:
    """A contact as its calendar's owner reads it; fields not set are left out."""
    shown = {"name": contact.name, "email": contact.email, "phone": contact.phone, "locale": contact.locale,
             "timeZone": contact.time_zone}
    return {**{k: v for k, v in shown.items() if v is not None}, "channels": list(contact.channels),
            "notifyAsParticipant": contact.notify_as_participant,
            "consent": {channel: format_instant(at) for channel, at in sorted(contact.consent.items())},
            "version": contact.version,
            "updatedAt": format_instant(contact.updated_at) if contact.updated_at else None}


def conflict_json(conflict: CalendarConflict, for_user: str) -> dict:
    """``appointmentId`` only for the user's own appointments: another customer's booking of a shared
    provider shows only its calendar and times."""
    shown = {"calendarId": conflict.calendar_id, "startTime": format_instant(conflict.entry.interval.start),
             "endTime": format_instant(conflict.entry.interval.end)}
    if conflict.entry.owner == for_user:
        shown["appointmentId"] = conflict.entry.appointment_id
    return shown


def interval_json(interval: Interval) -> dict:
    return {"start": format_instant(interval.start), "end": format_instant(interval.end)}


EXPOSED_HEADERS = ("ETag", "Location", "Link", "Retry-After", "Idempotent-Replayed")


def cors_headers(origin: str, allowed: Collection[str]) -> dict[str, str]:
    """The CORS headers of an answer to ``origin``: none unless it is one of the allowed origins."""
    if origin not in allowed:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": ",".join(EXPOSED_HEADERS),
            "Vary": "Origin"}
