"""A real Kafka broker on this machine, for local mode and tests: `noida-db start --only kafka` as a subprocess.

    with KafkaBroker(tmp_path / "kafka") as broker:        # free loopback port unless `port` is given
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
        broker.create_topics(["estudiante-eventos"], partitions=3)

The broker speaks PLAINTEXT and SASL_PLAINTEXT/PLAIN (any credentials) and keeps its data in `data_dir`, so a broker
started again on the same directory still has its topics and committed offsets. `start()` returns only when the
port accepts connections and the broker answers a metadata request; `stop()` asks it to shut down (SIGINT, as
Ctrl-C would) so it saves its data, and kills it if it does not exit in time.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from local.moto_server import free_port

DEFAULT_STARTUP_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0


class KafkaBrokerError(RuntimeError):
    """The broker binary is missing, exited early, or did not become ready in time. The message says which."""


def noida_db_binary() -> str:
    """Path of the noida-db server binary.

    The `noida-db` command pip installs is a Python wrapper that runs the binary as its child and SIGKILLs it when
    interrupted, so the broker would never save its data; run the binary from the installed package directly.
    Falls back to a `noida-db` on PATH (a standalone install is the binary itself).
    """
    try:
        from importlib.resources import files

        packaged = Path(str(files("noida_db").joinpath("noida-db")))
    except ImportError:
        packaged = None
    if packaged is not None and packaged.is_file():
        if not os.access(packaged, os.X_OK):
            packaged.chmod(0o755)
        return str(packaged)
    found = shutil.which("noida-db")
    if found is None:
        raise KafkaBrokerError("noida-db is not installed; run `make install` (it is in requirements-dev.txt)")
    return found


class KafkaBroker:
    """A noida-db Kafka broker on `host:port` with its data in `data_dir`; a context manager.

    Attributes: `bootstrap_servers` ("host:port"), `port`, `data_dir`, `log_path` (the broker's stdout/stderr).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port()
        self.bootstrap_servers = f"{host}:{self.port}"
        self.startup_timeout = startup_timeout
        self.log_path = Path(log_path) if log_path is not None else self.data_dir / "noida-db.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> KafkaBroker:
        """Start the broker and wait until it serves metadata; raises KafkaBrokerError if it does not."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            noida_db_binary(),
            "start",
            "--data-dir",
            str(self.data_dir),
            "--host",
            self.host,
            "--only",
            "kafka",
            "--kafka-port",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C in the terminal reaches our process, which then stops the broker cleanly,
            # instead of both racing to shut down.
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Shut the broker down (data is kept in `data_dir`). Safe to call twice."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(_STOP_TIMEOUT)

    def create_topics(self, topics: Iterable[str], partitions: int = 1, timeout: float = 10.0) -> None:
        """Create topics that do not exist yet (existing ones are left as they are)."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        # Keep `admin` referenced until every future has resolved: dropping it early cancels them.
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in topics],
            request_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result(timeout)
            except KafkaException as exc:
                if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise KafkaBrokerError(f"could not create topic {name}: {exc}") from None
        del admin

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the broker printed, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not self._port_open():
            self._check_alive()
            if time.monotonic() > deadline:
                raise KafkaBrokerError(
                    f"Kafka broker did not open {self.bootstrap_servers} within {self.startup_timeout:g} s:\n"
                    + self.log_tail()
                )
            time.sleep(0.05)
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        while True:
            self._check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KafkaBrokerError(f"Kafka broker at {self.bootstrap_servers} did not answer metadata requests")
            try:
                metadata = admin.list_topics(timeout=min(2.0, remaining))
            except Exception:  # librdkafka raises KafkaException until the broker answers; keep polling
                continue
            if metadata.brokers:
                return

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            code = self._process.returncode
            self._process = None
            raise KafkaBrokerError(f"noida-db exited with status {code} before it was ready:\n{self.log_tail()}")

    def _port_open(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"KafkaBroker({str(self.data_dir)!r}, port={self.port}, running={self.running})"
