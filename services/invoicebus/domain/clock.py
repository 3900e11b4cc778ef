"""Timestamps as stored: UTC, truncated to milliseconds (what BSON dates and the wire keep)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
