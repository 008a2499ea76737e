"""Versions and conditional requests (RFC 9110): ETag, If-Match -> 412, If-None-Match -> 304."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from conftest import TEMPLATE, booking
from gateway import wsgi_app
from lambdas import invoke_api
from proxy_events import routes_from_template


def created(api) -> dict:
    response = api.post(body=booking())
    assert response.headers["ETag"] == '"1"'
    return response.body


def test_every_answer_with_one_appointment_carries_its_etag(api):
    appointment = created(api)
    path = f"/appointments/{appointment['appointmentId']}"
    assert api.get(path).headers["ETag"] == '"1"'
    assert api.patch(path, {"details": {"note": "x"}}).headers["ETag"] == '"2"'
    assert api.delete(path).headers["ETag"] == '"3"'
    assert api.post(body=booking(), headers={"Idempotency-Key": "k"}).headers["ETag"] == '"1"'


@pytest.mark.parametrize("stale", ['"1"', 'W/"1"', '"7"', "1", '"3", "4"', 'W/"2"', '"02"', '"2', '2"', '"0"',
                                   '"2-json"', '"2"x', '"' + "2" * 5000 + '"'])
def test_a_change_with_an_if_match_that_names_another_version_is_412_and_changes_nothing(api, stale):
    appointment = created(api)
    path = f"/appointments/{appointment['appointmentId']}"
    current = api.patch(path, {"details": {"note": "v2"}}).body
    for response in (api.patch(path, {"details": {"note": "lost"}}, headers={"If-Match": stale}),
                     api.delete(path, headers={"If-Match": stale})):
        assert (response.status, response.error, response.body["currentVersion"]) == (412, "PreconditionFailed", 2)
    assert api.get(path).body == current


@pytest.mark.parametrize("tag", ['"2"', "*", '"1", "2"', '"2-ics"', ' "7" , "2" ', 'W/"2", "2"'])
def test_a_change_with_a_matching_if_match_goes_through(api, tag):
    appointment = created(api)
    path = f"/appointments/{appointment['appointmentId']}"
    api.patch(path, {"details": {"note": "v2"}})
    assert api.patch(path, {"details": {"note": "v3"}}, headers={"If-Match": tag}).status == 200


def test_a_get_whose_if_none_match_names_the_current_version_is_304(api):
    appointment = created(api)
    path = f"/appointments/{appointment['appointmentId']}"
    not_modified = api.get(path, headers={"If-None-Match": '"1"'})
    assert (not_modified.status, not_modified.body, not_modified.headers["ETag"]) == (304, None, '"1"')
    api.patch(path, {"details": {"note": "v2"}})
    assert api.get(path, headers={"If-None-Match": '"1"'}).status == 200


def test_availability_carries_its_etag_and_takes_if_match(api):
    path = "/calendars/dr-smith/availability"
    first = api.request("PUT", path, {"timeZone": "UTC"}, headers={"If-Match": '"1"'})
    assert (first.status, first.body["currentVersion"]) == (412, 0)  # no rules yet
    put = api.request("PUT", path, {"timeZone": "UTC"})
    assert (put.status, put.headers["ETag"]) == (200, '"1"')
    assert api.request("PUT", path, {"timeZone": "UTC", "bufferAfter": 5}, headers={"If-Match": '"1"'}).status == 200
    stale = api.request("PUT", path, {"timeZone": "UTC", "bufferAfter": 9}, headers={"If-Match": '"1"'})
    assert (stale.status, stale.body["currentVersion"]) == (412, 2)
    assert api.get(path).body["bufferAfter"] == 5
    assert api.get(path, headers={"If-None-Match": '"2"'}).status == 304
    assert api.request("PUT", path, {"timeZone": "UTC"}, headers={"If-Match": "*"}).headers["ETag"] == '"3"'


def test_the_headers_pass_through_the_local_gateway_both_ways(api):
    """ETag, If-Match, If-None-Match, Accept, Vary and Link over werkzeug, with the real handler behind it."""
    client = Client(wsgi_app(routes_from_template(TEMPLATE), lambda event: invoke_api(event)))
    created = client.post("/appointments", json=booking(participants=["dr-smith"]))
    path = f"/appointments/{created.json['appointmentId']}"
    assert created.headers["ETag"] == '"1"'
    assert client.get(path, headers={"If-None-Match": '"1"'}).status_code == 304
    changed = client.patch(path, json={"details": {"a": "b"}}, headers={"If-Match": '"1"'})
    assert (changed.status_code, changed.headers["ETag"]) == (200, '"2"')
    stale = client.patch(path, json={"details": {"a": "c"}}, headers={"If-Match": '"1"'})
    assert (stale.status_code, stale.json["currentVersion"]) == (412, 2)
    calendar = client.get(path, headers={"Accept": "text/calendar"})
    assert (calendar.content_type, calendar.headers["Vary"]) == ("text/calendar; charset=utf-8", "Accept")
    assert calendar.text.startswith("BEGIN:VCALENDAR\r\n")
    client.post("/appointments", json=booking(user="bob", participants=["dr-smith"], start="2026-12-01T11:00:00Z",
                                              end="2026-12-01T12:00:00Z"))
    agenda = client.get("/calendars/dr-smith/appointments?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&limit=1",
                        headers={"Accept": "text/calendar"})
    assert agenda.headers["Link"].startswith("<?from=2026-12-01T00%3A00%3A00Z&")


def test_header_names_are_case_insensitive_as_http_2_clients_send_them_lowercase(api):
    path = f"/appointments/{created(api)['appointmentId']}"
    assert api.get(path, headers={"if-none-match": '"1"'}).status == 304
    assert api.patch(path, {"details": {"a": "b"}}, headers={"if-match": '"7"'}).status == 412
    assert api.get(path, headers={"accept": "text/calendar"}).headers["Content-Type"].startswith("text/calendar")


def test_the_calendar_file_has_its_own_etag_and_if_none_match_answers_304_only_for_its_own(api):
    path = f"/appointments/{created(api)['appointmentId']}"
    calendar = {"Accept": "text/calendar"}
    assert api.get(path, headers=calendar).headers["ETag"] == '"1-ics"'
    assert api.get(path, headers={**calendar, "If-None-Match": '"1"'}).status == 200
    assert api.get(path, headers={"If-None-Match": '"1-ics"'}).status == 200
    assert api.get(path, headers={**calendar, "If-None-Match": '"1-ics"'}).status == 304
    assert api.get(path, headers={"If-None-Match": 'W/"1"'}).status == 304  # If-None-Match compares weakly
    assert api.patch(path, {"details": {"a": "b"}}, headers={"If-Match": '"1-ics"'}).status == 200


@pytest.mark.parametrize("tag", ['W/"1"', '"01"', '"1', '"0"', "1", '"1-ics'])
def test_availability_put_reads_if_match_as_every_other_route_does(api, tag):
    path = "/calendars/dr-smith/availability"
    api.request("PUT", path, {"timeZone": "UTC"})
    refused = api.request("PUT", path, {"timeZone": "UTC", "bufferAfter": 5}, headers={"If-Match": tag})
    assert (refused.status, refused.body["currentVersion"]) == (412, 1)
    assert api.request("PUT", path, {"timeZone": "UTC", "bufferAfter": 5},
                       headers={"If-Match": '"3", "1"'}).headers["ETag"] == '"2"'
    assert api.get(path).body["bufferAfter"] == 5


def test_if_none_match_star_on_availability_put_creates_only(api):
    path = "/calendars/dr-smith/availability"
    assert api.request("PUT", path, {"timeZone": "UTC"}, headers={"If-None-Match": "*"}).status == 200
    again = api.request("PUT", path, {"timeZone": "Europe/Berlin"}, headers={"If-None-Match": "*"})
    assert (again.status, again.body["currentVersion"]) == (412, 1)
    assert api.get(path).body["timeZone"] == "UTC"


def test_availability_versions_never_repeat_after_a_delete(api):
    path = "/calendars/dr-smith/availability"
    assert api.request("PUT", path, {"timeZone": "UTC"}).body["version"] == 1
    assert api.delete(path).status == 204
    assert api.get(path).status == 404
    assert api.request("PUT", path, {"timeZone": "UTC"}, headers={"If-Match": '"1"'}).status == 412
    assert api.request("PUT", path, {"timeZone": "UTC"}, headers={"If-Match": "*"}).status == 412
    assert api.request("PUT", path, {"timeZone": "UTC"}).body["version"] == 3
    assert api.delete("/calendars/never-had-rules/availability").status == 204
    assert api.request("PUT", "/calendars/never-had-rules/availability", {"timeZone": "UTC"}).body["version"] == 1
