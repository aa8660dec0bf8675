"""The real Docker Engine for tests: every resource a test creates is labelled and removed.

Modelled on docker-py's ``tests/integration/base.py``. Tests create resources
with ``labels=tracker.labels`` (or register ids with ``tracker.track_*``);
teardown removes containers, then networks, volumes and images carrying the
session label or tracked by id.
"""

from __future__ import annotations

import uuid

import docker
from docker.errors import APIError, NotFound

LABEL = "org.shipway.test"
SESSION = uuid.uuid4().hex[:12]


class DockerTracker:
    """Labels for one test and the cleanup of everything carrying them."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.test_id = uuid.uuid4().hex[:12]
        self.labels = {LABEL: SESSION, f"{LABEL}.id": self.test_id}
        self.images: list[str] = []

    def track_image(self, ref: str) -> str:
        self.images.append(ref)
        return ref

    def cleanup(self) -> None:
        sel = {"label": f"{LABEL}.id={self.test_id}"}
        for c in self.client.containers.list(all=True, filters=sel):
            _quiet(lambda: c.remove(force=True, v=True))
        for n in self.client.networks.list(filters=sel):
            _quiet(n.remove)
        for v in self.client.volumes.list(filters=sel):
            _quiet(lambda: v.remove(force=True))
        for img in self.client.images.list(filters=sel):
            _quiet(lambda: self.client.images.remove(img.id, force=True))
        for ref in self.images:
            _quiet(lambda: self.client.images.remove(ref, force=True))


def _quiet(fn) -> None:
    try:
        fn()
    except (NotFound, APIError):
        pass


def engine() -> docker.DockerClient:
    """A client of the real engine, or an error that says how to start one."""
    client = docker.from_env(timeout=120)
    try:
        client.ping()
    except Exception as e:  # noqa: BLE001
        raise RuntimeError(f"the Docker Engine does not answer ({e}); run `make test`, which starts dockerd") from e
    return client
