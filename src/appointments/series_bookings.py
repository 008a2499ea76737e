"""Recurring series: every occurrence decided and booked in one transaction, or none; cancelled from N on.

The same loop as a booking, around the same decision: ``decision.plan`` for every occurrence (the reads
may take several BatchGetItem calls; each bucket's version is still checked in the transaction),
``decision.settle_series`` decides each against the read and the occurrences before it, and the store
commits ``decision.commit_of`` all of them, with the series' record, in one TransactWriteItems.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NoReturn

from appointments import decision
from appointments.appointment import Appointment, cancelled, new_appointment, require_future
from appointments.calendar_reads import CalendarReads
from appointments.caller import Caller
from appointments.codecs import series_from_item as record_from_item
from appointments.codecs import series_key
from appointments.errors import IdempotencyKeyReused, NotFound, SeriesUnavailable, ValidationError
from appointments.inputs import Idempotency
from appointments.retries import until_committed
from appointments.series import SeriesRecord, occurrence_id, occurrences, series_id_for, series_request
from appointments.store import BookingStore
from appointments.times import utc_now


@dataclass(frozen=True)
class SeriesView:
    """A series and its occurrences as they are now."""

    record: SeriesRecord
    occurrences: list[Appointment]


class SeriesBookings:
    def __init__(self, store: BookingStore, *, clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], None] = time.sleep):
        self.store = store
        self.reads = CalendarReads(store.tables)
        self.clock = clock
        self.sleep = sleep

    def book(self, body: Mapping, caller: Caller, idempotency: Idempotency | None = None) -> tuple[SeriesView, bool]:
        """Book every occurrence or none; or replay the series an Idempotency-Key made. ``body`` is the
        request with its userId resolved for the caller. Returns (series, replayed)."""
        first_body, repeat = series_request(body)
        series_id = idempotency.resource_id if idempotency else series_id_for(body["userId"], None)
        now = self.clock()
        first = new_appointment(first_body, appointment_id=occurrence_id(series_id, 1), now=now)
        if idempotency is None:  # with a key, a replay is looked up before the clock is consulted
            require_future(first.interval, now)
        made = occurrences(first, repeat, series_id)
        booked = [o.appointment for o in made if o.appointment is not None]
        record = SeriesRecord(series_id, first.user_id, repeat, tuple(a.appointment_id for a in booked), now,
                              idempotency.fingerprint if idempotency else None)
        replayed = False

        def attempt() -> SeriesView:
            nonlocal replayed
            snapshot = self.store.read(_plan(booked), series_id=series_id if idempotency else None)
            if snapshot.series is not None:
                if snapshot.series.request_hash != record.request_hash:
                    raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body; "
                                               "use a new key for a new series.")
                replayed = True
                return self._view(snapshot.series)
            caller.may_name(first.participants, snapshot.rules)
            decided_at = self.clock()
            if idempotency:
                require_future(first.interval, decided_at)
            changes, refusals = decision.settle_series(made, snapshot, decided_at)
            commit = decision.commit_of(changes, snapshot, decided_at, series=record)  # as if all were accepted
            if commit.actions > decision.TRANSACTION_ACTIONS:
                _refuse_as_too_large(changes, snapshot, decided_at, record)
            if refusals:
                raise SeriesUnavailable(refusals)
            self.store.commit(commit)
            return SeriesView(record, booked)

        return until_committed(attempt, self.sleep), replayed

    def get(self, series_id: str, caller: Caller) -> SeriesView:
        return self._view(self._record(series_id, caller))

    def cancel_from(self, series_id: str, first: int, caller: Caller) -> SeriesView:
        """Cancel occurrences ``first`` and later that are still scheduled and have not started, in one
        transaction; the others are left as they are."""
        def attempt() -> SeriesView:
            view = self._view(self._record(series_id, caller))
            now = self.clock()
            targets = [a for a in view.occurrences if a.occurrence >= first and a.is_scheduled
                       and a.interval.start > now]
            if not targets:
                return view
            changes = [(cancelled(a, now=now), a, decision.NO_DECISION) for a in targets]
            snapshot = self.store.read(_plan([after for after, _, _ in changes], before=targets))
            commit = decision.commit_of(changes, snapshot, now)
            if commit.actions > decision.TRANSACTION_ACTIONS:
                raise ValidationError("These occurrences touch more calendar days than one transaction holds; "
                                      "cancel them in two steps (a later from first).", "from")
            self.store.commit(commit)
            done = {after.appointment_id: after for after, _, _ in changes}
            return replace(view, occurrences=[done.get(a.appointment_id, a) for a in view.occurrences])

        return until_committed(attempt, self.sleep)

    def _record(self, series_id: str, caller: Caller) -> SeriesRecord:
        tables = self.store.tables
        response = tables.call(tables.dynamodb.get_item, TableName=tables.calendar, Key=series_key(series_id),
                               ConsistentRead=True) if len(series_id) <= 64 else {}
        record = record_from_item(response["Item"]) if "Item" in response else None
        if record is None or (caller.subject is not None and caller.subject != record.user_id):
            raise NotFound(f"No series {series_id[:64]} was found.")
        return record

    def _view(self, record: SeriesRecord) -> SeriesView:
        return SeriesView(record, self.reads.appointments(list(record.occurrence_ids)))


def _plan(afters: list[Appointment], before: list[Appointment] | None = None) -> decision.Plan:
    """What a set of changes reads: the union of each one's plan."""
    plans = [decision.plan(b, a) for a, b in zip(afters, before or [None] * len(afters), strict=True)]
    checked = tuple(dict.fromkeys(c for plan in plans for c in plan.checked))
    return decision.Plan(checked, {}).including(
        (calendar_id, day) for plan in plans for calendar_id, days in plan.days.items() for day in days)


def _refuse_as_too_large(changes: list[decision.Change], snapshot: decision.Snapshot, now: datetime,
                         record: SeriesRecord) -> NoReturn:
    """Refuse a series whose transaction would pass DynamoDB's 100 actions, naming the largest count that fits
    (counted as if every occurrence were accepted)."""
    def fits(n: int) -> bool:
        return decision.commit_of(changes[:n], snapshot, now, series=record).actions <= decision.TRANSACTION_ACTIONS

    # The first n occurrences write a growing set of items, so "fits" holds up to some n and never after:
    # bisect (a few commits built, where trying every count built up to 52 and took seconds).
    fitting, too_many = 0, len(changes)
    while too_many - fitting > 1:
        middle = (fitting + too_many) // 2
        fitting, too_many = (middle, too_many) if fits(middle) else (fitting, middle)
    raise ValidationError(f"This series needs more than the {decision.TRANSACTION_ACTIONS} writes one transaction "
                          f"holds; for these calendars at most {fitting} occurrences fit: give a count of {fitting} "
                          "or fewer, and book the rest as a second series.", "repeat")
