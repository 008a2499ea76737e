"""Holds (API.md, "Holds"): an appointment that occupies its calendars until it expires, decided by the same
decision as a booking, and confirmed in one transaction conditioned on the hold."""

from __future__ import annotations

import pytest

from appointments.appointment import new_appointment
from appointments.caller import Caller
from appointments.codecs import bucket_from_item, from_item
from appointments.errors import HoldExpired
from appointments.times import format_instant
from conftest import NOW, CountingCalls, booking

DAY = "from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def hold(api, minutes=10, **extra):
    response = api.post(body=booking(hold=minutes, **extra))
    assert response.status == 201, response.body
    return response.body


def open_hours(api, calendar, **extra):
    body = {"timeZone": "UTC", "weekly": {d: [{"start": "09:00", "end": "17:00"}] for d in WEEKDAYS}, **extra}
    assert api.request("PUT", f"/calendars/{calendar}/availability", body).status == 200


def bucket(store, calendar="alice", day="2026-12-01"):
    item = store.dynamodb.get_item(TableName=store.calendar, Key={"userId": {"S": calendar}, "day": {"S": day}},
                                   ConsistentRead=True).get("Item")
    return bucket_from_item(item) if item else None


def stored(store, appointment_id):
    return from_item(store.dynamodb.get_item(TableName=store.table, Key={"appointmentId": {"S": appointment_id}},
                                             ConsistentRead=True)["Item"])


# -- the field -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 31, -1, 1.5, "10", True, None, [10]])
def test_a_hold_outside_1_to_30_whole_minutes_is_400_and_stores_nothing(api, store, value):
    response = api.post(body=booking(hold=value))
    assert (response.status, response.error, response.body["field"]) == (400, "ValidationError", "hold")
    assert store.dynamodb.scan(TableName=store.table)["Items"] == []
    assert store.dynamodb.scan(TableName=store.calendar)["Items"] == []


def test_a_hold_is_created_held_until_its_expiry_and_says_so(api, clock):
    held = hold(api, minutes=10)
    assert (held["status"], held["holdExpiresAt"], held["version"]) == ("held", "2026-11-25T12:10:00Z", 1)
    assert "hold" not in held
    assert api.get(f"/appointments/{held['appointmentId']}").body == held


def test_hold_is_refused_in_a_patch_and_holdexpiresat_everywhere(api):
    created = api.post(body=booking()).body
    path = f"/appointments/{created['appointmentId']}"
    assert api.patch(path, {"hold": 10}).body["field"] == "hold"
    assert api.post(body=booking(holdExpiresAt="2026-11-25T12:10:00Z")).body["field"] == "holdExpiresAt"
    assert "holdExpiresAt" not in created


# -- what a hold occupies, and for how long --------------------------------------------------------------------

def test_a_hold_blocks_conflicts_slots_and_busy_times_until_it_expires_and_nothing_after(api, clock):
    open_hours(api, "dr-smith")
    held = hold(api, minutes=10, participants=["dr-smith"])
    rival = booking(user="bob", participants=["dr-smith"])
    assert api.post(body=rival).error == "Conflict"
    slots = lambda: [s["start"] for s in api.get("/calendars/dr-smith/slots",  # noqa: E731
                                                 query=f"{DAY}&duration=60").body["slots"]]
    assert "2026-12-01T09:00:00Z" not in slots()
    assert api.get("/calendars/dr-smith/busy", query=DAY).body["busy"] == [
        {"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z"}]

    clock.advance(minutes=10)  # the expiry itself: from then on it occupies nothing
    assert api.get(f"/appointments/{held['appointmentId']}").body | {"status": "expired"} == {
        **held, "status": "expired"}
    assert api.get(f"/appointments/{held['appointmentId']}").body["status"] == "expired"
    assert api.get("/calendars/dr-smith/busy", query=DAY).body["busy"] == []
    assert "2026-12-01T09:00:00Z" in slots()
    assert api.post(body=rival).status == 201


