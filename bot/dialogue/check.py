"""Run the SMS assessment for the dialogue: bounded input, the collector's local time, the user's locale."""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.assess import assess

MAX_ASSESS_CHARS = 5000
"""A longer paste is assessed on its first part (an SMS is far shorter; a 100 KB paste is not one)."""


def local_time(at: datetime, tz_name: str) -> datetime:
    """Return the instant in the configured time zone (naive times are taken as already local)."""
    tz: tzinfo
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        tz = timezone.utc
    if at.tzinfo is None:
        return at.replace(tzinfo=tz)
    return at.astimezone(tz)


def run_assessment(text: str, received_at: datetime, tz_name: str, locale: str) -> tuple[Any, bool]:
    """Assess an SMS (cut to MAX_ASSESS_CHARS) and say whether it was cut."""
    truncated = len(text) > MAX_ASSESS_CHARS
    return assess(text[:MAX_ASSESS_CHARS], received_at=local_time(received_at, tz_name), locale=locale), truncated
