"""IDs in a path (API.md, "Limits that protect a calendar"): percent-encoded, decoded once, 400 when bad.

API Gateway passes a REST API's path still percent-encoded and decodes ``pathParameters`` once.
Before the fix the router took the encoded path's parts as IDs (``dr%40clinic.com`` got 400), and an
emoji in a path matched no route (404) where every other bad ID got 400.
"""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from conftest import TEMPLATE, booking
from gateway import wsgi_app
from lambdas import invoke_api
from proxy_events import routes_from_template

CALENDAR, ENCODED = "dr@clinic.com+2:a", "dr%40clinic.com%2B2%3Aa"
USER, ENCODED_USER = "pat+1:x@example.org", "pat%2B1%3Ax%40example.org"
WINDOW = "from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"


def assert_error(response, status: int, code: str) -> None:
    assert (response.status, response.body["error"]) == (status, code), response.body
    assert response.body["message"]


def test_every_route_takes_percent_encoded_ids_and_decodes_them_once(api):
    rules = {"timeZone": "UTC", "weekly": {d: [{"start": "00:00", "end": "24:00"}]
                                           for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
    put = api.request("PUT", f"/calendars/{ENCODED}/availability", rules)
    assert put.status == 200, put.body
    assert api.get(f"/calendars/{ENCODED}/availability").body["version"] == 1
    created = api.post(body=booking(user=USER, participants=[CALENDAR])).body
    appointment = f"/appointments/{created['appointmentId'].replace('-', '%2D')}"
    assert api.get(appointment).body["userId"] == USER
    assert api.patch(appointment, {"details": {"a": "b"}}).body["version"] == 2
    assert api.get(f"/users/{ENCODED_USER}/busy", query=WINDOW).body["userId"] == USER
    assert api.get(f"/calendars/{ENCODED}/busy", query=WINDOW).body["busy"] == [
        {"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z"}]
    agenda = api.get(f"/calendars/{ENCODED}/appointments", query=WINDOW).body["appointments"]
    assert [a["appointmentId"] for a in agenda] == [created["appointmentId"]]
    slots = api.get(f"/calendars/{ENCODED}/slots", query=f"{WINDOW}&duration=60&with={ENCODED_USER}")
    assert (slots.status, slots.body["calendarId"]) == (200, CALENDAR)
    assert "2026-12-01T09:00:00Z" not in [s["start"] for s in slots.body["slots"]]
    assert api.delete(appointment).body["status"] == "cancelled"
    assert api.delete(f"/calendars/{ENCODED}/availability").status == 204
    assert api.get(f"/calendars/{ENCODED}/availability").status == 404


CALENDAR_ROUTES = [("GET", "busy", WINDOW), ("GET", "appointments", WINDOW), ("GET", "availability", ""),
                   ("PUT", "availability", ""), ("DELETE", "availability", ""),
                   ("GET", "slots", f"{WINDOW}&duration=30")]


@pytest.mark.parametrize("bad", ["\N{GRINNING FACE}", "%F0%9F%98%80", "dr%20smith", "a%2Fb", "%FF", "x" * 129])
@pytest.mark.parametrize(("method", "tail", "query"), CALENDAR_ROUTES)
def test_a_calendar_id_that_breaks_the_rules_is_400_on_every_route(api, method, tail, query, bad):
    body = {"timeZone": "UTC"} if method == "PUT" else None
    assert_error(api.request(method, f"/calendars/{bad}/{tail}", body, query=query), 400, "ValidationError")


@pytest.mark.parametrize("bad", ["\N{GRINNING FACE}", "%F0%9F%98%80"])
def test_an_emoji_user_id_in_the_busy_path_is_400(api, bad):
    assert_error(api.get(f"/users/{bad}/busy", query=WINDOW), 400, "ValidationError")


def test_the_local_gateway_passes_the_path_encoded_and_the_function_decodes_it(api):
    client = Client(wsgi_app(routes_from_template(TEMPLATE), lambda event: invoke_api(event)))
    seen = client.get(f"/calendars/{ENCODED}/busy?{WINDOW}")
    assert (seen.status_code, seen.json["calendarId"]) == (200, CALENDAR)
    emoji = client.get(f"/calendars/%F0%9F%98%80/busy?{WINDOW}")
    assert (emoji.status_code, emoji.json["error"]) == (400, "ValidationError")
