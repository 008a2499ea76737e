"""The read side of the data layer: what occupies a calendar over a window, appointments by ID, and a
user's appointments by start time (the one use of the table's index).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from appointments.appointment import EXPIRED, HELD, MAX_DURATION, Appointment
from appointments.codecs import appointment_from_item, bucket_from_item, to_item
from appointments.occupancy import Entry
from appointments.store import Tables
from appointments.times import format_instant

USER_INDEX = "UserAppointmentsIndex"
After = tuple[str, str]  # (start time, appointment ID) of the last appointment of the page before


class CalendarReads:
    def __init__(self, tables: Tables):
        self.tables = tables
        self.dynamodb = tables.dynamodb

    def entries(self, calendar_id: str, first_day: str, last_day: str) -> list[Entry]:
        """The entries of a calendar's buckets from ``first_day`` to ``last_day``, each appointment once."""
        request = {"TableName": self.tables.calendar, "ConsistentRead": True,
                   "KeyConditionExpression": "#calendar = :calendar AND #day BETWEEN :first AND :last",
                   "ExpressionAttributeNames": {"#calendar": "userId", "#day": "day"},
                   "ExpressionAttributeValues": to_item({":calendar": calendar_id, ":first": first_day,
                                                         ":last": last_day})}
        entries: dict[str, Entry] = {}
        while True:
            response = self.tables.call(self.dynamodb.query, **request)
            for item in response["Items"]:
                entries.update(bucket_from_item(item).entries)
            if "LastEvaluatedKey" not in response:
                return list(entries.values())
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def appointments(self, appointment_ids: list[str]) -> list[Appointment]:
        """Consistent reads of up to 100 appointments, in the order asked."""
        request = {self.tables.table: {"Keys": [to_item({"appointmentId": a}) for a in appointment_ids],
                                       "ConsistentRead": True}} if appointment_ids else {}
        found = {a.appointment_id: a for a in (appointment_from_item(item)
                                               for _, item in self.tables.batch_get(request))}
        return [found[a] for a in appointment_ids if a in found]

    def user_page(self, user_id: str, since: datetime | None, until: datetime | None, status: str | None,
                  limit: int, after: After | None, now: datetime) -> tuple[list[Appointment], bool]:
        """A page of the user's appointments overlapping ``[since, until)``, by start time, after ``after``,
        in ``status`` as of ``now`` (None: any but expired); and whether more follow.

        The index is keyed on startTime, so the query starts one maximum duration before ``since`` and
        a filter keeps the appointments that still end after it.
        """
        names = {"#user": "userId"}
        values: dict = {":user": user_id}
        key_condition = "#user = :user"
        lower = format_instant(since - MAX_DURATION) if since else None
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
        if status is None or status in (HELD, EXPIRED):  # a hold is stored held, and expired by its expiry
            names["#status"], names["#expires"] = "status", "holdExpiresAt"
            values[":held"], values[":now"] = HELD, format_instant(now)
            filters.append({None: "NOT (#status = :held AND #expires <= :now)",
                            HELD: "#status = :held AND #expires > :now",
                            EXPIRED: "#status = :held AND #expires <= :now"}[status])
        else:
            filters.append("#status = :status")
            names["#status"], values[":status"] = "status", status
        request = {"TableName": self.tables.table, "IndexName": USER_INDEX, "KeyConditionExpression": key_condition,
                   "ExpressionAttributeNames": names, "ExpressionAttributeValues": to_item(values), "Limit": limit}
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        start_key = None
        if after is not None:
            start, appointment_id = after
            start_key = to_item({"appointmentId": appointment_id, "userId": user_id, "startTime": start})
        found: list[Appointment] = []
        while len(found) < limit:
            if start_key:
                request["ExclusiveStartKey"] = start_key
            response = self.tables.call(self.dynamodb.query, **request)
            found.extend(appointment_from_item(item) for item in response["Items"])
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                break
        return found[:limit], len(found) > limit or start_key is not None
