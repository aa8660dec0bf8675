"""Docker operations of the node agent: sandboxes, containers, images, volumes, logs.

A pod is a *sandbox* container (busybox ``sleep``, holding the network
namespace on the project bridge and the ports published on 127.0.0.1) plus one
container per pod container joined to it (``network_mode=container:<sandbox>``),
like the kubelet's pause container: a restarted container keeps the pod's IP
and host ports. Every container carries labels naming its cluster, pod and
container, so a restarted agent adopts them.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import time
from pathlib import Path

import docker.errors

from shipway.orchestrator.objects import MANAGED_BY, quantity

log = logging.getLogger(__name__)
SANDBOX_IMAGE = os.environ.get("SHIPWAY_ORCHESTRATOR_SANDBOX_IMAGE", "shipway/busybox:latest")
L_CLUSTER, L_POD_UID, L_POD, L_NS = (f"{MANAGED_BY}.cluster", f"{MANAGED_BY}.pod-uid", f"{MANAGED_BY}.pod",
                                     f"{MANAGED_BY}.namespace")
L_CONTAINER, L_RESTART, L_ROLE = f"{MANAGED_BY}.container", f"{MANAGED_BY}.restart", f"{MANAGED_BY}.role"


class ConfigError(Exception):
    """A container's configuration cannot be built (CreateContainerConfigError)."""


class PullError(Exception):
    """The image is not available (ErrImagePull)."""


