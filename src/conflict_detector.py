"""The appointment HTTP API (API Gateway REST proxy): routes parse, call the service, and shape the JSON.

The handler string in template.json is ``conflict_detector.handler``. Commands go to ``Bookings``,
reads and rules admin to ``Calendars``, contacts to ``ContactBook``, manage links to ``ManagePages`` (their
HTML is rendered by ``manage_page``, imported on those routes only); domain errors are mapped to HTTP by
type, in one place. No contact field is ever logged, nor a manage link's token.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Iterable
from urllib.parse import unquote, urlencode

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from appointments.appointment import EXPIRED
from appointments.caller import Caller
from appointments.errors import AppointmentError, Conflict, Unavailable, ValidationError
from appointments.inputs import (
    Precondition,
    agenda_query,
    entity_tag,
    idempotency,
    list_query,
    move_start,
    parse_json_object,
    pool_slot_query,
    preferred_language,
    prefers_calendar,
    prefers_json,
    representation_of,
    series_from,
    slot_query,
    window_query,
)
from appointments.representations import (
    appointment_json,
    availability_json,
    contact_json,
    cors_headers,
    interval_json,
)
from appointments.series import repeat_json
from appointments.settings import ApiSettings
from appointments.telemetry import logger, metrics
from appointments.times import format_instant
from appointments.wiring import Lazy, Services, aws_client, build_services


class PathDecodingResolver(APIGatewayRestResolver):
    """API Gateway passes a REST API's path still percent-encoded, and Powertools routes on it: each route
    argument is decoded here, once, as API Gateway decodes ``pathParameters`` (``dr%40clinic.com`` is
    calendar ``dr@clinic.com``)."""

    def _convert_matches_into_route_keys(self, match: re.Match) -> dict[str, str]:
        return {name: unquote(value) for name, value in super()._convert_matches_into_route_keys(match).items()}


app = PathDecodingResolver()


def from_environment() -> Services:
    return build_services(aws_client("dynamodb"), ApiSettings.from_environment())


services = Lazy(from_environment)
allowed_origins = Lazy(lambda: ApiSettings.from_environment().origins)
business_name = Lazy(lambda: ApiSettings.from_environment().business_name)


def use(served: Services, origins: Iterable[str] = (), business: str = "") -> None:
    """Hand in the services to serve with, the origins CORS allows and the business name manage pages show
    (tests, the local gateway)."""
    services.use(served)
    allowed_origins.use(tuple(origins))
    business_name.use(business)


def caller() -> Caller:
    """The Cognito ``sub`` and groups when a user pool authorizer ran; IAM and no authorizer carry no claims."""
    return Caller.from_claims(app.current_event.request_context.authorizer.claims)


def json_response(status: int, body: dict, headers: dict | None = None) -> Response:
    """JSON, compact, ending with a newline, so that ``curl -s`` output never runs on into the prompt."""
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, separators=(",", ":")) + "\n", headers=headers or {})


def versioned(status: int, resource, shown: dict, headers: dict | None = None, *,
              as_calendar: bool = False) -> Response:
    """One appointment, availability or contact (``shown`` as JSON), with the ETag of this representation; 304
    for a GET whose If-None-Match names that ETag."""
    representation = representation_of(as_calendar, getattr(resource, "status", None) == EXPIRED)
    headers = {**(headers or {}), "ETag": entity_tag(resource.version, representation)}
    if app.current_event.http_method == "GET" and precondition().not_modified(resource.version, representation):
        return Response(status_code=304, body="", headers=headers)
    if as_calendar:
        return calendar_response([resource], headers)
    return json_response(status, shown, headers)


def appointment_response(status: int, appointment, headers: dict | None = None, *,
                         as_calendar: bool = False) -> Response:
    return versioned(status, appointment, appointment_json(appointment), headers, as_calendar=as_calendar)


def rules_response(rules) -> Response:
    return versioned(200, rules, availability_json(rules))


def contact_response(contact) -> Response:
    return versioned(200, contact, contact_json(contact))


def page_response(appointments: list, next_token: str | None, headers: dict | None = None) -> Response:
    return json_response(200, {"appointments": [appointment_json(a) for a in appointments], "nextToken": next_token},
                         headers)


def window_json(window) -> dict:
    return {"from": format_instant(window.start), "to": format_instant(window.end)}


def wants_calendar() -> bool:
    """Whether the request's Accept prefers iCalendar to JSON."""
    return prefers_calendar(app.current_event.headers.get("Accept"))


