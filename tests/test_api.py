"""The HTTP contract of API.md, through conflict_detector.handler and real proxy events, on moto tables."""

from __future__ import annotations

import json

import pytest

import conflict_detector
from appointments.wiring import build_services
from conftest import API_SETTINGS, Api, CancelledTransactions, Flaky, booking, emf_blobs, emitted_metrics

# -- book -----------------------------------------------------------------------------------------


def test_booking_returns_201_with_the_appointment_and_location(api):
    response = api.post(body=booking(details={"location": "Room 4"}))
    assert response.status == 201
    body = response.body
    assert response.headers["Location"] == f"/appointments/{body['appointmentId']}"
    assert {k: body[k] for k in ("userId", "startTime", "endTime", "timeZone", "reminders", "status", "version")} == {
        "userId": "alice", "startTime": "2026-12-01T09:00:00Z", "endTime": "2026-12-01T10:00:00Z",
        "timeZone": "UTC", "reminders": [1440, 60], "status": "scheduled", "version": 1}
    assert body["createdAt"] == body["updatedAt"] == "2026-11-25T12:00:00Z"


def test_booking_normalises_offsets_to_utc(api):
    response = api.post(body=booking(start="2026-12-01T11:00:00.5+02:00", end="2026-12-01T12:00:00+02:00"))
    assert (response.body["startTime"], response.body["endTime"]) == ("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")


