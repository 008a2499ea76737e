"""Property: for any sequence of book, cancel and reschedule, the service accepts exactly what a
brute-force interval model accepts, and the calendar buckets always agree with the appointments."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appointments.calendar_reads import CalendarReads
from appointments.caller import Caller
from appointments.decision import Plan
from appointments.errors import Conflict
from appointments.store import BookingStore
from appointments.times import Interval, format_instant, parse_stored_instant

BASE = "2026-12-01T00:00:00Z"
QUARTER = 15  # minutes; starts and lengths are in quarter hours over four days, so buckets span days

starts = st.integers(0, 4 * 24 * 4 - 1)
lengths = st.sampled_from([1, 2, 4, 8, 40, 96, 200])  # 15 min to 50 h
operations = st.lists(st.one_of(
    st.tuples(st.just("book"), starts, lengths),
    st.tuples(st.just("cancel"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("move"), st.integers(0, 20), starts, lengths),
), min_size=1, max_size=25)


def window(start: int, length: int) -> tuple[str, str]:
    base = parse_stored_instant(BASE)
    return (format_instant(base + timedelta(minutes=QUARTER * start)),
            format_instant(base + timedelta(minutes=QUARTER * (start + length))))


def overlaps(a: tuple[str, str], b: tuple[str, str]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_service_decisions_equal_the_brute_force_model(bookings, store, ops):
    user = f"prop-{uuid.uuid4().hex[:12]}"  # a fresh user per example: no state leaks between examples
    caller = Caller()
    model: dict[str, tuple[str, str]] = {}  # appointmentId -> interval, scheduled only
    created: list[str] = []
    for op in ops:
        if op[0] == "book":
            interval = window(op[1], op[2])
            expected = not any(overlaps(interval, other) for other in model.values())
            try:
                appointment, _ = bookings.book({"userId": user, "startTime": interval[0], "endTime": interval[1]},
                                               caller)
                accepted = True
                model[appointment.appointment_id] = interval
                created.append(appointment.appointment_id)
            except Conflict:
                accepted = False
            assert accepted == expected, (op, model)
        elif created:
            target = created[op[1] % len(created)]
            if op[0] == "cancel":
                bookings.cancel(target, caller)
                model.pop(target, None)
            elif target in model:
                interval = window(op[2], op[3])
                expected = not any(overlaps(interval, other) for key, other in model.items() if key != target)
                try:
                    bookings.change(target, {"startTime": interval[0], "endTime": interval[1]}, caller)
                    accepted = True
                    model[target] = interval
                except Conflict:
                    accepted = False
                assert accepted == expected, (op, model)
    # The buckets hold exactly the scheduled intervals, each on every day it touches.
    first, last = window(0, 0)[0][:10], "2026-12-08"
    busy = {s.interval.encode() for s in CalendarReads(store).entries(user, first, last)}
    assert busy == {f"{s}/{e}" for s, e in model.values()}
    for appointment_id, (start, end) in model.items():
        days = Interval(parse_stored_instant(start), parse_stored_instant(end)).days()
        snapshot = BookingStore(store).read(Plan((), {user: frozenset(days)}))
        assert all(appointment_id in bucket.entries for bucket in snapshot.buckets.values())


# -- many users sharing providers and rooms ------------------------------------------------------------

USERS, SHARED = 3, ("provider", "room")
shared_sets = st.lists(st.sampled_from(SHARED), unique=True, max_size=2)
calendar_operations = st.lists(st.one_of(
    st.tuples(st.just("book"), st.integers(0, USERS - 1), shared_sets, starts, lengths),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("move"), st.integers(0, 30), starts, lengths),
    st.tuples(st.just("participants"), st.integers(0, 30), shared_sets),
), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calendar_operations)
def test_decisions_across_shared_calendars_equal_the_brute_force_model(bookings, store, ops):
    run = uuid.uuid4().hex[:8]  # fresh calendars per example
    users = [f"user{i}-{run}" for i in range(USERS)]
    named = {name: f"{name}-{run}" for name in SHARED}
    caller = Caller()
    model: dict[str, tuple[frozenset[str], tuple[str, str]]] = {}  # scheduled: id -> (calendars, interval)
    created: list[str] = []

    def free(calendars: frozenset[str], interval: tuple[str, str], ignore: str | None = None) -> bool:
        return not any(calendars & other_calendars and overlaps(interval, other)
                       for key, (other_calendars, other) in model.items() if key != ignore)

    for op in ops:
        if op[0] == "book":
            _, user, shared, start, length = op
            participants = [named[s] for s in shared]
            calendars, interval = frozenset([users[user], *participants]), window(start, length)
            expected = free(calendars, interval)
            try:
                appointment, _ = bookings.book({"userId": users[user], "startTime": interval[0],
                                                "endTime": interval[1], "participants": participants}, caller)
                model[appointment.appointment_id] = (calendars, interval)
                created.append(appointment.appointment_id)
                accepted = True
            except Conflict:
                accepted = False
            assert accepted == expected, (op, model)
        elif created:
            target = created[op[1] % len(created)]
            if op[0] == "cancel":
                bookings.cancel(target, caller)
                model.pop(target, None)
                continue
            if target not in model:
                continue
            calendars, interval = model[target]
            user = next(c for c in calendars if c in users)
            if op[0] == "move":
                change, interval = None, window(op[2], op[3])
                body = {"startTime": interval[0], "endTime": interval[1]}
            else:
                change = [named[s] for s in op[2]]
                calendars, body = frozenset([user, *change]), {"participants": change}
            expected = free(calendars, interval, ignore=target)
            try:
                bookings.change(target, body, caller)
                model[target] = (calendars, interval)
                accepted = True
            except Conflict:
                accepted = False
            assert accepted == expected, (op, model)
    # Every calendar's buckets hold exactly the scheduled appointments occupying it.
    for calendar_id in [*users, *named.values()]:
        entries = CalendarReads(store).entries(calendar_id, "2026-11-30", "2026-12-08")
        stored = {(e.appointment_id, e.interval.encode()) for e in entries}
        expected = {(key, f"{interval[0]}/{interval[1]}") for key, (calendars, interval) in model.items()
                    if calendar_id in calendars}
        assert stored == expected, calendar_id
