"""One pod on Docker: the kubelet's pod worker (sync, restarts with back-off, probes, status, termination)."""

from __future__ import annotations

import logging
import os
import threading
import time

import docker.errors

from shipway.core.errors import Conflict, NotFound
from shipway.orchestrator.objects import BY_KIND, HOST_PORTS, deep, now, set_condition
from shipway.orchestrator.probes import ProbeState, container_env, run_handler, volume_files
from shipway.orchestrator.runtime import L_CONTAINER, L_POD_UID, L_RESTART, L_ROLE, ConfigError, PullError

log = logging.getLogger(__name__)
POD = BY_KIND["Pod"]
BACKOFF_START, BACKOFF_MAX, BACKOFF_RESET = 10.0, 300.0, 600.0
VOLUME_REFRESH = 5.0  # seconds between ConfigMap/Secret volume refreshes of a running pod
INSPECT_EVERY = 0.25  # seconds between Docker inspects of a pod's containers while probes run faster
DRAIN = float(os.environ.get("SHIPWAY_ORCHESTRATOR_DRAIN_SECONDS", "1"))


def _ts(seconds: float | None) -> str | None:
    if not seconds:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _docker_time(value: str | None) -> float | None:
    if not value or value.startswith("0001"):
        return None
    import datetime as dt
    return dt.datetime.fromisoformat(value[:19]).replace(tzinfo=dt.timezone.utc).timestamp()


