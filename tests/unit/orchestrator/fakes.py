"""An in-memory ObjectStore with the same contract as the ZooKeeper one (for fast controller tests)."""

from __future__ import annotations

import copy
import itertools

from shipway.core.errors import Conflict, NotFound
from shipway.orchestrator.store import EventLog


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.log = EventLog()
        self._rv = itertools.count(1)

    def _key(self, resource, ns, name):
        return (resource, ns or "_", name)

    def get(self, resource, namespace, name):
        try:
            return copy.deepcopy(self.objects[self._key(resource, namespace, name)])
        except KeyError:
            raise NotFound(f"{resource} {name!r} not found") from None

    def find(self, resource, namespace, name):
        try:
            return self.get(resource, namespace, name)
        except NotFound:
            return None

    def list(self, resource, namespace=None, *, all_namespaces=False):
        out = [copy.deepcopy(o) for (r, ns, _), o in sorted(self.objects.items())
               if r == resource and (all_namespaces or ns == (namespace or "_"))]
        return out

    def create(self, resource, obj):
        m = obj["metadata"]
        key = self._key(resource, m.get("namespace"), m["name"])
        if key in self.objects:
            raise Conflict("exists", code="AlreadyExists")
        rv = next(self._rv)
        out = copy.deepcopy(obj)
        out["metadata"]["resourceVersion"] = str(rv)
        self.objects[key] = out
        self.log.append(rv, "ADDED", resource, copy.deepcopy(out))
        return copy.deepcopy(out)

    def update(self, resource, obj, *, expect_rv):
        m = obj["metadata"]
        key = self._key(resource, m.get("namespace"), m["name"])
        if key not in self.objects:
            raise NotFound("gone")
        if expect_rv and self.objects[key]["metadata"]["resourceVersion"] != str(expect_rv):
            raise Conflict("modified")
        rv = next(self._rv)
        out = copy.deepcopy(obj)
        out["metadata"]["resourceVersion"] = str(rv)
        self.objects[key] = out
        self.log.append(rv, "MODIFIED", resource, copy.deepcopy(out))
        return copy.deepcopy(out)

    def delete(self, resource, obj):
        m = obj["metadata"]
        key = self._key(resource, m.get("namespace"), m["name"])
        if self.objects.pop(key, None) is None:
            raise NotFound("gone")
        self.log.append(next(self._rv), "DELETED", resource, copy.deepcopy(obj))
