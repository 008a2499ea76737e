"""The outcome of an appointment (API.md, "Outcome"): attended or noShow, once it has started, as a change."""

from __future__ import annotations

import pytest

from conftest import booking

OUTCOME = "/appointments/{}/outcome"


def started(api, clock, **extra) -> dict:
    created = api.post(body=booking(**extra)).body
    clock.advance(days=6, hours=9)  # 2026-12-01T21:00Z: it has started and ended
    return created


def test_an_outcome_is_recorded_once_the_appointment_has_started_as_a_new_version(api, clock):
    created = api.post(body=booking()).body
    path = OUTCOME.format(created["appointmentId"])
    early = api.request("PUT", path, {"outcome": "attended"})
    assert (early.status, early.error) == (409, "OutcomeNotRecordable")
    assert "not started" in early.body["message"]
    clock.advance(days=5, hours=21, seconds=1)  # 2026-12-01T09:00:01Z, a second after the start
    recorded = api.request("PUT", path, {"outcome": "noShow"})
    assert recorded.status == 200
    assert (recorded.body["outcome"], recorded.body["version"], recorded.headers["ETag"]) == ("noShow", 2, '"2"')
    assert api.get(f"/appointments/{created['appointmentId']}").body == recorded.body


def test_recording_the_same_outcome_again_changes_nothing_and_another_is_a_new_version(api, clock):
    created = started(api, clock)
    path = OUTCOME.format(created["appointmentId"])
    first = api.request("PUT", path, {"outcome": "attended"}).body
    assert api.request("PUT", path, {"outcome": "attended"}).body == first
    assert api.request("PUT", path, {"outcome": "noShow"}).body["version"] == 3


def test_delete_clears_the_outcome_from_the_stored_item_and_clearing_nothing_changes_nothing(api, store, clock):
    created = started(api, clock)
    path = OUTCOME.format(created["appointmentId"])
    api.request("PUT", path, {"outcome": "attended"})
    cleared = api.delete(path)
    assert (cleared.status, cleared.body["version"]) == (200, 3)
    assert "outcome" not in cleared.body
    item = store.dynamodb.get_item(TableName=store.table, Key={"appointmentId": {"S": created["appointmentId"]}})
    assert "outcome" not in item["Item"]
    assert api.delete(path).body == cleared.body


def test_an_outcome_honours_if_match(api, clock):
    created = started(api, clock)
    path = OUTCOME.format(created["appointmentId"])
    stale = api.request("PUT", path, {"outcome": "attended"}, headers={"If-Match": '"7"'})
    assert (stale.status, stale.body["currentVersion"]) == (412, 1)
    assert api.request("PUT", path, {"outcome": "attended"}, headers={"If-Match": '"1"'}).status == 200


def test_a_cancelled_appointment_or_a_hold_has_no_outcome_to_record(api, clock):
    cancelled = api.post(body=booking()).body
    api.delete(f"/appointments/{cancelled['appointmentId']}")
    held = api.post(body=booking(start="2026-11-25T12:05:00Z", end="2026-11-25T13:00:00Z", hold=30)).body
    clock.advance(minutes=10)  # the hold has started, and is still held
    response = api.request("PUT", OUTCOME.format(cancelled["appointmentId"]), {"outcome": "attended"})
    assert (response.status, response.error) == (409, "AppointmentCancelled")
    response = api.request("PUT", OUTCOME.format(held["appointmentId"]), {"outcome": "attended"})
    assert (response.status, response.error) == (409, "OutcomeNotRecordable")
    assert "hold" in response.body["message"]


@pytest.mark.parametrize("body", [{}, {"outcome": "late"}, {"outcome": None}, {"outcome": "attended", "x": 1},
                                  {"outcome": ["attended"]}, [], "attended"])
def test_an_outcome_body_other_than_the_two_is_400_and_changes_nothing(api, clock, body):
    created = started(api, clock)
    response = api.request("PUT", OUTCOME.format(created["appointmentId"]), body)
    assert (response.status, response.error) == (400, "ValidationError")
    assert api.get(f"/appointments/{created['appointmentId']}").body == created


def test_under_cognito_a_participants_or_the_assigned_members_manager_records_it_and_the_customer_may_not(
        as_user, clock):
    alice = as_user("alice")
    for calendar in ("dr-smith", "stylist-a", "stylist-b"):
        rules = {"timeZone": "UTC", "weekly": {d: [{"start": "00:00", "end": "24:00"}]
                                               for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
        assert as_user(calendar).request("PUT", f"/calendars/{calendar}/availability", rules).status == 200
    with_provider = alice.post(body=booking(participants=["dr-smith"])).body
    pooled = alice.post(body=booking(start="2026-12-01T11:00:00Z", end="2026-12-01T12:00:00Z",
                                     anyOf=["stylist-a", "stylist-b"])).body
    clock.advance(days=7)
    attended = {"outcome": "attended"}
    response = alice.request("PUT", OUTCOME.format(with_provider["appointmentId"]), attended)
    assert (response.status, response.error) == (403, "Forbidden")
    assert as_user("mallory").request("PUT", OUTCOME.format(with_provider["appointmentId"]), attended).status == 404
    assert as_user("stylist-b").request("PUT", OUTCOME.format(pooled["appointmentId"]), attended).status == 404
    assert as_user("dr-smith").request("PUT", OUTCOME.format(with_provider["appointmentId"]), attended).status == 200
    assert as_user("stylist-a").request("PUT", OUTCOME.format(pooled["appointmentId"]), attended).status == 200
    admin = as_user("someone", ["calendar-admins"])
    assert admin.delete(OUTCOME.format(pooled["appointmentId"])).status == 200
    assert alice.delete(OUTCOME.format(pooled["appointmentId"])).status == 403
    assert alice.get(f"/appointments/{with_provider['appointmentId']}").body["outcome"] == "attended"
