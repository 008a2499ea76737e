"""Concurrency: separate processes (Lambda instances) race against one moto server.

The server serialises DynamoDB requests with the lock from DESIGN.md and sleeps 50 ms before each,
so that the racing requests really overlap on a 2-core machine. The last test runs the same race
against a deliberately racy store and requires it to double-book: proof that the race can fail.
"""

from __future__ import annotations

import itertools
import json
import os

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

WORKERS = 32
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def race_env(tmp_path_factory):
    from conftest import start_moto_server

    journal = tmp_path_factory.mktemp("moto") / "writes.jsonl"
    server = start_moto_server(latency_ms=50, journal=journal)
    server.journal = journal
    saved = dict(os.environ)
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.url,
                       "TABLE_NAME": table_name("AppointmentsTable"),
                       "CALENDAR_TABLE_NAME": table_name("CalendarTable"), "SIGNING_KEY_ARN": "race"})
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
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
