"""Recurring series (API.md, "Recurring series"): the repeat rule, and the occurrences it makes.

Pure. Occurrences keep the first start's local wall-clock time in the series' zone on each of their
dates, so a weekly 09:00 stays 09:00 across daylight-saving changes (its UTC time moves); each lasts as
long as the first. A wall time the clocks skip on an occurrence's date makes no start: that occurrence
is refused (``nonexistentTime``); an ambiguous one takes its first occurrence, as single bookings do.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from appointments.appointment import Appointment
from appointments.errors import ValidationError
from appointments.times import UTC, Interval

UNITS = {"day": 1, "week": 7}
MAX_EVERY, MIN_COUNT, MAX_OCCURRENCES, MAX_SKIPS = 12, 2, 52, 52
REPEAT_FIELDS = ("every", "unit", "count", "until", "skip")
NOT_IN_A_SERIES = ("anyOf", "assign", "hold")
LOCAL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
SERIES_NAMESPACE = uuid.UUID("5b0c1a52-7d43-4e1f-9a08-6f2c9e3b4d71")


@dataclass(frozen=True)
class Repeat:
    every: int
    unit: str
    count: int | None = None
    until: date | None = None
    skip: frozenset[date] = frozenset()


@dataclass(frozen=True)
class SeriesRecord:
    """What a series is, apart from its occurrences (which are ordinary appointments)."""

    series_id: str
    user_id: str
    repeat: Repeat
    occurrence_ids: tuple[str, ...]
    created_at: datetime
    request_hash: str | None = None


@dataclass(frozen=True)
class Occurrence:
    number: int  # 1-based
    appointment: Appointment | None  # None: the wall time does not exist on that date
    local_start: datetime  # the wall time asked for, in the series' zone (naive)


def _local_date(value: object, field_name: str) -> date:
    if not isinstance(value, str) or not LOCAL_DATE.fullmatch(value):
        raise ValidationError(f"{field_name} must be a local date YYYY-MM-DD.", "repeat")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{field_name} '{value}' is not a date.", "repeat") from None


def parse_repeat(value: object) -> Repeat:
    rule = (f'repeat is {{"every": 1-{MAX_EVERY}, "unit": "day" or "week", and one of "count" ({MIN_COUNT}-'
            f'{MAX_OCCURRENCES}) or "until" (a local date), "skip": [local dates]}}')
    if not isinstance(value, dict) or not set(value) <= set(REPEAT_FIELDS) or "unit" not in value:
        raise ValidationError(f"{rule}.", "repeat")
    every, unit = value.get("every", 1), value["unit"]
    if not isinstance(unit, str) or unit not in UNITS or type(every) is not int or not 1 <= every <= MAX_EVERY:
        raise ValidationError(f"{rule}.", "repeat")
    if ("count" in value) == ("until" in value):
        raise ValidationError(f"Give exactly one of count and until: {rule}.", "repeat")
    count = value.get("count")
    if count is not None and (type(count) is not int or not MIN_COUNT <= count <= MAX_OCCURRENCES):
        raise ValidationError(f"count must be a whole number from {MIN_COUNT} to {MAX_OCCURRENCES}.", "repeat")
    until = _local_date(value["until"], "until") if "until" in value else None
    skip = value.get("skip", [])
    if not isinstance(skip, list) or len(skip) > MAX_SKIPS:
        raise ValidationError(f"skip must be a list of at most {MAX_SKIPS} local dates.", "repeat")
    return Repeat(every, unit, count, until, frozenset(_local_date(d, "skip") for d in skip))


def repeat_json(repeat: Repeat) -> dict:
    shown: dict = {"every": repeat.every, "unit": repeat.unit}
    shown |= {"count": repeat.count} if repeat.count is not None else {"until": repeat.until.isoformat()}
    return shown | {"skip": sorted(d.isoformat() for d in repeat.skip)}


def series_id_for(user_id: str, key: str | None) -> str:
    """The series an Idempotency-Key stands for (a new one without a key)."""
    return str(uuid.uuid5(SERIES_NAMESPACE, f"{user_id}\n{key}")) if key else str(uuid.uuid4())


def occurrence_id(series_id: str, number: int) -> str:
    return str(uuid.uuid5(uuid.UUID(series_id), str(number)))


def _wall_time(zone: ZoneInfo, local: datetime) -> datetime | None:
    """The UTC instant of a local wall time, the first of an ambiguous one; None if the clocks skip it."""
    instant = local.replace(tzinfo=zone).astimezone(UTC)
    return instant if instant.astimezone(zone).replace(tzinfo=None) == local else None


def occurrences(first: Appointment, repeat: Repeat, series_id: str) -> list[Occurrence]:
    """The occurrences a series makes: from the first start's local date, every ``every`` days or weeks,
    leaving out ``skip`` dates; ``count`` of them, or those starting on or before ``until``."""
    zone = ZoneInfo(first.time_zone)
    local_start = first.interval.start.astimezone(zone).replace(tzinfo=None)
    duration = first.interval.end - first.interval.start
    made: list[Occurrence] = []
    step = timedelta(days=repeat.every * UNITS[repeat.unit])
    day = local_start.date()
    while True:
        if repeat.count is not None and len(made) == repeat.count:
            return made
        if repeat.until is not None and day > repeat.until:
            break
        if day not in repeat.skip:
            if len(made) == MAX_OCCURRENCES:
                raise ValidationError(f"This series would make more than {MAX_OCCURRENCES} occurrences; end it "
                                      "sooner (until) or give a count.", "repeat")
            number = len(made) + 1
            local = datetime.combine(day, local_start.time())
            start = _wall_time(zone, local)
            appointment = None if start is None else replace(
                first, appointment_id=occurrence_id(series_id, number), interval=Interval(start, start + duration),
                series_id=series_id, occurrence=number)
            made.append(Occurrence(number, appointment, local))
        day += step
    if len(made) < MIN_COUNT:
        raise ValidationError(f"until leaves fewer than {MIN_COUNT} occurrences; a series has at least two.", "repeat")
    return made


def series_request(body: Mapping) -> tuple[dict, Repeat]:
    """The series body as the first occurrence's booking body, and its repeat rule."""
    for name in NOT_IN_A_SERIES:
        if name in body:
            raise ValidationError(f"{name} is not allowed in a series; book such appointments one by one.", name)
    if "repeat" not in body:
        raise ValidationError("repeat is required: how the series repeats.", "repeat")
    return {k: v for k, v in body.items() if k != "repeat"}, parse_repeat(body["repeat"])
