"""Pure domain logic (times, appointments, occupancy, reminder plans): no AWS, no environment."""

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appointments.appointment import Appointment, apply_changes, new_appointment, require_future
from appointments.codecs import entry_from_text, entry_text
from appointments.errors import ValidationError
from appointments.occupancy import Entry, find_conflicts, merge_busy
from appointments.reminder_plan import (
    ScheduleChanges,
    reminder_message,
    reminder_plan,
    reminder_subject,
    reminder_type,
    schedule_changes,
)
from appointments.times import UTC, Interval, parse_instant

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def interval(start: str, end: str) -> Interval:
    return Interval(at(start), at(end))


def test_offsets_are_normalised_to_utc_and_fractions_truncated():
    assert parse_instant("2026-12-01T11:00:00.987+02:00", "startTime") == at("2026-12-01T09:00:00Z")


def test_a_time_without_offset_needs_a_time_zone():
    with pytest.raises(ValidationError) as refused:
        parse_instant("2026-12-01T09:00:00", "startTime")
    assert refused.value.extra == {"field": "startTime"}
    assert "timeZone" in refused.value.message


def test_naive_time_is_read_in_its_zone_on_both_sides_of_a_dst_change():
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    assert parse_instant("2026-03-28T09:00:00", "startTime", berlin) == at("2026-03-28T08:00:00Z")  # CET
    assert parse_instant("2026-03-30T09:00:00", "startTime", berlin) == at("2026-03-30T07:00:00Z")  # CEST


def test_a_wall_time_skipped_by_dst_is_refused():
    from zoneinfo import ZoneInfo

    with pytest.raises(ValidationError, match="does not exist"):
        parse_instant("2026-03-29T02:30:00", "startTime", ZoneInfo("Europe/Berlin"))


@pytest.mark.parametrize("value", ["tomorrow", "2026-12-01", "2026-13-01T09:00:00Z", 1733043600, None, ""])
def test_bad_times_are_refused_with_the_field_named(value):
    with pytest.raises(ValidationError) as refused:
        parse_instant(value, "endTime")
    assert refused.value.extra["field"] == "endTime"


def test_back_to_back_intervals_do_not_overlap():
    assert not interval("2026-12-01T09:00Z", "2026-12-01T10:00Z").overlaps(interval("2026-12-01T10:00Z",
                                                                                     "2026-12-01T11:00Z"))


def test_days_of_an_interval_exclude_its_end_instant():
    assert interval("2026-12-01T22:00Z", "2026-12-02T00:00Z").days() == ["2026-12-01"]
    assert interval("2026-12-01T22:00Z", "2026-12-03T00:00:01Z").days() == ["2026-12-01", "2026-12-02",
                                                                             "2026-12-03"]


def test_find_conflicts_ignores_the_appointment_being_moved():
    entry = Entry("a", interval("2026-12-01T09:00Z", "2026-12-01T10:00Z"))
    assert find_conflicts(entry.interval, [entry], ignore="a") == []
    assert find_conflicts(entry.interval, [entry]) == [entry]


def test_merge_busy_clips_to_the_window_and_joins_touching_intervals():
    window = interval("2026-12-01T00:00Z", "2026-12-02T00:00Z")
    merged = merge_busy([interval("2026-11-30T23:00Z", "2026-12-01T01:00Z"),
                         interval("2026-12-01T09:00Z", "2026-12-01T10:00Z"),
                         interval("2026-12-01T10:00Z", "2026-12-01T11:00Z")], window)
    assert merged == [interval("2026-12-01T00:00Z", "2026-12-01T01:00Z"),
                      interval("2026-12-01T09:00Z", "2026-12-01T11:00Z")]


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 50)), max_size=12), st.integers(0, 200),
       st.integers(1, 50))
def test_find_conflicts_equals_a_brute_force_model(existing, start, length):
    base = datetime(2026, 12, 1, tzinfo=UTC)

    def iv(s, n):
        return Interval(base + timedelta(minutes=s), base + timedelta(minutes=s + n))

    entries = [Entry(str(i), iv(s, n)) for i, (s, n) in enumerate(existing)]
    new_minutes = set(range(start, start + length))
    expected = {str(i) for i, (s, n) in enumerate(existing) if new_minutes & set(range(s, s + n))}
    assert {c.appointment_id for c in find_conflicts(iv(start, length), entries)} == expected


def create(**body) -> Appointment:
    return new_appointment({"userId": "alice", "startTime": "2026-12-01T09:00:00Z",
                            "endTime": "2026-12-01T10:00:00Z", **body}, appointment_id="a1", now=NOW)