class Runtime:
    """Docker calls for one cluster (``cluster_id``) on the project network."""

    def __init__(self, client_factory, *, cluster_id: str, network: str, data_dir: Path,
                 registry: str | None, extra_labels: dict[str, str] | None = None) -> None:
        self._client = client_factory
        self.cluster_id = cluster_id
        self.network = network
        self.data_dir = data_dir
        self.registry = registry
        self.extra_labels = dict(extra_labels or {})
        self._present: dict[str, float] = {}

    @property
    def docker(self):
        return self._client()

    def labels(self, pod: dict, role: str, container: str = "", restart: int = 0) -> dict[str, str]:
        m = pod["metadata"]
        out = {MANAGED_BY: "true", L_CLUSTER: self.cluster_id, L_POD_UID: m["uid"], L_POD: m["name"],
               L_NS: m["namespace"], L_ROLE: role, **self.extra_labels}
        if container:
            out[L_CONTAINER] = container
            out[L_RESTART] = str(restart)
        return out

    def list_all(self) -> list:
        """Every container of this cluster (running or not), as *sparse* objects: one Docker call, no
        inspect per container (the agent scans them every pass); their labels are ``attrs["Labels"]``."""
        return self.docker.containers.list(all=True, sparse=True,
                                           filters={"label": f"{L_CLUSTER}={self.cluster_id}"})

    # -- images ---------------------------------------------------------------------
    def ensure_image(self, image: str, policy: str) -> None:
        """Make ``image`` present: from the local engine, or pulled from the project registry only."""
        from_registry = bool(self.registry) and image.startswith(self.registry + "/")
        if not (policy == "Always" and from_registry) and self._present.get(image, 0) > time.monotonic():
            return  # seen locally a moment ago: spare the engine a call per pod
        present = True
        try:
            self.docker.images.get(image)
        except docker.errors.ImageNotFound:
            present = False
        except docker.errors.APIError as e:
            raise PullError(str(e)) from e
        if present and not (policy == "Always" and from_registry):
            self._present[image] = time.monotonic() + 30
            return
        if policy == "Never" and not present:
            raise PullError(f'Container image "{image}" is not present with pull policy of Never')
        if not from_registry:
            if present:
                return
            raise PullError(f'image "{image}" is not in the local Docker Engine and is not from the project '
                            f'registry {self.registry}; shipway never pulls from Docker Hub')
        repo, _, tag = image.rpartition(":") if ":" in image.rpartition("/")[2] else (image, "", "latest")
        try:
            self.docker.images.pull(repo, tag=tag or "latest")
        except docker.errors.APIError as e:
            if present:
                return  # a stale local copy beats no pod at all
            raise PullError(f'failed to pull image "{image}": {e.explanation or e}') from e

    # -- sandbox -------------------------------------------------------------------
    def create_sandbox(self, pod: dict, env_ports: list[int]):
        m = pod["metadata"]
        ports = {f"{p}/tcp": ("127.0.0.1", None) for p in env_ports}
        name = f"shipway_POD_{m['name']}_{m['namespace']}_{m['uid'][:8]}"
        c = self._create(
            SANDBOX_IMAGE, ["sleep", "2147483647"], name=name, hostname=m["name"][:63],
            labels=self.labels(pod, "sandbox"), network=self.network, ports=ports,
            extra_hosts={"host.docker.internal": "host-gateway"}, init=False, stop_signal="SIGKILL")
        c.start()
        c.reload()
        return c

    @staticmethod
    def sandbox_info(sandbox) -> tuple[str | None, dict[str, int]]:
        """(pod IP on the project network, {containerPort: 127.0.0.1 port})."""
        s = sandbox.attrs["NetworkSettings"]
        ip = next((n.get("IPAddress") for n in (s.get("Networks") or {}).values() if n.get("IPAddress")), None)
        ports = {}
        for key, binds in (s.get("Ports") or {}).items():
            if binds:
                ports[key.split("/")[0]] = int(binds[0]["HostPort"])
        return ip, ports

    def _remove_named(self, name: str) -> None:
        try:
            self.docker.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass

    def _create(self, image: str, command, name: str, **kw):
        """Create a container; a leftover of the same name (a crash between create and record) is replaced."""
        try:
            return self.docker.containers.create(image, command, name=name, **kw)
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise
        self._remove_named(name)
        return self.docker.containers.create(image, command, name=name, **kw)

    # -- containers -----------------------------------------------------------------
    def create_container(self, pod: dict, spec: dict, sandbox, restart: int, env: dict[str, str],
                         mounts: list) -> object:
        m = pod["metadata"]
        name = f"shipway_{spec['name']}_{m['name']}_{m['namespace']}_{m['uid'][:8]}_{restart}"
        limits = (spec.get("resources") or {}).get("limits") or {}
        kw = {}
        if "cpu" in limits:
            kw["nano_cpus"] = int(quantity(limits["cpu"]) * 1e9)
        if "memory" in limits:
            kw["mem_limit"] = int(quantity(limits["memory"]))
        command = [expand(x, env) for x in spec.get("command") or []] or None
        args = [expand(x, env) for x in spec.get("args") or []] or None
        create = dict(labels=self.labels(pod, "container", spec["name"], restart), environment=env,
                      network_mode=f"container:{sandbox.id}", mounts=mounts, working_dir=spec.get("workingDir"),
                      init=True, detach=True, **kw)  # docker-init as PID 1 passes SIGTERM on
        if command:
            create["entrypoint"] = command
            create["command"] = args or []
        elif args:
            create["command"] = args
        c = self._create(spec["image"], create.pop("command", None), name, **create)
        c.start()
        return c

    def volume_mounts(self, pod: dict, spec: dict, files: dict[str, dict[str, bytes]]) -> list:
        """Bind mounts for ``volumeMounts``; ``files`` maps volume name → {path: content} (configMap/secret)."""
        from docker.types import Mount
        base = self.data_dir / "pods" / pod["metadata"]["uid"] / "volumes"
        mounts = []
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        for vm in spec.get("volumeMounts") or []:
            vol = volumes[vm["name"]]
            vdir = base / vm["name"]
            if vm["name"] in files:
                write_volume(vdir, files[vm["name"]],
                             ((vol.get("configMap") or vol.get("secret") or {}).get("defaultMode")) or 0o644)
            else:
                vdir.mkdir(parents=True, exist_ok=True)
                vdir.chmod(0o777)
            source = vdir / vm["subPath"] if vm.get("subPath") else vdir
            mounts.append(Mount(vm["mountPath"], str(source), type="bind", read_only=bool(vm.get("readOnly"))
                                or vm["name"] in files))
        return mounts

    def refresh_volumes(self, pod: dict, files: dict[str, dict[str, bytes]]) -> bool:
        """Rewrite changed ConfigMap/Secret volume files of a running pod in place; True if any changed."""
        base = self.data_dir / "pods" / pod["metadata"]["uid"] / "volumes"
        changed = False
        for v in pod["spec"].get("volumes") or []:
            vdir = base / v["name"]
            if v["name"] in files and vdir.is_dir():
                mode = ((v.get("configMap") or v.get("secret") or {}).get("defaultMode")) or 0o644
                changed |= write_volume(vdir, files[v["name"]], mode)
        return changed

    def remove_pod_dir(self, uid: str) -> None:
        shutil.rmtree(self.data_dir / "pods" / uid, ignore_errors=True)


def write_volume(vdir: Path, files: dict[str, bytes], mode: int) -> bool:
    """Make ``vdir`` hold exactly ``files``, each replaced atomically in place (the directory itself stays,
    so running containers that bind-mount it see the change). True if anything changed."""
    vdir.mkdir(parents=True, exist_ok=True)
    changed = False
    for rel, content in files.items():
        p = vdir / rel
        if p.is_file() and p.read_bytes() == content:
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_bytes(content)
        tmp.chmod(mode)
        os.replace(tmp, p)
        changed = True
    for p in sorted(vdir.rglob("*"), reverse=True):
        rel = str(p.relative_to(vdir))
        if p.is_file() and rel not in files:
            p.unlink()
            changed = True
    return changed


_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion (``$$(VAR)`` escapes)."""
    out = _VAR.sub(lambda mt: env.get(mt.group(1), mt.group(0)), value.replace("$$(", "\0"))
    return out.replace("\0", "$(")


def b64(value: str) -> bytes:
    return base64.b64decode(value)
