"""The read side of the service, and calendars' rules: appointments, free/busy, agendas and slots.

Everything here reads; only rules admin writes, one item at a time. Answers are values (appointments,
intervals, rules) with their page tokens; the HTTP layer shapes the JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from appointments.appointment import HELD, SCHEDULED, Appointment, validate_calendar_id
from appointments.availability import Availability, parse_availability, slot_candidates
from appointments.calendar_reads import CalendarReads
from appointments.caller import Caller
from appointments.cursors import PageCursors
from appointments.decision import days_touched, decide, qualifying, search_days
from appointments.errors import NotFound, PreconditionFailed
from appointments.inputs import UNCONDITIONAL, AgendaQuery, ListQuery, PoolSlotQuery, Precondition, SlotQuery
from appointments.occupancy import Occupancy, merge_busy
from appointments.retries import until_committed
from appointments.rules_store import RulesStore
from appointments.store import Tables
from appointments.times import Interval, format_instant, utc_now

_ANYONE, _CANDIDATE = "", "candidate"  # a slot asked for without userId: "any user with a free calendar"
Page = tuple[list[Appointment], str | None]  # appointments, and the token of the next page (None: the last)


class Calendars:
    def __init__(self, tables: Tables, cursors: PageCursors, *, clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], None] = time.sleep):
        self.tables = tables
        self.reads = CalendarReads(tables)
        self.rules_store = RulesStore(tables)
        self.cursors = cursors
        self.clock = clock
        self.sleep = sleep

    # -- appointments -----------------------------------------------------------------------------
    def get(self, appointment_id: str, caller: Caller) -> Appointment:
        appointment = self.tables.appointment(appointment_id) if len(appointment_id) <= 64 else None
        if appointment is None or not caller.can_see(appointment):
            raise NotFound(f"No appointment {appointment_id[:64]} was found.")
        return appointment.as_of(self.clock())

    def list(self, query: ListQuery, caller: Caller) -> Page:
        """The user's appointments overlapping the query's window, by start time: in the status asked for, or
        in any but expired."""
        user_id = caller.user_for(query.user_id)
        scope = f"appointments?userId={user_id}"
        after = self.cursors.decode(query.next_token, scope) if query.next_token is not None else None
        now = self.clock()
        page, more = self.reads.user_page(user_id, query.since, query.until, query.status, query.limit, after, now)
        page = [appointment.as_of(now) for appointment in page]
        return page, (self.cursors.encode(page[-1].appointment_id, page[-1].interval.start, scope)
                      if more and page else None)

    def agenda(self, calendar_id: str, query: AgendaQuery, caller: Caller) -> Page:
        """The appointments occupying a calendar (scheduled, and unexpired holds) that overlap the window, by
        start time, in the statuses asked for: from the calendar's buckets (one Query), then one BatchGetItem
        for the page."""
        caller.may_read(validate_calendar_id(calendar_id, "calendarId"), "agenda")
        days = days_touched(query.window)
        now = self.clock()
        held = {HELD: True, SCHEDULED: False}.get(query.status)  # None: both
        entries = sorted((e for e in Occupancy(self.reads.entries(calendar_id, days[0], days[-1]), now).entries
                          if e.interval.overlaps(query.window) and held in (None, e.expires_at is not None)),
                         key=lambda e: (e.interval.start, e.appointment_id))
        scope = f"calendars/{calendar_id}/appointments"
        if query.next_token is not None:
            after = self.cursors.decode(query.next_token, scope)
            entries = [e for e in entries if (format_instant(e.interval.start), e.appointment_id) > after]
        page = entries[:query.limit]
        more = len(entries) > query.limit
        return ([a.as_of(now) for a in self.reads.appointments([e.appointment_id for e in page])],
                self.cursors.encode(page[-1].appointment_id, page[-1].interval.start, scope) if more else None)

    # -- free/busy and slots --------------------------------------------------------------------------
    def user_busy(self, user_id: str, window: Interval, caller: Caller) -> tuple[str, list[Interval]]:
        """``GET /users/{userId}/busy``: the user (as the caller may name them) and their calendar's busy times."""
        user_id = caller.user_for(user_id)
        return user_id, self._busy(user_id, window)

    def busy(self, calendar_id: str, window: Interval, caller: Caller) -> list[Interval]:
        """A calendar's busy times in the window, merged, without buffers."""
        validate_calendar_id(calendar_id, "calendarId")
        if not caller.manages(calendar_id):  # anyone may read a bookable calendar's busy times
            caller.may_read(calendar_id, "busy times", bookable=self.rules_store.get(calendar_id) is not None)
        return self._busy(calendar_id, window)

    def _busy(self, calendar_id: str, window: Interval) -> list[Interval]:
        days = days_touched(window)
        occupancy = Occupancy(self.reads.entries(calendar_id, days[0], days[-1]), self.clock())
        return merge_busy([e.interval for e in occupancy.entries], window)

    def slots(self, calendar_id: str, query: SlotQuery, caller: Caller) -> list[Interval]:
        """The intervals at which a booking of ``query.duration`` would be accepted now: every candidate is
        decided by ``decide``, as booking decides, on the same kind of read (rules and buckets)."""
        calendars = [validate_calendar_id(calendar_id, "calendarId"), *query.with_calendars]
        user_id = caller.user_for(query.user_id) if query.user_id is not None else None
        involved = list(dict.fromkeys([*([user_id] if user_id else []), *calendars]))
        rules = self.rules_store.of(involved)  # one BatchGetItem
        for calendar in calendars:
            caller.may_read(calendar, "slots", bookable=rules.get(calendar) is not None)
        now = self.clock()
        occupancy = self._occupancy(involved, query.window, query.duration, now)
        return offered(rules, occupancy, calendars, user_id, query.window, query.duration, query.step, now)

    def pool_slots(self, query: PoolSlotQuery, caller: Caller) -> list[tuple[Interval, list[str]]]:
        """The intervals at which a booking with ``anyOf`` would be accepted now, each with the members that
        would qualify then (in anyOf's order): decided by ``decide``, as a pool booking is."""
        user_id = caller.user_for(query.user_id) if query.user_id is not None else None
        involved = list(dict.fromkeys([*([user_id] if user_id else []), *query.with_calendars, *query.any_of]))
        rules = self.rules_store.of(involved)  # one BatchGetItem
        for calendar in (*query.with_calendars, *query.any_of):
            caller.may_read(calendar, "slots", bookable=rules.get(calendar) is not None)
        now = self.clock()
        return offered_by_pool(rules, self._occupancy(involved, query.window, query.duration, now), query, user_id, now)

    def moves(self, appointment: Appointment, window: Interval, step: timedelta, limit: int) -> list[Interval]:
        """The first ``limit`` times in ``window`` the appointment could move to now, its duration kept: on the
        calendars it occupies (and its pool's members), each decided as a PATCH that moves it is decided
        (``moves_offered``), on the same kind of read as slot search (rules, then a Query per calendar)."""
        calendars = list(dict.fromkeys([*appointment.calendars, *appointment.any_of]))
        rules = self.rules_store.of(calendars)  # one BatchGetItem
        now = self.clock()
        occupancy = self._occupancy(calendars, window, appointment.interval.end - appointment.interval.start, now)
        return moves_offered(appointment, rules, occupancy, window, step, now, limit)

    def _occupancy(self, calendars: list[str], window: Interval, duration: timedelta,
                   now: datetime) -> dict[str, Occupancy]:
        """What occupies each calendar on the days a search of ``window`` for ``duration`` can touch: a Query each."""
        days = search_days(window, duration)
        return {c: Occupancy(self.reads.entries(c, days[0], days[-1]), now) for c in calendars}

    # -- availability rules ------------------------------------------------------------------------
    def rules(self, calendar_id: str, caller: Caller) -> Availability:
        rules = self.rules_store.get(validate_calendar_id(calendar_id, "calendarId"))
        if rules is None:
            raise NotFound(f"Calendar {calendar_id} has no availability rules: it is always open.")
        return rules

    def set_rules(self, calendar_id: str, body: Mapping, caller: Caller,
                  precondition: Precondition = UNCONDITIONAL) -> Availability:
        """Replace the rules. Under a precondition they are read first and written only at the version read,
        so a concurrent change makes this read again and decide again."""
        caller.may_manage(validate_calendar_id(calendar_id, "calendarId"))
        rules = parse_availability(body)
        if precondition == UNCONDITIONAL:
            return self.rules_store.put(calendar_id, rules)

        def attempt() -> Availability:
            current, version = self.rules_store.state(calendar_id)
            if not precondition.allows_write(current.version if current else None):
                raise PreconditionFailed(current.version if current else 0)
            return self.rules_store.put(calendar_id, rules, expected_version=version)

        return until_committed(attempt, self.sleep)

    def remove_rules(self, calendar_id: str, caller: Caller) -> None:
        caller.may_manage(validate_calendar_id(calendar_id, "calendarId"))
        self.rules_store.remove(calendar_id)


