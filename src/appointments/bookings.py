"""Booking logic: read the calendar, decide in memory, commit in one transaction, retry if it moved.

The HTTP layer calls these methods with parsed input and maps the domain errors they raise.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from appointments.availability import (
    Availability,
    Decision,
    days_occupied,
    days_to_read,
    decide,
    parse_availability,
    slot_candidates,
)
from appointments.domain import (
    UTC,
    Appointment,
    Interval,
    Occupancy,
    apply_changes,
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
    PreconditionFailed,
    StaleRead,
    TooMuchContention,
    Unavailable,
    ValidationError,
)
from appointments.inputs import (
    UNCONDITIONAL,
    AgendaQuery,
    ListQuery,
    Precondition,
    SlotQuery,
    idempotent_appointment_id,
    request_fingerprint,
)
from appointments.store import AppointmentStore, CalendarSnapshot

T = TypeVar("T")
CALENDAR_ADMINS = "calendar-admins"  # the Cognito group that may manage any calendar
_ANYONE, _CANDIDATE = "", "candidate"  # a slot asked for without userId: "any user with a free calendar"


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

    def may_name(self, participants: Iterable[str], rules: Mapping[str, Availability | None]) -> None:
        """Only a bookable calendar (one with availability) may be named as a participant."""
        if self.subject is None:
            return
        for calendar_id in participants:
            if rules.get(calendar_id) is None:
                raise Forbidden(f"{calendar_id} is not a bookable calendar; only calendars with availability "
                                "can be named as participants.")

    def may_read(self, calendar_id: str, what: str, bookable: bool = False) -> None:
        """A bookable calendar's busy times, slots and rules are open to every caller; a private one's only
        to its owner and calendar admins, as is every agenda."""
        if not (bookable or self.manages(calendar_id)):
            raise Forbidden(f"Only the owner of calendar {calendar_id} or a calendar admin may read its {what}.")

    def may_manage(self, calendar_id: str) -> None:
        if not self.manages(calendar_id):
            raise Forbidden(f"Only the owner of calendar {calendar_id} or a calendar admin may change its "
                            "availability.")


class Bookings:
    def __init__(self, store: AppointmentStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 max_attempts: int = 8, sleep: Callable[[float], None] = time.sleep):
        self.store = store
        self.clock = clock
        self.max_attempts = max_attempts
        self.sleep = sleep

    def _retrying(self, attempt: Callable[[], T]) -> T:
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
            days = days_to_read(proposed.interval)
            snapshot = self.store.read_calendars(dict.fromkeys(proposed.calendars, days),
                                                 appointment_id if fingerprint else None, rules_of=proposed.calendars)
            if snapshot.appointment is not None:
                if snapshot.appointment.request_hash != fingerprint:
                    raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body; "
                                               "use a new key for a new booking.")
                replayed = True
                return snapshot.appointment
            caller.may_name(proposed.participants, snapshot.rules)
            if fingerprint:
                require_future(proposed.interval, self.clock())
            decision = self._decided(proposed, proposed.calendars, snapshot)
            self.store.commit(proposed, snapshot.keeping(decision.rests_on), footprints=decision.footprints)
            return proposed

        return self._retrying(attempt), replayed

    def change(self, appointment_id: str, body: Mapping, caller: Caller,
               precondition: Precondition = UNCONDITIONAL) -> Appointment:
        """Reschedule or edit. With an If-Match, only the version it names is changed: the transaction is
        conditioned on the version read, so a concurrent change makes this re-read and answer 412."""
        def attempt() -> Appointment:
            current = self._visible(appointment_id, caller)
            _require(precondition, current.version)
            if not current.is_scheduled:
                raise AppointmentCancelled("This appointment is cancelled and can no longer be changed; "
                                           "book a new one.")
            changed = apply_changes(current, body, now=self.clock())
            if changed is current:
                return current
            # A move is decided on every calendar; a change of participants on those added; an edit of
            # details, reminders or time zone on none. The calendars it leaves only lose its entry.
            moved = changed.interval != current.interval
            checked = changed.calendars if moved else tuple(c for c in changed.calendars if c not in current.calendars)
            leaving = current.calendars if moved else tuple(c for c in current.calendars if c not in changed.calendars)
            days: dict[str, set[str]] = {}
            for calendar_id in leaving:
                days.setdefault(calendar_id, set()).update(days_occupied(current.interval))
            for calendar_id in checked:
                days.setdefault(calendar_id, set()).update(days_to_read(changed.interval))
            if not days:
                self.store.commit(changed, CalendarSnapshot(), previous=current)
                return changed
            snapshot = self.store.read_calendars(days, rules_of=checked)
            caller.may_name((p for p in changed.participants if p not in current.participants), snapshot.rules)
            decision = self._decided(changed, checked, snapshot)
            self.store.commit(changed, snapshot.keeping(decision.rests_on | _holding(snapshot, appointment_id)),
                              previous=current, footprints=decision.footprints)
            return changed

        return self._retrying(attempt)

    def cancel(self, appointment_id: str, caller: Caller, precondition: Precondition = UNCONDITIONAL) -> Appointment:
        def attempt() -> Appointment:
            current = self._visible(appointment_id, caller)
            _require(precondition, current.version)
            if not current.is_scheduled:
                return current
            snapshot = self.store.read_calendars(dict.fromkeys(current.calendars, days_occupied(current.interval)))
            result = cancelled(current, now=self.clock())
            self.store.commit(result, snapshot.keeping(_holding(snapshot, appointment_id)), previous=current)
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
        validate_user_id(calendar_id, "calendarId")
        if not caller.manages(calendar_id):  # anyone may read a bookable calendar's busy times
            caller.may_read(calendar_id, "busy times", bookable=self.store.get_rules(calendar_id) is not None)
        return {"calendarId": calendar_id, **self._busy(calendar_id, window)}

    # -- availability and slots -------------------------------------------------------------------
    def rules(self, calendar_id: str, caller: Caller) -> Availability:
        rules = self.store.get_rules(validate_user_id(calendar_id, "calendarId"))
        if rules is None:
            raise NotFound(f"Calendar {calendar_id} has no availability rules: it is always open.")
        return rules

    def set_rules(self, calendar_id: str, body: Mapping, caller: Caller,
                  precondition: Precondition = UNCONDITIONAL) -> Availability:
        """Replace the rules. Under a precondition they are read first and written only at the version read,
        so a concurrent change makes this read again and decide again."""
        caller.may_manage(validate_user_id(calendar_id, "calendarId"))
        rules = parse_availability(body)
        if precondition == UNCONDITIONAL:
            return self.store.put_rules(calendar_id, rules)

        def attempt() -> Availability:
            current, version = self.store.rules_state(calendar_id)
            _require(precondition, current.version if current else None)
            return self.store.put_rules(calendar_id, rules, expected_version=version)

        return self._retrying(attempt)

    def remove_rules(self, calendar_id: str, caller: Caller) -> None:
        caller.may_manage(validate_user_id(calendar_id, "calendarId"))
        self.store.delete_rules(calendar_id)

    def slots(self, calendar_id: str, query: SlotQuery, caller: Caller) -> dict:
        """The starts at which a booking of ``query.duration`` would be accepted now: every candidate is
        decided by ``decide``, as booking decides, on the same kind of read (rules and buckets)."""
        calendars = [validate_user_id(calendar_id, "calendarId"), *query.with_calendars]
        user_id = caller.user_for(query.user_id) if query.user_id is not None else None
        involved = list(dict.fromkeys([*([user_id] if user_id else []), *calendars]))
        rules = self.store.rules_of(involved)  # one BatchGetItem
        for calendar in calendars:
            caller.may_read(calendar, "slots", bookable=rules.get(calendar) is not None)
        days = days_to_read(Interval(query.window.start, query.window.end + query.duration))
        occupancy = {c: Occupancy(self.store.calendar_slots(c, days[0], days[-1])) for c in involved}  # a Query each
        now = self.clock()
        offered = []
        booker = user_id or _ANYONE
        participants = tuple(c for c in dict.fromkeys(calendars) if c != booker)
        for start in slot_candidates(rules.get(calendar_id), query.window, query.duration, query.step):
            interval = Interval(start, start + query.duration)
            if start <= now:
                continue
            candidate = Appointment(_CANDIDATE, booker, interval, participants=participants)
            checked = [c for c in candidate.calendars if c != _ANYONE]
            if decide(candidate, checked, occupancy, rules, now, until_refused=True).accepted:
                offered.append({"start": format_instant(interval.start), "end": format_instant(interval.end)})
        return {"calendarId": calendar_id, "from": format_instant(query.window.start),
                "to": format_instant(query.window.end), "duration": int(query.duration.total_seconds() // 60),
                "slots": offered}

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

    def _decided(self, appointment: Appointment, checked: Iterable[str], snapshot: CalendarSnapshot) -> Decision:
        """The decision, or the refusal it amounts to: the rules first, then what is in the way."""
        occupancy = {c: Occupancy(entries) for c, entries in snapshot.slots_by_calendar().items()}
        decision = decide(appointment, checked, occupancy, snapshot.rules, self.clock())
        if decision.unavailable:
            raise Unavailable(*decision.unavailable)
        if decision.conflicts:
            calendars = ", ".join(dict.fromkeys(c.calendar_id for c in decision.conflicts))
            raise Conflict(f"The time overlaps scheduled appointments on {calendars}; pick a free time (see GET "
                           f"/calendars/{{calendarId}}/slots).{_buffer_note(appointment, decision, snapshot.rules)}",
                           conflicts=[c.to_api(appointment.user_id) for c in decision.conflicts])
        return decision


def _buffer_note(appointment: Appointment, decision: Decision, rules: Mapping[str, Availability | None]) -> str:
    """A sentence for the conflicts whose own times do not overlap the request: only a buffer is in the way."""
    buffered = dict.fromkeys(c.calendar_id for c in decision.conflicts
                             if not c.slot.interval.overlaps(appointment.interval))
    notes = []
    for calendar_id in buffered:
        calendar_rules = rules.get(calendar_id)
        kept = (f"{calendar_rules.buffer_before} minutes before and {calendar_rules.buffer_after} after each "
                "appointment" if calendar_rules else "the buffer it had when they were booked")
        notes.append(f"on {calendar_id} only the buffer it keeps around appointments ({kept}) is in the way")
    return f" The listed times do not overlap yours: {'; '.join(notes)}." if notes else ""


def _require(precondition: Precondition, version: int | None) -> None:
    """412 unless the request's If-Match and If-None-Match allow a write at ``version`` (None: none exists)."""
    if not precondition.allows_write(version):
        raise PreconditionFailed(version or 0)


def _holding(snapshot: CalendarSnapshot, appointment_id: str) -> set[tuple[str, str]]:
    """The buckets read that hold the appointment's entry: where it must be taken out."""
    return {key for key, bucket in snapshot.buckets.items() if appointment_id in bucket.slots}
