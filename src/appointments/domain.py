"""Pure domain logic: times, intervals, validation, conflicts, reminder plans and message text.

Nothing here touches AWS or the environment, so all of it is tested without moto.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

from appointments.errors import ValidationError

UTC = UTC
MIN_DURATION = timedelta(minutes=5)  # so a calendar's day holds at most 288 entries, far inside 400 KB
MAX_DURATION = timedelta(days=7)
MAX_DETAILS_BYTES = 4 * 1024
MAX_DETAILS_KEY = 128
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # every time, in a body or a query, lies in [EARLIEST, LATEST]
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
MAX_REMINDERS = 5
MAX_REMINDER_MINUTES = 40320  # 28 days
DEFAULT_REMINDERS = (1440, 60)
USER_ID = re.compile(r"[A-Za-z0-9._@+:\-]{1,128}")  # also the rule for every calendar ID
MAX_PARTICIPANTS = 8  # with the user's calendar, 9 calendars: one transaction stays within 100 actions
CREATE_FIELDS = ("userId", "startTime", "endTime", "timeZone", "participants", "details", "reminders")
PATCH_FIELDS = ("startTime", "endTime", "timeZone", "participants", "details", "reminders")
READ_ONLY_FIELDS = ("appointmentId", "status", "createdAt", "updatedAt", "version")
SCHEDULED, CANCELLED = "scheduled", "cancelled"


# -- instants and intervals -------------------------------------------------------------------

def format_instant(instant: datetime) -> str:
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


STORED_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def parse_stored_instant(value: str) -> datetime:
    """Read an instant this service wrote (``YYYY-MM-DDTHH:MM:SSZ``); a slot search reads thousands."""
    if not isinstance(value, str) or not STORED_INSTANT.fullmatch(value):
        raise ValueError(f"not a stored instant: {value!r:.40}")
    return datetime.fromisoformat(value)


@functools.cache
def zone_names() -> frozenset[str]:
    """The tz database's list of zones, as the bundled tzdata package ships it.

    Only these names are accepted: the file system under the zone path also holds directories
    (``Europe``), ``localtime`` and the ``posix/`` and ``right/`` trees, which are not zones.
    """
    return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


def parse_zone(value: object, field_name: str = "timeZone") -> ZoneInfo:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{field_name} must be an IANA time zone name such as Europe/Berlin.", field_name)
    if value not in zone_names():
        raise ValidationError(f"{field_name} '{value[:64]}' is not an IANA time zone name; "
                              "use a name such as Europe/Berlin or UTC.", field_name)
    return ZoneInfo(value)


def parse_instant(value: object, field_name: str, zone: ZoneInfo | None = None) -> datetime:
    """Parse ISO 8601 into an aware UTC datetime, fractional seconds truncated.

    A time without an offset is read in ``zone`` when one is given; it must exist there (not fall in
    a DST gap), and an ambiguous wall time takes its first occurrence.
    """
    example = "like 2026-12-01T09:00:00Z or 2026-12-01T11:00:00+02:00"
    if not isinstance(value, str) or "T" not in value or len(value) > 40:
        raise ValidationError(f"{field_name} must be an ISO 8601 date and time, {example}.", field_name)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{field_name} '{value}' is not a valid ISO 8601 time; write it {example}.",
                              field_name) from None
    if parsed.tzinfo is None and zone is None:
        raise ValidationError(f"{field_name} '{value}' has no UTC offset; add one ({example}) or give "
                              "timeZone to read it in that zone.", field_name)
    out_of_range = ValidationError(f"{field_name} '{value}' is out of range: times must lie between "
                                   f"{format_instant(EARLIEST)} and {format_instant(LATEST)}.", field_name)
    try:  # near year 1 or 9999 an offset or a zone can carry the instant past what datetime holds
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
            if parsed.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed.replace(tzinfo=None):
                raise ValidationError(f"{field_name} '{value}' does not exist in {zone.key}: the clocks skip it "
                                      "at a daylight-saving change.", field_name)
        instant = parsed.astimezone(UTC).replace(microsecond=0)
    except OverflowError:
        raise out_of_range from None
    if not EARLIEST <= instant <= LATEST:
        raise out_of_range
    return instant


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open interval [start, end) of UTC instants."""

    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def days(self) -> list[str]:
        """The UTC dates this interval touches; the end instant itself is excluded."""
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]

    def touches_day(self, day: str) -> bool:
        start = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
        return self.overlaps(Interval(start, start + timedelta(days=1)))

    def encode(self) -> str:
        return f"{format_instant(self.start)}/{format_instant(self.end)}"

    @classmethod
    def decode(cls, text: str) -> Interval:
        start, end = text.split("/")
        return cls(parse_stored_instant(start), parse_stored_instant(end))


