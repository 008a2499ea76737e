"""Availability rules of a calendar, and the one function that decides whether a calendar takes an interval.

Pure like ``domain.py``: booking and slot search both call ``refusal``, so the slots offered and the
bookings accepted can never disagree. Windows are local wall-clock times in the calendar's zone;
each is turned into UTC on its own date, so a window on a daylight-saving day is as long as the clocks
make it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from appointments.domain import UTC, Appointment, CalendarConflict, Interval, Occupancy, Slot, parse_zone
from appointments.errors import ValidationError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FIELDS = ("timeZone", "weekly", "overrides", "bufferBefore", "bufferAfter", "minimumNotice", "maximumAdvance",
          "maxPerDay")
MAX_WINDOWS, MAX_OVERRIDES, MAX_BUFFER = 12, 400, 240
MAX_NOTICE, MAX_ADVANCE_DAYS, MAX_PER_DAY = 525600, 730, 1000
CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")  # ASCII digits only
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Window = tuple[int, int]  # minutes after local midnight, [start, end), end at most 1440


@dataclass(frozen=True)
class Availability:
    time_zone: str
    weekly: Mapping[str, tuple[Window, ...]] = field(default_factory=dict)
    overrides: Mapping[str, tuple[Window, ...]] = field(default_factory=dict)
    buffer_before: int = 0
    buffer_after: int = 0
    minimum_notice: int = 0
    maximum_advance: int | None = None  # days
    max_per_day: int | None = None
    version: int = 0

    @functools.cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @functools.cached_property
    def _by_date(self) -> dict[date, tuple[Interval, list[Interval]]]:
        """(local day, windows) of each local date asked about: a slot search asks for the same few dates
        thousands of times."""
        return {}

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def local_day(self, day: date) -> Interval:
        """The UTC interval of one local date (23, 24 or 25 hours long)."""
        return self._date(day)[0]

    def windows_on(self, day: date) -> list[Interval]:
        """The open windows of a local date, in UTC; an override replaces the weekday's windows."""
        return self._date(day)[1]

    def _date(self, day: date) -> tuple[Interval, list[Interval]]:
        if day not in self._by_date:
            windows = self.overrides.get(day.isoformat(), self.weekly.get(WEEKDAYS[day.weekday()], ()))
            self._by_date[day] = (Interval(self._instant(day, 0), self._instant(day, 1440)),
                                  [Interval(self._instant(day, start), self._instant(day, end))
                                   for start, end in windows])
        return self._by_date[day]

    def footprint(self, interval: Interval) -> Interval:
        """What an appointment blocks on this calendar: its interval widened by the buffers."""
        if not (self.buffer_before or self.buffer_after):
            return interval
        return Interval(interval.start - timedelta(minutes=self.buffer_before),
                        interval.end + timedelta(minutes=self.buffer_after))

    def _instant(self, day: date, minutes: int) -> datetime:
        # Adding to an aware datetime is wall-clock arithmetic; the zone then gives that wall time's offset.
        return (datetime.combine(day, time(0), self.zone) + timedelta(minutes=minutes)).astimezone(UTC)

    def to_api(self) -> dict:
        return {
            "timeZone": self.time_zone,
            "weekly": {day: _windows_to_api(self.weekly[day]) for day in WEEKDAYS if day in self.weekly},
            "overrides": {day: _windows_to_api(windows) for day, windows in sorted(self.overrides.items())},
            "bufferBefore": self.buffer_before, "bufferAfter": self.buffer_after,
            "minimumNotice": self.minimum_notice, "maximumAdvance": self.maximum_advance,
            "maxPerDay": self.max_per_day, "version": self.version,
        }


def refusal(rules: Availability | None, interval: Interval, now: datetime, starts_that_day: int,
            local_date: date | None = None) -> str | None:
    """Why a calendar with ``rules`` refuses ``interval`` at ``now``, or None if it takes it.

    ``starts_that_day`` counts the other scheduled appointments of the calendar that start on the
    local date of ``interval.start`` (``local_date``, when the caller has it). A calendar without rules
    is always open.
    """
    if rules is None:
        return None
    day = local_date or rules.local_date(interval.start)
    if not any(w.start <= interval.start and interval.end <= w.end for w in rules.windows_on(day)):
        return "outsideHours"
    if interval.start < now + timedelta(minutes=rules.minimum_notice):
        return "minimumNotice"
    if rules.maximum_advance is not None and interval.start > now + timedelta(days=rules.maximum_advance):
        return "maximumAdvance"
    if rules.max_per_day is not None and starts_that_day >= rules.max_per_day:
        return "dailyLimit"
    return None


