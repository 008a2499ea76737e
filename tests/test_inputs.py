"""HTTP input becomes typed values before any booking logic runs."""

from __future__ import annotations

from datetime import datetime

import pytest

from appointments.errors import ValidationError
from appointments.inputs import ListQuery, idempotent_appointment_id, list_query, window_query
from appointments.times import UTC, Interval


def test_a_list_query_becomes_typed_values_with_defaults():
    assert list_query({"userId": "alice", "from": "2026-12-01T10:00:00+01:00", "status": "cancelled"}) == ListQuery(
        "alice", datetime(2026, 12, 1, 9, tzinfo=UTC), None, "cancelled", 50, None)


def test_a_window_is_half_open_utc_and_at_most_31_days():
    assert window_query({"from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}) == Interval(
        datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(ValidationError) as refused:
        window_query({"from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:01Z"})
    assert refused.value.extra == {"field": "to"}


def test_an_idempotency_key_maps_to_one_appointment_per_user():
    assert idempotent_appointment_id("alice", "k") == idempotent_appointment_id("alice", "k")
    assert idempotent_appointment_id("alice", "k") != idempotent_appointment_id("bob", "k")
    with pytest.raises(ValidationError):
        idempotent_appointment_id("alice", "tab\there")