def test_an_expired_hold_leaves_its_buckets_when_they_are_next_rewritten(api, store, clock):
    held = hold(api, minutes=5)
    assert held["appointmentId"] in bucket(store).entries
    clock.advance(minutes=6)
    assert held["appointmentId"] in bucket(store).entries  # nothing ran: it is only ignored
    api.post(body=booking(start="2026-12-01T14:00:00Z", end="2026-12-01T15:00:00Z"))
    assert held["appointmentId"] not in bucket(store).entries
    assert stored(store, held["appointmentId"])["status"] == "held"  # read as expired, never rewritten


def test_a_hold_blocks_a_series_occurrence_until_it_expires_and_nothing_after(api, store, clock):
    held = hold(api, minutes=10, user="bob", participants=["dr-smith"])
    weekly = {"userId": "alice", "participants": ["dr-smith"], "startTime": "2026-12-01T09:00:00Z",
              "endTime": "2026-12-01T09:50:00Z", "repeat": {"unit": "week", "count": 2}}
    refused = api.post("/series", weekly)
    assert (refused.status, [o["occurrence"] for o in refused.body["occurrences"]]) == (409, [1]), refused.body
    clock.advance(minutes=10)
    assert api.post("/series", weekly).status == 201
    assert held["appointmentId"] not in bucket(store, "dr-smith").entries  # the series rewrote the bucket


def test_a_hold_counts_towards_a_daily_cap_until_it_expires(api, clock):
    open_hours(api, "dr-smith", maxPerDay=1)
    hold(api, minutes=3, participants=["dr-smith"])
    later = booking(user="bob", start="2026-12-01T13:00:00Z", end="2026-12-01T14:00:00Z", participants=["dr-smith"])
    refused = api.post(body=later)
    assert (refused.error, refused.body["reason"]) == ("Unavailable", "dailyLimit")
    clock.advance(minutes=3)
    assert api.post(body=later).status == 201


def test_a_hold_with_any_of_holds_the_member_assigned_and_confirming_keeps_it(api, clock):
    pool = ["stylist-a", "stylist-b"]
    held = hold(api, anyOf=pool)
    assert held["assigned"] == "stylist-a"
    other = api.post(body=booking(user="bob", anyOf=pool)).body
    assert other["assigned"] == "stylist-b"
    confirmed = api.post(f"/appointments/{held['appointmentId']}/confirm").body
    assert (confirmed["status"], confirmed["assigned"]) == ("scheduled", "stylist-a")
    assert api.post(body=booking(user="carol", anyOf=pool)).error == "NoneAvailable"


# -- confirming and releasing ----------------------------------------------------------------------------------

def test_confirming_makes_it_scheduled_once_and_confirming_again_returns_the_same_state(api, store, clock):
    held = hold(api)
    clock.advance(minutes=9)
    path = f"/appointments/{held['appointmentId']}/confirm"
    confirmed = api.post(path)
    assert confirmed.status == 200
    assert (confirmed.body["status"], confirmed.body["version"]) == ("scheduled", 2)
    assert "holdExpiresAt" not in confirmed.body
    assert "holdExpiresAt" not in stored(store, held["appointmentId"])
    assert bucket(store).entries[held["appointmentId"]].expires_at is None
    clock.advance(minutes=5)  # past the old expiry: it is booked, and stays so
    assert api.post(path).body == confirmed.body
    assert api.post(body=booking(user="bob", participants=["alice"])).error == "Conflict"


def test_a_hold_confirmed_after_its_expiry_is_409_hold_expired_and_nothing_changes(api, store, clock):
    held = hold(api, minutes=1)
    clock.advance(minutes=1)
    before = store.dynamodb.scan(TableName=store.calendar)["Items"]
    response = api.post(f"/appointments/{held['appointmentId']}/confirm")
    assert (response.status, response.error) == (409, "HoldExpired")
    assert "book" in response.body["message"]
    assert store.dynamodb.scan(TableName=store.calendar)["Items"] == before
    assert stored(store, held["appointmentId"])["version"] == 1
    assert api.patch(f"/appointments/{held['appointmentId']}", {"details": {"x": "y"}}).error == "HoldExpired"


