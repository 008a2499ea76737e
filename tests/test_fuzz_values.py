"""Arbitrary JSON values and strings through every route, beyond what the OpenAPI document describes.

schemathesis (test_fuzz.py) sends what the schema allows and a little around it; this sends what
an attacker would: Unicode digits, directory-like zone names, years at the edges of what Python
holds, odd map keys, wrong types everywhere. Whatever arrives:
- no answer is a 5xx, and every error body is in the API.md form;
- every appointment that was accepted can still be read, listed, changed and cancelled.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import conflict_detector
from conftest import NOW, Api, Clock, module_moto_store

ERROR_CODES = {400: {"ValidationError"}, 403: {"Forbidden"}, 404: {"NotFound"},
               409: {"Conflict", "Unavailable", "NoneAvailable", "SeriesUnavailable", "AppointmentCancelled",
                     "HoldExpired", "TooManyHolds", "OutcomeNotRecordable"},
               422: {"IdempotencyKeyReused"}}
# The members of an error body (API.md, "Errors"): Unavailable names the calendar and the reason.
ERROR_FIELDS = {"error", "message", "requestId", "field", "conflicts", "calendarId", "reason", "calendars",
                "occurrences"}

NASTY = ["Europe", "America", "Etc", "localtime", "posix/Europe/Berlin", "right/UTC", "Europe/../UTC", "UTC",
         "Europe/Berlin", "\u00b2", "\u0661\u0660", "\uff15", "5", "0", "-1", "1e3", "", " ", "\x00", "%00",
         "0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-12:00", "9999-12-30T10:00:00Z",
         "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "9000-01-01T00:00:00Z", "8999-12-31T23:00:00Z",
         "2026-12-01T09:00:00", "2026-03-29T02:30:00", "2026-12-01T09:00:00.999999+02:00", "2026-13-01T00:00:00Z",
         "scheduled", "cancelled", "alice", "a" * 129, "null", "[]", "{}"]

strings = st.one_of(st.sampled_from(NASTY), st.text(max_size=40))
times = st.builds(lambda y, mo, d, h, offset: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:00:00{offset}",
                  st.sampled_from([1, 1969, 1970, 2026, 2027, 8999, 9000, 9999]), st.integers(1, 12),
                  st.integers(1, 28), st.integers(0, 23), st.sampled_from(["Z", "+14:00", "-12:00", "", "+02:00"]))
future = st.builds(lambda year, month, day, hour, length: (f"{year}-{month:02d}-{day:02d}T{hour:02d}:00:00Z",
                                                          f"{year}-{month:02d}-{day:02d}T{hour + length:02d}:00:00Z"),
                   st.integers(2027, 8999), st.integers(1, 12), st.integers(1, 28), st.integers(0, 20),
                   st.integers(1, 3))  # a wide space, so that examples rarely collide in the shared tables
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
    max_leaves=8)
users = st.sampled_from(["alice", "bob", "x" * 128]) | strings
CALENDARS = ["dr-smith", "room-4", "alice", "bob"]
calendars = st.sampled_from(CALENDARS) | strings


@st.composite
def create_bodies(draw) -> dict:
    """A valid booking, then each field replaced by junk one time in eight, and maybe an unknown field."""
    start, end = draw(future)
    user = draw(st.sampled_from(["alice", "bob", "x" * 128]))
    body = {"userId": user, "startTime": start, "endTime": end,
            "participants": draw(st.lists(st.sampled_from([c for c in CALENDARS if c != user]), unique=True))}
    for name, values in (("startTime", times | json_values), ("endTime", times | json_values),
                         ("timeZone", strings | json_values), ("reminders", json_values),
                         ("participants", st.lists(calendars, max_size=10) | json_values),
                         ("details", st.dictionaries(strings, strings | json_values, max_size=3) | json_values),
                         ("userId", users | json_values)):
        if draw(st.integers(0, 7)) == 0:
            body[name] = draw(values)
    if draw(st.integers(0, 3)) == 0:  # a pool: members, sometimes junk, sometimes with an assign policy
        body["anyOf"] = draw(st.lists(st.sampled_from(["stylist-a", "stylist-b", "room-4"]) | calendars,
                                      max_size=4) | json_values)
        if draw(st.booleans()):
            body["assign"] = draw(st.sampled_from(["inOrder", "balanced"]) | strings | json_values)
    if draw(st.integers(0, 3)) == 0:
        body.update(draw(st.dictionaries(strings, json_values, max_size=1)))
    return body


@st.composite
def patch_bodies(draw) -> dict:
    names = ["startTime", "endTime", "timeZone", "participants", "details", "reminders", "status", "userId", "colour"]
    chosen = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    return {name: draw(times | strings | json_values | st.dictionaries(strings, strings, max_size=3))
            for name in chosen}


windows = st.builds(lambda day, days, extra: {"from": f"2026-12-{day:02d}T00:00:00Z",
                                              "to": f"2026-12-{day + days:02d}T00:00:00Z", **extra},
                   st.integers(1, 10), st.integers(1, 5),
                   st.dictionaries(st.sampled_from(["limit", "nextToken"]), strings, max_size=1))
queries = st.dictionaries(st.sampled_from(["userId", "from", "to", "status", "limit", "nextToken", "sort"]),
                          times | strings, max_size=5) | windows
operations = st.lists(st.one_of(
    st.tuples(st.just("book"), create_bodies()),
    st.tuples(st.just("book"), create_bodies()),  # twice: most examples should book something
    st.tuples(st.just("raw"), st.binary(max_size=64) | st.text(max_size=64).map(str.encode)),
    st.tuples(st.just("list"), queries),
    st.tuples(st.just("busy"), users, queries),
    st.tuples(st.just("calendar"), st.sampled_from(["busy", "appointments", "availability"]), calendars, queries),
    st.tuples(st.just("slots"), calendars, windows, st.dictionaries(
        st.sampled_from(["duration", "step", "with", "userId"]), strings | st.sampled_from(["30", "60", "room-4"]),
        max_size=4)),
    st.tuples(st.just("rules"), st.sampled_from(["dr-smith", "room-4"]), st.one_of(
        json_values, st.fixed_dictionaries({"timeZone": st.sampled_from(["UTC", "Europe/Berlin"]) | strings}, optional={
            "weekly": st.dictionaries(st.sampled_from(["mon", "tue", "sun"]) | strings, st.lists(
                st.fixed_dictionaries({"start": st.sampled_from(["09:00", "24:00", "9"]) | strings,
                                       "end": st.sampled_from(["17:00", "24:00"]) | strings}), max_size=3), max_size=3),
            "overrides": st.dictionaries(st.sampled_from(["2026-12-24", "2026-02-30"]) | strings, st.just([]),
                                         max_size=2),
            "bufferAfter": json_values, "maxPerDay": json_values, "minimumNotice": json_values,
            "maximumAdvance": json_values}))),
    st.tuples(st.just("patch"), patch_bodies()),
    st.tuples(st.just("series"), create_bodies(), st.fixed_dictionaries(
        {"unit": st.sampled_from(["day", "week"]) | strings | json_values},
        optional={"count": st.integers(-1, 60) | json_values, "every": st.integers(0, 13) | json_values,
                  "until": st.sampled_from(["2027-01-31", "2027-02-30"]) | strings | json_values,
                  "skip": st.lists(strings, max_size=2) | json_values}) | json_values),
    st.tuples(st.just("pool slots"), windows, st.dictionaries(
        st.sampled_from(["anyOf", "duration", "step", "with", "userId"]),
        strings | st.sampled_from(["stylist-a,stylist-b", "30", "room-4", "stylist-a,,b"]), max_size=5)),
    st.tuples(st.just("get"), strings),
), min_size=1, max_size=8)


@pytest.fixture(scope="module")
def moto_store():
    with module_moto_store(clock=Clock(NOW)) as store:
        yield store


@pytest.fixture
def api(moto_store):
    conflict_detector.use(moto_store)
    return Api()


def checked(response):
    """Every answer: below 500, and an error body in the API.md form."""
    assert response.status < 500, response.body
    if response.status >= 400:
        assert set(response.body) <= ERROR_FIELDS, response.body
        assert response.body["error"] in ERROR_CODES[response.status], response.body
        assert isinstance(response.body["message"], str)
        assert response.body["message"]
        assert response.body["requestId"]
    return response


def still_usable(api: Api, appointment: dict) -> None:
    path = f"/appointments/{appointment['appointmentId']}"
    assert checked(api.get(path)).status == 200
    window = urlencode({"from": appointment["startTime"], "to": appointment["endTime"]})
    calendars_occupied = [appointment["userId"], *appointment["participants"], *filter(None, [appointment.get(
        "assigned")])]
    for calendar_id in calendars_occupied:  # every calendar shows it
        shown = checked(api.get(f"/calendars/{quote(calendar_id, safe='')}/appointments", query=window))
        assert shown.status == 200, shown.body
        assert appointment["appointmentId"] in [a["appointmentId"] for a in shown.body["appointments"]]
    listed = checked(api.get("/appointments", query=urlencode({"userId": appointment["userId"], "limit": "100"})))
    assert listed.status == 200
    changed = checked(api.patch(path, {"details": {"note": "still mine"}}))
    assert changed.status == 200 or changed.error == "AppointmentCancelled"
    assert checked(api.delete(path)).body["status"] == "cancelled"


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations)
def test_arbitrary_input_never_gets_a_5xx_and_never_harms_an_accepted_appointment(api, steps):
    accepted: list[dict] = []
    for step in steps:
        kind, *args = step
        if kind == "book":
            response = checked(api.post(body=args[0]))
            if response.status == 201:
                accepted.append(response.body)
        elif kind == "raw":
            checked(api.post(raw=args[0]))
        elif kind == "list":
            checked(api.get("/appointments", query=urlencode(args[0])))
        elif kind == "busy":
            checked(api.get(f"/users/{quote(str(args[0]), safe='')}/busy", query=urlencode(args[1])))
        elif kind == "calendar":
            checked(api.get(f"/calendars/{quote(str(args[1]), safe='')}/{args[0]}", query=urlencode(args[2])))
        elif kind == "slots":
            slots_path = f"/calendars/{quote(str(args[0]), safe='')}/slots"
            checked(api.get(slots_path, query=urlencode({**args[1], **args[2]})))
        elif kind == "rules":
            checked(api.request("PUT", f"/calendars/{args[0]}/availability", args[1]))
        elif kind == "patch" and accepted:
            response = checked(api.patch(f"/appointments/{accepted[-1]['appointmentId']}", args[0]))
            if response.status == 200:
                accepted[-1] = response.body
        elif kind == "get":
            checked(api.get(f"/appointments/{quote(args[0], safe='')}"))
        elif kind == "series":
            response = checked(api.post("/series", {**args[0], "repeat": args[1]}))
            if response.status == 201:
                accepted.extend(response.body["occurrences"])
        elif kind == "pool slots":
            checked(api.get("/slots", query=urlencode({**args[0], **args[1]})))
    event(f"accepted bookings: {min(len(accepted), 2)}{'+' if len(accepted) > 2 else ''}")
    event(f"accepted with participants: {any(a['participants'] for a in accepted)}")
    for appointment in accepted:
        still_usable(api, appointment)
    json.dumps(accepted)  # every accepted appointment is plain JSON
