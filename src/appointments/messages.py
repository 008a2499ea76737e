"""The messages people receive (API.md, "Contacts and notifications"): one per kind, in the recipient's
language and time zone.

Pure. ``compose`` builds a message (subject, plain text, HTML, and an SMS of at most 320 characters) from
the appointment, the recipient's own contact and the business name. Texts live in ``texts/<locale>.json``
in the package; a contact's locale resolves from region to language to ``en`` (``contacts.resolve_locale``),
and everything in one message, dates and times included, is in the locale it resolved to. Times are shown
in the contact's zone, else the appointment's, with the zone's name, formatted by Babel (CLDR), which is
imported here only when a message is composed, never on the booking path.

A message carries only its recipient's contact data (the greeting's name): a provider's message names the
appointment's title, time and place, never the customer.
"""

from __future__ import annotations

import functools
import html
import json
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo

from appointments.appointment import Appointment
from appointments.contacts import Contact, resolve_locale
from appointments.times import Interval

CONFIRMATION, RESCHEDULED, CANCELLED, REMINDER = "confirmation", "rescheduled", "cancelled", "reminder"
KINDS = (CONFIRMATION, RESCHEDULED, CANCELLED, REMINDER)
MAX_SMS = 320
MAX_SUBJECT = 200
ELLIPSIS = "…"


@dataclass(frozen=True)
class Message:
    kind: str
    locale: str
    subject: str
    text: str
    html: str
    sms: str
    link: str | None = None  # the recipient's manage link, in the text, the HTML and the SMS


@functools.cache
def texts(locale: str) -> dict:
    return json.loads(resources.files("appointments").joinpath("texts", f"{locale}.json").read_text("utf-8"))


def one_line(text: str) -> str:
    """A value from ``details`` as it may appear in a subject or an SMS: whitespace and control characters
    folded into single spaces (so no value can add a line to a header)."""
    return re.sub(r"[\s\x00-\x1f\x7f\u2028\u2029]+", " ", text).strip()


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:max(limit - 1, 0)].rstrip() + ELLIPSIS


# -- dates, times and durations in a locale (Babel) ---------------------------------------------------------

def datetime_text(instant: datetime, zone: ZoneInfo, locale: str, width: str) -> str:
    """Date and time as the locale writes them together, then the zone's name: ``Tuesday, December 1, 2026
    at 10:00 AM (Central European Standard Time)``; ``medium`` for an SMS."""
    from babel.dates import format_date, format_time, get_datetime_format, get_timezone_name

    local = instant.astimezone(zone)
    date = format_date(local, width, locale=locale)
    time = format_time(local, "short", locale=locale)
    joined = get_datetime_format(width, locale=locale).replace("'", "").replace("{0}", time).replace("{1}", date)
    return f"{joined} ({get_timezone_name(local, width='long', locale=locale)})"


def date_text(instant: datetime, zone: ZoneInfo, locale: str) -> str:
    from babel.dates import format_date

    return format_date(instant.astimezone(zone), "full", locale=locale)


def time_text(instant: datetime, zone: ZoneInfo, locale: str) -> str:
    from babel.dates import format_time

    return format_time(instant.astimezone(zone), "short", locale=locale)


