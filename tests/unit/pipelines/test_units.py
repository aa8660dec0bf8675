"""Masking, expressions, spec errors, states, schema docs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from shipway.core.errors import ValidationFailed
from shipway.pipelines import spec
from shipway.pipelines.masking import Masker
from shipway.pipelines.schema import documented_properties
from shipway.pipelines.states import IllegalTransition, RunState, check_transition
from shipway.pipelines.when import ExpressionError, evaluate, holds, parse_expression


def _mask_all(secrets, pieces):
    m = Masker(secrets)
    return "".join(m.write(p) for p in pieces) + m.close()


def test_secret_split_across_writes_is_masked():
    secret = "hunter2-very-secret"
    text = f"before {secret} middle {secret} after"
    for cut in range(1, len(text)):
        out = _mask_all([secret], [text[:cut], text[cut:]])
        assert secret not in out and out == "before *** middle *** after"
    out = _mask_all([secret], list(text))  # one character per write
    assert out == "before *** middle *** after"


def test_masker_passes_a_line_on_at_once_and_holds_back_only_a_possible_secret_start():
    m = Masker(["hunter2-very-secret"])
    assert m.write("build ok\n") == "build ok\n"  # live logs are not a line behind
    assert m.write("token hun") == "token "       # 'hun' may begin the secret: held until the next write
    assert m.write("ter2-very-secret!\n") == "***!\n"
    assert m.write("hunting season") == "hunting season"
    assert m.close() == ""


def test_masker_random_pieces_never_leak_and_match_whole_masking():
    import random
    rnd = random.Random(7)
    for _ in range(300):
        secret = "".join(rnd.choice("abc") for _ in range(rnd.randint(3, 7)))
        text = "".join(rnd.choice(["a", "b", "c", "x", "\n", secret]) for _ in range(rnd.randint(0, 40)))
        cuts = sorted(rnd.sample(range(len(text) + 1), min(len(text) + 1, rnd.randint(0, 6))))
        pieces = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)])]
        out = _mask_all([secret], pieces)
        assert secret not in out, (secret, pieces, out)
        assert out == text.replace(secret, "***") or secret[0] == secret[-1], (secret, pieces, out)


def test_multiline_secret_masked_whole_and_by_line():
    key = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFFGGGG\n-----END KEY-----"
    out = _mask_all([key], [f"x {key} y\n", "line EEEEFFFFGGGG alone\n"])
    assert "AAAABBBB" not in out and "EEEEFFFFGGGG" not in out


def test_masker_handles_utf8_split():
    m = Masker(["pässwörd"])
    data = "a pässwörd b".encode()
    out = "".join(m.write_bytes(data[i:i + 1]) for i in range(len(data))) + m.close()
    assert out == "a *** b"


def test_expressions_are_parsed_not_evaluated():
    names = {"branch": "main", "params": {"n": 3}, "event": "push"}
    assert evaluate("branch == 'main' and params.n >= 2", names)
    assert evaluate("not (event in ['tag', 'cron'])", names)
    assert evaluate("event not in ['tag']", names)
    assert not evaluate("branch != 'main' or params.n < 1", names)
    for bad in ("__import__('os')", "branch ==", "a.b(1)", "1 +", "branch; x"):
        with pytest.raises(ExpressionError):
            parse_expression(bad)


def test_when_combinators():
    facts = {"branch": "release/1", "tag": None, "event": "push", "changed_paths": ["src/a.py"], "env": {"X": "1"}}
    assert holds({"branch": "release/*", "changeset": "src/**"}, facts)
    assert holds({"any": [{"tag": "v*"}, {"event": ["push"]}]}, facts)
    assert not holds({"not": {"environment": {"X": "1"}}}, facts)
    assert holds({"changeset": "docs/*"}, dict(facts, changed_paths=None))  # unknown paths: run


def test_every_error_has_file_line_column_and_path():
    text = """name: x
