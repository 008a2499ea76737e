"""The stored forms: how an appointment, a calendar's bucket, its rules and its contact are written to DynamoDB
and read back.

Each mapping is explicit and its own, apart from the API's JSON, so neither changes the other by
accident: a tightened API limit never makes stored rules unreadable, and a renamed API field never
renames a stored attribute. The stream consumers and the event publisher read appointments through
``appointment_images``, without the data layer.
"""

from __future__ import annotations

import json
from datetime import date, datetime

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from appointments.appointment import BALANCED, Appointment
from appointments.availability import WEEKDAYS, Availability, Window
from appointments.contacts import Contact
from appointments.decision import Bucket
from appointments.occupancy import Entry
from appointments.series import Repeat, SeriesRecord, repeat_json
from appointments.times import Interval, format_instant, parse_stored_instant

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: dict) -> dict:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def from_item(item: dict) -> dict:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


# -- appointments (AppointmentsTable, and the stream's images) ------------------------------------------------

def appointment_item(appointment: Appointment) -> dict:
    """The stored attributes of an appointment, as plain values: the table's schema and the stream images'.
    The key and the idempotency fingerprint (requestHash) are written apart. Items written before the message
    ledger moved to CalendarTable also hold reminderClaims and remindersSent; they are read as any other."""
    start, end, created, updated = (format_instant(t) for t in (appointment.interval.start, appointment.interval.end,
                                                                 appointment.created_at, appointment.updated_at))
    item = {"userId": appointment.user_id, "startTime": start, "endTime": end, "timeZone": appointment.time_zone,
            "participants": list(appointment.participants), "details": dict(appointment.details),
            "reminders": list(appointment.reminders), "status": appointment.status, "createdAt": created,
            "updatedAt": updated, "version": appointment.version}
    if appointment.any_of:  # a pool booking: its members, the one assigned, and how it was chosen
        item |= {"anyOf": list(appointment.any_of), "assigned": appointment.assigned, "assign": appointment.assign}
    if appointment.series_id:
        item |= {"seriesId": appointment.series_id, "occurrence": appointment.occurrence}
    if appointment.hold_expires_at:
        item["holdExpiresAt"] = format_instant(appointment.hold_expires_at)
    if appointment.outcome:
        item["outcome"] = appointment.outcome
    return item


def appointment_from_item(item: dict) -> Appointment:
    """An AppointmentsTable item (or stream image) as an appointment; the inverse of ``appointment_item``."""
    values = from_item(item)
    return Appointment(
        appointment_id=values["appointmentId"],
        user_id=values["userId"],
        interval=Interval(parse_stored_instant(values["startTime"]), parse_stored_instant(values["endTime"])),
        time_zone=values.get("timeZone", "UTC"),
        participants=tuple(values.get("participants", [])),
        details=values.get("details", {}),
        reminders=tuple(int(m) for m in values.get("reminders", [])),
        status=values["status"],
        created_at=parse_stored_instant(values["createdAt"]),
        updated_at=parse_stored_instant(values["updatedAt"]),
        version=int(values["version"]),
        request_hash=values.get("requestHash"),
        any_of=tuple(values.get("anyOf", [])),
        assigned=values.get("assigned"),
        assign=values.get("assign", BALANCED),
        series_id=values.get("seriesId"),
        occurrence=int(values["occurrence"]) if "occurrence" in values else None,
        hold_expires_at=parse_stored_instant(values["holdExpiresAt"]) if "holdExpiresAt" in values else None,
        outcome=values.get("outcome"),
    )


def appointment_images(change: dict) -> tuple[Appointment | None, Appointment | None]:
    """A table stream record's ``dynamodb`` part as the appointment before and after the change."""
    old, new = change.get("OldImage"), change.get("NewImage")
    return (appointment_from_item(old) if old else None), (appointment_from_item(new) if new else None)


# -- buckets (CalendarTable: one calendar, one UTC day) --------------------------------------------------------

HOLD = "~"  # marks a hold's expiry, the last part of its entry: no calendar ID has this character


def entry_text(entry: Entry, calendar_id: str) -> str:
    """Compact, for the map of ``calendar_id``'s bucket: ``start/end``, then ``|fstart/fend`` when buffers
    widen the footprint, then ``|owner`` unless the owner is the calendar itself, then ``|~expiry`` for a hold."""
    parts = [entry.interval.encode()]
    if entry.footprint and entry.footprint != entry.interval:
        parts.append(entry.footprint.encode())
    if entry.owner != calendar_id or len(parts) > 1:
        parts.append(entry.owner)
    if entry.expires_at:
        parts.append(HOLD + format_instant(entry.expires_at))
    return "|".join(parts)


def entry_from_text(appointment_id: str, text: str, calendar_id: str) -> Entry:
    """``start/end`` alone is owned by the calendar (and every entry written before calendars had owners
    looks so)."""
    interval, *rest = text.split("|")
    expires_at = parse_stored_instant(rest.pop()[1:]) if rest and rest[-1].startswith(HOLD) else None
    footprint = Interval.decode(rest[0]) if len(rest) == 2 else None
    return Entry(appointment_id, Interval.decode(interval), rest[-1] if rest else calendar_id, footprint, expires_at)


def bucket_from_item(item: dict) -> Bucket:
    values = from_item(item)
    calendar_id = values["userId"]
    return Bucket(calendar_id, values["day"], int(values["version"]),
                  {k: entry_from_text(k, v, calendar_id) for k, v in values["slots"].items()})


def bucket_entries(bucket: Bucket, entries: dict[str, Entry]) -> dict:
    """The stored map of a bucket's entries (the attribute is named ``slots`` for history)."""
    return {k: entry_text(v, bucket.calendar_id) for k, v in entries.items()}


