"""The DynamoDB data layer: every read and write of the two tables lives here.

AppointmentsTable holds one item per appointment. CalendarTable holds, per calendar and UTC day, a
"bucket": the scheduled appointments occupying that calendar that touch the day (interval,
footprint, owner), and a version. Its partition key is named ``userId`` for history; it holds any
calendar ID (a user, a provider, a room).

A booking reads the buckets of every calendar it occupies, for the days it touches, with one
consistent BatchGetItem, and commits the appointment and every bucket it read in one
TransactWriteItems: changed buckets are written and unchanged ones condition-checked, each on the
version it read. A concurrent change to any of those buckets cancels the transaction (StaleRead),
so two bookings that overlap on any calendar can never both commit.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from appointments.availability import Availability, parse_availability
from appointments.domain import (
    UTC,
    Appointment,
    Interval,
    Slot,
    format_instant,
    parse_stored_instant,
)
from appointments.errors import StaleRead, ValidationError
from appointments.throttling import THROTTLED_REASONS, Backoff, Retry

USER_INDEX = "UserAppointmentsIndex"
RULES = "availability"  # the sort key of a calendar's availability item: never a date
BUCKET_TTL = timedelta(days=40)  # past buckets only serve free/busy look-backs
MAX_DURATION_DAYS = 7
BATCH_GET_KEYS = 100  # DynamoDB's limit of keys per BatchGetItem
TRANSACTION_ACTIONS = 100  # and of actions per TransactWriteItems
# Cancellation reasons that mean "another writer got there first"; "None" marks the items that passed.
RACE_REASONS = {"ConditionalCheckFailed", "TransactionConflict", "None"}
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_item(values: dict) -> dict:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _from_item(item: dict) -> dict:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


@dataclass
class Bucket:
    calendar_id: str
    day: str
    version: int = 0  # 0: the bucket does not exist yet
    slots: dict[str, Slot] = field(default_factory=dict)


@dataclass
class CalendarSnapshot:
    """What one decision read: buckets by (calendar, day), the calendars' availability rules (None for
    a calendar without), the appointment asked for with them, and the version of each rules item (0
    when there is none; a removed one keeps its version, so versions never repeat)."""

    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)
    rules: dict[str, Availability | None] = field(default_factory=dict)
    appointment: Appointment | None = None
    rule_versions: dict[str, int] = field(default_factory=dict)

    def keeping(self, keys: Iterable[tuple[str, str]]) -> CalendarSnapshot:
        """Only the buckets a decision rests on (a read may fetch more than it needs); the rules stay."""
        wanted = set(keys)
        return CalendarSnapshot({k: b for k, b in self.buckets.items() if k in wanted}, self.rules, self.appointment,
                                self.rule_versions)

    def slots_by_calendar(self) -> dict[str, list[Slot]]:
        found: dict[str, list[Slot]] = {}
        for bucket in self.buckets.values():
            found.setdefault(bucket.calendar_id, []).extend(bucket.slots.values())
        return found


def rules_from_item(item: dict) -> Availability | None:
    """The rules of a rules item; None for the tombstone a removal leaves (it keeps only the version)."""
    values = _from_item(item)
    if "rules" not in values:
        return None
    return parse_availability(json.loads(values["rules"]), version=int(values["version"]))


def bucket_from_item(item: dict) -> Bucket:
    values = _from_item(item)
    calendar_id = values["userId"]
    return Bucket(calendar_id, values["day"], int(values["version"]),
                  {k: Slot.decode(k, v, calendar_id) for k, v in values["slots"].items()})


def appointment_from_item(item: dict) -> Appointment:
    """An AppointmentsTable item (or stream image) as an appointment; the inverse of ``appointment_item``."""
    values = _from_item(item)
    return Appointment(
        appointment_id=values["appointmentId"],
        user_id=values["userId"],
        interval=Interval(parse_stored_instant(values["startTime"]), parse_stored_instant(values["endTime"])),
        time_zone=values.get("timeZone", "UTC"),
        participants=tuple(values.get("participants", [])),
        details=values.get("details", {}),
        reminders=tuple(int(m) for m in values.get("reminders", [])),
        status=values["status"],
        created_at=parse_stored_instant(values["createdAt"]),
        updated_at=parse_stored_instant(values["updatedAt"]),
        version=int(values["version"]),
        request_hash=values.get("requestHash"),
    )


def appointment_images(change: dict) -> tuple[Appointment | None, Appointment | None]:
    """A table stream record's ``dynamodb`` part as the appointment before and after the change."""
    old, new = change.get("OldImage"), change.get("NewImage")
    return (appointment_from_item(old) if old else None), (appointment_from_item(new) if new else None)


