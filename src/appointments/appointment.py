"""The appointment, and the rules of the fields a request may set (API.md, "Appointment").

Pure: validation turns a request body into an ``Appointment`` or a ``ValidationError`` naming the
field at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from appointments.errors import AppointmentCancelled, HoldExpired, ValidationError
from appointments.occupancy import Entry
from appointments.times import Interval, format_instant, parse_instant, parse_zone

MIN_DURATION = timedelta(minutes=5)  # so a calendar's day holds at most 288 entries, far inside 400 KB
MAX_DURATION = timedelta(days=7)
MAX_DETAILS_BYTES = 4 * 1024
MAX_DETAILS_KEY = 128
MAX_REMINDERS = 5
MAX_REMINDER_MINUTES = 40320  # 28 days
DEFAULT_REMINDERS = (1440, 60)
CALENDAR_ID = re.compile(r"[A-Za-z0-9._@+:\-]{1,128}")  # every calendar ID, a userId included
MAX_PARTICIPANTS = 8  # with the user's calendar, 9 calendars: one transaction stays within 100 actions
MIN_POOL, MAX_POOL = 2, 10  # anyOf; with the 24-hour limit, one booking's read stays within 100 keys
MAX_POOL_DURATION = timedelta(hours=24)
BALANCED, IN_ORDER = "balanced", "inOrder"  # how a pool's member is chosen among those that qualify
CREATE_FIELDS = ("userId", "startTime", "endTime", "timeZone", "participants", "details", "reminders", "anyOf",
                 "assign", "hold")
PATCH_FIELDS = ("startTime", "endTime", "timeZone", "participants", "details", "reminders")
BOOKING_ONLY_FIELDS = ("anyOf", "assign", "hold")  # set when booking, never changed
MAX_HOLD_MINUTES = 30
READ_ONLY_FIELDS = ("appointmentId", "status", "createdAt", "updatedAt", "version", "assigned", "holdExpiresAt",
                    "seriesId", "occurrence", "outcome")
SCHEDULED, CANCELLED, HELD, EXPIRED = "scheduled", "cancelled", "held", "expired"
STATUSES = (SCHEDULED, HELD, EXPIRED, CANCELLED)
OUTCOMES = ("attended", "noShow")


@dataclass(frozen=True)
class Appointment:
    appointment_id: str
    user_id: str
    interval: Interval
    time_zone: str = "UTC"
    participants: tuple[str, ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)
    reminders: tuple[int, ...] = DEFAULT_REMINDERS
    status: str = SCHEDULED
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1
    request_hash: str | None = None
    any_of: tuple[str, ...] = ()  # a pool: exactly one of these is assigned
    assigned: str | None = None
    assign: str = BALANCED
    series_id: str | None = None  # an occurrence of a recurring series: which, and its 1-based number
    occurrence: int | None = None
    hold_expires_at: datetime | None = None  # a hold: it occupies its calendars until then, then nothing
    outcome: str | None = None  # attended or noShow, once recorded

    @property
    def is_scheduled(self) -> bool:
        return self.status == SCHEDULED

    @property
    def occupies(self) -> bool:
        """Scheduled, or held (an expired hold reads as ``expired``, see ``as_of``): it takes its calendars' time."""
        return self.status in (SCHEDULED, HELD)

    def as_of(self, now: datetime) -> Appointment:
        """The appointment as it is at ``now``: a hold past its expiry is expired, with nothing written."""
        if self.status == HELD and self.hold_expires_at is not None and self.hold_expires_at <= now:
            return replace(self, status=EXPIRED)
        return self

    @property
    def calendars(self) -> tuple[str, ...]:
        """Every calendar the appointment occupies: its user's, then the participants in order, then the
        member assigned from its pool."""
        return (self.user_id, *self.participants, *((self.assigned,) if self.assigned else ()))

    @property
    def entry(self) -> Entry:
        """The entry it makes in a calendar: its interval, and a hold's expiry; ``decision.commit_of`` adds the
        footprint of each calendar."""
        return Entry(self.appointment_id, self.interval, self.user_id,
                     expires_at=self.hold_expires_at if self.status == HELD else None)


def _reject_unexpected_fields(body: Mapping, allowed: tuple[str, ...]) -> None:
    for name in body:
        if name in READ_ONLY_FIELDS:
            raise ValidationError(f"{name} is read-only; remove it from the request.", name)
        if name in BOOKING_ONLY_FIELDS and name not in allowed:
            raise ValidationError(f"{name} is set when booking and cannot be changed; cancel and book again.", name)
        if name not in allowed:
            raise ValidationError(f"Unknown field '{name}'. Allowed fields: {', '.join(allowed)}.", str(name))


