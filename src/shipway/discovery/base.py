"""What both discovery modes share: the local cache, callbacks, choosing, the failover snapshot."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from shipway.discovery.balancer import NoInstanceAvailable, RoundRobin, candidates, weighted_random
from shipway.discovery.snapshot import Snapshots, default_dir
from shipway.registry import model
from shipway.registry.model import DEFAULT_GROUP, DEFAULT_NAMESPACE

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (namespace, group, service)
Callback = Callable[[list[dict]], None]


@dataclass
class ServiceState:
    """The cached view of one service."""

    key: Key
    instances: list[dict] | None = None  # None: never loaded (not even from a snapshot)
    protect_threshold: float = 0.0
    from_snapshot: bool = False
    callbacks: list[Callback] = field(default_factory=list)
    loaded: threading.Event = field(default_factory=threading.Event)
    waited: bool = False  # the first read waited for the first load once; later reads never block
    signature: frozenset | None = None  # what the last published list was made of (see _publish)


def _by_id(inst: dict) -> str:
    return inst.get("instanceId", "")


class DiscoveryBase:
    """Cache + subscribe/instances/choose. Subclasses feed :meth:`_publish` and implement :meth:`_watch`."""

    def __init__(self, *, namespace: str = DEFAULT_NAMESPACE, group: str = DEFAULT_GROUP,
                 snapshot_dir: str | None = None, first_load_timeout: float = 3.0) -> None:
        self.namespace = model.check_name(namespace, "namespace")
        self.group = model.check_name(group, "group")
        self.snapshots = Snapshots(snapshot_dir if snapshot_dir is not None else default_dir())
        self.first_load_timeout = first_load_timeout
        self._states: dict[Key, ServiceState] = {}
        self._states_lock = threading.RLock()
        self._rr = RoundRobin()

    # -- public API --------------------------------------------------------------------
    def key(self, service: str, group: str | None = None, namespace: str | None = None) -> Key:
        grp, svc = model.split_service(service, group or self.group, "service")
        return model.check_name(namespace or self.namespace, "namespace"), grp, svc

    def subscribe(self, service: str, callback: Callback, *, group: str | None = None,
                  namespace: str | None = None) -> None:
        """Call ``callback(instances)`` now (if known) and after every change of the service."""
        st = self._state(self.key(service, group, namespace))
        with self._states_lock:
            st.callbacks.append(callback)
            current = list(st.instances) if st.instances is not None else None
        if current is not None:
            self._call(callback, current)

    def unsubscribe(self, service: str, callback: Callback, *, group: str | None = None,
                    namespace: str | None = None) -> None:
        st = self._state(self.key(service, group, namespace))
        with self._states_lock:
            if callback in st.callbacks:
                st.callbacks.remove(callback)

    def instances(self, service: str, *, healthy_only: bool = True, group: str | None = None,
                  namespace: str | None = None) -> list[dict]:
        """Instances from the local cache (healthy+enabled only by default, honouring the protect threshold)."""
        st = self._state(self.key(service, group, namespace))
        if not st.loaded.is_set() and not st.waited:
            st.loaded.wait(self.first_load_timeout)
            st.waited = True
        with self._states_lock:
            insts = list(st.instances or [])
            threshold = st.protect_threshold
        if not healthy_only:
            return insts
        return model.select(insts, healthy_only=True, protect_threshold=threshold)[0]

    def choose(self, service: str, *, strategy: str = "weighted_random", group: str | None = None,
               namespace: str | None = None) -> dict:
        """One instance: ``weighted_random`` (default) or ``round_robin``; raises :class:`NoInstanceAvailable`."""
        key = self.key(service, group, namespace)
        self.instances(service, healthy_only=False, group=group, namespace=namespace)
        st = self._state(key)
        with self._states_lock:
            pool = candidates(list(st.instances or []), st.protect_threshold)
        if not pool:
            raise NoInstanceAvailable(f"no healthy, enabled instance of {key[1]}@@{key[2]} in namespace {key[0]}")
        if strategy == "round_robin":
            return self._rr.pick("/".join(key), pool)
        if strategy != "weighted_random":
            raise ValueError(f"unknown strategy {strategy!r}; use 'weighted_random' or 'round_robin'")
        return weighted_random(pool)

    # -- for subclasses ------------------------------------------------------------------
    def _state(self, key: Key) -> ServiceState:
        with self._states_lock:
            st = self._states.get(key)
            if st is not None:
                return st
            st = self._states[key] = ServiceState(key)
            snap = self.snapshots.load(*key)
            if snap is not None:
                st.instances, st.protect_threshold = snap["instances"], float(snap.get("protectThreshold") or 0)
                st.from_snapshot = True
        self._watch(key)
        return st

    def _watch(self, key: Key) -> None:
        raise NotImplementedError

    def _publish(self, key: Key, instances: list[dict], protect_threshold: float, *,
                 signature: frozenset | None = None) -> None:
        """A successful read of the service: update the cache, the snapshot, and tell subscribers on change.

        Only successful reads get here: an outage never replaces a good list with an empty one.
        ``signature`` (the ZooKeeper client passes its set of host znode names, which carry every field)
        makes "did it change?" a set comparison instead of a comparison of every record.
        """
        with self._states_lock:
            st = self._states.get(key)
            if st is None:
                return
            if signature is not None and st.signature is not None:
                changed = st.signature != signature or st.protect_threshold != protect_threshold
                if changed:
                    instances = sorted(instances, key=_by_id)
            else:
                instances = sorted(instances, key=_by_id)
                changed = st.instances != instances or st.protect_threshold != protect_threshold
            if not changed and st.loaded.is_set():
                return
            st.instances, st.protect_threshold, st.from_snapshot = instances, protect_threshold, False
            st.signature = signature
            callbacks = st.callbacks[:]
        st.loaded.set()
        if changed:
            for cb in callbacks:
                self._call(cb, instances[:])
            # After the callbacks: subscribers should not wait for the disk.
            self._snapshot(key, {"instances": instances, "protectThreshold": protect_threshold,
                                 "savedAt": time.time()})

    def _snapshot(self, key: Key, data: dict) -> None:
        """Write the failover snapshot of ``key`` (subclasses may defer and coalesce it)."""
        self.snapshots.save(*key, data)

    @staticmethod
    def _call(cb: Callback, instances: list[dict]) -> None:
        try:
            cb(instances)
        except Exception:  # noqa: BLE001 - one bad subscriber must not stop the others
            log.exception("discovery subscriber %r failed", cb)

    def keys(self) -> list[Key]:
        with self._states_lock:
            return list(self._states)
