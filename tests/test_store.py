"""The stored item format is the store's own, not the API's JSON."""

from __future__ import annotations

from boto3.dynamodb.types import TypeSerializer

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
