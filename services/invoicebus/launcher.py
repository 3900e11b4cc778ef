"""``invoicebus run``: the whole system in one process tree, for development and demos.

Checks the broker (one line on what is wrong: unreachable, credentials, virtual host) and the
HTTP ports, starts MongoDB (an embedded SecantusDB keeping its files under the data folder,
unless ``MONGODB_URL`` is set), then the command and query services and the HTTP gateway as
child processes, and says it is running once all three answer ``/readyz``. SIGINT/SIGTERM are
forwarded to the children, which drain and exit; if any child dies on its own, the others are
stopped too and the launcher exits non-zero. Nothing is restarted behind your back: a crash is
loud, and a supervisor (or you) decides what is next.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from invoicebus_client import BrokerRefused, Unavailable, redacted
from invoicebus_client.connecting import connect
from invoicebus_client.urls import user_of

from .adapters.mongo import embedded
from .adapters.mongo.embedded import EmbeddedMongo
from .runtime.logs import configure_logging
from .settings import AuthMode, Settings

log = logging.getLogger("invoicebus.launcher")

#: The services, as ``python -m`` modules: one image or environment, the command picks one.
SERVICES = ("invoicebus.commands", "invoicebus.queries", "invoicebus.gateway")
GATEWAY = "invoicebus.gateway"
#: The setting of each service's HTTP port.
PORT_SETTINGS = {
    "invoicebus.commands": "INVOICEBUS_COMMAND_HTTP_PORT",
    "invoicebus.queries": "INVOICEBUS_QUERY_HTTP_PORT",
    GATEWAY: "INVOICEBUS_GATEWAY_PORT",
}
EXIT_CHILD_DIED = 1
EXIT_NOT_STARTED = 2
POLL_SECONDS = 0.2
#: The file under the data folder that keeps the key list cursors are signed with.
CURSOR_SECRET_FILE = "cursor-secret"
#: How long the services may take to answer /readyz (imports and a first connection on a
#: busy machine take a while).
READY_TIMEOUT_SECONDS = 120.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class LaunchError(Exception):
    """Something the system needs is missing; the message says what to do."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


def check_broker(url: str, wait: float = 5.0) -> None:
    """The broker takes our connection, or ``LaunchError`` saying why not."""

    async def try_once() -> None:
        connection = await connect(url, wait=wait)
        await connection.close()

    # The launcher says what went wrong itself; aiormq's own log line would only repeat it.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    try:
        asyncio.run(try_once())
    except BrokerRefused as exc:
        raise LaunchError(f"{exc}; check AMQP_URL") from exc
    except Unavailable as exc:
        raise LaunchError(
            f"{exc}. Start RabbitMQ (rabbitmq-server -detached, or docker compose up rabbitmq)"
            " or set AMQP_URL."
        ) from exc


def http_ports(settings: Settings) -> dict[str, int]:
    """The HTTP ports that are on, by service module (the gateway's is also its API)."""
    ports = (settings.command_http_port, settings.query_http_port, settings.gateway_port)
    return {service: port for service, port in zip(SERVICES, ports, strict=True) if port}


def check_ports(settings: Settings) -> None:
    """Each HTTP port is free (and the two differ), or ``LaunchError`` naming its setting, so
    a clash is one line at once rather than a service failing later."""
    names = PORT_SETTINGS
    seen: dict[int, str] = {}
    for service, port in http_ports(settings).items():
        if port in seen:
            raise LaunchError(f"{names[service]} and {names[seen[port]]} are both {port}")
        seen[port] = service
        with socket.socket() as sock:
            try:
                sock.bind((settings.http_host, port))
            except OSError as exc:
                what = "API" if service == GATEWAY else "/readyz and /metrics"
                raise LaunchError(
                    f"port {port} on {settings.http_host} for {service}'s {what} is"
                    f" taken ({exc.strerror}); is another 'invoicebus run' up? Set {names[service]}"
                    " to a free port (or 0 for none)."
                ) from exc