def test_a_scheduled_appointment_confirms_as_it_is_and_a_cancelled_one_is_409(api):
    created = api.post(body=booking()).body
    assert api.post(f"/appointments/{created['appointmentId']}/confirm").body == created
    api.delete(f"/appointments/{created['appointmentId']}")
    assert api.post(f"/appointments/{created['appointmentId']}/confirm").error == "AppointmentCancelled"
    assert api.post("/appointments/nobody/confirm").status == 404


def test_deleting_a_hold_releases_it_at_once_and_an_expired_one_is_returned_as_it_is(api, clock):
    held = hold(api)
    released = api.delete(f"/appointments/{held['appointmentId']}").body
    assert (released["status"], released["version"]) == ("cancelled", 2)
    assert "holdExpiresAt" not in released
    assert api.post(body=booking(user="bob", participants=["alice"])).status == 201
    other = hold(api, start="2026-12-02T09:00:00Z", end="2026-12-02T10:00:00Z")
    clock.advance(minutes=11)
    assert api.delete(f"/appointments/{other['appointmentId']}").body == {**other, "status": "expired"}


def test_a_patch_moves_a_hold_which_stays_held_until_the_same_expiry(api, clock):
    held = hold(api)
    moved = api.patch(f"/appointments/{held['appointmentId']}", {"startTime": "2026-12-01T11:00:00Z",
                                                                 "endTime": "2026-12-01T12:00:00Z"}).body
    assert (moved["status"], moved["holdExpiresAt"]) == ("held", held["holdExpiresAt"])
    assert api.post(body=booking(user="bob", participants=["alice"])).status == 201
    assert api.post(body=booking(user="bob", start="2026-12-01T11:00:00Z", end="2026-12-01T12:00:00Z",
                                 participants=["alice"])).error == "Conflict"


def test_a_confirmation_is_one_read_and_one_transaction_conditioned_on_the_hold(services, store, clock):
    held, _ = services.bookings.book(booking(hold=10), Caller())
    counting = CountingCalls(store.dynamodb)
    store.dynamodb, services.bookings.store.dynamodb = counting, counting
    services.bookings.confirm(held.appointment_id, Caller())
    assert [name for name, _ in counting.calls] == ["get_item", "batch_get_item", "transact_write_items"]
    update = next(item["Update"] for item in counting.calls[-1][1]["TransactItems"] if "Update" in item)
    assert "#holdExpiresAt > :at" in update["ConditionExpression"]


# -- a confirmation racing the expiry is decided one way ---------------------------------------------------------

class SteppingClock:
    """Answers ``times`` in turn, then the last one: the moment a request reads, decides and commits."""

    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def test_a_confirmation_decided_before_the_expiry_commits_and_one_decided_after_it_does_not(services, store):
    from datetime import timedelta

    from appointments.wiring import build_services
    from conftest import API_SETTINGS

    held, _ = services.bookings.book(booking(hold=10), Caller())
    expiry = held.hold_expires_at
    # read while held, then decided and committed after the expiry: the transaction's condition refuses it,
    # and the retry reads it as expired
    late = build_services(store.dynamodb, API_SETTINGS, clock=SteppingClock(expiry - timedelta(seconds=1), expiry),
                          sleep=lambda _: None).bookings
    with pytest.raises(HoldExpired):
        late.confirm(held.appointment_id, Caller())
    assert stored(store, held.appointment_id)["status"] == "held"

    other, _ = services.bookings.book(booking(start="2026-12-02T09:00:00Z", end="2026-12-02T10:00:00Z", hold=10),
                                      Caller())
    in_time = build_services(store.dynamodb, API_SETTINGS, clock=SteppingClock(other.hold_expires_at
                                                                               - timedelta(seconds=1)),
                             sleep=lambda _: None).bookings
    assert in_time.confirm(other.appointment_id, Caller()).status == "scheduled"
    after = build_services(store.dynamodb, API_SETTINGS, clock=lambda: other.hold_expires_at + timedelta(hours=1),
                           sleep=lambda _: None).bookings
    assert after.confirm(other.appointment_id, Caller()).status == "scheduled"


