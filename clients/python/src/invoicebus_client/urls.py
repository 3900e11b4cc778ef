"""Broker URLs: as they may be shown (in error messages and logs, never with a password), and
the user they connect as."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

#: The user an AMQP URL without one connects as (RabbitMQ's and the AMQP libraries' default).
DEFAULT_USER = "guest"


def user_of(url: str) -> str:
    """The user name the broker will see for a connection made with ``url``."""
    return unquote(urlsplit(url).username or "") or DEFAULT_USER


def redacted(url: str) -> str:
    """The URL without its password, for error messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