def calendar_response(appointments: list, headers: dict) -> Response:
    from appointments.calendar_files import calendar_file  # loaded only on this path

    return Response(status_code=200, content_type="text/calendar; charset=utf-8", body=calendar_file(appointments),
                    headers=headers)


def precondition() -> Precondition:
    return Precondition.from_headers(app.current_event.headers)


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
    booker = caller()
    body = {**body, "userId": booker.user_for(body.get("userId"))}
    key = idempotency(app.current_event.headers.get("Idempotency-Key"), body)
    try:
        appointment, replayed = services().bookings.book(body, booker, key)
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
    return appointment_response(201, appointment, headers)


@app.get("/appointments")
def list_appointments() -> Response:
    return page_response(*services().calendars.list(list_query(query()), caller()))


NEGOTIATED = {"Vary": "Accept"}  # JSON or iCalendar, by the request's Accept


@app.get("/appointments/<appointmentId>")
def get_appointment(appointmentId: str) -> Response:
    return appointment_response(200, services().calendars.get(appointmentId, caller()), NEGOTIATED,
                                as_calendar=wants_calendar())


@app.patch("/appointments/<appointmentId>")
def change_appointment(appointmentId: str) -> Response:
    return appointment_response(200, services().bookings.change(appointmentId, request_body(), caller(),
                                                                precondition()))


@app.delete("/appointments/<appointmentId>")
def cancel_appointment(appointmentId: str) -> Response:
    return appointment_response(200, services().bookings.cancel(appointmentId, caller(), precondition()))


@app.post("/appointments/<appointmentId>/confirm")
def confirm_appointment(appointmentId: str) -> Response:
    return appointment_response(200, services().bookings.confirm(appointmentId, caller(), precondition()))


@app.put("/appointments/<appointmentId>/outcome")
def record_outcome(appointmentId: str) -> Response:
    return appointment_response(200, services().bookings.record_outcome(appointmentId, request_body(), caller(),
                                                                        precondition()))


@app.delete("/appointments/<appointmentId>/outcome")
def clear_outcome(appointmentId: str) -> Response:
    return appointment_response(200, services().bookings.record_outcome(appointmentId, None, caller(),
                                                                        precondition()))


@app.get("/users/<userId>/busy")
def busy(userId: str) -> Response:
    window = window_query(query())
    user_id, busy_times = services().calendars.user_busy(userId, window, caller())
    return json_response(200, {"userId": user_id, **window_json(window),
                               "busy": [interval_json(i) for i in busy_times]})


@app.get("/calendars/<calendarId>/busy")
def calendar_busy(calendarId: str) -> Response:
    window = window_query(query())
    busy_times = services().calendars.busy(calendarId, window, caller())
    return json_response(200, {"calendarId": calendarId, **window_json(window),
                               "busy": [interval_json(i) for i in busy_times]})


@app.get("/calendars/<calendarId>/appointments")
def calendar_agenda(calendarId: str) -> Response:
    appointments, next_token = services().calendars.agenda(calendarId, agenda_query(query()), caller())
    if wants_calendar():
        return calendar_response(appointments, {**NEGOTIATED, **next_page_link(next_token)})
    return page_response(appointments, next_token, NEGOTIATED)


