"""The JSON Schema of a pipeline file (``.shipway.yml``).

Served at ``/api/v1/pipelines/schema.json`` so editors (yaml-language-server,
VS Code, JetBrains) can complete and check pipeline files. Every property has
a ``description``: docs/pipelines.md is checked against them by a unit test.
"""

from __future__ import annotations

import copy
from typing import Any

DURATION = {"description": "Seconds (number) or a duration such as '90s', '5m', '1h'.",
            "oneOf": [{"type": "number", "exclusiveMinimum": 0},
                      {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"}]}
SIZE = {"description": "Bytes (integer) or a size such as '512KiB', '4MiB', '1GB'; 0 = no limit.",
        "oneOf": [{"type": "integer", "minimum": 0},
                  {"type": "string", "pattern": r"^\s*\d+\s*([kKmMgG]i?[bB]?|[bB])?\s*$"}]}
STR_LIST = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
ENV = {"description": "Environment variables: a string value, or {from_secret: NAME} for a project secret "
                      "(masked in logs).",
       "type": "object", "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
       "additionalProperties": {"oneOf": [
           {"type": ["string", "number", "boolean"]},
           {"type": "object", "required": ["from_secret"], "additionalProperties": False,
            "properties": {"from_secret": {"type": "string", "description": "Name of a project secret."}}}]}}

WHEN: dict[str, Any] = {
    "description": "Run the stage only when the condition holds. Keys in one mapping must all hold.",
    "type": "object", "additionalProperties": False,
    "properties": {
        "branch": dict(STR_LIST, description="Glob(s) the branch must match."),
        "tag": dict(STR_LIST, description="Glob(s) the tag must match (tag runs only)."),
        "event": dict(STR_LIST, description="Trigger(s): push, tag, manual, cron, rerun."),
        "changeset": dict(STR_LIST, description="Glob(s); at least one changed path must match."),
        "environment": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "Variables that must have exactly these values."},
        "expression": {"type": "string", "description": "A small expression: names (branch, tag, event, "
                       "commit, params.X, env.X), string/number/bool literals, == != < <= > >= in, "
                       "and/or/not, parentheses. Never evaluated by Python's eval."},
        "all": {"type": "array", "items": {"$ref": "#/$defs/when"}, "description": "All must hold."},
        "any": {"type": "array", "items": {"$ref": "#/$defs/when"}, "description": "At least one must hold."},
        "not": {"$ref": "#/$defs/when", "description": "Must not hold."},
    },
}

STEP: dict[str, Any] = {
    "description": "A command: `run` is a script given to `sh -c`, `argv` a program and its arguments.",
    "type": "object", "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "description": "Shown in the run view and logs."},
        "run": {"type": "string", "description": "Shell script run with `sh -c`."},
        "argv": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                 "description": "Program and arguments, run without a shell."},
        "image": {"type": "string", "description": "Run inside this container image with the workspace "
                                                   "mounted at /workspace (default: on the host)."},
        "environment": ENV,
        "timeout": DURATION,
        "retry": {"type": "integer", "minimum": 0, "maximum": 10,
                  "description": "Extra attempts when the step fails."},
        "junit": dict(STR_LIST, description="Glob(s) of JUnit XML reports (relative to the workspace) "
                                            "collected after the step."),
        "workdir": {"type": "string", "description": "Directory inside the workspace to run in."},
        "continue_on_error": {"type": "boolean", "description": "A failure does not fail the stage."},
        "log_limit": dict(SIZE, description="Most output stored for this step (default: the pipeline's "
                                            "log_limit); the rest is discarded with a 'log truncated' line."),
    },
}
POST = {"description": "Steps run after the stage/pipeline by outcome.",
        "type": "object", "additionalProperties": False,
        "properties": {k: {"type": "array", "items": {"$ref": "#/$defs/step"},
                           "description": d} for k, d in (
            ("always", "Always run."), ("success", "Run when it succeeded."),
            ("failure", "Run when it failed or timed out."), ("aborted", "Run when it was cancelled/rejected."),
            ("changed", "Run when the outcome differs from the previous run of the project."))}}

