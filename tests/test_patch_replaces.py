"""A PATCH replaces each field it names whole, and the documentation says so (docs/API.md, README)."""

from __future__ import annotations

from conftest import ROOT, booking


def test_a_patch_replaces_details_participants_and_reminders_whole(api):
    booked = api.post(body=booking(details={"title": "Check-up", "location": "Room 4"}, participants=["dr-smith"],
                                   reminders=[1440, 60])).body
    path = f"/appointments/{booked['appointmentId']}"
    changed = api.patch(path, {"details": {"location": "Room 5"}})
    assert changed.status == 200, changed.body
    assert changed.body["details"] == {"location": "Room 5"}  # "title" is gone: no merge
    assert (changed.body["participants"], changed.body["reminders"]) == (["dr-smith"], [1440, 60])  # not named
    emptied = api.patch(path, {"participants": [], "reminders": []}).body
    assert (emptied["participants"], emptied["reminders"], emptied["details"]) == ([], [], {"location": "Room 5"})


def test_the_api_reference_and_the_readme_say_a_patch_replaces_those_fields_whole():
    api_md = (ROOT / "docs" / "API.md").read_text()
    patch_section = api_md[api_md.index("A `PATCH` of a cancelled appointment"):][:800]
    assert "replaces each field it names whole" in patch_section
    assert "A PATCH replaces `details`, `participants` and `reminders` whole" in (ROOT / "README.md").read_text()