def next_page_link(next_token: str | None) -> dict:
    """A calendar file has no place for the next page's token, so it goes in a Link header (RFC 8288), as a
    reference relative to this request's URL (so it holds behind any stage or base path)."""
    if next_token is None:
        return {}
    params = {**query(), "nextToken": next_token}
    return {"Link": f'<?{urlencode(params)}>; rel="next"'}


@app.put("/calendars/<calendarId>/availability")
def set_availability(calendarId: str) -> Response:
    return rules_response(services().calendars.set_rules(calendarId, request_body(), caller(), precondition()))


@app.get("/calendars/<calendarId>/availability")
def get_availability(calendarId: str) -> Response:
    return rules_response(services().calendars.rules(calendarId, caller()))


@app.delete("/calendars/<calendarId>/availability")
def delete_availability(calendarId: str) -> Response:
    services().calendars.remove_rules(calendarId, caller())
    return Response(status_code=204, body="")


@app.put("/calendars/<calendarId>/contact")
def set_contact(calendarId: str) -> Response:
    return contact_response(services().contacts.set(calendarId, request_body(), caller(), precondition()))


@app.get("/calendars/<calendarId>/contact")
def get_contact(calendarId: str) -> Response:
    return contact_response(services().contacts.get(calendarId, caller()))


@app.delete("/calendars/<calendarId>/contact")
def delete_contact(calendarId: str) -> Response:
    services().contacts.erase(calendarId, caller())
    return Response(status_code=204, body="")


