"""Domain errors. Entry points map them to HTTP by type, in one place."""

from __future__ import annotations


class AppointmentError(Exception):
    """Base of every error a client may see. ``code`` is the API's ``error`` value."""

    status, code = 500, "InternalError"
    headers: dict[str, str] = {}  # HTTP headers the answer carries
    default_message = ""
    shown_on = None  # a manage page (``manage.ManageView``) to answer on, in its recipient's language

    def __init__(self, message: str | None = None, **extra):
        self.message = message or self.default_message
        super().__init__(self.message)
        self.extra = extra


class ValidationError(AppointmentError):
    status, code = 400, "ValidationError"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message, **({"field": field} if field else {}))


class Forbidden(AppointmentError):
    status, code = 403, "Forbidden"


class NotFound(AppointmentError):
    status, code = 404, "NotFound"


class Conflict(AppointmentError):
    status, code = 409, "Conflict"

    def __init__(self, message: str, conflicts: list[dict]):
        super().__init__(message, conflicts=conflicts)


class TooMuchContention(Conflict):
    """Every attempt lost to a concurrent change of the same calendars; the client should retry soon."""

    headers = {"Retry-After": "1"}

    def __init__(self) -> None:
        super().__init__("These calendars are changing too fast right now; retry in a moment.", conflicts=[])


class Unavailable(AppointmentError):
    """A calendar's availability rules refuse the time: outsideHours, minimumNotice, maximumAdvance, dailyLimit."""

    status, code = 409, "Unavailable"
    EXPLAINED = {"outsideHours": "is not open at that time", "minimumNotice": "needs more notice",
                 "maximumAdvance": "does not take bookings that far ahead",
                 "dailyLimit": "has no more room on that day"}

    def __init__(self, calendar_id: str, reason: str):
        super().__init__(f"{calendar_id} {self.EXPLAINED[reason]}; see GET /calendars/{calendar_id}/slots for "
                         "times it takes.", calendarId=calendar_id, reason=reason)


class AppointmentCancelled(AppointmentError):
    status, code = 409, "AppointmentCancelled"


class PreconditionFailed(AppointmentError):
    """If-Match named a version that is not the current one; nothing changed."""

    status, code = 412, "PreconditionFailed"

    def __init__(self, current_version: int):
        super().__init__(f"The resource is at version {current_version}, not the one If-Match names; read it again "
                         "and decide on its current state.", currentVersion=current_version)


class IdempotencyKeyReused(AppointmentError):
    status, code = 422, "IdempotencyKeyReused"


class ServiceUnavailable(AppointmentError):
    """DynamoDB throttled the request past a bounded, jittered backoff; nothing was changed."""

    status, code = 503, "ServiceUnavailable"
    headers = {"Retry-After": "2"}
    default_message = "The service is busy right now and changed nothing; retry after the Retry-After seconds."


class StaleRead(Exception):
    """A conditional write lost to a concurrent change; re-read and decide again. Never reaches a client."""


class ReadMore(Exception):
    """A decision needs buckets its read did not fetch (rules the booking did not expect reach them): read
    again with ``buckets`` too, and decide on that read. Never reaches a client."""

    def __init__(self, buckets: set[tuple[str, str]]):
        super().__init__(f"{len(buckets)} more buckets to read")
        self.buckets = buckets


class NoneAvailable(AppointmentError):
    """No member of a pool (anyOf) qualifies; ``calendars`` gives each one's reason: ``conflict``, or the
    reason its rules refuse (outsideHours, minimumNotice, maximumAdvance, dailyLimit)."""

    status, code = 409, "NoneAvailable"

    def __init__(self, reasons: list[tuple[str, str]]):
        super().__init__("No calendar of anyOf is free at that time; see GET /slots?anyOf=... for times one is.",
                         calendars=[{"calendarId": calendar_id, "reason": reason} for calendar_id, reason in reasons])


class SeriesUnavailable(AppointmentError):
    """Some occurrences of a series are refused, so none is booked; ``occurrences`` lists each refused one."""

    status, code = 409, "SeriesUnavailable"

    def __init__(self, occurrences: list[dict]):
        numbers = ", ".join(str(o["occurrence"]) for o in occurrences)
        super().__init__(f"Occurrences {numbers} cannot be booked, so nothing was; skip their dates (repeat.skip) "
                         "or pick another time, and try again.", occurrences=occurrences)


class HoldExpired(AppointmentError):
    status, code = 409, "HoldExpired"
    default_message = "The hold expired before it was confirmed, and the time is free again; book it again."


class TooManyHolds(AppointmentError):
    status, code = 409, "TooManyHolds"
    default_message = ("You have 5 holds that have not expired; confirm or release one (DELETE it) before holding "
                       "another time.")


class OutcomeNotRecordable(AppointmentError):
    """An outcome is recorded once an appointment has started, and only on a scheduled one."""

    status, code = 409, "OutcomeNotRecordable"


class NotCancellable(AppointmentError):
    """A manage link's cancel or move after the appointment started."""

    status, code = 409, "NotCancellable"
    default_message = ("The appointment has already started, so it can no longer be cancelled or moved from this "
                       "link; contact the business instead.")


class LinkExpired(AppointmentError):
    """A manage link past its expiry (the appointment's end when the link was issued)."""

    status, code = 410, "LinkExpired"
    default_message = "This link has expired: the appointment it was sent for is over."
