"""The naming model: names, validation, instance records and the selection rules.

Namespace → group → service (metadata, protect threshold) → cluster → instance.
An instance is a plain dict (it travels as JSON in its znode and over HTTP)::

    {"instanceId": "127.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@orders", "ip": "127.0.0.1", "port": 8080,
     "weight": 1.0, "healthy": true, "enabled": true, "ephemeral": true, "clusterName": "DEFAULT",
     "serviceName": "orders", "groupName": "DEFAULT_GROUP", "namespaceId": "public",
     "metadata": {}, "source": "sdk"}

Validation errors are :class:`~shipway.core.errors.BadRequest` naming the field.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
import time
from typing import Any

from shipway.core.errors import BadRequest

DEFAULT_NAMESPACE = "public"
DEFAULT_GROUP = "DEFAULT_GROUP"
DEFAULT_CLUSTER = "DEFAULT"

#: Names of namespaces, groups, services and clusters: no '/', '#', '@@' or spaces (they build paths and ids).
_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9\-.]{0,251}[A-Za-z0-9])?$")

# Nacos's preserved metadata keys for heartbeat timing (milliseconds).
HEART_BEAT_INTERVAL = "preserved.heart.beat.interval"
HEART_BEAT_TIMEOUT = "preserved.heart.beat.timeout"
IP_DELETE_TIMEOUT = "preserved.ip.delete.timeout"
DEFAULT_BEAT_INTERVAL_MS = 5000
DEFAULT_BEAT_TIMEOUT_MS = 15000
DEFAULT_DELETE_TIMEOUT_MS = 30000

#: Metadata key choosing the server-side check of a persistent instance: "tcp" (default), "http" or "none".
HEALTH_CHECK = "shipway.health.check"
#: Path for "http" checks (default "/").
HEALTH_PATH = "shipway.health.path"


class Source(str, enum.Enum):
    """Who keeps an instance alive."""

    SDK = "sdk"              # an EPHEMERAL znode owned by the registering client's ZooKeeper session
    HEARTBEAT = "heartbeat"  # registered over HTTP as ephemeral: lives on beats, removed by the server's timers
    PERSISTENT = "persistent"  # stays until deregistered; the server health-checks it


def check_name(value: Any, field: str) -> str:
    """A namespace/group/service/cluster name, or 400 naming ``field``."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise BadRequest(f"{field} must be 1-128 characters of letters, digits, '_', '.', ':' or '-' "
                         f"(got {value!r})", field=field)
    return value


def check_ip(value: Any, field: str = "ip") -> str:
    """An IPv4/IPv6 address or a host name."""
    if isinstance(value, str):
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            if _HOST.match(value) and not value.replace(".", "").isdigit():
                return value
    raise BadRequest(f"{field} must be an IP address or host name (got {value!r})", field=field)


def check_port(value: Any, field: str = "port") -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{field} must be an integer between 1 and 65535 (got {value!r})", field=field) from None
    if isinstance(value, bool) or not 1 <= port <= 65535 or str(value).strip() not in (str(port), f"{port}.0"):
        raise BadRequest(f"{field} must be an integer between 1 and 65535 (got {value!r})", field=field)
    return port


def check_weight(value: Any, field: str = "weight") -> float:
    """A weight between 0 and 10000 (Nacos's range); 0 takes the instance out of weighted choice."""
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{field} must be a number between 0 and 10000 (got {value!r})", field=field) from None
    if isinstance(value, bool) or not 0.0 <= weight <= 10000.0 or weight != weight:
        raise BadRequest(f"{field} must be a number between 0 and 10000 (got {value!r})", field=field)
    return weight


def check_threshold(value: Any, field: str = "protectThreshold") -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{field} must be a number between 0 and 1 (got {value!r})", field=field) from None
    if not 0.0 <= t <= 1.0:
        raise BadRequest(f"{field} must be a number between 0 and 1 (got {value!r})", field=field)
    return t


def check_metadata(value: Any, field: str = "metadata") -> dict[str, str]:
    """Metadata as a dict of strings; accepts a JSON object string or Nacos's old ``k=v,k2=v2`` form."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise BadRequest(f"{field} is not valid JSON: {e}", field=field) from None
        else:
            pairs = {}
            for item in text.split(","):
                if "=" not in item:
                    raise BadRequest(f"{field} must be a JSON object or k=v pairs (got {item!r})", field=field)
                k, v = item.split("=", 1)
                pairs[k.strip()] = v.strip()
            value = pairs
    if not isinstance(value, dict):
        raise BadRequest(f"{field} must be an object of strings", field=field)
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or len(k) > 256:
            raise BadRequest(f"{field} keys must be strings of ≤ 256 characters", field=f"{field}.{k}")
        out[k] = v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)
    if len(json.dumps(out)) > 64 * 1024:
        raise BadRequest(f"{field} must be at most 64 KiB", field=field)
    return out


def parse_bool(value: Any, field: str, default: bool | None = None) -> bool:
    if value is None or value == "":
        if default is None:
            raise BadRequest(f"{field} is required", field=field)
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"{field} must be true or false (got {value!r})", field=field)


def split_service(name: str, group: str | None, field: str = "serviceName") -> tuple[str, str]:
    """``(group, service)`` from Nacos's ``group@@service`` form or a plain name plus ``group``."""
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{field} is required", field=field)
    if "@@" in name:
        g, s = name.split("@@", 1)
        return check_name(g, "groupName"), check_name(s, field)
    return check_name(group or DEFAULT_GROUP, "groupName"), check_name(name, field)


