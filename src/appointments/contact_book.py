"""Contacts admin (API.md, "Contacts and notifications"): read, set and erase a calendar's contact.

Under Cognito only the calendar's owner or a member of calendar-admins may do any of it, bookable
calendar or not: a contact is never readable by other callers. Answers are ``Contact`` values; the HTTP
layer shapes the JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime

from appointments.appointment import validate_calendar_id
from appointments.caller import Caller
from appointments.contacts import Contact, parse_contact
from appointments.contacts_store import ContactsStore
from appointments.errors import Forbidden, NotFound, PreconditionFailed
from appointments.inputs import UNCONDITIONAL, Precondition
from appointments.retries import until_committed
from appointments.store import Tables
from appointments.times import utc_now


class ContactBook:
    def __init__(self, tables: Tables, *, clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], None] = time.sleep):
        self.store = ContactsStore(tables)
        self.clock = clock
        self.sleep = sleep

    @staticmethod
    def _may_manage(calendar_id: str, caller: Caller) -> str:
        validate_calendar_id(calendar_id, "calendarId")
        if not caller.manages(calendar_id):
            raise Forbidden(f"Only the owner of calendar {calendar_id} or a calendar admin may read, set or erase "
                            "its contact.")
        return calendar_id

    def get(self, calendar_id: str, caller: Caller) -> Contact:
        contact = self.store.get(self._may_manage(calendar_id, caller))
        if contact is None:
            raise NotFound(f"Calendar {calendar_id} has no contact.")
        return contact

    def set(self, calendar_id: str, body: Mapping, caller: Caller,
            precondition: Precondition = UNCONDITIONAL) -> Contact:
        """Replace the contact. It is read first (consent is carried over from it) and written only at the
        version read, so a concurrent change makes this read again and decide again."""
        self._may_manage(calendar_id, caller)
        parse_contact(body, self.clock())  # a body at fault is refused before anything is read

        def attempt() -> Contact:
            current, version = self.store.state(calendar_id)
            if not precondition.allows_write(current.version if current else None):
                raise PreconditionFailed(current.version if current else 0)
            now = self.clock()
            return self.store.put(calendar_id, parse_contact(body, now, current), now, expected_version=version)

        return until_committed(attempt, self.sleep)

    def erase(self, calendar_id: str, caller: Caller) -> None:
        self.store.remove(self._may_manage(calendar_id, caller))
