"""Manage links (API.md, "Manage links"): ``{ManageBaseUrl}/manage/{token}``, one recipient's way to see, cancel
or move one appointment without signing in. The token is the credential.

Pure. A token is 43 URL-safe characters, the base64url of 32 bytes: the appointment ID (a UUID, 16 bytes), the
expiry (the appointment's end time when the link was issued, 4 bytes of Unix seconds) and a 12-byte HMAC-SHA256
over the appointment ID, the recipient's calendar ID and the expiry. The MAC's key is derived from the stack's
signing key for manage links alone, so no page token verifies as a link, nor a link as a page token.

The recipient is not in the token: a calendar ID may be an e-mail address, which a URL should not carry in
clear (and it would make an SMS longer). A token is checked against each calendar the appointment occupies
and names the one it verifies for; a recipient no longer on the appointment verifies for none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from appointments.signing_key import DerivedKey

TOKEN_LENGTH = 43  # base64url of 16 + 4 + 12 bytes, without padding
MAC_BYTES = 12  # 96 bits: online guessing is throttled (the routes' own stage limits), offline impossible
_LAYOUT = struct.Struct(f">16sI{MAC_BYTES}s")
LATEST_EXPIRY = 2**32 - 1  # what 4 bytes of Unix seconds hold: 2106-02-07


@dataclass(frozen=True)
class LinkClaim:
    """What a token says, before anything is checked against it."""

    appointment_id: str
    expires_at: datetime
    mac: bytes


class ManageLinks:
    """Issues and checks manage-link tokens. ``secret`` gives the stack's signing key (``SigningKey``), asked for
    only when a token is first made or checked; ``base_url`` is the stage URL the links start with (the output
    ``ManageBaseUrl``; empty: tokens can be checked, but no link is issued)."""

    def __init__(self, secret: Callable[[], str], base_url: str = ""):
        self.base_url = base_url.rstrip("/")
        self.key = DerivedKey(secret, "appointments manage link")

    def _mac(self, appointment_id: str, recipient: str, expiry: int) -> bytes:
        message = f"{appointment_id}\n{recipient}\n{expiry}".encode()
        return hmac.new(self.key(), message, hashlib.sha256).digest()[:MAC_BYTES]

    def token(self, appointment_id: str, recipient: str, expires_at: datetime) -> str | None:
        """The token of ``recipient``'s link to the appointment, valid until ``expires_at``; None for an
        appointment ID that is not a UUID in its canonical form (every ID this API makes is one)."""
        identifier = _uuid(appointment_id)
        expiry = int(expires_at.timestamp())
        if identifier is None or not 0 <= expiry <= LATEST_EXPIRY:
            return None
        raw = _LAYOUT.pack(identifier.bytes, expiry, self._mac(appointment_id, recipient, expiry))
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def link(self, appointment_id: str, recipient: str, expires_at: datetime) -> str | None:
        """``{base_url}/manage/{token}``; None without a base URL or a token."""
        token = self.token(appointment_id, recipient, expires_at) if self.base_url else None
        return f"{self.base_url}/manage/{token}" if token else None

    @staticmethod
    def read(token: str) -> LinkClaim | None:
        """What a token says; None for anything that is not one in its one canonical spelling (so no
        second spelling of a token exists)."""
        if len(token) != TOKEN_LENGTH or not token.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=")
        except ValueError:
            return None
        if len(raw) != _LAYOUT.size or base64.urlsafe_b64encode(raw).decode().rstrip("=") != token:
            return None
        identifier, expiry, mac = _LAYOUT.unpack(raw)
        return LinkClaim(str(uuid.UUID(bytes=identifier)), datetime.fromtimestamp(expiry, UTC), mac)

    def recipient(self, claim: LinkClaim, calendars: Iterable[str]) -> str | None:
        """The calendar among ``calendars`` the token was issued to, or None if it verifies for none. Every
        candidate is checked, in constant time each, whichever matches."""
        expiry = int(claim.expires_at.timestamp())
        found = None
        for calendar_id in calendars:
            if hmac.compare_digest(self._mac(claim.appointment_id, calendar_id, expiry), claim.mac) and found is None:
                found = calendar_id
        return found


def _uuid(appointment_id: str) -> uuid.UUID | None:
    try:
        identifier = uuid.UUID(appointment_id)
    except (ValueError, AttributeError, TypeError):
        return None
    return identifier if str(identifier) == appointment_id else None