def instance_id(ip: str, port: int, cluster: str, group: str, service: str) -> str:
    """Nacos's default instance id: ``ip#port#cluster#group@@service``."""
    return f"{ip}#{port}#{cluster}#{group}@@{service}"


def parse_instance_id(iid: str) -> tuple[str, int, str, str, str]:
    """``(ip, port, cluster, group, service)`` from an instance id, or 400."""
    try:
        ip, port, cluster, rest = iid.split("#", 3)
        group, service = rest.split("@@", 1)
        return check_ip(ip), check_port(port), check_name(cluster, "cluster"), check_name(group, "group"), \
            check_name(service, "service")
    except ValueError:
        raise BadRequest(f"instanceId must look like ip#port#cluster#group@@service (got {iid!r})",
                         field="instanceId") from None


def make_instance(namespace: str, group: str, service: str, ip: str, port: int, *, cluster: str = DEFAULT_CLUSTER,
                  weight: float = 1.0, metadata: dict | None = None, ephemeral: bool = True, healthy: bool = True,
                  enabled: bool = True, source: Source = Source.PERSISTENT) -> dict[str, Any]:
    """A validated instance record."""
    namespace, group, service = (check_name(namespace, "namespace"), check_name(group, "group"),
                                 check_name(service, "service"))
    cluster, ip, port = check_name(cluster, "cluster"), check_ip(ip), check_port(port)
    return {
        "instanceId": instance_id(ip, port, cluster, group, service),
        "ip": ip, "port": port, "weight": check_weight(weight),
        "healthy": bool(healthy), "enabled": bool(enabled), "ephemeral": bool(ephemeral),
        "clusterName": cluster, "serviceName": service, "groupName": group, "namespaceId": namespace,
        "metadata": check_metadata(metadata), "source": Source(source).value,
        "registeredAt": round(time.time(), 3),
    }


def make_service(namespace: str, group: str, name: str, *, protect_threshold: float = 0.0,
                 metadata: dict | None = None) -> dict[str, Any]:
    return {"namespace": check_name(namespace, "namespace"), "group": check_name(group, "group"),
            "name": check_name(name, "name"), "protectThreshold": check_threshold(protect_threshold),
            "metadata": check_metadata(metadata)}


def beat_timing(inst: dict) -> tuple[float, float, float]:
    """``(interval, unhealthy_after, delete_after)`` in seconds from the preserved metadata keys."""
    md = inst.get("metadata") or {}

    def ms(key: str, default: int) -> float:
        try:
            return max(float(md.get(key, default)), 100.0) / 1000.0
        except (TypeError, ValueError):
            return default / 1000.0

    return (ms(HEART_BEAT_INTERVAL, DEFAULT_BEAT_INTERVAL_MS), ms(HEART_BEAT_TIMEOUT, DEFAULT_BEAT_TIMEOUT_MS),
            ms(IP_DELETE_TIMEOUT, DEFAULT_DELETE_TIMEOUT_MS))


def check_mode(inst: dict) -> str:
    """The server check of a persistent instance: "tcp", "http" or "none".

    Instances the orchestrator registers (``managed-by: shipway-orchestrator``) default to "none": the
    orchestrator already probes readiness and deregisters pods that are not ready, so a second checker
    must not fight it.
    """
    md = inst.get("metadata") or {}
    mode = md.get(HEALTH_CHECK)
    if mode in ("tcp", "http", "none"):
        return mode
    return "none" if md.get("managed-by") == "shipway-orchestrator" else "tcp"


def select(instances: list[dict], *, healthy_only: bool, protect_threshold: float = 0.0,
           cluster: str | None = None) -> tuple[list[dict], bool]:
    """Instances to hand out, and whether the protect threshold was reached.

    When healthy/total ≤ threshold (threshold > 0) every instance is returned, so a cascade of failing
    health checks cannot empty a service (Nacos's rule).
    """
    pool = [i for i in instances if cluster is None or i.get("clusterName") == cluster]
    if not healthy_only:
        return pool, False
    healthy = [i for i in pool if i.get("healthy") and i.get("enabled", True)]
    if pool and protect_threshold > 0 and len(healthy) / len(pool) <= protect_threshold:
        return [i for i in pool if i.get("enabled", True)], True
    return healthy, False