def test_back_to_back_bookings_are_accepted(api):
    assert api.post(body=booking(start="2026-12-01T09:00:00Z", end="2026-12-01T10:00:00Z")).status == 201
    assert api.post(body=booking(start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z")).status == 201
    assert api.post(body=booking(start="2026-12-01T08:00:00Z", end="2026-12-01T09:00:00Z")).status == 201


@pytest.mark.parametrize(("start", "end"), [
    ("2026-12-01T08:30:00Z", "2026-12-01T09:30:00Z"),  # overlaps the start edge
    ("2026-12-01T09:30:00Z", "2026-12-01T10:30:00Z"),  # overlaps the end edge
    ("2026-12-01T09:15:00Z", "2026-12-01T09:45:00Z"),  # contained
    ("2026-12-01T08:00:00Z", "2026-12-01T11:00:00Z"),  # contains
    ("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"),  # identical
])
def test_overlapping_booking_is_refused_with_the_conflicts(api, start, end):
    first = api.post(body=booking()).body
    response = api.post(body=booking(start=start, end=end))
    assert response.status == 409
    assert response.error == "Conflict"
    assert response.body["conflicts"] == [{"calendarId": "alice", "appointmentId": first["appointmentId"],
                                           "startTime": first["startTime"], "endTime": first["endTime"]}]
    assert response.body["requestId"]


def test_a_five_hour_appointment_blocks_a_later_overlapping_one(api):
    assert api.post(body=booking(start="2026-12-01T08:00:00Z", end="2026-12-01T13:00:00Z")).status == 201
    assert api.post(body=booking(start="2026-12-01T12:30:00Z", end="2026-12-01T13:30:00Z")).status == 409


def test_a_three_day_appointment_blocks_an_overlap_on_its_last_day(api):
    assert api.post(body=booking(start="2026-12-01T08:00:00Z", end="2026-12-04T08:00:00Z")).status == 201
    assert api.post(body=booking(start="2026-12-04T07:00:00Z", end="2026-12-04T09:00:00Z")).status == 409
    assert api.post(body=booking(start="2026-12-04T08:00:00Z", end="2026-12-04T09:00:00Z")).status == 201


def test_mixed_offsets_describing_one_instant_conflict(api):
    assert api.post(body=booking(start="2026-12-01T09:00:00Z", end="2026-12-01T10:00:00Z")).status == 201
    clash = api.post(body=booking(start="2026-12-01T11:00:00+02:00", end="2026-12-01T11:30:00+02:00"))
    assert clash.status == 409


def test_naive_time_with_time_zone_across_dst_lands_on_the_right_instant(api):
    before = api.post(body=booking(start="2027-03-27T09:00:00", end="2027-03-27T10:00:00", timeZone="Europe/Berlin"))
    after = api.post(body=booking(start="2027-03-29T09:00:00", end="2027-03-29T10:00:00", timeZone="Europe/Berlin"))
    assert (before.status, after.status) == (201, 201)
    assert before.body["startTime"] == "2027-03-27T08:00:00Z"
    assert after.body["startTime"] == "2027-03-29T07:00:00Z"
    assert after.body["timeZone"] == "Europe/Berlin"


def test_bookings_by_different_users_never_conflict(api):
    assert api.post(body=booking(user="alice")).status == 201
    assert api.post(body=booking(user="bob")).status == 201


# -- validation: bad input gets a clear 400 and stores nothing ------------------------------------

@pytest.mark.parametrize(("raw", "fragment"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ("", "JSON object body"),
    ("{" * 10000 + "}" * 10000, "body is"),
    (b"\xff\xfe{}", "not UTF-8 text"),
    (json.dumps(booking(details={"notes": "x" * 20000})), "limit is 16384"),
])
def test_malformed_and_huge_bodies_get_400(api, store, raw, fragment):
    response = api.post(raw=raw)
    assert response.status == 400
    assert response.error == "ValidationError"
    assert fragment in response.body["message"]
    assert_nothing_stored(store)


@pytest.mark.parametrize(("body", "field"), [
    ({"startTime": "2026-12-01T09:00:00Z", "endTime": "2026-12-01T10:00:00Z"}, "userId"),
    (booking(end="2026-12-01T08:00:00Z"), "endTime"),
    (booking(end="2026-12-09T10:00:00Z"), "endTime"),
    (booking(start="2026-11-20T09:00:00Z", end="2026-11-20T10:00:00Z"), "startTime"),
    (booking(start="2026-12-01T09:00:00"), "startTime"),
    (booking(start=20261201), "startTime"),
    (booking(user=["alice"]), "userId"),
    (booking(appointmentId="mine"), "appointmentId"),
    (booking(status="cancelled"), "status"),
    (booking(priority="high"), "priority"),
    (booking(reminders=[60, 60]), "reminders"),
    (booking(reminders="60"), "reminders"),
    (booking(details="Room 4"), "details"),
    (booking(timeZone="Nowhere/Special"), "timeZone"),
])
def test_invalid_fields_get_400_naming_the_field(api, store, body, field):
    response = api.post(body=body)
    assert (response.status, response.error, response.body.get("field")) == (400, "ValidationError", field)
    assert response.body["message"].endswith((".", "-"))
    assert_nothing_stored(store)


def assert_nothing_stored(store) -> None:
    for table in (store.table, store.calendar):
        assert store.dynamodb.scan(TableName=table)["Items"] == []


# -- read, list -------------------------------------------------------------------------------------

def test_get_returns_the_appointment(api):
    created = api.post(body=booking()).body
    response = api.get(f"/appointments/{created['appointmentId']}")
    assert (response.status, response.body) == (200, created)


def test_get_of_an_unknown_appointment_is_404(api):
    response = api.get("/appointments/does-not-exist")
    assert (response.status, response.error) == (404, "NotFound")


def test_list_returns_overlapping_appointments_ordered_by_start(api):
    late = api.post(body=booking(start="2026-12-03T09:00:00Z", end="2026-12-03T10:00:00Z")).body
    long = api.post(body=booking(start="2026-11-28T09:00:00Z", end="2026-12-01T09:30:00Z")).body
    early = api.post(body=booking(start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z")).body
    api.post(body=booking(user="bob"))
    response = api.get("/appointments", query="userId=alice&from=2026-12-01T00:00:00Z&to=2026-12-04T00:00:00Z")
    assert response.status == 200
    assert [a["appointmentId"] for a in response.body["appointments"]] == [
        long["appointmentId"], early["appointmentId"], late["appointmentId"]]
    assert response.body["nextToken"] is None


def test_list_pages_with_next_token(api):
    ids = [api.post(body=booking(start=f"2026-12-{day:02d}T09:00:00Z", end=f"2026-12-{day:02d}T10:00:00Z")
                    ).body["appointmentId"] for day in range(1, 6)]
    seen, token = [], None
    while True:
        query = "userId=alice&limit=2" + (f"&nextToken={token}" if token else "")
        page = api.get("/appointments", query=query).body
        assert len(page["appointments"]) <= 2
        seen += [a["appointmentId"] for a in page["appointments"]]
        token = page["nextToken"]
        if not token:
            break
    assert seen == ids


def test_list_filters_by_status(api):
    kept = api.post(body=booking()).body
    gone = api.post(body=booking(start="2026-12-02T09:00:00Z", end="2026-12-02T10:00:00Z")).body
    api.delete(f"/appointments/{gone['appointmentId']}")
    scheduled = api.get("/appointments", query="userId=alice&status=scheduled").body["appointments"]
    cancelled = api.get("/appointments", query="userId=alice&status=cancelled").body["appointments"]
    assert [a["appointmentId"] for a in scheduled] == [kept["appointmentId"]]
    assert [a["appointmentId"] for a in cancelled] == [gone["appointmentId"]]


@pytest.mark.parametrize(("query", "field"), [
    ("", "userId"),
    ("userId=alice&limit=0", "limit"),
    ("userId=alice&limit=101", "limit"),
    ("userId=alice&limit=ten", "limit"),
    ("userId=alice&status=done", "status"),
    ("userId=alice&from=yesterday", "from"),
    ("userId=alice&from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
    ("userId=alice&nextToken=garbage!", "nextToken"),
    ("userId=alice&sort=desc", "sort"),
    ("userId=alice&userId=bob", "userId"),
])
def test_bad_list_queries_get_400(api, query, field):
    response = api.get("/appointments", query=query)
    assert (response.status, response.error, response.body.get("field")) == (400, "ValidationError", field)


# -- reschedule and edit -------------------------------------------------------------------------------

def test_patch_reschedules_and_frees_the_old_slot(api):
    created = api.post(body=booking()).body
    moved = api.patch(f"/appointments/{created['appointmentId']}",
                      {"startTime": "2026-12-01T14:00:00Z", "endTime": "2026-12-01T15:00:00Z"})
    assert moved.status == 200
    assert (moved.body["startTime"], moved.body["version"]) == ("2026-12-01T14:00:00Z", 2)
    assert api.post(body=booking()).status == 201  # the old slot is free again
    assert api.post(body=booking(start="2026-12-01T14:30:00Z", end="2026-12-01T15:30:00Z")).status == 409


def test_patch_into_another_appointment_is_409_and_changes_nothing(api):
    first = api.post(body=booking()).body
    second = api.post(body=booking(start="2026-12-01T11:00:00Z", end="2026-12-01T12:00:00Z")).body
    response = api.patch(f"/appointments/{second['appointmentId']}", {"startTime": "2026-12-01T09:30:00Z"})
    assert response.status == 409
    assert response.body["conflicts"][0]["appointmentId"] == first["appointmentId"]
    assert api.get(f"/appointments/{second['appointmentId']}").body == second


def test_patch_may_overlap_its_own_old_interval(api):
    created = api.post(body=booking()).body
    response = api.patch(f"/appointments/{created['appointmentId']}", {"endTime": "2026-12-01T10:30:00Z"})
    assert (response.status, response.body["endTime"]) == (200, "2026-12-01T10:30:00Z")


def test_patch_edits_details_and_reminders(api):
    created = api.post(body=booking()).body
    response = api.patch(f"/appointments/{created['appointmentId']}",
                         {"details": {"location": "Room 5"}, "reminders": [30]})
    assert response.status == 200
    assert (response.body["details"], response.body["reminders"]) == ({"location": "Room 5"}, [30])


def test_patch_of_a_cancelled_appointment_is_409_appointment_cancelled(api):
    created = api.post(body=booking()).body
    api.delete(f"/appointments/{created['appointmentId']}")
    response = api.patch(f"/appointments/{created['appointmentId']}", {"details": {"location": "x"}})
    assert (response.status, response.error) == (409, "AppointmentCancelled")


def test_patch_of_an_unknown_appointment_is_404(api):
    assert api.patch("/appointments/nope", {"details": {}}).status == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"userId": "bob"}, "userId"),
    ({"status": "cancelled"}, "status"),
    ({"startTime": "2026-12-01T10:30:00Z"}, "endTime"),
    ({"startTime": "2020-01-01T00:00:00Z"}, "startTime"),
    ({}, None),
])
def test_bad_patches_get_400_and_change_nothing(api, body, field):
    created = api.post(body=booking()).body
    response = api.patch(f"/appointments/{created['appointmentId']}", body)
    assert (response.status, response.body.get("field")) == (400, field)
    assert api.get(f"/appointments/{created['appointmentId']}").body == created


# -- cancel ----------------------------------------------------------------------------------------------

def test_cancel_frees_the_slot_and_is_repeatable(api):
    created = api.post(body=booking()).body
    cancelled = api.delete(f"/appointments/{created['appointmentId']}")
    assert (cancelled.status, cancelled.body["status"], cancelled.body["version"]) == (200, "cancelled", 2)
    again = api.delete(f"/appointments/{created['appointmentId']}")
    assert (again.status, again.body) == (200, cancelled.body)
    assert api.post(body=booking()).status == 201


def test_cancel_of_an_unknown_appointment_is_404(api):
    assert api.delete("/appointments/nope").status == 404


# -- free/busy ------------------------------------------------------------------------------------------------

def test_busy_merges_the_scheduled_intervals_in_the_window(api):
    api.post(body=booking(start="2026-12-01T09:00:00Z", end="2026-12-01T10:00:00Z"))
    api.post(body=booking(start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z"))
    gone = api.post(body=booking(start="2026-12-01T13:00:00Z", end="2026-12-01T14:00:00Z")).body
    api.delete(f"/appointments/{gone['appointmentId']}")
    api.post(body=booking(start="2026-12-02T23:00:00Z", end="2026-12-03T01:00:00Z"))
    response = api.get("/users/alice/busy", query="from=2026-12-01T00:00:00Z&to=2026-12-03T00:00:00Z")
    assert response.status == 200
    assert response.body == {"userId": "alice", "from": "2026-12-01T00:00:00Z", "to": "2026-12-03T00:00:00Z",
                             "busy": [{"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T11:00:00Z"},
                                      {"start": "2026-12-02T23:00:00Z", "end": "2026-12-03T00:00:00Z"}]}


@pytest.mark.parametrize(("query", "field"), [
    ("from=2026-12-01T00:00:00Z", "to"),
    ("to=2026-12-01T00:00:00Z", "from"),
    ("from=2026-12-01T00:00:00Z&to=2027-01-02T00:00:01Z", "to"),
    ("from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
    ("from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&tz=UTC", "tz"),
])
def test_bad_busy_windows_get_400(api, query, field):
    response = api.get("/users/alice/busy", query=query)
    assert (response.status, response.body.get("field")) == (400, field)


# -- idempotency -------------------------------------------------------------------------------------------------

def test_a_retry_with_the_same_idempotency_key_replays_the_booking(api, store):
    first = api.post(body=booking(), headers={"Idempotency-Key": "req-1"})
    replay = api.post(body=booking(), headers={"Idempotency-Key": "req-1"})
    assert (first.status, replay.status) == (201, 201)
    assert replay.body["appointmentId"] == first.body["appointmentId"]
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(store.dynamodb.scan(TableName=store.table)["Items"]) == 1


def test_an_idempotency_key_reused_with_another_body_is_422(api):
    api.post(body=booking(), headers={"Idempotency-Key": "req-1"})
    response = api.post(body=booking(start="2026-12-02T09:00:00Z", end="2026-12-02T10:00:00Z"),
                        headers={"Idempotency-Key": "req-1"})
    assert (response.status, response.error) == (422, "IdempotencyKeyReused")


def test_idempotency_keys_are_scoped_to_the_user(api):
    alice = api.post(body=booking(user="alice"), headers={"Idempotency-Key": "k"})
    bob = api.post(body=booking(user="bob"), headers={"Idempotency-Key": "k"})
    assert (alice.status, bob.status) == (201, 201)
    assert alice.body["appointmentId"] != bob.body["appointmentId"]


def test_a_bad_idempotency_key_is_400(api):
    response = api.post(body=booking(), headers={"Idempotency-Key": "x" * 256})
    assert (response.status, response.body.get("field")) == (400, "Idempotency-Key")


# -- routes and methods --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("PUT", "/appointments"),
                                              ("POST", "/appointments/abc"), ("DELETE", "/users/alice/busy")])
def test_unknown_routes_and_methods_get_404_not_500(api, method, path):
    response = api.request(method, path)
    assert (response.status, response.error) == (404, "NotFound")
    assert method in response.body["message"]


# -- caller identity (Cognito claims) ----------------------------------------------------------------------------

def test_with_cognito_the_token_subject_is_the_user(as_user):
    response = as_user("alice").post(body={k: v for k, v in booking().items() if k != "userId"})
    assert (response.status, response.body["userId"]) == (201, "alice")


def test_with_cognito_booking_in_another_users_name_is_403(as_user):
    response = as_user("bob").post(body=booking(user="alice"))
    assert (response.status, response.error) == (403, "Forbidden")


def test_with_cognito_another_users_appointment_reads_as_404(as_user):
    created = as_user("alice").post(body=booking()).body
    bob = as_user("bob")
    path = f"/appointments/{created['appointmentId']}"
    assert bob.get(path).status == 404
    assert bob.patch(path, {"details": {"x": "y"}}).status == 404
    assert bob.delete(path).status == 404
    assert bob.get("/appointments", query="userId=alice").status == 403
    assert bob.get("/users/alice/busy", query="from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z").status == 403
    assert as_user("alice").get(path).body["status"] == "scheduled"


# -- failures ------------------------------------------------------------------------------------------------------

def test_a_dynamodb_error_during_the_conflict_check_is_a_generic_500_and_books_nothing(store, clock, caplog, capsys):
    broken = Flaky(store.dynamodb, "batch_get_item", times=1000, code="InternalServerError", message="secret detail")
    conflict_detector.use(build_services(broken, API_SETTINGS, clock=clock))
    response = Api().post(body=booking())
    assert (response.status, response.error) == (500, "InternalError")
    assert "secret" not in json.dumps(response.body)
    assert "Traceback" not in json.dumps(response.body)
    assert_nothing_stored(store)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("secret detail" in str(r.exc_info[1]) for r in errors)  # the detail goes to the logs only
    assert '"BookingErrors"' in capsys.readouterr().out


def test_booking_emits_emf_metrics(api, capsys):
    api.post(body=booking())
    api.post(body=booking())
    names = emitted_metrics(capsys.readouterr().out)
    assert names.count("BookingAttempts") == 2
    assert names.count("BookingSuccess") == 1
    assert names.count("BookingConflicts") == 1


def test_bulk_loaded_appointments_behave_like_booked_ones(api, store, clock):
    from appointments.appointment import new_appointment
    from appointments.representations import appointment_json
    from seeding import bulk_load

    loaded = new_appointment(booking(start="2026-12-01T22:00:00Z", end="2026-12-02T02:00:00Z"),
                             appointment_id="loaded-1", now=clock())
    assert bulk_load(store, [loaded]) == 3  # the appointment and its two day buckets
    assert api.get("/appointments/loaded-1").body == appointment_json(loaded)
    clash = api.post(body=booking(start="2026-12-02T01:00:00Z", end="2026-12-02T03:00:00Z"))
    assert (clash.status, clash.body["conflicts"][0]["appointmentId"]) == (409, "loaded-1")
    assert api.delete("/appointments/loaded-1").status == 200
    assert api.post(body=booking(start="2026-12-02T01:00:00Z", end="2026-12-02T03:00:00Z")).status == 201


def test_a_transaction_refused_for_a_non_race_reason_is_a_500_not_a_retry_loop(store, clock):
    failing = CancelledTransactions(store.dynamodb, "ValidationException", "None")
    conflict_detector.use(build_services(failing, API_SETTINGS, clock=clock))
    response = Api().post(body=booking())
    assert (response.status, response.error, failing.transactions) == (500, "InternalError", 1)


def test_invalid_bookings_and_replays_are_not_counted_as_attempts(api, capsys):
    # The success-rate alarm divides BookingSuccess by BookingAttempts: only decided bookings count.
    api.post(body=booking(end="2026-12-01T08:00:00Z"))
    api.post(body=booking(), headers={"Idempotency-Key": "m"})
    api.post(body=booking(), headers={"Idempotency-Key": "m"})
    names = emitted_metrics(capsys.readouterr().out)
    assert names.count("BookingAttempts") == 1
    assert names.count("BookingSuccess") == 1


def test_a_booking_that_loses_every_race_is_409_with_retry_after_and_counted_as_a_conflict(store, clock, capsys):
    always_raced = CancelledTransactions(store.dynamodb, "None", "ConditionalCheckFailed")  # a concurrent writer
    conflict_detector.use(build_services(always_raced, API_SETTINGS, clock=clock, sleep=lambda _: None))
    response = Api().post(body=booking())
    assert (response.status, response.error, response.body["conflicts"]) == (409, "Conflict", [])
    assert response.headers["Retry-After"] == "1"
    emf = [blob for blob in emf_blobs(capsys.readouterr().out) if "BookingAttempts" in blob]
    assert [(m["BookingAttempts"], m.get("BookingConflicts")) for m in emf] == [([1.0], [1.0])]
    assert store.dynamodb.scan(TableName=store.table)["Items"] == []


def test_every_json_body_ends_with_a_newline_so_curl_output_never_runs_on(api):
    from lambdas import api_event, invoke_api

    def raw(method: str, path: str, body=None, query: str = "") -> str:
        return invoke_api(api_event(method, path, body, query=query), "ConflictDetector-test")["body"]

    created = raw("POST", "/appointments", booking())
    answers = [created, raw("POST", "/appointments", booking()), raw("GET", "/appointments", query="userId=alice"),
               raw("GET", "/appointments/unknown"), raw("POST", "/appointments", {"userId": "alice"})]
    assert [a.endswith("}\n") and a.count("\n") == 1 for a in answers] == [True] * 5, answers
    assert json.loads(created)["status"] == "scheduled"