def validate_calendar_id(value: object, field_name: str = "userId") -> str:
    """A calendar ID (a userId is one): 1-128 characters from A-Z a-z 0-9 . _ @ + : -"""
    if not isinstance(value, str) or not CALENDAR_ID.fullmatch(value):
        raise ValidationError(f"{field_name} must be 1-128 characters from A-Z a-z 0-9 . _ @ + : -", field_name)
    return value


def validate_participants(value: object, user_id: str) -> tuple[str, ...]:
    rule = (f"participants must be a list of up to {MAX_PARTICIPANTS} distinct calendar IDs other than userId, "
            "each 1-128 characters from A-Z a-z 0-9 . _ @ + : -")
    if not isinstance(value, list) or len(value) > MAX_PARTICIPANTS:
        raise ValidationError(f"{rule}.", "participants")
    for calendar_id in value:
        if not isinstance(calendar_id, str) or not CALENDAR_ID.fullmatch(calendar_id):
            raise ValidationError(f"{rule}; {json.dumps(calendar_id)[:140]} is not one.", "participants")
    if len(set(value)) != len(value):
        raise ValidationError(f"{rule}; remove the duplicates.", "participants")
    if user_id in value:
        raise ValidationError(f"{rule}; the user's own calendar ({user_id}) is always occupied, so leave it out.",
                              "participants")
    return tuple(value)


def _validate_pool(value: object, user_id: str, participants: tuple[str, ...]) -> tuple[str, ...]:
    rule = (f"anyOf must be a list of {MIN_POOL}-{MAX_POOL} distinct calendar IDs, none of them userId or a "
            "participant, each 1-128 characters from A-Z a-z 0-9 . _ @ + : -")
    if (not isinstance(value, list) or not MIN_POOL <= len(value) <= MAX_POOL
            or not all(isinstance(c, str) and CALENDAR_ID.fullmatch(c) for c in value)
            or len(set(value)) != len(value) or user_id in value):
        raise ValidationError(f"{rule}.", "anyOf")
    _pool_fits(tuple(value), participants)
    return tuple(value)


def _pool_fits(any_of: tuple[str, ...], participants: tuple[str, ...]) -> None:
    """The member assigned is one more calendar: participants and it are at most 8, and no member is a participant."""
    if set(any_of) & set(participants):
        raise ValidationError("A calendar is either a participant or a member of anyOf, not both.", "participants")
    if len(participants) + 1 > MAX_PARTICIPANTS:
        raise ValidationError(f"With anyOf there are at most {MAX_PARTICIPANTS - 1} participants: the member assigned "
                              "is one more.", "participants")


def _pool_lasts(any_of: tuple[str, ...], interval: Interval) -> None:
    """A pool booking is at most 24 hours long, so that its read of every member stays within 100 keys."""
    if any_of and interval.end - interval.start > MAX_POOL_DURATION:
        raise ValidationError("With anyOf an appointment lasts at most 24 hours.", "endTime")


