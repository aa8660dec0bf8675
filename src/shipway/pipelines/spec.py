"""Load and validate a pipeline file: YAML → checked, normalised dict.

Every problem is collected (never just the first) as
``{"file", "line", "column", "path", "message"}``: the JSON Schema errors and
the semantic checks below, with lines taken from PyYAML's node marks so that
``stages[2].steps[0].timeout`` points at the right place in the file.
"""

from __future__ import annotations

import collections
import copy
import re
import threading
from typing import Any

import jsonschema
import yaml

from shipway.core.errors import ValidationFailed
from shipway.pipelines.schema import SCHEMA
from shipway.pipelines.when import ExpressionError, matches, parse_expression  # noqa: F401 - re-exported

_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_TEMPLATE_KEYS = {"commit", "commit_short", "branch", "tag", "run_number", "project", "run_id"}
COMMAND_KINDS = ("command", "test")


def parse_duration(value: Any, default: float | None = None) -> float | None:
    """Seconds from ``30``, ``"90s"``, ``"5m"``, ``"1h"`` (``None`` → ``default``)."""
    if value is None:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r}")
    n = float(m.group(1))
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]i?[bB]?|[bB])?\s*$")


def parse_size(value: Any) -> int:
    """Bytes from ``1048576``, ``"512KiB"``, ``"4MiB"``, ``"1GB"`` (k/M/G are powers of 1024 with ``i``)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"not a size: {value!r}")
    unit = (m.group(2) or "b").lower()
    base = 1024 if "i" in unit else 1000
    return int(m.group(1)) * base ** {"b": 0, "k": 1, "m": 2, "g": 3}[unit[0]]


def path_str(path: list) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class _Marks:
    """Map a field path (list of keys/indexes) to the line/column of its YAML node."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def find(self, path: list) -> tuple[int, int]:
        node = self.root
        best = node
        for key in path:
            if isinstance(node, yaml.MappingNode):
                nxt = None
                for k, v in node.value:
                    if k.value == key:
                        nxt, best = v, k
                        break
                if nxt is None:
                    break
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = best = node.value[key]
            else:
                break
        if best is None:
            return 1, 1
        return best.start_mark.line + 1, best.start_mark.column + 1


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent override hides mistakes)."""


def _construct_mapping(loader, node, deep=False):
    seen: dict = {}
    for k, _v in node.value:
        key = loader.construct_object(k, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", k.start_mark)
        seen[key] = True
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


_CACHE: "collections.OrderedDict[tuple, dict]" = collections.OrderedDict()
_CACHE_SIZE = 64
_cache_lock = threading.Lock()


def load(text: str, filename: str = ".shipway.yml", secrets: set[str] | None = None) -> dict[str, Any]:
    """Parse and validate; raise :class:`ValidationFailed` listing every error.

    With ``secrets`` (the project's secret names) every ``from_secret`` must name one of them.
    Valid files are remembered (LRU, keyed by the text, file name and secret names): every push of an
    unchanged pipeline file would otherwise parse and validate it again (~10 ms).
    """
    key = (text, filename, frozenset(secrets) if secrets is not None else None)
    with _cache_lock:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return copy.deepcopy(hit)
    data = _load(text, filename, secrets)
    with _cache_lock:
        _CACHE[key] = copy.deepcopy(data)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return data


def _load(text: str, filename: str, secrets: set[str] | None) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []

    def err(path: list, message: str, marks: _Marks | None = None, line: int | None = None,
            column: int | None = None) -> None:
        if marks is not None:
            line, column = marks.find(path)
        errors.append({"file": filename, "line": line or 1, "column": column or 1,
                       "path": path_str(path), "message": message})

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        err([], f"invalid YAML: {e.problem or e.context}", line=mark.line + 1 if mark else 1,
            column=mark.column + 1 if mark else 1)
        raise ValidationFailed(f"{filename}: invalid YAML", errors) from None
    except yaml.YAMLError as e:
        err([], f"invalid YAML: {e}")
        raise ValidationFailed(f"{filename}: invalid YAML", errors) from None
    marks = _Marks(node)
    if not isinstance(data, dict):
        err([], "a pipeline file must be a mapping with at least 'stages'", marks)
        raise ValidationFailed(f"{filename}: not a pipeline", errors)
    for e in sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        err(list(e.absolute_path), _schema_message(e), marks)
    try:
        _semantic(data, lambda p, m: err(p, m, marks))
        if secrets is not None:
            for path, name in _secret_refs(data, []):
                if name not in secrets:
                    err(path, f"the project has no secret '{name}' (it has: {', '.join(sorted(secrets)) or 'none'})",
                        marks)
    except (KeyError, TypeError, AttributeError, ValueError):
        if not errors:  # malformed beyond what the schema caught: report, never crash
            raise
        # the schema errors already explain the malformed part
    if errors:
        raise ValidationFailed(f"{filename}: {len(errors)} error(s) in the pipeline", errors)
    return data


def _schema_message(e: jsonschema.ValidationError) -> str:
    if e.validator == "additionalProperties":
        return e.message.replace("Additional properties are not allowed", "unknown field(s)")
    if e.validator == "oneOf" and e.schema.get("description"):
        return f"{e.instance!r} is not valid: {e.schema['description']}"
    return e.message


def _secret_refs(node: Any, path: list):
    """``(path, name)`` of every ``{from_secret: name}`` in the file."""
    if isinstance(node, dict):
        if set(node) == {"from_secret"} and isinstance(node["from_secret"], str):
            yield path + ["from_secret"], node["from_secret"]
            return
        for k, v in node.items():
            yield from _secret_refs(v, path + [k])
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _secret_refs(v, path + [i])


def iter_stages(stages: list[dict], prefix: list | None = None):
    """Yield ``(path, stage)`` for every stage, including those inside parallel groups."""
    for i, st in enumerate(stages):
        path = (prefix or ["stages"]) + [i]
        yield path, st
        if "parallel" in st:
            yield from iter_stages(st["parallel"], path + ["parallel"])


def _semantic(data: dict, err) -> None:
    names: dict[str, list] = {}
    for path, st in iter_stages(data["stages"]):
        name = st.get("name")
        if not name:
            err(path, "every stage needs a name")
        elif name in names:
            err(path + ["name"], f"duplicate stage name '{name}' (first at {path_str(names[name])})")
        else:
            names[name] = path
        kind = st.get("kind", "command")
        if "parallel" in st:
            if "steps" in st or "kind" in st:
                err(path, "a parallel stage holds stages, not steps or a kind")
            for sub_path, sub in iter_stages(st["parallel"], path + ["parallel"]):
                if sub.get("kind") == "approve":
                    err(sub_path + ["kind"], "approve stages cannot run in parallel")
            continue
        if kind in COMMAND_KINDS and not st.get("steps"):
            err(path, f"a '{kind}' stage needs steps")
        if kind not in COMMAND_KINDS and "steps" in st:
            err(path + ["steps"], f"a '{kind}' stage takes no steps")
        if kind == "build" and not st.get("image"):
            err(path, "a build stage needs 'image' (the repository name of the image)")
        if kind == "deploy" and not st.get("manifests"):
            err(path, "a deploy stage needs 'manifests'")
        for step_i, step in enumerate(st.get("steps") or []):
            sp = path + ["steps", step_i]
            if ("run" in step) == ("argv" in step):
                err(sp, "a step needs exactly one of 'run' (a script) or 'argv' (a program)")
        for key in ("tags",):
            for t_i, t in enumerate(st.get(key) or []):
                _check_template(t, path + [key, t_i], err)
        for p_key in ("context", "dockerfile", "manifests"):
            if kind == "deploy" and p_key == "context":
                continue
            vals = st.get(p_key)
            for v in ([vals] if isinstance(vals, str) else vals or []):
                if _escapes(v):
                    err(path + [p_key], f"'{v}' must be a relative path inside the workspace")
        _check_when(st.get("when"), path + ["when"], err)
        for outcome, steps in (st.get("post") or {}).items():
            for step_i, step in enumerate(steps):
                if ("run" in step) == ("argv" in step):
                    err(path + ["post", outcome, step_i], "a step needs exactly one of 'run' or 'argv'")
        _check_durations(st, path, err)
    for i, c in enumerate((data.get("triggers") or {}).get("cron") or []):
        try:
            from apscheduler.triggers.cron import CronTrigger
            CronTrigger.from_crontab(c["schedule"], timezone="UTC")
        except ValueError as e:
            err(["triggers", "cron", i, "schedule"], f"invalid crontab expression: {e}")
    for i, p in enumerate(data.get("parameters") or []):
        if p.get("type") == "choice" and not p.get("choices"):
            err(["parameters", i], "a choice parameter needs 'choices'")
    conc = data.get("concurrency")
    if conc:
        _check_template(conc["group"], ["concurrency", "group"], err)
    _check_durations(data, [], err)


def _check_durations(obj: dict, path: list, err) -> None:
    for key in ("timeout", "rollout_timeout"):
        if key in obj:
            try:
                if parse_duration(obj[key]) <= 0:
                    raise ValueError
            except ValueError:
                err(path + [key], f"{obj[key]!r} is not a positive duration")


def _escapes(p: str) -> bool:
    parts = p.replace("\\", "/").split("/")
    return p.startswith("/") or ".." in parts or "\0" in p


def _check_template(t: str, path: list, err) -> None:
    for key in re.findall(r"\{([^{}]*)\}", t):
        if key not in _TEMPLATE_KEYS:
            err(path, f"unknown placeholder {{{key}}}; use one of {', '.join(sorted(_TEMPLATE_KEYS))}")


def _check_when(w: Any, path: list, err) -> None:
    if not isinstance(w, dict):
        return
    if "expression" in w:
        try:
            parse_expression(w["expression"])
        except ExpressionError as e:
            err(path + ["expression"], str(e))
    for k in ("all", "any"):
        for i, sub in enumerate(w.get(k) or []):
            _check_when(sub, path + [k, i], err)
    if "not" in w:
        _check_when(w["not"], path + ["not"], err)


def render(template: str, values: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders from ``values`` (no format-spec tricks, no attribute access)."""
    return re.sub(r"\{([a-z_]+)\}", lambda m: str(values.get(m.group(1), "")), template)


def trigger_excludes(pipeline: dict, trigger: str, event: dict) -> str | None:
    """Why the pipeline's ``triggers`` exclude this event, or ``None`` when it may run.

    Without a ``triggers`` key every push, tag and manual run is allowed. Cron and re-runs are always
    allowed (a schedule comes from the file itself; a re-run is a deliberate act).
    """
    trig = pipeline.get("triggers")
    if trig is None or trigger in ("cron", "rerun"):
        return None
    if trigger == "manual":
        return None if trig.get("manual", True) else "manual runs are disabled (triggers.manual: false)"
    conf = trig.get(trigger)
    if not conf:
        return f"the pipeline has no '{trigger}' trigger"
    if conf is True:
        return None
    if trigger == "push":
        branch = event.get("branch")
        if conf.get("branches") and not matches(branch, conf["branches"]):
            return f"branch '{branch}' is not in triggers.push.branches"
        if conf.get("paths") and event.get("paths_complete"):
            if not any(matches(p, conf["paths"]) for p in event.get("changed_paths") or []):
                return "no changed path matches triggers.push.paths"
    if trigger == "tag" and conf.get("tags") and not matches(event.get("tag"), conf["tags"]):
        return f"tag '{event.get('tag')}' is not in triggers.tag.tags"
    return None