STAGE: dict[str, Any] = {
    "description": "A stage: `kind` decides what it does (default `command`).",
    "type": "object", "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$",
                 "description": "Unique stage name (used in approval URLs)."},
        "kind": {"enum": ["command", "test", "fetch", "build", "push", "deploy", "approve"],
                 "description": "command/test: steps; fetch: git clone at the commit; build: docker build; "
                                "push: push the built image; deploy: apply Kubernetes manifests; "
                                "approve: wait for a person."},
        "parallel": {"type": "array", "items": {"$ref": "#/$defs/stage"}, "minItems": 1,
                     "description": "Stages run at the same time; this stage succeeds when all do."},
        "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}, "description": "Commands, in order."},
        "image": {"type": "string", "description": "command: default container image of the steps; "
                                                   "build: repository name of the built image."},
        "environment": ENV,
        "when": {"$ref": "#/$defs/when"},
        "post": {"$ref": "#/$defs/post"},
        "timeout": DURATION,
        "retry": {"type": "integer", "minimum": 0, "maximum": 10, "description": "Extra attempts of the stage."},
        # fetch
        "depth": {"type": "integer", "minimum": 0, "description": "fetch: history depth (0 = full)."},
        "submodules": {"type": "boolean", "description": "fetch: also update submodules."},
        # build
        "context": {"type": "string", "description": "build: build context inside the workspace; "
                                                     "deploy: kubeconfig context name."},
        "dockerfile": {"type": "string", "description": "build: Dockerfile path inside the workspace."},
        "build_args": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "build: --build-arg values (templated)."},
        "target": {"type": "string", "description": "build: target stage of a multi-stage Dockerfile."},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                 "description": "build: tags, templated with {commit_short} {commit} {branch} {tag} "
                                "{run_number} {project}."},
        "labels": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "build: extra image labels (commit and source are always added)."},
        # push
        "registry": {"type": "string", "description": "push: registry host:port (default: shipway's)."},
        "credentials": {"type": "object", "additionalProperties": False,
                        "description": "push: registry login from project secrets.",
                        "properties": {"username": {"type": "string", "description": "User name."},
                                       "password": {"$ref": "#/$defs/secretref"}}},
        # deploy
        "manifests": dict(STR_LIST, description="deploy: manifest file(s)/glob(s) inside the workspace."),
        "namespace": {"type": "string", "description": "deploy: namespace for objects that name none."},
        "container": {"type": "string", "description": "deploy: container whose image is replaced "
                                                       "(default: every container)."},
        "kubeconfig": {"$ref": "#/$defs/secretref",
                       "description": "deploy: a project secret holding the kubeconfig (YAML) of the target "
                                      "cluster; `context` picks its context (default: shipway's own orchestrator)."},
        "rollout_timeout": DURATION,
        # approve
        "message": {"type": "string", "description": "approve: what is being approved."},
        "approvers": {"type": "object", "additionalProperties": False,
                      "description": "approve: who may decide (admins always may).",
                      "properties": {"users": {"type": "array", "items": {"type": "string"},
                                               "description": "User names."},
                                     "roles": {"type": "array", "items": {"type": "string"},
                                               "description": "Roles (approver, developer, ...)."}}},
        "requester_may_not_approve": {"type": "boolean",
                                      "description": "approve: who started the run may not approve it."},
        "on_timeout": {"enum": ["abort", "fail"], "description": "approve: outcome when nobody decides in time."},
        "inputs": {"type": "array", "description": "approve: fields the approver fills in.",
                   "items": {"type": "object", "required": ["name"], "additionalProperties": False,
                             "properties": {"name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                                                     "description": "Field name."},
                                            "description": {"type": "string", "description": "Help text."},
                                            "default": {"type": "string", "description": "Default value."},
                                            "choices": {"type": "array", "items": {"type": "string"},
                                                        "description": "Allowed values."}}}},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://shipway.local/schemas/pipeline.json",
    "title": "shipway pipeline",
    "type": "object", "additionalProperties": False, "required": ["stages"],
    "properties": {
        "name": {"type": "string", "description": "Pipeline name (shown in the console)."},
        "triggers": {"type": "object", "additionalProperties": False, "description": "What starts runs.",
                     "properties": {
                         "push": {"description": "Branch pushes (true, or filters).",
                                  "oneOf": [{"type": "boolean"},
                                            {"type": "object", "additionalProperties": False,
                                             "properties": {"branches": dict(STR_LIST, description="Branch globs."),
                                                            "paths": dict(STR_LIST, description="Path globs.")}}]},
                         "tag": {"description": "Tag pushes (true, or tag globs).",
                                 "oneOf": [{"type": "boolean"},
                                           {"type": "object", "additionalProperties": False,
                                            "properties": {"tags": dict(STR_LIST, description="Tag globs.")}}]},
                         "manual": {"type": "boolean", "description": "Allow runs started by hand (default true)."},
                         "cron": {"type": "array", "description": "Scheduled runs.",
                                  "items": {"type": "object", "required": ["schedule"], "additionalProperties": False,
                                            "properties": {"schedule": {"type": "string", "description":
                                                                        "Five-field crontab expression (UTC)."},
                                                           "branch": {"type": "string", "description":
                                                                      "Branch to build (default main)."}}}}}},
        "parameters": {"type": "array", "description": "Parameters of manual runs (env PARAM_<NAME>).",
                       "items": {"type": "object", "required": ["name"], "additionalProperties": False,
                                 "properties": {"name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                                                         "description": "Parameter name."},
                                                "type": {"enum": ["string", "choice", "boolean"],
                                                         "description": "Kind of value."},
                                                "default": {"type": ["string", "boolean"],
                                                            "description": "Value when not given."},
                                                "choices": {"type": "array", "items": {"type": "string"},
                                                            "description": "Allowed values (choice)."},
                                                "description": {"type": "string", "description": "Help text."}}}},
        "environment": ENV,
        "timeout": DURATION,
        "log_limit": dict(SIZE, description="Most output stored per step (default 4MiB, or the server's "
                                            "SHIPWAY_LOG_LIMIT); 0 = no limit."),
        "concurrency": {"type": "object", "required": ["group"], "additionalProperties": False,
                        "description": "Runs of one group do not overlap.",
                        "properties": {"group": {"type": "string", "description": "Group name, templated "
                                                 "with {project} {branch}."},
                                       "mode": {"enum": ["queue", "cancel-in-progress"],
                                                "description": "Wait for the running one, or cancel it."}}},
        "stages": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/stage"},
                   "description": "Stages, in order."},
        "post": {"$ref": "#/$defs/post"},
    },
    "$defs": {"stage": STAGE, "step": STEP, "when": WHEN, "post": POST,
              "secretref": {"type": "object", "required": ["from_secret"], "additionalProperties": False,
                            "description": "A value taken from a project secret.",
                            "properties": {"from_secret": {"type": "string", "description": "Secret name."}}}},
}


def schema() -> dict[str, Any]:
    """A copy of the schema (callers may not mutate the module's)."""
    return copy.deepcopy(SCHEMA)


def documented_properties() -> set[str]:
    """Every property name the schema declares (for the docs check)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in (node.get("properties") or {}).items():
                names.add(k)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(SCHEMA)
    return names
