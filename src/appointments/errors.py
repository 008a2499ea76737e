"""Domain errors. Entry points map them to HTTP by type, in one place."""

from __future__ import annotations


class AppointmentError(Exception):
    """Base of every error a client may see. ``code`` is the API's ``error`` value."""

    status = 500
    code = "InternalError"
    headers: dict[str, str] = {}  # HTTP headers the answer carries

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class ValidationError(AppointmentError):
    status = 400
    code = "ValidationError"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message, **({"field": field} if field else {}))


class Forbidden(AppointmentError):
    status = 403
    code = "Forbidden"


class NotFound(AppointmentError):
    status = 404
    code = "NotFound"


class Conflict(AppointmentError):
    status = 409
    code = "Conflict"

    def __init__(self, message: str, conflicts: list[dict]):
        super().__init__(message, conflicts=conflicts)


class TooMuchContention(Conflict):
    """Every attempt lost to a concurrent change of the same calendars; the client should retry soon."""

    headers = {"Retry-After": "1"}

    def __init__(self) -> None:
        super().__init__("These calendars are changing too fast right now; retry in a moment.", conflicts=[])


class Unavailable(AppointmentError):
    """A calendar's availability rules refuse the time: outsideHours, minimumNotice, maximumAdvance, dailyLimit."""

    status = 409
    code = "Unavailable"
    EXPLAINED = {"outsideHours": "is not open at that time", "minimumNotice": "needs more notice",
                 "maximumAdvance": "does not take bookings that far ahead",
                 "dailyLimit": "has no more room on that day"}

    def __init__(self, calendar_id: str, reason: str):
        super().__init__(f"{calendar_id} {self.EXPLAINED[reason]}; see GET /calendars/{calendar_id}/slots for "
                         "times it takes.", calendarId=calendar_id, reason=reason)


class AppointmentCancelled(AppointmentError):
    status = 409
    code = "AppointmentCancelled"


class PreconditionFailed(AppointmentError):
    """If-Match named a version that is not the current one; nothing changed."""

    status = 412
    code = "PreconditionFailed"

    def __init__(self, current_version: int):
        super().__init__(f"The resource is at version {current_version}, not the one If-Match names; read it again "
                         "and decide on its current state.", currentVersion=current_version)


class IdempotencyKeyReused(AppointmentError):
    status = 422
    code = "IdempotencyKeyReused"


class ServiceUnavailable(AppointmentError):
    """DynamoDB throttled the request past a bounded, jittered backoff; nothing was changed."""

    status = 503
    code = "ServiceUnavailable"
    headers = {"Retry-After": "2"}

    def __init__(self) -> None:
        super().__init__("The service is busy right now and changed nothing; retry after the Retry-After seconds.")


class StaleRead(Exception):
    """A conditional write lost to a concurrent change; re-read and decide again. Never reaches a client."""
