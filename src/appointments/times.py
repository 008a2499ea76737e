"""Instants, time zones and intervals: how the service reads, writes and compares times.

Pure: every time is an aware UTC datetime inside the service, written ``YYYY-MM-DDTHH:MM:SSZ``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

from appointments.errors import ValidationError

UTC = UTC
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # every time, in a body or a query, lies in [EARLIEST, LATEST]
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def utc_now() -> datetime:
    """The one clock; everything that needs the time takes a clock, so tests hand in their own."""
    return datetime.now(UTC)


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
