"""Approval gates through the API: who may decide, requester rule, inputs, timeout, notify, run continues."""

from __future__ import annotations

from support.waiting import wait_for

GATE = """
stages:
  - name: build
    steps: [{run: echo built}]
  - name: gate
    kind: approve
    message: Ship it?
    approvers: {users: [carol], roles: [approver]}
    requester_may_not_approve: true
    inputs: [{name: color, choices: [red, blue], default: red}]
  - name: after
    steps: [{run: 'echo "color=$INPUT_COLOR"'}]
"""


def test_approve_through_api_and_rules(unit_app, penv, as_role):
    penv.project(pipeline=GATE)
    approver = as_role(unit_app, "approver")
    viewer = as_role(unit_app, "viewer")
    run = penv.start(params={"branch": "main"}, requested_by=approver.username)
    penv.wait(run["id"], __import__("shipway.pipelines.states", fromlist=["RunState"]).RunState.WAITING)
    wait_for(lambda: any(e == "approval.waiting" for _n, e, _p in penv.notes.calls), 5)
    listed = viewer.get("/api/v1/approvals").get_json()["approvals"]
    assert listed[0]["stage"] == "gate" and listed[0]["can_decide"] is False
    url = f"/api/v1/runs/{run['id']}/approvals/gate"
    assert viewer.post(url, json={"decision": "approve"}).status_code == 403
    r = approver.post(url, json={"decision": "approve"})  # the requester himself
    assert r.status_code == 403 and "started the run" in r.get_json()["message"]
    dev = as_role(unit_app, "admin")
    assert dev.post(url, json={"decision": "approve", "values": {"color": "green"}}).status_code == 400
    r = dev.post(url, json={"decision": "approve", "comment": "go", "values": {"color": "blue"}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["decided_by"] == dev.username
    assert dev.post(url, json={"decision": "reject"}).status_code == 409
    done = penv.wait(run["id"])
    assert done["status"] == "succeeded"
    assert "color=blue" in penv.log(run["id"])
    assert done["approvals"][0]["status"] == "approved" and done["approvals"][0]["comment"] == "go"


def test_reject_aborts_and_timeout_fails(unit_app, penv, as_role):
    penv.project(pipeline=GATE.replace("requester_may_not_approve: true", "timeout: 1\n    on_timeout: fail"))
    run = penv.start(params={"branch": "main"})
    done = penv.wait(run["id"])
    assert done["status"] == "failed" and done["approvals"][0]["status"] == "timed-out"
    penv.git.commit({".shipway.yml": GATE.replace("requester_may_not_approve: true", "timeout: 1h")}, "long gate")
    penv.git.push()
    run2 = penv.start(params={"branch": "main"})
    from shipway.pipelines.states import RunState
    penv.wait(run2["id"], RunState.WAITING)
    r = as_role(unit_app, "approver").post(f"/api/v1/runs/{run2['id']}/approvals/gate",
                                          json={"decision": "reject", "comment": "no"})
    assert r.status_code == 200
    done = penv.wait(run2["id"])
    assert done["status"] == "aborted"
    assert {s["name"]: s["status"] for s in done["stages"]}.get("after") is None


def test_run_api_and_schema(unit_app, penv, as_role):
    penv.project(pipeline="stages:\n  - name: s\n    steps: [{run: 'echo hi'}]\n")
    dev = as_role(unit_app, "developer")
    r = dev.post("/api/v1/runs", json={"project": "app", "branch": "main"}, headers={"Idempotency-Key": "x1"})
    assert r.status_code == 201
    again = dev.post("/api/v1/runs", json={"project": "app", "branch": "main"}, headers={"Idempotency-Key": "x1"})
    assert again.status_code == 200 and again.get_json()["duplicate"]
    run_id = r.get_json()["id"]
    penv.wait(run_id)
    body = dev.get(f"/api/v1/runs/{run_id}/logs/stream").get_data(as_text=True)
    assert "event: log" in body and "hi" in body and "event: end" in body
    assert unit_app.test_client().get("/api/v1/pipelines/schema.json").get_json()["title"] == "shipway pipeline"
    bad = dev.post("/api/v1/pipelines/lint", data="stages: 3\n")
    assert bad.status_code == 400 and bad.get_json()["details"]["errors"][0]["line"] == 1
    assert dev.post("/api/v1/runs", json={"project": "nope"}).status_code == 404
    page = dev.get(f"/runs/{run_id}")
    assert page.status_code == 200 and b"succeeded" in page.data


def test_approval_page_buttons_and_server_check(unit_app, penv, as_role):
    penv.project(pipeline=GATE.replace("requester_may_not_approve: true", "approvers: {users: [carol]}")
                 .replace("    approvers: {users: [carol], roles: [approver]}\n", ""))
    from shipway.pipelines.states import RunState
    run = penv.start(params={"branch": "main"}, requested_by="someone")
    penv.wait(run["id"], RunState.WAITING)
    viewer, admin = as_role(unit_app, "viewer"), as_role(unit_app, "admin")
    page = viewer.get("/approvals").get_data(as_text=True)
    assert "Ship it?" in page and "disabled" in page and "You cannot decide" in page
    r = viewer.post(f"/runs/{run['id']}/approvals/gate/decide", data={"decision": "approve"})
    assert r.status_code == 403  # the disabled button is a courtesy; the server checks
    page = admin.get("/approvals").get_data(as_text=True)
    assert "You cannot decide" not in page
    r = admin.post(f"/runs/{run['id']}/approvals/gate/decide", data={"decision": "approve", "comment": "ok",
                                                                      "input_color": "blue"})
    assert r.status_code == 302
    done = penv.wait(run["id"])
    assert done["status"] == "succeeded"
    view = viewer.get(f"/runs/{run['id']}").get_data(as_text=True)
    assert "approved by" in view and "ok" in view
