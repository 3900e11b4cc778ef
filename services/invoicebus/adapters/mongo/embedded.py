"""An embedded SecantusDB (a pure-Python, MongoDB wire-compatible server) as a child process.

Used when no ``MONGODB_URL`` is given: by ``invoicebus run`` (data kept on disk) and by the
test fixtures. Production deployments point ``MONGODB_URL`` at a real MongoDB instead, so
SecantusDB is an optional extra (``invoicebus[embedded]``), which the images leave out.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ...querying.fields import Document

#: What to install for it, and what to do without it.
MISSING = (
    "the embedded MongoDB needs SecantusDB, which is not installed: pip install"
    " 'invoicebus[embedded]' (for development), or set MONGODB_URL to a MongoDB"
)


def available() -> bool:
    """Whether SecantusDB is installed (the ``embedded`` extra)."""
    return importlib.util.find_spec("secantus") is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def url_for(port: int) -> str:
    # retryWrites=false: SecantusDB slows down after many retryable writes; real MongoDB
    # deployments keep the driver default.
    return f"mongodb://127.0.0.1:{port}/?directConnection=true&retryWrites=false"


@dataclass
class EmbeddedMongo:
    """One SecantusDB server process; ``start``/``stop`` may be called repeatedly."""

    storage_path: Path
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return url_for(self.port)

    def start(self, timeout: float = 30.0) -> None:
        self.storage_path.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path or self.storage_path.parent / "secantus.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait_ready(timeout)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(self.port),
                "--storage-path", str(self.storage_path), "--log-level", "WARNING"]  # fmt: skip

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"SecantusDB exited with {self.process.returncode}")
            try:
                with MongoClient[Document](self.url, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                return
            except PyMongoError:
                time.sleep(0.2)
        raise TimeoutError(f"SecantusDB did not answer on port {self.port} within {timeout}s")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