stages:
  - name: a
    steps:
      - run: echo
        timeout: soon
      - argv: []
  - name: b
    kind: deploy
    when: {expression: "branch =="}
  - name: a
    kind: bogus
"""
    with pytest.raises(ValidationFailed) as e:
        spec.load(text, "ci.yml")
    errs = e.value.details["errors"]
    by_path = {x["path"]: x for x in errs}
    assert by_path["stages[0].steps[0].timeout"]["line"] == 6
    assert by_path["stages[0].steps[1].argv"]["line"] == 7
    assert by_path["stages[2].kind"]["line"] == 12
    assert all(x["file"] == "ci.yml" and x["column"] >= 1 for x in errs)


def test_semantic_errors():
    text = """stages:
  - name: a
    steps: [{run: x}]
  - name: a
    kind: build
    image: app
    dockerfile: ../../etc/passwd
    tags: ["{commit_short}", "{nope}"]
  - name: p
    parallel:
      - {name: gate, kind: approve}
triggers:
  cron: [{schedule: "61 * * * *"}]
"""
    with pytest.raises(ValidationFailed) as e:
        spec.load(text)
    msgs = {x["path"]: x["message"] for x in e.value.details["errors"]}
    assert "duplicate stage name" in msgs["stages[1].name"]
    assert "inside the workspace" in msgs["stages[1].dockerfile"]
    assert "{nope}" in msgs["stages[1].tags[1]"]
    assert "parallel" in msgs["stages[2].parallel[0].kind"]
    assert "crontab" in msgs["triggers.cron[0].schedule"]


def test_duplicate_keys_and_yaml_syntax():
    with pytest.raises(ValidationFailed) as e:
        spec.load("stages: []\nstages: []\n")
    assert e.value.details["errors"][0]["line"] == 2
    with pytest.raises(ValidationFailed) as e:
        spec.load("stages:\n  - name: [a\n")
    assert e.value.details["errors"][0]["line"] >= 2


def test_state_transitions():
    assert check_transition("queued", "running") is RunState.RUNNING
    assert check_transition("running", "waiting-for-approval") is RunState.WAITING
    for a, b in (("succeeded", "running"), ("queued", "succeeded"), ("aborted", "queued")):
        with pytest.raises(IllegalTransition):
            check_transition(a, b)


def test_every_schema_property_is_documented():
    doc = (Path(__file__).resolve().parents[3] / "docs" / "pipelines.md").read_text()
    documented = set(re.findall(r"`([a-z_]+)`", doc))
    missing = sorted(documented_properties() - documented)
    assert not missing, f"docs/pipelines.md does not mention {missing}"


def test_paths_cannot_escape_the_workspace_even_through_symlinks(tmp_path):
    from shipway.pipelines.deploy import manifest_files
    from shipway.pipelines.source import inside
    ws = tmp_path / "ws"
    (ws / "k8s").mkdir(parents=True)
    (ws / "k8s" / "app.yaml").write_text("kind: Service\nmetadata: {name: a}\n")
    outside = tmp_path / "secret.yaml"
    outside.write_text("kind: Secret\nmetadata: {name: s}\n")
    (ws / "k8s" / "link.yaml").symlink_to(outside)
    (ws / "escape").symlink_to(tmp_path)
    assert inside(ws, "k8s/app.yaml") == (ws / "k8s" / "app.yaml").resolve()
    for bad in ("../secret.yaml", "/etc/passwd", "escape/secret.yaml", "k8s/link.yaml"):
        with pytest.raises(ValueError):
            inside(ws, bad)
    with pytest.raises(ValueError):
        manifest_files(ws, ["k8s/*.yaml"])  # the glob reaches the symlink that points outside
    assert manifest_files(ws, "k8s/app.yaml") == [(ws / "k8s" / "app.yaml").resolve()]


class _Journal:
    """Captures what a LogWriter hands on (instead of storing it)."""

    def __init__(self) -> None:
        self.text = ""

    def chunk(self, step_id, data, op=None):
        for piece in data:  # the writer hands on a list of pieces, each of whole UTF-8 characters:
            self.text += piece.decode("utf-8")  # this would raise otherwise

    def step(self, step_id, **values):
        pass

    def op(self, fn):
        pass

    def flush_if_due(self):
        pass

    def flush(self, extra=None):
        pass


def test_log_limit_cut_never_leaks_part_of_a_secret():
    from shipway.pipelines.logs import LogWriter
    secret = "sk-ABCDEFGHIJKLMNOP"
    data = (f"x {secret} y\n" * 20).encode()
    for limit in range(1, 120, 3):
        for piece in (1, 7, 64):
            j = _Journal()
            w = LogWriter(None, None, 1, 1, [secret], journal=j, limit=limit)
            for i in range(0, len(data), piece):
                w.write_bytes(data[i:i + piece])
            w.close()
            stored = j.text.split("\n[shipway] log truncated")[0]
            assert "sk-ABC" not in j.text and len(stored.encode()) <= limit, (limit, piece, j.text)
            assert "[shipway] log truncated" in j.text


def test_a_big_write_across_the_limit_still_fills_the_log_when_masking_shrinks_it():
    from shipway.pipelines.logs import LogWriter
    secret = "SECRET-0123456789abcdef"
    data = (f"{secret} {secret}\n" * 5000).encode()  # masking shrinks it to a fifth
    j = _Journal()
    w = LogWriter(None, None, 1, 1, [secret], journal=j, limit=1000)
    w.write_bytes(memoryview(data))  # one read far past the limit, as the pump hands it on
    w.close()
    stored = j.text.split("\n[shipway] log truncated")[0]
    assert secret[:8] not in j.text and 1000 - len(secret) <= len(stored.encode()) <= 1000
    assert stored.startswith("*** ***\n*** ***\n") and w.truncated and w.discarded > len(data) - 1000 * 8


def test_output_past_the_log_limit_is_counted_to_the_byte_and_the_exit_code_kept(tmp_path, monkeypatch):
    """The drain (splice into /dev/null, or reads where splice is refused) throws away exactly what the
    step printed past its limit; the step runs to its end and its exit code still decides."""
    from shipway.pipelines import commands, pump
    from shipway.pipelines.logs import LogWriter
    argv = ["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a; exit 3"]

    def refuse(*_a, **_kw):  # where splice is refused (not a pipe, an old kernel): read and count
        raise OSError(22, "Invalid argument")
    for splice in (True, False):
        if not splice:
            monkeypatch.setattr(pump.os, "splice", refuse)
        j = _Journal()
        w = LogWriter(None, None, 1, 1, ["SECRETXYZ"], journal=j, limit=1000)
        out = commands.run_host(argv, cwd=tmp_path, env=commands.base_env({}), writer=w,
                                ctl=commands.Control(), deadline=None)
        assert out.status == "failed" and out.exit_code == 3
        assert w.truncated and w.discarded == 3000000 - 1000, (splice, w.discarded)


def test_the_splice_drain_waits_without_spinning_on_a_non_blocking_pipe():
    """The drain's native thread waits in the kernel for a slow producer, even if the pipe it was handed is
    non-blocking (under gevent the pipe is made blocking for it; a leftover flag must not make it spin)."""
    import threading
    import time
    from shipway.pipelines import pump
    r, w = os.pipe()
    os.set_blocking(r, False)

    def produce():
        time.sleep(0.3)
        os.write(w, b"x" * 10000)
        os.close(w)
    t = threading.Thread(target=produce)
    t.start()
    cpu = time.thread_time()
    try:
        assert pump.splice_rest(r) == (10000, True)
    finally:
        t.join()
        os.close(r)
    assert time.thread_time() - cpu < 0.1  # waited, not spun for 0.3 s


def test_drain_threads_give_way_to_everything_else():
    """The pool's drain threads run at nice DRAIN_NICE (discarded output must not take a CPU from the step)."""
    import threading
    from shipway.pipelines import pump
    def nice() -> int:
        with open(f"/proc/self/task/{threading.get_native_id()}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[16])
    before = nice()
    r, w = os.pipe()
    os.write(w, b"y" * 5000)
    os.close(w)
    seen = {}

    def drain():
        seen["result"] = pump._splice_rest_niced(r)
        seen["nice"] = nice()
    t = threading.Thread(target=drain)
    t.start()
    t.join()
    os.close(r)
    assert seen["result"] == (5000, True)
    assert seen["nice"] >= pump.DRAIN_NICE  # (higher already if the tests themselves run niced)
    assert nice() == before  # only that thread


def test_byte_masker_multiline_and_split_secrets_in_bytes():
    from shipway.pipelines.masking import ByteMasker
    key = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFFGGGG\n-----END KEY-----"
    data = f"a {key} b\r\n{key.replace(chr(10), chr(13) + chr(10))} c EEEEFFFFGGGG\n".encode()
    for piece in (1, 2, 5, 13, 1000):
        m = ByteMasker([key])
        out = b"".join(m.write(data[i:i + piece]) for i in range(0, len(data), piece)) + m.close()
        assert b"AAAABBBB" not in out and b"EEEEFFFF" not in out and b"BEGIN KEY" not in out
        assert out.startswith(b"a ***") and out.endswith(b" c ***\n")


def test_log_file_index_resume_and_legacy_chunks(unit_ctx, tmp_path):
    from shipway.pipelines import models
    from shipway.pipelines.logs import Journal, LogBroker, LogWriter, read_chunks
    store = unit_ctx.store
    j = Journal(store, LogBroker(), 7, tmp_path / "logs")
    w1 = LogWriter(store, None, 7, 1, ["s3cret-x"], journal=j, limit=0)
    w1.write_bytes("héllo s3cret-x\n".encode())
    w1.close()
    w2 = LogWriter(store, None, 7, 2, [], journal=j, limit=0)
    w2.write_bytes(b"second\n")
    w2.close()
    assert read_chunks(store, 7) == []  # nothing indexed before the flush: readers only see what SQL holds
    j.close()
    chunks = read_chunks(store, 7)
    assert [(c[1], c[2]) for c in chunks] == [(1, "héllo ***\n"), (2, "second\n")]
    assert read_chunks(store, 7, after=chunks[0][0]) == [chunks[1]]
    assert read_chunks(store, 7, step_id=2) == [chunks[1]]
    assert (tmp_path / "logs" / "7.log").read_bytes() == "héllo ***\nsecond\n".encode()
    again = Journal(store, None, 7, tmp_path / "logs")  # resumed after an approval / a restart: appends
    again.chunk(None, [b"resumed\n"])
    again.close()
    assert read_chunks(store, 7)[-1][1:] == (None, "resumed\n")
    with store.session() as s:  # a run logged before log files existed
        s.add(models.LogChunk(run_id=8, step_id=None, text="old line\n"))
    assert [c[2] for c in read_chunks(store, 8)] == ["old line\n"]


GEVENT_SCRIPT = r'''
from gevent import monkey; monkey.patch_all()
import json, pathlib, sys
import gevent
from shipway.pipelines import commands
from shipway.pipelines.logs import LogWriter

class J:  # a journal that keeps what it is given
    def __init__(self): self.data = b""
    def chunk(self, step_id, data, op=None): self.data += b''.join(data)
    def op(self, fn): pass
    def step(self, step_id, **values): pass
    def flush_if_due(self): pass
    def flush(self, extra=None): pass

ticks = []
ticker = gevent.spawn(lambda: [ticks.append(1) or gevent.sleep(0.01) for _ in range(30)])
out = {}
for limit in (0, 1000):
    j = J()
    w = LogWriter(None, None, 1, 1, ["SECRETXYZ"], journal=j, limit=limit)
    res = commands.run_host(["sh", "-c", "for i in 1 2 3; do echo line $i SECRETXYZ; sleep 0.05; done; "
                             "yes abc | head -c 300000"], cwd=pathlib.Path("."), env={"PATH": "/usr/bin:/bin"},
                            writer=w, ctl=commands.Control(), deadline=None)
    w.close()
    out[limit] = {"status": res.status, "size": len(j.data), "head": j.data[:33].decode(),
                  "secret": b"SECRETXYZ" in j.data, "discarded": w.discarded}
out["ticks"] = len(ticks)
import time
w = LogWriter(None, None, 1, 2, [], journal=J(), limit=0)
out["exit3"] = commands.run_host(["sh", "-c", "exit 3"], cwd=pathlib.Path("."), env={"PATH": "/usr/bin:/bin"},
                                 writer=w, ctl=commands.Control(), deadline=None).exit_code
t0 = time.monotonic()
res = commands.run_host(["sleep", "20"], cwd=pathlib.Path("."), env={"PATH": "/usr/bin:/bin"}, writer=w,
                        ctl=commands.Control(), deadline=time.monotonic() + 0.3)
out["timeout"] = [res.status, res.exit_code, round(time.monotonic() - t0, 1)]
out["missing"] = commands.run_host(["/nonexistent/prog"], cwd=pathlib.Path("."), env={}, writer=w,
                                   ctl=commands.Control(), deadline=None).status
# a step printing without a break, stored whole: the event loop keeps turning while it is masked and stored
beats, beating = [], True
def beat():
    while beating:
        beats.append(time.perf_counter())
        gevent.sleep(0.001)
beater = gevent.spawn(beat)
gevent.sleep(0.01)
t0 = time.perf_counter()
w = LogWriter(None, None, 1, 3, ["SECRETXYZ"], journal=J(), limit=0)
commands.run_host(["sh", "-c", "yes 'a line SECRETXYZ' | head -c 30000000"], cwd=pathlib.Path("."),
                  env={"PATH": "/usr/bin:/bin"}, writer=w, ctl=commands.Control(), deadline=None)
t1 = time.perf_counter()
beating = False
beater.join()
during = [b for b in beats if t0 <= b <= t1]
out["chatty"] = {"step": t1 - t0, "beats": len(during),
                 "max_gap": max(b - a for a, b in zip([t0] + during, during + [t1]))}
print(json.dumps(out))
'''


def test_host_steps_under_gevent_monkey_patching(tmp_path):
    """`shipway serve` runs monkey-patched: spawning (vfork, not gevent's fork), the pump (readinto + select)
    and waiting for the exit status must work and be cooperative there too."""
    import json
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    full, capped = out["0"], out["1000"]
    assert full["status"] == "succeeded" and full["head"] == "line 1 ***\nline 2 ***\nline 3 ***\n"
    assert full["size"] == 33 + 300000 and not full["secret"]
    assert capped["status"] == "succeeded" and capped["size"] < 1300 and capped["discarded"] > 290000
    assert out["ticks"] >= 10  # other greenlets ran while the steps were read
    # the vfork path under gevent (spawn.py): exit codes, kills and exec failures come through
    assert out["exit3"] == 3
    assert out["timeout"][0] == "timed-out" and out["timeout"][1] == -9 and out["timeout"][2] < 5
    assert out["missing"] == "failed"
    # the pump pauses between hand-offs: no stall of the whole server for as long as a chatty step prints
    chatty = out["chatty"]
    assert chatty["beats"] >= 5 and chatty["max_gap"] < chatty["step"] / 3, chatty


def test_journal_writes_pieces_in_order_when_writev_writes_less(tmp_path, monkeypatch):
    from shipway.pipelines import journal
    real = journal.os.writev
    monkeypatch.setattr(journal.os, "writev", lambda fd, views: real(fd, [bytes(b"".join(views))[:3]]))
    fd = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT)
    try:
        assert journal._write_all(fd, [b"ab", b"", b"cdefg", b"h"]) == 8
    finally:
        os.close(fd)
    assert (tmp_path / "log").read_bytes() == b"abcdefgh"