def offered(rules: Mapping[str, Availability | None], occupancy: Mapping[str, Occupancy], calendars: list[str],
            user_id: str | None, window: Interval, duration: timedelta, step: timedelta,
            now: datetime) -> list[Interval]:
    """The candidates of the first calendar's rules that ``decide`` accepts on every calendar involved."""
    booker = user_id or _ANYONE
    participants = tuple(c for c in dict.fromkeys(calendars) if c != booker)
    found = []
    for start in slot_candidates(rules.get(calendars[0]), window, duration, step):
        if start <= now:
            continue
        candidate = Appointment(_CANDIDATE, booker, Interval(start, start + duration), participants=participants)
        checked = [c for c in candidate.calendars if c != _ANYONE]
        if decide(candidate, checked, occupancy, rules, now, until_refused=True).accepted:
            found.append(candidate.interval)
    return found


def offered_by_pool(rules: Mapping[str, Availability | None], occupancy: Mapping[str, Occupancy],
                    query: PoolSlotQuery, user_id: str | None, now: datetime) -> list[tuple[Interval, list[str]]]:
    """The union of the members' candidates, each offered with the members a booking would qualify."""
    booker = user_id or _ANYONE
    found = []
    for start in _candidates(rules, query.any_of, query.window, query.duration, query.step):
        if start <= now:
            continue
        candidate = Appointment(_CANDIDATE, booker, Interval(start, start + query.duration),
                                participants=query.with_calendars, any_of=query.any_of)
        checked = [c for c in candidate.calendars if c != _ANYONE]
        if not decide(candidate, checked, occupancy, rules, now, until_refused=True).accepted:
            continue
        if free := _free_members(candidate, occupancy, rules, now):
            found.append((candidate.interval, free))
    return found


