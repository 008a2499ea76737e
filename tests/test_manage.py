"""Manage links (API.md, "Manage links"): the page behind every message's link, its token checks, and a cancel
and a move that are exactly a DELETE and a PATCH. In process, on moto, through the API handler with the proxy
events API Gateway sends."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appointments.manage_links import ManageLinks
from appointments.messages import one_line
from appointments.times import parse_instant
from conftest import NOW, SIGNING_KEY, TEMPLATE, booking
from proxy_events import routes_from_template

CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
JSON = {"Accept": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ALICE = {"name": "Alice Example", "email": "alice@example.com", "locale": "de-DE", "timeZone": "Europe/Berlin",
         "channels": ["email"]}
LINKS = ManageLinks(lambda: SIGNING_KEY, "https://api.example.com/prod")


def token_for(appointment: dict, recipient: str | None = None, links: ManageLinks = LINKS) -> str:
    return links.token(appointment["appointmentId"], recipient or appointment["userId"],
                       parse_instant(appointment["endTime"], "endTime"))


@pytest.fixture
def booked(api):
    """alice's appointment with dr-smith next week, alice's contact in German and Berlin time."""
    assert api.request("PUT", "/calendars/alice/contact", ALICE).status == 200
    response = api.post(body=booking(participants=["dr-smith"], details={"title": "Zahnreinigung",
                                                                         "location": "Praxis 2"}))
    assert response.status == 201
    return response.body


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def offered(api, token: str) -> list[str]:
    return [slot["start"] for slot in api.get(f"/manage/{token}", headers=JSON).body["slots"]]


# -- the page ---------------------------------------------------------------------------------------------

def test_the_page_shows_the_appointment_in_the_recipients_language_and_zone(api, booked):
    response = api.get(f"/manage/{token_for(booked)}", headers={"Accept": "text/html"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.body
    assert '<html lang="de">' in page
    shown = text_of(page)
    assert "Ihr Termin" in shown
    assert "Zahnreinigung" in shown
    assert "Praxis 2" in shown
    assert "Alice Example" in shown
    assert "10:00" in shown
    assert "Mitteleuropäische Normalzeit" in shown
    assert "<script" not in page.lower()
    assert 'action="' in page
    assert 'name="startTime"' in page
    assert "Termin absagen" in shown


def test_every_manage_answer_carries_the_security_headers_and_sets_no_cookie(api, booked):
    token = token_for(booked)
    answers = [api.get(f"/manage/{token}"), api.get(f"/manage/{token}", headers=JSON), api.get("/manage/garbage"),
               api.post(f"/manage/{token}/reschedule", raw="startTime=nope", headers=FORM),
               api.post(f"/manage/{token}/cancel", raw="")]
    for response in answers:
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert not any(name.lower() == "set-cookie" for name in response.headers)


def test_json_gets_the_appointment_and_the_times_it_may_move_to(api, booked):
    response = api.get(f"/manage/{token_for(booked)}", headers=JSON)
    assert response.status == 200
    assert response.body["appointment"]["appointmentId"] == booked["appointmentId"]
    slots = response.body["slots"]
    assert 0 < len(slots) <= 8
    assert all(parse_instant(s["start"], "s") > NOW for s in slots)
    assert all(parse_instant(s["end"], "e") - parse_instant(s["start"], "s") == timedelta(hours=1) for s in slots)


def test_slots_offered_are_exactly_those_a_patch_would_accept(api, booked):
    """The same calendars and the same decide(): dr-smith's opening hours and another booking narrow them."""
    week = {d: [{"start": "09:00", "end": "12:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    assert api.request("PUT", "/calendars/dr-smith/availability", {"timeZone": "UTC", "weekly": week}).status == 200
    assert api.post(body=booking("bob", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z",
                                 participants=["dr-smith"])).status == 201
    slots = offered(api, token_for(booked))
    assert slots[:3] == ["2026-11-26T09:00:00Z", "2026-11-26T11:00:00Z", "2026-11-27T09:00:00Z"]
    refused = api.patch(f"/appointments/{booked['appointmentId']}",
                        {"startTime": "2026-11-26T10:00:00Z", "endTime": "2026-11-26T11:00:00Z"})
    assert refused.status == 409  # not offered, and refused by a PATCH too


# -- moving and cancelling ----------------------------------------------------------------------------------

def test_a_move_to_an_offered_time_is_a_patch(api, booked):
    token = token_for(booked)
    target = offered(api, token)[2]
    response = api.post(f"/manage/{token}/reschedule", raw=f"startTime={target}", headers=FORM)
    assert response.status == 200
    assert "Erledigt" in text_of(response.body)
    moved = api.get(f"/appointments/{booked['appointmentId']}").body
    assert moved["startTime"] == target
    assert moved["version"] == booked["version"] + 1
    assert parse_instant(moved["endTime"], "e") - parse_instant(target, "s") == timedelta(hours=1)
    assert moved["participants"] == booked["participants"]


def test_a_move_takes_a_json_body_and_answers_json(api, booked):
    token = token_for(booked)
    target = offered(api, token)[0]
    response = api.post(f"/manage/{token}/reschedule", {"startTime": target}, headers=JSON)
    assert response.status == 200
    assert response.body["appointment"]["startTime"] == target


def test_a_time_taken_since_the_page_was_shown_is_refused_as_a_patch_is(api, booked):
    token = token_for(booked)
    target = offered(api, token)[0]
    end = (parse_instant(target, "s") + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert api.post(body=booking("bob", target, end, participants=["dr-smith"])).status == 201
    as_json = api.post(f"/manage/{token}/reschedule", {"startTime": target}, headers=JSON)
    assert as_json.status == 400  # no longer offered
    page = api.post(f"/manage/{token}/reschedule", raw=f"startTime={target}", headers=FORM)
    assert page.status == 400
    assert 'id="error"' in page.body
    assert target not in page.body
    assert api.get(f"/appointments/{booked['appointmentId']}").body["version"] == booked["version"]


def test_a_time_not_offered_is_refused_and_nothing_changes(api, booked):
    token = token_for(booked)
    for body in ("startTime=2026-11-25T12:07:00Z", "startTime=2020-01-01T00:00:00Z", "startTime=", "", "x=1",
                 "startTime=a&startTime=b", "startTime=%ff%fe", "startTime=" + "9" * 5000):
        response = api.post(f"/manage/{token}/reschedule", raw=body, headers=FORM)
        assert response.status == 400, body
    for body, headers in (("{}", JSON), ('{"startTime": 5}', JSON), ("[", JSON),
                          ("startTime=x", {"Content-Type": "text/plain"})):
        assert api.post(f"/manage/{token}/reschedule", raw=body, headers={**headers, **JSON}).status == 400
    assert api.get(f"/appointments/{booked['appointmentId']}").body["version"] == booked["version"]


def test_cancel_is_a_delete_and_then_the_page_shows_it_cancelled(api, booked):
    token = token_for(booked)
    response = api.post(f"/manage/{token}/cancel", raw="", headers=FORM)
    assert response.status == 200
    assert "abgesagt" in text_of(response.body)
    assert 'name="startTime"' not in response.body
    assert api.get(f"/appointments/{booked['appointmentId']}").body["status"] == "cancelled"
    again = api.post(f"/manage/{token}/cancel", raw="", headers=JSON)
    assert again.status == 200
    assert again.body["appointment"]["status"] == "cancelled"
    assert api.post(f"/manage/{token}/reschedule", {"startTime": "2026-11-26T09:00:00Z"}, headers=JSON).status == 409


def test_after_the_start_the_link_reads_and_refuses_to_cancel(api, booked, clock):
    clock.now = parse_instant(booked["startTime"], "s") + timedelta(minutes=5)
    token = token_for(booked)
    page = api.get(f"/manage/{token}")
    assert page.status == 200
    assert 'name="startTime"' not in page.body
    refused = api.post(f"/manage/{token}/cancel", raw="", headers=JSON)
    assert refused.status == 409
    assert refused.body["error"] == "NotCancellable"
    assert api.get(f"/appointments/{booked['appointmentId']}").body["status"] == "scheduled"


def test_a_participants_link_only_reads(api, booked):
    token = token_for(booked, "dr-smith")
    page = api.get(f"/manage/{token}")
    assert page.status == 200
    assert "Zahnreinigung" in page.body
    assert "Alice" not in page.body
    assert 'name="startTime"' not in page.body
    assert "<form" not in page.body
    assert api.get(f"/manage/{token}", headers=JSON).body["slots"] == []
    for action, body in (("cancel", ""), ("reschedule", f"startTime={booked['startTime']}")):
        refused = api.post(f"/manage/{token}/{action}", raw=body, headers={**FORM, **JSON})
        assert refused.status == 403
        assert refused.body["error"] == "Forbidden"
    assert api.get(f"/appointments/{booked['appointmentId']}").body["version"] == booked["version"]


# -- tokens that are not valid: nothing revealed, nothing changed ---------------------------------------------

def bad_tokens(booked: dict, other: dict) -> dict[str, str]:
    token = token_for(booked)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    raw = ManageLinks.read(token)
    foreign_key = ManageLinks(lambda: "another stack's key")
    return {
        "tampered MAC": flipped,
        "tampered expiry": ManageLinks.read(token) and _with_expiry(token, raw.expires_at + timedelta(days=365)),
        "another appointment's ID under this MAC": _with_id(token, other["appointmentId"]),
        "another stack's key": token_for(booked, links=foreign_key),
        "issued to someone not on the appointment": token_for(booked, "mallory"),
        "garbage": "garbage",
        "too long": token + "A",
        "non-canonical base64": token[:-1] + chr(ord(token[-1]) + 1) if token[-1] in "AEIMQUYcgkosw048" else flipped,
        "unicode": "ä" * 43,
    }


def _with_expiry(token: str, expires_at) -> str:
    import base64
    import struct

    raw = bytearray(base64.urlsafe_b64decode(token + "="))
    raw[16:20] = struct.pack(">I", int(expires_at.timestamp()))
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def _with_id(token: str, appointment_id: str) -> str:
    import base64
    import uuid

    raw = bytearray(base64.urlsafe_b64decode(token + "="))
    raw[:16] = uuid.UUID(appointment_id).bytes
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def test_a_token_that_does_not_verify_gets_the_same_404_whatever_is_wrong(api, booked):
    other = api.post(body=booking("bob", "2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z",
                                  details={"title": "Secret"})).body
    answers = {}
    for why, token in bad_tokens(booked, other).items():
        for accept in (JSON, {"Accept": "text/html"}):
            response = api.get(f"/manage/{token}", headers=accept)
            assert response.status == 404, why
            body = response.body if isinstance(response.body, str) else str(
                {k: v for k, v in response.body.items() if k != "requestId"})
            for secret in (booked["appointmentId"], other["appointmentId"], "Zahnreinigung", "Secret", "Alice",
                           "alice", "bob", "2026-12"):
                assert secret not in body, (why, secret)
            answers.setdefault(accept["Accept"], set()).add(body)
        for action, raw in (("cancel", ""), ("reschedule", f"startTime={other['startTime']}")):
            assert api.post(f"/manage/{token}/{action}", raw=raw, headers={**FORM, **JSON}).status == 404, why
    assert all(len(bodies) == 1 for bodies in answers.values())  # one answer for every kind of wrong
    for appointment in (booked, other):
        assert api.get(f"/appointments/{appointment['appointmentId']}").body["version"] == appointment["version"]


def test_a_link_past_its_expiry_is_gone_and_changes_nothing(api, booked, clock):
    token = token_for(booked)
    clock.now = parse_instant(booked["endTime"], "e")
    response = api.get(f"/manage/{token}", headers=JSON)
    assert response.status == 410
    assert response.body["error"] == "LinkExpired"
    page = api.get(f"/manage/{token}")
    assert page.status == 410
    assert "abgelaufen" in text_of(page.body)
    assert "Zahnreinigung" not in page.body
    for action in ("cancel", "reschedule"):
        refused = api.post(f"/manage/{token}/{action}", raw="startTime=2026-12-03T09:00:00Z", headers={**FORM, **JSON})
        assert refused.status == 410
    assert api.get(f"/appointments/{booked['appointmentId']}").body["version"] == booked["version"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text(min_size=1, max_size=80).filter(lambda t: "/" not in t and "?" not in t and "#" not in t),
       body=st.text(max_size=200), content_type=st.sampled_from(["application/x-www-form-urlencoded",
                                                                   "application/json", "text/plain", ""]))
def test_no_token_or_body_gets_a_500(api, booked, token, body, content_type):
    from urllib.parse import quote

    path = f"/manage/{quote(token, safe='')}"
    assert api.get(path).status in (404, 410)
    for action in ("cancel", "reschedule"):
        assert api.post(f"{path}/{action}", raw=body, headers={"Content-Type": content_type}).status in (400, 404)
    response = api.post(f"/manage/{token_for(booked)}/reschedule", raw=body, headers={"Content-Type": content_type})
    assert response.status in (200, 400, 409), response.body


# -- escaping -------------------------------------------------------------------------------------------------

class Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]


PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "section", "dl", "dt", "dd",
             "form", "div", "button"}
PAGE_ATTRIBUTES = {"lang", "charset", "name", "content", "class", "id", "role", "method", "action", "type", "value"}
markup = st.sampled_from(["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</title><b>", "&amp;",
                          "<!--", "' onclick='x", "{{ 7*7 }}", "<a href=javascript:x>"])
texts = st.lists(st.one_of(markup, st.text(alphabet="ab <>&\"'/=", max_size=10)), min_size=1, max_size=3).map("".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=texts, location=texts, description=texts, extra=texts, name=texts)
def test_every_details_text_and_the_contact_name_reach_the_page_as_text(api, title, location, description, extra,
                                                                         name):
    if api.request("PUT", "/calendars/carol/contact", {"name": name.strip() or "x", "locale": "fr"}).status != 200:
        return  # a name the contact rules refuse never reaches a page
    details = {"title": title, "location": location, "description": description, "note": extra}
    response = api.post(body=booking("carol", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", details=details))
    if response.status != 201:
        return
    appointment = response.body
    try:
        page = api.get(f"/manage/{token_for(appointment)}").body
        parsed = Elements()
        parsed.feed(page)
        assert set(parsed.tags) <= PAGE_TAGS
        assert set(parsed.attributes) <= PAGE_ATTRIBUTES
        shown = html.unescape(page)
        for value in (title, location, description):
            assert one_line(value) in one_line(shown)  # the text itself, as text
    finally:
        api.delete(f"/appointments/{appointment['appointmentId']}")


# -- Cognito mode ---------------------------------------------------------------------------------------------

def test_under_cognito_only_the_manage_routes_answer_without_a_token():
    """In the template, every method but the manage routes (and CORS preflights) takes the Cognito authorizer
    when AuthMode is COGNITO; the manage routes never take one."""
    routes = routes_from_template(TEMPLATE)
    open_routes = {(r.method, r.resource) for r in routes if r.authorization == "NONE"}
    assert open_routes == {("GET", "/manage/{token}"), ("POST", "/manage/{token}/cancel"),
                           ("POST", "/manage/{token}/reschedule")}
    for route in routes:
        if route.authorization != "NONE":
            assert route.authorization == {"Fn::If": ["UseCognito", "COGNITO_USER_POOLS", {"Ref": "AuthMode"}]}


def test_under_cognito_the_link_is_the_credential_whoever_is_signed_in(as_user, booked):
    """A manage request carries no claims (no authorizer): it acts as the appointment's user, and a signed-in
    caller's claims, had a client sent them through another route, give no more and no less."""
    token = token_for(booked)
    assert as_user("mallory").get(f"/appointments/{booked['appointmentId']}").status == 404
    assert as_user("mallory").get(f"/manage/{token}", headers=JSON).status == 200
    target = offered(as_user("mallory"), token)[0]
    moved = as_user("mallory").post(f"/manage/{token}/reschedule", {"startTime": target}, headers=JSON)
    assert moved.status == 200
    assert as_user("alice").get(f"/appointments/{booked['appointmentId']}").body["startTime"] == target


# -- the links in messages ----------------------------------------------------------------------------------

LONG = "x" * 300


@pytest.mark.parametrize("kind", ["confirmation", "rescheduled", "cancelled", "reminder"])
def test_every_message_carries_the_link_whole_in_text_html_and_sms(kind):
    from appointments.contacts import Contact
    from appointments.messages import MAX_SMS, compose
    from test_notifications import APPOINTMENT, EARLIER

    link = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/manage/" + "A" * 43
    long_details = {**APPOINTMENT.details, "title": LONG, "location": LONG}
    for appointment in (APPOINTMENT, replace(APPOINTMENT, details=long_details)):
        message = compose(kind, appointment, Contact(locale="de"), "Praxis", previous=EARLIER, minutes_before=60,
                          link=link)
        assert link in message.text
        assert f'href="{link}"' in message.html
        assert message.sms.endswith(link)  # last, never cut
        assert len(message.sms) <= MAX_SMS
        assert message.link == link


def test_a_messages_link_opens_its_recipients_page(dynamodb, clock):
    """Booked through the API, notified as the stack notifies: alice's e-mail and SMS link to her page; the
    provider's e-mail links to a page that only reads."""
    import conflict_detector
    import notifier
    from appointments.wiring import build_notifications, build_services
    from conftest import API_SETTINGS, SIGNING_KEY_ARN, Api
    from test_notifications import ALICE as ALICE_CONTACT
    from test_notifications import PROVIDER, People, texts, to

    people = People(dynamodb, clock)
    conflict_detector.use(build_services(dynamodb, API_SETTINGS, signing_key=lambda: SIGNING_KEY, clock=clock,
                                         sleep=lambda _: None))
    linked = replace(people.settings.notifying, signing_key_arn=SIGNING_KEY_ARN,
                     manage_base_url="https://api.example.com/prod")
    notifier.use(build_notifications(dynamodb, people.ses, people.sns, linked, clock=clock,
                                     signing_key=lambda: SIGNING_KEY))
    people.contact("alice", ALICE_CONTACT)
    people.contact("dr-smith", PROVIDER)
    api = Api()
    booked = api.post(body=booking(participants=["dr-smith"], details={"title": "Check-up"})).body
    people.notify()
    links = {}
    for address, calendar in (("alice@example.com", "alice"), ("smith@clinic.example", "dr-smith")):
        [email] = to(address)
        [link] = re.findall(r"https://api\.example\.com/prod/manage/[A-Za-z0-9_-]+", email.body)[:1]
        assert link.rsplit("/", 1)[1] == token_for(booked, calendar)
        links[calendar] = link.rsplit("/", 1)[1]
    [(_, sms)] = [t for t in texts() if t[0] == "+4915112345678"]
    assert sms.endswith(f"https://api.example.com/prod/manage/{links['alice']}")
    assert api.get(f"/manage/{links['alice']}", headers=JSON).body["slots"]
    assert api.get(f"/manage/{links['dr-smith']}", headers=JSON).body["slots"] == []


def test_list_unsubscribe_names_the_link_then_the_reply_that_stops_messages():
    from appointments.channels import EmailChannel

    channel = EmailChannel(None, "clinic@example.com", "")
    reply = "<mailto:clinic@example.com?subject=unsubscribe>"
    assert channel.unsubscribe("https://x/manage/t") == f"<https://x/manage/t>, {reply}"
    assert channel.unsubscribe() == reply


@pytest.mark.slow
def test_the_booking_handler_loads_jinja2_and_babel_only_on_the_manage_routes():
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys, conflict_detector\n"
            "from appointments.settings import ApiSettings\n"
            "from appointments.wiring import build_services\n"
            "build_services(None, ApiSettings('t', 'c', 'arn'), signing_key=lambda: 'k')\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'jinja2', 'markupsafe', 'babel'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                            cwd=ROOT / "src")
    assert result.stdout.strip() == "[]"
