"""The naming service: services and instances kept in ZooKeeper.

:class:`NamingService` is the one implementation behind the native REST API, the Nacos v1 naming API,
the console page and other parts (``ctx.services["naming"]``). Every change is a znode write, so every
subscriber (SDK caches, other servers) sees it through ZooKeeper watches.
"""

from __future__ import annotations

from typing import Callable

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError, NotEmptyError

from shipway.core.errors import Conflict, NotFound, Unavailable
from shipway.registry import layout, model, paths
from shipway.registry.beats import Heartbeats
from shipway.registry.cache import InstanceCache
from shipway.registry.model import DEFAULT_CLUSTER, DEFAULT_GROUP, DEFAULT_NAMESPACE, Source
from shipway.registry.services import ServiceCatalog
from shipway.registry.zkread import get_many, watch_children


class NamingService(Heartbeats, ServiceCatalog):
    """Services and instances on ZooKeeper. ``client`` returns the kazoo client to use (lazily)."""

    def __init__(self, client: Callable[[], KazooClient]) -> None:
        self._client = client
        self.cache = InstanceCache()

    @property
    def zk(self) -> KazooClient:
        return self._client()

    def _changed(self, ns: str, group: str, service: str) -> None:
        """A write through this server: the cached view of the service is stale now."""
        self.cache.invalidate((ns, group, service))

    def _call(self, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except (NoNodeError, NodeExistsError, BadVersionError, NotEmptyError):
            raise
        except KazooException as e:
            raise Unavailable(f"ZooKeeper is not reachable: {type(e).__name__}") from e

    # -- the fixed interface other parts use -------------------------------
    def register_instance(self, service: str, ip: str, port: int, *, namespace: str = DEFAULT_NAMESPACE,
                          group: str = DEFAULT_GROUP, cluster: str = DEFAULT_CLUSTER, weight: float = 1.0,
                          metadata: dict | None = None, ephemeral: bool = False, healthy: bool = True,
                          enabled: bool = True) -> str:
        """Register (or update) an instance; returns its id ``ip#port#cluster#group@@service``.

        ``ephemeral=True`` over this server means a heartbeat instance (Nacos semantics): it must be kept
        alive with :meth:`beat`. Persistent instances stay until deregistered and are health-checked by
        the server unless their metadata opts out (see :func:`model.check_mode`).
        """
        source = Source.HEARTBEAT if ephemeral else Source.PERSISTENT
        inst = model.make_instance(namespace, group, service, ip, port, cluster=cluster, weight=weight,
                                   metadata=metadata, ephemeral=ephemeral, healthy=healthy, enabled=enabled,
                                   source=source)
        key, iid = (namespace, group, service), inst["instanceId"]
        zk = self.zk
        # A new heartbeat instance needs no beat record yet: its registration time (in the record)
        # counts as its first beat (see HealthKeeper), so Nacos's default registration is one round
        # trip. The first beat creates the beat record.
        for _ in range(20):
            try:
                self._call(layout.create, zk, key, inst, ephemeral=False)
                break
            except NodeExistsError:
                pass
            try:
                old, stat, names = self._call(layout.read, zk, key, iid)
            except NoNodeError:
                continue  # deregistered meanwhile: create it
            if ephemeral:  # registering again is a sign of life too
                self._touch_beat(namespace, group, service, iid)
            if stat.ephemeralOwner:
                raise Conflict(f"instance {iid} is registered by a live SDK session",
                               details={"instanceId": iid}) from None
            inst["registeredAt"] = old.get("registeredAt", inst["registeredAt"])
            if old == inst and names == [layout.encode(inst)]:
                # Re-registering the same record (the orchestrator does it on every sync) must not
                # wake every subscriber.
                return iid
            try:
                self._call(layout.replace, zk, key, inst, version=stat.version, old_names=names, ephemeral=False)
                break
            except (BadVersionError, NoNodeError):
                continue
        else:
            raise Conflict(f"instance {iid} is changing too fast; try again")
        self._changed(namespace, group, service)
        return iid

    def deregister_instance(self, service: str, ip: str, port: int, *, namespace: str = DEFAULT_NAMESPACE,
                            group: str = DEFAULT_GROUP, cluster: str = DEFAULT_CLUSTER) -> None:
        """Remove an instance; an absent one is not an error."""
        iid = model.instance_id(model.check_ip(ip), model.check_port(port), model.check_name(cluster, "cluster"),
                                model.check_name(group, "group"), model.check_name(service, "service"))
        self.remove_instance(model.check_name(namespace, "namespace"), group, service, iid)

    def list_instances(self, service: str, *, namespace: str = DEFAULT_NAMESPACE, group: str = DEFAULT_GROUP,
                       healthy_only: bool = False, cluster: str | None = None) -> list[dict]:
        """Instances of a service (all, or only healthy+enabled ones honouring the protect threshold)."""
        hosts, _ = self.query(namespace, group, service, healthy_only=healthy_only, cluster=cluster)
        return hosts

    # -- instances -----------------------------------------------------------
    def remove_instance(self, ns: str, group: str, service: str, iid: str) -> bool:
        """Delete an instance (record, host znode and heartbeat record); False if it was not there."""
        key, zk, found = (ns, group, service), self.zk, False
        for _ in range(20):
            try:
                _, stat, names = self._call(layout.read, zk, key, iid)
                self._call(layout.remove, zk, key, iid, version=stat.version, names=names)
                found = True
                break
            except NoNodeError:
                # the record is gone (or a host name changed under us: read again)
                if not self._exists(paths.instance(ns, group, service, iid)):
                    break
            except BadVersionError:
                continue
        self._changed(ns, group, service)
        try:
            self._call(zk.delete, paths.beat(ns, group, service, iid))
        except NoNodeError:
            pass
        return found

    def repair(self, ns: str, group: str, service: str) -> int:
        """Give every persistent/heartbeat record without a host znode its host znode; returns how many.

        Records written by an older shipway (before ``hosts/`` existed) are otherwise invisible to
        listings. SDK records (EPHEMERAL of their owner's session) are left to their owners, who
        re-create both znodes on their next session.
        """
        zk, key, fixed = self.zk, (ns, group, service), 0
        try:
            ids = self._call(zk.get_children, paths.instances(ns, group, service))
        except NoNodeError:
            return 0
        try:
            hosted = {layout.name_id(n, key) for n in self._call(zk.get_children, paths.hosts(ns, group, service))}
        except NoNodeError:
            hosted = set()
        for iid in set(ids) - hosted:
            try:
                inst, stat, names = self._call(layout.read, zk, key, iid)
                if stat.ephemeralOwner or names or not inst.get("instanceId"):
                    continue
                zk.ensure_path(paths.hosts(ns, group, service))
                self._call(layout.replace, zk, key, inst, version=stat.version, old_names=[], ephemeral=False)
                fixed += 1
            except (NoNodeError, BadVersionError, NodeExistsError):
                continue
        if fixed:
            self._changed(ns, group, service)
        return fixed

    def _exists(self, path: str) -> bool:
        return self._call(self.zk.exists, path) is not None

    def instances(self, ns: str, group: str, service: str, *, watch=None) -> list[dict]:
        """Every instance of a service (empty if the service does not exist).

        One ``get_children`` of ``hosts/``: the names carry the instances (see :mod:`registry.layout`);
        only reference names (instances too large for a name) cost a read of their record.
        """
        zk = self.zk
        base = paths.hosts(ns, group, service)
        if watch is not None:
            names = self._call(watch_children, zk, base, watch)
        else:
            try:
                names = self._call(zk.get_children, base)
            except NoNodeError:
                return []
        out, refs, key = [], [], (ns, group, service)
        for name in names:
            inst = layout.decode(name, key)
            if inst is not None:
                out.append(inst)
            elif layout.is_reference(name):
                refs.append(paths.instance(ns, group, service, layout.name_id(name, key)))
        for data in get_many(zk, refs) if refs else ():
            inst = layout.load(data)
            if inst:
                out.append(inst)
        out.sort(key=lambda i: (i.get("clusterName", ""), i.get("ip", ""), i.get("port", 0)))
        return out

    def cached(self, ns: str, group: str, service: str) -> tuple[list[dict], dict | None]:
        """``(instances, service record or None)`` from the watch-fed cache (for the hot HTTP reads)."""
        zk = self.zk
        self.cache.listen(zk)

        def load():
            try:
                data, _ = self._call(zk.get, paths.service(ns, group, service), watch=self.cache.on_event)
                rec = model.make_service(ns, group, service)
                rec.update({k: v for k, v in layout.load(data).items() if k in ("protectThreshold", "metadata")})
            except NoNodeError:
                self._call(zk.exists, paths.service(ns, group, service), watch=self.cache.on_event)
                rec = None
            return self.instances(ns, group, service, watch=self.cache.on_event), rec

        return self.cache.get((ns, group, service), load)

    def query(self, ns: str, group: str, service: str, *, healthy_only: bool, cluster: str | None = None,
              cached: bool = False) -> tuple[list[dict], bool]:
        """``(hosts, protect_threshold_reached)`` as handed to clients."""
        if cached:
            insts, rec = self.cached(ns, group, service)
            rec = rec or {}
        else:
            rec = self.service_record(ns, group, service) if healthy_only else {}
            insts = self.instances(ns, group, service)
        return model.select(insts, healthy_only=healthy_only,
                            protect_threshold=float(rec.get("protectThreshold") or 0.0), cluster=cluster)

    def get_instance(self, ns: str, group: str, service: str, iid: str) -> dict:
        try:
            data, _ = self._call(self.zk.get, paths.instance(ns, group, service, iid))
        except NoNodeError:
            raise NotFound(f"instance {iid} not found in namespace {ns}", details={"instanceId": iid}) from None
        return layout.load(data)

    def update_instance(self, ns: str, group: str, service: str, iid: str, *, weight: float | None = None,
                        enabled: bool | None = None, healthy: bool | None = None,
                        metadata: dict | None = None) -> dict:
        """Change weight/enabled/healthy/metadata with a compare-and-set loop; 404 if absent."""
        key, zk = (ns, group, service), self.zk
        for _ in range(20):
            try:
                inst, stat, names = self._call(layout.read, zk, key, iid)
            except NoNodeError:
                raise NotFound(f"instance {iid} not found in namespace {ns}", details={"instanceId": iid}) from None
            new = dict(inst)
            if weight is not None:
                new["weight"] = model.check_weight(weight)
            if enabled is not None:
                new["enabled"] = bool(enabled)
            if healthy is not None:
                new["healthy"] = bool(healthy)
            if metadata is not None:
                new["metadata"] = model.check_metadata(metadata)
            if new == inst:
                return inst
            try:
                if stat.ephemeralOwner:
                    # An SDK instance: its host znode must stay EPHEMERAL of the owner's session (else
                    # it would outlive the owner). Set the record; the owner watches it and republishes.
                    self._call(zk.set, paths.instance(ns, group, service, iid), layout.dump(new),
                               version=stat.version)
                else:
                    self._call(layout.replace, zk, key, new, version=stat.version, old_names=names,
                               ephemeral=False)
                self._changed(ns, group, service)
                return new
            except BadVersionError:
                continue
            except NoNodeError:
                if not self._exists(paths.instance(ns, group, service, iid)):
                    raise NotFound(f"instance {iid} not found", details={"instanceId": iid}) from None
        raise Conflict(f"instance {iid} is changing too fast; try again")
