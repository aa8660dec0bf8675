"""Under gevent (as in `shipway serve`) GitPython's `git` processes start on the vfork path, never by forking
the whole server; they stay cooperative (other greenlets run while git works)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r'''
from gevent import monkey; monkey.patch_all()
import json, pathlib, resource, subprocess, sys
import gevent, gevent.subprocess
import git
from shipway.pipelines import source  # installs the vfork Popen for GitPython

def no_fork(*a, **kw):
    raise AssertionError("the whole process was forked")
gevent.subprocess.fork_and_watch = no_fork  # what gevent's own Popen forks with

out = {"popen": git.cmd.safer_popen.__name__}
repo_dir = pathlib.Path(sys.argv[1])
ticks = []
ticker = gevent.spawn(lambda: [ticks.append(1) or gevent.sleep(0.005) for _ in range(400)])
g = git.Git(repo_dir)
g.init("--quiet", "--initial-branch=main")
(repo_dir / ".shipway.yml").write_text("stages: []\n")
g.add(".shipway.yml")
g.execute(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "first"])
out["head"] = g.rev_parse("HEAD")
before = len(ticks)
g.execute(["sh", "-c", "sleep 0.2"])  # a slow command: the ticker keeps going meanwhile
out["ticks_during_sleep"] = len(ticks) - before
try:
    g.cat_file("-e", "0" * 40)
except git.GitCommandError as e:
    out["error_status"] = e.status
# the persistent `git cat-file --batch` of the cache (as_process) reads the pipeline file
out["blob"] = source.read_blob(repo_dir / ".git", out["head"], ".shipway.yml")
try:
    git.cmd.safer_popen(["/nonexistent/program"])
except FileNotFoundError:
    out["missing"] = "FileNotFoundError"
p = git.cmd.safer_popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
out["communicate"] = p.communicate(b"echoed")[0].decode()
out["returncode"] = p.returncode
# preexec_fn needs Python in the child: that one still forks (gevent's own path), and works
gevent.subprocess.fork_and_watch = FORK
p = git.cmd.safer_popen(["true"], preexec_fn=lambda: None)
out["preexec_code"] = p.wait()
print(json.dumps(out))
'''.replace("FORK", "__import__('gevent.os').os.fork_and_watch")


def test_gitpython_runs_git_on_the_vfork_path_under_gevent(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(repo)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["popen"] == "VforkGeventPopen"
    assert len(out["head"]) == 40
    assert out["ticks_during_sleep"] >= 10, out  # cooperative: ~40 ticks of 5 ms in 0.2 s
    assert out["error_status"] == 1  # git's own exit status, as without gevent
    assert out["blob"] == "stages: []\n"
    assert out["missing"] == "FileNotFoundError"
    assert out["communicate"] == "echoed" and out["returncode"] == 0
    assert out["preexec_code"] == 0