# -- five unexpired holds a user --------------------------------------------------------------------------------

def test_a_sixth_unexpired_hold_is_409_too_many_holds_until_one_is_confirmed_released_or_expired(api, store, clock):
    held = [hold(api, minutes=5 + n, start=f"2026-12-0{n + 1}T09:00:00Z", end=f"2026-12-0{n + 1}T10:00:00Z")
            for n in range(5)]
    sixth = booking(hold=10, start="2026-12-08T09:00:00Z", end="2026-12-08T10:00:00Z")
    before = store.dynamodb.scan(TableName=store.calendar)["Items"]
    refused = api.post(body=sixth)
    assert (refused.status, refused.error) == (409, "TooManyHolds")
    assert store.dynamodb.scan(TableName=store.calendar)["Items"] == before
    assert api.post(body=booking(user="bob", hold=10)).status == 201  # another user's are their own
    assert api.post(body=booking(start="2026-12-09T09:00:00Z", end="2026-12-09T10:00:00Z")).status == 201

    api.post(f"/appointments/{held[0]['appointmentId']}/confirm")
    sixth_made = api.post(body=sixth).body
    assert api.post(body=booking(hold=10, start="2026-12-10T09:00:00Z", end="2026-12-10T10:00:00Z")).error \
        == "TooManyHolds"
    api.delete(f"/appointments/{sixth_made['appointmentId']}")
    assert api.post(body=booking(hold=10, start="2026-12-10T09:00:00Z", end="2026-12-10T10:00:00Z")).status == 201
    assert api.post(body=booking(hold=10, start="2026-12-11T09:00:00Z", end="2026-12-11T10:00:00Z")).error \
        == "TooManyHolds"
    clock.advance(minutes=6)  # held[1] (6 minutes) has expired
    assert api.post(body=booking(hold=10, start="2026-12-11T09:00:00Z", end="2026-12-11T10:00:00Z")).status == 201


# -- lists and agendas ---------------------------------------------------------------------------------------------