def _validate_details(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValidationError("details must be an object whose values are strings.", "details")
    if not all(1 <= len(key) <= MAX_DETAILS_KEY for key in value):
        raise ValidationError(f"details keys must be 1-{MAX_DETAILS_KEY} characters long; rename or remove "
                              "the empty or long key.", "details")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_DETAILS_BYTES:
        raise ValidationError(f"details is {size} bytes once serialised; the limit is {MAX_DETAILS_BYTES}.",
                              "details")
    return value


def _validate_reminders(value: object) -> tuple[int, ...]:
    rule = (f"reminders must be a list of up to {MAX_REMINDERS} distinct whole minutes before the start, "
            f"each from 1 to {MAX_REMINDER_MINUTES}")
    if not isinstance(value, list) or len(value) > MAX_REMINDERS:
        raise ValidationError(f"{rule}.", "reminders")
    for minutes in value:
        if type(minutes) is not int or not 1 <= minutes <= MAX_REMINDER_MINUTES:
            raise ValidationError(f"{rule}; {json.dumps(minutes)} is not.", "reminders")
    if len(set(value)) != len(value):
        raise ValidationError(f"{rule}; remove the duplicates.", "reminders")
    return tuple(sorted(value, reverse=True))


def _validate_interval(start: datetime, end: datetime, now: datetime | None = None) -> Interval:
    """End after start, in the future when ``now`` is given, and 5 minutes to 7 days long."""
    if end <= start:
        raise ValidationError("endTime must be after startTime.", "endTime")
    if now is not None:
        require_future(Interval(start, end), now)
    if end - start < MIN_DURATION:
        raise ValidationError("An appointment lasts at least 5 minutes; move endTime later.", "endTime")
    if end - start > MAX_DURATION:
        raise ValidationError("An appointment may last at most 7 days.", "endTime")
    return Interval(start, end)


def require_future(interval: Interval, now: datetime) -> None:
    """The one rule that depends on the clock, kept apart so an idempotent replay is looked up first."""
    if interval.start <= now:
        raise ValidationError(f"startTime must be in the future; it is now {format_instant(now)}.", "startTime")


def require_still_on(appointment: Appointment, change: str = "changed") -> None:
    """A cancelled appointment, or a hold that expired (read ``as_of`` now), cannot be changed or confirmed;
    ``change`` names what was asked for, in the message."""
    if appointment.status == CANCELLED:
        raise AppointmentCancelled(f"This appointment is cancelled and can no longer be {change}; book a new one.")
    if appointment.status == EXPIRED:
        raise HoldExpired()


def new_appointment(body: Mapping, *, appointment_id: str, now: datetime) -> Appointment:
    """Validate a create request into a scheduled appointment (API.md field rules).

    Every rule but "startTime in the future" is checked here; the caller applies ``require_future``
    once it knows the request is not an idempotent replay.
    """
    _reject_unexpected_fields(body, CREATE_FIELDS)
    for name in ("userId", "startTime", "endTime"):
        if name not in body:
            raise ValidationError(f"{name} is required.", name)
    user_id = validate_calendar_id(body["userId"])
    zone_name = body.get("timeZone", "UTC")
    zone = parse_zone(zone_name)
    naive_zone = zone if "timeZone" in body else None
    start = parse_instant(body["startTime"], "startTime", naive_zone)
    end = parse_instant(body["endTime"], "endTime", naive_zone)
    interval = _validate_interval(start, end)
    participants = validate_participants(body.get("participants", []), user_id)
    any_of = _validate_pool(body["anyOf"], user_id, participants) if "anyOf" in body else ()
    _pool_lasts(any_of, interval)
    if "assign" in body and (not any_of or body["assign"] not in (BALANCED, IN_ORDER)):
        raise ValidationError(f'assign is "{IN_ORDER}" or "{BALANCED}" (the default), and goes with anyOf.', "assign")
    hold = body.get("hold")
    if "hold" in body and (type(hold) is not int or not 1 <= hold <= MAX_HOLD_MINUTES):
        raise ValidationError(f"hold is a whole number of minutes from 1 to {MAX_HOLD_MINUTES}.", "hold")
    return Appointment(
        appointment_id=appointment_id,
        user_id=user_id,
        interval=interval,
        time_zone=zone.key,
        participants=participants,
        details=_validate_details(body.get("details", {})),
        reminders=_validate_reminders(body.get("reminders", list(DEFAULT_REMINDERS))),
        created_at=now,
        updated_at=now,
        any_of=any_of,
        assign=body.get("assign", BALANCED),
        status=HELD if hold else SCHEDULED,
        hold_expires_at=now.replace(microsecond=0) + timedelta(minutes=hold) if hold else None,
    )


def apply_changes(current: Appointment, body: Mapping, *, now: datetime) -> Appointment:
    """Validate a PATCH body and return the changed appointment (fields merge over the current ones).

    A time without an offset is read in the body's timeZone, so it must come with one.
    """
    _reject_unexpected_fields(body, PATCH_FIELDS)
    if not body:
        raise ValidationError(f"Give at least one field to change: {', '.join(PATCH_FIELDS)}.")
    zone = parse_zone(body["timeZone"]) if "timeZone" in body else ZoneInfo(current.time_zone)
    naive_zone = zone if "timeZone" in body else None
    start = parse_instant(body["startTime"], "startTime", naive_zone) if "startTime" in body else None
    end = parse_instant(body["endTime"], "endTime", naive_zone) if "endTime" in body else None
    interval = current.interval
    if start or end:
        interval = _validate_interval(start or interval.start, end or interval.end, now)
        _pool_lasts(current.any_of, interval)
    participants = current.participants
    if "participants" in body:
        participants = validate_participants(body["participants"], current.user_id)
        if current.any_of:
            _pool_fits(current.any_of, participants)
    changed = replace(
        current,
        interval=interval,
        time_zone=zone.key,
        participants=participants,
        details=_validate_details(body["details"]) if "details" in body else current.details,
        reminders=_validate_reminders(body["reminders"]) if "reminders" in body else current.reminders,
    )
    if changed == current:
        return current
    return replace(changed, updated_at=now, version=current.version + 1)


def cancelled(current: Appointment, *, now: datetime) -> Appointment:
    """Cancelled (a hold released): it keeps no hold expiry."""
    return replace(current, status=CANCELLED, hold_expires_at=None, updated_at=now, version=current.version + 1)


def confirmed(current: Appointment, *, now: datetime) -> Appointment:
    """A hold confirmed: booked as usual from now on."""
    return replace(current, status=SCHEDULED, hold_expires_at=None, updated_at=now, version=current.version + 1)


def with_outcome(current: Appointment, outcome: str | None, *, now: datetime) -> Appointment:
    return replace(current, outcome=outcome, updated_at=now, version=current.version + 1)