@app.get("/calendars/<calendarId>/slots")
def slots(calendarId: str) -> Response:
    found = slot_query(query(), calendarId)
    offered = services().calendars.slots(calendarId, found, caller())
    return json_response(200, {"calendarId": calendarId, **window_json(found.window),
                               "duration": int(found.duration.total_seconds() // 60),
                               "slots": [interval_json(i) for i in offered]})


def series_response(status: int, view, headers: dict | None = None) -> Response:
    return json_response(status, {"seriesId": view.record.series_id, "repeat": repeat_json(view.record.repeat),
                                  "occurrences": [appointment_json(a) for a in view.occurrences]}, headers)


@app.post("/series")
def book_series() -> Response:
    body = request_body()
    booker = caller()
    body = {**body, "userId": booker.user_for(body.get("userId"))}
    key = idempotency(app.current_event.headers.get("Idempotency-Key"), body)
    view, replayed = services().series.book(body, booker, key)
    headers = {"Location": f"/series/{view.record.series_id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    logger.info("series booked", series_id=view.record.series_id, occurrences=len(view.occurrences),
                replayed=replayed)
    return series_response(201, view, headers)


@app.get("/series/<seriesId>")
def get_series(seriesId: str) -> Response:
    return series_response(200, services().series.get(seriesId, caller()))


@app.delete("/series/<seriesId>")
def cancel_series(seriesId: str) -> Response:
    return series_response(200, services().series.cancel_from(seriesId, series_from(query()), caller()))


@app.get("/slots")
def pool_slots() -> Response:
    found = pool_slot_query(query())
    offered = services().calendars.pool_slots(found, caller())
    return json_response(200, {"anyOf": list(found.any_of), **window_json(found.window),
                               "duration": int(found.duration.total_seconds() // 60),
                               "slots": [{**interval_json(i), "calendars": members} for i, members in offered]})


# -- manage links: the token in the path is the credential (no authorizer; API.md "Manage links") -----------

MANAGE_PATH = "/manage/"
# Every manage answer, errors included: nothing loads but the page's own inline style, forms post only to it,
# no URL leaves in a Referer, no frame may show it (its buttons act), and no cache keeps it.
MANAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                  "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                  "Cache-Control": "no-store", "Vary": "Accept"}


def is_manage_request() -> bool:
    return (app.current_event.resource or "").startswith(MANAGE_PATH)


def wants_manage_json() -> bool:
    return prefers_json(app.current_event.headers.get("Accept"))


def manage_response(view, status: int = 200, error: AppointmentError | None = None) -> Response:
    """The page (or, for ``Accept: application/json``, ``{"appointment", "slots"}``). The forms' URLs are relative
    to the page: ``{token}/cancel`` from ``/manage/{token}``, ``cancel`` from the answer to a POST."""
    if error is None and wants_manage_json():
        return json_response(status, {"appointment": appointment_json(view.appointment),
                                      "slots": [interval_json(s) for s in view.slots]})
    from appointments.manage_page import render  # Jinja2 and Babel load on this path only

    event = app.current_event
    action = f"{event.path.rstrip('/').rsplit('/', 1)[-1]}/" if event.http_method == "GET" else ""
    page = render(view, action=action, business=business_name(), error=error,
                  locale=preferred_language(event.headers.get("Accept-Language")))
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=page,
                    headers=dict(error.headers) if error else {})


@app.get("/manage/<token>")
def manage_page(token: str) -> Response:
    return manage_response(services().manage.view(token))


@app.post("/manage/<token>/cancel")
def manage_cancel(token: str) -> Response:
    view = services().manage.cancel(token)
    logger.info("cancelled from a manage link", appointment_id=view.appointment.appointment_id,
                changed=view.done is not None)
    return manage_response(view)


@app.post("/manage/<token>/reschedule")
def manage_reschedule(token: str) -> Response:
    def start() -> str:
        try:
            raw = app.current_event.decoded_body
        except (UnicodeDecodeError, binascii.Error):
            raise ValidationError("The request body is not UTF-8 text; send the page's form.") from None
        return move_start(raw, app.current_event.headers.get("Content-Type"))

    view = services().manage.reschedule(token, start)
    logger.info("moved from a manage link", appointment_id=view.appointment.appointment_id,
                changed=view.done is not None)
    return manage_response(view)


# -- errors, mapped by type in one place ------------------------------------------------------------

def error_response(status: int, code: str, message: str, **extra) -> Response:
    request_id = app.current_event.request_context.request_id
    return json_response(status, {"error": code, "message": message, "requestId": request_id, **extra})


@app.exception_handler(AppointmentError)
def domain_error(error: AppointmentError) -> Response:
    if error.status == 500:
        return unexpected_error(error)
    logger.info("request refused", error=error.code, status=error.status)
    if is_manage_request() and not wants_manage_json():  # a person's browser: the page, saying what went wrong
        return manage_response(error.shown_on, error.status, error)
    response = error_response(error.status, error.code, error.message, **error.extra)
    response.headers.update(error.headers)
    return response


@app.not_found
def no_route(_: NotFoundError) -> Response:
    event = app.current_event
    if "{" in (event.resource or ""):  # API Gateway matched a route: an ID in the path has characters no ID has
        return error_response(400, "ValidationError", "An ID in the path has characters outside A-Z a-z 0-9 . _ @ "
                                                      "+ : - (percent-encode it, as any URL needs).")
    return error_response(404, "NotFound", f"There is no route {event.http_method} {event.path[:200]}; "
                                           "see API.md for the routes this API serves.")


@app.exception_handler(Exception)
def unexpected_error(error: Exception) -> Response:
    logger.exception("request failed")
    if is_manage_request() and not wants_manage_json():
        return manage_response(None, 500, AppointmentError())
    return error_response(500, "InternalError", "Something went wrong on our side; retry later, and quote the "
                                                "requestId if it keeps happening.")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    response = app.resolve(event, context)
    if is_manage_request():
        headers = response.setdefault("multiValueHeaders", {})
        for name, value in MANAGE_HEADERS.items():
            headers[name] = [value]
    origin = app.current_event.headers.get("Origin")
    if origin and allowed_origins():  # CORS (API.md "Browsers"): only for an allowed origin
        headers = response.setdefault("multiValueHeaders", {})
        for name, value in cors_headers(origin, allowed_origins()).items():
            headers[name] = [", ".join([*headers[name], value])] if headers.get(name) else [value]
    return response
