"""The availability rules engine (pure): validation, windows in local time across DST, and each reason."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from appointments.appointment import Appointment
from appointments.availability import Availability, parse_availability, refusal, starts_on
from appointments.caller import Caller
from appointments.errors import ValidationError
from appointments.inputs import SlotQuery
from appointments.occupancy import Entry
from appointments.representations import availability_json
from appointments.times import UTC, Interval
from seeding import bulk_load

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BERLIN_9_TO_17 = {"timeZone": "Europe/Berlin", "weekly": {d: [{"start": "09:00", "end": "17:00"}]
                                                          for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def span(start: str, end: str) -> Interval:
    return Interval(at(start), at(end))


# -- validation -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ({}, "timeZone"),
    ({"timeZone": "Europe"}, "timeZone"),
    ({"timeZone": "UTC", "weekly": {"monday": []}}, "weekly"),
    ({"timeZone": "UTC", "weekly": {"mon": [{"start": "9:00", "end": "17:00"}]}}, "weekly"),
    ({"timeZone": "UTC", "weekly": {"mon": [{"start": "24:00", "end": "24:00"}]}}, "weekly"),
    ({"timeZone": "UTC", "weekly": {"mon": [{"start": "10:00", "end": "09:00"}]}}, "weekly"),
    ({"timeZone": "UTC", "weekly": {"mon": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]}},
     "weekly"),
    ({"timeZone": "UTC", "weekly": {"mon": [{"start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(13)]}},
     "weekly"),
    ({"timeZone": "UTC", "weekly": {"mon": [{"start": "09:00", "end": "10:00", "note": "x"}]}}, "weekly"),
    ({"timeZone": "UTC", "overrides": {"2026-02-30": []}}, "overrides"),
    ({"timeZone": "UTC", "overrides": {f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}": [] for i in range(401)}},
     "overrides"),
    ({"timeZone": "UTC", "bufferBefore": 241}, "bufferBefore"),
    ({"timeZone": "UTC", "bufferAfter": -1}, "bufferAfter"),
    ({"timeZone": "UTC", "minimumNotice": 525601}, "minimumNotice"),
    ({"timeZone": "UTC", "maximumAdvance": 0}, "maximumAdvance"),
    ({"timeZone": "UTC", "maximumAdvance": 731}, "maximumAdvance"),
    ({"timeZone": "UTC", "maxPerDay": 0}, "maxPerDay"),
    ({"timeZone": "UTC", "maxPerDay": 2.0}, "maxPerDay"),
    ({"timeZone": "UTC", "maxPerDay": True}, "maxPerDay"),
    ({"timeZone": "UTC", "version": 3}, "version"),
    ({"timeZone": "UTC", "holidays": []}, "holidays"),
])
def test_rules_outside_the_api_md_limits_are_refused_naming_the_field(body, field):
    with pytest.raises(ValidationError) as refused:
        parse_availability(body)
    assert refused.value.extra == {"field": field}


def test_defaults_and_joined_windows():
    rules = parse_availability({"timeZone": "Europe/Berlin", "weekly": {"mon": [
        {"start": "13:00", "end": "17:00"}, {"start": "09:00", "end": "13:00"}, {"start": "18:00", "end": "24:00"}]}})
    assert availability_json(rules) == {
        "timeZone": "Europe/Berlin", "weekly": {"mon": [{"start": "09:00", "end": "17:00"},
                                                        {"start": "18:00", "end": "24:00"}]},
        "overrides": {}, "bufferBefore": 0, "bufferAfter": 0, "minimumNotice": 0, "maximumAdvance": None,
        "maxPerDay": None, "version": 0}
    shown = {k: v for k, v in availability_json(rules).items() if k != "version"}
    assert parse_availability(shown) == rules  # what GET shows, PUT takes back


# -- windows in local time, across daylight saving ------------------------------------------------------------

@pytest.mark.parametrize(("day", "utc_start", "utc_end"), [
    (date(2026, 3, 28), "2026-03-28T08:00:00Z", "2026-03-28T16:00:00Z"),  # CET, the day before spring forward
    (date(2026, 3, 30), "2026-03-30T07:00:00Z", "2026-03-30T15:00:00Z"),  # CEST
    (date(2026, 10, 24), "2026-10-24T07:00:00Z", "2026-10-24T15:00:00Z"),  # CEST, the day before fall back
    (date(2026, 10, 26), "2026-10-26T08:00:00Z", "2026-10-26T16:00:00Z"),  # CET
])
def test_a_berlin_calendar_open_9_to_17_follows_its_clocks_across_both_dst_changes(day, utc_start, utc_end):
    rules = parse_availability(BERLIN_9_TO_17)
    assert rules.windows_on(day) == [span(utc_start, utc_end)]
    assert refusal(rules, span(utc_start, utc_end), NOW.replace(year=2025), 0) is None
    early = Interval(at(utc_start) - timedelta(minutes=30), at(utc_start) + timedelta(minutes=30))
    assert refusal(rules, early, NOW.replace(year=2025), 0) == "outsideHours"


def test_a_window_that_contains_the_spring_forward_gap_is_as_long_as_the_clocks_make_it():
    rules = parse_availability({"timeZone": "Europe/Berlin", "weekly": {"sun": [{"start": "01:00", "end": "04:00"}]}})
    [window] = rules.windows_on(date(2026, 3, 29))
    assert (window.start, window.end - window.start) == (at("2026-03-29T00:00:00Z"), timedelta(hours=2))
    assert refusal(rules, span("2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z"), NOW.replace(year=2025), 0) is None
    assert refusal(rules, span("2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"), NOW.replace(year=2025),
                   0) == "outsideHours"


def test_a_window_over_the_repeated_autumn_hour_is_an_hour_longer():
    rules = parse_availability({"timeZone": "Europe/Berlin", "weekly": {"sun": [{"start": "01:00", "end": "04:00"}]}})
    [window] = rules.windows_on(date(2026, 10, 25))
    assert (window.start, window.end - window.start) == (at("2026-10-24T23:00:00Z"), timedelta(hours=4))
    # 02:30 happens twice; both are inside the window
    before = NOW.replace(year=2025)
    assert refusal(rules, span("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"), before, 0) is None
    assert refusal(rules, span("2026-10-25T01:30:00Z", "2026-10-25T02:30:00Z"), before, 0) is None


def test_an_override_replaces_the_weekday_and_an_empty_one_closes_the_date():
    rules = parse_availability({**BERLIN_9_TO_17, "overrides": {"2026-12-24": [],
                                                                "2026-12-27": [{"start": "10:00", "end": "14:00"}]}})
    assert rules.windows_on(date(2026, 12, 24)) == []
    assert rules.windows_on(date(2026, 12, 27)) == [span("2026-12-27T09:00:00Z", "2026-12-27T13:00:00Z")]
    assert refusal(rules, span("2026-12-24T10:00:00Z", "2026-12-24T11:00:00Z"), NOW, 0) == "outsideHours"


def test_an_appointment_must_fit_one_window_of_the_local_date_of_its_start():
    rules = parse_availability({"timeZone": "UTC", "weekly": {"mon": [{"start": "09:00", "end": "12:00"},
                                                                     {"start": "13:00", "end": "17:00"}]}})
    assert refusal(rules, span("2026-11-30T11:00:00Z", "2026-11-30T12:00:00Z"), NOW, 0) is None
    assert refusal(rules, span("2026-11-30T11:30:00Z", "2026-11-30T13:30:00Z"), NOW, 0) == "outsideHours"
    assert refusal(rules, span("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"), NOW, 0) == "outsideHours"  # Tuesday


# -- the other reasons, and buffers ------------------------------------------------------------------------------

def open_all_day(**extra) -> Availability:
    days = {d: [{"start": "00:00", "end": "24:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    return parse_availability({"timeZone": "UTC", "weekly": days, **extra})


def test_minimum_notice_and_maximum_advance():
    rules = open_all_day(minimumNotice=120, maximumAdvance=60)
    assert refusal(rules, span("2026-11-25T13:59:00Z", "2026-11-25T14:30:00Z"), NOW, 0) == "minimumNotice"
    assert refusal(rules, span("2026-11-25T14:00:00Z", "2026-11-25T14:30:00Z"), NOW, 0) is None
    assert refusal(rules, span("2027-01-24T12:00:00Z", "2027-01-24T13:00:00Z"), NOW, 0) is None
    assert refusal(rules, span("2027-01-24T12:01:00Z", "2027-01-24T13:00:00Z"), NOW, 0) == "maximumAdvance"


def test_the_daily_cap_counts_starts_on_the_local_date():
    rules = open_all_day(maxPerDay=2)
    assert refusal(rules, span("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"), NOW, 1) is None
    assert refusal(rules, span("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"), NOW, 2) == "dailyLimit"


def test_an_auckland_local_date_straddles_two_utc_dates_for_the_daily_cap():
    rules = parse_availability({"timeZone": "Pacific/Auckland", "maxPerDay": 2,
                                "weekly": {d: [{"start": "06:00", "end": "22:00"}] for d in ("tue", "wed")}})
    day = date(2026, 12, 2)  # NZDT, UTC+13: the local date is 2026-12-01T11:00Z .. 2026-12-02T11:00Z
    assert rules.local_day(day) == span("2026-12-01T11:00:00Z", "2026-12-02T11:00:00Z")
    assert rules.local_day(day).days() == ["2026-12-01", "2026-12-02"]
    slots = [Entry("a", span("2026-12-01T19:00:00Z", "2026-12-01T20:00:00Z")),  # 08:00 local on the 2nd
             Entry("b", span("2026-12-02T08:00:00Z", "2026-12-02T09:00:00Z")),  # 21:00 local on the 2nd
             Entry("c", span("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"))]  # 22:00 local on the 1st
    assert starts_on(rules, day, slots) == 2
    assert starts_on(rules, day, slots, ignore="a") == 1


def test_buffers_widen_the_footprint_not_the_window_check():
    rules = open_all_day(bufferBefore=10, bufferAfter=15)
    assert rules.footprint(span("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")) == span(
        "2026-12-01T08:50:00Z", "2026-12-01T10:15:00Z")


def test_a_calendar_without_rules_is_always_open():
    assert refusal(None, span("2026-11-25T12:01:00Z", "2026-11-25T12:02:00Z"), NOW, 10**6) is None


def test_a_slot_search_reads_a_few_entries_per_candidate_not_every_entry_of_every_calendar(
        calendars, store, clock, monkeypatch):
    """9 calendars x 3 days x 40 appointments, 864 candidates: a scan per candidate reads entries'
    footprints about 950,000 times; the sorted index reads a handful per candidate."""
    start = datetime(2026, 12, 1, tzinfo=UTC)
    rooms = [f"room-{i}" for i in range(9)]
    def busy(i: int, n: int) -> Interval:  # room i is busy 20 minutes in every 36, so no 30-minute slot is free
        return Interval(start + timedelta(minutes=36 * n + i), start + timedelta(minutes=36 * n + i + 20))

    bulk_load(store, (Appointment(f"a-{room}-{n}", f"customer-{room}-{n}", busy(i, n), participants=(room,),
                                created_at=clock(), updated_at=clock())
                    for i, room in enumerate(rooms) for n in range(122)))
    reads = 0
    footprint = Entry.blocks

    def counted(slot):
        nonlocal reads
        reads += 1
        return footprint.fget(slot)

    monkeypatch.setattr(Entry, "blocks", property(counted))
    query = SlotQuery(Interval(start, start + timedelta(days=3)), timedelta(minutes=30), timedelta(minutes=5),
                      tuple(rooms[1:]))
    found = calendars.slots(rooms[0], query, Caller())
    candidates, entries = 3 * 288, 9 * 122
    assert found == []  # some room is busy at every start, so every candidate was decided
    assert reads < 20 * candidates + 10 * entries, reads
