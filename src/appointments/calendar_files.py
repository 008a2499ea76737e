"""Appointments as iCalendar (RFC 5545) files, for calendar programs.

One ``VEVENT`` per appointment. Its ``UID`` never changes and its ``SEQUENCE`` grows with the
version, so a calendar program that imports the appointment again updates the event it has instead
of adding a second one. The ``icalendar`` library does the folding and escaping; this module is
imported only when a client asks for ``text/calendar``, so the booking path never loads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from icalendar import Alarm, Calendar, Event
from icalendar.prop import vDuration, vText

from appointments.appointment import Appointment

PRODUCT_ID = "-//appointments//Appointment Scheduler//EN"
# A hold is tentative (RFC 5545) until it is confirmed; one that expired is as good as cancelled.
STATUS = {"scheduled": "CONFIRMED", "held": "TENTATIVE", "cancelled": "CANCELLED", "expired": "CANCELLED"}


class MinutesBefore(vDuration):
    """A reminder's trigger, written in minutes (``-PT1440M``), as API.md says. The library would write
    ``-P1D``: a nominal day, which a calendar program may stretch to 23 or 25 hours across a DST change."""

    def __init__(self, minutes: int):
        super().__init__(timedelta(minutes=-minutes))
        self.minutes = minutes

    def to_ical(self) -> bytes:
        return f"-PT{self.minutes}M".encode()


# RFC 5545 allows no control character in text but the tab; line breaks are escaped (``\n``).
CONTROL = {code: None for code in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F)}
ESCAPED = str.maketrans({"\\": "\\\\", ";": "\\;", ",": "\\,", "\n": "\\n"})


class Text(vText):
    """A TEXT value escaped as RFC 5545 says, character by character. The library's own escaping first reads
    a literal backslash-N in the text as a line break, so a title holding ``\\N`` would change."""

    def to_ical(self) -> bytes:
        return str(self).translate(ESCAPED).encode()


def text(value: str) -> Text:
    """``details`` text as iCalendar may carry it: CR LF and CR become LF, other controls are left out."""
    return Text(value.replace("\r\n", "\n").replace("\r", "\n").translate(CONTROL))


def uid(appointment_id: str) -> str:
    return f"{appointment_id}@appointments"


def event(appointment: Appointment) -> Event:
    details = appointment.details
    summary = text(details.get("title") or "") or Text("Appointment")
    vevent = Event()
    vevent.add("uid", uid(appointment.appointment_id))
    vevent.add("sequence", appointment.version - 1)
    vevent.add("dtstamp", appointment.updated_at)
    vevent.add("dtstart", appointment.interval.start)
    vevent.add("dtend", appointment.interval.end)
    vevent.add("status", STATUS[appointment.status])
    vevent.add("summary", summary)
    for field in ("location", "description"):
        if value := text(details.get(field) or ""):
            vevent.add(field, value)
    if resources := appointment.calendars[1:]:  # the providers and rooms it occupies, a pool's member last
        vevent.add("resources", list(resources))
    if appointment.created_at:
        vevent.add("created", appointment.created_at)
    vevent.add("last-modified", appointment.updated_at)
    for minutes in appointment.reminders:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", summary)
        alarm.add("trigger", MinutesBefore(minutes))
        vevent.add_component(alarm)
    return vevent


def calendar_file(appointments: Iterable[Appointment]) -> str:
    """A ``VCALENDAR`` with one ``VEVENT`` per appointment, CRLF lines folded at 75 octets."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    for appointment in appointments:
        calendar.add_component(event(appointment))
    return calendar.to_ical().decode("utf-8")