def test_lists_show_unexpired_holds_and_expired_ones_only_when_asked_for(api, clock):
    scheduled = api.post(body=booking(start="2026-12-01T08:00:00Z", end="2026-12-01T09:00:00Z")).body
    short = hold(api, minutes=2)
    long = hold(api, minutes=20, start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z")
    cancelled = api.post(body=booking(start="2026-12-01T12:00:00Z", end="2026-12-01T13:00:00Z")).body
    api.delete(f"/appointments/{cancelled['appointmentId']}")
    clock.advance(minutes=3)

    def listed(status=None):
        query = "userId=alice" + (f"&status={status}" if status else "")
        response = api.get("/appointments", query=query)
        assert response.status == 200, response.body
        return [(a["appointmentId"], a["status"]) for a in response.body["appointments"]]

    ids = {name: a["appointmentId"] for name, a in
           (("scheduled", scheduled), ("short", short), ("long", long), ("cancelled", cancelled))}
    assert listed() == [(ids["scheduled"], "scheduled"), (ids["long"], "held"), (ids["cancelled"], "cancelled")]
    assert listed("held") == [(ids["long"], "held")]
    assert listed("expired") == [(ids["short"], "expired")]
    assert listed("scheduled") == [(ids["scheduled"], "scheduled")]
    assert listed("cancelled") == [(ids["cancelled"], "cancelled")]
    assert api.get("/appointments", query="userId=alice&status=pending").body["field"] == "status"


def test_an_agenda_shows_scheduled_appointments_and_unexpired_holds_and_filters_either(api, clock):
    scheduled = api.post(body=booking(user="bob", participants=["room-1"], start="2026-12-01T08:00:00Z",
                                      end="2026-12-01T09:00:00Z")).body
    short = hold(api, minutes=2, participants=["room-1"])
    long = hold(api, minutes=20, participants=["room-1"], start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z")
    clock.advance(minutes=3)

    def agenda(status=None):
        response = api.get("/calendars/room-1/appointments", query=DAY + (f"&status={status}" if status else ""))
        return response.status, [a["appointmentId"] for a in response.body.get("appointments", [])]

    assert agenda() == (200, [scheduled["appointmentId"], long["appointmentId"]])
    assert agenda("held") == (200, [long["appointmentId"]])
    assert agenda("scheduled") == (200, [scheduled["appointmentId"]])
    assert short["appointmentId"] not in agenda()[1]
    for status in ("cancelled", "expired"):
        response = api.get("/calendars/room-1/appointments", query=f"{DAY}&status={status}")
        assert (response.status, response.body["field"]) == (400, "status")
        assert f"status={status}" in response.body["message"]  # points at the user's list


def test_a_hold_read_after_its_expiry_has_its_own_etag_so_a_cached_held_copy_is_not_kept(api, clock):
    held = hold(api)
    path = f"/appointments/{held['appointmentId']}"
    assert api.get(path).headers["ETag"] == '"1"'
    clock.advance(minutes=10)
    fresh = api.get(path, headers={"If-None-Match": '"1"'})
    assert (fresh.status, fresh.headers["ETag"], fresh.body["status"]) == (200, '"1-expired"', "expired")
    assert api.get(path, headers={"If-None-Match": '"1-expired"'}).status == 304
    calendar = api.get(path, headers={"Accept": "text/calendar", "If-None-Match": '"1-ics"'})
    assert (calendar.status, calendar.headers["ETag"]) == (200, '"1-expired-ics"')
    assert api.delete(path, headers={"If-Match": '"1-expired"'}).status == 200  # the same version


def test_a_replayed_hold_reads_as_it_is_now(api, clock):
    first = api.post(body=booking(hold=5), headers={"Idempotency-Key": "pay-1"})
    clock.advance(minutes=6)
    replayed = api.post(body=booking(hold=5), headers={"Idempotency-Key": "pay-1"})
    assert (replayed.status, replayed.headers["Idempotent-Replayed"]) == (201, "true")
    assert replayed.body == {**first.body, "status": "expired"}


def test_a_hold_reads_as_a_tentative_event_and_an_expired_one_as_cancelled(api, clock):
    held = hold(api)
    path = f"/appointments/{held['appointmentId']}"
    assert "STATUS:TENTATIVE" in api.get(path, headers={"Accept": "text/calendar"}).body
    clock.advance(minutes=10)
    assert "STATUS:CANCELLED" in api.get(path, headers={"Accept": "text/calendar"}).body


# -- what is stored ----------------------------------------------------------------------------------------------

def test_the_users_holds_item_counts_only_unexpired_holds_and_stays_when_empty(api, store, clock):
    first = hold(api, minutes=5)
    key = {"userId": {"S": "alice"}, "day": {"S": "holds"}}
    item = lambda: from_item(store.dynamodb.get_item(TableName=store.calendar, Key=key)["Item"])  # noqa: E731
    assert item()["holds"] == {first["appointmentId"]: "2026-11-25T12:05:00Z"}
    clock.advance(minutes=6)
    second = hold(api, minutes=5, start="2026-12-02T09:00:00Z", end="2026-12-02T10:00:00Z")
    assert item()["holds"] == {second["appointmentId"]: format_instant(clock() + __import__("datetime").timedelta(
        minutes=5))}
    api.post(f"/appointments/{second['appointmentId']}/confirm")
    assert (item()["holds"], item()["version"]) == ({}, 3)


def test_a_hold_in_the_seed_loader_occupies_as_a_booking_does(store, clock):
    """Bulk-loaded holds (benchmarks) make the same entries as booked ones."""
    from seeding import bulk_load

    held = new_appointment(booking(hold=10), appointment_id="h1", now=NOW)
    bulk_load(store, [held])
    assert bucket(store).entries["h1"].expires_at == held.hold_expires_at
