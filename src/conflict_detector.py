"""The appointment HTTP API (API Gateway REST proxy): routes parse, call Bookings, and map errors.

The handler string in template.json is ``conflict_detector.handler``.
"""

from __future__ import annotations

import binascii
import warnings
from urllib.parse import urlencode

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from appointments.bookings import Bookings, Caller, cognito_groups
from appointments.errors import AppointmentError, Conflict, Unavailable, ValidationError
from appointments.inputs import (
    agenda_query,
    entity_tag,
    list_query,
    matches,
    parse_json_object,
    prefers_calendar,
    slot_query,
    window_query,
)
from appointments.settings import ApiSettings
from appointments.wiring import Lazy, build_bookings

logger = Logger()
metrics = Metrics()
app = APIGatewayRestResolver()
# GET requests emit no metrics; Powertools would warn about that on every one of them.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def from_environment() -> Bookings:
    import boto3

    return build_bookings(boto3.client("dynamodb"), ApiSettings.from_environment())


bookings = Lazy(from_environment)
use = bookings.use  # hand in the Bookings to serve with (tests, the local gateway)


def caller() -> Caller:
    """The Cognito ``sub`` and groups when a user pool authorizer ran; IAM and no authorizer carry no claims."""
    claims = app.current_event.request_context.authorizer.claims
    return Caller(subject=claims.get("sub"), groups=cognito_groups(claims.get("cognito:groups")))


def json_response(status: int, body: dict, headers: dict | None = None) -> Response:
    # Serialised here (with the resolver's own serializer) to end with a newline, so `curl -s` output never runs on.
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=app._serializer(body) + "\n", headers=headers or {})


def versioned(status: int, resource, headers: dict | None = None, *, as_calendar: bool = False) -> Response:
    """One appointment or one availability, with its ETag; 304 for a GET whose If-None-Match names it."""
    headers = {**(headers or {}), "ETag": entity_tag(resource.version)}
    event = app.current_event
    if event.http_method == "GET" and matches(event.headers.get("If-None-Match"), resource.version):
        return Response(status_code=304, body="", headers=headers)
    if as_calendar:
        return calendar_response([resource], headers)
    return json_response(status, resource.to_api(), headers)


def wants_calendar() -> bool:
    """Whether the request's Accept prefers iCalendar to JSON."""
    return prefers_calendar(app.current_event.headers.get("Accept"))


def calendar_response(appointments: list, headers: dict) -> Response:
    from appointments.calendar_files import calendar_file  # loaded only on this path

    return Response(status_code=200, content_type="text/calendar; charset=utf-8", body=calendar_file(appointments),
                    headers=headers)


def if_match() -> str | None:
    return app.current_event.headers.get("If-Match")


def request_body() -> dict:
    try:
        raw = app.current_event.decoded_body
    except (UnicodeDecodeError, binascii.Error):
        raise ValidationError("The request body is not UTF-8 text; send JSON.") from None
    return parse_json_object(raw)


def query() -> dict[str, str]:
    params = app.current_event.multi_value_query_string_parameters or {}
    for name, values in params.items():
        if len(values) > 1:
            raise ValidationError(f"Give the query parameter '{name}' once.", name)
    return app.current_event.query_string_parameters or {}


# -- routes -------------------------------------------------------------------------------------

