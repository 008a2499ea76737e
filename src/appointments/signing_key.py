"""The stack's generated secret (``SigningKey`` in template.json): the key of every MAC the API issues.

Read from Secrets Manager at most once per cold start, when a MAC is first made or checked, and kept for
the instance's life; nobody can derive it from a stack description, as they could the stack ID it
replaces. Each use derives its own key from it (``DerivedKey``: page cursors, manage links), so no MAC
of one kind verifies as another.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable


class SigningKey:
    """``secrets`` is a Secrets Manager client, or a function that makes one when the key is first read."""

    def __init__(self, secrets, secret_id: str):
        self._client = secrets
        self.secret_id = secret_id
        self._value: str | None = None
        self._lock = threading.Lock()

    @property
    def secrets(self):
        if isinstance(self._client, Callable):
            self._client = self._client()
        return self._client

    def __call__(self) -> str:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    response = self.secrets.get_secret_value(SecretId=self.secret_id)
                    self._value = response["SecretString"]
        return self._value


class DerivedKey:
    """The key of one kind of MAC: a hash of ``purpose`` and the signing key, made when first asked for."""

    def __init__(self, secret: Callable[[], str], purpose: str):
        self._secret, self._purpose = secret, purpose
        self._value: bytes | None = None

    def __call__(self) -> bytes:
        if self._value is None:
            self._value = hashlib.sha256(f"{self._purpose}\n{self._secret()}".encode()).digest()
        return self._value