def starts_on(rules: Availability, day: date, slots: Iterable[Slot], ignore: str | None = None) -> int:
    """How many of ``slots`` start on a local date (each appointment once)."""
    return Occupancy(slots).starting_on(rules.zone, day, ignore)


# -- validation -------------------------------------------------------------------------------------------

def parse_availability(body: Mapping, version: int = 0) -> Availability:
    """Validate a PUT body into rules (API.md, "Availability")."""
    for name in body:
        if name == "version":
            raise ValidationError("version is read-only; remove it from the request.", "version")
        if name not in FIELDS:
            raise ValidationError(f"Unknown field '{name}'. Allowed fields: {', '.join(FIELDS)}.", str(name))
    if "timeZone" not in body:
        raise ValidationError("timeZone is required: windows are read in it.", "timeZone")
    zone = parse_zone(body["timeZone"])
    weekly = body.get("weekly", {})
    if not isinstance(weekly, dict) or not set(weekly) <= set(WEEKDAYS):
        raise ValidationError(f"weekly must be an object whose keys are among {', '.join(WEEKDAYS)}.", "weekly")
    overrides = body.get("overrides", {})
    if not isinstance(overrides, dict) or len(overrides) > MAX_OVERRIDES:
        raise ValidationError(f"overrides must be an object of at most {MAX_OVERRIDES} local dates.", "overrides")
    for day in overrides:
        if not DAY.fullmatch(day) or not _is_date(day):
            raise ValidationError(f"overrides keys must be local dates YYYY-MM-DD; '{day[:40]}' is not one.",
                                  "overrides")
    return Availability(
        time_zone=zone.key,
        weekly={day: _windows(windows, f"weekly.{day}") for day, windows in weekly.items()},
        overrides={day: _windows(windows, f"overrides.{day}") for day, windows in overrides.items()},
        buffer_before=_whole(body, "bufferBefore", 0, MAX_BUFFER, 0),
        buffer_after=_whole(body, "bufferAfter", 0, MAX_BUFFER, 0),
        minimum_notice=_whole(body, "minimumNotice", 0, MAX_NOTICE, 0),
        maximum_advance=_whole(body, "maximumAdvance", 1, MAX_ADVANCE_DAYS, None),
        max_per_day=_whole(body, "maxPerDay", 1, MAX_PER_DAY, None),
        version=version,
    )


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _whole(body: Mapping, name: str, low: int, high: int, default: int | None) -> int | None:
    value = body.get(name, default)
    if value is None and default is None:
        return None
    if type(value) is not int or not low <= value <= high:
        nullable = " or null" if default is None else ""
        raise ValidationError(f"{name} must be a whole number from {low} to {high}{nullable}.", name)
    return value


def _clock(value: object, field_name: str, end: bool) -> int:
    if isinstance(value, str) and end and value == "24:00":
        return 1440
    found = CLOCK.fullmatch(value) if isinstance(value, str) else None
    if not found:
        raise ValidationError(f"{field_name} must be a local time HH:MM" + (' (or "24:00")' if end else "") + ".",
                              field_name.split(".")[0])
    return int(found.group(1)) * 60 + int(found.group(2))


def _windows(value: object, where: str) -> tuple[Window, ...]:
    """At most 12 windows, each start < end, not overlapping; windows that touch are joined."""
    top = where.split(".")[0]
    if not isinstance(value, list) or len(value) > MAX_WINDOWS:
        raise ValidationError(f"{where} must be a list of at most {MAX_WINDOWS} windows "
                              '{"start": "HH:MM", "end": "HH:MM"}.', top)
    windows = []
    for window in value:
        if not isinstance(window, dict) or set(window) != {"start", "end"}:
            raise ValidationError(f'{where}: each window is {{"start": "HH:MM", "end": "HH:MM"}}.', top)
        start, end = _clock(window["start"], f"{where}.start", False), _clock(window["end"], f"{where}.end", True)
        if start >= end:
            raise ValidationError(f"{where}: a window must start before it ends.", top)
        windows.append((start, end))
    windows.sort()
    joined: list[Window] = []
    for start, end in windows:
        if joined and start < joined[-1][1]:
            raise ValidationError(f"{where}: windows must not overlap.", top)
        if joined and start == joined[-1][1]:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return tuple(joined)


