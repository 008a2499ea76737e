"""Settings read once from the environment. A missing variable fails fast and is named.

Each entry point has its own settings class; ``variables()`` lists what it reads, so a template test
can check that the function's ``Environment.Variables`` provide exactly that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Self


class MissingSettings(RuntimeError):
    pass


def _env(name: str, *, optional: bool = False):
    """A setting read from variable ``name``; an optional one may be unset or empty (its default is "")."""
    return field(default="", metadata={"env": name, "optional": True}) if optional else field(metadata={"env": name})


@dataclass(frozen=True)
class _Settings:
    @classmethod
    def variables(cls) -> list[str]:
        return [f.metadata["env"] for f in fields(cls)]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Self:
        missing = [f.metadata["env"] for f in fields(cls) if not f.metadata.get("optional")
                   and not environ.get(f.metadata["env"])]
        if missing:
            raise MissingSettings(f"{cls.__name__} needs environment variable(s): {', '.join(missing)}")
        return cls(**{f.name: environ.get(f.metadata["env"], "") for f in fields(cls)})


@dataclass(frozen=True)
class ApiSettings(_Settings):
    table_name: str = _env("TABLE_NAME")
    calendar_table_name: str = _env("CALENDAR_TABLE_NAME")
    signing_key_arn: str = _env("SIGNING_KEY_ARN")  # the secret that keys page tokens (its ARN, not its value)
    allowed_origins: str = _env("ALLOWED_ORIGINS", optional=True)  # comma-separated; empty: no CORS
    business_name: str = _env("BUSINESS_NAME", optional=True)  # shown on manage pages

    @property
    def origins(self) -> tuple[str, ...]:
        return parse_origins(self.allowed_origins)


def parse_origins(text: str) -> tuple[str, ...]:
    """Comma-separated browser origins (as ``AllowedOrigins`` takes them), each once, in the order given (API
    Gateway's own error answers name the first)."""
    return tuple(dict.fromkeys(origin.strip() for origin in text.split(",") if origin.strip()))


@dataclass(frozen=True, kw_only=True)
class MessageSettings(_Settings):
    """What every function that sends messages to people reads: the ledger and contacts in CalendarTable,
    and the channels."""

    calendar_table_name: str = _env("CALENDAR_TABLE_NAME")
    configuration_set: str = _env("CONFIGURATION_SET")
    business_name: str = _env("BUSINESS_NAME")
    sender_email: str = _env("SENDER_EMAIL", optional=True)  # empty: e-mail is off
    # Manage links in every message: the key's ARN (not its value) and the stage URL; either empty: no links.
    signing_key_arn: str = _env("SIGNING_KEY_ARN", optional=True)
    manage_base_url: str = _env("MANAGE_BASE_URL", optional=True)


@dataclass(frozen=True, kw_only=True)
class NotifierSettings(MessageSettings):
    """The notifier: messages about changes, and nothing else."""


@dataclass(frozen=True, kw_only=True)
class SenderSettings(MessageSettings):
    """The reminder sender: each reminder to the topic, and to people."""

    table_name: str = _env("TABLE_NAME")
    topic_arn: str = _env("TOPIC_ARN")


@dataclass(frozen=True, kw_only=True)
class SchedulerSettings(SenderSettings):
    """The reminder scheduler: its schedules, and a reminder due within a minute delivered at once, as the
    sender would."""

    schedule_group: str = _env("SCHEDULE_GROUP")
    scheduler_role_arn: str = _env("SCHEDULER_ROLE_ARN")
    reminder_function_arn: str = _env("REMINDER_FUNCTION_ARN")
    dead_letter_queue_arn: str = _env("DEAD_LETTER_QUEUE_ARN")


@dataclass(frozen=True)
class PublisherSettings(_Settings):
    event_bus_name: str = _env("EVENT_BUS_NAME")
