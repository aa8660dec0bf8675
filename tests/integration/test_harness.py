"""The harness itself: real ZooKeeper chroots and faults, Docker cleanup, registry, git."""

import subprocess

import pytest
import requests
from kazoo.client import KazooState

from support.waiting import wait_for

pytestmark = [pytest.mark.zookeeper]


def test_chroot_is_isolated(zk, zk_hosts):
    zk.create("/hello", b"world")
    assert zk.get("/hello")[0] == b"world"
    assert zk_hosts.rsplit("/", 1)[1].startswith("test-")


def test_expire_session_loses_ephemerals(zk, zk_faults):
    zk.create("/eph", b"x", ephemeral=True)
    zk_faults.expire_session(zk)
    wait_for(lambda: zk.state == KazooState.CONNECTED, 15, message="reconnect with a new session")
    assert zk.exists("/eph") is None


def test_lose_connection_keeps_session(zk, zk_faults):
    zk.create("/eph2", b"x", ephemeral=True)
    states = []
    zk.add_listener(states.append)
    zk_faults.lose_connection(zk)
    wait_for(lambda: KazooState.SUSPENDED in states and zk.state == KazooState.CONNECTED, 15,
             message="suspend and reconnect")
    assert zk.exists("/eph2") is not None


@pytest.mark.docker
def test_docker_resources_are_labelled_and_removed(docker_client, docker_tracker):
    c = docker_client.containers.create("shipway/busybox:latest", ["true"], labels=docker_tracker.labels)
    docker_tracker.cleanup()
    assert not docker_client.containers.list(all=True, filters={"id": c.id})


@pytest.mark.docker
def test_base_images_exist_and_run(docker_client, docker_tracker):
    out = docker_client.containers.run("shipway/busybox:latest", ["echo", "hi"], labels=docker_tracker.labels)
    assert out.strip() == b"hi"
    out = docker_client.containers.run("shipway/python:3.11", ["python3", "-c", "import sys; print(sys.version[:4])"],
                                       labels=docker_tracker.labels)
    assert out.strip() == b"3.11"


@pytest.mark.docker
@pytest.mark.registry
def test_push_to_registry(docker_client, docker_tracker, registry_server):
    ref = docker_tracker.track_image(f"{registry_server}/harness/busybox:t1")
    docker_client.images.get("shipway/busybox:latest").tag(ref)
    docker_client.images.push(ref)
    tags = requests.get(f"http://{registry_server}/v2/harness/busybox/tags/list", timeout=5).json()
    assert "t1" in tags["tags"]


def test_git_repo(git_repo):
    sha = git_repo.commit({"app.py": "print('x')\n"}, "add app")
    git_repo.push()
    out = subprocess.run(["git", "--git-dir", str(git_repo.bare), "rev-parse", "main"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == sha
