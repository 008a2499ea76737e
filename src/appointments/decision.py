"""Where a booking is decided: what a change must read, whether its calendars take it, and what each
bucket holds afterwards.

Pure. A booking, a move, an edit and a cancel are each a change of one appointment from ``before``
(None for a booking) to ``after``:

1. ``plan(before, after)`` names the calendars the change is decided on, the calendars whose rules
   it reads, and the (calendar, UTC day) buckets it reads;
2. ``decide(...)`` checks, calendar by calendar, the rules and what is in the way of the footprint;
   slot search calls it too, for every candidate, so the slots offered are the bookings accepted;
3. ``outcome(...)`` says, for every bucket the decision rests on or that holds the appointment, which
   entries it holds afterwards. The store writes exactly that in one transaction, each bucket and
   each rules item conditioned on the version read, and decides nothing itself.

Which UTC days an interval touches is spelled once, ``days_touched``; the spans it is asked about
are named here. A decision rests on the buckets of the footprint and of the local date a daily cap
counts (``reach``): a calendar without rules, on the days the appointment itself touches. A booking
plans those from the rules it has seen before (``hints``), and ``settle`` refuses to decide on a read
that misses any (``ReadMore``: rules it did not expect), so the booking reads again with them. With
``hints=None`` (series), a plan reads a day either side (``DECISION_REACH``), which covers any rules;
an empty ``hints`` (an instance that has seen nothing yet) reads as for calendars without rules. An entry
reaches at most the largest buffer past its appointment (``ENTRY_REACH``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from appointments.appointment import HELD, IN_ORDER, Appointment
from appointments.availability import MAX_BUFFER, Availability, refusal
from appointments.errors import Conflict, NoneAvailable, ReadMore, TooManyHolds, Unavailable, ValidationError
from appointments.occupancy import CalendarConflict, Entry, Occupancy
from appointments.representations import conflict_json
from appointments.series import SeriesRecord
from appointments.times import Interval, format_instant

# A decision may rest on the footprint (buffers reach at most 4 hours out) and on the local date of the
# start (a zone puts it at most a day either side of the UTC date): a day either side covers both.
DECISION_REACH = timedelta(days=1)
ENTRY_REACH = timedelta(minutes=MAX_BUFFER)  # how far an entry's footprint may reach past its appointment
TRANSACTION_ACTIONS = 100  # DynamoDB's limit of actions per TransactWriteItems
MAX_HOLDS = 5  # unexpired holds a user may have at once
NOTHING = Occupancy()


def widened(interval: Interval, by: timedelta) -> Interval:
    return Interval(interval.start - by, interval.end + by)


def days_touched(span: Interval) -> list[str]:
    """The UTC days (``YYYY-MM-DD``) a span touches; its end instant itself is excluded."""
    return span.days()


# -- what was read ------------------------------------------------------------------------------------------

@dataclass
class Bucket:
    """One calendar's entries on one UTC day, at the version read (0: the bucket does not exist yet)."""

    calendar_id: str
    day: str
    version: int = 0
    entries: dict[str, Entry] = field(default_factory=dict)


@dataclass
class Snapshot:
    """What one decision read: buckets by (calendar, day), each calendar's rules (None without), the version
    of each rules item read (0 when there never was one), and the appointment asked for with them."""

    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)
    rules: dict[str, Availability | None] = field(default_factory=dict)
    rule_versions: dict[str, int] = field(default_factory=dict)
    appointment: Appointment | None = None
    series: SeriesRecord | None = None  # the series asked for with them (an idempotent replay)
    holds: dict[str, datetime] = field(default_factory=dict)  # the user's holds, by appointment, with expiry
    holds_version: int = 0

    def occupancy(self, now: datetime) -> dict[str, Occupancy]:
        """What occupies each calendar read, at ``now``: holds that have expired occupy nothing."""
        entries: dict[str, list[Entry]] = {}
        for bucket in self.buckets.values():
            entries.setdefault(bucket.calendar_id, []).extend(bucket.entries.values())
        return {calendar_id: Occupancy(found, now) for calendar_id, found in entries.items()}

    def with_buckets(self, other: Snapshot) -> Snapshot:
        """This read, with the buckets of ``other`` (a read of buckets only) added."""
        return replace(self, buckets={**self.buckets, **other.buckets})


