"""Recurring series (API.md): every occurrence decided and booked in one transaction, or none."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import conflict_detector
from appointments.wiring import build_services
from conftest import API_SETTINGS, Api, CountingCalls

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def series(user="alice", start="2026-12-01T09:00:00Z", end="2026-12-01T09:50:00Z", **extra) -> dict:
    body = {"userId": user, "startTime": start, "endTime": end, "repeat": {"unit": "week", "count": 4}}
    return {**body, **extra}


def starts(response) -> list[str]:
    return [o["startTime"] for o in response.body["occurrences"]]


def stored_appointments(store) -> list[dict]:
    return store.dynamodb.scan(TableName=store.table)["Items"]


# -- the repeat rule ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("repeat", [
    {"unit": "month", "count": 3}, {"unit": "week"}, {"unit": "week", "count": 1}, {"unit": "week", "count": 53},
    {"unit": "week", "count": 3, "until": "2027-01-01"}, {"unit": "week", "every": 0, "count": 3},
    {"unit": "week", "every": 13, "count": 3}, {"unit": "week", "count": 3, "skip": "2026-12-08"},
    {"unit": "week", "count": 3, "skip": ["2026-12-8"]}, {"unit": "week", "count": 3, "often": True},
    {"unit": "day", "until": "2027-06-01"}, {"unit": "week", "until": "2026-12-05"}, "weekly",
    {"unit": "week", "count": 3, "skip": ["2026-12-0\N{ARABIC-INDIC DIGIT EIGHT}"]},
    {"unit": {}, "count": 3}, {"unit": ["week"], "count": 3}, {"unit": "week", "count": 3, "skip": [{}]},
    {"unit": "week", "count": True}, {"unit": "week", "every": 1.0, "count": 3},
])
def test_a_repeat_outside_the_rules_is_400_on_repeat_and_books_nothing(api, store, repeat):
    response = api.post("/series", series(repeat=repeat))
    assert (response.status, response.error, response.body.get("field")) == (400, "ValidationError", "repeat")
    assert stored_appointments(store) == []


@pytest.mark.parametrize("field", ["anyOf", "hold", "assign"])
def test_pools_and_holds_are_not_allowed_in_a_series(api, field):
    value = {"anyOf": ["a", "b"], "hold": 10, "assign": "inOrder"}[field]
    response = api.post("/series", series(**{field: value}))
    assert (response.status, response.body.get("field")) == (400, field)


def test_a_weekly_series_books_every_occurrence_as_an_ordinary_appointment(api):
    booked = api.post("/series", series(participants=["dr-smith"], details={"title": "Physiotherapy"},
                                        reminders=[1440]))
    assert booked.status == 201, booked.body
    assert booked.headers["Location"] == f"/series/{booked.body['seriesId']}"
    assert booked.body["repeat"] == {"every": 1, "unit": "week", "count": 4, "skip": []}
    assert starts(booked) == ["2026-12-01T09:00:00Z", "2026-12-08T09:00:00Z", "2026-12-15T09:00:00Z",
                              "2026-12-22T09:00:00Z"]
    for number, occurrence in enumerate(booked.body["occurrences"], start=1):
        assert (occurrence["seriesId"], occurrence["occurrence"]) == (booked.body["seriesId"], number)
        assert (occurrence["participants"], occurrence["details"], occurrence["reminders"]) == (
            ["dr-smith"], {"title": "Physiotherapy"}, [1440])
        assert api.get(f"/appointments/{occurrence['appointmentId']}").body == occurrence
    agenda = api.get("/calendars/dr-smith/appointments", query="from=2026-12-01T00:00:00Z&to=2026-12-31T00:00:00Z")
    assert [a["startTime"] for a in agenda.body["appointments"]] == starts(booked)
    assert api.get(f"/series/{booked.body['seriesId']}").body == booked.body


def test_every_and_skip_and_until(api):
    daily = api.post("/series", series(repeat={"unit": "day", "every": 2, "until": "2026-12-09",
                                               "skip": ["2026-12-05"]}))
    assert [s[:10] for s in starts(daily)] == ["2026-12-01", "2026-12-03", "2026-12-07", "2026-12-09"]
    counted = api.post("/series", series(user="bob", repeat={"unit": "week", "count": 3, "skip": ["2026-12-08"]}))
    assert [s[:10] for s in starts(counted)] == ["2026-12-01", "2026-12-15", "2026-12-22"]  # counts those made


# -- daylight saving ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("zone", "first", "expected"), [
    # Berlin leaves summer time on 2026-10-25 and starts it on 2027-03-28: 09:00 local stays 09:00
    ("Europe/Berlin", "2026-10-18T09:00:00", ["2026-10-18T07:00:00Z", "2026-10-25T08:00:00Z"]),
    ("Europe/Berlin", "2027-03-21T09:00:00", ["2027-03-21T08:00:00Z", "2027-03-28T07:00:00Z"]),
    ("America/New_York", "2026-10-25T09:00:00", ["2026-10-25T13:00:00Z", "2026-11-01T14:00:00Z"]),
    ("America/New_York", "2027-03-07T09:00:00", ["2027-03-07T14:00:00Z", "2027-03-14T13:00:00Z"]),
])
def test_occurrences_keep_their_local_wall_time_across_daylight_saving_changes(api, clock, zone, first, expected):
    clock.now = datetime(2026, 10, 1, tzinfo=ZoneInfo("UTC"))
    end = (datetime.fromisoformat(first) + timedelta(minutes=50)).isoformat()
    booked = api.post("/series", series(start=first, end=end, timeZone=zone, repeat={"unit": "week", "count": 2}))
    assert booked.status == 201, booked.body
    assert starts(booked) == expected
    durations = {datetime.fromisoformat(o["endTime"]) - datetime.fromisoformat(o["startTime"])
                 for o in booked.body["occurrences"]}
    assert durations == {timedelta(minutes=50)}


@pytest.mark.parametrize(("zone", "first"), [("Europe/Berlin", "2027-03-21T02:30:00"),
                                             ("America/New_York", "2027-03-07T02:30:00")])
def test_a_wall_time_the_clocks_skip_on_an_occurrences_date_refuses_the_series(api, store, clock, zone, first):
    clock.now = datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC"))
    end = (datetime.fromisoformat(first) + timedelta(minutes=30)).isoformat()
    refused = api.post("/series", series(start=first, end=end, timeZone=zone, repeat={"unit": "week", "count": 3}))
    assert (refused.status, refused.error) == (409, "SeriesUnavailable")
    second = datetime.fromisoformat(first) + timedelta(days=7)  # the day the clocks go forward
    assert refused.body["occurrences"] == [{"occurrence": 2, "startTime": second.isoformat(), "error": "Unavailable",
                                            "reason": "nonexistentTime"}]
    assert stored_appointments(store) == []
    skipped = {**series(start=first, end=end, timeZone=zone),
               "repeat": {"unit": "week", "count": 3, "skip": [second.date().isoformat()]}}
    assert api.post("/series", skipped).status == 201


# -- all or nothing ---------------------------------------------------------------------------------------------

def test_a_series_with_any_occurrence_refused_books_nothing_and_lists_every_refused_one(api, store):
    rules = {"timeZone": "UTC", "weekly": {d: [{"start": "08:00", "end": "17:00"}] for d in WEEKDAYS},
             "overrides": {"2026-12-15": []}}
    api.request("PUT", "/calendars/dr-smith/availability", rules)
    api.post(body={"userId": "bob", "participants": ["dr-smith"], "startTime": "2026-12-08T09:30:00Z",
                   "endTime": "2026-12-08T10:00:00Z"})
    before = stored_appointments(store)
    refused = api.post("/series", series(participants=["dr-smith"]))
    assert (refused.status, refused.error) == (409, "SeriesUnavailable")
    assert refused.body["occurrences"] == [
        {"occurrence": 2, "startTime": "2026-12-08T09:00:00Z", "endTime": "2026-12-08T09:50:00Z", "error": "Conflict",
         "conflicts": [{"calendarId": "dr-smith", "startTime": "2026-12-08T09:30:00Z",
                        "endTime": "2026-12-08T10:00:00Z"}]},
        {"occurrence": 3, "startTime": "2026-12-15T09:00:00Z", "endTime": "2026-12-15T09:50:00Z",
         "error": "Unavailable", "calendarId": "dr-smith", "reason": "outsideHours"}]
    assert stored_appointments(store) == before
    retried = api.post("/series", series(participants=["dr-smith"], repeat={
        "unit": "week", "count": 2, "skip": ["2026-12-08", "2026-12-15"]}))
    assert starts(retried) == ["2026-12-01T09:00:00Z", "2026-12-22T09:00:00Z"]


def test_occurrences_are_decided_against_the_occurrences_before_them(api):
    api.request("PUT", "/calendars/dr-smith/availability", {"timeZone": "UTC", "maxPerDay": 1, "weekly": {
        d: [{"start": "00:00", "end": "24:00"}] for d in WEEKDAYS}})
    daily_twice = series(participants=["dr-smith"], end="2026-12-01T10:00:00Z",
                         repeat={"unit": "day", "count": 2})
    assert api.post("/series", daily_twice).status == 201
    clash = api.post("/series", series(user="bob", start="2026-12-03T09:00:00Z", end="2026-12-03T09:30:00Z",
                                       participants=["dr-smith"], repeat={"unit": "day", "count": 2}))
    assert clash.status == 201  # the 3rd and 4th were free
    # one series whose own occurrences overlap each other: a day apart but two days long
    overlapping = api.post("/series", series(user="carol", end="2026-12-03T09:00:00Z",
                                             repeat={"unit": "day", "count": 2}))
    assert (overlapping.status, overlapping.body["occurrences"][0]["occurrence"]) == (409, 2)


def test_the_whole_series_is_one_read_and_one_transaction_for_a_small_series(store, clock):
    counting = CountingCalls(store.dynamodb)
    conflict_detector.use(build_services(counting, API_SETTINGS, clock=clock))
    assert Api().post("/series", series(participants=["dr-smith"])).status == 201
    assert [name for name, _ in counting.calls] == ["batch_get_item", "transact_write_items"]
    # 4 appointments, 4 x 2 buckets, 2 rules checks and the series' record
    assert len(counting.calls[1][1]["TransactItems"]) == 4 + 8 + 2 + 1


def test_a_weekly_series_of_a_user_and_a_provider_fits_24_occurrences_and_more_names_the_largest(api, store):
    api.request("PUT", "/calendars/dr-smith/availability", {"timeZone": "Europe/Berlin", "maxPerDay": 5, "weekly": {
        d: [{"start": "00:00", "end": "24:00"}] for d in WEEKDAYS}})  # the daily cap reads two UTC days a date
    fits = api.post("/series", series(participants=["dr-smith"], repeat={"unit": "week", "count": 24}))
    assert (fits.status, len(fits.body["occurrences"])) == (201, 24)
    too_many = api.post("/series", series(user="bob", participants=["dr-smith"],
                                          start="2026-12-02T09:00:00Z", end="2026-12-02T09:50:00Z",
                                          repeat={"unit": "week", "count": 52}))
    assert (too_many.status, too_many.body["field"]) == (400, "repeat")
    assert "at most 24 occurrences" in too_many.body["message"]
    assert api.post("/series", series(user="bob", participants=["dr-smith"], start="2026-12-02T09:00:00Z",
                                      end="2026-12-02T09:50:00Z", repeat={"unit": "week", "count": 24})).status == 201


# -- idempotency, reading and cancelling -----------------------------------------------------------------------

def test_a_retry_with_the_same_key_replays_the_series_and_another_body_is_422(api, clock):
    key = {"Idempotency-Key": "physio-2026"}
    first = api.post("/series", series(), headers=key)
    again = api.post("/series", series(), headers=key)
    assert (again.status, again.headers["Idempotent-Replayed"], again.body) == (201, "true", first.body)
    clock.advance(days=30)  # the first start has passed: the replay is still found first
    assert api.post("/series", series(), headers=key).body["seriesId"] == first.body["seriesId"]
    other = api.post("/series", series(end="2026-12-01T10:00:00Z"), headers=key)
    assert (other.status, other.error) == (422, "IdempotencyKeyReused")


def test_cancelling_from_n_cancels_that_one_and_later_ones_in_one_transaction(api, store, clock):
    booked = api.post("/series", series(participants=["dr-smith"])).body
    ids = [o["appointmentId"] for o in booked["occurrences"]]
    api.patch(f"/appointments/{ids[3]}", {"startTime": "2026-12-23T09:00:00Z", "endTime": "2026-12-23T09:50:00Z"})
    counting = CountingCalls(store.dynamodb)
    conflict_detector.use(build_services(counting, API_SETTINGS, clock=clock))
    cancelled = Api().delete(f"/series/{booked['seriesId']}", query="from=3")
    assert [o["status"] for o in cancelled.body["occurrences"]] == ["scheduled", "scheduled", "cancelled",
                                                                   "cancelled"]
    assert [name for name, _ in counting.calls].count("transact_write_items") == 1
    busy = Api().get("/calendars/dr-smith/busy", query="from=2026-12-01T00:00:00Z&to=2026-12-31T00:00:00Z").body
    assert [b["start"][:10] for b in busy["busy"]] == ["2026-12-01", "2026-12-08"]
    assert Api().get(f"/series/{booked['seriesId']}").body == cancelled.body


def test_cancelling_a_series_leaves_occurrences_that_have_started_and_defaults_to_all(api, clock):
    booked = api.post("/series", series()).body
    clock.now = datetime(2026, 12, 8, 9, 30, tzinfo=ZoneInfo("UTC"))  # the second has started
    cancelled = api.delete(f"/series/{booked['seriesId']}")
    assert [o["status"] for o in cancelled.body["occurrences"]] == ["scheduled", "scheduled", "cancelled",
                                                                   "cancelled"]


def test_one_occurrence_is_changed_or_cancelled_alone(api):
    booked = api.post("/series", series()).body
    second = booked["occurrences"][1]["appointmentId"]
    assert api.delete(f"/appointments/{second}").body["status"] == "cancelled"
    now = api.get(f"/series/{booked['seriesId']}").body["occurrences"]
    assert [o["status"] for o in now] == ["scheduled", "cancelled", "scheduled", "scheduled"]


@pytest.mark.parametrize("query", ["from=0", "from=53", "from=x", "fro=1"])
def test_a_bad_from_is_400(api, query):
    booked = api.post("/series", series()).body
    assert api.delete(f"/series/{booked['seriesId']}", query=query).status == 400


def test_an_unknown_series_is_404_and_under_cognito_a_series_is_its_users(api, as_user):
    assert api.get("/series/nope").status == 404
    booked = as_user("alice").post("/series", series()).body
    assert as_user("bob").get(f"/series/{booked['seriesId']}").status == 404
    assert as_user("bob").delete(f"/series/{booked['seriesId']}").status == 404
    assert as_user("bob").post("/series", series()).status == 403


# -- the brute-force model ----------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10), st.sampled_from([1, 2, 3])), min_size=1, max_size=4),
       st.integers(0, 10), st.sampled_from(["day", "week"]), st.integers(2, 5), st.sampled_from([1, 3, 30]))
def test_a_series_is_booked_exactly_when_each_occurrence_would_be_booked_alone_in_order(
        services, existing, first_day, unit, count, hours):
    """Random single bookings of one user, then a series over them: it is booked (whole) exactly when every
    occurrence, booked alone in order, would be; and otherwise nothing of it exists."""
    import uuid

    user = f"model-{uuid.uuid4().hex[:8]}"
    api = Api()
    conflict_detector.use(services)
    taken = []
    for day, length in existing:
        start = datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("UTC")) + timedelta(days=day)
        if api.post(body={"userId": user, "startTime": start.isoformat(),
                          "endTime": (start + timedelta(hours=length)).isoformat()}).status == 201:
            taken.append((start, start + timedelta(hours=length)))
    start = datetime(2026, 12, 1, 8, tzinfo=ZoneInfo("UTC")) + timedelta(days=first_day)
    step = timedelta(days=1 if unit == "day" else 7)
    wanted = [(start + n * step, start + n * step + timedelta(hours=hours)) for n in range(count)]
    model, alone = list(taken), True
    for begin, end in wanted:  # in order, each against what is there and the occurrences before it
        if any(begin < e and b < end for b, e in model):
            alone = False
        model.append((begin, end))
    response = api.post("/series", {"userId": user, "startTime": start.isoformat(),
                                    "endTime": (start + timedelta(hours=hours)).isoformat(),
                                    "repeat": {"unit": unit, "count": count}})
    assert (response.status == 201) == alone, response.body
    listed = api.get("/appointments", query=f"userId={user}&limit=100").body["appointments"]
    assert len(listed) == len(taken) + (count if alone else 0)
