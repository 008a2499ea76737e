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
    calendar_conflicts,
    cancelled,
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
from appointments.inputs import AgendaQuery, ListQuery, idempotent_appointment_id, request_fingerprint
from appointments.store import AppointmentStore, CalendarSnapshot

CALENDAR_ADMINS = "calendar-admins"  # the Cognito group that may manage any calendar


def cognito_groups(claim: object) -> frozenset[str]:
    """The ``cognito:groups`` claim as API Gateway passes it: a list, ``"a,b"`` or ``"[a b]"``."""
    if isinstance(claim, list):
        return frozenset(str(group) for group in claim)
    if isinstance(claim, str):
        return frozenset(claim.strip("[]").replace(",", " ").split())
    return frozenset()


@dataclass(frozen=True)
class Caller:
    """Who is calling. ``subject`` is the Cognito ``sub``; None under IAM (a trusted back end) or no
    authorizer, where every rule below allows everything (API.md, "Who may do what")."""

    subject: str | None = None
    groups: frozenset[str] = frozenset()

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

    def manages(self, calendar_id: str) -> bool:
        """The calendar's owner, or a member of calendar-admins."""
        return self.subject is None or self.subject == calendar_id or CALENDAR_ADMINS in self.groups

    def may_name(self, participants: tuple[str, ...]) -> None:
        """Only a bookable calendar (one with availability) may be named as a participant, and no calendar
        has availability yet: with Cognito every participant is refused; under IAM all are allowed."""
        if self.subject is not None and participants:
            raise Forbidden(f"{participants[0]} is not a bookable calendar; only calendars with availability "
                            "can be named as participants.")

    def may_read(self, calendar_id: str, what: str) -> None:
        """Busy times and agenda of a private calendar (every calendar, until availability exists)."""
        if not self.manages(calendar_id):
            raise Forbidden(f"Only the owner of calendar {calendar_id} or a calendar admin may read its {what}.")


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
        caller.may_name(proposed.participants)
        if fingerprint is None:  # with a key, a replay is looked up before the clock is consulted
            require_future(proposed.interval, self.clock())
        replayed = False

        def attempt() -> Appointment:
            nonlocal replayed
            snapshot = self.store.read_calendars(_occupied(proposed), appointment_id if fingerprint else None)
            if snapshot.appointment is not None:
                if snapshot.appointment.request_hash != fingerprint:
                    raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body; "
                                               "use a new key for a new booking.")
                replayed = True
                return snapshot.appointment
            if fingerprint:
                require_future(proposed.interval, self.clock())
            self._refuse_conflicts(proposed, snapshot)
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
            caller.may_name(tuple(p for p in changed.participants if p not in current.participants))
            days = _calendar_days_to_decide(current, changed)
            snapshot = self.store.read_calendars(days) if days else CalendarSnapshot()
            self._refuse_conflicts(changed, snapshot)
            self.store.commit(changed, snapshot, previous=current)
            return changed

        return self._retrying(attempt)

    def cancel(self, appointment_id: str, caller: Caller) -> Appointment:
        def attempt() -> Appointment:
            current = self._visible(appointment_id, caller)
            if not current.is_scheduled:
                return current
            snapshot = self.store.read_calendars(_occupied(current))
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
        """``GET /users/{userId}/busy``: the free/busy of the user's own calendar."""
        user_id = caller.user_for(user_id)
        return {"userId": user_id, **self._busy(user_id, window)}

    def calendar_busy(self, calendar_id: str, window: Interval, caller: Caller) -> dict:
        caller.may_read(validate_user_id(calendar_id, "calendarId"), "busy times")
        return {"calendarId": calendar_id, **self._busy(calendar_id, window)}

    def agenda(self, calendar_id: str, query: AgendaQuery, caller: Caller) -> tuple[list[Appointment], str | None]:
        """The scheduled appointments occupying a calendar that overlap the window, by start time: from
        the calendar's buckets (one Query), then one BatchGetItem for the page."""
        caller.may_read(validate_user_id(calendar_id, "calendarId"), "agenda")
        days = query.window.days()
        slots = sorted((s for s in self.store.calendar_slots(calendar_id, days[0], days[-1])
                        if s.interval.overlaps(query.window)), key=lambda s: (s.interval.start, s.appointment_id))
        scope = f"calendars/{calendar_id}/appointments"
        if query.next_token is not None:
            after = self.store.cursors.decode(query.next_token, scope)
            slots = [s for s in slots if (format_instant(s.interval.start), s.appointment_id) > after]
        page = slots[:query.limit]
        appointments = self.store.get_many([s.appointment_id for s in page])
        more = len(slots) > query.limit
        return appointments, (self.store.cursors.encode(page[-1].appointment_id, page[-1].interval.start, scope)
                              if more else None)

    def _busy(self, calendar_id: str, window: Interval) -> dict:
        days = window.days()
        intervals = [s.interval for s in self.store.calendar_slots(calendar_id, days[0], days[-1])]
        return {"from": format_instant(window.start), "to": format_instant(window.end),
                "busy": [{"start": format_instant(i.start), "end": format_instant(i.end)}
                         for i in merge_busy(intervals, window)]}

    # -- helpers --------------------------------------------------------------------------------
    def _visible(self, appointment_id: str, caller: Caller) -> Appointment:
        appointment = self.store.get(appointment_id) if len(appointment_id) <= 64 else None
        if appointment is None or not caller.can_see(appointment):
            raise NotFound(f"No appointment {appointment_id[:64]} was found.")
        return appointment

    @staticmethod
    def _refuse_conflicts(appointment: Appointment, snapshot: CalendarSnapshot) -> None:
        conflicts = calendar_conflicts(appointment, snapshot.slots_by_calendar())
        if conflicts:
            calendars = ", ".join(dict.fromkeys(c.calendar_id for c in conflicts))
            raise Conflict(f"The time overlaps scheduled appointments on {calendars}; pick a free time (see GET "
                           "/calendars/{calendarId}/busy).", conflicts=[c.to_api(appointment.user_id)
                                                                        for c in conflicts])


def _occupied(appointment: Appointment) -> dict[str, list[str]]:
    """The buckets an appointment occupies: every calendar, for every UTC day it touches."""
    days = appointment.interval.days()
    return {calendar_id: days for calendar_id in appointment.calendars}


def _calendar_days_to_decide(current: Appointment, changed: Appointment) -> dict[str, set[str]]:
    """The buckets a change must read and then write: where the appointment leaves and where it goes.
    A move touches every calendar; a change of participants only those added or removed; an edit of
    details, reminders or time zone none."""
    if changed.interval != current.interval:
        leaving, entering = current.calendars, changed.calendars
    else:
        leaving = tuple(c for c in current.calendars if c not in changed.calendars)
        entering = tuple(c for c in changed.calendars if c not in current.calendars)
    days: dict[str, set[str]] = {}
    for calendars, appointment in ((leaving, current), (entering, changed)):
        for calendar_id in calendars:
            days.setdefault(calendar_id, set()).update(appointment.interval.days())
    return days
