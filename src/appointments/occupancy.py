"""What occupies a calendar: entries, the index that finds what overlaps an interval, and free/busy.

Pure. An ``Entry`` is one appointment as one calendar holds it; ``Occupancy`` answers, for a decision
or a slot search, which entries are in the way of a footprint and how many start on a local date.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from appointments.times import Interval


@dataclass(frozen=True)
class Entry:
    """One appointment as a calendar holds it: what occupies that calendar, and when.

    ``footprint`` is the time it blocks on that calendar: the interval widened by the calendar's
    buffers when it was booked (the interval itself on a calendar without buffers). ``owner`` is the
    appointment's userId, so a conflict shows its appointmentId only to its owner.
    """

    appointment_id: str
    interval: Interval
    owner: str = ""
    footprint: Interval | None = None
    expires_at: datetime | None = None  # a hold's: from then on it occupies nothing

    def expired(self, now: datetime | None) -> bool:
        return self.expires_at is not None and now is not None and self.expires_at <= now

    @property
    def blocks(self) -> Interval:
        return self.footprint or self.interval


@dataclass(frozen=True)
class CalendarConflict:
    calendar_id: str
    entry: Entry


class Occupancy:
    """What occupies one calendar (each appointment once), indexed so that "what overlaps this interval"
    costs a bisection, not a scan: a slot search asks it for thousands of candidates.

    Entries are sorted by the start of what they block. On one calendar they never overlap one another
    (each was booked clear of the others), so the ends are sorted too and one more bisection finds the
    first entry still running; if some do overlap (entries from before buffers, or written by hand), the
    search starts one longest entry earlier instead, which is just as exact.
    """

    def __init__(self, entries: Iterable[Entry] = (), now: datetime | None = None):
        """``now``: entries of holds that expired by then are left out (they occupy nothing any more)."""
        unique = {entry.appointment_id: entry for entry in entries if not entry.expired(now)}
        self.entries = sorted(unique.values(), key=lambda e: (e.blocks.start, e.blocks.end, e.appointment_id))
        self._starts = [e.blocks.start for e in self.entries]
        ends = [e.blocks.end for e in self.entries]
        self._ends = ends if all(a <= b for a, b in itertools.pairwise(ends)) else None
        self._longest = max((e.blocks.end - e.blocks.start for e in self.entries), default=timedelta(0))
        self._dates: dict[str, dict[date, set[str]]] = {}

    def overlapping(self, interval: Interval, ignore: str | None = None) -> list[Entry]:
        """The entries whose footprint overlaps ``interval``, by their own interval; ``ignore`` is the
        appointment being moved."""
        last = bisect.bisect_left(self._starts, interval.end)
        if self._ends is not None:
            first = bisect.bisect_right(self._ends, interval.start)
        else:
            first = bisect.bisect_left(self._starts, interval.start - self._longest)
        found = [e for e in self.entries[first:last] if e.blocks.end > interval.start and e.appointment_id != ignore]
        return sorted(found, key=lambda e: (e.interval, e.appointment_id)) if found else found

    def starting_on(self, zone: ZoneInfo, day: date, ignore: str | None = None) -> int:
        """How many entries start on the local date ``day`` of ``zone``."""
        if zone.key not in self._dates:
            by_date: dict[date, set[str]] = {}
            for entry in self.entries:
                by_date.setdefault(entry.interval.start.astimezone(zone).date(), set()).add(entry.appointment_id)
            self._dates[zone.key] = by_date
        starting = self._dates[zone.key].get(day, set())
        return len(starting) - (ignore in starting)


def find_conflicts(new: Interval, existing: Iterable[Entry], ignore: str | None = None) -> list[Entry]:
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
