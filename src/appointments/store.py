"""The booking side of the data layer: one consistent read of what a decision needs, and one transaction.

AppointmentsTable holds one item per appointment. CalendarTable holds, per calendar and UTC day, a
"bucket": the entries of the appointments occupying that calendar that touch the day (interval,
footprint, owner), and a version; and per calendar an item of availability rules (sort key
``availability``). Its partition key is named ``userId`` for history; it holds any calendar ID.

``read`` fetches what ``decision.plan`` names with one consistent BatchGetItem. ``commit`` writes what
``decision.outcome`` says in one TransactWriteItems: changed buckets written, unchanged ones and every
rules item read condition-checked, each on the version read. A concurrent change to any of them
cancels the transaction (StaleRead), so two bookings that overlap on any calendar never both commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from appointments.appointment import HELD, SCHEDULED, Appointment
from appointments.codecs import (
    HOLDS,
    OPTIONAL_ATTRIBUTES,
    SERIES,
    appointment_from_item,
    appointment_item,
    bucket_entries,
    bucket_from_item,
    holds_from_item,
    holds_item,
    rules_from_item,
    series_from_item,
    series_item,
    to_item,
)
from appointments.decision import Bucket, Commit, Plan, Snapshot
from appointments.errors import StaleRead, ValidationError
from appointments.occupancy import Entry
from appointments.retries import THROTTLED_REASONS, Backoff, Retry
from appointments.times import UTC, format_instant

RULES = "availability"  # the sort key of a calendar's availability item: never a date
BUCKET_TTL = timedelta(days=40)  # past buckets only serve free/busy look-backs
BATCH_GET_KEYS = 100  # DynamoDB's limit of keys per BatchGetItem
# Cancellation reasons that mean "another writer got there first"; "None" marks the items that passed.
RACE_REASONS = {"ConditionalCheckFailed", "TransactionConflict", "None"}


@dataclass
class Tables:
    """The two tables and the client that reaches them; every call rides out throttling through ``backoff``."""

    dynamodb: object
    table: str  # AppointmentsTable
    calendar: str = ""  # CalendarTable
    backoff: Backoff = field(default_factory=Backoff)

    def call(self, operation, **request):
        """One DynamoDB call, retried through throttling (ServiceUnavailable past the bound)."""
        return self.backoff.run(lambda: operation(**request))

    def batch_get(self, request: dict) -> list[tuple[str, dict]]:
        """(table, item) for every item a BatchGetItem request finds; unprocessed keys are asked again after a
        jittered pause, a bounded number of times (then ServiceUnavailable)."""
        found: list[tuple[str, dict]] = []

        def attempt() -> None:
            nonlocal request
            response = self.dynamodb.batch_get_item(RequestItems=request)
            found.extend((table, item) for table, items in response["Responses"].items() for item in items)
            request = response.get("UnprocessedKeys") or {}
            if request:
                raise Retry

        if request:
            self.backoff.run(attempt)
        return found

    def appointment(self, appointment_id: str) -> Appointment | None:
        """One appointment, read consistently."""
        response = self.call(self.dynamodb.get_item, TableName=self.table,
                             Key=to_item({"appointmentId": appointment_id}), ConsistentRead=True)
        return appointment_from_item(response["Item"]) if "Item" in response else None


class BookingStore:
    def __init__(self, tables: Tables):
        self.tables = tables
        self.dynamodb = tables.dynamodb

    def read(self, plan: Plan, appointment_id: str | None = None, series_id: str | None = None) -> Snapshot:
        """One consistent BatchGetItem (more past 100 keys): the buckets and rules ``plan`` names, and
        optionally an appointment or a series. Buckets that do not exist yet come back empty, at version 0."""
        keys = sorted({(calendar_id, day) for calendar_id, days in plan.days.items() for day in days})
        rules_of = sorted(set(plan.rules_of))
        snapshot = Snapshot({key: Bucket(*key) for key in keys}, dict.fromkeys(rules_of), dict.fromkeys(rules_of, 0))
        wanted = [*keys, *((calendar_id, RULES) for calendar_id in rules_of)]
        if series_id:
            wanted.append((f"{SERIES}#{series_id}", SERIES))
        if plan.holds_of:
            wanted.append((plan.holds_of, HOLDS))
        requests = [{self.tables.table: {"Keys": [to_item({"appointmentId": appointment_id})],
                                         "ConsistentRead": True}} if appointment_id else {}]
        for start in range(0, len(wanted), BATCH_GET_KEYS - 1):  # more than one call only past 99 keys
            chunk = [to_item({"userId": c, "day": d}) for c, d in wanted[start:start + BATCH_GET_KEYS - 1]]
            if start:
                requests.append({})
            requests[-1][self.tables.calendar] = {"Keys": chunk, "ConsistentRead": True}
        for request in requests:
            for table, item in self.tables.batch_get(request):
                if table == self.tables.table:
                    snapshot.appointment = appointment_from_item(item)
                elif item["day"]["S"] == SERIES:
                    snapshot.series = series_from_item(item)
                elif item["day"]["S"] == HOLDS:
                    snapshot.holds, snapshot.holds_version = holds_from_item(item)
                elif item["day"]["S"] == RULES:
                    snapshot.rules[item["userId"]["S"]] = rules_from_item(item)
                    snapshot.rule_versions[item["userId"]["S"]] = int(item["version"]["N"])
                else:
                    bucket = bucket_from_item(item)
                    snapshot.buckets[(bucket.calendar_id, bucket.day)] = bucket
        return snapshot

    def commit(self, commit: Commit) -> None:
        """Write what the decision said in one transaction, or raise StaleRead if anything read has changed."""
        items = [self._appointment_write(new, previous, commit.at) for new, previous in commit.appointments]
        if commit.holds is not None:
            items.append(self._holds_write(*commit.holds))
        if commit.series is not None:
            items.append({"Put": {"TableName": self.tables.calendar, "Item": to_item(series_item(commit.series)),
                                  "ConditionExpression": "attribute_not_exists(userId)"}})
        items += [self._bucket_write(bucket, entries) if entries is not None else self._bucket_check(bucket)
                  for bucket, entries in commit.buckets]
        items += [self._bucket_check(Bucket(calendar_id, RULES, version))
                  for calendar_id, version in commit.rules.items()]
        self.tables.backoff.run(lambda: self._transact(items))

    def _transact(self, items: list[dict]) -> None:
        """One TransactWriteItems, its cancellation told apart: a concurrent change (StaleRead, re-read and
        decide again), throttling (Retry, the same transaction again), or an item DynamoDB cannot hold."""
        try:
            self.dynamodb.transact_write_items(TransactItems=items)
        except self.dynamodb.exceptions.TransactionCanceledException as error:
            reasons = error.response.get("CancellationReasons", [])
            codes = {r.get("Code", "None") for r in reasons}
            if "ConditionalCheckFailed" not in codes and codes & THROTTLED_REASONS:
                raise Retry from error
            if codes <= RACE_REASONS | THROTTLED_REASONS:
                raise StaleRead(str(error)) from error
            if any("size" in r.get("Message", "") for r in reasons if r.get("Code") == "ValidationError"):
                raise ValidationError("This change would make a calendar day hold more than DynamoDB stores in "
                                      "one item; book on another day.") from error
            raise  # anything else (a bad request) is a real failure

    def _holds_write(self, user_id: str, version: int, holds: dict) -> dict:
        """The user's holds at the version read (absent: 0), one version on, kept when empty as buckets are."""
        bucket = Bucket(user_id, HOLDS, version)
        return {"Put": {"TableName": self.tables.calendar, "Item": to_item(holds_item(user_id, version + 1, holds)),
                        **self._bucket_condition(bucket)}}

    def _appointment_write(self, new: Appointment, previous: Appointment | None, at: datetime | None = None) -> dict:
        if previous is None:
            item = {"appointmentId": new.appointment_id, **appointment_item(new)}
            if new.request_hash:
                item["requestHash"] = new.request_hash
            return {"Put": {"TableName": self.tables.table, "Item": to_item(item),
                            "ConditionExpression": "attribute_not_exists(appointmentId)"}}
        values = appointment_item(new)
        names = {f"#f{i}": name for i, name in enumerate(values)}
        assignments = ", ".join(f"#f{i} = :f{i}" for i in range(len(values)))
        removed = [name for name in OPTIONAL_ATTRIBUTES if name not in values]  # a hold's expiry, an outcome
        names |= {f"#r{i}": name for i, name in enumerate(removed)}
        condition, extra = "#version = :expected", {":expected": previous.version}
        if previous.status == HELD and new.status == SCHEDULED:  # a confirmation: still held, and unexpired
            condition += " AND #holdExpiresAt > :at"
            names["#holdExpiresAt"] = "holdExpiresAt"
            extra[":at"] = format_instant(at)
        return {"Update": {
            "TableName": self.tables.table,
            "Key": to_item({"appointmentId": new.appointment_id}),
            "UpdateExpression": f"SET {assignments}" + (
                f" REMOVE {', '.join(f'#r{i}' for i in range(len(removed)))}" if removed else ""),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {**names, "#version": "version"},
            "ExpressionAttributeValues": to_item({**{f":f{i}": v for i, v in enumerate(values.values())}, **extra}),
        }}

    @staticmethod
    def _bucket_condition(bucket: Bucket) -> dict:
        """The bucket is as it was read: at that version, or still absent."""
        names = {"ExpressionAttributeNames": {"#version": "version"}}
        if bucket.version:
            return {"ConditionExpression": "#version = :expected", **names,
                    "ExpressionAttributeValues": to_item({":expected": bucket.version})}
        return {"ConditionExpression": "attribute_not_exists(#version)", **names}

    def _bucket_key(self, bucket: Bucket) -> dict:
        return to_item({"userId": bucket.calendar_id, "day": bucket.day})

    def _bucket_check(self, bucket: Bucket) -> dict:
        return {"ConditionCheck": {"TableName": self.tables.calendar, "Key": self._bucket_key(bucket),
                                   **self._bucket_condition(bucket)}}

    def _bucket_write(self, bucket: Bucket, entries: dict[str, Entry]) -> dict:
        """The bucket one version on, even when it is left empty: a deleted bucket would start again at
        version 1, and a decision made on the old version 1 would then pass its check (its TTL removes it)."""
        return {"Put": {"TableName": self.tables.calendar, "Item": to_item(bucket_item(bucket, entries)),
                        **self._bucket_condition(bucket)}}


def bucket_item(bucket: Bucket, entries: dict[str, Entry]) -> dict:
    """A bucket's item one version on, holding ``entries``; it expires 40 days after its day."""
    day_end = datetime.combine(date.fromisoformat(bucket.day), datetime.min.time(), UTC) + timedelta(days=1)
    return {"userId": bucket.calendar_id, "day": bucket.day, "version": bucket.version + 1,
            "slots": bucket_entries(bucket, entries), "expiresAt": int((day_end + BUCKET_TTL).timestamp())}