# -- 1. what a change reads -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    checked: tuple[str, ...]  # the calendars the change is decided on, in the appointment's calendar order
    days: Mapping[str, frozenset[str]]  # the buckets it reads: calendar -> UTC days
    members: tuple[str, ...] = ()  # a pool's members, one of which is chosen (or kept) as ``assigned``
    holds_of: str | None = None  # the user whose holds the change counts (a hold made, confirmed or released)

    @property
    def rules_of(self) -> tuple[str, ...]:
        """The calendars whose rules the decision reads; the commit condition-checks those it decided on."""
        return (*self.checked, *self.members)

    def including(self, buckets: Iterable[tuple[str, str]]) -> Plan:
        """The same plan, reading these (calendar, day) buckets too."""
        days = {c: set(d) for c, d in self.days.items()}
        for calendar_id, day in buckets:
            days.setdefault(calendar_id, set()).add(day)
        return replace(self, days={c: frozenset(d) for c, d in days.items()})

    @staticmethod
    def of_buckets(buckets: Iterable[tuple[str, str]]) -> Plan:
        """A plan that reads these (calendar, day) buckets and nothing else: no rules, no holds."""
        return Plan((), {}).including(buckets)


def plan(before: Appointment | None, after: Appointment,
         hints: Mapping[str, Availability | None] | None = None) -> Plan:
    """A booking is decided on every calendar it occupies; a move likewise; a change of participants on
    the calendars it adds; an edit of details, reminders or time zone, and a cancel, on none. The
    calendars an appointment leaves (all of them on a move or a cancel) are read only to take its entry
    out of them. A pool's member is decided among all its members, on a booking and on a move. A hold
    confirmed stays where it is, and its entries are read to be written again without their expiry.

    With ``hints`` (the rules seen before, by calendar), a calendar decided on is read where those rules
    reach (``reach``; a calendar not in them as one without rules); without, a day either side. A pool's
    members are always read a day either side: choosing among them counts each one's local date."""
    pool = after.any_of if after.occupies and (before is None or after.interval != before.interval) else ()
    held = HELD in (after.status, before.status if before else None)
    holds_of = after.user_id if held and (before is None or before.status != after.status) else None
    if before is None:
        checked, leaving = tuple(c for c in after.calendars if c != after.assigned), ()
    elif not after.occupies or before.entry.expires_at != after.entry.expires_at:
        checked, leaving = (), before.calendars
    elif after.interval != before.interval:
        checked, leaving = tuple(c for c in after.calendars if c != after.assigned), before.calendars
    else:
        checked = tuple(c for c in after.calendars if c not in before.calendars)
        leaving = tuple(c for c in before.calendars if c not in after.calendars)
    days: dict[str, set[str]] = {}
    for calendar_id in leaving:
        days.setdefault(calendar_id, set()).update(days_touched(widened(before.interval, ENTRY_REACH)))
    for calendar_id in checked:
        days.setdefault(calendar_id, set()).update(
            days_touched(widened(after.interval, DECISION_REACH)) if hints is None
            else (day for span in reach(after.interval, hints.get(calendar_id)) for day in days_touched(span)))
    for calendar_id in pool:
        days.setdefault(calendar_id, set()).update(days_touched(widened(after.interval, DECISION_REACH)))
    return Plan(checked, {c: frozenset(d) for c, d in days.items()}, pool, holds_of)


def reach(interval: Interval, rules: Availability | None) -> tuple[Interval, ...]:
    """What a decision on a calendar rests on: the footprint (the interval widened by the buffers), and the
    local date of the start when a daily cap counts it."""
    if rules is None:
        return (interval,)
    footprint = rules.footprint(interval)
    if rules.max_per_day is None:
        return (footprint,)
    return footprint, rules.local_day(rules.local_date(interval.start))


def search_days(window: Interval, duration: timedelta) -> list[str]:
    """The buckets a slot search over ``window`` reads, per calendar: what any candidate's decision may rest on."""
    return days_touched(widened(Interval(window.start, window.end + duration), DECISION_REACH))


# -- 2. whether the calendars take it --------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """Whether the calendars take an appointment, and what that rests on."""

    unavailable: tuple[str, str] | None  # (calendarId, reason) of the first calendar whose rules refuse it
    conflicts: list[CalendarConflict]
    footprints: dict[str, Interval]  # what it blocks on each calendar checked
    counted: dict[str, Interval]  # the local date whose starts a daily cap counted, by calendar

    @property
    def accepted(self) -> bool:
        return self.unavailable is None and not self.conflicts

    @property
    def rests_on(self) -> set[tuple[str, str]]:
        """The (calendar, UTC day) buckets the decision read: those of each footprint, and of each counted date."""
        return {(calendar_id, day) for spans in (self.footprints, self.counted)
                for calendar_id, span in spans.items() for day in days_touched(span)}


