"""Host steps start through CPython's C ``fork_exec`` directly (pipelines/vfork.py): the same process a
``Popen`` would start — merged output, stdin from /dev/null, its own process group, nothing inherited —
and the same errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipway.pipelines import vfork
from shipway.pipelines.spawn import Child

ENV = {"PATH": "/usr/bin:/bin", "ONLY": "this"}


def _run(argv, cwd, env=ENV) -> tuple[int, bytes]:
    child = Child(argv, cwd, env)
    out = b""
    buf = bytearray(65536)
    while n := child.stdout.readinto(buf):
        out += bytes(buf[:n])
    code = child.wait()
    child.close()
    return code, out


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _zombies() -> list[str]:
    """Children of this process that exited and were never reaped."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            found.append(stat.parent.name)
    return found


def test_the_fast_path_is_the_one_this_interpreter_uses():
    assert vfork.AVAILABLE, "the project's Python should start steps without Popen (see vfork.py)"


def test_the_child_gets_the_given_env_devnull_stdin_merged_output_and_its_own_group(tmp_path):
    script = ('echo "out $ONLY ${HOME:-nohome}"; echo err >&2; cat; '
              'echo "group $(cut -d" " -f5 /proc/$$/stat) self $$"; ls /proc/self/fd | sort -n | tr "\\n" " "')
    code, out = _run(["sh", "-c", script], tmp_path)
    lines = out.decode().splitlines()
    assert code == 0
    assert lines[0] == "out this nohome"  # exactly the env given: nothing of the server's
    assert lines[1] == "err"              # stderr in the same pipe, in order
    group, pid = lines[2].split()[1], lines[2].split()[3]
    assert group == pid                   # its own process group (the watchdog kills the group)
    # `cat` read EOF at once from /dev/null; the fds of `ls` itself: 0, 1, 2 and the one it lists with
    assert lines[3].split() == ["0", "1", "2", "3"]


def test_exit_codes_and_signals_as_popen_reports_them(tmp_path):
    assert _run(["sh", "-c", "exit 3"], tmp_path)[0] == 3
    assert _run(["sh", "-c", "kill -TERM $$"], tmp_path)[0] == -15


def test_a_program_given_by_path_and_the_working_directory(tmp_path):
    (tmp_path / "sub").mkdir()
    code, out = _run(["/bin/pwd"], tmp_path / "sub")
    assert (code, out.decode().strip()) == (0, str(tmp_path / "sub"))


@pytest.mark.parametrize("case", ["missing", "not-executable", "bad-cwd"])
def test_a_child_that_cannot_start_raises_as_popen_and_leaves_nothing(tmp_path, case):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    argv, cwd = {"missing": (["no-such-program-here"], tmp_path),
                 "not-executable": ([str(script)], tmp_path),
                 "bad-cwd": (["true"], tmp_path / "gone")}[case]
    before = _open_fds()
    with pytest.raises(OSError) as err:
        Child(argv, cwd, ENV)
    with pytest.raises(OSError) as popen_err:
        subprocess.Popen(argv, cwd=cwd, env=ENV, stdout=subprocess.PIPE)
    assert type(err.value) is type(popen_err.value)
    assert (err.value.errno, str(err.value.filename)) == (popen_err.value.errno, str(popen_err.value.filename))
    assert _open_fds() == before
    assert not _zombies()  # the failed child was reaped


def test_an_illegal_environment_name_is_refused_before_anything_starts(tmp_path):
    before = _open_fds()
    with pytest.raises(ValueError, match="illegal environment variable name"):
        Child(["true"], tmp_path, {"A=B": "x"})
    assert _open_fds() == before


GEVENT = r'''
from gevent import monkey; monkey.patch_all()
import json, os, pathlib, sys
import gevent
from shipway.pipelines.spawn import Child

ticks = []
ticker = gevent.spawn(lambda: [ticks.append(1) or gevent.sleep(0.005) for _ in range(400)])
def run(argv):
    c = Child(argv, pathlib.Path(sys.argv[1]), {"PATH": "/usr/bin:/bin"})
    out, buf = b"", bytearray(4096)
    while n := c.stdout.readinto(buf):
        out += bytes(buf[:n])
    code = c.wait()
    c.close()
    return code, out.decode()
gevent.sleep(0.01)
before = len(ticks)
res = {"slow": run(["sh", "-c", "sleep 0.2; echo done; exit 4"]), "ticks": len(ticks) - before}
try:
    Child(["no-such-program-here"], pathlib.Path(sys.argv[1]), {"PATH": "/usr/bin:/bin"})
except FileNotFoundError as e:
    res["missing"] = e.filename
res["many"] = [run(["sh", "-c", f"exit {i}"])[0] for i in range(20)]
print(json.dumps(res))
'''


def test_under_gevent_the_server_keeps_running_while_a_step_runs(tmp_path):
    r = subprocess.run([sys.executable, "-c", GEVENT, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["slow"] == [4, "done\n"]
    assert res["ticks"] >= 10  # the event loop ran while the step slept
    assert res["missing"] == "no-such-program-here"
    assert res["many"] == list(range(20))


def test_without_the_fast_path_popen_starts_the_same_child(tmp_path, monkeypatch):
    monkeypatch.setattr(vfork, "AVAILABLE", False)
    code, out = _run(["sh", "-c", "echo $ONLY; echo e >&2; exit 2"], tmp_path)
    assert (code, out) == (2, b"this\ne\n")


def _cpus(text: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Cpus_allowed_list"))


def test_a_step_and_its_children_keep_every_cpu(tmp_path):
    """A step is nudged off the starting thread's core (spawn.move_off_this_cpu), never confined: it and the
    processes it starts are allowed every CPU this server is."""
    with open("/proc/self/status") as f:
        ours = _cpus(f.read())
    code, out = _run(["sh", "-c", "grep Cpus_allowed_list /proc/self/status; sleep 0.05 &"
                      " grep Cpus_allowed_list /proc/$$/status; wait"], tmp_path)
    assert code == 0
    lines = out.decode().splitlines()
    assert len(lines) == 2 and all(_cpus(line) == ours for line in lines), (ours, lines)


def test_a_started_step_is_moved_off_this_cpu(tmp_path):
    """On several CPUs a started process is moved off this thread's CPU with its mask unchanged; on one, left be."""
    from shipway.pipelines import spawn

    proc = subprocess.Popen(["sleep", "5"])
    try:
        for _ in range(20):
            spawn.move_off_this_cpu(proc.pid)
            here = spawn._this_cpu()
            with open(f"/proc/{proc.pid}/stat") as f:
                there = int(f.read().rsplit(")", 1)[1].split()[36])
            if there != here:
                break
        if len(os.sched_getaffinity(0)) > 1:
            assert there != here  # (the server thread itself may move meanwhile: a few tries)
        assert os.sched_getaffinity(proc.pid) == os.sched_getaffinity(0)
    finally:
        proc.kill()
        proc.wait()
    spawn.move_off_this_cpu(proc.pid)  # an ended (reaped) process: nothing happens
