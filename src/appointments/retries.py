"""Retries, each bounded and jittered: through DynamoDB's throttling, and after a lost race.

``Backoff`` rides out throttling and then answers ``ServiceUnavailable`` (503). ``until_committed``
runs read-decide-commit again after a commit lost to a concurrent change, and answers
``TooMuchContention`` (409 with Retry-After) when the calendars keep changing.

botocore retries throttled calls itself (the handlers give it a short, standard retry budget), but not
a transaction cancelled for throttling, a single-item write that meets a transaction in progress
(``TransactionConflictException``), or keys a ``BatchGetItem`` leaves unprocessed. ``Backoff`` retries
those a few times with full jitter, and then answers 503 with ``Retry-After``: nothing was changed, and
throttling is never a 500.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

from appointments.errors import ServiceUnavailable, StaleRead, TooMuchContention

T = TypeVar("T")
THROTTLING = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"})
RETRYABLE = THROTTLING | {"TransactionConflictException"}
# Cancellation reasons of a transaction that DynamoDB refused for load, not for what it found.
THROTTLED_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})


class Retry(Exception):
    """Raised inside a ``Backoff.run`` call to ask for another try (unprocessed keys, a throttled transaction)."""


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class Backoff:
    def __init__(self, sleep: Callable[[float], None] = time.sleep, attempts: int = 4, base: float = 0.05,
                 cap: float = 0.8):
        self.sleep, self.attempts, self.base, self.cap = sleep, attempts, base, cap

    def run(self, call: Callable[[], T]) -> T:
        """``call()``, tried again after throttling or ``Retry``; ServiceUnavailable once the tries are used up."""
        for attempt in range(self.attempts):
            try:
                return call()
            except Retry:
                pass
            except ClientError as error:
                if error_code(error) not in RETRYABLE:
                    raise
            if attempt + 1 < self.attempts:
                self.sleep(random.uniform(0, min(self.cap, self.base * 2 ** attempt)))
        raise ServiceUnavailable()


MAX_ATTEMPTS = 8


def until_committed(attempt: Callable[[], T], sleep: Callable[[float], None], attempts: int = MAX_ATTEMPTS) -> T:
    """Run read-decide-commit until it commits; back off with full jitter after each lost race (StaleRead)."""
    for number in range(attempts):
        try:
            return attempt()
        except StaleRead:
            sleep(random.uniform(0, 0.01 * 2 ** number))
    raise TooMuchContention()