NO_DECISION = Decision(None, [], {}, {})  # a change decided on no calendar (an edit, a cancel)


def decide(appointment: Appointment, checked: Iterable[str], occupancy: Mapping[str, Occupancy],
           rules: Mapping[str, Availability | None], now: datetime, *, until_refused: bool = False) -> Decision:
    """Check ``appointment`` on the calendars ``checked`` (in its calendar order): each calendar's rules,
    then what is in the way of its footprint there. ``occupancy`` and ``rules`` are what was read.

    ``until_refused`` stops at the first refusal, for a caller that needs only ``accepted`` (slot search);
    the decision is then exactly as accepted or refused, with fewer reasons listed."""
    unavailable, conflicts, footprints, counted = None, [], {}, {}
    checked = set(checked)
    for calendar_id in (c for c in appointment.calendars if c in checked):
        calendar_rules, existing = rules.get(calendar_id), occupancy.get(calendar_id, NOTHING)
        # What ``reach`` says, spelled out: this runs for every candidate of a slot search.
        footprint = calendar_rules.footprint(appointment.interval) if calendar_rules else appointment.interval
        footprints[calendar_id] = footprint
        starts, local_date = 0, None
        if calendar_rules:
            local_date = calendar_rules.local_date(appointment.interval.start)
            if calendar_rules.max_per_day is not None:
                counted[calendar_id] = calendar_rules.local_day(local_date)
                starts = existing.starting_on(calendar_rules.zone, local_date, ignore=appointment.appointment_id)
        reason = refusal(calendar_rules, appointment.interval, now, starts, local_date)
        if reason and unavailable is None:
            unavailable = (calendar_id, reason)
        if unavailable and until_refused:
            break
        conflicts += [CalendarConflict(calendar_id, entry)
                      for entry in existing.overlapping(footprint, ignore=appointment.appointment_id)]
        if conflicts and until_refused:
            break
    return Decision(unavailable, conflicts, footprints, counted)


def settle(before: Appointment | None, after: Appointment, plan: Plan, snapshot: Snapshot,
           now: datetime) -> tuple[Appointment, Decision]:
    """Decide a change on what was read: raise its refusal, or return the appointment as it commits (with a
    pool's member chosen) and the decision it rests on."""
    if plan.holds_of and before is None and len(unexpired(snapshot.holds, now)) >= MAX_HOLDS:
        raise TooManyHolds()
    occupancy = snapshot.occupancy(now)
    decided = decide(after, plan.checked, occupancy, snapshot.rules, now)
    if missing := unread(decided, snapshot):  # the rules read reach buckets the plan did not: decide on none of it
        raise ReadMore(missing)
    refused(decided, after, snapshot.rules)
    if not plan.members:
        return after, decided
    member, member_decision, reasons = choose(after, plan.members, occupancy, snapshot.rules, now)
    if member is None:
        raise NoneAvailable(reasons)
    if missing := unread(member_decision, snapshot):  # never: members are read a day either side
        raise ReadMore(missing)
    return replace(after, assigned=member), Decision(None, [], {**decided.footprints, **member_decision.footprints},
                                                     {**decided.counted, **member_decision.counted})


def unread(decided: Decision, snapshot: Snapshot) -> set[tuple[str, str]]:
    """The buckets a decision rests on that the read did not fetch."""
    return decided.rests_on - snapshot.buckets.keys()


def unexpired(holds: Mapping[str, datetime], now: datetime) -> dict[str, datetime]:
    return {appointment_id: expires for appointment_id, expires in holds.items() if expires > now}


def holds_after(before: Appointment | None, after: Appointment, snapshot: Snapshot, now: datetime) -> dict:
    """The user's holds once the change commits: a hold made is added, one confirmed or released goes, and
    those that have expired are dropped."""
    holds = unexpired(snapshot.holds, now)
    holds.pop(after.appointment_id, None)
    if after.status == HELD:
        holds[after.appointment_id] = after.hold_expires_at
    return holds