def _windows_to_api(windows: Iterable[Window]) -> list[dict]:
    def clock(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return [{"start": clock(start), "end": clock(end)} for start, end in windows]


# -- the decision booking and slot search share ------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """Whether the calendars take an appointment, and what that rests on."""

    unavailable: tuple[str, str] | None  # (calendarId, reason) of the first calendar whose rules refuse it
    conflicts: list[CalendarConflict]
    footprints: dict[str, Interval]  # what it blocks on each calendar checked
    counted: dict[str, Interval]  # the local date whose starts a daily cap counted, by calendar

    @property
    def accepted(self) -> bool:
        return self.unavailable is None and not self.conflicts

    @property
    def rests_on(self) -> set[tuple[str, str]]:
        """The (calendar, UTC day) buckets the decision read: those of each footprint, and of each counted date."""
        return {(calendar_id, day) for spans in (self.footprints, self.counted)
                for calendar_id, span in spans.items() for day in span.days()}


NOTHING = Occupancy()


def decide(appointment: Appointment, checked: Iterable[str], occupancy: Mapping[str, Occupancy],
           rules: Mapping[str, Availability | None], now: datetime, *, until_refused: bool = False) -> Decision:
    """Check ``appointment`` on the calendars ``checked`` (in its calendar order): each calendar's rules,
    then what is in the way of its footprint there. ``occupancy`` and ``rules`` are what was read.

    ``until_refused`` stops at the first refusal, for a caller that needs only ``accepted`` (slot search);
    the decision is then exactly as accepted or refused, with fewer reasons listed."""
    unavailable, conflicts, footprints, counted = None, [], {}, {}
    checked = set(checked)
    for calendar_id in (c for c in appointment.calendars if c in checked):
        calendar_rules, existing = rules.get(calendar_id), occupancy.get(calendar_id, NOTHING)
        footprint = calendar_rules.footprint(appointment.interval) if calendar_rules else appointment.interval
        footprints[calendar_id] = footprint
        starts, local_date = 0, None
        if calendar_rules:
            local_date = calendar_rules.local_date(appointment.interval.start)
            if calendar_rules.max_per_day is not None:
                counted[calendar_id] = calendar_rules.local_day(local_date)
                starts = existing.starting_on(calendar_rules.zone, local_date, ignore=appointment.appointment_id)
        reason = refusal(calendar_rules, appointment.interval, now, starts, local_date)
        if reason and unavailable is None:
            unavailable = (calendar_id, reason)
        if unavailable and until_refused:
            break
        conflicts += [CalendarConflict(calendar_id, slot)
                      for slot in existing.overlapping(footprint, ignore=appointment.appointment_id)]
        if conflicts and until_refused:
            break
    return Decision(unavailable, conflicts, footprints, counted)


def days_to_read(interval: Interval) -> list[str]:
    """The UTC days a decision about ``interval`` may rest on, whatever the calendars' rules turn out to
    be: its footprint (buffers reach at most 4 hours out) and the local date of its start (a zone puts
    it at most a day either side), all read in the same consistent read as the rules."""
    return Interval(interval.start - timedelta(days=1), interval.end + timedelta(days=1)).days()


def days_occupied(interval: Interval) -> list[str]:
    """The UTC days whose buckets may hold an appointment's entry: its interval widened by the largest buffers."""
    return Interval(interval.start - timedelta(minutes=MAX_BUFFER), interval.end + timedelta(minutes=MAX_BUFFER)).days()


def slot_candidates(rules: Availability | None, window: Interval, duration: timedelta, step: timedelta):
    """The starts a slot search considers (API.md, "Slots"): on a calendar with rules, each open window's
    start, then every ``step`` while the slot still ends inside the window; on one without, ``from``
    rounded up to the whole minute, then every ``step``. Only starts in ``[from, to)``, in order."""
    if rules is None:
        start = window.start + timedelta(seconds=-window.start.second % 60)
        while start < window.end:
            yield start
            start += step
        return
    first, last = rules.local_date(window.start) - timedelta(days=1), rules.local_date(window.end)
    found = set()
    for offset in range((last - first).days + 1):
        for open_window in rules.windows_on(first + timedelta(days=offset)):
            start = open_window.start
            while start + duration <= open_window.end:
                if window.start <= start < window.end:
                    found.add(start)
                start += step
    yield from sorted(found)
