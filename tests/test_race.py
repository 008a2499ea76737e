"""Concurrency: separate processes (Lambda instances) race against one moto server.

The server serialises DynamoDB requests with the lock from DESIGN.md and sleeps 50 ms before each,
so that the racing requests really overlap on a 2-core machine. The last test runs the same race
against a deliberately racy store and requires it to double-book: proof that the race can fail.
"""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime, timedelta

import boto3
import pytest

import deploy
from appointments.availability import parse_availability
from appointments.caller import Caller
from appointments.representations import appointment_json
from appointments.rules_store import RulesStore
from appointments.settings import ApiSettings
from appointments.wiring import build_services
from conftest import table_name
from fleet import Fleet, Invocation
from local_env import use_fake_aws

WORKERS = 32
# One worker runs the whole file: its tests share one moto server and fleet (make test: --dist loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("race")]


@pytest.fixture(scope="module")
def race_env(tmp_path_factory):
    from conftest import start_moto_server

    journal = tmp_path_factory.mktemp("moto") / "writes.jsonl"
    server = start_moto_server(latency_ms=50, journal=journal)
    server.journal = journal
    saved = dict(os.environ)
    use_fake_aws(server.url)
    os.environ.update({"TABLE_NAME": table_name("AppointmentsTable"),
                       "CALENDAR_TABLE_NAME": table_name("CalendarTable"), "SIGNING_KEY_ARN": "race"})
    # The real template, deployed by the real deploy code, provides the tables.
    deploy.Deployer(deploy.Config(env="test", stack_name="race", poll_seconds=0.1), out=lambda *_: None).deploy()
    yield server
    os.environ.clear()
    os.environ.update(saved)
    server.stop()


@pytest.fixture(scope="module")
def fleet(race_env):
    fleet = Fleet(WORKERS)
    yield fleet
    fleet.close()


def scheduled_intervals(user: str) -> list[tuple[str, str]]:
    items = boto3.client("dynamodb").scan(TableName=table_name("AppointmentsTable"))["Items"]
    return sorted((i["startTime"]["S"], i["endTime"]["S"]) for i in items
                  if i["userId"]["S"] == user and i["status"]["S"] == "scheduled")


def assert_pairwise_disjoint(intervals: list[tuple[str, str]]) -> None:
    for (s1, e1), (s2, e2) in itertools.combinations(intervals, 2):
        assert not (s1 < e2 and s2 < e1), f"double-booked: {s1}-{e1} and {s2}-{e2}"


def overlapping_bookings(user: str, hour: int, count: int) -> list[Invocation]:
    """``count`` one-hour bookings starting a minute apart: every pair overlaps."""
    return [Invocation("POST", "/appointments", {"userId": user, "startTime": f"2031-01-10T{hour:02d}:{i:02d}:00Z",
                                                 "endTime": f"2031-01-10T{hour + 1:02d}:{i:02d}:00Z"})
            for i in range(count)]


def test_concurrent_overlapping_bookings_admit_exactly_one(fleet):
    results = fleet.round(overlapping_bookings("racer", 10, WORKERS))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (WORKERS - 1)
    assert all(body["error"] == "Conflict" for status, body in results if status == 409)
    assert len(scheduled_intervals("racer")) == 1


def test_a_reschedule_racing_bookings_into_the_same_slot_admits_exactly_one(fleet):
    bookings = build_services(boto3.client("dynamodb"), ApiSettings.from_environment()).bookings
    original, _ = bookings.book({"userId": "mover", "startTime": "2031-01-10T08:00:00Z",
                                        "endTime": "2031-01-10T09:00:00Z"}, Caller())
    move = Invocation("PATCH", f"/appointments/{original.appointment_id}",
                      {"startTime": "2031-01-10T14:30:00Z", "endTime": "2031-01-10T15:30:00Z"})
    results = fleet.round([move, *overlapping_bookings("mover", 14, WORKERS - 1)])
    assert all(status in (200, 201, 409) for status, _ in results)
    winners = [(status, body) for status, body in results if status in (200, 201)]
    assert len(winners) == 1, sorted(status for status, _ in results)
    status, body = winners[0]
    moved_won = status == 200
    expected = [(body["startTime"], body["endTime"])]
    if not moved_won:  # a booking won, so the original stays where it was
        expected.insert(0, ("2031-01-10T08:00:00Z", "2031-01-10T09:00:00Z"))
    assert scheduled_intervals("mover") == expected
    assert_pairwise_disjoint(scheduled_intervals("mover"))


