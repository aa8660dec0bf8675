"""The server's health timers: heartbeat expiry and checks of persistent instances.

One :class:`HealthKeeper` runs per server (a component started by ``shipway serve``), but only the
leader acts: leadership is an EPHEMERAL znode (:data:`paths.LEADER`) owned by the server's ZooKeeper
session, so when the leader dies another server takes over within one session timeout.

Rules (Nacos's, see docs/discovery.md):

* heartbeat instances (registered over HTTP as ephemeral): unhealthy after 15 s without a beat,
  removed after 30 s (``preserved.heart.beat.timeout`` / ``preserved.ip.delete.timeout`` override);
  silence is counted from when this server became leader / reconnected at the earliest, so an outage
  of ZooKeeper or a change of leader does not sweep away clients whose beats could not land;
* persistent instances: a TCP connect (or HTTP GET, metadata ``shipway.health.check=http``) every
  ``check_interval`` seconds; unhealthy after ``unhealthy_after`` failures in a row, healthy again after
  ``healthy_after`` successes; metadata ``shipway.health.check=none`` (and orchestrator-managed
  instances by default) opts out;
* SDK instances are ZooKeeper ephemeral znodes: their session is their health, the server never
  touches them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError

from shipway.core.errors import NotFound, ShipwayError
from shipway.registry import model, paths
from shipway.registry.model import Source

log = logging.getLogger(__name__)


@dataclass
class _Probe:
    due: float = 0.0
    fails: int = 0
    oks: int = 0
    running: bool = False


class HealthKeeper:
    """Component running the heartbeat timers and health checks on the leading server."""

    def __init__(self, ctx, naming, *, tick: float = 1.0, check_interval: float = 5.0, check_timeout: float = 2.0,
                 unhealthy_after: int = 2, healthy_after: int = 1) -> None:
        self.ctx, self.naming = ctx, naming
        self.tick, self.check_interval, self.check_timeout = tick, check_interval, check_timeout
        self.unhealthy_after, self.healthy_after = unhealthy_after, healthy_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._probes: dict[str, _Probe] = {}
        self._lock = threading.Lock()
        # Beats are counted from this moment at the earliest: after an outage or a change of leader,
        # clients whose beats could not land are not removed for silence that was not theirs.
        self._grace_from: float | None = None
        # Services whose records were checked for a missing host znode (see NamingService.repair).
        self._repaired: set[tuple[str, str, str]] = set()
        # Last beat time read per heartbeat instance ("ns/instanceId"): see _near_deadline.
        self._beats: dict[str, float] = {}

    # -- component --------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="naming-check")
        self._thread = threading.Thread(target=self._run, name="naming-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self._pool:
            self._pool.shutdown(wait=False, cancel_futures=True)
        try:  # hand leadership over at once instead of after the session timeout
            zk = self.ctx.kazoo
            _, stat = zk.get(paths.LEADER)
            if stat.ephemeralOwner == zk.client_id[0]:
                zk.delete(paths.LEADER)
        except Exception:  # noqa: BLE001 - best effort on shutdown
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                if self.is_leader():
                    if self._grace_from is None:
                        self._grace_from = time.time()
                    self.sweep()
                else:
                    self._grace_from = None
                    self._repaired.clear()
            except ShipwayError as e:
                log.warning("naming health sweep: %s", e.message)
            except KazooException as e:
                log.warning("naming health sweep: ZooKeeper %s", type(e).__name__)
            except Exception:  # noqa: BLE001 - the timer thread must not die
                log.exception("naming health sweep failed")

    def is_leader(self) -> bool:
        """Take or confirm leadership (an ephemeral znode owned by this server's session)."""
        zk = self.ctx.kazoo
        if not zk.connected:
            self._grace_from = None
            return False
        me = zk.client_id[0]
        try:
            zk.create(paths.LEADER, f"{socket.gethostname()}:{os.getpid()}".encode(), ephemeral=True, makepath=True)
            log.info("this server now runs the naming health timers")
            return True
        except NodeExistsError:
            try:
                _, stat = zk.get(paths.LEADER)
            except NoNodeError:
                return False
            return stat.ephemeralOwner == me

    # -- one pass -------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> None:
        """Apply the heartbeat rules and schedule due checks, over every instance."""
        now = time.time() if now is None else now
        seen: set[str] = set()
        beats_seen: set[str] = set()
        to_read: list[tuple[str, str, str, dict]] = []
        for ns in self.naming.namespaces():
            for group in self.naming.groups(ns):
                for svc in self.naming.service_names(ns, group):
                    if (ns, group, svc) not in self._repaired:  # once per service and leadership
                        self.naming.repair(ns, group, svc)
                        self._repaired.add((ns, group, svc))
                    # The watch-fed cache: an unchanged service costs no ZooKeeper read.
                    for inst in self.naming.cached(ns, group, svc)[0]:
                        source = inst.get("source")
                        if source == Source.HEARTBEAT.value:
                            key = f"{ns}/{inst['instanceId']}"
                            beats_seen.add(key)
                            if self._near_deadline(key, inst, now):
                                to_read.append((ns, group, svc, inst))
                        elif source == Source.PERSISTENT.value and model.check_mode(inst) != "none":
                            key = f"{ns}/{inst['instanceId']}"
                            seen.add(key)
                            self._maybe_probe(key, ns, group, svc, inst, now)
        if to_read:  # the beat records of those close to a deadline, pipelined
            beats = self.naming.last_beats([(ns, g, s, i["instanceId"]) for ns, g, s, i in to_read])
            for (ns, group, svc, inst), last in zip(to_read, beats):
                self._expire(ns, group, svc, inst, now, last)
        with self._lock:
            for key in set(self._probes) - seen:
                del self._probes[key]
        for key in set(self._beats) - beats_seen:
            del self._beats[key]

    def _near_deadline(self, key: str, inst: dict, now: float) -> bool:
        """Whether the beat record of a heartbeat instance must be read to judge it.

        Beats only move forward: a known beat (or the registration time, which counts as the first
        beat) recent enough cannot have expired, so an instance's beat record is read
        about once per timeout, not once per tick — thousands of beating instances stay cheap.
        """
        _, unhealthy_after, delete_after = model.beat_timing(inst)
        due = unhealthy_after if inst.get("healthy") else delete_after
        known = self._beats.get(key)
        if known is None:
            known = float(inst.get("registeredAt") or 0.0)
        return now - max(known, self._grace_from or 0.0) > due

    def _expire(self, ns: str, group: str, svc: str, inst: dict, now: float, beat: float | None) -> None:
        iid = inst["instanceId"]
        # The registration counts as the first beat (no beat record is written with it), and a beat
        # record older than the registration is a leftover of an earlier incarnation.
        last = max(beat or 0.0, float(inst.get("registeredAt") or 0.0)) or now
        self._beats[f"{ns}/{iid}"] = last
        if self._grace_from is not None:
            last = max(last, self._grace_from)
        _, unhealthy_after, delete_after = model.beat_timing(inst)
        age = now - last
        try:
            if age > delete_after:
                log.info("removing %s in %s: no heartbeat for %.0f s", iid, ns, age)
                self.naming.remove_instance(ns, group, svc, iid)
            elif age > unhealthy_after and inst.get("healthy"):
                log.info("marking %s in %s unhealthy: no heartbeat for %.0f s", iid, ns, age)
                self.naming.update_instance(ns, group, svc, iid, healthy=False)
        except NotFound:
            pass

    def _maybe_probe(self, key: str, ns: str, group: str, svc: str, inst: dict, now: float) -> None:
        with self._lock:
            probe = self._probes.setdefault(key, _Probe())
            if probe.running or probe.due > now or self._pool is None:
                return
            probe.running, probe.due = True, now + self.check_interval
        self._pool.submit(self._probe, key, ns, group, svc, inst)

    def _probe(self, key: str, ns: str, group: str, svc: str, inst: dict) -> None:
        ok = probe_instance(inst, self.check_timeout)
        with self._lock:
            probe = self._probes.get(key)
            if probe is None:
                return
            probe.running = False
            probe.fails, probe.oks = (0, probe.oks + 1) if ok else (probe.fails + 1, 0)
            flip = None
            if ok and not inst.get("healthy") and probe.oks >= self.healthy_after:
                flip = True
            elif not ok and inst.get("healthy") and probe.fails >= self.unhealthy_after:
                flip = False
        if flip is not None:
            try:
                self.naming.update_instance(ns, group, svc, inst["instanceId"], healthy=flip)
                log.info("%s in %s is now %s", inst["instanceId"], ns, "healthy" if flip else "unhealthy")
            except (NotFound, ShipwayError):
                pass


def probe_instance(inst: dict, timeout: float) -> bool:
    """One TCP connect or HTTP GET against an instance."""
    ip, port = inst["ip"], int(inst["port"])
    try:
        if model.check_mode(inst) == "http":
            import requests
            path = (inst.get("metadata") or {}).get(model.HEALTH_PATH, "/")
            return requests.get(f"http://{ip}:{port}{path}", timeout=timeout).status_code < 400
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except Exception:  # noqa: BLE001 - any failure is an unhealthy answer
        return False
