"""The stored item format is the store's own, not the API's JSON."""

from __future__ import annotations

from boto3.dynamodb.types import TypeSerializer

from appointments.bookings import Caller
from appointments.domain import new_appointment
from appointments.store import appointment_from_item, appointment_item
from conftest import NOW, booking

STORED = {"userId", "startTime", "endTime", "timeZone", "participants", "details", "reminders", "status", "createdAt",
          "updatedAt", "version"}


def test_the_item_mapping_round_trips_and_names_exactly_the_stored_attributes():
    appointment = new_appointment(booking(timeZone="Europe/Berlin", details={"location": "Room 4"},
                                          reminders=[30], participants=["dr-smith"]), appointment_id="a1", now=NOW)
    values = appointment_item(appointment)
    assert set(values) == STORED
    item = {k: TypeSerializer().serialize(v) for k, v in {"appointmentId": "a1", **values}.items()}
    assert appointment_from_item(item) == appointment


def test_a_stored_appointment_carries_the_api_fields_but_no_api_only_ones(api, store):
    created = api.post(body=booking()).body
    item = store.dynamodb.get_item(TableName=store.table, Key={"appointmentId": {"S": created["appointmentId"]}})
    assert set(item["Item"]) == STORED | {"appointmentId", "reminderClaims"}


def test_every_bucket_a_decision_read_is_written_or_condition_checked_in_its_transaction(bookings, store, clock):
    """A bucket read but left unchanged (the next rules read buckets they do not write) still binds the
    decision: a concurrent change to it cancels the commit."""
    import pytest

    from appointments.errors import StaleRead

    other, _ = bookings.book(booking(user="bob", start="2026-12-02T09:00:00Z", end="2026-12-02T10:00:00Z"),
                             Caller())
    proposed = new_appointment(booking(), appointment_id="a1", now=NOW)
    snapshot = store.read_calendars({"alice": ["2026-12-01"], "bob": ["2026-12-02"]})  # bob's day stays as it is
    bookings.cancel(other.appointment_id, Caller())  # a concurrent change to a bucket the decision read
    with pytest.raises(StaleRead):
        store.commit(proposed, snapshot)
    assert store.get("a1") is None
    store.commit(proposed, store.read_calendars({"alice": ["2026-12-01"], "bob": ["2026-12-02"]}))
    assert store.get("a1") == proposed


def test_rules_can_be_replaced_only_at_the_version_expected_ready_for_if_match(store):
    import pytest

    from appointments.availability import parse_availability
    from appointments.errors import StaleRead

    rules = parse_availability({"timeZone": "UTC"})
    assert store.put_rules("dr-smith", rules, expected_version=0).version == 1
    with pytest.raises(StaleRead):
        store.put_rules("dr-smith", rules, expected_version=0)
    assert store.put_rules("dr-smith", rules, expected_version=1).version == 2
    with pytest.raises(StaleRead):
        store.put_rules("dr-smith", rules, expected_version=1)
    assert store.put_rules("dr-smith", rules).version == 3


def test_a_booking_decided_on_rules_that_were_removed_and_set_again_fails_its_check(store, clock):
    """Versions never repeat: a tombstone keeps the removed rules' version, so a booking in flight that
    checked version 1 cannot commit against the rules set after a removal (version 3)."""
    import pytest

    from appointments.availability import parse_availability
    from appointments.errors import StaleRead

    store.put_rules("dr-smith", parse_availability({"timeZone": "UTC", "bufferAfter": 30}))
    booking_read = store.read_calendars({"dr-smith": ["2026-12-01"]}, rules_of=["dr-smith"])
    assert booking_read.rule_versions == {"dr-smith": 1}
    store.delete_rules("dr-smith")
    assert store.rules_state("dr-smith") == (None, 2)
    assert store.put_rules("dr-smith", parse_availability({"timeZone": "UTC"})).version == 3
    appointment = new_appointment(booking(participants=["dr-smith"]), appointment_id="a1", now=clock())
    with pytest.raises(StaleRead):
        store.commit(appointment, booking_read)
    assert store.dynamodb.scan(TableName=store.table)["Items"] == []
