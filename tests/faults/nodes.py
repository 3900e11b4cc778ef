"""Private server processes for the fault-injection suite.

The suite restarts RabbitMQ and stops the database, so it never uses the shared servers: it
starts its own RabbitMQ node (own node name, ports, data, config, plugins file and Erlang
cookie) and its own SecantusDB process, whatever ``AMQP_URL``/``MONGODB_URL`` say.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from invoicebus.adapters.mongo.embedded import free_port

#: Debian/Ubuntu packages wrap the scripts in a root-only wrapper that runs them as the
#: ``rabbitmq`` user; the real scripts live here and run as anyone.
DEBIAN_SCRIPTS = Path("/usr/lib/rabbitmq/bin")


def rabbitmq_scripts() -> Path:
    """The directory of ``rabbitmq-server`` and ``rabbitmqctl``, or a clear failure."""
    if (DEBIAN_SCRIPTS / "rabbitmq-server").exists():
        return DEBIAN_SCRIPTS
    found = shutil.which("rabbitmq-server")
    if found is None:
        raise RuntimeError(
            "the fault-injection suite needs the rabbitmq-server binary to run its own private"
            " RabbitMQ node (it never restarts a shared one): install the rabbitmq-server"
            " package (Debian/Ubuntu: apt-get install rabbitmq-server)"
        )
    return Path(found).resolve().parent


@dataclass
class PrivateRabbit:
    """A RabbitMQ node of its own, kept in ``base``; data survives ``stop``/``start``."""

    base: Path
    #: Unique per node: two runs of the suite on one machine (helpers, CI jobs) must not
    #: collide on the Erlang node name (RabbitMQ refuses a duplicate_node_name).
    name: str = field(default_factory=lambda: f"ibfaults-{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)

    @property
    def node(self) -> str:
        return f"{self.name}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def pid_file(self) -> Path:
        return self.base / "rabbit.pid"

    def env(self) -> dict[str, str]:
        home = self.base / "home"  # own Erlang cookie, shared by the node and rabbitmqctl
        for sub in ("home", "mnesia", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        config = self.base / "rabbitmq.conf"
        config.write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        plugins = self.base / "enabled_plugins"
        # The command shards route through a consistent-hash exchange (contracts' Topology).
        plugins.write_text("[rabbitmq_consistent_hash_exchange].\n")
        env_file = self.base / "rabbitmq-env.conf"  # never read /etc/rabbitmq/rabbitmq-env.conf
        env_file.touch()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(home),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_CONFIG_FILE=str(config),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.base / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(env_file),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(plugins),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        return env

    def ctl(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [str(rabbitmq_scripts() / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, timeout: float = 90) -> None:
        self.pid_file.unlink(missing_ok=True)
        subprocess.run(
            [str(rabbitmq_scripts() / "rabbitmq-server"), "-detached"],
            env=self.env(),
            check=True,
            timeout=30,
        )
        self.ctl("wait", "--timeout", str(int(timeout)), str(self.pid_file), timeout=timeout + 10)

    def stop(self) -> None:
        """Stop the node (a clean shutdown, as in a rolling restart); kill it if it hangs."""
        try:
            self.ctl("stop", str(self.pid_file), timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            self.kill()

    def kill(self) -> None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def queue_counts(self, prefix: str) -> dict[str, tuple[int, int, int]]:
        """``{queue: (ready, unacked, consumers)}`` for the queues whose name starts with prefix."""
        out = self.ctl(
            "-q", "list_queues", "name", "messages_ready", "messages_unacknowledged", "consumers"
        )
        counts: dict[str, tuple[int, int, int]] = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 4 and parts[0].startswith(prefix):
                counts[parts[0]] = (int(parts[1]), int(parts[2]), int(parts[3]))
        return counts
