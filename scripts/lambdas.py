"""The five functions as one system on one machine: wire them, and call the API one.

``wire`` hands every handler module its dependencies, built by ``appointments.wiring`` from the
given clients, settings and clock. ``api_event`` and ``invoke_api`` build the proxy event API
Gateway would send for a request and call the real handler with it. Tests, ``make run`` and the
benchmark use these, so all of them exercise the same object graph and the same event.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from appointments.bookings import Bookings
from appointments.events import EventPublishing
from appointments.notifications import Notifications
from appointments.reminders import Reminders, ReminderScheduling
from appointments.settings import (
    ApiSettings,
    NotifierSettings,
    PublisherSettings,
    SchedulerSettings,
    SenderSettings,
)
from appointments.times import utc_now
from appointments.wiring import (
    Clock,
    Services,
    build_delivery,
    build_notifications,
    build_publishing,
    build_scheduling,
    build_services,
)
from proxy_events import LambdaContext, Route, find_route, proxy_event, routes_from_template

FUNCTION_SETTINGS = {"ConflictDetector": ApiSettings, "ReminderScheduler": SchedulerSettings,
                     "ReminderSender": SenderSettings, "EventPublisher": PublisherSettings,
                     "Notifier": NotifierSettings}


@dataclass(frozen=True)
class StackSettings:
    api: ApiSettings
    scheduling: SchedulerSettings
    sending: SenderSettings
    publishing: PublisherSettings
    notifying: NotifierSettings

    @classmethod
    def from_environments(cls, environments: Mapping[str, Mapping[str, str]]) -> StackSettings:
        """From each function's environment as the deployed stack configured it (``deploy_into_moto``)."""
        return cls(*(FUNCTION_SETTINGS[name].from_environment(environments[name]) for name in FUNCTION_SETTINGS))


@dataclass(frozen=True)
class Wired:
    services: Services
    scheduling: ReminderScheduling
    publishing: EventPublishing
    delivery: Reminders
    notifications: Notifications

    @property
    def bookings(self) -> Bookings:
        return self.services.bookings


def wire(settings: StackSettings, *, dynamodb, scheduler, sns, events, ses=None, secrets=None,
         clock: Clock = utc_now, sleep: Callable[[float], None] = time.sleep) -> Wired:
    """Hand all five handler modules their dependencies, each built as its function builds it from its own
    settings. ``ses`` (SES v2) and ``secrets`` (Secrets Manager) default to clients made from the environment."""
    import boto3

    import conflict_detector
    import event_publisher
    import notifier
    import reminder_scheduler
    import reminder_sender
    from appointments.signing_key import SigningKey

    ses = ses or boto3.client("sesv2")
    signing_key = SigningKey(secrets or (lambda: boto3.client("secretsmanager")), settings.api.signing_key_arn)
    wired = Wired(build_services(dynamodb, settings.api, signing_key=signing_key, clock=clock, sleep=sleep),
                  build_scheduling(scheduler, dynamodb, sns, ses, settings.scheduling, clock=clock,
                                   signing_key=signing_key),
                  build_publishing(events, settings.publishing),
                  build_delivery(dynamodb, sns, ses, settings.sending, clock=clock, signing_key=signing_key),
                  build_notifications(dynamodb, ses, sns, settings.notifying, clock=clock, signing_key=signing_key))
    conflict_detector.use(wired.services, settings.api.origins)
    reminder_scheduler.use(wired.scheduling)
    reminder_sender.use(wired.delivery)
    event_publisher.use(wired.publishing)
    notifier.use(wired.notifications)
    return wired


_routes: list[Route] = []


def api_event(method: str, path: str, body=None, *, raw: str | bytes | None = None, query: str = "",
              headers: dict | None = None, claims: dict | None = None) -> dict:
    """The proxy event for a request; an unknown route still gets an event, for the handler to refuse.
    ``path`` is as a client sends it, and stays percent-encoded in the event, as API Gateway leaves it."""
    if not _routes:
        _routes.extend(routes_from_template())
    found = find_route(_routes, method, path)
    route, params = found if found else (Route(method, path, "AWS_IAM"), {})
    payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return proxy_event(route, path, params, query=query, body=payload, claims=claims,
                       headers={"Content-Type": "application/json", **(headers or {})})


def invoke_api(event: dict, function_name: str = "ConflictDetector-local") -> dict:
    """Call the API handler as Lambda would, one request at a time."""
    import conflict_detector

    return conflict_detector.handler(event, LambdaContext(function_name, 10, 512))
