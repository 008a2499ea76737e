"""Availability rules of a calendar, and ``refusal``: whether a calendar's rules take an interval.

Pure. ``decision.decide`` asks ``refusal`` for booking and slot search alike, so the slots offered and
the bookings accepted can never disagree. Windows are local wall-clock times in the calendar's zone;
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

from appointments.errors import ValidationError
from appointments.occupancy import Entry, Occupancy
from appointments.times import UTC, Interval, parse_zone

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


def starts_on(rules: Availability, day: date, entries: Iterable[Entry], ignore: str | None = None) -> int:
    """How many of ``entries`` start on a local date (each appointment once)."""
    return Occupancy(entries).starting_on(rules.zone, day, ignore)


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


# -- the starts a slot search considers -----------------------------------------------------------------------

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
