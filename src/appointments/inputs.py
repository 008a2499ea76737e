"""HTTP input: the JSON body, the request fingerprint, the idempotency key rule and query parameters.

Entry points turn raw request parts into typed values here, so the booking logic takes values it can
trust and ``appointment.py`` keeps only the rules of appointments. Every refusal names the field at fault.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from appointments.appointment import (
    CALENDAR_ID,
    CANCELLED,
    EXPIRED,
    HELD,
    MAX_PARTICIPANTS,
    MAX_POOL,
    MIN_POOL,
    SCHEDULED,
    STATUSES,
)
from appointments.errors import ValidationError
from appointments.times import Interval, parse_instant

MAX_BODY_BYTES = 16 * 1024
IDEMPOTENCY_NAMESPACE = uuid.UUID("8c5e7d0e-3f0b-4c52-9a43-51a3a5a0c2f1")
IDEMPOTENCY_KEY_CHARS = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")
MAX_WINDOW = timedelta(days=31)
DEFAULT_PAGE, MAX_PAGE = 50, 100


def parse_json_object(raw: str | None) -> dict:
    if raw is None or raw == "":
        raise ValidationError("The request needs a JSON object body.")
    size = len(raw.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise ValidationError(f"The request body is {size} bytes; the limit is {MAX_BODY_BYTES}.")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValidationError("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object.")
    return body


def request_fingerprint(body: Mapping) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def idempotent_appointment_id(user_id: str, key: str) -> str:
    """The appointment ID a key stands for: the same user and key always book the same appointment."""
    if not 1 <= len(key) <= 255 or not set(key) <= IDEMPOTENCY_KEY_CHARS:
        raise ValidationError("Idempotency-Key must be 1-255 printable ASCII characters.", "Idempotency-Key")
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{user_id}\n{key}"))


@dataclass(frozen=True)
class Idempotency:
    """What an Idempotency-Key means for one request: the ID of what it creates (an appointment, or a
    series), the same for every retry, and the fingerprint of the request that a retry must repeat."""

    resource_id: str
    fingerprint: str


def idempotency(key: str | None, body: Mapping) -> Idempotency | None:
    """The request's Idempotency-Key, read once; ``body`` is the request with its userId resolved."""
    if key is None:
        return None
    return Idempotency(idempotent_appointment_id(body["userId"], key), request_fingerprint(body))


# -- query parameters -----------------------------------------------------------------------------

