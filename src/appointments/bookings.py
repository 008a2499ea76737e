"""Booking, changing and cancelling: read what the decision needs, decide, commit, and retry if it moved.

Each command is the same loop: ``decision.plan`` says what to read, the store reads it in one
consistent BatchGetItem, ``decision.decide`` and ``decision.refused`` accept or refuse, and the store
commits ``decision.outcome`` in one transaction. A commit that lost to a concurrent change (StaleRead)
reads and decides again, with jittered backoff, a bounded number of times.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from appointments import decision
from appointments.appointment import Appointment, apply_changes, cancelled, new_appointment, require_future
from appointments.caller import Caller
from appointments.errors import AppointmentCancelled, IdempotencyKeyReused, NotFound, PreconditionFailed
from appointments.inputs import UNCONDITIONAL, Idempotency, Precondition
from appointments.retries import MAX_ATTEMPTS, until_committed
from appointments.store import BookingStore
from appointments.times import utc_now

T = TypeVar("T")
class Bookings:
    def __init__(self, store: BookingStore, *, clock: Callable[[], datetime] = utc_now,
                 max_attempts: int = MAX_ATTEMPTS, sleep: Callable[[float], None] = time.sleep):
        self.store = store
        self.clock = clock
        self.max_attempts = max_attempts
        self.sleep = sleep

    def _retrying(self, attempt: Callable[[], T]) -> T:
        return until_committed(attempt, self.sleep, self.max_attempts)

    def _commit(self, before: Appointment | None, after: Appointment, plan: decision.Plan,
                snapshot: decision.Snapshot) -> Appointment:
        """Decide the change on what was read, commit it, and return the appointment as committed (with a
        pool's member assigned); or raise its refusal."""
        committed, decided = decision.settle(before, after, plan, snapshot, self.clock())
        self.store.commit(decision.outcome(committed, before, decided, snapshot))
        return committed

    def _change(self, before: Appointment, after: Appointment, caller: Caller) -> Appointment:
        """Read what a change of an existing appointment needs (nothing, for an edit that stays on its
        calendars), decide it, and commit it."""
        plan = decision.plan(before, after)
        snapshot = self.store.read(plan) if plan.days else decision.Snapshot()
        caller.may_name((p for p in after.participants if p not in before.participants), snapshot.rules)
        return self._commit(before, after, plan, snapshot)

    # -- commands -----------------------------------------------------------------------------
    def book(self, body: Mapping, caller: Caller, idempotency: Idempotency | None = None) -> tuple[Appointment, bool]:
        """Book, or replay an earlier booking made with the same Idempotency-Key. Returns (appointment, replayed).
        ``body`` is the request with its userId resolved for the caller."""
        appointment_id = idempotency.resource_id if idempotency else str(uuid.uuid4())
        proposed = replace(new_appointment(body, appointment_id=appointment_id, now=self.clock()),
                           request_hash=idempotency.fingerprint if idempotency else None)
        if idempotency is None:  # with a key, a replay is looked up before the clock is consulted
            require_future(proposed.interval, self.clock())
        replayed = False

        def attempt() -> Appointment:
            nonlocal replayed
            plan = decision.plan(None, proposed)
            snapshot = self.store.read(plan, appointment_id if idempotency else None)
            if snapshot.appointment is not None:
                if snapshot.appointment.request_hash != proposed.request_hash:
                    raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body; "
                                               "use a new key for a new booking.")
                replayed = True
                return snapshot.appointment
            caller.may_name((*proposed.participants, *proposed.any_of), snapshot.rules)
            if idempotency:
                require_future(proposed.interval, self.clock())
            return self._commit(None, proposed, plan, snapshot)

        return self._retrying(attempt), replayed

    def change(self, appointment_id: str, body: Mapping, caller: Caller,
               precondition: Precondition = UNCONDITIONAL) -> Appointment:
        """Reschedule or edit. With an If-Match, only the version it names is changed: the transaction is
        conditioned on the version read, so a concurrent change makes this re-read and answer 412."""
        def attempt() -> Appointment:
            current = self._current(appointment_id, caller, precondition)
            if not current.is_scheduled:
                raise AppointmentCancelled("This appointment is cancelled and can no longer be changed; "
                                           "book a new one.")
            changed = apply_changes(current, body, now=self.clock())
            if changed is current:
                return current
            return self._change(current, changed, caller)

        return self._retrying(attempt)

    def cancel(self, appointment_id: str, caller: Caller, precondition: Precondition = UNCONDITIONAL) -> Appointment:
        def attempt() -> Appointment:
            current = self._current(appointment_id, caller, precondition)
            if not current.is_scheduled:
                return current
            result = cancelled(current, now=self.clock())
            return self._change(current, result, caller)

        return self._retrying(attempt)

    def _current(self, appointment_id: str, caller: Caller, precondition: Precondition) -> Appointment:
        """The appointment as it is now, if the caller may see it and the request's precondition holds."""
        appointment = self.store.tables.appointment(appointment_id) if len(appointment_id) <= 64 else None
        if appointment is None or not caller.can_see(appointment):
            raise NotFound(f"No appointment {appointment_id[:64]} was found.")
        if not precondition.allows_write(appointment.version):
            raise PreconditionFailed(appointment.version)
        return appointment
