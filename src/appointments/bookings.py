"""Booking, changing and cancelling: read what the decision needs, decide, commit, and retry if it moved.

Each command is the same loop: ``decision.plan`` says what to read, the store reads it in one
consistent BatchGetItem, ``decision.decide`` and ``decision.refused`` accept or refuse, and the store
commits ``decision.outcome`` in one transaction. A commit that lost to a concurrent change (StaleRead)
reads and decides again, with jittered backoff, a bounded number of times.

The plan reads each calendar where the rules this instance last saw for it reach (``hints``): the
days the appointment touches for a calendar without rules. Rules it did not expect (a calendar seen
for the first time, or rules changed since) make ``settle`` ask for more (ReadMore): those buckets are
read too, and the change is decided on the first read's rules with them; the hints then know.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from appointments import decision
from appointments.appointment import (
    CANCELLED,
    HELD,
    OUTCOMES,
    SCHEDULED,
    Appointment,
    apply_changes,
    cancelled,
    confirmed,
    new_appointment,
    require_future,
    require_still_on,
    with_outcome,
)
from appointments.availability import Availability
from appointments.caller import Caller
from appointments.errors import (
    AppointmentCancelled,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    OutcomeNotRecordable,
    PreconditionFailed,
    ReadMore,
    StaleRead,
    ValidationError,
)
from appointments.inputs import UNCONDITIONAL, Idempotency, Precondition
from appointments.retries import MAX_ATTEMPTS, until_committed
from appointments.store import BookingStore
from appointments.times import utc_now

T = TypeVar("T")
MAX_HINTS = 10_000  # calendars with rules whose rules an instance remembers between requests


class Bookings:
    def __init__(self, store: BookingStore, *, clock: Callable[[], datetime] = utc_now,
                 max_attempts: int = MAX_ATTEMPTS, sleep: Callable[[float], None] = time.sleep):
        self.store = store
        self.clock = clock
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.hints: dict[str, Availability] = {}  # the rules last read, of calendars that have them

    def _read(self, plan: decision.Plan, appointment_id: str | None = None) -> decision.Snapshot:
        snapshot = self.store.read(plan, appointment_id)
        for calendar_id, rules in snapshot.rules.items():  # a calendar without rules needs no hint
            if rules is None:
                self.hints.pop(calendar_id, None)
            else:
                if len(self.hints) >= MAX_HINTS:
                    self.hints.clear()
                self.hints[calendar_id] = rules
        return snapshot

    def _retrying(self, attempt: Callable[[], T]) -> T:
        return until_committed(attempt, self.sleep, self.max_attempts)

    def _commit(self, before: Appointment | None, after: Appointment, plan: decision.Plan,
                snapshot: decision.Snapshot) -> Appointment:
        """Decide the change on what was read, commit it, and return the appointment as committed (with a
        pool's member assigned); or raise its refusal."""
        now = self.clock()
        try:
            committed, decided = decision.settle(before, after, plan, snapshot, now)
        except ReadMore as more:  # rules it did not expect: read the buckets they reach, and decide again on
            # the same rules (the ones the caller was checked against, and the commit condition-checks)
            plan = plan.including(more.buckets)
            snapshot = snapshot.with_buckets(self.store.read(decision.Plan.of_buckets(more.buckets)))
            try:
                committed, decided = decision.settle(before, after, plan, snapshot, now)
            except ReadMore:  # cannot happen: the same rules reach the same buckets; start over if it does
                raise StaleRead() from None
        self.store.commit(decision.outcome(committed, before, decided, snapshot, now, plan.holds_of))
        return committed

    def _change(self, before: Appointment, after: Appointment, caller: Caller) -> Appointment:
        """Read what a change of an existing appointment needs (nothing, for an edit that stays on its
        calendars), decide it, and commit it."""
        plan = decision.plan(before, after, self.hints)
        snapshot = self._read(plan) if plan.days or plan.holds_of else decision.Snapshot()
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
            plan = decision.plan(None, proposed, self.hints)
            snapshot = self._read(plan, appointment_id if idempotency else None)
            if snapshot.appointment is not None:
                if snapshot.appointment.request_hash != proposed.request_hash:
                    raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body; "
                                               "use a new key for a new booking.")
                replayed = True
                return snapshot.appointment.as_of(self.clock())
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
            require_still_on(current)
            changed = apply_changes(current, body, now=self.clock())
            if changed is current:
                return current
            return self._change(current, changed, caller)

        return self._retrying(attempt)

    def cancel(self, appointment_id: str, caller: Caller, precondition: Precondition = UNCONDITIONAL) -> Appointment:
        def attempt() -> Appointment:
            current = self._current(appointment_id, caller, precondition)
            if not current.occupies:  # cancelled already, or a hold that expired: nothing left to free
                return current
            return self._change(current, cancelled(current, now=self.clock()), caller)

        return self._retrying(attempt)

    def confirm(self, appointment_id: str, caller: Caller, precondition: Precondition = UNCONDITIONAL) -> Appointment:
        """A hold becomes scheduled, in a transaction conditioned on its expiry being still ahead; a
        scheduled appointment is returned as it is."""
        def attempt() -> Appointment:
            current = self._current(appointment_id, caller, precondition)
            require_still_on(current)
            if current.status != HELD:
                return current
            return self._change(current, confirmed(current, now=self.clock()), caller)

        return self._retrying(attempt)

    def record_outcome(self, appointment_id: str, body: Mapping | None, caller: Caller,
                       precondition: Precondition = UNCONDITIONAL) -> Appointment:
        """Set (``body`` ``{"outcome": ...}``) or clear (None) what happened, once the appointment has started.
        Under Cognito, a manager of a participant's (or the assigned member's) calendar records it."""
        outcome = outcome_of(body) if body is not None else None

        def attempt() -> Appointment:
            current = self._current(appointment_id, caller, precondition, for_outcome=True)
            if current.outcome == outcome:
                return current
            if current.status == CANCELLED:
                raise AppointmentCancelled("This appointment is cancelled: it has no outcome to record.")
            if current.status != SCHEDULED:
                raise OutcomeNotRecordable("A hold has no outcome; confirm it first, and record the outcome once "
                                           "the appointment has started.")
            now = self.clock()
            if current.interval.start > now:
                raise OutcomeNotRecordable("The appointment has not started yet; record its outcome once it has.")
            return self._change(current, with_outcome(current, outcome, now=now), caller)  # reads nothing

        return self._retrying(attempt)

    def _current(self, appointment_id: str, caller: Caller, precondition: Precondition,
                 for_outcome: bool = False) -> Appointment:
        """The appointment as it is now (a hold past its expiry reads as expired), if the caller may see it
        and the request's precondition holds."""
        appointment = self.store.tables.appointment(appointment_id) if len(appointment_id) <= 64 else None
        recorder = for_outcome and appointment is not None and caller.records_outcome_of(appointment)
        if appointment is None or not (recorder or caller.can_see(appointment)):
            raise NotFound(f"No appointment {appointment_id[:64]} was found.")
        if for_outcome and not recorder:
            raise Forbidden("Only a manager of one of the appointment's participants records its outcome.")
        if not precondition.allows_write(appointment.version):
            raise PreconditionFailed(appointment.version)
        return appointment.as_of(self.clock())


def outcome_of(body: Mapping) -> str:
    if set(body) != {"outcome"} or body["outcome"] not in OUTCOMES:
        raise ValidationError(f'The body is {{"outcome": "{OUTCOMES[0]}"}} or {{"outcome": "{OUTCOMES[1]}"}}.',
                              "outcome")
    return body["outcome"]
