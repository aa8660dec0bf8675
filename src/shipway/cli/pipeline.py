"""``shipway run …``, ``shipway pipeline lint``, ``shipway approve|reject`` (pipelines part)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from shipway.cli.common import api_options, reports_errors
from shipway.cli.project import project  # owned by the webhook/projects engineer


@click.group()
def run() -> None:
    """Start, list, inspect, follow, cancel and re-run pipeline runs."""


def _print_run(r: dict) -> None:
    click.echo(f"run {r['id']} · {r['project']} #{r['number']} · {r['status']}"
               + (f" · {r['branch']}" if r.get("branch") else "") + (f" · {r['commit'][:8]}" if r.get("commit") else ""))
    if r.get("url"):
        click.echo(r["url"])


@run.command("start")
@click.argument("project_name")
@click.option("--branch", help="Branch to build (default: the project's first branch).")
@click.option("--commit", help="Exact commit to build.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Pipeline parameter (repeatable).")
@api_options
@reports_errors
def start(project_name: str, branch: str | None, commit: str | None, params: tuple[str, ...], api) -> None:
    """Start a manual run of PROJECT_NAME."""
    values = {}
    for p in params:
        if "=" not in p:
            raise click.UsageError(f"--param {p!r}: use NAME=VALUE")
        k, v = p.split("=", 1)
        values[k] = v
    body = {"project": project_name, "params": values, "branch": branch, "commit": commit}
    _print_run(api.post("/api/v1/runs", json=body).json())


@run.command("list")
@click.option("--project", "project_name")
@click.option("--status")
@click.option("--json", "as_json", is_flag=True)
@api_options
@reports_errors
def list_(project_name: str | None, status: str | None, as_json: bool, api) -> None:
    """List recent runs."""
    params = {k: v for k, v in {"project": project_name, "status": status}.items() if v}
    runs = api.get("/api/v1/runs", params=params).json()["runs"]
    if as_json:
        click.echo(json.dumps(runs, indent=2))
        return
    for r in runs:
        click.echo(f"{r['id']:>6}  {r['project']:<20} #{r['number']:<5} {r['status']:<22} {r['trigger']:<7} "
                   f"{(r.get('tag') or r.get('branch') or ''):<16} {(r.get('commit') or '')[:8]}")


@run.command("show")
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@api_options
@reports_errors
def show(run_id: int, as_json: bool, api) -> None:
    """Show a run with its stages, steps and approvals."""
    r = api.get(f"/api/v1/runs/{run_id}").json()
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    _print_run(r)
    if r.get("reason"):
        click.echo(f"reason: {r['reason']}")
    for e in r.get("errors") or []:
        click.echo(f"  {e['file']}:{e['line']}:{e['column']} {e['path']}: {e['message']}")
    for st in r.get("stages") or []:
        click.echo(f"  {'  ' if st.get('parent') else ''}{st['name']:<20} {st['kind']:<8} {st['status']}")
        for sp in st["steps"]:
            click.echo(f"      - {sp['name'][:60]:<60} {sp['status']}" +
                       (f" (exit {sp['exit_code']})" if sp.get("exit_code") is not None else ""))
    for a in r.get("approvals") or []:
        click.echo(f"  approval {a['stage']}: {a['status']}" + (f" by {a['decided_by']}" if a.get("decided_by") else ""))


@run.command("logs")
@click.argument("run_id", type=int)
@click.option("-f", "--follow", is_flag=True, help="Stream live until the run ends (SSE).")
@api_options
@reports_errors
def logs(run_id: int, follow: bool, api) -> None:
    """Print a run's log (masked)."""
    if not follow:
        after = 0
        while True:
            data = api.get(f"/api/v1/runs/{run_id}/logs", params={"after": after, "limit": 500}).json()
            for c in data["chunks"]:
                sys.stdout.write(c["text"])
            if not data["chunks"]:
                break
            after = data["next"]
        return
    resp = api.get(f"/api/v1/runs/{run_id}/logs/stream", stream=True, timeout=(10, 3700))
    event = None
    for raw in resp.iter_lines(decode_unicode=True):
        if raw.startswith("event: "):
            event = raw[7:]
        elif raw.startswith("data: "):
            data = json.loads(raw[6:])
            if event == "log":
                sys.stdout.write(data["text"])
                sys.stdout.flush()
            elif event == "end":
                click.echo(f"\nrun {run_id} {data['status']}", err=True)
                sys.exit(0 if data["status"] == "succeeded" else 1)


@run.command("cancel")
@click.argument("run_id", type=int)
@api_options
@reports_errors
def cancel(run_id: int, api) -> None:
    """Cancel a queued, running or waiting run."""
    _print_run(api.post(f"/api/v1/runs/{run_id}/cancel").json())


@run.command("rerun")
@click.argument("run_id", type=int)
@api_options
@reports_errors
def rerun(run_id: int, api) -> None:
    """Start a new run with the same commit and parameters."""
    _print_run(api.post(f"/api/v1/runs/{run_id}/rerun").json())


@click.group()
def pipeline() -> None:
    """Pipeline files."""


@pipeline.command("lint")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@reports_errors
def lint(file: str) -> None:
    """Check FILE locally (schema + semantic checks); every error with line, column and field path."""
    from shipway.pipelines import spec
    spec.load(Path(file).read_text(encoding="utf-8"), file)
    click.echo(f"{file}: ok")


def _decide(decision: str):
    @click.argument("run_id", type=int)
    @click.argument("stage")
    @click.option("-m", "--comment", default="", help="Comment recorded with the decision.")
    @click.option("--input", "inputs", multiple=True, metavar="NAME=VALUE", help="Approval input (repeatable).")
    @api_options
    @reports_errors
    def cmd(run_id: int, stage: str, comment: str, inputs: tuple[str, ...], api) -> None:
        values = dict(i.split("=", 1) for i in inputs if "=" in i)
        a = api.post(f"/api/v1/runs/{run_id}/approvals/{stage}",
                     json={"decision": decision, "comment": comment, "values": values}).json()
        click.echo(f"run {run_id} stage {stage}: {a['status']} by {a['decided_by']}")
    return cmd


approve = click.command("approve", help="Approve STAGE of RUN_ID.")(_decide("approve"))
reject = click.command("reject", help="Reject STAGE of RUN_ID (the run is aborted).")(_decide("reject"))

#: click commands or groups this module contributes.
commands: list = [project, run, pipeline, approve, reject]
