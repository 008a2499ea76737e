"""The stored item format is the store's own, not the API's JSON."""

from __future__ import annotations

from boto3.dynamodb.types import TypeSerializer

from appointments.appointment import new_appointment
from appointments.caller import Caller
from appointments.codecs import appointment_from_item, appointment_item
from appointments.decision import Commit, Plan
from appointments.rules_store import RulesStore
from appointments.store import BookingStore
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
    assert set(item["Item"]) == STORED | {"appointmentId"}  # no ledger on the appointment any more


def test_every_bucket_a_decision_read_is_written_or_condition_checked_in_its_transaction(bookings, store, clock):
    """A bucket read but left unchanged (the next rules read buckets they do not write) still binds the
    decision: a concurrent change to it cancels the commit."""
    import pytest

    from appointments.errors import StaleRead

    other, _ = bookings.book(booking(user="bob", start="2026-12-02T09:00:00Z", end="2026-12-02T10:00:00Z"),
                             Caller())
    proposed = new_appointment(booking(), appointment_id="a1", now=NOW)
    writer = BookingStore(store)
    read = Plan((), {"alice": frozenset({"2026-12-01"}), "bob": frozenset({"2026-12-02"})})

    def commit(snapshot) -> Commit:  # alice's day gets the entry; bob's stays as it is, and is checked
        return Commit(((proposed, None),), ((snapshot.buckets[("alice", "2026-12-01")], {"a1": proposed.entry}),
                                            (snapshot.buckets[("bob", "2026-12-02")], None)), {})

    snapshot = writer.read(read)
    bookings.cancel(other.appointment_id, Caller())  # a concurrent change to a bucket the decision read
    with pytest.raises(StaleRead):
        writer.commit(commit(snapshot))
    assert store.appointment("a1") is None
    writer.commit(commit(writer.read(read)))
    assert store.appointment("a1") == proposed


def test_rules_can_be_replaced_only_at_the_version_expected_ready_for_if_match(store):
    import pytest

    from appointments.availability import parse_availability
    from appointments.errors import StaleRead

    rules, stored = parse_availability({"timeZone": "UTC"}), RulesStore(store)
    assert stored.put("dr-smith", rules, expected_version=0).version == 1
    with pytest.raises(StaleRead):
        stored.put("dr-smith", rules, expected_version=0)
    assert stored.put("dr-smith", rules, expected_version=1).version == 2
    with pytest.raises(StaleRead):
        stored.put("dr-smith", rules, expected_version=1)
    assert stored.put("dr-smith", rules).version == 3


def test_a_booking_decided_on_rules_that_were_removed_and_set_again_fails_its_check(store, clock):
    """Versions never repeat: a tombstone keeps the removed rules' version, so a booking in flight that
    checked version 1 cannot commit against the rules set after a removal (version 3)."""
    import pytest

    from appointments import decision
    from appointments.availability import parse_availability
    from appointments.errors import StaleRead

    rules, writer = RulesStore(store), BookingStore(store)
    rules.put("dr-smith", parse_availability({"timeZone": "UTC", "bufferAfter": 30}))
    appointment = new_appointment(booking(participants=["dr-smith"]), appointment_id="a1", now=clock())
    plan = decision.plan(None, appointment)
    booking_read = writer.read(plan)
    assert booking_read.rule_versions == {"alice": 0, "dr-smith": 1}
    decided = decision.decide(appointment, plan.checked, booking_read.occupancy(clock()), booking_read.rules, clock())
    rules.remove("dr-smith")
    assert rules.state("dr-smith") == (None, 2)
    assert rules.put("dr-smith", parse_availability({"timeZone": "UTC"})).version == 3
    with pytest.raises(StaleRead):
        writer.commit(decision.outcome(appointment, None, decided, booking_read))
    assert store.dynamodb.scan(TableName=store.table)["Items"] == []


def test_a_booking_decided_on_a_bucket_emptied_and_filled_again_fails_its_check(bookings, store, clock):
    """Bucket versions never repeat either: a bucket emptied by a cancel is kept, empty, one version on
    (its TTL takes it away later), so a booking decided on the bucket as it was cannot commit after
    another booking filled it again, and cannot write back the entry that was cancelled."""
    import pytest

    from appointments import decision
    from appointments.errors import StaleRead

    first, _ = bookings.book(booking(user="alice"), Caller())
    writer = BookingStore(store)
    late = new_appointment(booking(user="alice", start="2026-12-01T16:00:00Z", end="2026-12-01T17:00:00Z"),
                           appointment_id="late", now=clock())
    plan = decision.plan(None, late)
    stale = writer.read(plan)
    decided = decision.decide(late, plan.checked, stale.occupancy(clock()), stale.rules, clock())
    bookings.cancel(first.appointment_id, Caller())
    bookings.book(booking(user="alice", start="2026-12-01T16:00:00Z", end="2026-12-01T17:00:00Z"), Caller())
    with pytest.raises(StaleRead):
        writer.commit(decision.outcome(late, None, decided, stale))
    assert store.appointment("late") is None


def test_rules_stored_under_looser_limits_still_read_and_still_decide_bookings(api, store):
    """The stored form is read as stored, not back through the API's validation: rules written when a
    limit was looser (13 windows a day, maxPerDay 1500, maximumAdvance 900 days) keep working after the
    limits were tightened to 12, 1000 and 730."""
    import json

    import pytest

    from appointments.availability import parse_availability
    from appointments.errors import ValidationError
    from appointments.representations import availability_json

    windows = [{"start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(6, 19)]  # 13 windows
    stored = {"timeZone": "UTC", "weekly": {"tue": windows}, "overrides": {}, "bufferBefore": 0, "bufferAfter": 0,
              "minimumNotice": 0, "maximumAdvance": 900, "maxPerDay": 1500}
    store.dynamodb.put_item(TableName=store.calendar, Item={"userId": {"S": "old-clinic"},
                                                            "day": {"S": "availability"},
                                                            "rules": {"S": json.dumps(stored)},
                                                            "version": {"N": "4"}})
    rules = RulesStore(store).get("old-clinic")
    assert (len(rules.weekly["tue"]), rules.max_per_day, rules.maximum_advance, rules.version) == (13, 1500, 900, 4)
    with pytest.raises(ValidationError):  # what reading back through the API's validation would have done
        parse_availability({k: v for k, v in availability_json(rules).items() if k != "version"})
    inside = api.post(body=booking(start="2026-12-01T18:00:00Z", end="2026-12-01T18:30:00Z",
                                   participants=["old-clinic"]))  # 2026-12-01 is a Tuesday
    assert inside.status == 201, inside.body
    outside = api.post(body=booking(user="bob", start="2026-12-01T18:30:00Z", end="2026-12-01T19:00:00Z",
                                    participants=["old-clinic"]))
    assert (outside.status, outside.body["reason"]) == (409, "outsideHours")
    assert api.get("/calendars/old-clinic/availability").body["version"] == 4
