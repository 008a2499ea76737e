"""Opaque page tokens (``nextToken``): where a page ended, with a MAC over it and the query's scope."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime

from appointments.errors import ValidationError
from appointments.signing_key import DerivedKey
from appointments.times import format_instant, parse_stored_instant


class PageCursors:
    """Opaque ``nextToken`` values: where a page ended (start time and appointment ID), with a MAC over
    it and the query's scope (its userId or calendar), so only tokens this API issued for that query
    are taken back. ``secret`` gives the stack's signing key (``SigningKey``), asked for only when a token
    is first made or checked."""

    def __init__(self, secret: Callable[[], str]):
        self.key = DerivedKey(secret, "appointments page cursor")

    def _mac(self, scope: str, payload: str) -> str:
        digest = hmac.new(self.key(), f"{scope}\n{payload}".encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def encode(self, appointment_id: str, start: datetime, scope: str) -> str:
        raw = json.dumps({"a": appointment_id, "s": format_instant(start)}, separators=(",", ":"))
        payload = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(scope, payload)}"

    def decode(self, token: str, scope: str) -> tuple[str, str]:
        """(start time, appointment ID) of the last entry of the page the token ended."""
        refused = ValidationError("nextToken is not a token this API returned for this query; repeat the query "
                                  "without it.", "nextToken")
        payload, _, mac = token.partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(scope, payload).encode()):
            raise refused
        try:
            raw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            appointment_id, start = raw["a"], raw["s"]
            parse_stored_instant(start)
            if not isinstance(appointment_id, str):
                raise TypeError
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise refused from None
        return start, appointment_id
