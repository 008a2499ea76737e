"""Booking logic: read the calendar, decide in memory, commit in one transaction, retry if it moved.

The HTTP layer calls these methods with parsed input and maps the domain errors they raise.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from appointments.domain import (
    UTC,
    Appointment,
    Interval,
    apply_changes,
    cancelled,
    find_conflicts,
    format_instant,
    merge_busy,
    new_appointment,
    require_future,
    validate_user_id,
)
from appointments.errors import (
    AppointmentCancelled,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    StaleRead,
    TooMuchContention,
    ValidationError,
)
from appointments.inputs import ListQuery, idempotent_appointment_id, request_fingerprint
from appointments.store import AppointmentStore, CalendarSnapshot


@dataclass(frozen=True)
class Caller:
    """Who is calling. ``subject`` is the Cognito ``sub``; None under IAM or no authorizer."""

    subject: str | None = None

    def user_for(self, requested: object, field_name: str = "userId") -> str:
        if self.subject is None:
            if requested is None:
                raise ValidationError(f"{field_name} is required.", field_name)
            return validate_user_id(requested, field_name)
        if requested is not None and requested != self.subject:
            raise Forbidden(f"{field_name} must be your own user ID.")
        return self.subject

    def can_see(self, appointment: Appointment) -> bool:
        return self.subject is None or appointment.user_id == self.subject


class Bookings:
    def __init__(self, store: AppointmentStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 max_attempts: int = 8, sleep: Callable[[float], None] = time.sleep):
        self.store = store
        self.clock = clock
        self.max_attempts = max_attempts
        self.sleep = sleep

    def _retrying(self, attempt: Callable[[], Appointment]) -> Appointment:
        """Run read-decide-commit until it commits; back off with full jitter between tries."""
        for number in range(self.max_attempts):
            try:
                return attempt()
            except StaleRead:
                self.sleep(random.uniform(0, 0.01 * 2 ** number))
        raise TooMuchContention()

    # -- commands -----------------------------------------------------------------------------
    def book(self, body: Mapping, caller: Caller, idempotency_key: str | None = None) -> tuple[Appointment, bool]:
        """Book, or replay an earlier booking made with the same Idempotency-Key. Returns (appointment, replayed)."""
        user_id = caller.user_for(body.get("userId"))
        body = {**body, "userId": user_id}
        if idempotency_key is None:
            appointment_id, fingerprint = str(uuid.uuid4()), None
        else:
            appointment_id = idempotent_appointment_id(user_id, idempotency_key)
            fingerprint = request_fingerprint(body)
        proposed = replace(new_appointment(body, appointment_id=appointment_id, now=self.clock()),
                           request_hash=fingerprint)
        if fingerprint is None:  # with a key, a replay is looked up before the clock is consulted
            require_future(proposed.interval, self.clock())
        replayed = False

        def attempt() -> Appointment:
            nonlocal replayed
            snapshot = self.store.read_calendar(user_id, proposed.interval.days(),
                                                appointment_id if fingerprint else None)
            if snapshot.appointment is not None:
                if snapshot.appointment.request_hash != fingerprint:
                    raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body; "
                                               "use a new key for a new booking.")
                replayed = True
                return snapshot.appointment
            if fingerprint:
                require_future(proposed.interval, self.clock())
            self._refuse_conflicts(proposed, snapshot.slots())
            self.store.commit(proposed, snapshot)
            return proposed

        return self._retrying(attempt), replayed

    def change(self, appointment_id: str, body: Mapping, caller: Caller) -> Appointment:
        def attempt() -> Appointment:
            current = self._visible(appointment_id, caller)
            if not current.is_scheduled:
                raise AppointmentCancelled("This appointment is cancelled and can no longer be changed; "
                                           "book a new one.")
            changed = apply_changes(current, body, now=self.clock())
            if changed is current:
                return current
            if changed.interval == current.interval:  # an edit that moves nothing needs no calendar
                snapshot = CalendarSnapshot(current.user_id, {})
            else:
                days = set(changed.interval.days()) | set(current.interval.days())
                snapshot = self.store.read_calendar(current.user_id, days)
                self._refuse_conflicts(changed, snapshot.slots())
            self.store.commit(changed, snapshot, previous=current)
            return changed

        return self._retrying(attempt)

    def cancel(self, appointment_id: str, caller: Caller) -> Appointment:
        def attempt() -> Appointment:
            current = self._visible(appointment_id, caller)
            if not current.is_scheduled:
                return current
            snapshot = self.store.read_calendar(current.user_id, current.interval.days())
            result = cancelled(current, now=self.clock())
            self.store.commit(result, snapshot, previous=current)
            return result

        return self._retrying(attempt)

    # -- queries --------------------------------------------------------------------------------
    def get(self, appointment_id: str, caller: Caller) -> Appointment:
        return self._visible(appointment_id, caller)

    def list(self, query: ListQuery, caller: Caller) -> tuple[list[Appointment], str | None]:
        user_id = caller.user_for(query.user_id)
        return self.store.list_for_user(user_id, (query.since, query.until), query.status, query.limit,
                                        query.next_token)

    def busy(self, user_id: str, window: Interval, caller: Caller) -> dict:
        user_id = caller.user_for(user_id)
        days = window.days()
        busy = merge_busy(self.store.busy_intervals(user_id, days[0], days[-1]), window)
        return {"userId": user_id, "from": format_instant(window.start), "to": format_instant(window.end),
                "busy": [{"start": format_instant(i.start), "end": format_instant(i.end)} for i in busy]}

    # -- helpers --------------------------------------------------------------------------------
    def _visible(self, appointment_id: str, caller: Caller) -> Appointment:
        appointment = self.store.get(appointment_id) if len(appointment_id) <= 64 else None
        if appointment is None or not caller.can_see(appointment):
            raise NotFound(f"No appointment {appointment_id[:64]} was found.")
        return appointment

    @staticmethod
    def _refuse_conflicts(appointment: Appointment, existing) -> None:
        conflicts = find_conflicts(appointment.interval, existing, ignore=appointment.appointment_id)
        if conflicts:
            raise Conflict("The time overlaps another of this user's scheduled appointments; pick a free slot "
                           "(see GET /users/{userId}/busy).", conflicts=[c.to_api() for c in conflicts])