def only(params: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    for name in params:
        if name not in allowed:
            raise ValidationError(f"Unknown query parameter '{name}'. Allowed: {', '.join(allowed)}.", name)


WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")  # every number in a query or header: 1-9 ASCII digits


def int_param(value: str, name: str, low: int, high: int) -> int:
    if not WHOLE_NUMBER.fullmatch(value) or not low <= int(value) <= high:
        raise ValidationError(f"{name} must be a whole number from {low} to {high}.", name)
    return int(value)


def id_list(params: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    """A comma-separated list of calendar IDs, or None when the parameter is absent; an empty item
    (``a,,b``, ``a,``) or an ID that breaks the rules is refused rather than dropped."""
    if name not in params:
        return None
    items = tuple(params[name].split(","))
    if not all(CALENDAR_ID.fullmatch(item) for item in items):
        raise ValidationError(f"{name} must list calendar IDs separated by single commas, each 1-128 characters "
                              "from A-Z a-z 0-9 . _ @ + : -", name)
    return items


@dataclass(frozen=True)
class ListQuery:
    """``GET /appointments``: ``user_id`` is as requested (the caller decides whose list it is)."""

    user_id: str | None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    limit: int = DEFAULT_PAGE
    next_token: str | None = None


def list_query(params: Mapping[str, str]) -> ListQuery:
    only(params, ("userId", "from", "to", "status", "limit", "nextToken"))
    since = parse_instant(params["from"], "from") if "from" in params else None
    until = parse_instant(params["to"], "to") if "to" in params else None
    if since and until and until <= since:
        raise ValidationError("to must be after from.", "to")
    status = params.get("status")
    if status not in (None, *STATUSES):
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}.", "status")
    return ListQuery(params.get("userId"), since, until, status,
                     int_param(params.get("limit", str(DEFAULT_PAGE)), "limit", 1, MAX_PAGE), params.get("nextToken"))


@dataclass(frozen=True)
class AgendaQuery:
    """``GET /calendars/{calendarId}/appointments``."""

    window: Interval
    limit: int = DEFAULT_PAGE
    next_token: str | None = None
    status: str | None = None  # scheduled or held; None: both


def agenda_query(params: Mapping[str, str]) -> AgendaQuery:
    """An agenda lists what occupies the calendar, from its buckets: scheduled appointments and unexpired
    holds. Cancelled and expired ones occupy nothing; they are in their user's list."""
    window = window_query(params, ("from", "to", "limit", "nextToken", "status"))
    status = params.get("status")
    if status in (CANCELLED, EXPIRED):
        raise ValidationError(f"An agenda lists what occupies the calendar ({SCHEDULED} and {HELD}); {status} "
                              f"appointments are in their user's list: GET /appointments?userId=...&status={status}.",
                              "status")
    if status not in (None, SCHEDULED, HELD):
        raise ValidationError(f"status must be {SCHEDULED} or {HELD}.", "status")
    return AgendaQuery(window, int_param(params.get("limit", str(DEFAULT_PAGE)), "limit", 1, MAX_PAGE),
                       params.get("nextToken"), status)


@dataclass(frozen=True)
class SlotQuery:
    """``GET /calendars/{calendarId}/slots``."""

    window: Interval
    duration: timedelta
    step: timedelta
    with_calendars: tuple[str, ...] = ()
    user_id: str | None = None


def slot_query(params: Mapping[str, str], calendar_id: str) -> SlotQuery:
    window = window_query(params, ("from", "to", "duration", "step", "with", "userId"))
    duration, step = _duration_and_step(params, longest=10080)
    others = id_list(params, "with")
    if others is not None and (len(others) > 8 or len(set(others)) != len(others) or calendar_id in others):
        raise ValidationError("with must list 1-8 distinct calendar IDs other than the calendar itself, "
                              "separated by commas.", "with")
    return SlotQuery(window, duration, step, others or (), params.get("userId"))


def _duration_and_step(params: Mapping[str, str], longest: int) -> tuple[timedelta, timedelta]:
    """A slot search's ``duration`` (required, 5 to ``longest`` minutes) and ``step`` (5-1440, the duration
    by default)."""
    if "duration" not in params:
        raise ValidationError("duration is required: the length of the appointment, in minutes.", "duration")
    duration = int_param(params["duration"], "duration", 5, longest)
    step = int_param(params.get("step", str(duration)), "step", 5, 1440)
    return timedelta(minutes=duration), timedelta(minutes=step)


@dataclass(frozen=True)
class PoolSlotQuery:
    """``GET /slots?anyOf=...``: the slots of a pool, each with the members free then."""

    window: Interval
    duration: timedelta
    step: timedelta
    any_of: tuple[str, ...]
    with_calendars: tuple[str, ...] = ()
    user_id: str | None = None


def pool_slot_query(params: Mapping[str, str]) -> PoolSlotQuery:
    """As a calendar's slots, with ``anyOf`` instead of the calendar: 2-10 members; a pool booking lasts at
    most 24 hours and has at most 7 other participants, so ``duration`` and ``with`` are bounded so too."""
    window = window_query(params, ("from", "to", "duration", "step", "with", "userId", "anyOf"))
    any_of = id_list(params, "anyOf")
    if any_of is None or not MIN_POOL <= len(any_of) <= MAX_POOL or len(set(any_of)) != len(any_of):
        raise ValidationError(f"anyOf must list {MIN_POOL}-{MAX_POOL} distinct calendar IDs, separated by commas.",
                              "anyOf")
    if params.get("userId") in any_of:
        raise ValidationError("anyOf lists the calendars to choose from; the user's own is not one of them.", "anyOf")
    duration, step = _duration_and_step(params, longest=1440)
    others = id_list(params, "with")
    if others is not None and (len(others) > MAX_PARTICIPANTS - 1 or len(set(others)) != len(others)
                               or set(others) & set(any_of)):
        raise ValidationError(f"with must list 1-{MAX_PARTICIPANTS - 1} distinct calendar IDs that are not in anyOf, "
                              "separated by commas.", "with")
    return PoolSlotQuery(window, duration, step, any_of, others or (), params.get("userId"))


def series_from(params: Mapping[str, str]) -> int:
    """``DELETE /series/{seriesId}?from=N``: the first occurrence to cancel, 1 by default (all of them)."""
    only(params, ("from",))
    return int_param(params.get("from", "1"), "from", 1, 52)


def window_query(params: Mapping[str, str], allowed: tuple[str, ...] = ("from", "to")) -> Interval:
    """A required ``[from, to)`` window of at most 31 days."""
    only(params, allowed)
    for name in ("from", "to"):
        if name not in params:
            raise ValidationError(f"{name} is required.", name)
    window = Interval(parse_instant(params["from"], "from"), parse_instant(params["to"], "to"))
    if window.end <= window.start:
        raise ValidationError("to must be after from.", "to")
    if window.end - window.start > MAX_WINDOW:
        raise ValidationError("The from-to window may be at most 31 days.", "to")
    return window


# -- versions and conditional requests (RFC 9110, 8.8.3 and 13.1) -----------------------------------

JSON_REPRESENTATION, CALENDAR_REPRESENTATION = "", "ics"
EXPIRED_STATE = "expired"  # a hold read after its expiry: the same version, shown differently
_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')
_VERSION_TAG = re.compile(r"([1-9][0-9]{0,8})(?:-((?:expired-)?ics|expired))?")


def representation_of(as_calendar: bool, expired: bool = False) -> str:
    """JSON or iCalendar; of a hold read after its expiry, whose version shows ``expired`` instead of ``held``."""
    return "-".join(part for part in (EXPIRED_STATE if expired else "",
                                      CALENDAR_REPRESENTATION if as_calendar else "") if part)


def entity_tag(version: int, representation: str = JSON_REPRESENTATION) -> str:
    """The strong ETag of one version in one representation: ``"3"`` (JSON), ``"3-ics"`` (iCalendar), and
    ``"3-expired"`` or ``"3-expired-ics"`` for a hold of version 3 read after its expiry."""
    return f'"{version}-{representation}"' if representation else f'"{version}"'


def _tags(header: str) -> list[tuple[bool, int, str]] | None:
    """(weak, version, representation) for each tag of an If-Match or If-None-Match list that names a
    version of ours; None for ``*``. Tags that name nothing of ours, and a malformed list, match nothing."""
    if header.strip() == "*":
        return None
    tags, position = [], 0
    while position < len(header):
        found = _ENTITY_TAG.match(header, position)
        if not found or found.end() == position:
            return []
        position = found.end()
        named = _VERSION_TAG.fullmatch(found.group(2))
        if named:
            tags.append((found.group(1) is not None, int(named.group(1)), named.group(2) or JSON_REPRESENTATION))
    return tags


@dataclass(frozen=True)
class Precondition:
    """A request's ``If-Match`` and ``If-None-Match``, read the same way on every route.

    ``If-Match`` compares strongly: a weak tag never matches, ``*`` matches any existing version, and
    a write may name either representation's tag of a version. ``If-None-Match`` compares weakly.
    """

    if_match: str | None = None
    if_none_match: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Precondition:
        return cls(headers.get("If-Match"), headers.get("If-None-Match"))

    def allows_write(self, version: int | None) -> bool:
        """Whether a write may change the resource now at ``version`` (None: it does not exist)."""
        if self.if_match is not None:
            tags = _tags(self.if_match)
            if version is None or (tags is not None and not any(not weak and v == version for weak, v, _ in tags)):
                return False
        if self.if_none_match is not None:
            tags = _tags(self.if_none_match)
            if version is not None and (tags is None or any(v == version for _, v, _ in tags)):
                return False
        return True

    def not_modified(self, version: int, representation: str = JSON_REPRESENTATION) -> bool:
        """Whether a GET of ``version`` in ``representation`` answers 304."""
        if self.if_none_match is None:
            return False
        tags = _tags(self.if_none_match)
        return tags is None or (version, representation) in {(v, r) for _, v, r in tags}


UNCONDITIONAL = Precondition()


# -- content negotiation --------------------------------------------------------------------------

JSON_TYPE, CALENDAR_TYPE = "application/json", "text/calendar"


def _accepted(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their weights; a range with a malformed weight is
    left out, as if it had not been sent."""
    ranges = []
    for part in accept.split(","):
        media_range, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = -1.0
        if media_range and 0.0 <= weight <= 1.0:
            ranges.append((media_range.lower(), weight))
    return ranges


def _weight(ranges: list[tuple[str, float]], media_type: str) -> float:
    """The weight the most specific matching range gives ``media_type`` (RFC 9110, 12.5.1); 0 if none."""
    kind = media_type.split("/")[0]
    for candidate in (media_type, f"{kind}/*", "*/*"):
        weights = [weight for media_range, weight in ranges if media_range == candidate]
        if weights:
            return max(weights)
    return 0.0


def prefers_calendar(accept: str | None) -> bool:
    """Whether the client prefers iCalendar to JSON. JSON wins ties, a missing header, and a header
    that accepts neither (it is served rather than refused with 406)."""
    if not accept:
        return False
    ranges = _accepted(accept)
    return _weight(ranges, CALENDAR_TYPE) > _weight(ranges, JSON_TYPE)


HTML_TYPE, FORM_TYPE = "text/html", "application/x-www-form-urlencoded"


def prefers_json(accept: str | None) -> bool:
    """Whether a manage page's client prefers JSON to the HTML page: only when its Accept weighs JSON higher.
    A browser's Accept, a missing header and ``*/*`` get the page."""
    if not accept:
        return False
    ranges = _accepted(accept)
    return _weight(ranges, JSON_TYPE) > _weight(ranges, HTML_TYPE)


def preferred_language(accept_language: str | None) -> str | None:
    """The first language tag of an Accept-Language header by weight (for a page that knows no recipient)."""
    tags = sorted(_accepted(accept_language or ""), key=lambda r: -r[1])
    return next((tag for tag, weight in tags if weight > 0 and tag != "*"), None)


def move_start(raw: str | None, content_type: str | None) -> str:
    """The ``startTime`` a manage page's move form posts (``application/x-www-form-urlencoded``), or a JSON body
    ``{"startTime": T}`` sends; the time itself is checked against the slots offered."""
    from urllib.parse import parse_qs

    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == JSON_TYPE:
        body = parse_json_object(raw)
        if set(body) != {"startTime"} or not isinstance(body["startTime"], str):
            raise ValidationError('The body is {"startTime": T}, with T one of the times the page offers.',
                                  "startTime")
        return body["startTime"]
    if media_type != FORM_TYPE:
        raise ValidationError("Send the page's form (application/x-www-form-urlencoded) or a JSON body "
                              '{"startTime": T}.', "startTime")
    if raw and len(raw.encode("utf-8")) > MAX_BODY_BYTES:
        raise ValidationError(f"The request body is over {MAX_BODY_BYTES} bytes; send only startTime.")
    values = parse_qs(raw or "", keep_blank_values=True).get("startTime", [])
    if len(values) != 1 or not values[0]:
        raise ValidationError("Pick one of the times the page offers (the form sends it as startTime).", "startTime")
    return values[0]
