"""Bad input gets a clear 4xx in the API.md form and never harms stored data (issue "Hardening").

Each test here reproduces a defect found by attacking `make run`: before the fix it answered 500,
corrupted an appointment, or accepted what it should refuse.
"""

from __future__ import annotations

import base64
import json

import pytest

from conftest import Api, booking


def assert_error(response, status: int, code: str, field: str | None = None) -> None:
    assert response.status == status, response.body
    assert response.body["error"] == code
    assert response.body["message"]
    assert response.body["requestId"]
    if field:
        assert response.body.get("field") == field, response.body


# -- details keys (an empty key corrupted the stored item in moto) --------------------------------

@pytest.mark.parametrize("details", [{"": "x"}, {"k" * 129: "x"}])
def test_a_details_key_outside_1_to_128_characters_is_refused_on_create(api, store, details):
    assert_error(api.post(body=booking(details=details)), 400, "ValidationError", "details")
    for table in (store.table, store.calendar):
        assert store.dynamodb.scan(TableName=table)["Items"] == []


def test_a_details_key_of_128_characters_is_accepted(api):
    response = api.post(body=booking(details={"k" * 128: "x"}))
    assert response.status == 201
    assert api.get(f"/appointments/{response.body['appointmentId']}").body["details"] == {"k" * 128: "x"}


def test_an_empty_details_key_on_patch_is_refused_and_the_appointment_stays_usable(api):
    created = api.post(body=booking(details={"location": "Room 4"})).body
    path = f"/appointments/{created['appointmentId']}"
    assert_error(api.patch(path, {"details": {"": "x"}}), 400, "ValidationError", "details")
    assert api.get(path).body == created
    assert api.patch(path, {"details": {"title": "Check-up"}}).status == 200
    assert api.delete(path).body["status"] == "cancelled"


# -- time zones: canonical IANA zone names only ----------------------------------------------------

@pytest.mark.parametrize("zone", ["Europe", "America", "Etc", "localtime", "posix/Europe/Berlin",
                                  "right/UTC", "Europe/../UTC", "/etc/localtime", "", "Europe/Nowhere"])
def test_a_time_zone_that_is_not_a_canonical_zone_name_is_400(api, zone):
    assert_error(api.post(body=booking(timeZone=zone)), 400, "ValidationError", "timeZone")


def test_a_time_zone_directory_name_on_patch_is_400(api):
    created = api.post(body=booking()).body
    response = api.patch(f"/appointments/{created['appointmentId']}", {"timeZone": "Europe"})
    assert_error(response, 400, "ValidationError", "timeZone")


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"])
def test_canonical_zone_names_are_accepted(api, zone):
    assert api.post(body=booking(timeZone=zone)).status == 201


# -- times between 1970 and 9000 -------------------------------------------------------------------

@pytest.mark.parametrize(("start", "end"), [
    ("0001-01-01T00:00:00+14:00", "2026-12-01T10:00:00Z"),
    ("2026-12-01T09:00:00Z", "9999-12-31T23:00:00-12:00"),
    ("9999-12-30T10:00:00Z", "9999-12-30T11:00:00Z"),
    ("9000-01-01T00:00:01Z", "9000-01-01T01:00:00Z"),
    ("1969-12-31T23:00:00Z", "1970-01-01T01:00:00Z"),
])
def test_times_outside_1970_to_9000_are_400(api, store, start, end):
    response = api.post(body=booking(start=start, end=end))
    assert_error(response, 400, "ValidationError")
    assert response.body["field"] in ("startTime", "endTime")
    assert store.dynamodb.scan(TableName=store.table)["Items"] == []


def test_a_booking_that_ends_at_9000_is_accepted_and_stays_usable(api):
    created = api.post(body=booking(start="8999-12-31T23:00:00Z", end="9000-01-01T00:00:00Z"))
    assert created.status == 201, created.body
    path = f"/appointments/{created.body['appointmentId']}"
    assert api.get(path).body["endTime"] == "9000-01-01T00:00:00Z"
    assert api.delete(path).body["status"] == "cancelled"


def test_naive_times_at_the_edge_of_the_range_in_a_zone_are_400(api):
    body = booking(start="0001-01-01T00:00:00", end="0001-01-01T01:00:00", timeZone="Pacific/Kiritimati")
    assert_error(api.post(body=body), 400, "ValidationError", "startTime")


@pytest.mark.parametrize("query", [
    "userId=alice&from=0001-01-01T00:00:00Z",
    "userId=alice&to=0001-01-01T00:00:00%2B14:00",
    "userId=alice&from=9999-12-31T23:59:59-12:00",
])
def test_list_bounds_outside_the_range_are_400(api, query):
    response = api.get("/appointments", query=query)
    assert_error(response, 400, "ValidationError")
    assert response.body["field"] in ("from", "to")