@dataclass(frozen=True)
class Slot:
    """One scheduled appointment as a calendar's bucket records it.

    ``footprint`` is the time it blocks on that calendar: the interval widened by the calendar's
    buffers when it was booked (the interval itself on a calendar without buffers). ``owner`` is the
    appointment's userId, so a conflict shows its appointmentId only to its owner.
    """

    appointment_id: str
    interval: Interval
    owner: str = ""
    footprint: Interval | None = None

    @property
    def blocks(self) -> Interval:
        return self.footprint or self.interval

    def encode(self, calendar_id: str) -> str:
        """Compact, for the map of ``calendar_id``'s bucket: ``start/end``, then ``|fstart/fend`` when buffers
        widen the footprint, then ``|owner`` unless the owner is the calendar itself."""
        parts = [self.interval.encode()]
        if self.footprint and self.footprint != self.interval:
            parts.append(self.footprint.encode())
        if self.owner != calendar_id or len(parts) > 1:
            parts.append(self.owner)
        return "|".join(parts)

    @classmethod
    def decode(cls, appointment_id: str, text: str, calendar_id: str) -> Slot:
        """``start/end`` alone is owned by the calendar (and every entry written before calendars had owners
        looks so)."""
        interval, *rest = text.split("|")
        footprint = Interval.decode(rest[0]) if len(rest) == 2 else None
        return cls(appointment_id, Interval.decode(interval), rest[-1] if rest else calendar_id, footprint)


@dataclass(frozen=True)
class CalendarConflict:
    calendar_id: str
    slot: Slot

    def to_api(self, for_user: str) -> dict:
        """``appointmentId`` only for the user's own appointments: another customer's booking of a shared
        provider shows only its calendar and times."""
        shown = {"calendarId": self.calendar_id, "startTime": format_instant(self.slot.interval.start),
                 "endTime": format_instant(self.slot.interval.end)}
        if self.slot.owner == for_user:
            shown["appointmentId"] = self.slot.appointment_id
        return shown


class Occupancy:
    """What occupies one calendar (each appointment once), indexed so that "what overlaps this interval"
    costs a bisection, not a scan: a slot search asks it for thousands of candidates.

    Entries are sorted by the start of what they block. On one calendar they never overlap one another
    (each was booked clear of the others), so the ends are sorted too and one more bisection finds the
    first entry still running; if some do overlap (entries from before buffers, or written by hand), the
    search starts one longest entry earlier instead, which is just as exact.
    """

    def __init__(self, entries: Iterable[Slot] = ()):
        unique = {entry.appointment_id: entry for entry in entries}
        self.entries = sorted(unique.values(), key=lambda e: (e.blocks.start, e.blocks.end, e.appointment_id))
        self._starts = [e.blocks.start for e in self.entries]
        ends = [e.blocks.end for e in self.entries]
        self._ends = ends if all(a <= b for a, b in itertools.pairwise(ends)) else None
        self._longest = max((e.blocks.end - e.blocks.start for e in self.entries), default=timedelta(0))
        self._dates: dict[str, dict[date, set[str]]] = {}

    def overlapping(self, interval: Interval, ignore: str | None = None) -> list[Slot]:
        """The entries whose footprint overlaps ``interval``, by their own interval; ``ignore`` is the
        appointment being moved."""
        last = bisect.bisect_left(self._starts, interval.end)
        if self._ends is not None:
            first = bisect.bisect_right(self._ends, interval.start)
        else:
            first = bisect.bisect_left(self._starts, interval.start - self._longest)
        found = [e for e in self.entries[first:last] if e.blocks.end > interval.start and e.appointment_id != ignore]
        return sorted(found, key=lambda e: (e.interval, e.appointment_id))

    def starting_on(self, zone: ZoneInfo, day: date, ignore: str | None = None) -> int:
        """How many entries start on the local date ``day`` of ``zone``."""
        if zone.key not in self._dates:
            by_date: dict[date, set[str]] = {}
            for entry in self.entries:
                by_date.setdefault(entry.interval.start.astimezone(zone).date(), set()).add(entry.appointment_id)
            self._dates[zone.key] = by_date
        starting = self._dates[zone.key].get(day, set())
        return len(starting) - (ignore in starting)


def find_conflicts(new: Interval, existing: Iterable[Slot], ignore: str | None = None) -> list[Slot]:
    """The slots whose footprint overlaps ``new`` (the footprint being booked), by start time; ``ignore``
    is the appointment being moved."""
    return Occupancy(existing).overlapping(new, ignore)


def merge_busy(intervals: Iterable[Interval], window: Interval) -> list[Interval]:
    """Clip to ``window`` and merge intervals that overlap or touch."""
    merged: list[Interval] = []
    for interval in sorted(i for i in intervals if i.overlaps(window)):
        clipped = Interval(max(interval.start, window.start), min(interval.end, window.end))
        if merged and clipped.start <= merged[-1].end:
            merged[-1] = Interval(merged[-1].start, max(merged[-1].end, clipped.end))
        else:
            merged.append(clipped)
    return merged


