"""Any available provider (API.md): a pool's member chosen atomically, by the same decision as a booking."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

import conflict_detector
from appointments.appointment import new_appointment
from appointments.times import format_instant, parse_stored_instant
from appointments.wiring import build_services
from conftest import API_SETTINGS, Api, CountingCalls, booking
from seeding import bulk_load

POOL = ["stylist-a", "stylist-b", "stylist-c"]
DAY = "from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def pool_booking(user="alice", start="2026-12-01T09:00:00Z", end="2026-12-01T10:00:00Z", **extra) -> dict:
    return booking(user=user, start=start, end=end, anyOf=POOL, **extra)


def open_hours(api, calendar, start="09:00", end="17:00", **extra):
    body = {"timeZone": "UTC", "weekly": {d: [{"start": start, "end": end}] for d in WEEKDAYS}, **extra}
    assert api.request("PUT", f"/calendars/{calendar}/availability", body).status == 200


def load(store, calendar: str, count: int, clock, day="2026-12-01") -> None:
    """``count`` appointments of other customers on the calendar that day, early in the morning."""
    base = parse_stored_instant(f"{day}T00:00:00Z")
    bulk_load(store, [new_appointment({"userId": f"other-{calendar}-{n}", "participants": [calendar],
                                       "startTime": format_instant(base + timedelta(minutes=10 * n)),
                                       "endTime": format_instant(base + timedelta(minutes=10 * n + 5))},
                                      appointment_id=f"load-{calendar}-{n}", now=clock())
                      for n in range(count)])


# -- the fields ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "field"), [
    ({"anyOf": ["only-one"]}, "anyOf"),
    ({"anyOf": [f"s{i}" for i in range(11)]}, "anyOf"),
    ({"anyOf": ["a", "a"]}, "anyOf"),
    ({"anyOf": ["alice", "b"]}, "anyOf"),
    ({"anyOf": ["a", "b"], "participants": ["a"]}, "participants"),
    ({"anyOf": ["a", "b"], "participants": [f"room-{i}" for i in range(8)]}, "participants"),
    ({"anyOf": ["a", "b"], "endTime": "2026-12-02T09:00:01Z"}, "endTime"),
    ({"anyOf": ["a", "b"], "assign": "randomly"}, "assign"),
    ({"assign": "inOrder"}, "assign"),
    ({"anyOf": "a,b"}, "anyOf"),
    ({"anyOf": [["a"], "b"]}, "anyOf"),  # a member that is no string (and cannot be hashed either)
    ({"anyOf": [{"id": "a"}, "b"]}, "anyOf"),
    ({"assigned": "a"}, "assigned"),
])
def test_pool_fields_outside_the_rules_are_400_and_book_nothing(api, store, extra, field):
    response = api.post(body=booking(**extra))
    assert (response.status, response.error, response.body.get("field")) == (400, "ValidationError", field)
    assert store.dynamodb.scan(TableName=store.calendar)["Items"] == []


def test_a_pool_booking_assigns_one_member_and_occupies_it(api):
    booked = api.post(body=pool_booking())
    assert booked.status == 201, booked.body
    assert (booked.body["anyOf"], booked.body["assigned"]) == (POOL, "stylist-a")
    path = f"/appointments/{booked.body['appointmentId']}"
    assert api.get(path).body == booked.body
    agenda = api.get("/calendars/stylist-a/appointments", query=DAY).body["appointments"]
    assert [a["appointmentId"] for a in agenda] == [booked.body["appointmentId"]]
    assert api.get("/calendars/stylist-b/appointments", query=DAY).body["appointments"] == []
    assert api.get("/calendars/stylist-a/busy", query=DAY).body["busy"] == [
        {"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z"}]
    plain = api.post(body=booking(user="bob", start="2026-12-02T09:00:00Z", end="2026-12-02T10:00:00Z")).body
    assert not {"anyOf", "assigned"} & set(plain)  # absent when not given


def test_the_balanced_default_takes_the_member_with_fewest_appointments_that_local_date_then_order(api, store, clock):
    load(store, "stylist-a", 3, clock)
    load(store, "stylist-b", 1, clock)
    load(store, "stylist-c", 1, clock)
    first = api.post(body=pool_booking()).body
    assert first["assigned"] == "stylist-b"  # a has 3, b and c have 1 each: b comes first in anyOf
    second = api.post(body=pool_booking(user="bob")).body
    assert second["assigned"] == "stylist-c"  # b now has 2
    in_order = api.post(body=pool_booking(user="carol", assign="inOrder")).body
    assert in_order["assigned"] == "stylist-a"  # free, and first, whatever its load


def test_the_count_is_of_the_local_date_in_the_members_own_zone(api, store, clock):
    open_hours(api, "stylist-a", "00:00", "24:00")
    api.request("PUT", "/calendars/stylist-a/availability", {"timeZone": "Pacific/Auckland", "weekly": {
        d: [{"start": "00:00", "end": "24:00"}] for d in WEEKDAYS}})
    # 2026-12-01T00:00Z-05:00Z is 13:00-18:00 on 1 December in Auckland; a's three are the day before there
    load(store, "stylist-a", 3, clock, day="2026-11-30")
    load(store, "stylist-b", 1, clock)
    assert api.post(body=pool_booking(start="2026-12-01T09:00:00Z", end="2026-12-01T10:00:00Z")).body[
        "assigned"] == "stylist-a"


def test_members_that_do_not_qualify_are_skipped_and_none_available_gives_each_reason(api):
    open_hours(api, "stylist-a", "13:00", "17:00")  # closed at 09:00
    api.post(body=booking(user="bob", participants=["stylist-b"]))  # b is busy 09:00-10:00
    assert api.post(body=pool_booking()).body["assigned"] == "stylist-c"
    refused = api.post(body=pool_booking(user="carol"))
    assert (refused.status, refused.error) == (409, "NoneAvailable")
    assert refused.body["calendars"] == [{"calendarId": "stylist-a", "reason": "outsideHours"},
                                         {"calendarId": "stylist-b", "reason": "conflict"},
                                         {"calendarId": "stylist-c", "reason": "conflict"}]
    assert refused.body["message"]


def test_a_conflict_on_the_users_own_calendar_is_an_ordinary_conflict_first(api):
    api.post(body=booking())
    refused = api.post(body=pool_booking())
    assert (refused.status, refused.error) == (409, "Conflict")
    assert refused.body["conflicts"][0]["calendarId"] == "alice"


def test_a_participants_rules_refuse_as_unavailable_before_the_pool_is_looked_at(api):
    open_hours(api, "room-4", "13:00", "17:00")
    refused = api.post(body=pool_booking(participants=["room-4"]))
    assert (refused.status, refused.error, refused.body["calendarId"]) == (409, "Unavailable", "room-4")


# -- a move keeps the member while it is free, and chooses again when not -------------------------------------

def test_a_move_keeps_the_member_when_it_is_free_at_the_new_time(api, store, clock):
    booked = api.post(body=pool_booking()).body
    load(store, "stylist-a", 5, clock, day="2026-12-02")  # a is loaded, but free at the new time
    moved = api.patch(f"/appointments/{booked['appointmentId']}", {"startTime": "2026-12-02T11:00:00Z",
                                                                   "endTime": "2026-12-02T12:00:00Z"})
    assert (moved.status, moved.body["assigned"]) == (200, "stylist-a")


def test_a_move_chooses_again_when_the_member_is_taken_and_frees_the_old_one(api):
    booked = api.post(body=pool_booking()).body
    api.post(body=booking(user="bob", start="2026-12-01T14:00:00Z", end="2026-12-01T15:00:00Z",
                          participants=["stylist-a"]))
    moved = api.patch(f"/appointments/{booked['appointmentId']}", {"startTime": "2026-12-01T14:00:00Z",
                                                                   "endTime": "2026-12-01T15:00:00Z"})
    assert (moved.status, moved.body["assigned"]) == (200, "stylist-b")
    assert api.get("/calendars/stylist-a/busy", query=DAY).body["busy"] == [
        {"start": "2026-12-01T14:00:00Z", "end": "2026-12-01T15:00:00Z"}]  # only bob's now
    assert api.get("/calendars/stylist-b/busy", query=DAY).body["busy"] == [
        {"start": "2026-12-01T14:00:00Z", "end": "2026-12-01T15:00:00Z"}]


def test_a_move_where_no_member_is_free_is_none_available_and_changes_nothing(api):
    booked = api.post(body=pool_booking()).body
    for n, member in enumerate(POOL):
        api.post(body=booking(user=f"busy-{n}", start="2026-12-01T14:00:00Z", end="2026-12-01T15:00:00Z",
                              participants=[member]))
    path = f"/appointments/{booked['appointmentId']}"
    refused = api.patch(path, {"startTime": "2026-12-01T14:30:00Z", "endTime": "2026-12-01T15:30:00Z"})
    assert (refused.status, refused.error) == (409, "NoneAvailable")
    assert api.get(path).body == booked


@pytest.mark.parametrize("change", [{"anyOf": ["x", "y"]}, {"assigned": "stylist-b"}, {"assign": "inOrder"}])
def test_a_patch_may_not_change_the_pool_or_the_member(api, change):
    booked = api.post(body=pool_booking()).body
    response = api.patch(f"/appointments/{booked['appointmentId']}", change)
    assert (response.status, response.error) == (400, "ValidationError")


def test_a_patch_may_not_make_a_member_a_participant_nor_pass_eight_calendars(api):
    path = f"/appointments/{api.post(body=pool_booking()).body['appointmentId']}"
    assert api.patch(path, {"participants": ["stylist-b"]}).status == 400
    assert api.patch(path, {"participants": [f"room-{i}" for i in range(8)]}).status == 400
    assert api.patch(path, {"participants": [f"room-{i}" for i in range(7)]}).status == 200


def test_a_cancel_frees_the_member(api):
    booked = api.post(body=pool_booking()).body
    api.delete(f"/appointments/{booked['appointmentId']}")
    assert api.get("/calendars/stylist-a/busy", query=DAY).body["busy"] == []


# -- cost: one consistent read and one transaction ---------------------------------------------------------------

def test_the_largest_pool_booking_is_one_read_and_one_transaction_within_100_keys(store, clock):
    """24 hours not aligned to midnight, 7 participants, 10 members: the user and the participants (no rules) read
    the 2 days touched and their rules, the members a day either side too (choosing counts their local dates):
    8 x 3 + 10 x 5 = 74 keys. Rules on every calendar would widen them to 4 days each, 90 keys: still one read."""
    counting = CountingCalls(store.dynamodb)
    conflict_detector.use(build_services(counting, API_SETTINGS, clock=clock))
    members = [f"member-{i}" for i in range(10)]
    response = Api().post(body=booking(start="2026-12-01T12:00:00Z", end="2026-12-02T12:00:00Z", anyOf=members,
                                       participants=[f"room-{i}" for i in range(7)]))
    assert response.status == 201, response.body
    assert [name for name, _ in counting.calls] == ["batch_get_item", "transact_write_items"]
    keys = counting.calls[0][1]["RequestItems"][store.calendar]["Keys"]
    assert len(keys) == 8 * (2 + 1) + 10 * (4 + 1) <= 100
    # the commit: the appointment, and per calendar occupied (user, participants, the member) two buckets and
    # its rules' check: no bucket of the members not chosen
    write = counting.calls[1][1]["TransactItems"]
    assert len(write) == 1 + 9 * (2 + 1)
    touched = {(op.get("Key") or op["Item"])["userId"]["S"] for item in write for op in item.values()
               if op["TableName"] == store.calendar}
    assert touched == {"alice", *(f"room-{i}" for i in range(7)), response.body["assigned"]}


# -- what carries the member ---------------------------------------------------------------------------------

def test_the_member_is_in_the_calendar_file_events_and_the_reminder_calendars_attribute(api):
    from appointments.adapters import ReminderPublisher
    from appointments.codecs import appointment_from_item

    booked = api.post(body=pool_booking(participants=["room-4"])).body
    calendar = api.get(f"/appointments/{booked['appointmentId']}", headers={"Accept": "text/calendar"}).body
    assert "RESOURCES:room-4\r\nRESOURCES:stylist-a\r\n" in calendar

    class Sns:
        def publish(self, **kwargs):
            self.sent = kwargs
            return {"MessageId": "m"}

    sns = Sns()
    item = boto3.client("dynamodb").get_item(TableName=API_SETTINGS.table_name,
                                             Key={"appointmentId": {"S": booked["appointmentId"]}})["Item"]
    ReminderPublisher(sns, "arn:aws:sns:us-east-1:123456789012:topic").publish(appointment_from_item(item), 60)
    assert json.loads(sns.sent["MessageAttributes"]["calendars"]["StringValue"]) == ["alice", "room-4", "stylist-a"]


def test_with_cognito_every_member_must_be_bookable(as_user):
    staff = as_user("stylist-a")
    open_hours(staff, "stylist-a")
    open_hours(as_user("stylist-b"), "stylist-b")
    alice = as_user("alice")
    refused = alice.post(body=booking(anyOf=["stylist-a", "stylist-b", "stylist-c"]))
    assert (refused.status, refused.error) == (403, "Forbidden")
    assert alice.post(body=booking(anyOf=["stylist-a", "stylist-b"])).status == 201
    assert alice.get("/slots", query=f"anyOf=stylist-a,stylist-c&{DAY}&duration=60").status == 403


# -- pool slots ---------------------------------------------------------------------------------------------------

def pool_slots(api, query: str) -> dict:
    response = api.get("/slots", query=query)
    assert response.status == 200, response.body
    return response.body


def test_pool_slots_list_the_free_members_of_each_start(api):
    open_hours(api, "stylist-a", "09:00", "11:00")
    open_hours(api, "stylist-b", "10:00", "12:00")
    api.post(body=booking(user="bob", start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z",
                          participants=["stylist-b"]))
    body = pool_slots(api, f"anyOf=stylist-a,stylist-b&{DAY}&duration=60")
    assert (body["anyOf"], body["duration"]) == (["stylist-a", "stylist-b"], 60)
    assert body["slots"] == [
        {"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z", "calendars": ["stylist-a"]},
        {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z", "calendars": ["stylist-a"]},
        {"start": "2026-12-01T11:00:00Z", "end": "2026-12-01T12:00:00Z", "calendars": ["stylist-b"]}]


def test_pool_slots_respect_the_users_calendar_and_the_with_calendars(api):
    open_hours(api, "stylist-a", "09:00", "11:00")
    open_hours(api, "stylist-b", "09:00", "11:00")
    api.post(body=booking(start="2026-12-01T09:00:00Z", end="2026-12-01T10:00:00Z"))  # alice is busy at 09:00
    api.post(body=booking(user="bob", start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z",
                          participants=["room-1"]))
    query = f"anyOf=stylist-a,stylist-b&{DAY}&duration=60&userId=alice"
    assert [s["start"][11:16] for s in pool_slots(api, query)["slots"]] == ["10:00"]
    assert pool_slots(api, query + "&with=room-1")["slots"] == []


@pytest.mark.parametrize(("query", "field"), [
    (f"anyOf=a&{DAY}&duration=60", "anyOf"),
    (f"anyOf=a,a&{DAY}&duration=60", "anyOf"),
    (f"anyOf=a,,b&{DAY}&duration=60", "anyOf"),
    (f"{DAY}&duration=60", "anyOf"),
    (f"anyOf=a,b&{DAY}&duration=1441", "duration"),
    (f"anyOf=a,b&{DAY}&duration=60&with=a", "with"),
    (f"anyOf=a,b&{DAY}&duration=60&with=" + ",".join(f"r{i}" for i in range(8)), "with"),
    (f"anyOf=alice,b&{DAY}&duration=60&userId=alice", "anyOf"),
    (f"anyOf=a,b&{DAY}", "duration"),
])
def test_bad_pool_slot_queries_are_400(api, query, field):
    response = api.get("/slots", query=query)
    assert (response.status, response.body.get("field")) == (400, field), response.body