def test_the_race_test_catches_a_store_without_version_conditions(race_env):
    with Fleet(WORKERS, store="racy") as racy:
        results = racy.round(overlapping_bookings("victim", 12, WORKERS))
    assert sum(status == 201 for status, _ in results) > 1, "the racy store was not caught double-booking"
    with pytest.raises(AssertionError, match="double-booked"):
        assert_pairwise_disjoint(scheduled_intervals("victim"))


# -- a provider shared by many customers -------------------------------------------------------------------

def customers_booking_one_provider(provider: str, hour: int, count: int, first: int = 0) -> list[Invocation]:
    """``count`` different customers, each booking the provider for an hour, a minute apart: every pair
    overlaps on the provider and on nothing else."""
    return [Invocation("POST", "/appointments", {
        "userId": f"customer-{provider}-{i}", "participants": [provider],
        "startTime": f"2031-02-10T{hour:02d}:{i:02d}:00Z", "endTime": f"2031-02-10T{hour + 1:02d}:{i:02d}:00Z"})
        for i in range(first, first + count)]


def provider_agenda(provider: str) -> list[dict]:
    from appointments.inputs import agenda_query

    query = agenda_query({"from": "2031-02-10T00:00:00Z", "to": "2031-02-11T00:00:00Z", "limit": "100"})
    appointments, _ = build_services(boto3.client("dynamodb"), ApiSettings.from_environment()).calendars.agenda(
        provider, query, Caller())
    return [appointment_json(a) for a in appointments]


def test_customers_racing_for_one_provider_admit_exactly_one(fleet):
    results = fleet.round(customers_booking_one_provider("dr-race", 10, WORKERS))
    assert sorted(status for status, _ in results) == [201] + [409] * (WORKERS - 1)
    assert all(body["conflicts"][0]["calendarId"] == "dr-race" for status, body in results if status == 409)
    [winner] = [body for status, body in results if status == 201]
    assert [a["appointmentId"] for a in provider_agenda("dr-race")] == [winner["appointmentId"]]
    assert scheduled_with("dr-race") == [(winner["startTime"], winner["endTime"])]


def test_a_reschedule_racing_bookings_of_a_shared_provider_admits_exactly_one(fleet):
    bookings = build_services(boto3.client("dynamodb"), ApiSettings.from_environment()).bookings
    original, _ = bookings.book({"userId": "mover-patient", "participants": ["dr-move"],
                                 "startTime": "2031-02-10T06:00:00Z", "endTime": "2031-02-10T07:00:00Z"}, Caller())
    move = Invocation("PATCH", f"/appointments/{original.appointment_id}",
                      {"startTime": "2031-02-10T14:30:00Z", "endTime": "2031-02-10T15:30:00Z"})
    results = fleet.round([move, *customers_booking_one_provider("dr-move", 14, WORKERS - 1)])
    winners = [(status, body) for status, body in results if status in (200, 201)]
    assert len(winners) == 1, sorted(status for status, _ in results)
    in_the_afternoon = [a for a in provider_agenda("dr-move") if a["startTime"] >= "2031-02-10T14:00:00Z"]
    assert [a["appointmentId"] for a in in_the_afternoon] == [winners[0][1]["appointmentId"]]
    assert_pairwise_disjoint(scheduled_with("dr-move"))


def test_the_race_test_catches_a_store_that_skips_the_participants_version_conditions(race_env):
    with Fleet(WORKERS, store="racy-participants") as racy:
        results = racy.round(customers_booking_one_provider("dr-victim", 12, WORKERS))
    assert sum(status == 201 for status, _ in results) > 1, "the racy store was not caught double-booking"
    # Each unconditioned Put of the provider's bucket overwrote the last, so the bucket shows one booking;
    # the appointments themselves show the double booking.
    with pytest.raises(AssertionError, match="double-booked"):
        assert_pairwise_disjoint(scheduled_with("dr-victim"))