def qualifying(appointment: Appointment, members: Iterable[str], occupancy: Mapping[str, Occupancy],
               rules: Mapping[str, Availability | None], now: datetime,
               until_refused: bool = False) -> list[tuple[str, Decision]]:
    """Each member of a pool with its decision, as if it were the one assigned."""
    return [(member, decide(replace(appointment, assigned=member), (member,), occupancy, rules, now,
                            until_refused=until_refused)) for member in members]


def choose(appointment: Appointment, members: tuple[str, ...], occupancy: Mapping[str, Occupancy],
           rules: Mapping[str, Availability | None],
           now: datetime) -> tuple[str | None, Decision | None, list[tuple[str, str]]]:
    """The member a pool assigns: the one already assigned while it qualifies (a move keeps it); else,
    among those that qualify, the one with the fewest appointments starting on that local date of its zone
    (UTC without rules), then the first in order; or, with ``assign: inOrder``, the first that qualifies.
    Returns it with its decision, and each member that does not qualify with its reason."""
    decided = qualifying(appointment, members, occupancy, rules, now)
    free = [(member, decision) for member, decision in decided if decision.accepted]
    reasons = [(member, decision.unavailable[1] if decision.unavailable else "conflict")
               for member, decision in decided if not decision.accepted]
    if not free:
        return None, None, reasons
    kept = [found for found in free if found[0] == appointment.assigned]
    if kept or appointment.assign == IN_ORDER:
        return (*(kept or free)[0], reasons)

    def load(found: tuple[str, Decision]) -> int:
        member_rules = rules.get(found[0])
        zone = member_rules.zone if member_rules else ZoneInfo("UTC")
        local_date = appointment.interval.start.astimezone(zone).date()
        return occupancy.get(found[0], NOTHING).starting_on(zone, local_date, ignore=appointment.appointment_id)

    return (*min(free, key=load), reasons)  # min keeps the first of equals: the pool's order


def refused(decision: Decision, appointment: Appointment, rules: Mapping[str, Availability | None]) -> None:
    """Raise the refusal a decision amounts to: a calendar's rules first (Unavailable), then what is in the
    way (Conflict, with a word when only a buffer is)."""
    if decision.unavailable:
        raise Unavailable(*decision.unavailable)
    if decision.conflicts:
        calendars = ", ".join(dict.fromkeys(c.calendar_id for c in decision.conflicts))
        raise Conflict(f"The time overlaps scheduled appointments on {calendars}; pick a free time (see GET "
                       f"/calendars/{{calendarId}}/slots).{_buffer_note(appointment, decision, rules)}",
                       conflicts=[conflict_json(c, appointment.user_id) for c in decision.conflicts])


def _buffer_note(appointment: Appointment, decision: Decision, rules: Mapping[str, Availability | None]) -> str:
    """A sentence for the conflicts whose own times do not overlap the request: only a buffer is in the way."""
    buffered = dict.fromkeys(c.calendar_id for c in decision.conflicts
                             if not c.entry.interval.overlaps(appointment.interval))
    notes = []
    for calendar_id in buffered:
        calendar_rules = rules.get(calendar_id)
        kept = (f"{calendar_rules.buffer_before} minutes before and {calendar_rules.buffer_after} after each "
                "appointment" if calendar_rules else "the buffer it had when they were booked")
        notes.append(f"on {calendar_id} only the buffer it keeps around appointments ({kept}) is in the way")
    return f" The listed times do not overlap yours: {'; '.join(notes)}." if notes else ""


def settle_series(occurrences: Iterable, snapshot: Snapshot, now: datetime) -> tuple[list[Change], list[dict]]:
    """Decide every occurrence of a series (``series.Occurrence``) as a booking would be, on what was read
    and against the occurrences before it that were accepted. Returns each occurrence's change (as if
    accepted, so its cost is known) and the refused ones, shown as API.md's SeriesUnavailable lists them."""
    occupancy = snapshot.occupancy(now)
    changes, refusals = [], []
    for occurrence in occurrences:
        appointment = occurrence.appointment
        if appointment is None:  # the wall time does not exist on that date
            refusals.append({"occurrence": occurrence.number, "startTime": occurrence.local_start.isoformat(),
                             "error": "Unavailable", "reason": "nonexistentTime"})
            continue
        decided = decide(appointment, appointment.calendars, occupancy, snapshot.rules, now)
        changes.append((appointment, None, decided))
        shown = {"occurrence": occurrence.number, "startTime": format_instant(appointment.interval.start),
                 "endTime": format_instant(appointment.interval.end)}
        if decided.unavailable:
            calendar_id, reason = decided.unavailable
            refusals.append({**shown, "error": "Unavailable", "calendarId": calendar_id, "reason": reason})
        elif decided.conflicts:
            refusals.append({**shown, "error": "Conflict",
                             "conflicts": [conflict_json(c, appointment.user_id) for c in decided.conflicts]})
        else:  # the next occurrences are decided with this one in place
            for calendar_id, footprint in decided.footprints.items():
                entry = replace(appointment.entry, footprint=footprint)
                occupancy[calendar_id] = Occupancy([*occupancy.get(calendar_id, NOTHING).entries, entry])
    return changes, refusals


