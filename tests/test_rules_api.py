"""Availability rules over the API: stored, enforced in the booking transaction, and the slots they offer."""

from __future__ import annotations

import pytest

from appointments.caller import Caller
from appointments.decision import Commit, Plan
from appointments.errors import StaleRead
from appointments.store import BookingStore
from conftest import booking

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NINE_TO_FIVE = {d: [{"start": "09:00", "end": "17:00"}] for d in WEEKDAYS}
WINDOW = "from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"  # NOW is 2026-11-25T12:00Z, a Wednesday


def put_rules(api, calendar="dr-smith", **rules):
    response = api.request("PUT", f"/calendars/{calendar}/availability", {"timeZone": "UTC", "weekly": NINE_TO_FIVE,
                                                                          **rules})
    assert response.status == 200, response.body
    return response.body


def book(api, user="alice", start="2026-12-01T09:00:00Z", end="2026-12-01T10:00:00Z", participants=("dr-smith",),
         **extra):
    return api.post(body=booking(user=user, start=start, end=end, participants=list(participants), **extra))


def unavailable(response) -> tuple:
    return response.status, response.error, response.body.get("calendarId"), response.body.get("reason")


# -- the rules themselves -----------------------------------------------------------------------------

def test_rules_are_stored_read_replaced_and_removed_with_a_version(api):
    assert api.get("/calendars/dr-smith/availability").status == 404
    first = put_rules(api, bufferAfter=10)
    assert (first["version"], first["bufferAfter"], first["weekly"]["mon"]) == (1, 10, [{"start": "09:00",
                                                                                          "end": "17:00"}])
    second = put_rules(api, maxPerDay=3)
    assert (second["version"], second["bufferAfter"], second["maxPerDay"]) == (2, 0, 3)
    assert api.get("/calendars/dr-smith/availability").body == second
    assert api.delete("/calendars/dr-smith/availability").status == 204
    assert api.delete("/calendars/dr-smith/availability").status == 204
    assert api.get("/calendars/dr-smith/availability").status == 404


def test_bad_rules_are_400_and_keep_the_rules_in_force(api):
    kept = put_rules(api)
    response = api.request("PUT", "/calendars/dr-smith/availability", {"timeZone": "UTC", "bufferAfter": 241})
    assert (response.status, response.body["field"]) == (400, "bufferAfter")
    assert api.get("/calendars/dr-smith/availability").body == kept


# -- enforcement: one test per reason ----------------------------------------------------------------------

def test_a_booking_outside_the_open_hours_is_409_unavailable(api, store):
    put_rules(api)
    response = book(api, start="2026-12-01T16:30:00Z", end="2026-12-01T17:30:00Z")
    assert unavailable(response) == (409, "Unavailable", "dr-smith", "outsideHours")
    assert store.dynamodb.scan(TableName=store.table)["Items"] == []
    assert book(api, start="2026-12-01T16:00:00Z", end="2026-12-01T17:00:00Z").status == 201


def test_minimum_notice_and_maximum_advance_are_enforced(api):
    put_rules(api, minimumNotice=60 * 24 * 7, maximumAdvance=30)
    assert unavailable(book(api))[3] == "minimumNotice"  # six days ahead
    assert book(api, start="2026-12-03T09:00:00Z", end="2026-12-03T10:00:00Z").status == 201
    assert unavailable(book(api, start="2026-12-28T09:00:00Z", end="2026-12-28T10:00:00Z"))[3] == "maximumAdvance"


def test_the_daily_cap_counts_scheduled_starts_on_the_local_date(api):
    put_rules(api, maxPerDay=2)
    first = book(api, user="u1").body
    assert book(api, user="u2", start="2026-12-01T11:00:00Z", end="2026-12-01T12:00:00Z").status == 201
    assert unavailable(book(api, user="u3", start="2026-12-01T13:00:00Z", end="2026-12-01T14:00:00Z"))[3] == \
        "dailyLimit"
    api.delete(f"/appointments/{first['appointmentId']}")  # a cancelled appointment does not count
    assert book(api, user="u3", start="2026-12-01T13:00:00Z", end="2026-12-01T14:00:00Z").status == 201


def test_an_auckland_daily_cap_counts_a_local_date_that_spans_two_utc_dates(api):
    put_rules(api, "clinic-nz", timeZone="Pacific/Auckland", maxPerDay=2,
              weekly={d: [{"start": "06:00", "end": "22:00"}] for d in WEEKDAYS})
    # 2026-12-02 in Auckland (UTC+13) runs from 2026-12-01T11:00Z to 2026-12-02T11:00Z
    assert book(api, user="u1", start="2026-12-01T19:00:00Z", end="2026-12-01T20:00:00Z",
                participants=["clinic-nz"]).status == 201  # 08:00 local on the 2nd
    assert book(api, user="u2", start="2026-12-02T08:00:00Z", end="2026-12-02T09:00:00Z",
                participants=["clinic-nz"]).status == 201  # 21:00 local on the 2nd
    third = book(api, user="u3", start="2026-12-01T21:00:00Z", end="2026-12-01T22:00:00Z", participants=["clinic-nz"])
    assert unavailable(third) == (409, "Unavailable", "clinic-nz", "dailyLimit")
    assert book(api, user="u3", start="2026-12-02T19:00:00Z", end="2026-12-02T20:00:00Z",
                participants=["clinic-nz"]).status == 201  # the 3rd local date