def scheduled_with(provider: str) -> list[tuple[str, str]]:
    items = boto3.client("dynamodb").scan(TableName=table_name("AppointmentsTable"))["Items"]
    return sorted((i["startTime"]["S"], i["endTime"]["S"]) for i in items if i["status"]["S"] == "scheduled"
                  and provider in [p["S"] for p in i.get("participants", {}).get("L", [])])


# -- a booking racing a change of availability ---------------------------------------------------------------

def writes_since(journal, mark: int) -> list[dict]:
    return [json.loads(line) for line in journal.read_text().splitlines()[mark:]]


def race_bookings_against_closing_the_calendar(journal, fleet_: Fleet, provider: str) -> tuple[list, list[dict]]:
    """Rules open 09:00-17:00, then one PUT that closes every day, released together with 31 bookings of
    distinct quarter hours inside the open hours. Returns the results and the writes in commit order."""
    rules = RulesStore(build_services(boto3.client("dynamodb"), ApiSettings.from_environment()).tables)
    rules.put(provider, parse_availability({"timeZone": "UTC", "weekly": {
        d: [{"start": "09:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}))
    mark = len(journal.read_text().splitlines())
    close = Invocation("PUT", f"/calendars/{provider}/availability", {"timeZone": "UTC", "weekly": {}})
    bookings = [Invocation("POST", "/appointments", {
        "userId": f"client-{provider}-{i}", "participants": [provider],
        "startTime": f"2031-03-10T{9 + i // 4:02d}:{15 * (i % 4):02d}:00Z",
        "endTime": f"2031-03-10T{9 + (i + 1) // 4:02d}:{15 * ((i + 1) % 4):02d}:00Z"}) for i in range(WORKERS - 1)]
    return fleet_.round([close, *bookings]), writes_since(journal, mark)


def committed_after_the_rules_closed(writes: list[dict], provider: str) -> list[str]:
    """Bookings of ``provider`` that committed after the write that closed its calendar."""
    closed = next(i for i, w in enumerate(writes) if w["action"] == "UpdateItem"
                  and w["request"]["Key"] == {"userId": {"S": provider}, "day": {"S": "availability"}})
    late = []
    for write in writes[closed + 1:]:
        for item in write["request"].get("TransactItems", []):
            put = item.get("Put", {}).get("Item", {})
            if {"S": provider} in put.get("participants", {}).get("L", []):
                late.append(put["appointmentId"]["S"])
    return late


def test_a_booking_racing_a_change_of_availability_is_decided_against_one_version(race_env, fleet):
    results, writes = race_bookings_against_closing_the_calendar(race_env.journal, fleet, "dr-rules")
    [(status, _)] = [(status, body) for status, body in results if "weekly" in body]  # results come as they end
    assert status == 200  # the rules changed
    booked = [body for status, body in results if status == 201]
    assert all(body["error"] == "Unavailable" and body["reason"] == "outsideHours"
               for status, body in results if status not in (200, 201))
    # Every booking accepted committed while the calendar was still open: none after the PUT.
    assert committed_after_the_rules_closed(writes, "dr-rules") == []
    assert len(booked) == len(scheduled_with("dr-rules"))


def test_the_rules_race_catches_a_store_that_does_not_check_the_rules_it_read(race_env):
    caught = []
    with Fleet(WORKERS, store="racy-rules") as racy:
        for round_number in range(3):  # the PUT may land before every read in a round; a few rounds catch it
            _, writes = race_bookings_against_closing_the_calendar(race_env.journal, racy, f"dr-racy-{round_number}")
            caught += committed_after_the_rules_closed(writes, f"dr-racy-{round_number}")
            if caught:
                break
    assert caught, "the racy store was not caught committing against rules that had changed"


# -- rules a booking did not expect -------------------------------------------------------------------------

def customers_capped_on_one_local_date(fleet_: Fleet, provider: str) -> list[tuple[int, dict]]:
    """The provider is open all day in New York with a cap of one appointment a day; its 2031-02-10 runs
    from 05:00Z to 05:00Z the next day. No instance has seen its rules, so each booking first reads only
    the UTC day it touches. ``WORKERS`` customers book 10 minutes of that local date each, 15 minutes
    apart (nothing overlaps), 12 on the first UTC day and 20 on the second: only the cap decides."""
    rules = RulesStore(build_services(boto3.client("dynamodb"), ApiSettings.from_environment()).tables)
    rules.put(provider, parse_availability({"timeZone": "America/New_York", "maxPerDay": 1, "weekly": {
        d: [{"start": "00:00", "end": "24:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}))
    first = datetime(2031, 2, 10, 21, 0, tzinfo=UTC)
    return fleet_.round([Invocation("POST", "/appointments", {
        "userId": f"capped-{provider}-{i}", "participants": [provider],
        "startTime": f"{first + timedelta(minutes=15 * i):%Y-%m-%dT%H:%M:%SZ}",
        "endTime": f"{first + timedelta(minutes=15 * i + 10):%Y-%m-%dT%H:%M:%SZ}"}) for i in range(WORKERS)])


def test_bookings_that_meet_a_daily_cap_they_did_not_expect_book_it_exactly_once_across_two_utc_days(race_env, fleet):
    results = customers_capped_on_one_local_date(fleet, "dr-capped")
    assert sorted(status for status, _ in results) == [201] + [409] * (WORKERS - 1)
    assert all((body["error"], body["reason"]) == ("Unavailable", "dailyLimit")
               for status, body in results if status == 409)
    assert len(scheduled_with("dr-capped")) == 1


def test_the_reach_race_catches_a_booking_that_decides_on_a_read_missing_what_the_rules_reach(race_env):
    with Fleet(WORKERS, store="racy-reach") as racy:
        results = customers_capped_on_one_local_date(racy, "dr-capped-twice")
    assert sum(status == 201 for status, _ in results) > 1, "the racy booking was not caught passing the cap"


# -- lost updates ---------------------------------------------------------------------------------------------

def patches_with_the_same_if_match(user: str) -> list[Invocation]:
    appointment, _ = build_services(boto3.client("dynamodb"), ApiSettings.from_environment()).bookings.book(
        {"userId": user, "startTime": "2031-04-10T09:00:00Z", "endTime": "2031-04-10T10:00:00Z"}, Caller())
    return [Invocation("PATCH", f"/appointments/{appointment.appointment_id}", {"details": {"editor": str(i)}},
                       (("If-Match", '"1"'),)) for i in range(WORKERS)]


def test_concurrent_changes_with_the_same_if_match_admit_exactly_one(fleet):
    results = fleet.round(patches_with_the_same_if_match("editor"))
    assert sorted(status for status, _ in results) == [200] + [412] * (WORKERS - 1)
    assert {body["currentVersion"] for status, body in results if status == 412} == {2}


def test_the_lost_update_race_catches_a_store_that_does_not_condition_updates(race_env):
    with Fleet(WORKERS, store="racy-updates") as racy:
        results = racy.round(patches_with_the_same_if_match("careless-editor"))
    assert sum(status == 200 for status, _ in results) > 1, "the racy store was not caught losing updates"


# -- a pool: any available provider ----------------------------------------------------------------------------

POOL = ["pool-a", "pool-b", "pool-c"]


def customers_booking_a_pool(prefix: str, members: list[str], count: int) -> list[Invocation]:
    """``count`` different customers, each booking the same hour from the same pool."""
    return [Invocation("POST", "/appointments", {
        "userId": f"{prefix}-customer-{i}", "anyOf": members,
        "startTime": "2031-05-10T10:00:00Z", "endTime": "2031-05-10T11:00:00Z"}) for i in range(count)]


def test_customers_racing_for_a_pool_of_three_take_each_member_exactly_once(fleet):
    results = fleet.round(customers_booking_a_pool("pool", POOL, WORKERS))
    assert sorted(status for status, _ in results) == [201] * 3 + [409] * (WORKERS - 3)
    winners = [body for status, body in results if status == 201]
    assert sorted(w["assigned"] for w in winners) == POOL
    assert {body["error"] for status, body in results if status == 409} <= {"NoneAvailable", "Conflict"}
    from appointments.inputs import agenda_query

    services = build_services(boto3.client("dynamodb"), ApiSettings.from_environment())
    day = {"from": "2031-05-10T00:00:00Z", "to": "2031-05-11T00:00:00Z"}
    for member in POOL:
        [winner] = [w for w in winners if w["assigned"] == member]
        agenda, _ = services.calendars.agenda(member, agenda_query(day), Caller())
        assert [a.appointment_id for a in agenda] == [winner["appointmentId"]]
        busy = services.calendars.busy(member, agenda_query(day).window, Caller())
        assert [(b.start, b.end) for b in busy] == [(a.interval.start, a.interval.end) for a in agenda]
    items = boto3.client("dynamodb").scan(TableName=table_name("AppointmentsTable"))["Items"]
    assigned = sorted(i["assigned"]["S"] for i in items
                      if i["userId"]["S"].startswith("pool-customer-") and i["status"]["S"] == "scheduled")
    assert assigned == POOL  # the table agrees: one appointment per member, none more


def test_the_pool_race_catches_a_store_that_does_not_condition_the_members_buckets(race_env):
    members = ["victim-a", "victim-b", "victim-c"]
    with Fleet(WORKERS, store="racy-participants") as racy:
        results = racy.round(customers_booking_a_pool("victim", members, WORKERS))
    winners = [body["assigned"] for status, body in results if status == 201]
    assert len(winners) > len(set(winners)), f"the racy store was not caught double-booking a member: {winners}"


# -- recurring series ----------------------------------------------------------------------------------------

def series_pairs(prefix: str, pairs: int) -> list[Invocation]:
    """``pairs`` pairs of weekly series of four, by two users, on one provider per pair: the first series
    starts on 2031-06-02, the second on 2031-06-23, so they share only the first's 4th occurrence."""
    invocations = []
    for pair in range(pairs):
        provider = f"{prefix}-provider-{pair}"
        for side, day in (("a", "02"), ("b", "23")):
            invocations.append(Invocation("POST", "/series", {
                "userId": f"{prefix}-{side}-{pair}", "participants": [provider],
                "startTime": f"2031-06-{day}T09:00:00Z", "endTime": f"2031-06-{day}T10:00:00Z",
                "repeat": {"unit": "week", "count": 4}}))
    return invocations


def occurrences_of(user: str) -> int:
    items = boto3.client("dynamodb").scan(TableName=table_name("AppointmentsTable"))["Items"]
    return sum(1 for i in items if i["userId"]["S"] == user and i["status"]["S"] == "scheduled")


def test_racing_series_that_share_one_occurrence_book_exactly_one_whole_series_per_pair(fleet):
    for round_ in range(2):
        prefix = f"series{round_}"
        results = fleet.round(series_pairs(prefix, WORKERS // 2))  # in the order they finished
        assert sorted(status for status, _ in results) == [201] * (WORKERS // 2) + [409] * (WORKERS // 2)
        assert {body["error"] for status, body in results if status == 409} <= {"SeriesUnavailable", "Conflict"}
        for pair in range(WORKERS // 2):
            booked = (occurrences_of(f"{prefix}-a-{pair}"), occurrences_of(f"{prefix}-b-{pair}"))
            assert sorted(booked) == [0, 4], f"pair {pair}: not exactly one whole series ({booked})"


def test_the_series_race_catches_a_store_that_commits_occurrences_one_by_one(race_env):
    with Fleet(WORKERS, store="racy-series") as racy:
        racy.round(series_pairs("racyseries", WORKERS // 2))
    partial = [pair for pair in range(WORKERS // 2)
               if {occurrences_of(f"racyseries-a-{pair}"), occurrences_of(f"racyseries-b-{pair}")} != {4, 0}]
    assert partial, "the racy store was not caught leaving a partial series"


# -- holds -----------------------------------------------------------------------------------------------------

def holding(invocations: list[Invocation], minutes: int = 10) -> list[Invocation]:
    return [Invocation(i.method, i.path, {**i.body, "hold": minutes}) for i in invocations]


def held_by(prefix: str) -> list[dict]:
    items = boto3.client("dynamodb").scan(TableName=table_name("AppointmentsTable"))["Items"]
    return [i for i in items if i["userId"]["S"].startswith(prefix) and i["status"]["S"] == "held"]


def test_customers_racing_to_hold_one_providers_slot_hold_it_exactly_once(fleet):
    results = fleet.round(holding(customers_booking_one_provider("dr-hold", 8, WORKERS)))
    assert sorted(status for status, _ in results) == [201] + [409] * (WORKERS - 1)
    [winner] = [body for status, body in results if status == 201]
    assert winner["status"] == "held"
    assert [a["appointmentId"] for a in provider_agenda("dr-hold")] == [winner["appointmentId"]]
    assert len(held_by("customer-dr-hold-")) == 1


def test_the_hold_race_catches_a_store_that_skips_the_participants_version_conditions(race_env):
    with Fleet(WORKERS, store="racy-participants") as racy:
        results = racy.round(holding(customers_booking_one_provider("dr-held-twice", 9, WORKERS)))
    assert sum(status == 201 for status, _ in results) > 1, "the racy store was not caught holding one slot twice"


def one_user_holding(user: str, count: int) -> list[Invocation]:
    """One user holding ``count`` different hours at once: nothing overlaps, only the limit of 5 binds."""
    return [Invocation("POST", "/appointments", {"userId": user, "hold": 10,
                                                 "startTime": f"2031-07-{1 + i // 12:02d}T{2 * (i % 12):02d}:00:00Z",
                                                 "endTime": f"2031-07-{1 + i // 12:02d}T{2 * (i % 12) + 1:02d}:00:00Z"})
            for i in range(count)]


def test_one_user_racing_for_many_holds_gets_exactly_five(fleet):
    results = fleet.round(one_user_holding("greedy", WORKERS))
    assert sorted(status for status, _ in results) == [201] * 5 + [409] * (WORKERS - 5)
    assert {body["error"] for status, body in results if status == 409} == {"TooManyHolds"}
    assert len(held_by("greedy")) == 5


def test_the_holds_limit_race_catches_a_store_that_does_not_condition_the_users_holds(race_env):
    with Fleet(WORKERS, store="racy-holds") as racy:
        racy.round(one_user_holding("greedier", WORKERS))
    assert len(held_by("greedier")) > 5, "the racy store was not caught letting a user hold more than five"


def test_confirmations_racing_the_expiry_and_rival_bookings_decide_the_slot_one_way(fleet):
    """A hold on a provider expiring in the middle of a round of its confirmations and of other customers'
    bookings of its slot: either the hold is confirmed and no rival books, or it expired and exactly one
    rival books; never both. The hold is written as made 57 seconds ago, so the test waits seconds, not
    minutes, for its expiry."""
    import time
    from datetime import timedelta

    from appointments.appointment import new_appointment
    from appointments.store import Tables
    from appointments.times import utc_now
    from seeding import bulk_load

    tables = Tables(boto3.client("dynamodb"), table_name("AppointmentsTable"), table_name("CalendarTable"))
    made = utc_now() - timedelta(seconds=57)
    held = new_appointment({"userId": "payer", "participants": ["dr-expiry"], "hold": 1,
                            "startTime": "2031-08-01T09:00:00Z", "endTime": "2031-08-01T10:00:00Z"},
                           appointment_id="racing-hold", now=made)
    bulk_load(tables, [held])
    time.sleep(max(0.0, (held.hold_expires_at - utc_now()).total_seconds() - 1.0))
    confirm = Invocation("POST", f"/appointments/{held.appointment_id}/confirm")
    rivals = [Invocation("POST", "/appointments", {"userId": f"rival-{i}", "participants": ["dr-expiry"],
                                                   "startTime": "2031-08-01T09:30:00Z",
                                                   "endTime": "2031-08-01T10:30:00Z"}) for i in range(WORKERS // 2)]
    results = fleet.round([confirm] * (WORKERS // 2) + rivals)
    confirmations = [(status, body.get("error") or body["status"]) for status, body in results
                     if body.get("appointmentId") == held.appointment_id or body.get("error") == "HoldExpired"]
    booked = [body for status, body in results if status == 201]
    final = tables.appointment(held.appointment_id)
    assert set(confirmations) <= {(200, "scheduled"), (409, "HoldExpired")}
    assert len(confirmations) == WORKERS // 2
    if final.status == "scheduled":
        assert booked == [], "a rival booked a confirmed hold's slot"
    else:
        assert final.as_of(utc_now()).status == "expired"
        assert len(booked) == 1
        assert (200, "scheduled") not in confirmations
    print(f"decided: {final.as_of(utc_now()).status}; confirmations {sorted(confirmations)}; "
          f"rivals booked {len(booked)}")