# -- the appointment ----------------------------------------------------------------------------

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

    @property
    def is_scheduled(self) -> bool:
        return self.status == SCHEDULED

    @property
    def calendars(self) -> tuple[str, ...]:
        """Every calendar the appointment occupies: its user's, then the participants, in order."""
        return (self.user_id, *self.participants)

    @property
    def slot(self) -> Slot:
        """The entry it makes in each calendar's buckets (no calendar has buffers yet)."""
        return Slot(self.appointment_id, self.interval, self.user_id)

    def to_api(self) -> dict:
        return {
            "appointmentId": self.appointment_id,
            "userId": self.user_id,
            "startTime": format_instant(self.interval.start),
            "endTime": format_instant(self.interval.end),
            "timeZone": self.time_zone,
            "participants": list(self.participants),
            "details": dict(self.details),
            "reminders": list(self.reminders),
            "status": self.status,
            "createdAt": format_instant(self.created_at) if self.created_at else None,
            "updatedAt": format_instant(self.updated_at) if self.updated_at else None,
            "version": self.version,
        }


def _reject_unexpected_fields(body: Mapping, allowed: tuple[str, ...]) -> None:
    for name in body:
        if name in READ_ONLY_FIELDS:
            raise ValidationError(f"{name} is read-only; remove it from the request.", name)
        if name not in allowed:
            raise ValidationError(f"Unknown field '{name}'. Allowed fields: {', '.join(allowed)}.", str(name))


def validate_user_id(value: object, field_name: str = "userId") -> str:
    if not isinstance(value, str) or not USER_ID.fullmatch(value):
        raise ValidationError(f"{field_name} must be 1-128 characters from A-Z a-z 0-9 . _ @ + : -", field_name)
    return value


def validate_participants(value: object, user_id: str) -> tuple[str, ...]:
    rule = (f"participants must be a list of up to {MAX_PARTICIPANTS} distinct calendar IDs other than userId, "
            "each 1-128 characters from A-Z a-z 0-9 . _ @ + : -")
    if not isinstance(value, list) or len(value) > MAX_PARTICIPANTS:
        raise ValidationError(f"{rule}.", "participants")
    for calendar_id in value:
        if not isinstance(calendar_id, str) or not USER_ID.fullmatch(calendar_id):
            raise ValidationError(f"{rule}; {json.dumps(calendar_id)[:140]} is not one.", "participants")
    if len(set(value)) != len(value):
        raise ValidationError(f"{rule}; remove the duplicates.", "participants")
    if user_id in value:
        raise ValidationError(f"{rule}; the user's own calendar ({user_id}) is always occupied, so leave it out.",
                              "participants")
    return tuple(value)


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


def new_appointment(body: Mapping, *, appointment_id: str, now: datetime) -> Appointment:
    """Validate a create request into a scheduled appointment (API.md field rules).

    Every rule but "startTime in the future" is checked here; the caller applies ``require_future``
    once it knows the request is not an idempotent replay.
    """
    _reject_unexpected_fields(body, CREATE_FIELDS)
    for name in ("userId", "startTime", "endTime"):
        if name not in body:
            raise ValidationError(f"{name} is required.", name)
    user_id = validate_user_id(body["userId"])
    zone_name = body.get("timeZone", "UTC")
    zone = parse_zone(zone_name)
    naive_zone = zone if "timeZone" in body else None
    start = parse_instant(body["startTime"], "startTime", naive_zone)
    end = parse_instant(body["endTime"], "endTime", naive_zone)
    return Appointment(
        appointment_id=appointment_id,
        user_id=user_id,
        interval=_validate_interval(start, end),
        time_zone=zone.key,
        participants=validate_participants(body.get("participants", []), user_id),
        details=_validate_details(body.get("details", {})),
        reminders=_validate_reminders(body.get("reminders", list(DEFAULT_REMINDERS))),
        created_at=now,
        updated_at=now,
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
    changed = replace(
        current,
        interval=interval,
        time_zone=zone.key,
        participants=(validate_participants(body["participants"], current.user_id) if "participants" in body
                      else current.participants),
        details=_validate_details(body["details"]) if "details" in body else current.details,
        reminders=_validate_reminders(body["reminders"]) if "reminders" in body else current.reminders,
    )
    if changed == current:
        return current
    return replace(changed, updated_at=now, version=current.version + 1)


def cancelled(current: Appointment, *, now: datetime) -> Appointment:
    return replace(current, status=CANCELLED, updated_at=now, version=current.version + 1)


# -- reminders --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reminder:
    minutes_before: int
    fire_at: datetime

    @property
    def type(self) -> str:
        return reminder_type(self.minutes_before)


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
