"""The runtime context: one object holding every shared service of a shipway process.

:class:`Context` owns the settings, the SQL store, the ZooKeeper connection,
the Docker client, the registry address and the supervised local services.
Parts receive the context and register what they need on it:

* ``ctx.add_component(obj)`` — an object with ``start()``/``stop()`` run by
  ``shipway serve`` (controllers, schedulers, executors), started in order
  and stopped in reverse order;
* ``ctx.add_health_check(name, fn)`` — extra ``/readyz`` checks;
* ``ctx.services[name] = obj`` — a part's public service object, so another
  part (or the app) can reach it by name without importing its internals.
"""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path
from typing import Any, Callable, Protocol

from shipway.core import launcher
from shipway.core.auth import Users
from shipway.core.errors import Unavailable
from shipway.core.settings import Settings
from shipway.core.store import Store
from shipway.core.zk import ZkConnection

log = logging.getLogger(__name__)


class Component(Protocol):
    """Something ``shipway serve`` starts and stops."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Context:
    """Shared services of one shipway process. Create with :meth:`from_settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_path: Path = settings.data_path
        self.store = Store(settings.db_url)
        self.users = Users(self.store)
        self.zk: ZkConnection | None = None
        self.zk_hosts = settings.zk
        self.registry_address = settings.registry
        self.local_zk: launcher.Supervised | None = None
        self.local_registry: launcher.Supervised | None = None
        self.services: dict[str, Any] = {}
        self.components: list[Component] = []
        self.health_checks: dict[str, Callable[[], None]] = {}
        self._docker = None
        self._docker_lock = threading.Lock()
        self._started: list[Component] = []

    # -- construction ---------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings) -> "Context":
        settings.data_path.mkdir(parents=True, exist_ok=True)
        if not settings.secret_key:
            settings.secret_key = _load_or_create_secret(settings.data_path / "secret_key")
        return cls(settings)

    def start_local_services(self) -> None:
        """Start the supervised ZooKeeper and registry unless external ones are configured."""
        s = self.settings
        if not s.zk:
            port = s.zk_port or launcher.free_port()
            if s.zk_port and launcher.port_open("127.0.0.1", port):
                raise Unavailable(f"port {port} for the local ZooKeeper is in use; set SHIPWAY_ZK_PORT "
                                  "to a free port or 0")
            self.local_zk = launcher.zookeeper(self.data_path / "zookeeper", port, jar=s.zookeeper_jar)
            self.local_zk.start()
            self.zk_hosts = f"127.0.0.1:{port}"
        if not s.registry:
            port = s.registry_port or launcher.free_port()
            if s.registry_port and launcher.port_open("127.0.0.1", port):
                raise Unavailable(f"port {port} for the local registry is in use; set "
                                  "SHIPWAY_REGISTRY_PORT to a free port or 0")
            self.local_registry = launcher.registry(self.data_path / "registry", port, binary=s.registry_binary)
            self.local_registry.start()
            self.registry_address = f"127.0.0.1:{port}"

    def connect(self) -> None:
        """Create the schema and connect to ZooKeeper."""
        self.store.create_all()
        self.zk = ZkConnection(self.zk_hosts, timeout=self.settings.zk_session_timeout)
        self.zk.start()

    # -- shared clients -------------------------------------------------
    @property
    def docker(self):
        """A lazily created Docker SDK client (``docker.DockerClient``)."""
        with self._docker_lock:
            if self._docker is None:
                import docker
                if self.settings.docker_host:
                    self._docker = docker.DockerClient(base_url=self.settings.docker_host, timeout=120)
                else:
                    self._docker = docker.from_env(timeout=120)
            return self._docker

    @property
    def kazoo(self):
        """The kazoo client of the server's session (raises if not connected yet)."""
        if self.zk is None:
            raise Unavailable("ZooKeeper is not connected yet")
        return self.zk.client

    # -- extension points ---------------------------------------------
    def add_component(self, component: Component) -> None:
        self.components.append(component)

    def add_health_check(self, name: str, check: Callable[[], None]) -> None:
        self.health_checks[name] = check

    # -- lifecycle -----------------------------------------------------
    def start_components(self) -> None:
        for c in self.components:
            c.start()
            self._started.append(c)

    def close(self) -> None:
        """Stop components (reverse order), ZooKeeper client, local services; never raises."""
        for c in reversed(self._started):
            try:
                c.stop()
            except Exception:  # noqa: BLE001 - keep stopping the rest
                log.exception("error stopping %r", c)
        self._started.clear()
        if self.zk:
            self.zk.stop()
        for svc in (self.local_registry, self.local_zk):
            if svc:
                svc.stop()
        if self._docker is not None:
            self._docker.close()
        self.store.dispose()


def _load_or_create_secret(path: Path) -> str:
    if path.is_file():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