def ready(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def start_mongo(settings: Settings) -> tuple[str, EmbeddedMongo | None]:
    """``MONGODB_URL`` if set, else an embedded SecantusDB with its files under data_dir."""
    if settings.mongodb_url:
        return settings.mongodb_url, None
    if not embedded.available():
        raise LaunchError(embedded.MISSING)
    port = settings.embedded_mongo_port
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise LaunchError(
                f"port {port} for the embedded MongoDB is taken ({exc.strerror}); is another"
                " 'invoicebus run' up? Set INVOICEBUS_EMBEDDED_MONGO_PORT or MONGODB_URL."
            ) from exc
    data = Path(settings.data_dir).resolve()
    mongo = EmbeddedMongo(data / "mongo", port=port)
    mongo.storage_path.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded SecantusDB on port %d, data in %s", port, mongo.storage_path)
    try:
        with (data / "secantus.log").open("ab") as out:
            mongo.process = subprocess.Popen(
                mongo.command(), stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_us
            )
        mongo.wait_ready(timeout=60)
    except (RuntimeError, TimeoutError) as exc:
        mongo.stop()
        raise LaunchError(
            f"the embedded MongoDB did not start: {exc} (see {data}/secantus.log)"
        ) from exc
    return mongo.url, mongo


def _die_with_us() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the launcher dies, even if it is
    killed outright, so no service outlives the process tree it belongs to."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def cursor_secret(settings: Settings) -> str:
    """``INVOICEBUS_CURSOR_SECRET``, or the one kept in the data folder (made on first use), so
    cursors survive a restart of ``invoicebus run``."""
    if settings.cursor_secret and settings.cursor_secret.get_secret_value():
        return settings.cursor_secret.get_secret_value()
    path = Path(settings.data_dir).resolve() / CURSOR_SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created readable by its owner only, before anything is written into it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
        log.info("made a cursor secret in %s", path)
    return path.read_text().strip()


def child_env(settings: Settings, mongodb_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AMQP_URL=settings.amqp_url,
        MONGODB_URL=mongodb_url,
        INVOICEBUS_PREFIX=settings.prefix,
        INVOICEBUS_DATABASE=settings.database,
        INVOICEBUS_CURSOR_SECRET=cursor_secret(settings),
    )
    env.pop("INVOICEBUS_AMQP_URL", None)
    env.pop("INVOICEBUS_MONGODB_URL", None)
    # A development launcher: authorization is off unless asked for (the services say so in
    # their first log lines); deployments run the services with the default, required.
    env.setdefault("INVOICEBUS_AUTH", AuthMode.OFF.value)
    env.pop("INVOICEBUS_GATEWAY_AMQP_URL", None)
    if settings.gateway_amqp_url:
        # The gateway's own broker user acts for its callers' API keys: the services trust it.
        gateways = {*settings.gateways, user_of(settings.gateway_amqp_url)}
        env["INVOICEBUS_GATEWAYS"] = ",".join(sorted(gateways))
    return env


def check_gateway_user(settings: Settings) -> None:
    """With authorization required, a gateway on the services' broker user would act as that
    user (an admin) for every HTTP caller: ``LaunchError`` unless it has a user of its own."""
    auth = os.environ.get("INVOICEBUS_AUTH", AuthMode.OFF.value).strip().lower()
    if settings.gateway_port and not settings.gateway_amqp_url and auth == AuthMode.REQUIRED:
        raise LaunchError(
            "authorization is required, so the HTTP gateway needs a broker user of its own: set"
            " INVOICEBUS_GATEWAY_AMQP_URL to its URL (it is added to INVOICEBUS_GATEWAYS), or"
            " INVOICEBUS_GATEWAY_PORT=0 to run without the gateway"
        )


def gateway_env(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """The gateway connects with its own broker URL when one is set, else the services'."""
    if settings.gateway_amqp_url:
        return {**env, "AMQP_URL": settings.gateway_amqp_url}
    return env


def modules(settings: Settings) -> tuple[str, ...]:
    """The processes to start: both services, and the gateway unless its port is 0."""
    return SERVICES if settings.gateway_port else SERVICES[:2]


def spawn(module: str, env: dict[str, str]) -> Child:
    # Own process group: a terminal's Ctrl-C reaches only the launcher, which then stops the
    # children in order instead of every process racing to exit at once.
    process = subprocess.Popen(
        [sys.executable, "-m", module], env=env, process_group=0, preexec_fn=_die_with_us
    )
    log.info("started %s (pid %d)", module, process.pid)
    return Child(module, process)


def stop(children: list[Child], sig: int, timeout: float) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(sig)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("%s did not stop within %.0fs; killing it", child.name, timeout)
            child.process.kill()
            child.process.wait()


def launch(settings: Settings) -> int:
    """Run until a signal (exit 0 if every child stopped cleanly) or a child's death (exit 1)."""
    configure_logging(settings.log_format, settings.log_level)
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    mongo: EmbeddedMongo | None = None
    children: list[Child] = []
    try:
        check_broker(settings.amqp_url)
        check_ports(settings)
        check_gateway_user(settings)
        mongodb_url, mongo = start_mongo(settings)
        env = child_env(settings, mongodb_url)
        envs = {module: env for module in modules(settings)}
        if GATEWAY in envs:
            envs[GATEWAY] = gateway_env(settings, env)
        children = [spawn(module, module_env) for module, module_env in envs.items()]
        died = _await_ready(settings, children, mongo, received)
        if not died:
            if not received:
                log.info(
                    "invoicebus is running: prefix %r, broker %s; Ctrl-C to stop",
                    settings.prefix,
                    redacted(settings.amqp_url),
                )
            died = _supervise(children, mongo, received)
    except LaunchError as exc:
        log.error("%s", exc)
        return EXIT_NOT_STARTED
    finally:
        sig = received[0] if received else signal.SIGTERM
        stop(children, sig, settings.shutdown_timeout_seconds + 5)
        if mongo is not None:
            mongo.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)

    if died:
        return EXIT_CHILD_DIED
    failed = [c for c in children if c.process.returncode != 0]
    for child in failed:
        log.error("%s exited with code %s while stopping", child.name, child.process.returncode)
    log.info("invoicebus stopped")
    return EXIT_CHILD_DIED if failed else 0


def _await_ready(
    settings: Settings, children: list[Child], mongo: EmbeddedMongo | None, received: list[int]
) -> bool:
    """Wait until every service with an HTTP port answers /readyz: True if a process died
    meanwhile; ``LaunchError`` if they are not ready in time."""
    waiting = http_ports(settings)
    if len(waiting) < len(modules(settings)):
        log.info("not waiting for readiness of services without an HTTP port")
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while waiting and not received:
        if _died(children, mongo):
            return True
        waiting = {s: p for s, p in waiting.items() if not ready(settings.http_host, p)}
        if time.monotonic() > deadline:
            raise LaunchError(
                f"{', '.join(waiting)} not ready within {READY_TIMEOUT_SECONDS:.0f}s"
                " (see their log lines above)"
            )
        with suppress(InterruptedError):
            time.sleep(POLL_SECONDS)
    return False


def _died(children: list[Child], mongo: EmbeddedMongo | None) -> bool:
    for child in children:
        code = child.process.poll()
        if code is not None:
            log.error("%s exited with code %d; stopping the others", child.name, code)
            return True
    if mongo is not None and mongo.process is not None:
        code = mongo.process.poll()
        if code is not None:
            log.error("the embedded MongoDB exited with code %d; stopping", code)
            return True
    return False


def _supervise(children: list[Child], mongo: EmbeddedMongo | None, received: list[int]) -> bool:
    """Wait for a signal (False) or for a process to die on its own (True)."""
    while not received:
        if _died(children, mongo):
            return True
        with suppress(InterruptedError):
            time.sleep(POLL_SECONDS)
    log.info("received %s; stopping", signal.Signals(received[0]).name)
    return False
