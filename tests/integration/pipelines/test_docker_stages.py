"""Container steps, docker build and push to a real registry, through the real engine and ZooKeeper queue."""

from __future__ import annotations

import pytest

from shipway.pipelines.executor import Executor
from shipway.pipelines.queue import ZkRunQueue
from shipway.pipelines.service import PipelineService
from shipway.pipelines.states import RunState
from support.waiting import wait_for

PIPELINE = """
stages:
  - {name: fetch, kind: fetch, depth: 1}
  - name: test
    image: shipway/busybox:latest
    steps:
      - run: 'cat hello.txt; echo "secret=$TOKEN"; test "$(pwd)" = /workspace'
        environment: {TOKEN: {from_secret: tok}}
  - name: build
    kind: build
    image: pipelines-test/app
    tags: ["{commit_short}", "run-{run_number}"]
    build_args: {GREETING: "hi-{branch}"}
  - {name: push, kind: push}
"""
DOCKERFILE = "FROM shipway/busybox:latest\nARG GREETING\nCOPY hello.txt /hello.txt\nRUN echo $GREETING > /greeting\n"


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.zookeeper
def test_container_build_push(ctx, git_repo, docker_client, docker_tracker):
    from shipway.pipelines import project_models  # noqa: F401
    from shipway.pipelines.projects import ProjectService
    ctx.store.create_all()
    ctx.services["projects"] = ProjectService(ctx.store, "k" * 32, None)
    svc = PipelineService(ctx, ZkRunQueue(lambda: ctx.kazoo))
    svc.container_labels = dict(docker_tracker.labels)
    ctx.services["pipelines"] = svc
    ex = Executor(svc)
    ex.start()
    try:
        git_repo.commit({".shipway.yml": PIPELINE, "Dockerfile": DOCKERFILE, "hello.txt": "hello from git\n"}, "app")
        git_repo.push()
        ctx.services["projects"].add("app", git_repo.url, branches=["main"], secrets={"tok": "tok-value-987"})
        run = svc.start_run("app", event=None, trigger="manual", params={"branch": "main"})
        done = wait_for(lambda: (r := svc.run(run["id"], full=True))["status"] in
                        {s.value for s in RunState if s.terminal} and r, 180, message="run finished")
        from shipway.pipelines.logs import read_chunks
        log = "".join(c[2] for c in read_chunks(ctx.store, run["id"], 0, limit=100000))
        assert done["status"] == "succeeded", (done, log)
        assert "hello from git" in log and "secret=***" in log and "tok-value-987" not in log
        push = next(s for s in done["stages"] if s["name"] == "push")
        assert push["detail"]["digest"].startswith("sha256:")
        build = next(s for s in done["stages"] if s["name"] == "build")
        for ref in build["detail"]["refs"]:
            docker_tracker.track_image(ref)
        img = docker_client.images.get(build["detail"]["refs"][0])
        assert img.labels["org.opencontainers.image.revision"] == done["commit"]
        assert build["detail"]["refs"][1].endswith(f":run-{done['number']}")
        assert ctx.registry_address in build["detail"]["refs"][0]
    finally:
        ex.stop()