def _duration_text(minutes: int, locale: str) -> str:
    """An offset as people say it: whole days from two days on, else whole hours, else minutes."""
    from babel.units import format_unit

    if minutes % 1440 == 0 and minutes >= 2880:
        return format_unit(minutes // 1440, "duration-day", length="long", locale=locale)
    if minutes % 60 == 0:
        return format_unit(minutes // 60, "duration-hour", length="long", locale=locale)
    return format_unit(minutes, "duration-minute", length="long", locale=locale)


# -- composing ------------------------------------------------------------------------------------------------

def compose(kind: str, appointment: Appointment, contact: Contact, business: str, *,
            previous: Interval | None = None, minutes_before: int | None = None, link: str | None = None) -> Message:
    """The message of ``kind`` about ``appointment`` for the person ``contact`` describes. ``previous`` is the
    interval before a reschedule; ``minutes_before`` the reminder's offset; ``link`` the recipient's manage link
    (every kind carries it when given; a cancelled notice's shows the appointment cancelled)."""
    if kind not in KINDS:
        raise ValueError(f"no message of kind {kind}")
    locale = resolve_locale(contact.locale)
    words = texts(locale)
    zone = ZoneInfo(contact.time_zone or appointment.time_zone)
    start = appointment.interval.start
    title = one_line(appointment.details.get("title", "")) or words["default_title"]
    where = one_line(appointment.details.get("location", ""))
    description = appointment.details.get("description", "").strip()
    business = one_line(business)
    values = {
        "business": business,
        "date": date_text(start, zone, locale),
        "when": datetime_text(start, zone, locale, "full"),
        "until": _duration_text(minutes_before, locale) if minutes_before else "",
        "previous": datetime_text(previous.start, zone, locale, "full") if previous else "",
    }
    own = words[kind]
    subject = own["subject"].format(**values, title=shortened(title, 80))
    if len(subject) > MAX_SUBJECT:
        subject = shortened(subject, MAX_SUBJECT)
    greeting = words["greeting"].format(name=contact.name) if contact.name else words["greeting_no_name"]
    lines = [greeting, "", own["intro"].format(**values), "", f"{title}", words["when"].format(when=values["when"])]
    if previous:
        lines.append(words["previously"].format(when=values["previous"]))
    if where:
        lines.append(words["where"].format(where=where))
    if description and kind != CANCELLED:
        lines += ["", description]
    link_line = own["link"].format(link=link) if link else ""
    footer = ["", words["footer"].format(business=business)]
    text = "\n".join([*lines, *(["", link_line] if link else []), *footer]) + "\n"
    body = _paragraphs(lines)
    if link:
        label = own["link"].split("{link}")[0].rstrip()
        body += f'<p>{html.escape(label)} <a href="{html.escape(link)}">{html.escape(link)}</a></p>'
    body += _paragraphs(footer)
    page = (f'<!DOCTYPE html><html lang="{locale}"><head><meta charset="utf-8"><title>{html.escape(subject)}'
            f"</title></head><body>{body.replace(chr(10), '<br>')}</body></html>")
    short = {**values, "when": datetime_text(start, zone, locale, "medium"),
             "previous": datetime_text(previous.start, zone, locale, "medium") if previous else ""}
    return Message(kind, locale, subject, text, page, _sms(own["sms"], words, short, title, where, link_line), link)


# CLDR spaces and apostrophes outside the GSM 03.38 alphabet, which would make an SMS UCS-2 (70 characters a
# part instead of 160) for no visible gain.
SMS_PLAIN = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2019": "'"})


def _paragraphs(lines: list[str]) -> str:
    """Each non-empty line as an HTML paragraph, escaped (an empty line only separates, as in the text part)."""
    return "".join(f"<p>{html.escape(line)}</p>" if line else "" for line in lines)


def _sms(template: str, words: dict, short: dict, title: str, where: str, link_line: str = "") -> str:
    """The SMS text, at most 320 characters: the place, then the title are shortened first if it is longer. The
    manage link comes last and is never shortened (a cut link opens nothing)."""
    tail = f" {link_line.translate(SMS_PLAIN)}" if link_line else ""
    room = MAX_SMS - len(tail)

    def render(title_limit: int, where_limit: int) -> str:
        place = words["sms_where"].format(where=shortened(where, where_limit)) if where and where_limit else ""
        return template.format(**short, title=shortened(title, title_limit), where=place).translate(SMS_PLAIN)

    for title_limit, where_limit in ((80, 80), (80, 40), (40, 0), (20, 0)):
        sms = render(title_limit, where_limit)
        if len(sms) <= room:
            return sms + tail
    return shortened(sms, room) + tail

