"""Contacts as stored: one item per calendar in CalendarTable (sort key ``contact``, never a date).

The only place that holds personal data. An erasure removes everything but the version (a tombstone one
version on), so versions never repeat and the next contact continues from there. Messages read contacts
when they are sent (``of``, one consistent BatchGetItem), so an erasure or a change takes effect at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime

from appointments.codecs import contact_from_item, contact_text, to_item
from appointments.contacts import Contact
from appointments.errors import StaleRead
from appointments.store import BATCH_GET_KEYS, Tables
from appointments.times import format_instant

CONTACT = "contact"  # the sort key of a calendar's contact item: never a date


class ContactsStore:
    def __init__(self, tables: Tables):
        self.tables = tables
        self.dynamodb = tables.dynamodb

    def _key(self, calendar_id: str) -> dict:
        return to_item({"userId": calendar_id, "day": CONTACT})

    def state(self, calendar_id: str) -> tuple[Contact | None, int]:
        """A calendar's contact (None if it has none) and its item's version (0 if there never was one)."""
        response = self.tables.call(self.dynamodb.get_item, TableName=self.tables.calendar,
                                    Key=self._key(calendar_id), ConsistentRead=True)
        item = response.get("Item")
        return (contact_from_item(item), int(item["version"]["N"])) if item else (None, 0)

    def get(self, calendar_id: str) -> Contact | None:
        return self.state(calendar_id)[0]

    def of(self, calendar_ids: Iterable[str]) -> dict[str, Contact]:
        """The contacts of several calendars, read consistently (one BatchGetItem for up to 100); calendars
        without a contact, or whose contact was erased, are left out."""
        wanted = sorted(set(calendar_ids))
        found: dict[str, Contact] = {}
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            request = {self.tables.calendar: {"Keys": [self._key(c) for c in wanted[start:start + BATCH_GET_KEYS]],
                                              "ConsistentRead": True}}
            for _, item in self.tables.batch_get(request):
                contact = contact_from_item(item)
                if contact is not None:
                    found[item["userId"]["S"]] = contact
        return found

    def put(self, calendar_id: str, contact: Contact, now: datetime, expected_version: int | None = None) -> Contact:
        """Replace a calendar's contact; the version goes up by one. Returns the contact as stored.

        With ``expected_version``, the write happens only if the item is at that version (0: there never was
        one), else StaleRead."""
        condition = {}
        if expected_version is not None:
            condition = {"ConditionExpression": "#version = :expected" if expected_version
                         else "attribute_not_exists(#version)"}
        values = {":contact": contact_text(contact), ":updated": format_instant(now), ":zero": 0, ":one": 1}
        if expected_version:
            values[":expected"] = expected_version
        try:
            response = self.tables.call(
                self.dynamodb.update_item, TableName=self.tables.calendar, Key=self._key(calendar_id),
                UpdateExpression=("SET #contact = :contact, #updated = :updated, "
                                  "#version = if_not_exists(#version, :zero) + :one"),
                ExpressionAttributeNames={"#contact": "contact", "#updated": "updatedAt", "#version": "version"},
                ExpressionAttributeValues=to_item(values), ReturnValues="ALL_NEW", **condition)
        except self.dynamodb.exceptions.ConditionalCheckFailedException as error:
            raise StaleRead(f"the contact of {calendar_id} is not at version {expected_version}") from error
        return contact_from_item(response["Attributes"])

    def remove(self, calendar_id: str) -> None:
        """Erase the contact (name, addresses, consent), keeping a tombstone one version on."""
        with contextlib.suppress(self.dynamodb.exceptions.ConditionalCheckFailedException):  # nothing to erase
            self.tables.call(self.dynamodb.update_item, TableName=self.tables.calendar, Key=self._key(calendar_id),
                             UpdateExpression="SET #version = #version + :one REMOVE #contact, #updated",
                             ConditionExpression="attribute_exists(#contact)",
                             ExpressionAttributeNames={"#contact": "contact", "#updated": "updatedAt",
                                                       "#version": "version"},
                             ExpressionAttributeValues=to_item({":one": 1}))