def test_buffers_widen_what_an_appointment_blocks_on_that_calendar(api):
    put_rules(api, bufferAfter=10)
    assert book(api).status == 201
    clash = book(api, user="bob", start="2026-12-01T10:05:00Z", end="2026-12-01T11:00:00Z")
    assert (clash.status, clash.body["conflicts"][0]["calendarId"]) == (409, "dr-smith")
    assert book(api, user="bob", start="2026-12-01T10:10:00Z", end="2026-12-01T11:00:00Z").status == 201
    # bob's own calendar has no buffers: his next appointment may follow at once
    assert book(api, user="bob", start="2026-12-01T11:00:00Z", end="2026-12-01T11:30:00Z",
                participants=()).status == 201


def test_a_change_of_buffers_applies_to_bookings_made_after_it(api):
    assert book(api).status == 201  # booked while dr-smith had no rules: no buffer
    put_rules(api, bufferBefore=30)
    assert book(api, user="bob", start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z").status == 409
    assert book(api, user="bob", start="2026-12-01T10:30:00Z", end="2026-12-01T11:30:00Z").status == 201


def test_a_move_or_an_added_participant_is_checked_against_the_rules(api):
    put_rules(api)
    put_rules(api, "room-4", weekly={"tue": [{"start": "13:00", "end": "17:00"}]})
    created = book(api).body
    path = f"/appointments/{created['appointmentId']}"
    assert unavailable(api.patch(path, {"startTime": "2026-12-01T18:00:00Z", "endTime": "2026-12-01T19:00:00Z"}))[3] \
        == "outsideHours"
    assert unavailable(api.patch(path, {"participants": ["dr-smith", "room-4"]}))[2] == "room-4"
    assert api.get(path).body == created
    moved = api.patch(path, {"startTime": "2026-12-01T13:00:00Z", "endTime": "2026-12-01T14:00:00Z",
                             "participants": ["dr-smith", "room-4"]})
    assert moved.status == 200


def test_changing_or_removing_rules_never_touches_existing_appointments(api):
    put_rules(api)
    created = book(api).body
    put_rules(api, weekly={})  # closed every day
    assert api.get(f"/appointments/{created['appointmentId']}").body == created
    api.delete("/calendars/dr-smith/availability")
    assert api.get(f"/appointments/{created['appointmentId']}").body == created


def test_a_commit_is_refused_when_the_rules_changed_after_they_were_read(api, bookings, store):
    put_rules(api)
    proposed = bookings.book(booking(start="2026-12-02T09:00:00Z", end="2026-12-02T10:00:00Z"), Caller())[0]
    writer = BookingStore(store)
    snapshot = writer.read(Plan(("dr-smith",), {"dr-smith": frozenset({"2026-12-01"})}))
    put_rules(api, weekly={})  # the rules the decision read are gone
    from dataclasses import replace

    with pytest.raises(StaleRead):
        writer.commit(Commit(((replace(proposed, appointment_id="other"), None),),
                             tuple((bucket, None) for bucket in snapshot.buckets.values()), snapshot.rule_versions))


# -- slots ---------------------------------------------------------------------------------------------------

def slots(api, calendar="dr-smith", query=WINDOW + "&duration=60", **kw):
    response = api.get(f"/calendars/{calendar}/slots", query=query, **kw)
    assert response.status == 200, response.body
    return [s["start"][11:16] for s in response.body["slots"]]


def test_slots_follow_the_windows_and_skip_what_is_taken_buffers_included(api):
    put_rules(api, bufferAfter=30)
    assert slots(api) == ["09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"]
    book(api, user="bob", start="2026-12-01T11:00:00Z", end="2026-12-01T12:00:00Z")
    # 10:00-11:00 would touch bob's appointment; 12:00 falls in its 30-minute buffer
    assert slots(api) == ["09:00", "13:00", "14:00", "15:00", "16:00"]
    assert slots(api, query=WINDOW + "&duration=60&step=30") == [
        "09:00", "09:30", "12:30", "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00"]


def test_slots_with_a_room_and_a_user_respect_every_calendar(api):
    put_rules(api)
    book(api, user="carol", start="2026-12-01T09:00:00Z", end="2026-12-01T10:00:00Z", participants=["room-4"])
    book(api, user="alice", start="2026-12-01T15:00:00Z", end="2026-12-01T16:00:00Z", participants=())
    assert slots(api, query=WINDOW + "&duration=60&with=room-4&userId=alice") == [
        "10:00", "11:00", "12:00", "13:00", "14:00", "16:00"]


def test_a_calendar_without_rules_offers_every_step_from_the_rounded_from(api):
    query = "from=2026-12-01T09:00:30Z&to=2026-12-01T11:00:00Z&duration=30"
    assert slots(api, "room-9", query) == ["09:01", "09:31", "10:01", "10:31"]


@pytest.mark.parametrize(("query", "field"), [
    (WINDOW, "duration"),
    (WINDOW + "&duration=4", "duration"),
    (WINDOW + "&duration=60&step=1441", "step"),
    (WINDOW + "&duration=60&with=dr-smith", "with"),
    (WINDOW + "&duration=60&with=a,a", "with"),
    (WINDOW + "&duration=60&with=" + ",".join(f"r{i}" for i in range(9)), "with"),
    ("from=2026-12-01T00:00:00Z&to=2027-01-02T00:00:00Z&duration=60", "to"),
])
def test_bad_slot_queries_get_400(api, query, field):
    response = api.get("/calendars/dr-smith/slots", query=query)
    assert (response.status, response.body.get("field")) == (400, field)


def test_every_offered_slot_books_and_a_refused_grid_candidate_is_refused(api):
    put_rules(api, bufferBefore=15, maxPerDay=3, overrides={"2026-12-01": [{"start": "10:00", "end": "13:00"}]})
    book(api, user="bob", start="2026-12-01T11:00:00Z", end="2026-12-01T11:30:00Z")
    offered = slots(api, query=WINDOW + "&duration=30&step=15")
    for minute in range(10 * 60, 13 * 60, 15):
        start = f"2026-12-01T{minute // 60:02d}:{minute % 60:02d}:00Z"
        end = f"2026-12-01T{(minute + 30) // 60:02d}:{(minute + 30) % 60:02d}:00Z"
        response = book(api, user=f"probe-{minute}", start=start, end=end)
        assert (response.status == 201) == (start[11:16] in offered), (start, offered, response.body)
        if response.status == 201:
            api.delete(f"/appointments/{response.body['appointmentId']}")


# -- Cognito ------------------------------------------------------------------------------------------------

def test_with_cognito_a_calendar_with_rules_is_bookable_and_readable_by_anyone(as_user):
    put_rules(as_user("dr-smith"))
    alice = as_user("alice")
    assert alice.post(body=booking(user="alice", participants=["dr-smith"])).status == 201
    assert alice.get("/calendars/dr-smith/busy", query=WINDOW).status == 200
    assert alice.get("/calendars/dr-smith/availability").status == 200
    assert alice.get("/calendars/dr-smith/slots", query=WINDOW + "&duration=60").status == 200
    assert alice.get("/calendars/dr-smith/appointments", query=WINDOW).status == 403  # the agenda stays private


@pytest.mark.parametrize(("sub", "groups", "status"), [("dr-smith", None, 200), ("boss", "calendar-admins", 200),
                                                       ("mallory", None, 403)])
def test_with_cognito_only_the_owner_or_an_admin_sets_the_rules(as_user, sub, groups, status):
    response = as_user(sub, groups).request("PUT", "/calendars/dr-smith/availability", {"timeZone": "UTC"})
    assert response.status == status
    assert as_user(sub, groups).request("DELETE", "/calendars/dr-smith/availability").status == (
        204 if status == 200 else 403)


def test_with_cognito_a_private_calendars_slots_are_its_owners(as_user):
    assert as_user("room-9").get("/calendars/room-9/slots", query=WINDOW + "&duration=60").status == 200
    assert as_user("alice").get("/calendars/room-9/slots", query=WINDOW + "&duration=60").status == 403


def test_a_conflict_caused_only_by_a_buffer_says_so_and_names_the_buffer(api):
    put_rules(api, bufferBefore=5, bufferAfter=10)
    assert book(api).status == 201  # 09:00-10:00 on dr-smith
    response = book(api, user="bob", start="2026-12-01T10:05:00Z", end="2026-12-01T10:35:00Z")
    assert (response.status, response.error) == (409, "Conflict")
    assert response.body["conflicts"] == [{"calendarId": "dr-smith", "startTime": "2026-12-01T09:00:00Z",
                                           "endTime": "2026-12-01T10:00:00Z"}]
    assert "do not overlap yours" in response.body["message"]
    assert "5 minutes before and 10 after" in response.body["message"]
    direct = book(api, user="carol", start="2026-12-01T09:30:00Z", end="2026-12-01T10:00:00Z")
    assert "buffer" not in direct.body["message"]