@pytest.mark.parametrize(("body", "field"), [
    ({"endTime": "2026-12-01T09:00:00Z"}, "endTime"),
    ({"endTime": "2026-12-08T09:00:01Z"}, "endTime"),
    ({"userId": "alice smith"}, "userId"),
    ({"userId": "x" * 129}, "userId"),
    ({"timeZone": "Mars/Olympus"}, "timeZone"),
    ({"details": {"location": 4}}, "details"),
    ({"details": {"description": "x" * 4100}}, "details"),
    ({"reminders": [60, 60]}, "reminders"),
    ({"reminders": [0]}, "reminders"),
    ({"reminders": [40321]}, "reminders"),
    ({"reminders": [1, 2, 3, 4, 5, 6]}, "reminders"),
    ({"reminders": [True]}, "reminders"),
    ({"reminders": [60.0]}, "reminders"),
    ({"status": "cancelled"}, "status"),
    ({"version": 3}, "version"),
    ({"colour": "red"}, "colour"),
])
def test_create_rules_refuse_bad_fields_by_name(body, field):
    with pytest.raises(ValidationError) as refused:
        create(**body)
    assert refused.value.extra["field"] == field


def test_a_start_in_the_past_is_refused_apart_from_the_create_rules():
    past = create(startTime="2026-11-25T11:00:00Z")  # valid as a request: an idempotent replay may match it
    with pytest.raises(ValidationError) as refused:
        require_future(past.interval, NOW)
    assert refused.value.extra["field"] == "startTime"
    require_future(create().interval, NOW)


def test_a_seven_day_appointment_is_allowed():
    assert create(endTime="2026-12-08T09:00:00Z").interval.end == at("2026-12-08T09:00:00Z")


def test_create_defaults():
    appointment = create()
    assert (appointment.time_zone, appointment.reminders, appointment.status, appointment.version) == (
        "UTC", (1440, 60), "scheduled", 1)


def test_patch_merges_fields_and_bumps_the_version():
    changed = apply_changes(create(), {"startTime": "2026-12-01T09:30:00Z"}, now=NOW)
    assert changed.interval == interval("2026-12-01T09:30Z", "2026-12-01T10:00Z")
    assert changed.version == 2


def test_patch_that_changes_nothing_keeps_the_version():
    current = create()
    assert apply_changes(current, {"details": {}}, now=NOW) is current


def test_patch_refuses_user_id():
    with pytest.raises(ValidationError) as refused:
        apply_changes(create(), {"userId": "bob"}, now=NOW)
    assert refused.value.extra["field"] == "userId"


@pytest.mark.parametrize(("minutes", "subject", "kind"), [
    (1440, "Appointment Reminder - 24 Hour", "24_hour"),
    (60, "Appointment Reminder - 1 Hour", "1_hour"),
    (90, "Appointment Reminder - 90 Minute", "90_minute"),
    (15, "Appointment Reminder - 15 Minute", "15_minute"),
    (2880, "Appointment Reminder - 48 Hour", "48_hour"),
])
def test_reminder_labels(minutes, subject, kind):
    assert (reminder_subject(minutes), reminder_type(minutes)) == (subject, kind)


def test_reminder_plan_skips_reminders_already_past():
    soon = create(startTime="2026-11-25T12:30:00Z", endTime="2026-11-25T13:00:00Z", reminders=[1440, 60, 10])
    assert [r.minutes_before for r in reminder_plan(soon, NOW)] == [10]


def soon_after(**times) -> Appointment:
    """Booked at NOW, starting 90 s later, with one reminder a minute before: due 30 s after the booking."""
    return create(startTime="2026-11-25T12:01:30Z", endTime="2026-11-25T13:00:00Z", reminders=[1], **times)


@pytest.mark.parametrize(("seconds_after_booking", "outcome"), [
    (0, "send_now"),  # due in 30 s: within a minute, so sent at once rather than scheduled
    (45, "send_now"),  # the record was processed after the reminder's time, before the start
    (95, "late"),  # processed after the appointment started: skipped and counted
])
def test_a_reminder_due_within_a_minute_is_never_scheduled(seconds_after_booking, outcome):
    changes = schedule_changes(None, soon_after(), NOW + timedelta(seconds=seconds_after_booking))
    assert changes.put == ()
    assert [r.minutes_before for r in getattr(changes, outcome)] == [1]
    assert [r.minutes_before for r in changes.send_now + changes.late] == [1]


def test_a_reminder_more_than_a_minute_away_is_scheduled():
    changes = schedule_changes(None, soon_after(), NOW - timedelta(seconds=31))
    assert ([r.minutes_before for r in changes.put], changes.send_now, changes.late) == ([1], (), ())


