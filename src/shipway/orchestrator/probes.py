"""Probe and lifecycle-handler execution (httpGet, tcpSocket, exec), and the container env/volume inputs."""

from __future__ import annotations

import http.client
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


class ProbeState:
    """Consecutive-result bookkeeping of one probe of one container."""

    def __init__(self, probe: dict, started_at: float) -> None:
        self.probe = probe
        self.next_at = started_at + probe.get("initialDelaySeconds", 0)
        self.successes = 0
        self.failures = 0
        self.result: bool | None = None  # None: undecided yet
        self.message = ""

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def record(self, ok: bool, message: str, now: float) -> None:
        self.next_at = now + self.probe.get("periodSeconds", 10)
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.probe.get("successThreshold", 1):
                self.result = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            self.message = message
            if self.failures >= self.probe.get("failureThreshold", 3):
                self.result = False


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
