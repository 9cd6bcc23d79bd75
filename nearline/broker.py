"""A real single-node Apache Kafka broker (KRaft) without Docker.

The official jars are resolved with Maven from Maven Central into a cache outside the
repository and run by the machine's Java; readiness is the broker's own
"Kafka Server started" line, and the broker is stopped by pid. `any_broker()` picks,
in order: `KAFKA_BOOTSTRAP_SERVERS`, a testcontainers Kafka when a Docker engine
answers, else this local broker.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KAFKA_VERSION = "3.9.2"
SCALA_VERSION = "2.13"
SLF4J_VERSION = "1.7.36"
RELOAD4J_VERSION = "1.2.25"
READY_LINE = "Kafka Server started"
DEFAULT_PORT = 9092
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_FREE_PORT = 20000  # free ports are drawn from here up to the ephemeral range
CONTAINER_IMAGE = "apache/kafka:3.9.1"

POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.nearline</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_{SCALA_VERSION}</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId>
      <version>{SLF4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId>
      <version>{RELOAD4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""

LOG4J = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.server.KafkaRaftServer=INFO
"""


class BrokerError(RuntimeError):
    """The local broker could not be provided; the message says what to do."""


def cache_dir() -> Path:
    """Where jars and broker state live: `NEARLINE_CACHE`, else ~/.cache/nearline."""
    return Path(os.environ.get("NEARLINE_CACHE", Path.home() / ".cache" / "nearline"))


def ephemeral_ports() -> range:
    """The machine's ephemeral (client) port range. A server on a port inside it can be
    taken over by a client: while the broker is down, a client reconnecting to
    127.0.0.1:PORT may be given PORT itself as its source and connect to itself, and the
    restarted broker cannot bind for minutes."""
    try:
        low, high = map(int, EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default
    return range(low, high + 1)


def free_port() -> int:
    """A port free now on 127.0.0.1 and below the ephemeral range, so that no client's
    source port ever takes it (brokers, workers and readers of the demo and tests)."""
    ceiling = min(ephemeral_ports().start, 65536)
    candidates = list(range(LOWEST_FREE_PORT, ceiling))
    random.shuffle(candidates)
    for port in candidates[:500]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise BrokerError(f"no free port on 127.0.0.1 in {LOWEST_FREE_PORT}..{ceiling - 1}")


def _require(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BrokerError(f"{tool} not found on PATH: {why}")
    return path


def resolve_jars(cache: Path | None = None) -> Path:
    """The folder of broker jars, resolved with Maven once and then reused."""
    lib = (cache or cache_dir()) / f"kafka-{KAFKA_VERSION}" / "lib"
    done = lib / ".complete"
    if done.exists():
        return lib
    mvn = _require("mvn", "Maven resolves the Apache Kafka jars from Maven Central")
    lib.parent.mkdir(parents=True, exist_ok=True)
    (lib.parent / "pom.xml").write_text(POM)
    cmd = [mvn, "-q", "-B", "dependency:copy-dependencies", f"-DoutputDirectory={lib}"]
    run = subprocess.run(cmd, cwd=lib.parent, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        tail = (run.stdout + run.stderr).strip().splitlines()[-3:]
        raise BrokerError("Maven could not resolve the Kafka jars: " + " | ".join(tail))
    done.touch()
    return lib


def _cluster_id() -> str:
    """A random Kafka Uuid string; like Kafka's own `Uuid.randomUuid()`, never one that
    starts with '-', which the storage tool would parse as an option (1 start in 64
    failed to format before)."""
    while (cid := base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())[0] == "-":
        pass
    return cid


@dataclass(frozen=True)
class LocalBroker:
    """One KRaft broker+controller on 127.0.0.1, its state under `home`.

    >>> LocalBroker(Path("/tmp/b"), port=9092).bootstrap
    '127.0.0.1:9092'
    """

    home: Path
    port: int = DEFAULT_PORT
    heap_mb: int = 512

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    def pid(self) -> int | None:
        """The running broker's pid, or None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid if b"kafka.Kafka" in cmdline else None

    def _properties(self, controller_port: int) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                f"CONTROLLER://127.0.0.1:{controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={self.home / 'data'}",
                "num.partitions=4",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                "log.cleaner.dedupe.buffer.size=2097152",
                "log.cleaner.threads=1",
                "num.network.threads=2",
                "num.io.threads=2",
                "",
            ]
        )

    def start(self, timeout_s: float = 120.0, fresh: bool = False) -> str:
        """Format storage if needed, launch, wait for readiness; returns the bootstrap."""
        if self.pid() is not None:
            return self.bootstrap
        java = _require("java", "install Java 17 to run the local Kafka broker")
        lib = resolve_jars()
        if fresh and self.home.exists():
            shutil.rmtree(self.home)
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        config.write_text(self._properties(free_port()))
        (self.home / "log4j.properties").write_text(LOG4J)
        base = [
            java,
            f"-Xms{self.heap_mb // 2}m",
            f"-Xmx{self.heap_mb}m",
            "-XX:+UseG1GC",
            f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
            "-cp",
            f"{lib}/*",
        ]
        if not (self.home / "data" / "meta.properties").exists():
            fmt = [*base, "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c"]
            run = subprocess.run([*fmt, str(config)], capture_output=True, text=True, check=False)
            if run.returncode != 0:
                output = (run.stderr or run.stdout)[-300:]
                raise BrokerError(f"formatting KRaft storage failed: {output}")
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [*base, "kafka.Kafka", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        self._await_ready(proc, timeout_s)
        return self.bootstrap

    def _await_ready(self, proc: subprocess.Popen, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        while time.monotonic() < deadline:
            with self.log_file.open("rb") as f:
                f.seek(max(0, offset - 4096))
                if READY_LINE.encode() in f.read():
                    return
            if proc.poll() is not None:
                raise BrokerError(f"Kafka exited with {proc.returncode}: {self._failure(offset)}")
            time.sleep(0.2)
        self.stop()
        raise BrokerError(f"Kafka did not start within {timeout_s:.0f}s; see {self.log_file}")

    def _failure(self, offset: int) -> str:
        """The broker's own reason from this start's log (its first ERROR line and the
        exception under it), not the shutdown lines that follow."""
        with self.log_file.open("rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if " ERROR " in line or " FATAL " in line:
                cause = [x.strip() for x in lines[i + 1 : i + 4] if "Exception" in x]
                return " | ".join([line.strip(), *cause[:1]])
        return " | ".join(line.strip() for line in lines[-5:])

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM (controlled shutdown), SIGKILL after the timeout; False if not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def _container_broker() -> Iterator[str]:
    """apache/kafka in KRaft mode, advertised on a fixed host port so clients can reach it."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    port = free_port()
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }
    container = DockerContainer(CONTAINER_IMAGE).with_bind_ports(9092, port)
    for name, value in env.items():
        container = container.with_env(name, value)
    with container:
        wait_for_logs(container, READY_LINE, timeout=120)
        yield f"127.0.0.1:{port}"


@contextlib.contextmanager
def any_broker(workdir: Path) -> Iterator[str]:
    """A bootstrap address for the life of the block, started here only if needed."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _docker_answers():
        with _container_broker() as bootstrap:
            yield bootstrap
        return
    broker = LocalBroker(workdir, port=free_port())
    try:
        yield broker.start(fresh=True)
    finally:
        broker.stop()
