"""The patch types kubectl sends: JSON merge patch, JSON patch, strategic merge patch, apply.

* ``application/merge-patch+json`` — RFC 7386.
* ``application/json-patch+json`` — RFC 6902 (``kubectl rollout undo`` uses it).
* ``application/strategic-merge-patch+json`` — Kubernetes' strategic merge:
  lists with a merge key (containers by ``name``, ports by ``containerPort``...)
  are merged element by element; ``$patch``, ``$retainKeys``,
  ``$setElementOrder/…`` and ``$deleteFromPrimitiveList/…`` directives.
* ``application/apply-patch+yaml`` — server-side apply, simplified: the applied
  configuration is merged into the live object strategically and fields the same
  field manager applied last time but dropped now are removed (see docs).
"""

from __future__ import annotations

import copy
from typing import Any

from shipway.core.errors import BadRequest

#: list field name -> merge key (strategic merge patch), following Kubernetes' struct tags.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": None, "conditions": "type", "ownerReferences": "uid",
              "imagePullSecrets": "name", "httpHeaders": None, "items": None}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _ptr(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise BadRequest(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for p in parts:
        doc = doc[int(p)] if isinstance(doc, list) else doc[p]
    return doc


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(ops, list):
        raise BadRequest("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for i, op in enumerate(ops):
        try:
            kind, parts = op["op"], _ptr(op["path"])
            if kind == "test":
                if _walk(doc, parts) != op["value"]:
                    raise BadRequest(f"JSON patch operation {i}: test failed at {op['path']}")
                continue
            if kind in ("move", "copy"):
                value = copy.deepcopy(_walk(doc, _ptr(op["from"])))
                if kind == "move":
                    doc = json_patch(doc, [{"op": "remove", "path": op["from"]}])
                kind, op = "add", {"value": value}
            if not parts:
                doc = copy.deepcopy(op["value"])
                continue
            parent, last = _walk(doc, parts[:-1]), parts[-1]
            if kind == "remove":
                del parent[int(last) if isinstance(parent, list) else last]
            elif kind == "add" and isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(op["value"]))
            elif kind in ("add", "replace"):
                if kind == "replace" and not isinstance(parent, list) and last not in parent:
                    raise BadRequest(f"JSON patch operation {i}: no value at {op['path']} to replace")
                parent[int(last) if isinstance(parent, list) else last] = copy.deepcopy(op["value"])
            else:
                raise BadRequest(f"JSON patch operation {i}: unknown op {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise BadRequest(f"JSON patch operation {i} cannot be applied: {e!r}") from None
    return doc


def _merge_key(field: str, items: list) -> str | None:
    if field in MERGE_KEYS and MERGE_KEYS[field]:
        return MERGE_KEYS[field]
    if field == "ports" and items and isinstance(items[0], dict):
        return "containerPort" if "containerPort" in items[0] else "port"
    return None


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Kubernetes strategic merge patch of ``patch`` onto ``target`` (returns a new value)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            out[name] = [x for x in out.get(name) or [] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, k)
        else:
            merged = strategic_merge(out.get(k), v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(target: Any, patch: list, field: str) -> list:
    key = _merge_key(field, patch or target or [])
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    if key is None or not isinstance(target, list):
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and x.get("$patch"))]
    out = copy.deepcopy(target)
    for item in patch:
        if not isinstance(item, dict):
            continue
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(strategic_merge({}, item, field))
        else:
            out[idx] = strategic_merge(out[idx], item, field)
    return out


def _prune(live: Any, previous: Any, applied: Any) -> Any:
    """Remove from ``live`` the fields in ``previous`` (last applied) that ``applied`` no longer sets."""
    if not (isinstance(live, dict) and isinstance(previous, dict)):
        return live
    applied = applied if isinstance(applied, dict) else {}
    for k, v in previous.items():
        if k not in applied:
            live.pop(k, None)
        elif isinstance(v, dict):
            live[k] = _prune(live.get(k), v, applied[k])
    return live


def server_side_apply(live: dict | None, applied: dict, previous: dict | None) -> dict:
    """The object after applying ``applied``; ``previous`` is this manager's last applied config."""
    if live is None:
        return copy.deepcopy(applied)
    merged = strategic_merge(live, applied)
    if previous:
        merged = _prune(merged, {k: v for k, v in previous.items() if k not in ("apiVersion", "kind")}, applied)
    return merged