@pytest.mark.parametrize("query", [
    "from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z",
    "from=9999-12-30T00:00:00Z&to=9999-12-31T00:00:00Z",
])
def test_busy_bounds_outside_the_range_are_400(api, query):
    assert_error(api.get("/users/alice/busy", query=query), 400, "ValidationError", "from")


def test_busy_echoes_its_bounds_in_the_canonical_form(api):
    body = api.get("/users/alice/busy", query="from=1970-01-01T00:00:00Z&to=1970-01-02T00:00:00%2B01:00").body
    assert (body["from"], body["to"]) == ("1970-01-01T00:00:00Z", "1970-01-01T23:00:00Z")


# -- query numbers: ASCII digits only --------------------------------------------------------------

@pytest.mark.parametrize("limit", ["\u00b2", "\u0661\u0660", "\uff15", "%2B5", "%205", "5.0", "-1", "1e1"])
def test_a_limit_that_is_not_plain_ascii_digits_is_400(api, limit):
    response = api.get("/appointments", query=f"userId=alice&limit={limit}")
    assert_error(response, 400, "ValidationError", "limit")


# -- idempotent replays come before the clock -------------------------------------------------------

def test_a_retry_after_the_start_time_has_passed_still_replays(api, clock):
    headers = {"Idempotency-Key": "late-retry"}
    first = api.post(body=booking(), headers=headers)
    assert first.status == 201
    clock.advance(days=10)  # the appointment started days ago
    retry = api.post(body=booking(), headers=headers)
    assert (retry.status, retry.headers.get("Idempotent-Replayed")) == (201, "true")
    assert retry.body == first.body


def test_a_retry_after_a_cancel_replays_the_cancelled_appointment(api, clock):
    headers = {"Idempotency-Key": "cancelled-retry"}
    first = api.post(body=booking(), headers=headers).body
    api.delete(f"/appointments/{first['appointmentId']}")
    clock.advance(days=10)
    retry = api.post(body=booking(), headers=headers)
    assert (retry.status, retry.body["status"], retry.body["appointmentId"]) == (201, "cancelled",
                                                                                 first["appointmentId"])


def test_a_new_key_for_a_past_start_is_still_400(api, clock):
    clock.advance(days=10)
    response = api.post(body=booking(), headers={"Idempotency-Key": "fresh"})
    assert_error(response, 400, "ValidationError", "startTime")


# -- nextToken is bound to the query's userId and must be one this API issued -----------------------

def first_page_token(api, user: str) -> str:
    for day in range(1, 4):
        assert api.post(body=booking(user=user, start=f"2026-12-0{day}T09:00:00Z",
                                     end=f"2026-12-0{day}T10:00:00Z")).status == 201
    token = api.get("/appointments", query=f"userId={user}&limit=1").body["nextToken"]
    assert token
    return token


def test_a_next_token_from_another_users_query_is_400(api):
    alice_token = first_page_token(api, "alice")
    first_page_token(api, "bob")
    response = api.get("/appointments", query=f"userId=bob&limit=1&nextToken={alice_token}")
    assert_error(response, 400, "ValidationError", "nextToken")


def forged(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("make_token", [
    lambda token: forged({"a": "x", "s": "2026-12-01T09:00:00Z"}),
    lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
    lambda token: token + "x",
    lambda token: "." + token,
    lambda token: "",
])
def test_a_next_token_this_api_did_not_issue_is_400(api, make_token):
    token = first_page_token(api, "alice")
    response = api.get("/appointments", query=f"userId=alice&limit=1&nextToken={make_token(token)}")
    assert_error(response, 400, "ValidationError", "nextToken")


def test_an_issued_token_still_pages_through_everything(api):
    token = first_page_token(api, "carol")
    rest = api.get("/appointments", query=f"userId=carol&limit=5&nextToken={token}").body
    assert [a["startTime"][:10] for a in rest["appointments"]] == ["2026-12-02", "2026-12-03"]
    assert rest["nextToken"] is None


def test_with_cognito_a_token_from_another_user_is_400(clock, services):
    import conflict_detector

    conflict_detector.use(services)
    alice, bob = Api(claims={"sub": "alice"}), Api(claims={"sub": "bob"})
    token = first_page_token(alice, "alice")
    assert_error(bob.get("/appointments", query=f"limit=1&nextToken={token}"), 400, "ValidationError", "nextToken")
