"""Seed empty calendars, as bookings would write them but without conflict control (benchmarks, tests).

It checks nothing, and a concurrent booking could interleave: never point it at calendars in use.
"""

from __future__ import annotations

from collections.abc import Iterable

from appointments.appointment import Appointment
from appointments.codecs import appointment_item, to_item
from appointments.decision import Bucket, days_touched
from appointments.occupancy import Entry
from appointments.store import Tables, bucket_item

BATCH_WRITE_ITEMS = 25  # DynamoDB's limit of items per BatchWriteItem


def bulk_load(tables: Tables, appointments: Iterable[Appointment]) -> int:
    """Write appointments and their calendar buckets; return the number of items written."""
    items: list[tuple[str, dict]] = []
    buckets: dict[tuple[str, str], dict[str, Entry]] = {}
    for appointment in appointments:
        stored = {"appointmentId": appointment.appointment_id, **appointment_item(appointment)}
        if appointment.request_hash:
            stored["requestHash"] = appointment.request_hash
        items.append((tables.table, stored))
        if appointment.occupies:
            for calendar_id in appointment.calendars:
                for day in days_touched(appointment.interval):
                    buckets.setdefault((calendar_id, day), {})[appointment.appointment_id] = appointment.entry
    items += [(tables.calendar, bucket_item(Bucket(*key), entries)) for key, entries in buckets.items()]
    for start in range(0, len(items), BATCH_WRITE_ITEMS):
        request: dict[str, list] = {}
        for table, item in items[start:start + BATCH_WRITE_ITEMS]:
            request.setdefault(table, []).append({"PutRequest": {"Item": to_item(item)}})
        while request:
            request = tables.call(tables.dynamodb.batch_write_item, RequestItems=request).get("UnprocessedItems")
    return len(items)