# -- 3. what each bucket holds afterwards ---------------------------------------------------------------------

Change = tuple[Appointment, Appointment | None, Decision]  # after, before, and what it was decided on


@dataclass(frozen=True)
class Commit:
    """One transaction: each appointment (conditioned on the version of the one before it; absent for a
    booking), each bucket at the version read with the entries it holds afterwards (None: unchanged,
    only checked), each rules item read at its version, and a new series' record."""

    appointments: tuple[tuple[Appointment, Appointment | None], ...]
    buckets: tuple[tuple[Bucket, dict[str, Entry] | None], ...]
    rules: Mapping[str, int]
    series: SeriesRecord | None = None  # a new series' record
    holds: tuple[str, int, dict[str, datetime]] | None = None  # (user, version read, holds afterwards)
    at: datetime | None = None  # when it was decided: a hold it confirms must still be unexpired then

    @property
    def appointment(self) -> Appointment:
        return self.appointments[0][0]

    @property
    def actions(self) -> int:
        return (len(self.appointments) + len(self.buckets) + len(self.rules) + (self.series is not None)
                + (self.holds is not None))


def outcome(after: Appointment, before: Appointment | None, decision: Decision, snapshot: Snapshot,
            now: datetime | None = None, holds_of: str | None = None) -> Commit:
    """The commit of one decided change (``commit_of``), within one transaction's actions; with
    ``holds_of``, the user's holds are counted in it too."""
    holds = (holds_of, snapshot.holds_version, holds_after(before, after, snapshot, now)) if holds_of else None
    commit = commit_of([(after, before, decision)], snapshot, now=now, holds=holds)
    if commit.actions > TRANSACTION_ACTIONS:
        raise ValidationError(f"This change touches {commit.actions - 1} calendar days at once, more than one "
                              "transaction holds; move the appointment in smaller steps, or cancel it and book "
                              "again.")
    return commit


def commit_of(changes: Iterable[Change], snapshot: Snapshot, now: datetime, series: SeriesRecord | None = None,
              holds: tuple | None = None) -> Commit:
    """The commit of decided changes: every bucket read that a decision rests on or that holds a changed
    appointment's entry. In each calendar an appointment occupies afterwards, its entry is in the
    buckets of the days its footprint there touches, and in no other; an entry that stays where it was
    keeps its footprint. A bucket written drops the entries of holds that have expired by ``now``."""
    changes = list(changes)
    changed = {after.appointment_id for after, _, _ in changes}
    rests_on = set().union(*(decision.rests_on for _, _, decision in changes))
    holding = {key for key, bucket in snapshot.buckets.items() if changed & bucket.entries.keys()}
    buckets = []
    for key in sorted((rests_on | holding) & snapshot.buckets.keys()):
        bucket = snapshot.buckets[key]
        entries = {k: v for k, v in bucket.entries.items() if k not in changed}
        for after, _, decision in changes:
            if after.occupies and bucket.calendar_id in after.calendars:
                kept = bucket.entries.get(after.appointment_id)
                footprint = decision.footprints.get(bucket.calendar_id) or (
                    kept.footprint if kept and kept.interval == after.interval else None)
                entry = replace(after.entry, footprint=footprint)
                if bucket.day in days_touched(entry.blocks):
                    entries[after.appointment_id] = entry
        if entries != bucket.entries:  # rewritten anyway: holds that have expired go
            entries = {k: v for k, v in entries.items() if not v.expired(now)}
        buckets.append((bucket, entries if entries != bucket.entries else None))
    decided = set().union(*(decision.footprints for _, _, decision in changes))
    rules = {c: v for c, v in snapshot.rule_versions.items() if c in decided}  # what they were decided on
    return Commit(tuple((after, before) for after, before, _ in changes), tuple(buckets), rules, series, holds, now)