class CState:
    """What the worker knows of one container of the pod."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.container = None
        self.restart = 0
        self.crashes = 0
        self.backoff_until = 0.0
        self.waiting: tuple[str, str] | None = ("ContainerCreating", "")
        self.last_terminated: dict | None = None
        self.terminated: dict | None = None  # final (not restarting)
        self.started_at = 0.0
        self.probes: dict[str, ProbeState] = {}
        self.ready = False
        self.started = False
        self.image_id = ""


class PodWorker:
    """Runs and watches one pod until it is deleted (a thread of its own)."""

    def __init__(self, agent, pod: dict) -> None:
        self.agent, self.rt = agent, agent.runtime
        self.uid = pod["metadata"]["uid"]
        self.ns, self.name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.wake = threading.Event()
        self.sandbox = None
        self.pod_ip: str | None = None
        self.host_ports: dict[str, int] = {}
        self.states = {c["name"]: CState(c) for c in pod["spec"]["containers"]}
        self.start_time = now()
        self.done = False
        self._volumes_at = time.time() + VOLUME_REFRESH
        self._inspect_at = 0.0  # next Docker inspect of the pod's containers (probe-only passes skip it)
        self.thread = threading.Thread(target=self._run, name=f"pod-{self.ns}-{self.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def event(self, pod: dict, etype: str, reason: str, message: str) -> None:
        self.agent.resources.events.record(pod, etype, reason, message, "kubelet")

    def _run(self) -> None:
        try:
            self._adopt()
            while not self.agent.stopping.is_set():
                pod = self.agent.store.find("pods", self.ns, self.name)
                if pod is None or pod["metadata"]["uid"] != self.uid:
                    self._teardown(grace=0)
                    break
                if pod["metadata"].get("deletionTimestamp"):
                    self._terminate(pod)
                    break
                try:
                    delay = self._sync(pod)
                except (docker.errors.APIError, docker.errors.DockerException) as e:
                    log.warning("pod %s/%s: docker error: %s", self.ns, self.name, e)
                    delay = 1.0
                if self.wake.wait(delay):
                    self._inspect_at = 0.0  # something changed: look at Docker again
                self.wake.clear()
        except Exception:  # noqa: BLE001 - never die silently: the agent restarts the worker
            log.exception("pod worker %s/%s failed", self.ns, self.name)
        finally:
            self.done = True

    # -- adoption -------------------------------------------------------------------
    def _adopt(self) -> None:
        """Take over containers a previous agent left running for this pod."""
        pod = self.agent.store.find("pods", self.ns, self.name)
        if pod is not None and not (pod.get("status") or {}).get("startTime") and not \
                (pod["metadata"].get("annotations") or {}).get(HOST_PORTS):
            return  # never started by any agent: nothing to adopt
        mine = self.rt.docker.containers.list(all=True, filters={"label": f"{L_POD_UID}={self.uid}"})
        for c in mine:
            role = c.labels.get(L_ROLE)
            if role == "sandbox":
                if c.status == "running" and self.sandbox is None:
                    self.sandbox = c
                else:
                    c.remove(force=True)
        prev_status = {cs["name"]: cs for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []}
        for c in mine:
            st = self.states.get(c.labels.get(L_CONTAINER, ""))
            if c.labels.get(L_ROLE) != "container" or st is None:
                continue
            restart = int(c.labels.get(L_RESTART, "0"))
            if self.sandbox is None:
                c.remove(force=True)
                st.restart = max(st.restart, restart + 1)
            elif st.container is None or restart > st.restart:
                st.container, st.restart = c, restart
                st.started_at = _docker_time(c.attrs["State"].get("StartedAt")) or time.time()
                st.waiting = None
                old = prev_status.get(st.spec["name"]) or {}
                st.ready, st.started = bool(old.get("ready")), bool(old.get("started", True))
        if self.sandbox is not None:
            self.pod_ip, self.host_ports = self.rt.sandbox_info(self.sandbox)
        self.start_time = ((pod or {}).get("status") or {}).get("startTime") or self.start_time

    # -- sync -------------------------------------------------------------------------
    def _sync(self, pod: dict) -> float:
        t = time.time()
        # Fast probes of a starting container wake the worker every FAST_PROBE s; Docker is inspected at
        # most every INSPECT_EVERY s on such passes (an exit is still seen within that time).
        inspect = t >= self._inspect_at
        if inspect:
            self._inspect_at = t + INSPECT_EVERY
        if self.sandbox is not None and inspect:
            try:
                self.sandbox.reload()
            except docker.errors.NotFound:
                self.sandbox = None
            if self.sandbox is not None and self.sandbox.status != "running":
                self._reset_sandbox()
        if self.sandbox is None:
            self._create_sandbox(pod)
        next_in = 1.0
        if pod["spec"].get("volumes") and t >= self._volumes_at:
            self._volumes_at = t + VOLUME_REFRESH
            try:
                self.rt.refresh_volumes(pod, volume_files(pod, self.agent.lookup(self.ns)))
            except ConfigError:
                pass  # a removed ConfigMap/Secret leaves the last files (as the kubelet does)
        policy = pod["spec"].get("restartPolicy", "Always")
        for st in self.states.values():
            next_in = min(next_in, self._sync_container(pod, st, policy, t, inspect))
        self._write_status(pod)
        return max(next_in, 0.05)

    def _reset_sandbox(self) -> None:
        for st in self.states.values():
            if st.container is not None:
                _quiet(lambda c=st.container: c.remove(force=True))
                st.container, st.restart, st.ready = None, st.restart + 1, False
        _quiet(lambda: self.sandbox.remove(force=True))
        self.sandbox = None

    def _create_sandbox(self, pod: dict) -> None:
        ports = sorted({p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports") or []})
        self.sandbox = self.rt.create_sandbox(pod, ports)
        self.pod_ip, self.host_ports = self.rt.sandbox_info(self.sandbox)
        ann = {HOST_PORTS: __import__("json").dumps({str(k): v for k, v in self.host_ports.items()})}
        self.agent.resources.patch(POD, self.ns, self.name, "application/merge-patch+json",
                                   {"metadata": {"annotations": ann}})

    def _sync_container(self, pod: dict, st: CState, policy: str, t: float, inspect: bool = True) -> float:
        if st.container is not None and (inspect or st.container.status != "running"):
            try:
                st.container.reload()
            except docker.errors.NotFound:
                st.container = None
                st.restart += 1
        if st.container is None:
            if st.terminated is not None:
                return 1.0
            if t < st.backoff_until:
                return st.backoff_until - t
            return self._start_container(pod, st, t)
        state = st.container.attrs["State"]
        if st.container.status in ("running", "restarting") or state.get("Running"):
            return self._probe(pod, st, t)
        if st.container.status == "created":
            return 0.2
        # Exited: record, then restart with back-off (or stay terminated).
        code = state.get("ExitCode", 0)
        finished = _docker_time(state.get("FinishedAt")) or t
        term = {"exitCode": code, "reason": "OOMKilled" if state.get("OOMKilled") else
                ("Completed" if code == 0 else "Error"), "startedAt": _ts(st.started_at),
                "finishedAt": _ts(finished), "containerID": f"docker://{st.container.id}"}
        st.ready = False
        if policy == "Never" or (policy == "OnFailure" and code == 0):
            st.terminated, st.waiting = term, None
            return 1.0
        st.last_terminated = term
        if finished - st.started_at >= BACKOFF_RESET:
            st.crashes = 0
        delay = 0.0 if st.crashes == 0 else min(BACKOFF_START * 2 ** (st.crashes - 1), BACKOFF_MAX)
        st.crashes += 1
        st.backoff_until = t + delay
        if delay:
            self.event(pod, "Warning", "BackOff", "Back-off restarting failed container "
                                                  f"{st.spec['name']} in pod {self.name}")
        st.waiting = ("CrashLoopBackOff", f"back-off {int(delay)}s restarting failed container={st.spec['name']} "
                                          f"pod={self.name}") if delay else ("ContainerCreating", "")
        self._drop_previous(st)
        st.container, st.restart = None, st.restart + 1
        return delay if delay else 0.0

    def _drop_previous(self, st: CState) -> None:
        """Keep only the container that just ended (for ``logs --previous``)."""
        for c in self.rt.docker.containers.list(all=True, filters={"label": f"{L_POD_UID}={self.uid}"}):
            if c.labels.get(L_CONTAINER) == st.spec["name"] and c.id != st.container.id:
                _quiet(lambda c=c: c.remove(force=True))

    def _start_container(self, pod: dict, st: CState, t: float) -> float:
        spec = st.spec
        try:
            self.rt.ensure_image(spec["image"], spec.get("imagePullPolicy", "IfNotPresent"))
        except PullError as e:
            self.event(pod, "Warning", "Failed", f'Failed to pull image "{spec["image"]}": {e}')
            pulled_before = st.waiting is not None and st.waiting[0] in ("ErrImagePull", "ImagePullBackOff")
            return self._backoff(st, t, "ImagePullBackOff" if pulled_before else "ErrImagePull", str(e))
        try:
            live = dict(pod, status=dict(pod.get("status") or {}, podIP=self.pod_ip or ""))
            env = container_env(live, spec, self.agent.lookup(self.ns), self.agent.injected_env())
            mounts = self.rt.volume_mounts(pod, spec, volume_files(pod, self.agent.lookup(self.ns)))
        except ConfigError as e:
            if not st.waiting or st.waiting[0] != "CreateContainerConfigError":
                self.event(pod, "Warning", "Failed", f"Error: {e}")
            return self._backoff(st, t, "CreateContainerConfigError", str(e))
        try:
            st.container = self.rt.create_container(pod, spec, self.sandbox, st.restart, env, mounts)
        except docker.errors.APIError as e:
            st.container = None
            return self._backoff(st, t, "RunContainerError", str(e.explanation or e))
        self.event(pod, "Normal", "Started", f"Started container {spec['name']}")
        st.started_at, st.waiting, st.ready, st.started = time.time(), None, False, False
        st.image_id = st.container.attrs.get("Image", "")
        st.probes = {k: ProbeState(spec[k], st.started_at, fast=k != "livenessProbe")
                     for k in ("startupProbe", "livenessProbe", "readinessProbe") if spec.get(k)}
        if not spec.get("startupProbe"):
            st.started = True
        return 0.05

    def _backoff(self, st: CState, t: float, reason: str, message: str) -> float:
        """Wait before the next attempt: config errors retry every 2 s, pulls and runs back off exponentially."""
        if reason == "CreateContainerConfigError":
            delay = 2.0
        else:
            delay = min(BACKOFF_START * 2 ** st.crashes, BACKOFF_MAX)
            st.crashes += 1
        st.waiting, st.backoff_until = (reason, message), t + delay
        return delay

    def _probe(self, pod: dict, st: CState, t: float) -> float:
        nxt = 1.0
        stp = st.probes.get("startupProbe")
        if stp is not None and not st.started:
            if stp.due(t):
                stp.record(*run_handler(stp.probe, st.spec, st.container, self.pod_ip,
                                        stp.probe.get("timeoutSeconds", 1)), time.time())
                if stp.result is True:
                    st.started = True
                elif stp.result is False:
                    self._kill(st, pod, "startup probe failed")
                    return 0.05
            return max(0.05, stp.next_at - t)
        st.started = True
        for kind in ("livenessProbe", "readinessProbe"):
            ps = st.probes.get(kind)
            if ps is None:
                continue
            if ps.due(t):
                ok, msg = run_handler(ps.probe, st.spec, st.container, self.pod_ip, ps.probe.get("timeoutSeconds", 1))
                counted = ps.record(ok, msg, time.time())  # False: an early probe of a starting container
                if counted and not ok:
                    what = "Liveness" if kind == "livenessProbe" else "Readiness"
                    self.event(pod, "Warning", "Unhealthy", f"{what} probe failed: {msg}")
                if kind == "livenessProbe" and ps.result is False:
                    self._kill(st, pod, f"liveness probe failed: {msg}")
                    return 0.05
            nxt = min(nxt, max(0.05, ps.next_at - time.time()))
        rp = st.probes.get("readinessProbe")
        st.ready = bool(rp.result) if rp is not None else True
        return nxt

    def _kill(self, st: CState, pod: dict, why: str) -> None:
        log.info("pod %s/%s container %s: %s; restarting", self.ns, self.name, st.spec["name"], why)
        self.event(pod, "Normal", "Killing", f"Container {st.spec['name']} {why}, will be restarted")
        self._stop_container(st, pod, pod["spec"].get("terminationGracePeriodSeconds", 30))

    def _stop_container(self, st: CState, pod: dict, grace: float) -> None:
        if st.container is None:
            return
        deadline = time.time() + grace
        pre = (st.spec.get("lifecycle") or {}).get("preStop")
        if pre:
            run_handler(pre, st.spec, st.container, self.pod_ip, max(grace, 1))
        _quiet(lambda: st.container.stop(timeout=max(0, int(deadline - time.time()))))
        st.ready = False

    # -- status ---------------------------------------------------------------------
    def _container_status(self, st: CState) -> dict:
        spec = st.spec
        out = {"name": spec["name"], "image": spec["image"], "imageID": st.image_id, "ready": st.ready,
               "restartCount": st.restart, "started": st.started and st.container is not None}
        if st.container is not None:
            out["containerID"] = f"docker://{st.container.id}"
        if st.terminated:
            out["state"] = {"terminated": st.terminated}
        elif st.container is not None and st.waiting is None and st.container.status in ("running", "created"):
            out["state"] = {"running": {"startedAt": _ts(st.started_at)}}
        else:
            reason, msg = st.waiting or ("ContainerCreating", "")
            out["state"] = {"waiting": {"reason": reason, **({"message": msg} if msg else {})}}
        if st.last_terminated:
            out["lastState"] = {"terminated": st.last_terminated}
        return out

    def _write_status(self, pod: dict) -> None:
        old = pod.get("status") or {}
        status = deep(old)
        statuses = [self._container_status(s) for s in self.states.values()]
        running = [s for s in statuses if "running" in s["state"]]
        terminated = [s for s in statuses if "terminated" in s["state"]]
        if len(terminated) == len(statuses):
            phase = "Succeeded" if all(s["state"]["terminated"]["exitCode"] == 0 for s in terminated) else "Failed"
        elif running or any(s["restartCount"] for s in statuses):
            phase = "Running"
        else:
            phase = "Pending"
        ready = all(s["ready"] for s in statuses)
        status.update(phase=phase, hostIP="127.0.0.1", startTime=self.start_time, containerStatuses=statuses)
        if self.pod_ip:
            status.update(podIP=self.pod_ip, podIPs=[{"ip": self.pod_ip}])
        for ctype, value in (("PodScheduled", True), ("Initialized", True), ("ContainersReady", ready),
                             ("Ready", ready)):
            set_condition(status, ctype, "True" if value else "False", "" if value else "ContainersNotReady", "")
        for c in status["conditions"]:
            c.pop("lastUpdateTime", None)
            if not c.get("reason"):
                c.pop("reason", None)
                c.pop("message", None)
        if status != old:
            new = deep(pod)
            new["status"] = status
            try:
                self.agent.resources.update(POD, self.ns, self.name, new, subresource="status")
            except (Conflict, NotFound):
                self.wake.set()

    # -- termination --------------------------------------------------------------------
    def _terminate(self, pod: dict) -> None:
        """Graceful end: (drain) → preStop → SIGTERM → grace → SIGKILL → remove → delete the object."""
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        grace = pod["spec"].get("terminationGracePeriodSeconds", 30) if grace is None else grace
        for s in self.states.values():
            if s.container is not None:
                self.event(pod, "Normal", "Killing", f"Stopping container {s.spec['name']}")
        if grace > 0 and DRAIN > 0 and any(s.container is not None for s in self.states.values()):
            time.sleep(DRAIN)  # let clients that picked this pod before it left the proxy finish
        threads = [threading.Thread(target=self._stop_container, args=(s, pod, grace)) for s in self.states.values()]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self._teardown(grace=0)
        try:
            self.agent.store.delete("pods", self.agent.store.get("pods", self.ns, self.name))
        except NotFound:
            pass

    def _teardown(self, grace: float) -> None:
        for c in self.rt.docker.containers.list(all=True, filters={"label": f"{L_POD_UID}={self.uid}"}):
            _quiet(lambda c=c: c.remove(force=True))
        self.rt.remove_pod_dir(self.uid)


def _quiet(fn) -> None:
    try:
        fn()
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        log.debug("docker: %s", e)
