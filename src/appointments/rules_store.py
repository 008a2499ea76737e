"""Availability rules as stored: one item per calendar in CalendarTable (sort key ``availability``).

A removal leaves a tombstone one version on, so versions never repeat: a booking in flight that
checked the removed rules fails its check, and the next rules continue from there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from appointments.availability import Availability
from appointments.codecs import rules_from_item, rules_text, to_item
from appointments.decision import Plan
from appointments.errors import StaleRead
from appointments.store import RULES, BookingStore, Tables


class RulesStore:
    def __init__(self, tables: Tables):
        self.tables = tables
        self.dynamodb = tables.dynamodb

    def _key(self, calendar_id: str) -> dict:
        return to_item({"userId": calendar_id, "day": RULES})

    def state(self, calendar_id: str) -> tuple[Availability | None, int]:
        """A calendar's rules (None if it has none) and its rules item's version (0 if there never were any)."""
        response = self.tables.call(self.dynamodb.get_item, TableName=self.tables.calendar,
                                    Key=self._key(calendar_id), ConsistentRead=True)
        item = response.get("Item")
        return (rules_from_item(item), int(item["version"]["N"])) if item else (None, 0)

    def get(self, calendar_id: str) -> Availability | None:
        return self.state(calendar_id)[0]

    def of(self, calendar_ids: Iterable[str]) -> dict[str, Availability | None]:
        """The rules of several calendars, with one consistent BatchGetItem."""
        return BookingStore(self.tables).read(Plan(tuple(calendar_ids), {})).rules

    def put(self, calendar_id: str, rules: Availability, expected_version: int | None = None) -> Availability:
        """Replace a calendar's rules; the version goes up by one. Returns the rules as stored.

        With ``expected_version``, the write happens only if the rules item is at that version (0: there
        never was one), else StaleRead."""
        condition = {}
        if expected_version is not None:
            condition = {"ConditionExpression": "#version = :expected" if expected_version
                         else "attribute_not_exists(#version)"}
        values = {":rules": rules_text(rules), ":zero": 0, ":one": 1}
        if expected_version:
            values[":expected"] = expected_version
        try:
            response = self.tables.call(
                self.dynamodb.update_item, TableName=self.tables.calendar, Key=self._key(calendar_id),
                UpdateExpression="SET #rules = :rules, #version = if_not_exists(#version, :zero) + :one",
                ExpressionAttributeNames={"#rules": "rules", "#version": "version"},
                ExpressionAttributeValues=to_item(values), ReturnValues="ALL_NEW", **condition)
        except self.dynamodb.exceptions.ConditionalCheckFailedException as error:
            raise StaleRead(f"the rules of {calendar_id} are not at version {expected_version}") from error
        return rules_from_item(response["Attributes"])

    def remove(self, calendar_id: str) -> None:
        """Remove the rules, keeping a tombstone one version on."""
        with contextlib.suppress(self.dynamodb.exceptions.ConditionalCheckFailedException):  # no rules to remove
            self.tables.call(self.dynamodb.update_item, TableName=self.tables.calendar, Key=self._key(calendar_id),
                             UpdateExpression="SET #version = #version + :one REMOVE #rules",
                             ConditionExpression="attribute_exists(#rules)",
                             ExpressionAttributeNames={"#rules": "rules", "#version": "version"},
                             ExpressionAttributeValues=to_item({":one": 1}))
