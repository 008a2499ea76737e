"""A calendar's contact (API.md, "Contacts and notifications"): who to reach, how, in which language and zone.

Pure: ``parse_contact`` turns a PUT body into a ``Contact`` or a ``ValidationError`` naming the field at
fault. The address libraries (email-validator without DNS, phonenumbers) are imported only when a body
names an address, so the booking path never loads them.

Consent is per channel and address: naming a channel records ``consent.<channel>`` as the time of the PUT
that first named it, and that time is kept while the channel stays named to the same address (an e-mail
address compared case-insensitively, a phone number as written). A changed address is a new opt-in, so
its consent is the time of that PUT; dropping a channel drops its consent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from appointments.errors import ValidationError
from appointments.times import parse_zone

EMAIL, SMS = "email", "sms"
CHANNELS = (EMAIL, SMS)
FIELDS = ("name", "email", "phone", "locale", "timeZone", "channels", "notifyAsParticipant")
READ_ONLY_FIELDS = ("consent", "version", "updatedAt")
DEFAULT_LOCALE = "en"
MAX_NAME = 128
MAX_EMAIL, MAX_LOCAL_PART = 254, 64
MAX_LOCALE = 64
E164 = re.compile(r"\+[1-9][0-9]{7,14}")  # as written: +, then 8-15 ASCII digits, the first not 0
# BCP 47 (RFC 5646) language tags, case-insensitive: language[-script][-region](-variant)*(-extension)*[-x-private],
# or a private-use tag alone.
_ALNUM = "[a-z0-9]"
LANGUAGE_TAG = re.compile(
    rf"(?:(?:[a-z]{{2,3}}(?:-[a-z]{{3}}){{0,3}}|[a-z]{{4,8}})"
    rf"(?:-[a-z]{{4}})?"
    rf"(?:-(?:[a-z]{{2}}|[0-9]{{3}}))?"
    rf"(?:-(?:{_ALNUM}{{5,8}}|[0-9]{_ALNUM}{{3}}))*"
    rf"(?:-[0-9a-wy-z](?:-{_ALNUM}{{2,8}})+)*"
    rf"(?:-x(?:-{_ALNUM}{{1,8}})+)?"
    rf"|x(?:-{_ALNUM}{{1,8}})+)",
    re.IGNORECASE)
# Control characters, line and paragraph separators, and lone surrogates (which JSON can carry but no
# UTF-8 store can hold).
_REFUSED_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}


@dataclass(frozen=True)
class Contact:
    """One calendar's contact. ``consent`` maps each channel named to when the person opted in to it."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str = DEFAULT_LOCALE
    time_zone: str | None = None
    channels: tuple[str, ...] = ()
    notify_as_participant: bool = False
    consent: Mapping[str, datetime] = field(default_factory=dict)
    version: int = 0
    updated_at: datetime | None = None

    def address(self, channel: str) -> str | None:
        return self.email if channel == EMAIL else self.phone if channel == SMS else None


def _has_refused_characters(text: str) -> bool:
    return any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in text)