def count_booking(name: str) -> None:
    """An attempt is a booking the service decided: booked, refused as a conflict, or failed.
    Invalid input and idempotent replays are not attempts."""
    metrics.add_metric(name="BookingAttempts", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@app.post("/appointments")
def book() -> Response:
    body = request_body()
    key = app.current_event.headers.get("Idempotency-Key")
    try:
        appointment, replayed = bookings().book(body, caller(), key)
    except (Conflict, Unavailable):  # decided: refused by what is in the way, or by a calendar's rules
        count_booking(name="BookingConflicts")
        raise
    except AppointmentError:  # the request was refused before anything was decided
        raise
    except Exception:
        count_booking(name="BookingErrors")
        raise
    headers = {"Location": f"/appointments/{appointment.appointment_id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    else:
        count_booking(name="BookingSuccess")
    logger.info("booking accepted", appointment_id=appointment.appointment_id, replayed=replayed)
    return versioned(201, appointment, headers)


@app.get("/appointments")
def list_appointments() -> Response:
    appointments, next_token = bookings().list(list_query(query()), caller())
    return json_response(200, {"appointments": [a.to_api() for a in appointments], "nextToken": next_token})


NEGOTIATED = {"Vary": "Accept"}  # JSON or iCalendar, by the request's Accept


@app.get("/appointments/<appointmentId>")
def get_appointment(appointmentId: str) -> Response:
    return versioned(200, bookings().get(appointmentId, caller()), NEGOTIATED, as_calendar=wants_calendar())


@app.patch("/appointments/<appointmentId>")
def change_appointment(appointmentId: str) -> Response:
    return versioned(200, bookings().change(appointmentId, request_body(), caller(), if_match()))


@app.delete("/appointments/<appointmentId>")
def cancel_appointment(appointmentId: str) -> Response:
    return versioned(200, bookings().cancel(appointmentId, caller(), if_match()))


@app.get("/users/<userId>/busy")
def busy(userId: str) -> Response:
    return json_response(200, bookings().busy(userId, window_query(query()), caller()))


@app.get("/calendars/<calendarId>/busy")
def calendar_busy(calendarId: str) -> Response:
    return json_response(200, bookings().calendar_busy(calendarId, window_query(query()), caller()))


@app.get("/calendars/<calendarId>/appointments")
def calendar_agenda(calendarId: str) -> Response:
    appointments, next_token = bookings().agenda(calendarId, agenda_query(query()), caller())
    if wants_calendar():
        return calendar_response(appointments, {**NEGOTIATED, **next_page_link(next_token)})
    return json_response(200, {"appointments": [a.to_api() for a in appointments], "nextToken": next_token},
                         NEGOTIATED)


def next_page_link(next_token: str | None) -> dict:
    """A calendar file has no place for the next page's token, so it goes in a Link header (RFC 8288), as a
    reference relative to this request's URL (so it holds behind any stage or base path)."""
    if next_token is None:
        return {}
    params = {**query(), "nextToken": next_token}
    return {"Link": f'<?{urlencode(params)}>; rel="next"'}


@app.put("/calendars/<calendarId>/availability")
def set_availability(calendarId: str) -> Response:
    return versioned(200, bookings().set_rules(calendarId, request_body(), caller(), if_match()))


@app.get("/calendars/<calendarId>/availability")
def get_availability(calendarId: str) -> Response:
    return versioned(200, bookings().rules(calendarId, caller()))


@app.delete("/calendars/<calendarId>/availability")
def delete_availability(calendarId: str) -> Response:
    bookings().remove_rules(calendarId, caller())
    return Response(status_code=204, body="")


@app.get("/calendars/<calendarId>/slots")
def slots(calendarId: str) -> Response:
    return json_response(200, bookings().slots(calendarId, slot_query(query(), calendarId), caller()))


# -- errors, mapped by type in one place ------------------------------------------------------------

def error_response(status: int, code: str, message: str, **extra) -> Response:
    request_id = app.current_event.request_context.request_id
    return json_response(status, {"error": code, "message": message, "requestId": request_id, **extra})


@app.exception_handler(AppointmentError)
def domain_error(error: AppointmentError) -> Response:
    if error.status >= 500:
        return unexpected_error(error)
    logger.info("request refused", error=error.code, status=error.status)
    response = error_response(error.status, error.code, error.message, **error.extra)
    response.headers.update(error.headers)
    return response


@app.not_found
def no_route(_: NotFoundError) -> Response:
    event = app.current_event
    return error_response(404, "NotFound", f"There is no route {event.http_method} {event.path}; "
                                           "see API.md for the routes this API serves.")


@app.exception_handler(Exception)
def unexpected_error(error: Exception) -> Response:
    logger.exception("request failed")
    return error_response(500, "InternalError", "Something went wrong on our side; retry later, and quote the "
                                                "requestId if it keeps happening.")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    return app.resolve(event, context)
