"""The curl commands `make run` prints, run against the real handler (in-process moto)."""

from __future__ import annotations

import json
import re

from run_local import curl_examples


def test_the_banner_books_for_alice_and_shows_bob_refused_at_her_provider(api):
    payloads = [json.loads(p) for p in re.findall(r"-d '(\{.*\})'", curl_examples("http://127.0.0.1:3000"))]
    alice, alice_with_provider, bob = [p for p in payloads if "userId" in p]
    assert (alice["userId"], alice_with_provider["userId"], bob["userId"]) == ("alice", "alice", "bob")

    assert api.post(body=alice).status == 201
    booked = api.post(body=alice_with_provider)
    assert booked.status == 201, booked.body
    refused = api.post(body=bob)
    assert (refused.status, refused.error) == (409, "Conflict"), refused.body
    assert {c.get("calendarId") for c in refused.body["conflicts"]} == {"dr-smith"}, refused.body
    assert booked.body["appointmentId"] not in json.dumps(refused.body)


def test_the_banner_sets_a_contact_that_the_api_accepts(api):
    [command] = [c for c in curl_examples("http://127.0.0.1:3000").split("curl ")[1:] if "/contact" in c]
    body = json.loads(re.search(r"-d '(\{.*\})'", command.replace("\\\n", "")).group(1))
    answer = api.request("PUT", "/calendars/alice/contact", body)
    assert answer.status == 200, answer.body
    assert answer.body["channels"] == ["email", "sms"]
