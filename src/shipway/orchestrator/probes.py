"""Probe and lifecycle-handler execution (httpGet, tcpSocket, exec), and the container env/volume inputs."""

from __future__ import annotations

import http.client
import os
import socket
import time

from shipway.orchestrator.runtime import ConfigError, b64


def _port(port, spec: dict) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in spec.get("ports") or []:
        if p.get("name") == port:
            return p["containerPort"]
    raise ValueError(f"port {port!r} is not a named port of the container")


def run_handler(handler: dict, spec: dict, container, pod_ip: str | None, timeout: float) -> tuple[bool, str]:
    """Run one probe/handler; (success, message). Targets the pod IP on the project network."""
    try:
        if "exec" in handler:
            res = container.exec_run(handler["exec"]["command"], demux=False)
            ok = res.exit_code == 0
            return ok, "" if ok else f"command exited with {res.exit_code}: {(res.output or b'')[-200:]!r}"
        if "sleep" in handler:
            time.sleep(min(handler["sleep"].get("seconds", 0), timeout))
            return True, ""
        if not pod_ip:
            return False, "the pod has no IP yet"
        if "tcpSocket" in handler:
            h = handler["tcpSocket"]
            with socket.create_connection((h.get("host") or pod_ip, _port(h["port"], spec)), timeout=timeout):
                return True, ""
        h = handler["httpGet"]
        conn = http.client.HTTPConnection(h.get("host") or pod_ip, _port(h["port"], spec), timeout=timeout)
        try:
            headers = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
            headers.setdefault("User-Agent", "kube-probe/1.32")
            conn.request("GET", h.get("path") or "/", headers=headers)
            status = conn.getresponse().status
        finally:
            conn.close()
        ok = 200 <= status < 400
        return ok, "" if ok else f"HTTP probe failed with statuscode: {status}"
    except Exception as e:  # noqa: BLE001 - a probe error is a failed probe
        return False, f"probe failed: {e}"


# A starting container is probed every FAST_PROBE seconds (exec probes: FAST_EXEC_PROBE, a docker exec
# costs far more than a connect) until its first success, for at most FAST_WINDOW seconds (readiness and
# startup probes only), then at periodSeconds. Only the probes on the periodSeconds schedule count
# towards failureThreshold and record Unhealthy events, so the time a container is given to start
# (initialDelaySeconds + failureThreshold × periodSeconds) is exactly Kubernetes'; the extra early probes
# can only make a container ready sooner, never fail it sooner.
FAST_PROBE = float(os.environ.get("SHIPWAY_ORCHESTRATOR_FAST_PROBE_SECONDS", "0.05"))
FAST_EXEC_PROBE = 0.25
FAST_WINDOW = 60.0


class ProbeState:
    """Consecutive-result bookkeeping of one probe of one container.

    ``fast`` (readiness/startup probes): until the first success, probe every :data:`FAST_PROBE` s between
    the regular ``periodSeconds`` probes; :meth:`record` tells whether a result counts (see above).
    """

    def __init__(self, probe: dict, started_at: float, fast: bool = False) -> None:
        self.probe = probe
        self.period = probe.get("periodSeconds", 10)
        self.regular_at = started_at + probe.get("initialDelaySeconds", 0)  # the Kubernetes schedule
        self.next_at = self.regular_at
        self.fast_every = FAST_EXEC_PROBE if "exec" in probe else FAST_PROBE
        self.fast_until = self.regular_at + FAST_WINDOW if fast and FAST_PROBE > 0 else 0.0
        self.successes = 0
        self.failures = 0
        self.result: bool | None = None  # None: undecided yet
        self.message = ""

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def record(self, ok: bool, message: str, now: float) -> bool:
        """Account one result; False when it was an early (fast) failure that does not count."""
        regular = now >= self.regular_at
        if regular:
            self.regular_at = now + self.period
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.probe.get("successThreshold", 1):
                self.result = True
            self.fast_until = 0.0  # from the first success on: periodSeconds only
            self.regular_at = now + self.period
        elif regular:
            self.failures, self.successes = self.failures + 1, 0
            self.message = message
            if self.failures >= self.probe.get("failureThreshold", 3):
                self.result = False
        fast_at = now + self.fast_every
        self.next_at = min(self.regular_at, fast_at) if fast_at < self.fast_until else self.regular_at
        return ok or regular


