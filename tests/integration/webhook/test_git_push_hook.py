"""A real `git push` to a bare repository whose post-receive hook signs and sends the generic webhook."""

from __future__ import annotations

import shutil
import stat
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from support.waiting import wait_for
from unit.webhook.conftest import SECRET
from unit.webhook.fakes import FakePipelines

HOOK = Path(__file__).with_name("post_receive.py")


@pytest.fixture
def served(unit_app, unit_ctx):
    unit_ctx.services["pipelines"] = FakePipelines()
    unit_ctx.services["projects"].add("demo", "/srv/x.git", webhook_secret=SECRET, branches=["main"])
    server = make_server("127.0.0.1", 0, unit_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", unit_ctx
    server.shutdown()


def test_push_runs_hook_and_queues_one_run(served, git_repo, tmp_path):
    url, ctx = served
    hook = git_repo.bare / "hooks" / "post-receive"
    shutil.copy(HOOK, hook)
    hook.write_text(hook.read_text().replace("#!/usr/bin/env python3", f"#!{sys.executable}", 1))
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    marker = tmp_path / "pwned"
    env = {"SHIPWAY_HOOK_URL": f"{url}/webhooks/generic/demo", "SHIPWAY_HOOK_SECRET": SECRET}
    with git_repo.repo.git.custom_environment(**env):
        sha = git_repo.commit({"src/app.py": "print('hi')\n"}, f"add app $(touch {marker}) `touch {marker}`")
        git_repo.push("main")
        git_repo.repo.git.checkout("-b", "feature;$(id)")
        git_repo.commit({"b.txt": "b"}, "feature work")
        git_repo.repo.git.push("origin", "feature;$(id)")
    pipelines = ctx.services["pipelines"]
    wait_for(lambda: len(ctx.services["webhook_deliveries"].list("demo")) == 2, 10, message="two deliveries")
    [ev] = pipelines.events
    assert ev.commit == sha and ev.branch == "main" and ev.changed_paths == ("src/app.py",) and ev.paths_complete
    assert "$(touch" in ev.message and not marker.exists()
    statuses = [d["status"] for d in ctx.services["webhook_deliveries"].list("demo")]
    assert statuses == ["ignored", "queued"]     # feature branch is not in the project's branches
