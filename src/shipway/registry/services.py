"""Namespaces, groups and service records of the naming service (create, read, update, delete, list).

A mixin of :class:`shipway.registry.naming.NamingService`: it uses its ZooKeeper client, its error
mapping (``_call``), its instance reads and its cache invalidation (``_changed``).
"""

from __future__ import annotations

from typing import Any

from kazoo.exceptions import NodeExistsError, NoNodeError

from shipway.core.errors import Conflict, NotFound
from shipway.registry import layout, model, paths
from shipway.registry.model import DEFAULT_CLUSTER


class ServiceCatalog:
    """The service-level half of the naming service."""

    def namespaces(self) -> list[str]:
        try:
            return sorted(self._call(self.zk.get_children, paths.ROOT))
        except NoNodeError:
            return []

    def groups(self, ns: str) -> list[str]:
        try:
            return sorted(self._call(self.zk.get_children, paths.namespace(ns)))
        except NoNodeError:
            return []

    def service_names(self, ns: str, group: str) -> list[str]:
        try:
            return sorted(self._call(self.zk.get_children, paths.group(ns, group)))
        except NoNodeError:
            return []

    def service_record(self, ns: str, group: str, name: str) -> dict:
        """The stored record of a service with defaults; 404 if absent."""
        try:
            data, _ = self._call(self.zk.get, paths.service(ns, group, name))
        except NoNodeError:
            raise NotFound(f"service {group}@@{name} not found in namespace {ns}",
                           details={"namespace": ns, "group": group, "service": name}) from None
        rec = model.make_service(ns, group, name)
        rec.update({k: v for k, v in layout.load(data).items() if k in ("protectThreshold", "metadata")})
        return rec

    def get_service(self, ns: str, group: str, name: str) -> dict:
        """A service record with its clusters and instance counts."""
        rec = self.service_record(ns, group, name)
        insts = self.instances(ns, group, name)
        rec["clusters"] = sorted({i.get("clusterName", DEFAULT_CLUSTER) for i in insts})
        rec["instanceCount"] = len(insts)
        rec["healthyInstanceCount"] = sum(1 for i in insts if i.get("healthy") and i.get("enabled", True))
        return rec

    def create_service(self, ns: str, group: str, name: str, *, protect_threshold: float = 0.0,
                       metadata: dict | None = None) -> dict:
        rec = model.make_service(ns, group, name, protect_threshold=protect_threshold, metadata=metadata)
        path = paths.service(ns, group, name)
        try:
            self._call(self.zk.create, path, layout.dump(rec), makepath=True)
        except NodeExistsError:
            data, _ = self._call(self.zk.get, path)
            if data:  # an empty record means "created implicitly by an instance": adopt it
                raise Conflict(f"service {group}@@{name} already exists in namespace {ns}") from None
            self._call(self.zk.set, path, layout.dump(rec))
        self._changed(ns, group, name)
        return rec

    def update_service(self, ns: str, group: str, name: str, *, protect_threshold: float | None = None,
                       metadata: dict | None = None) -> dict:
        rec = self.service_record(ns, group, name)
        if protect_threshold is not None:
            rec["protectThreshold"] = model.check_threshold(protect_threshold)
        if metadata is not None:
            rec["metadata"] = model.check_metadata(metadata)
        self._call(self.zk.set, paths.service(ns, group, name), layout.dump(rec))
        self._changed(ns, group, name)
        return rec

    def delete_service(self, ns: str, group: str, name: str) -> None:
        """Delete an empty service; 404 if absent, 409 while it has instances."""
        self.service_record(ns, group, name)
        if self.instances(ns, group, name):
            raise Conflict(f"service {group}@@{name} still has instances; deregister them first")
        try:
            self._call(self.zk.delete, paths.service(ns, group, name), recursive=True)
        except NoNodeError:
            pass
        self._changed(ns, group, name)

    def list_services(self, ns: str, group: str | None = None, *, page: int = 1, size: int = 50,
                      contains: str | None = None) -> tuple[int, list[dict[str, Any]]]:
        """``(total, page of {namespace, group, name})`` sorted by group then name."""
        groups = [group] if group else self.groups(ns)
        names = [(g, s) for g in groups for s in self.service_names(ns, g) if not contains or contains in s]
        chunk = names[(page - 1) * size: page * size]
        return len(names), [{"namespace": ns, "group": g, "name": s} for g, s in chunk]