def container_env(pod: dict, spec: dict, lookup, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a container: injected vars, envFrom, then env (later wins, like the kubelet)."""
    env = dict(extra)
    for i, src in enumerate(spec.get("envFrom") or []):
        ref = src.get("configMapRef") or src.get("secretRef")
        is_secret = "secretRef" in src
        obj = lookup("secrets" if is_secret else "configmaps", ref["name"])
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{"secret" if is_secret else "configmap"} "{ref["name"]}" not found')
        for k, v in (obj.get("data") or {}).items():
            env[src.get("prefix", "") + k] = b64(v).decode(errors="replace") if is_secret else v
    from shipway.orchestrator.runtime import expand
    for e in spec.get("env") or []:
        if "valueFrom" not in e:
            env[e["name"]] = expand(e.get("value", ""), env)
            continue
        vf = e["valueFrom"]
        if "fieldRef" in vf:
            env[e["name"]] = field_value(pod, vf["fieldRef"]["fieldPath"])
            continue
        ref = vf.get("configMapKeyRef") or vf.get("secretKeyRef")
        is_secret = "secretKeyRef" in vf
        obj = lookup("secrets" if is_secret else "configmaps", ref["name"])
        data = (obj or {}).get("data") or {}
        if ref["key"] not in data:
            if ref.get("optional"):
                continue
            what = "secret" if is_secret else "configmap"
            raise ConfigError(f'couldn\'t find key {ref["key"]} in {what} {pod["metadata"]["namespace"]}/'
                              f'{ref["name"]}' if obj else f'{what} "{ref["name"]}" not found')
        env[e["name"]] = b64(data[ref["key"]]).decode(errors="replace") if is_secret else data[ref["key"]]
    return env


def field_value(pod: dict, path: str) -> str:
    m, st = pod["metadata"], pod.get("status") or {}
    if path.startswith("metadata.labels['") or path.startswith("metadata.annotations['"):
        which, key = path.split("['", 1)
        return (m.get(which.split(".")[1]) or {}).get(key.rstrip("']"), "")
    return {"metadata.name": m["name"], "metadata.namespace": m["namespace"], "metadata.uid": m["uid"],
            "spec.nodeName": pod["spec"].get("nodeName", ""), "status.podIP": st.get("podIP", ""),
            "status.hostIP": "127.0.0.1", "spec.serviceAccountName": "default"}.get(path, "")


def volume_files(pod: dict, lookup) -> dict[str, dict[str, bytes]]:
    """{volume name: {relative path: bytes}} for configMap and secret volumes."""
    out = {}
    for v in pod["spec"].get("volumes") or []:
        src = v.get("configMap") or v.get("secret")
        if src is None:
            continue
        is_secret = "secret" in v
        name = src.get("secretName") if is_secret else src.get("name")
        obj = lookup("secrets" if is_secret else "configmaps", name)
        if obj is None:
            if src.get("optional"):
                out[v["name"]] = {}
                continue
            raise ConfigError(f'{"secret" if is_secret else "configmap"} "{name}" not found')
        data = {k: (b64(val) if is_secret else val.encode()) for k, val in (obj.get("data") or {}).items()}
        if not is_secret:
            data.update({k: b64(val) for k, val in (obj.get("binaryData") or {}).items()})
        if src.get("items"):
            out[v["name"]] = {it["path"]: data[it["key"]] for it in src["items"] if it["key"] in data}
        else:
            out[v["name"]] = data
    return out