# -- availability rules (CalendarTable, sort key ``availability``) ----------------------------------------------

def _windows_stored(windows: tuple[Window, ...]) -> list[dict]:
    return [{"start": f"{start // 60:02d}:{start % 60:02d}", "end": f"{end // 60:02d}:{end % 60:02d}"}
            for start, end in windows]


def _windows_read(stored: list[dict]) -> tuple[Window, ...]:
    def minutes(clock: str) -> int:
        hours, _, mins = clock.partition(":")
        return int(hours) * 60 + int(mins)

    return tuple((minutes(w["start"]), minutes(w["end"])) for w in stored)


def rules_text(rules: Availability) -> str:
    """The stored form of a calendar's rules: JSON with the API's field names (what earlier versions wrote)."""
    return json.dumps({
        "timeZone": rules.time_zone,
        "weekly": {day: _windows_stored(rules.weekly[day]) for day in WEEKDAYS if day in rules.weekly},
        "overrides": {day: _windows_stored(windows) for day, windows in sorted(rules.overrides.items())},
        "bufferBefore": rules.buffer_before, "bufferAfter": rules.buffer_after,
        "minimumNotice": rules.minimum_notice, "maximumAdvance": rules.maximum_advance,
        "maxPerDay": rules.max_per_day,
    }, separators=(",", ":"))


def rules_from_item(item: dict) -> Availability | None:
    """The rules of a rules item, read as stored, without the API's limits: rules stored under looser limits
    still read, and still decide bookings. None for the tombstone a removal leaves (only a version)."""
    values = from_item(item)
    if "rules" not in values:
        return None
    stored = json.loads(values["rules"])
    return Availability(
        time_zone=stored["timeZone"],
        weekly={day: _windows_read(windows) for day, windows in stored.get("weekly", {}).items()},
        overrides={day: _windows_read(windows) for day, windows in stored.get("overrides", {}).items()},
        buffer_before=stored.get("bufferBefore", 0),
        buffer_after=stored.get("bufferAfter", 0),
        minimum_notice=stored.get("minimumNotice", 0),
        maximum_advance=stored.get("maximumAdvance"),
        max_per_day=stored.get("maxPerDay"),
        version=int(values["version"]),
    )


# -- recurring series (CalendarTable: partition ``series#<seriesId>``, which no calendar ID can be) -------------

SERIES = "series"


def series_key(series_id: str) -> dict:
    return to_item({"userId": f"{SERIES}#{series_id}", "day": SERIES})


def series_item(record: SeriesRecord) -> dict:
    item = {"userId": f"{SERIES}#{record.series_id}", "day": SERIES, "owner": record.user_id,
            "repeat": json.dumps(repeat_json(record.repeat), separators=(",", ":")),
            "occurrences": list(record.occurrence_ids), "createdAt": format_instant(record.created_at)}
    return item | ({"requestHash": record.request_hash} if record.request_hash else {})


def series_from_item(item: dict) -> SeriesRecord:
    values = from_item(item)
    stored = json.loads(values["repeat"])  # read as stored, not back through the API's limits
    repeat = Repeat(int(stored["every"]), stored["unit"], stored.get("count"),
                    date.fromisoformat(stored["until"]) if "until" in stored else None,
                    frozenset(date.fromisoformat(d) for d in stored.get("skip", [])))
    return SeriesRecord(values["userId"].removeprefix(f"{SERIES}#"), values["owner"], repeat,
                        tuple(values["occurrences"]), parse_stored_instant(values["createdAt"]),
                        values.get("requestHash"))


# -- a user's holds (CalendarTable, sort key ``holds``): the holds not yet confirmed, released or expired ------

HOLDS = "holds"
# Attributes an appointment item has only sometimes: an update that leaves them out removes them.
OPTIONAL_ATTRIBUTES = ("holdExpiresAt", "outcome")


def holds_item(user_id: str, version: int, holds: dict[str, datetime]) -> dict:
    return {"userId": user_id, "day": HOLDS, "version": version,
            "holds": {appointment_id: format_instant(expires) for appointment_id, expires in holds.items()}}


def holds_from_item(item: dict) -> tuple[dict[str, datetime], int]:
    values = from_item(item)
    return ({k: parse_stored_instant(v) for k, v in values.get("holds", {}).items()}, int(values["version"]))


# -- contacts (CalendarTable, sort key ``contact``) --------------------------------------------------------------

def contact_text(contact: Contact) -> str:
    """The stored form of a calendar's contact, apart from its version and ``updatedAt``: JSON with the API's
    field names, consent times as stored instants."""
    return json.dumps({
        "name": contact.name, "email": contact.email, "phone": contact.phone, "locale": contact.locale,
        "timeZone": contact.time_zone, "channels": list(contact.channels),
        "notifyAsParticipant": contact.notify_as_participant,
        "consent": {channel: format_instant(at) for channel, at in sorted(contact.consent.items())},
    }, ensure_ascii=False, separators=(",", ":"))


def contact_from_item(item: dict) -> Contact | None:
    """The contact of a contact item, read as stored; None for the tombstone an erasure leaves (only a version)."""
    values = from_item(item)
    if "contact" not in values:
        return None
    stored = json.loads(values["contact"])
    return Contact(
        name=stored.get("name"), email=stored.get("email"), phone=stored.get("phone"),
        locale=stored.get("locale") or "en", time_zone=stored.get("timeZone"),
        channels=tuple(stored.get("channels", [])),
        notify_as_participant=bool(stored.get("notifyAsParticipant", False)),
        consent={channel: parse_stored_instant(at) for channel, at in stored.get("consent", {}).items()},
        version=int(values["version"]),
        updated_at=parse_stored_instant(values["updatedAt"]) if "updatedAt" in values else None,
    )