def moves_offered(appointment: Appointment, rules: Mapping[str, Availability | None],
                  occupancy: Mapping[str, Occupancy], window: Interval, step: timedelta, now: datetime,
                  limit: int) -> list[Interval]:
    """The first ``limit`` starts at which a PATCH moving ``appointment`` (same duration, same calendars) would be
    accepted: the candidates of every calendar involved, each decided as ``decision.settle`` decides a move,
    with ``decide`` on the calendars it occupies (ignoring the appointment itself) and, for a pool, a member
    that qualifies (the one assigned, or another). Its own start is not offered: it is already there."""
    duration = appointment.interval.end - appointment.interval.start
    involved = list(dict.fromkeys([*appointment.calendars, *appointment.any_of]))
    checked = [c for c in appointment.calendars if c != appointment.assigned]
    found: list[Interval] = []
    for start in _candidates(rules, involved, window, duration, step):
        if start <= now or start == appointment.interval.start:
            continue
        candidate = replace(appointment, interval=Interval(start, start + duration))
        if not decide(candidate, checked, occupancy, rules, now, until_refused=True).accepted:
            continue
        if appointment.any_of and not _free_members(candidate, occupancy, rules, now):
            continue
        found.append(candidate.interval)
        if len(found) >= limit:
            break
    return found


def _candidates(rules: Mapping[str, Availability | None], calendars: Iterable[str], window: Interval,
                duration: timedelta, step: timedelta) -> list[datetime]:
    """The union of the calendars' slot candidates in the window, in order."""
    return sorted({start for calendar_id in calendars
                   for start in slot_candidates(rules.get(calendar_id), window, duration, step)})


def _free_members(candidate: Appointment, occupancy: Mapping[str, Occupancy],
                  rules: Mapping[str, Availability | None], now: datetime) -> list[str]:
    """The members of the candidate's pool (in anyOf's order) that it could be assigned to."""
    return [member for member, decided in qualifying(candidate, candidate.any_of, occupancy, rules, now, True)
            if decided.accepted]