def test_a_reminder_already_past_at_booking_is_skipped_without_being_counted():
    appointment = create(startTime="2026-11-25T12:00:30Z", endTime="2026-11-25T13:00:00Z", reminders=[60, 1])
    assert schedule_changes(None, appointment, NOW) == ScheduleChanges()


def test_a_reschedule_into_the_next_minute_sends_at_once_and_deletes_the_old_schedule():
    booked = create(reminders=[1])
    moved = replace(booked, interval=interval("2026-11-25T12:01:20Z", "2026-11-25T13:00:00Z"), updated_at=NOW,
                    version=2)
    changes = schedule_changes(booked, moved, NOW)
    assert (changes.put, changes.delete, [r.minutes_before for r in changes.send_now]) == ((), (1,), [1])


def test_a_kept_schedule_due_within_the_minute_is_left_to_fire():
    booked = create(startTime="2026-11-25T12:02:00Z", endTime="2026-11-25T13:00:00Z", reminders=[1])  # at 12:01
    later = NOW + timedelta(seconds=30)
    edited = replace(booked, reminders=(5, 1), updated_at=later, version=2)  # 5 min before had passed at the edit
    assert schedule_changes(booked, edited, later) == ScheduleChanges()  # the 1-minute one neither goes nor repeats


def test_reminder_message_shows_local_time_and_details():
    appointment = create(timeZone="Europe/Berlin", details={"location": "Room 4", "description": "Check-up"})
    text = reminder_message(appointment, 1440)
    assert "Tuesday 01 December 2026 at 10:00 CET (Europe/Berlin)" in text
    assert "Location: Room 4" in text
    assert "Description: Check-up" in text
    assert "in 24 hours" in text


@pytest.mark.parametrize(("entry", "calendar", "text"), [
    (Entry("a", interval("2026-12-01T09:00Z", "2026-12-01T10:00Z"), "alice"), "alice",
     "2026-12-01T09:00:00Z/2026-12-01T10:00:00Z"),
    (Entry("a", interval("2026-12-01T09:00Z", "2026-12-01T10:00Z"), "alice"), "dr-smith",
     "2026-12-01T09:00:00Z/2026-12-01T10:00:00Z|alice"),
    (Entry("a", interval("2026-12-01T09:00Z", "2026-12-01T10:00Z"), "alice",
          interval("2026-12-01T08:50Z", "2026-12-01T10:10Z")), "dr-smith",
     "2026-12-01T09:00:00Z/2026-12-01T10:00:00Z|2026-12-01T08:50:00Z/2026-12-01T10:10:00Z|alice"),
])
def test_bucket_entries_are_compact_and_round_trip(entry, calendar, text):
    assert entry_text(entry, calendar) == text
    assert entry_from_text("a", text, calendar) == entry


# -- what a decision rests on is what a booking plans to read -------------------------------------------------

@given(zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago"]),
       before=st.sampled_from([0, 15, 240]), after=st.sampled_from([0, 30, 240]),
       cap=st.sampled_from([None, 3]), start=st.integers(0, 7 * 24 * 4 - 1), quarters=st.integers(1, 4 * 30))
def test_a_booking_plans_to_read_exactly_the_buckets_its_decision_rests_on(zone, before, after, cap, start,
                                                                          quarters):
    """``reach`` (what a booking reads, from the rules it knows) and ``decide`` (what it rests on) spell the same
    rule twice, once for planning and once per slot candidate: they must name the same days, or every booking
    would read twice, or read more than it needs."""
    from appointments import decision
    from appointments.availability import parse_availability

    always = {d: [{"start": "00:00", "end": "24:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    rules = parse_availability({"timeZone": zone, "weekly": always, "bufferBefore": before, "bufferAfter": after,
                                **({"maxPerDay": cap} if cap else {})})
    begins = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=15 * start)
    booked = new_appointment({"userId": "alice", "startTime": f"{begins:%Y-%m-%dT%H:%M:%SZ}",
                              "endTime": f"{begins + timedelta(minutes=15 * quarters):%Y-%m-%dT%H:%M:%SZ}"},
                             appointment_id="a1", now=datetime(2026, 11, 25, tzinfo=UTC))
    for known in (rules, None):
        planned = {day for span in decision.reach(booked.interval, known) for day in decision.days_touched(span)}
        decided = decision.decide(booked, ["alice"], {}, {"alice": known}, datetime(2026, 11, 25, tzinfo=UTC))
        assert {day for _, day in decided.rests_on} == planned
        assert decision.plan(None, booked, {"alice": known} if known else {}).days == {"alice": frozenset(planned)}