def appointment_item(appointment: Appointment) -> dict:
    """The stored attributes of an appointment, as plain values. This is the table's schema (and the
    stream images'), kept apart from the API's JSON so that neither changes the other by accident.
    The key and the delivery ledger (requestHash, reminderClaims, remindersSent) are written apart."""
    return {
        "userId": appointment.user_id,
        "startTime": format_instant(appointment.interval.start),
        "endTime": format_instant(appointment.interval.end),
        "timeZone": appointment.time_zone,
        "participants": list(appointment.participants),
        "details": dict(appointment.details),
        "reminders": list(appointment.reminders),
        "status": appointment.status,
        "createdAt": format_instant(appointment.created_at),
        "updatedAt": format_instant(appointment.updated_at),
        "version": appointment.version,
    }


class AppointmentStore:
    """``cursor_key`` authenticates the list's page tokens; the API handler derives it from the stack ID,
    which callers never see, so a token this API did not issue, or issued for another user, is refused."""

    def __init__(self, dynamodb, table_name: str, calendar_table_name: str = "", cursor_key: str = "",
                 backoff: Backoff | None = None):
        self.dynamodb = dynamodb
        self.table = table_name
        self.calendar = calendar_table_name
        self.cursors = PageCursors(cursor_key)
        self.backoff = backoff or Backoff()

    def _retried(self, operation, **request):
        """One DynamoDB call, retried through throttling (ServiceUnavailable past the bound)."""
        return self.backoff.run(lambda: operation(**request))

    # -- conflict control ---------------------------------------------------------------------
    def read_calendars(self, days: Mapping[str, Iterable[str]], appointment_id: str | None = None,
                       rules_of: Iterable[str] = ()) -> CalendarSnapshot:
        """One consistent BatchGetItem: the buckets of ``days`` (calendar ID -> UTC days), the availability
        of the calendars in ``rules_of``, and optionally an appointment. Buckets that do not exist yet come
        back empty, at version 0."""
        keys = sorted({(calendar_id, day) for calendar_id, wanted in days.items() for day in wanted})
        rules_of = sorted(set(rules_of))
        snapshot = CalendarSnapshot({key: Bucket(*key) for key in keys}, dict.fromkeys(rules_of),
                                    rule_versions=dict.fromkeys(rules_of, 0))
        wanted = [*keys, *((calendar_id, RULES) for calendar_id in rules_of)]
        requests = [{self.table: {"Keys": [_to_item({"appointmentId": appointment_id})], "ConsistentRead": True}}
                    if appointment_id else {}]
        for start in range(0, len(wanted), BATCH_GET_KEYS - 1):  # more than one call only past 99 keys
            chunk = [_to_item({"userId": c, "day": d}) for c, d in wanted[start:start + BATCH_GET_KEYS - 1]]
            if start:
                requests.append({})
            requests[-1][self.calendar] = {"Keys": chunk, "ConsistentRead": True}
        for request in requests:
            for table, item in self._batch_get(request):
                if table == self.table:
                    snapshot.appointment = appointment_from_item(item)
                elif item["day"]["S"] == RULES:
                    snapshot.rules[item["userId"]["S"]] = rules_from_item(item)
                    snapshot.rule_versions[item["userId"]["S"]] = int(item["version"]["N"])
                else:
                    bucket = bucket_from_item(item)
                    snapshot.buckets[(bucket.calendar_id, bucket.day)] = bucket
        return snapshot

    def _batch_get(self, request: dict) -> list[tuple[str, dict]]:
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

    def commit(self, new: Appointment, snapshot: CalendarSnapshot, previous: Appointment | None = None,
               footprints: Mapping[str, Interval] | None = None) -> None:
        """Write ``new`` and the buckets the decision read in one transaction, or raise StaleRead.

        ``previous`` is the appointment as read (None for a booking); the write is conditioned on its
        version. Every bucket in the snapshot is conditioned on the version read: written if it changes
        (the appointment enters, moves or leaves it), condition-checked if not; so is every availability
        read, so the decision holds for the rules it was made with. In each calendar the appointment
        occupies the days of its footprint there (``footprints``, by calendar; the interval by default).
        """
        footprints = footprints or {}
        items = [self._appointment_write(new, previous)]
        for bucket in snapshot.buckets.values():
            wanted = {k: v for k, v in bucket.slots.items() if k != new.appointment_id}
            if new.is_scheduled and bucket.calendar_id in new.calendars:
                slot = replace(new.slot, footprint=footprints.get(bucket.calendar_id))
                if slot.blocks.touches_day(bucket.day):
                    wanted[new.appointment_id] = slot
            items.append(self._bucket_write(bucket, wanted) if wanted != bucket.slots else self._bucket_check(bucket))
        for calendar_id in snapshot.rules:
            items.append(self._bucket_check(Bucket(calendar_id, RULES, snapshot.rule_versions.get(calendar_id, 0))))
        if len(items) > TRANSACTION_ACTIONS:
            raise ValidationError(f"This change touches {len(items) - 1} calendar days at once, more than one "
                                  "transaction holds; move the appointment in smaller steps, or cancel it and book "
                                  "again.")
        self.backoff.run(lambda: self._transact(items))

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

    # -- availability ---------------------------------------------------------------------------
    def get_rules(self, calendar_id: str) -> Availability | None:
        return self.rules_state(calendar_id)[0]

    def rules_state(self, calendar_id: str) -> tuple[Availability | None, int]:
        """A calendar's rules (None if it has none) and its rules item's version (0 if there never were any)."""
        response = self._retried(self.dynamodb.get_item, TableName=self.calendar,
                                 Key=_to_item({"userId": calendar_id, "day": RULES}), ConsistentRead=True)
        item = response.get("Item")
        return (rules_from_item(item), int(item["version"]["N"])) if item else (None, 0)

    def put_rules(self, calendar_id: str, rules: Availability, expected_version: int | None = None) -> Availability:
        """Replace a calendar's rules; the version goes up by one. Returns the rules as stored.

        With ``expected_version``, the write happens only if the rules item is at that version (0: there
        never was one), else StaleRead."""
        stored = {k: v for k, v in rules.to_api().items() if k != "version"}
        condition = {}
        if expected_version is not None:
            condition = {"ConditionExpression": "#version = :expected" if expected_version
                         else "attribute_not_exists(#version)"}
        values = {":rules": json.dumps(stored, separators=(",", ":")), ":zero": 0, ":one": 1}
        if expected_version:
            values[":expected"] = expected_version
        try:
            response = self._retried(
                self.dynamodb.update_item, TableName=self.calendar, Key=_to_item({"userId": calendar_id, "day": RULES}),
                UpdateExpression="SET #rules = :rules, #version = if_not_exists(#version, :zero) + :one",
                ExpressionAttributeNames={"#rules": "rules", "#version": "version"},
                ExpressionAttributeValues=_to_item(values), ReturnValues="ALL_NEW", **condition)
        except self.dynamodb.exceptions.ConditionalCheckFailedException as error:
            raise StaleRead(f"the rules of {calendar_id} are not at version {expected_version}") from error
        return rules_from_item(response["Attributes"])

    def rules_of(self, calendar_ids: Iterable[str]) -> dict[str, Availability | None]:
        """The rules of several calendars, with one consistent BatchGetItem."""
        return self.read_calendars({}, rules_of=calendar_ids).rules

    def delete_rules(self, calendar_id: str) -> None:
        """Remove the rules, keeping a tombstone one version on: a booking that checked the old version then
        fails its check, and the next rules continue from there."""
        with contextlib.suppress(self.dynamodb.exceptions.ConditionalCheckFailedException):  # no rules to remove
            self._retried(self.dynamodb.update_item, TableName=self.calendar,
                          Key=_to_item({"userId": calendar_id, "day": RULES}),
                          UpdateExpression="SET #version = #version + :one REMOVE #rules",
                          ConditionExpression="attribute_exists(#rules)",
                          ExpressionAttributeNames={"#rules": "rules", "#version": "version"},
                          ExpressionAttributeValues=_to_item({":one": 1}))

    def _appointment_write(self, new: Appointment, previous: Appointment | None) -> dict:
        if previous is None:
            item = {"appointmentId": new.appointment_id, **appointment_item(new), "reminderClaims": {}}
            if new.request_hash:
                item["requestHash"] = new.request_hash
            return {"Put": {"TableName": self.table, "Item": _to_item(item),
                            "ConditionExpression": "attribute_not_exists(appointmentId)"}}
        values = appointment_item(new)
        names = {f"#f{i}": name for i, name in enumerate(values)}
        assignments = ", ".join(f"#f{i} = :f{i}" for i in range(len(values)))
        return {"Update": {
            "TableName": self.table,
            "Key": _to_item({"appointmentId": new.appointment_id}),
            "UpdateExpression": f"SET {assignments}",
            "ConditionExpression": "#version = :expected",
            "ExpressionAttributeNames": {**names, "#version": "version"},
            "ExpressionAttributeValues": _to_item({**{f":f{i}": v for i, v in enumerate(values.values())},
                                                   ":expected": previous.version}),
        }}

    @staticmethod
    def _bucket_condition(bucket: Bucket) -> dict:
        """The bucket is as it was read: at that version, or still absent."""
        names = {"ExpressionAttributeNames": {"#version": "version"}}
        if bucket.version:
            return {"ConditionExpression": "#version = :expected", **names,
                    "ExpressionAttributeValues": _to_item({":expected": bucket.version})}
        return {"ConditionExpression": "attribute_not_exists(#version)", **names}

    @staticmethod
    def _bucket_key(bucket: Bucket) -> dict:
        return _to_item({"userId": bucket.calendar_id, "day": bucket.day})

    def _bucket_check(self, bucket: Bucket) -> dict:
        return {"ConditionCheck": {"TableName": self.calendar, "Key": self._bucket_key(bucket),
                                   **self._bucket_condition(bucket)}}

    def _bucket_write(self, bucket: Bucket, slots: dict[str, Slot]) -> dict:
        if bucket.version and not slots:
            return {"Delete": {"TableName": self.calendar, "Key": self._bucket_key(bucket),
                               **self._bucket_condition(bucket)}}
        day_end = datetime.combine(date.fromisoformat(bucket.day), datetime.min.time(), UTC) + timedelta(days=1)
        item = {"userId": bucket.calendar_id, "day": bucket.day, "version": bucket.version + 1,
                "slots": {k: v.encode(bucket.calendar_id) for k, v in slots.items()},
                "expiresAt": int((day_end + BUCKET_TTL).timestamp())}
        return {"Put": {"TableName": self.calendar, "Item": _to_item(item), **self._bucket_condition(bucket)}}

    def bulk_load(self, appointments: Iterable[Appointment]) -> int:
        """Write appointments and their calendar buckets as bookings would, without conflict control.

        For seeding empty calendars (benchmarks, migrations) only: it checks nothing, and a
        concurrent booking could interleave. Returns the number of items written.
        """
        items: list[tuple[str, dict]] = []
        buckets: dict[tuple[str, str], dict[str, Slot]] = {}
        for appointment in appointments:
            items.append((self.table, self._appointment_write(appointment, None)["Put"]["Item"]))
            if appointment.is_scheduled:
                for calendar_id in appointment.calendars:
                    for day in appointment.interval.days():
                        buckets.setdefault((calendar_id, day), {})[appointment.appointment_id] = appointment.slot
        for key, slots in buckets.items():
            items.append((self.calendar, self._bucket_write(Bucket(*key), slots)["Put"]["Item"]))
        for start in range(0, len(items), 25):
            request: dict[str, list] = {}
            for table, item in items[start:start + 25]:
                request.setdefault(table, []).append({"PutRequest": {"Item": item}})
            while request:
                request = self._retried(self.dynamodb.batch_write_item, RequestItems=request).get("UnprocessedItems")
        return len(items)

    # -- reads ----------------------------------------------------------------------------------
    def get(self, appointment_id: str) -> Appointment | None:
        response = self._retried(self.dynamodb.get_item, TableName=self.table,
                                 Key=_to_item({"appointmentId": appointment_id}), ConsistentRead=True)
        return appointment_from_item(response["Item"]) if "Item" in response else None

    # -- reminder delivery ledger ------------------------------------------------------------------
    def claim_reminder(self, appointment: Appointment, marker: str, now: datetime, lease: timedelta) -> bool:
        """Claim the right to send one reminder; False if it was sent, is being sent, or no longer applies.

        The claim is conditioned on the appointment still being scheduled at the same start, so a
        cancel or reschedule that lands after the sender's read still stops the reminder. A claim
        whose sender died expires after ``lease`` and may be taken again.
        """
        try:
            self._retried(
                self.dynamodb.update_item,
                TableName=self.table,
                Key=_to_item({"appointmentId": appointment.appointment_id}),
                UpdateExpression="SET reminderClaims.#marker = :now",
                ConditionExpression=("#status = :scheduled AND #start = :start AND NOT contains(remindersSent, :marker)"
                                     " AND (attribute_not_exists(reminderClaims.#marker) OR "
                                     "reminderClaims.#marker < :expired)"),
                ExpressionAttributeNames={"#marker": marker, "#status": "status", "#start": "startTime"},
                ExpressionAttributeValues=_to_item({
                    ":now": int(now.timestamp()), ":expired": int((now - lease).timestamp()),
                    ":scheduled": "scheduled", ":start": format_instant(appointment.interval.start),
                    ":marker": marker}),
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_reminder_sent(self, appointment_id: str, marker: str) -> None:
        self._retried(
            self.dynamodb.update_item, TableName=self.table, Key=_to_item({"appointmentId": appointment_id}),
            UpdateExpression="ADD remindersSent :marker REMOVE reminderClaims.#marker",
            ExpressionAttributeNames={"#marker": marker},
            ExpressionAttributeValues={":marker": {"SS": [marker]}},
        )

    def list_for_user(self, user_id: str, window: tuple[datetime | None, datetime | None], status: str | None,
                      limit: int, next_token: str | None) -> tuple[list[Appointment], str | None]:
        """The user's appointments overlapping the window, by start time, ``limit`` per page.

        The index is keyed on startTime, so the query starts one maximum duration before ``from`` and
        a filter keeps the appointments that still end after it.
        """
        since, until = window
        names = {"#user": "userId"}
        values: dict = {":user": user_id}
        key_condition = "#user = :user"
        lower = format_instant(since - timedelta(days=MAX_DURATION_DAYS)) if since else None
        upper = format_instant(until - timedelta(seconds=1)) if until else None
        if lower or upper:
            names["#start"] = "startTime"
        if lower and upper:
            key_condition += " AND #start BETWEEN :lower AND :upper"
            values |= {":lower": lower, ":upper": upper}
        elif lower:
            key_condition += " AND #start >= :lower"
            values[":lower"] = lower
        elif upper:
            key_condition += " AND #start <= :upper"
            values[":upper"] = upper
        filters = []
        if since:
            filters.append("#end > :since")
            names["#end"], values[":since"] = "endTime", format_instant(since)
        if status:
            filters.append("#status = :status")
            names["#status"], values[":status"] = "status", status
        request = {"TableName": self.table, "IndexName": USER_INDEX, "KeyConditionExpression": key_condition,
                   "ExpressionAttributeNames": names, "ExpressionAttributeValues": _to_item(values),
                   "Limit": limit}
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        scope = f"appointments?userId={user_id}"
        start_key = None
        if next_token is not None:
            start, appointment_id = self.cursors.decode(next_token, scope)
            start_key = _to_item({"appointmentId": appointment_id, "userId": user_id, "startTime": start})
        found: list[Appointment] = []
        while len(found) < limit:
            if start_key:
                request["ExclusiveStartKey"] = start_key
            response = self._retried(self.dynamodb.query, **request)
            found.extend(appointment_from_item(item) for item in response["Items"])
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                break
        page = found[:limit]
        more = len(found) > limit or start_key is not None
        return page, (self.cursors.encode(page[-1].appointment_id, page[-1].interval.start, scope)
                      if more and page else None)

    def calendar_slots(self, calendar_id: str, first_day: str, last_day: str) -> list[Slot]:
        """The entries of a calendar's buckets from ``first_day`` to ``last_day``, each appointment once."""
        request = {"TableName": self.calendar, "ConsistentRead": True,
                   "KeyConditionExpression": "#calendar = :calendar AND #day BETWEEN :first AND :last",
                   "ExpressionAttributeNames": {"#calendar": "userId", "#day": "day"},
                   "ExpressionAttributeValues": _to_item({":calendar": calendar_id, ":first": first_day,
                                                          ":last": last_day})}
        slots: dict[str, Slot] = {}
        while True:
            response = self._retried(self.dynamodb.query, **request)
            for item in response["Items"]:
                slots.update(bucket_from_item(item).slots)
            if "LastEvaluatedKey" not in response:
                return list(slots.values())
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def get_many(self, appointment_ids: list[str]) -> list[Appointment]:
        """Consistent reads of up to 100 appointments, in the order asked."""
        request = {self.table: {"Keys": [_to_item({"appointmentId": a}) for a in appointment_ids],
                                "ConsistentRead": True}} if appointment_ids else {}
        found = {a.appointment_id: a for a in (appointment_from_item(item) for _, item in self._batch_get(request))}
        return [found[a] for a in appointment_ids if a in found]


class PageCursors:
    """Opaque ``nextToken`` values: where a page ended (start time and appointment ID), with a MAC over
    it and the query's scope (its userId or calendar), so only tokens this API issued for that query
    are taken back."""

    def __init__(self, key: str):
        self.key = hashlib.sha256(f"appointments page cursor\n{key}".encode()).digest()

    def _mac(self, scope: str, payload: str) -> str:
        digest = hmac.new(self.key, f"{scope}\n{payload}".encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def encode(self, appointment_id: str, start: datetime, scope: str) -> str:
        raw = json.dumps({"a": appointment_id, "s": format_instant(start)}, separators=(",", ":"))
        payload = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(scope, payload)}"

    def decode(self, token: str, scope: str) -> tuple[str, str]:
        """(start time, appointment ID) of the last entry of the page the token ended."""
        refused = ValidationError("nextToken is not a token this API returned for this query; repeat the query "
                                  "without it.", "nextToken")
        payload, _, mac = token.partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(scope, payload).encode()):
            raise refused
        try:
            raw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            appointment_id, start = raw["a"], raw["s"]
            parse_stored_instant(start)
            if not isinstance(appointment_id, str):
                raise TypeError
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise refused from None
        return start, appointment_id
