"""Fixtures of the end-to-end journeys: a fresh `shipway serve` (own ZooKeeper and registry), a browser."""

from __future__ import annotations

import pytest

from support.browser import launch
from support.journey import Shipway
from support.server import LiveServer


@pytest.fixture
def shipway(tmp_path, docker_tracker, docker_client):
    """A fresh `shipway serve` like `make run` starts it, with the demo set up."""
    labels = ",".join(f"{k}={v}" for k, v in docker_tracker.labels.items())
    server = LiveServer(tmp_path / "shipway", env={"SHIPWAY_ORCHESTRATOR_LABELS": labels})
    server.start(timeout=90)
    sw = Shipway(server)
    try:
        yield sw
    finally:
        for ns in ("staging", "prod"):
            sw.http.delete(sw.url + f"/k8s/apis/apps/v1/namespaces/{ns}/deployments/hello", timeout=30)
        server.stop()
        # Only the images this test's pipelines built: their source label names this test's own
        # repository. (Removing every hello-service image would break other test runs on the engine.)
        mine = (server.data_dir / "demo").as_uri()
        for img in docker_client.images.list(filters={"label": "org.opencontainers.image.source"}):
            if (img.labels or {}).get("org.opencontainers.image.source", "").startswith(mine):
                docker_tracker.track_image(img.id)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


