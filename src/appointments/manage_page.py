"""The manage page as HTML (API.md, "Manage links"): server-rendered, in the recipient's language and zone.

Pure. Jinja2 renders ``templates/manage.html`` with autoescaping on, so every text that comes from a request
(``details``, the contact's name) reaches the page as text, never as markup. The page has no script, loads
nothing and posts plain forms to its own link (``action`` is relative to the page's URL, so it holds behind
any stage or domain). Jinja2 and Babel are imported here, and this module only on the manage routes, so a
booking never loads them.

Texts are ``texts/<locale>.json``'s ``page`` section, with the message texts' labels and greetings; dates and
times are formatted as in messages (``messages``), in the recipient's zone with its name.
"""

from __future__ import annotations

import functools
from itertools import groupby

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from appointments.appointment import CANCELLED, EXPIRED, HELD
from appointments.contacts import resolve_locale
from appointments.errors import AppointmentError
from appointments.manage import CANCELLED_NOW, MOVED_NOW, ManageView
from appointments.messages import date_text, datetime_text, one_line, texts, time_text
from appointments.times import format_instant

SHOWN_APART = ("title", "location", "description")  # the details shown in their own places
TAKEN = ("Conflict", "Unavailable", "NoneAvailable", "TooMuchContention")  # a move refused by what is in the way


@functools.cache
def environment() -> Environment:
    return Environment(loader=PackageLoader("appointments", "templates"), autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=False)


def render(view: ManageView | None, *, action: str, business: str = "", error: AppointmentError | None = None,
           locale: str | None = None) -> str:
    """The page of ``view``, with ``error`` said at the top when the request was refused; without a view (a link
    that is not valid), only the error, in ``locale`` (from Accept-Language). ``action`` is the forms' URL
    prefix relative to the page (``{token}/`` on the page itself, empty on the answer to a POST)."""
    lang = view.locale if view is not None else resolve_locale(locale)
    words = texts(lang)
    page = words["page"]
    context = {"lang": lang, "words": page, "business": one_line(business), "greeting": None, "notice": None,
               "error": _error_text(error, page) if error else None, "appointment": None, "note": None,
               "changeable": False, "days": [], "action": action}
    if view is None or (error is not None and error.code == "LinkExpired"):
        return environment().get_template("manage.html").render(context)
    name = view.contact.name if view.contact else None
    context["greeting"] = words["greeting"].format(name=name) if name else None
    context["notice"] = {CANCELLED_NOW: page["done_cancelled"], MOVED_NOW: page["done_moved"]}.get(view.done)
    context["appointment"] = _appointment(view, words)
    context["note"] = _note(view, page)
    context["changeable"] = view.changeable
    context["days"] = _days(view)
    return environment().get_template("manage.html").render(context)


def _error_text(error: AppointmentError, page: dict) -> str:
    code = "taken" if error.code in TAKEN else error.code
    return page.get(f"error_{code}", page["error_other"])


def _appointment(view: ManageView, words: dict) -> dict:
    appointment, page = view.appointment, words["page"]
    details = appointment.details
    status = appointment.status
    return {
        "title": one_line(details.get("title", "")) or words["default_title"],
        "status": status,
        "status_text": page[f"status_{status}"] if status in (CANCELLED, HELD, EXPIRED) else page["status_scheduled"],
        "when_label": words["when"].split("{when}")[0].strip().rstrip(":").strip(),
        "when": datetime_text(appointment.interval.start, view.zone, view.locale, "full"),
        "where_label": words["where"].split("{where}")[0].strip().rstrip(":").strip(),
        "where": details.get("location", "").strip(),
        "description": details.get("description", "").strip(),
        "other": [(key, value) for key, value in sorted(details.items()) if key not in SHOWN_APART and value.strip()],
    }


def _note(view: ManageView, page: dict) -> str | None:
    if not view.appointment.occupies:
        return None
    if view.started:
        return page["started"]
    return None if view.customer else page["read_only"]


def _days(view: ManageView) -> list[tuple[str, list[tuple[str, str]]]]:
    """The times offered, by local date: (the date, [(the value a button posts, the time shown)])."""
    local = [(slot.start, slot.start.astimezone(view.zone)) for slot in view.slots]
    return [(date_text(day_slots[0][0], view.zone, view.locale),
             [(format_instant(start), time_text(start, view.zone, view.locale)) for start, _ in day_slots])
            for _, grouped in groupby(local, key=lambda pair: pair[1].date())
            for day_slots in [list(grouped)]]
