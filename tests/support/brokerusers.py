"""RabbitMQ users and a virtual host of a test's own, made and removed with ``rabbitmqctl``
(which needs to run as root or as the broker's user on this machine)."""

from __future__ import annotations

import asyncio
import secrets
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit


async def rabbitmqctl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, f"rabbitmqctl {' '.join(args)}: {err.decode()}"
    return out.decode()


async def run_lines(text: str) -> int:
    """Run printed ``rabbitmqctl ...`` lines as a shell would; how many ran."""
    lines = [shlex.split(line) for line in text.splitlines() if line.strip()]
    for words in lines:
        assert words[0] == "rabbitmqctl", words
        await rabbitmqctl(*words[1:])
    return len(lines)


@dataclass
class BrokerUsers:
    vhost: str
    base_url: str  # the broker's URL, whose host and port the users' URLs share
    passwords: dict[str, str] = field(default_factory=dict)

    def url(self, user: str) -> str:
        where = urlsplit(self.base_url)
        host = f"{where.hostname}:{where.port or 5672}"
        return f"amqp://{quote(user)}:{self.passwords[user]}@{host}/{quote(self.vhost, safe='')}"

    async def add(self, user: str) -> None:
        self.passwords[user] = secrets.token_hex(12)
        await rabbitmqctl("add_user", user, self.passwords[user])


@asynccontextmanager
async def broker_users(vhost: str, base_url: str) -> AsyncIterator[BrokerUsers]:
    """A fresh virtual host; every user added to it is deleted afterwards, and so is it."""
    await rabbitmqctl("add_vhost", vhost)
    users = BrokerUsers(vhost, base_url)
    try:
        yield users
    finally:
        for user in users.passwords:
            await rabbitmqctl("delete_user", user)
        await rabbitmqctl("delete_vhost", vhost)