def _validate_name(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME or _has_refused_characters(value):
        raise ValidationError(f"name must be 1-{MAX_NAME} characters with no control characters.", "name")
    return value


def _validate_email(value: object) -> str:
    rule = ("email must be an address of at most 254 characters with one @, a local part of at most 64 "
            "characters and a domain with a dot, without spaces, quotes or control characters")
    if not isinstance(value, str) or len(value) > MAX_EMAIL or value.count("@") != 1:
        raise ValidationError(f"{rule}.", "email")
    local, _, domain = value.partition("@")
    if (not local or len(local) > MAX_LOCAL_PART or "." not in domain or any(c.isspace() for c in value)
            or any(c in "\"'`" for c in value) or _has_refused_characters(value)):
        raise ValidationError(f"{rule}.", "email")
    from email_validator import EmailNotValidError, validate_email  # only when a body names an address

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationError(f"{rule}: {error}", "email") from None
    return value


def _validate_phone(value: object) -> str:
    rule = ("phone must be an E.164 number as written: +, then 8-15 digits, the first not 0, with no spaces or "
            "dashes, and a possible number for its country code")
    if not isinstance(value, str) or not E164.fullmatch(value):
        raise ValidationError(f"{rule}.", "phone")
    import phonenumbers  # only when a body names a number

    try:
        number = phonenumbers.parse(value)
    except phonenumbers.NumberParseException:
        raise ValidationError(f"{rule}; {value} has no country code that exists.", "phone") from None
    # IS_POSSIBLE only: a number possible only for local dialling (+12345678) cannot be reached by SMS.
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise ValidationError(f"{rule}; {value} has the wrong number of digits for its country code.", "phone")
    return value


def _validate_locale(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_LOCALE or not LANGUAGE_TAG.fullmatch(value):
        raise ValidationError("locale must be a BCP 47 language tag such as de, de-AT or pt-BR.", "locale")
    return value


def _validate_channels(value: object) -> tuple[str, ...]:
    rule = 'channels must be a list of distinct channels from "email" and "sms"'
    if not isinstance(value, list) or not all(isinstance(c, str) and c in CHANNELS for c in value):
        raise ValidationError(f"{rule}.", "channels")
    if len(set(value)) != len(value):
        raise ValidationError(f"{rule}; remove the duplicates.", "channels")
    return tuple(value)


def same_address(channel: str, one: str | None, other: str | None) -> bool:
    """E-mail addresses compare case-insensitively, phone numbers as written."""
    if one is None or other is None:
        return False
    return one.casefold() == other.casefold() if channel == EMAIL else one == other


def parse_contact(body: Mapping, now: datetime, previous: Contact | None = None) -> Contact:
    """Validate a PUT body into the contact it sets (API.md field rules), with consent carried over from
    ``previous`` for each channel still named to the same address, and recorded as ``now`` otherwise.
    The version and ``updatedAt`` are the store's to set."""
    for name in body:
        if name in READ_ONLY_FIELDS:
            raise ValidationError(f"{name} is read-only; remove it from the request.", name)
        if name not in FIELDS:
            raise ValidationError(f"Unknown field '{str(name)[:64]}'. Allowed fields: {', '.join(FIELDS)}.",
                                  str(name)[:64])
    name = _validate_name(body["name"]) if body.get("name") is not None else None
    email = _validate_email(body["email"]) if body.get("email") is not None else None
    phone = _validate_phone(body["phone"]) if body.get("phone") is not None else None
    locale = _validate_locale(body["locale"]) if body.get("locale") is not None else DEFAULT_LOCALE
    time_zone = parse_zone(body["timeZone"]).key if body.get("timeZone") is not None else None
    channels = _validate_channels(body.get("channels", []))
    for channel, address in ((EMAIL, email), (SMS, phone)):
        if channel in channels and address is None:
            needed = "email" if channel == EMAIL else "phone"
            raise ValidationError(f"The {channel} channel needs {needed}; give it, or leave the channel out.",
                                  needed)
    notify = body.get("notifyAsParticipant", False)
    if not isinstance(notify, bool):
        raise ValidationError("notifyAsParticipant must be true or false.", "notifyAsParticipant")
    addresses = {EMAIL: email, SMS: phone}
    consent = {}
    for channel in channels:
        kept = (previous is not None and channel in previous.channels and channel in previous.consent
                and same_address(channel, previous.address(channel), addresses[channel]))
        consent[channel] = previous.consent[channel] if kept else now
    return Contact(name, email, phone, locale, time_zone, channels, notify, consent)


# -- which texts a contact reads --------------------------------------------------------------------------

MESSAGE_LOCALES = ("en", "de", "fr", "es")


def resolve_locale(tag: str | None) -> str:
    """The locale a tag's messages are written in: the tag's language when messages exist in it, else ``en``
    (``de-AT`` reads as ``de``, ``pt-BR`` as ``en``)."""
    language = (tag or DEFAULT_LOCALE).split("-")[0].lower()
    return language if language in MESSAGE_LOCALES else DEFAULT_LOCALE
