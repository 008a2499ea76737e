"""Parity, as a property: the slots offered are exactly the bookings accepted.

Random availability rules, random existing appointments (loaded whatever the rules, as history may
be) and random query windows. Every slot offered is booked at once and accepted; every grid
candidate not offered is refused. Each probe booking is cancelled again, which frees what it took.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from appointments.appointment import new_appointment
from appointments.availability import parse_availability, slot_candidates
from appointments.caller import Caller
from appointments.errors import Conflict, NoneAvailable, Unavailable
from appointments.inputs import PoolSlotQuery, SlotQuery
from appointments.rules_store import RulesStore
from appointments.times import UTC, Interval, format_instant
from seeding import bulk_load

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Pacific/Auckland"]
clock_minutes = st.integers(0, 24 * 4).map(lambda q: q * 15)  # quarter hours, 00:00 to 24:00


@st.composite
def windows(draw) -> list[dict]:
    edges = sorted(set(draw(st.lists(clock_minutes, min_size=2, max_size=4))))
    pairs = [(edges[i], edges[i + 1]) for i in range(0, len(edges) - 1, 2)]
    return [{"start": f"{s // 60:02d}:{s % 60:02d}", "end": "24:00" if e == 1440 else f"{e // 60:02d}:{e % 60:02d}"}
            for s, e in pairs if s < 1440]


@st.composite
def rules(draw) -> dict:
    body = {"timeZone": draw(st.sampled_from(ZONES)),
            "weekly": {d: draw(windows()) for d in draw(st.lists(st.sampled_from(
                ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), unique=True, min_size=4))}}
    for name, values in (("bufferBefore", st.sampled_from([0, 15, 45])),
                         ("bufferAfter", st.sampled_from([0, 10, 60])),
                         ("minimumNotice", st.sampled_from([0, 60 * 24 * 5])),
                         ("maximumAdvance", st.sampled_from([7, 30])), ("maxPerDay", st.integers(1, 3))):
        if draw(st.booleans()):
            body[name] = draw(values)
    if draw(st.booleans()):
        day = f"2026-12-0{draw(st.integers(1, 4))}"
        body["overrides"] = {day: draw(windows())}
    return body


def assert_booking_accepts_exactly_what_was_offered(bookings, provider, candidates, offered, duration) -> None:
    """Each candidate booked with ``provider`` by a fresh customer is accepted exactly when it was offered;
    an accepted probe is cancelled again, so the next one meets the same calendar."""
    for number, start in enumerate(candidates):
        body = {"userId": f"probe-{number}-{provider}", "participants": [provider],
                "startTime": format_instant(start), "endTime": format_instant(start + duration)}
        try:
            appointment, refusal = bookings.book(body, Caller())[0], None
        except (Conflict, Unavailable) as error:
            appointment, refusal = None, error.message
        assert (format_instant(start) in offered) == (refusal is None), (start, refusal, body)
        if appointment:
            bookings.cancel(appointment.appointment_id, Caller())


BASE = datetime(2026, 12, 1, tzinfo=UTC)
existing = st.lists(st.tuples(st.integers(0, 4 * 24 * 4), st.sampled_from([2, 4, 6])), max_size=6)  # quarter hours


def load_history(store, tag: str, calendars: list[str], appointments: list[tuple[int, int]]) -> None:
    """The drawn existing appointments, each (start, length) in quarter hours from ``BASE``, each by its own
    customer with the calendars in turn as its participant, loaded whatever their rules say."""
    bulk_load(store, [new_appointment({"userId": f"other-{i}-{tag}", "participants": [calendars[i % len(calendars)]],
                                       "startTime": format_instant(BASE + timedelta(minutes=15 * q)),
                                       "endTime": format_instant(BASE + timedelta(minutes=15 * (q + n)))},
                                      appointment_id=f"{tag}-{i}", now=NOW)
                      for i, (q, n) in enumerate(appointments)])


def window_from(hour: int) -> Interval:
    """A 30-hour search window starting ``hour`` hours after ``BASE``."""
    return Interval(BASE + timedelta(hours=hour), BASE + timedelta(hours=hour + 30))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(rules(), existing, st.integers(0, 3 * 24), st.sampled_from([30, 60, 90]), st.sampled_from([15, 30, 60]))
def test_every_slot_offered_is_accepted_and_every_candidate_not_offered_is_refused(
        bookings, calendars, store, body, appointments, from_hour, duration, step):
    provider = f"dr-{uuid.uuid4().hex[:8]}"
    rules_now = RulesStore(store).put(provider, parse_availability(body))
    load_history(store, provider, [provider], appointments)
    window = window_from(from_hour)
    query = SlotQuery(window, timedelta(minutes=duration), timedelta(minutes=step))
    offered = {format_instant(s.start) for s in calendars.slots(provider, query, Caller())}
    candidates = list(slot_candidates(rules_now, window, query.duration, query.step))
    assert offered <= {format_instant(c) for c in candidates}
    event(f"candidates: {'none' if not candidates else 'some'}; offered: {'none' if not offered else 'some'}; "
          f"refused: {'some' if len(offered) < len(candidates) else 'none'}")
    assert_booking_accepts_exactly_what_was_offered(bookings, provider, candidates[:16], offered, query.duration)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), rules()), min_size=2, max_size=3), existing, st.integers(0, 3 * 24),
       st.sampled_from([30, 60]), st.sampled_from([15, 30]))
def test_every_pool_slot_offered_is_booked_on_a_listed_member_and_every_other_candidate_is_refused(
        bookings, calendars, store, member_rules, appointments, from_hour, duration, step):
    """Members with random rules (or none) and random loads: a pool slot is offered exactly when a booking
    with that anyOf is accepted then, and the member assigned is one the slot lists."""
    tag = uuid.uuid4().hex[:8]
    members = [f"m{i}-{tag}" for i in range(len(member_rules))]
    for member, body in zip(members, member_rules, strict=True):
        if body is not None:
            RulesStore(store).put(member, parse_availability(body))
    load_history(store, tag, members, appointments)
    window = window_from(from_hour)
    query = PoolSlotQuery(window, timedelta(minutes=duration), timedelta(minutes=step), tuple(members))
    offered = {format_instant(s.start): free for s, free in calendars.pool_slots(query, Caller())}
    candidates = sorted({start for member in members for start in slot_candidates(
        RulesStore(store).get(member), window, query.duration, query.step)})
    assert set(offered) <= {format_instant(c) for c in candidates}
    event(f"offered: {'none' if not offered else 'some'}; "
          f"refused: {'some' if len(offered) < len(candidates) else 'none'}")
    for number, start in enumerate(candidates[:6]):
        interval = {"startTime": format_instant(start), "endTime": format_instant(start + query.duration)}
        qualifying = []
        for member in members:  # a member qualifies exactly when a booking with it as a participant is accepted
            try:
                probe = bookings.book({"userId": f"probe-{number}-{member}", "participants": [member], **interval},
                                      Caller())[0]
            except (Conflict, Unavailable):
                continue
            qualifying.append(member)
            bookings.cancel(probe.appointment_id, Caller())
        assert offered.get(format_instant(start), []) == qualifying, (start, offered.get(format_instant(start)))
        try:
            appointment, refusal = bookings.book({"userId": f"pool-{number}-{tag}", "anyOf": members, **interval},
                                                 Caller())[0], None
        except NoneAvailable as error:
            appointment, refusal = None, error.message
        assert (format_instant(start) in offered) == (refusal is None), (start, refusal)
        if appointment:
            assert appointment.assigned in offered[format_instant(start)]
            bookings.cancel(appointment.appointment_id, Caller())


holds = st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 30)), min_size=1, max_size=5)  # (which slot, minutes)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(rules(), existing, holds, st.integers(0, 40), st.integers(0, 3 * 24), st.sampled_from([30, 60]))
def test_with_holds_present_and_expiring_every_slot_offered_is_accepted_and_no_other(
        bookings, calendars, store, clock, body, appointments, held, minutes_later, from_hour, duration):
    """Holds of 1-30 minutes on the provider at times it offers (each by its own customer), then the clock
    moves on 0-40 minutes, so some have expired: slots and bookings still agree, daily caps included."""
    clock.now = NOW
    provider = f"dr-{uuid.uuid4().hex[:8]}"
    rules_now = RulesStore(store).put(provider, parse_availability(body))
    load_history(store, provider, [provider], appointments)
    window = window_from(from_hour)
    query = SlotQuery(window, timedelta(minutes=duration), timedelta(minutes=15))
    holdable = [s.start for s in calendars.slots(provider, query, Caller())]  # so that most holds are taken
    made = 0
    for i, (which, minutes) in enumerate(held if holdable else ()):
        start = holdable[which % len(holdable)]
        try:
            bookings.book({"userId": f"holder-{i}-{provider}", "participants": [provider], "hold": minutes,
                           "startTime": format_instant(start), "endTime": format_instant(start + query.duration)},
                          Caller())
            made += 1
        except (Conflict, Unavailable):  # an earlier hold took it, or the cap
            pass
    clock.advance(minutes=minutes_later)
    offered = {format_instant(s.start) for s in calendars.slots(provider, query, Caller())}
    candidates = list(slot_candidates(rules_now, window, query.duration, query.step))
    event(f"holds made: {'none' if not made else 'some'}; offered: {'none' if not offered else 'some'}; "
          f"refused: {'some' if len(offered) < len(candidates) else 'none'}")
    assert_booking_accepts_exactly_what_was_offered(bookings, provider, candidates[:12], offered, query.duration)
